package sandbox

import (
	"crypto/hmac"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// miniApp is a minimal client of the two fakes written from CONTRACT.md
// (in test code, sharing nothing with the shipped flows). It shows the
// fakes support the whole scenario, and gives -race concurrent work.
type miniApp struct {
	t   *testing.T
	fb  *Fitbit
	mkc *MarketingCloud
	url string

	mu     sync.Mutex
	tokens map[string]*tokens
	locks  map[string]*sync.Mutex
	csrf   struct {
		sync.Mutex
		token string
		jar   http.CookieJar
	}
}

func (a *miniApp) userLock(user string) *sync.Mutex {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.locks[user] == nil {
		a.locks[user] = &sync.Mutex{}
	}
	return a.locks[user]
}

func (a *miniApp) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/fitbit/callback":
		a.callback(w, r)
	case "/fitbit/webhook":
		if r.Method == http.MethodGet {
			if r.URL.Query().Get("verify") == "vc" {
				w.WriteHeader(204)
			} else {
				w.WriteHeader(404)
			}
			return
		}
		body, _ := io.ReadAll(r.Body)
		if !hmac.Equal([]byte(r.Header.Get("X-Fitbit-Signature")), []byte(SignNotification(a.fb.ClientSecret(), body))) {
			w.WriteHeader(404)
			return
		}
		var ups []Update
		if err := json.Unmarshal(body, &ups); err != nil {
			w.WriteHeader(400)
			return
		}
		for _, u := range ups {
			if u.CollectionType == "activities" {
				if err := a.importDay(u.OwnerID, u.Date); err != nil {
					a.t.Errorf("notification %+v: %v", u, err)
				}
			}
		}
		w.WriteHeader(204)
	default:
		w.WriteHeader(404)
	}
}

func (a *miniApp) callback(w http.ResponseWriter, r *http.Request) {
	if e := r.URL.Query().Get("error"); e != "" {
		http.Error(w, "refused: "+e, http.StatusForbidden)
		return
	}
	res, err := a.form("/oauth2/token", url.Values{
		"grant_type": {"authorization_code"}, "code": {r.URL.Query().Get("code")},
		"redirect_uri": {a.url + "/fitbit/callback"}, "code_verifier": {testVerifier},
	})
	if err != nil || res["access_token"] == nil {
		http.Error(w, fmt.Sprintf("exchange failed: %v %v", err, res), http.StatusBadGateway)
		return
	}
	tk := &tokens{access: res["access_token"].(string), refresh: res["refresh_token"].(string), scope: res["scope"].(string), user: res["user_id"].(string)}
	scopes := strings.Fields(tk.scope)
	for _, need := range []string{"activity", "profile"} {
		if !slices.Contains(scopes, need) {
			a.form("/oauth2/revoke", url.Values{"token": {tk.access}})
			http.Error(w, "missing permission: "+need, http.StatusForbidden)
			return
		}
	}
	a.mu.Lock()
	a.tokens[tk.user] = tk
	a.mu.Unlock()
	var prof map[string]map[string]any
	if err := a.api(tk.user, "GET", "/1/user/-/profile.json", &prof); err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	p := prof["user"]
	if err := a.importMKC(map[string]any{"Id": "", "SourceSystemType": "EXT", "SourceSystemId": "STRIDE", "Contacts": []any{map[string]any{
		"Id": tk.user, "IdOrigin": "FITBIT", "Timestamp": "/Date(1763856000000)/", "FullName": p["fullName"], "Country": p["country"], "City": p["city"],
	}}}); err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	if err := a.api(tk.user, "POST", "/1/user/-/activities/apiSubscriptions/"+tk.user+"-activities.json", nil); err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	fmt.Fprintf(w, "connected %s", tk.user)
}

