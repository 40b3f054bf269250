package main

// The daily case's baseline: a plain Go loop making the calls Stride's
// nightly collection makes, to the same fakes, with the same parallelism
// (4): per user a token refresh, yesterday's activity summary, and one
// ImportHeaders call to Marketing Cloud (with its CSRF handshake once).

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/stride-engine/stride/internal/demo"
	"github.com/stride-engine/stride/sandbox"
)

// plainDaily is the hand-written nightly collection.
type plainDaily struct {
	e      *demo.Env
	client *http.Client
	csrf   string
	tokens map[string]string // user → refresh token
}

// newPlainDaily connects every user for the plain client (the consent
// and code exchange are set-up, not timed) and fetches Marketing Cloud's
// CSRF token.
func newPlainDaily(e *demo.Env, users []string) (*plainDaily, error) {
	jar, _ := cookiejar.New(nil)
	p := &plainDaily{e: e, tokens: map[string]string{},
		client: &http.Client{Timeout: 30 * time.Second, Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	const verifier = "plain-daily-verifier-0123456789abcdefghijklmnopqrstuvwxyz"
	redirect := e.Fitbit.RedirectURI()
	for _, u := range users {
		q := url.Values{"response_type": {"code"}, "client_id": {e.Fitbit.ClientID()}, "redirect_uri": {redirect},
			"scope": {"activity profile"}, "code_challenge": {sandbox.S256(verifier)}, "code_challenge_method": {"S256"}, "sandbox_user": {u}}
		resp, err := p.client.Get(e.Fitbit.URL + "/oauth2/authorize?" + q.Encode())
		if err != nil {
			return nil, err
		}
		resp.Body.Close()
		loc, err := url.Parse(resp.Header.Get("Location"))
		if err != nil || loc.Query().Get("code") == "" {
			return nil, fmt.Errorf("plain daily: authorize %s: %d %s", u, resp.StatusCode, resp.Header.Get("Location"))
		}
		tok, err := p.token(url.Values{"grant_type": {"authorization_code"}, "code": {loc.Query().Get("code")}, "redirect_uri": {redirect}, "code_verifier": {verifier}})
		if err != nil {
			return nil, fmt.Errorf("plain daily: code exchange %s: %w", u, err)
		}
		p.tokens[u] = tok.RefreshToken
	}
	req, _ := http.NewRequest(http.MethodGet, e.MKC.URL+sandbox.ServicePath, nil)
	req.SetBasicAuth(e.MKC.User(), e.MKC.Password())
	req.Header.Set("X-CSRF-Token", "Fetch")
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	if p.csrf = resp.Header.Get("X-CSRF-Token"); p.csrf == "" {
		return nil, fmt.Errorf("plain daily: no CSRF token from Marketing Cloud (%d)", resp.StatusCode)
	}
	return p, nil
}

type plainToken struct {
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token"`
}

func (p *plainDaily) token(form url.Values) (plainToken, error) {
	req, _ := http.NewRequest(http.MethodPost, p.e.Fitbit.URL+"/oauth2/token", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(p.e.Fitbit.ClientID(), p.e.Fitbit.ClientSecret())
	var t plainToken
	err := p.call(req, &t)
	return t, err
}

// call sends req and decodes a 2xx JSON answer into out (nil: drop it).
func (p *plainDaily) call(req *http.Request, out any) error {
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s %s: %d", req.Method, req.URL.Path, resp.StatusCode)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(body, out)
}

// one does a user's night: refresh, read the day, import it.
func (p *plainDaily) one(user, refresh, day string) (string, error) {
	tok, err := p.token(url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh}})
	if err != nil {
		return refresh, err
	}
	req, _ := http.NewRequest(http.MethodGet, p.e.Fitbit.URL+"/1/user/"+user+"/activities/date/"+day+".json", nil)
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	var summary struct {
		Summary struct {
			Steps int `json:"steps"`
		} `json:"summary"`
	}
	if err := p.call(req, &summary); err != nil {
		return tok.RefreshToken, err
	}
	t, _ := time.Parse("2006-01-02", day)
	key := sha256.Sum256([]byte(user + "|" + day + "|activities"))
	doc, _ := json.Marshal(map[string]any{"Id": "", "SourceSystemType": "EXT", "SourceSystemId": "STRIDE",
		"Interactions": []map[string]any{{
			"Key": hex.EncodeToString(key[:])[:32], "ContactId": user, "ContactIdOrigin": "FITBIT",
			"CommunicationMedium": "WEB", "InteractionType": "WEBSITE_VISIT",
			"Timestamp": fmt.Sprintf("/Date(%d)/", t.UnixMilli()), "SourceObjectType": "FITBIT_ACTIVITY",
			"SourceObjectId": user + "-" + day + "-plain", "Quantifier": summary.Summary.Steps}}})
	req, _ = http.NewRequest(http.MethodPost, p.e.MKC.URL+sandbox.ServicePath+"ImportHeaders", strings.NewReader(string(doc)))
	req.SetBasicAuth(p.e.MKC.User(), p.e.MKC.Password())
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("X-CSRF-Token", p.csrf)
	return tok.RefreshToken, p.call(req, nil)
}

// run does every user's night with 4 workers and returns how long it took.
func (p *plainDaily) run(day string) (time.Duration, error) {
	var mu sync.Mutex
	var firstErr error
	var wg sync.WaitGroup
	users := make(chan string)
	start := time.Now()
	for range 4 {
		wg.Go(func() {
			for u := range users {
				mu.Lock()
				refresh := p.tokens[u]
				mu.Unlock()
				next, err := p.one(u, refresh, day)
				mu.Lock()
				p.tokens[u] = next
				if err != nil && firstErr == nil {
					firstErr = fmt.Errorf("plain daily: %s: %w", u, err)
				}
				mu.Unlock()
			}
		})
	}
	all := make([]string, 0, len(p.tokens))
	for u := range p.tokens {
		all = append(all, u)
	}
	for _, u := range all {
		users <- u
	}
	close(users)
	wg.Wait()
	return time.Since(start), firstErr
}
