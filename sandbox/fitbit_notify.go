package sandbox

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
)

// Update is one entry of a Fitbit subscription notification.
type Update struct {
	CollectionType string `json:"collectionType"`
	Date           string `json:"date"` // yyyy-MM-dd
	OwnerID        string `json:"ownerId"`
	OwnerType      string `json:"ownerType"` // "user"
	SubscriptionID string `json:"subscriptionId"`
}

// UpdateFor builds the update Fitbit sends when user's collection changes
// on date, naming the user's subscription to that collection (or to all
// collections) when there is one.
func (f *Fitbit) UpdateFor(user, collection, date string) Update {
	u := Update{CollectionType: collection, Date: date, OwnerID: user, OwnerType: "user"}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, s := range f.subscriptionsLocked(user) {
		if s.CollectionType == collection {
			u.SubscriptionID = s.SubscriptionID
			return u
		}
		if s.CollectionType == "user" {
			u.SubscriptionID = s.SubscriptionID
		}
	}
	return u
}

// Sign is Fitbit's X-Fitbit-Signature of a notification body:
// base64(HMAC-SHA1(body, client_secret + "&")).
func (f *Fitbit) Sign(body []byte) string { return SignNotification(f.opts.ClientSecret, body) }

// SignNotification signs body as Fitbit does for an app with clientSecret.
func SignNotification(clientSecret string, body []byte) string {
	mac := hmac.New(sha1.New, []byte(clientSecret+"&"))
	mac.Write(body)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// NotificationBody is the JSON array Fitbit posts for updates.
func NotificationBody(updates []Update) []byte {
	if updates == nil {
		updates = []Update{}
	}
	for i := range updates {
		if updates[i].OwnerType == "" {
			updates[i].OwnerType = "user"
		}
	}
	return marshal(updates)
}

// Notify posts updates to a subscriber endpoint as Fitbit does: a JSON
// array, Content-Type application/json, signed with X-Fitbit-Signature.
// The caller closes the response body.
func (f *Fitbit) Notify(webhookURL string, updates []Update) (*http.Response, error) {
	body := NotificationBody(updates)
	return f.NotifyWithSignature(webhookURL, body, f.Sign(body))
}

// NotifyWithSignature posts body with the given X-Fitbit-Signature (none
// when sig is ""), for tests of bad and missing signatures.
func (f *Fitbit) NotifyWithSignature(webhookURL string, body []byte, sig string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodPost, webhookURL, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Fitbit-Subscriber-Notifications/sandbox")
	if sig != "" {
		req.Header.Set("X-Fitbit-Signature", sig)
	}
	f.mu.Lock()
	f.stats.Notifications++
	f.mu.Unlock()
	return f.opts.Client.Do(req)
}

// Verify sends the subscriber verification request GET webhookURL?verify=code.
// The caller closes the response body.
func (f *Fitbit) Verify(webhookURL, code string) (*http.Response, error) {
	u, err := url.Parse(webhookURL)
	if err != nil {
		return nil, err
	}
	q := u.Query()
	q.Set("verify", code)
	u.RawQuery = q.Encode()
	return f.opts.Client.Get(u.String())
}

// VerifySubscriber does what Fitbit does when a subscriber is added: the
// correct code must answer 204 and a wrong one 404.
func (f *Fitbit) VerifySubscriber(webhookURL, code string) error {
	for _, c := range []struct {
		code string
		want int
	}{{code, http.StatusNoContent}, {code + "-wrong", http.StatusNotFound}} {
		resp, err := f.Verify(webhookURL, c.code)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.want {
			return fmt.Errorf("verify=%s answered %d, want %d", c.code, resp.StatusCode, c.want)
		}
	}
	return nil
}

// loopbackURL accepts only http(s) URLs on a loopback host: the control
// endpoints must not become a way to make requests elsewhere.
func loopbackURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil {
		return err
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("url must be http or https")
	}
	host := u.Hostname()
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("url host %q is not a loopback address", host)
}