// form posts to the Fitbit OAuth endpoints with Basic client auth.
func (a *miniApp) form(path string, v url.Values) (map[string]any, error) {
	req, _ := http.NewRequest("POST", a.fb.URL+path, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(a.fb.ClientID(), a.fb.ClientSecret())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out map[string]any
	json.NewDecoder(resp.Body).Decode(&out)
	if resp.StatusCode != 200 {
		return out, fmt.Errorf("%s: %d", path, resp.StatusCode)
	}
	return out, nil
}

// api calls Fitbit with the user's token; a 401 refreshes (one refresh
// per user at a time, never with a token already spent) and retries.
func (a *miniApp) api(user, method, path string, out any) error {
	for attempt := 0; attempt < 3; attempt++ {
		a.mu.Lock()
		access := a.tokens[user].access
		a.mu.Unlock()
		req, _ := http.NewRequest(method, a.fb.URL+path, nil)
		req.Header.Set("Authorization", "Bearer "+access)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case resp.StatusCode == 401:
			l := a.userLock(user)
			l.Lock()
			a.mu.Lock()
			cur := a.tokens[user]
			a.mu.Unlock()
			if cur.access == access { // nobody refreshed meanwhile
				res, err := a.form("/oauth2/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {cur.refresh}})
				if err != nil {
					l.Unlock()
					return fmt.Errorf("refresh: %v %v", err, res)
				}
				a.mu.Lock()
				a.tokens[user] = &tokens{access: res["access_token"].(string), refresh: res["refresh_token"].(string), scope: cur.scope, user: user}
				a.mu.Unlock()
			}
			l.Unlock()
			continue
		case resp.StatusCode >= 300:
			return fmt.Errorf("%s %s: %d %s", method, path, resp.StatusCode, body)
		}
		if out != nil {
			return json.Unmarshal(body, out)
		}
		return nil
	}
	return fmt.Errorf("%s %s: still 401", method, path)
}

func (a *miniApp) importDay(user, date string) error {
	var day struct {
		Summary struct {
			Steps int `json:"steps"`
		} `json:"summary"`
	}
	if err := a.api(user, "GET", "/1/user/"+user+"/activities/date/"+date+".json", &day); err != nil {
		return err
	}
	ts, _ := time.Parse("2006-01-02", date)
	return a.importMKC(map[string]any{"Id": "", "SourceSystemType": "EXT", "SourceSystemId": "STRIDE", "Interactions": []any{map[string]any{
		"Key": user + "-" + strings.ReplaceAll(date, "-", "") + "-act", "ContactId": user, "ContactIdOrigin": "FITBIT",
		"CommunicationMedium": "WEB", "InteractionType": "WEBSITE_VISIT", "Timestamp": fmt.Sprintf("/Date(%d)/", ts.UnixMilli()),
		"SourceObjectType": "FITBIT_ACTIVITY", "SourceObjectId": user + "-" + date, "Quantifier": day.Summary.Steps,
	}}})
}

// importMKC posts an ImportHeaders body, fetching a CSRF token (again
// after a 403 Required).
func (a *miniApp) importMKC(body any) error {
	b, _ := json.Marshal(body)
	a.csrf.Lock()
	defer a.csrf.Unlock()
	client := &http.Client{Jar: a.csrf.jar}
	for attempt := 0; attempt < 2; attempt++ {
		if a.csrf.token == "" {
			req, _ := http.NewRequest("GET", a.mkc.URL+ServicePath, nil)
			req.SetBasicAuth(a.mkc.User(), a.mkc.Password())
			req.Header.Set("X-CSRF-Token", "Fetch")
			resp, err := client.Do(req)
			if err != nil {
				return err
			}
			resp.Body.Close()
			a.csrf.token = resp.Header.Get("X-CSRF-Token")
		}
		req, _ := http.NewRequest("POST", a.mkc.URL+ServicePath+"ImportHeaders", strings.NewReader(string(b)))
		req.SetBasicAuth(a.mkc.User(), a.mkc.Password())
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-CSRF-Token", a.csrf.token)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		rb, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode == 403 && resp.Header.Get("X-CSRF-Token") == "Required" {
			a.csrf.token = ""
			continue
		}
		if resp.StatusCode != 201 {
			return fmt.Errorf("import: %d %s", resp.StatusCode, rb)
		}
		return nil
	}
	return fmt.Errorf("import: CSRF refused twice")
}

func TestScenarioAgainstBothFakes(t *testing.T) {
	app := &miniApp{t: t, tokens: map[string]*tokens{}, locks: map[string]*sync.Mutex{}}
	app.csrf.jar, _ = cookiejar.New(nil)
	srv := httptest.NewServer(app)
	defer srv.Close()
	app.url = srv.URL
	app.fb = NewFitbit(FitbitOptions{RedirectURIs: []string{srv.URL + "/fitbit/callback"}})
	if err := app.fb.Start(""); err != nil {
		t.Fatal(err)
	}
	defer app.fb.Close()
	app.mkc = NewMarketingCloud(MarketingCloudOptions{})
	if err := app.mkc.Start(""); err != nil {
		t.Fatal(err)
	}
	defer app.mkc.Close()
	if err := app.fb.VerifySubscriber(srv.URL+"/fitbit/webhook", "vc"); err != nil {
		t.Fatal(err)
	}

	// Connect through the real redirect chain (the client follows the 302).
	browse := func(user, scopes string) (int, string) {
		resp, err := http.Get(authorizeURL(app.fb, "activity profile weight", "st", url.Values{
			"redirect_uri": {srv.URL + "/fitbit/callback"}, "sandbox_user": {user}, "sandbox_scopes": {scopes},
		}))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	users := []string{"ADA1", "ALAN2", "GRACE3", "KATH4", "LINUS5"}
	for _, u := range users {
		if code, body := browse(u, ""); code != 200 {
			t.Fatalf("connect %s: %d %s", u, code, body)
		}
	}
	if code, body := browse("EMMY6", "activity"); code != 403 || !strings.Contains(body, "profile") {
		t.Fatalf("connect without profile: %d %s", code, body)
	}
	if st := app.fb.State("EMMY6"); st.Connected {
		t.Error("EMMY6's grant was not revoked")
	}

	// A burst of notifications: every user, 6 days, twice each (duplicates),
	// concurrently, while tokens expire at random.
	var wg sync.WaitGroup
	for i := 0; i < 2; i++ {
		for _, u := range users {
			for d := 1; d <= 6; d++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					date := fmt.Sprintf("2025-11-%02d", d)
					if d%3 == i {
						app.fb.ExpireAccessToken(u)
					}
					resp, err := app.fb.Notify(srv.URL+"/fitbit/webhook", []Update{app.fb.UpdateFor(u, "activities", date)})
					if err != nil {
						t.Error(err)
						return
					}
					resp.Body.Close()
					if resp.StatusCode != 204 {
						t.Errorf("notify %s %s: %d", u, date, resp.StatusCode)
					}
				}()
			}
		}
	}
	app.mkc.ExpireCSRF()
	wg.Wait()
	// A bad signature is refused and changes nothing.
	resp, err := app.fb.NotifyWithSignature(srv.URL+"/fitbit/webhook", NotificationBody([]Update{app.fb.UpdateFor("ADA1", "activities", "2025-11-30")}), "bad")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Errorf("bad signature: %d", resp.StatusCode)
	}

	its := app.mkc.Interactions()
	if len(its) != len(users)*6 {
		t.Fatalf("%d interactions, want %d (one per user and day)", len(its), len(users)*6)
	}
	for _, it := range its {
		date := strings.TrimPrefix(it.SourceObjectID, it.ContactID+"-")
		if *it.Quantifier != float64(Steps(it.ContactID, date)) || it.Imports != 2 {
			t.Errorf("interaction %+v: want Quantifier %d, imported twice", it, Steps(it.ContactID, date))
		}
	}
	cs := app.mkc.Contacts()
	if len(cs) != len(users) || cs[0].FullName != "Ada Lovelace" {
		t.Errorf("contacts %+v", cs)
	}
	if n := app.fb.SpentRefreshTokenReused(); n != 0 {
		t.Errorf("SpentRefreshTokenReused = %d", n)
	}
	refreshes := 0
	for _, u := range users {
		refreshes += app.fb.RefreshCount(u)
		if st := app.fb.State(u); st.LiveRefreshTokens != 1 || len(st.Subscriptions) != 1 {
			t.Errorf("%s: %+v", u, st)
		}
	}
	if refreshes == 0 {
		t.Error("no token was refreshed: the expiry did not bite")
	}
}