// handleControl serves the sandbox-only endpoints (no auth):
//
//	GET  /sandbox/users                  every known user's UserState
//	GET  /sandbox/stats                  FitbitStats (with spent_refresh_reuse)
//	GET  /sandbox/steps?user=&date=      {"user","date","steps"}
//	POST /sandbox/expire?user=           expire the user's access tokens now
//	POST /sandbox/rate-limit?user=&n=    the user's next n calls answer 429
//	POST /sandbox/fail?prefix=&status=&n= the next n requests under prefix answer status
//	POST /sandbox/revoke-user?user=      the user revokes access (returns the userRevokedAccess updates)
//	POST /sandbox/approve-next?user=&scopes=&deny=1  QueueApproval (scopes space-separated)
//	POST /sandbox/notify                 {"url", "updates":[...]} signed, or {"url","body","signature"} as given
//	POST /sandbox/verify                 {"url","code"}: Fitbit's verification GET
func (f *Fitbit) handleControl(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	user := q.Get("user")
	needUser := func() bool { return requireUser(w, user) }
	intParam := func(name string, def int) (int, bool) { return intQuery(w, q, name, def) }
	route := r.Method + " " + r.URL.Path
	switch route {
	case "GET /sandbox/users":
		f.mu.Lock()
		ids := make([]string, 0, len(f.users))
		for id := range f.users {
			ids = append(ids, id)
		}
		sortStrings(ids)
		out := make([]UserState, 0, len(ids))
		for _, id := range ids {
			out = append(out, f.stateLocked(id))
		}
		f.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"users": out})
	case "GET /sandbox/stats":
		writeJSON(w, http.StatusOK, f.Stats())
	case "GET /sandbox/steps":
		date := q.Get("date")
		if !needUser() {
			return
		}
		if !validDate(date) {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "date must be yyyy-MM-dd"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"user": user, "date": date, "steps": Steps(user, date)})
	case "POST /sandbox/expire":
		if !needUser() {
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"user": user, "expired": f.ExpireAccessToken(user)})
	case "POST /sandbox/rate-limit":
		n, ok := intParam("n", 1)
		if !ok || !needUser() {
			return
		}
		f.ForceRateLimit(user, n)
		writeJSON(w, http.StatusOK, map[string]any{"user": user, "forced": n})
	case "POST /sandbox/fail":
		n, ok := intParam("n", 1)
		if !ok {
			return
		}
		status, ok := intParam("status", http.StatusServiceUnavailable)
		if !ok {
			return
		}
		if status < 400 || status > 599 {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "status must be 400..599"})
			return
		}
		f.FailNext(q.Get("prefix"), status, n)
		writeJSON(w, http.StatusOK, map[string]any{"prefix": q.Get("prefix"), "status": status, "n": n})
	case "POST /sandbox/approve-next":
		if user != "" && !needUser() {
			return
		}
		a := Approval{User: user, Scopes: strings.Fields(q.Get("scopes")), Deny: q.Get("deny") == "1"}
		f.QueueApproval(a)
		writeJSON(w, http.StatusOK, a)
	case "POST /sandbox/revoke-user":
		if !needUser() {
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"user": user, "updates": f.RevokeUser(user)})
	case "POST /sandbox/notify", "POST /sandbox/verify":
		var in struct {
			URL       string   `json:"url"`
			Updates   []Update `json:"updates"`
			Body      *string  `json:"body"`
			Signature string   `json:"signature"`
			Code      string   `json:"code"`
		}
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&in); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "body: " + err.Error()})
			return
		}
		if err := loopbackURL(in.URL); err != nil {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": err.Error()})
			return
		}
		var resp *http.Response
		var err error
		switch {
		case r.URL.Path == "/sandbox/verify":
			resp, err = f.Verify(in.URL, in.Code)
		case in.Body != nil:
			resp, err = f.NotifyWithSignature(in.URL, []byte(*in.Body), in.Signature)
		default:
			resp, err = f.Notify(in.URL, in.Updates)
		}
		if err != nil {
			writeJSON(w, http.StatusBadGateway, map[string]string{"error": err.Error()})
			return
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		writeJSON(w, http.StatusOK, map[string]any{"status": resp.StatusCode, "body": string(b)})
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"error": "no sandbox control " + route})
	}
}
