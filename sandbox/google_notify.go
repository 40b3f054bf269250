package sandbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// GoogleNotification is one Google Health webhook notification (the "data"
// object of the body).
type GoogleNotification struct {
	HealthUserID string           `json:"healthUserId"`
	Operation    string           `json:"operation"` // UPSERT (default) or DELETE
	DataType     string           `json:"dataType"`  // default "steps"
	Intervals    []GoogleInterval `json:"intervals"`
}

// GoogleInterval is a civil ISO 8601 interval, end exclusive, e.g.
// 2026-11-22T00:00:00 to 2026-11-23T00:00:00.
type GoogleInterval struct {
	StartTime string `json:"startTime"`
	EndTime   string `json:"endTime"`
}

// GoogleDayInterval is the interval of the whole civil day date
// (yyyy-MM-dd); a malformed date is used as given.
func GoogleDayInterval(date string) GoogleInterval {
	t, err := time.Parse("2006-01-02", date)
	if err != nil {
		return GoogleInterval{StartTime: date + "T00:00:00", EndTime: date + "T24:00:00"}
	}
	return GoogleInterval{StartTime: date + "T00:00:00", EndTime: t.AddDate(0, 0, 1).Format("2006-01-02") + "T00:00:00"}
}

// NotificationFor is the notification Google sends when the test user's
// steps change on the given days (yyyy-MM-dd).
func (g *GoogleHealth) NotificationFor(user string, dates ...string) GoogleNotification {
	n := GoogleNotification{HealthUserID: g.HealthUserID(user), Operation: "UPSERT", DataType: "steps", Intervals: []GoogleInterval{}}
	for _, d := range dates {
		n.Intervals = append(n.Intervals, GoogleDayInterval(d))
	}
	return n
}

// GoogleNotificationBody is the JSON Google posts for n:
// {"data":{"healthUserId","operation","dataType","intervals":[{"civilIso8601TimeInterval":{"startTime","endTime"}}]}}.
func GoogleNotificationBody(n GoogleNotification) []byte {
	if n.Operation == "" {
		n.Operation = "UPSERT"
	}
	if n.DataType == "" {
		n.DataType = "steps"
	}
	type civil struct {
		Interval GoogleInterval `json:"civilIso8601TimeInterval"`
	}
	intervals := make([]civil, 0, len(n.Intervals))
	for _, iv := range n.Intervals {
		intervals = append(intervals, civil{iv})
	}
	return marshalGoogle(map[string]any{"data": map[string]any{
		"healthUserId": n.HealthUserID,
		"operation":    n.Operation,
		"dataType":     n.DataType,
		"intervals":    intervals,
	}})
}

// GoogleVerificationBody is the body of Google's subscriber verification.
const GoogleVerificationBody = `{"type":"verification"}`

func marshalGoogle(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// post sends body to webhookURL as Google's notifier does; authorization
// "" sends no Authorization header. The caller closes the response body.
func (g *GoogleHealth) post(webhookURL, authorization string, body []byte) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodPost, webhookURL, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "Google-Health-Notifications/sandbox")
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	return g.opts.Client.Do(req)
}

// Notify posts n to a subscriber endpoint with the configured
// Authorization header, as Google does. The subscriber must answer 204
// (Google retries anything else for days). The caller closes the response
// body.
func (g *GoogleHealth) Notify(webhookURL, authorization string, n GoogleNotification) (*http.Response, error) {
	return g.NotifyBody(webhookURL, authorization, GoogleNotificationBody(n))
}

// NotifyBody posts a notification body as given, for tests of malformed
// notifications.
func (g *GoogleHealth) NotifyBody(webhookURL, authorization string, body []byte) (*http.Response, error) {
	g.mu.Lock()
	g.stats.Notifications++
	g.mu.Unlock()
	return g.post(webhookURL, authorization, body)
}

// NotifyVerification sends one verification POST {"type":"verification"}
// with the given Authorization header (none when ""). The caller closes the
// response body.
func (g *GoogleHealth) NotifyVerification(webhookURL, authorization string) (*http.Response, error) {
	g.mu.Lock()
	g.stats.Verifications++
	g.mu.Unlock()
	return g.post(webhookURL, authorization, []byte(GoogleVerificationBody))
}

// VerifySubscriber does what Google does when a subscriber is created: a
// verification POST with the exact configured Authorization header must
// answer 201, and one without it 401 or 403. The error describes every
// wrong answer.
func (g *GoogleHealth) VerifySubscriber(webhookURL, authorization string) error {
	if authorization == "" {
		return errors.New("verify subscriber: the configured Authorization value is empty")
	}
	var errs []error
	for _, c := range []struct {
		auth, what string
		ok         func(int) bool
		want       string
	}{
		{authorization, "with the Authorization header", func(s int) bool { return s == http.StatusCreated }, "201"},
		{"", "without an Authorization header", func(s int) bool { return s == http.StatusUnauthorized || s == http.StatusForbidden }, "401 or 403"},
	} {
		resp, err := g.NotifyVerification(webhookURL, c.auth)
		if err != nil {
			errs = append(errs, fmt.Errorf("verification %s: %w", c.what, err))
			continue
		}
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		resp.Body.Close()
		if !c.ok(resp.StatusCode) {
			errs = append(errs, fmt.Errorf("verification %s answered %d (%s), want %s",
				c.what, resp.StatusCode, strings.TrimSpace(string(b)), c.want))
		}
	}
	return errors.Join(errs...)
}

// handleControl serves the sandbox-only endpoints (no auth):
//
//	GET  /sandbox/users                   every known user's GoogleUserState
//	GET  /sandbox/stats                   GoogleHealthStats
//	GET  /sandbox/steps?user=&date=       {"user","healthUserId","date","steps"}
//	POST /sandbox/expire?user=            expire the user's access tokens now
//	POST /sandbox/rate-limit?user=&n=     the user's next n calls answer 429
//	POST /sandbox/fail?prefix=&status=&n= the next n requests under prefix answer status
//	POST /sandbox/revoke-user?user=       the user removes the app's access
//	POST /sandbox/approve-next?user=&scopes=&deny=1  QueueApproval (scopes space-separated)
//	POST /sandbox/notify                  {"url","authorization","user","dates":[...]} or {"url","authorization","body"}
//	POST /sandbox/verify                  {"url","authorization"}: VerifySubscriber
func (g *GoogleHealth) handleControl(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	user := q.Get("user")
	needUser := func() bool { return requireUser(w, user) }
	intParam := func(name string, def int) (int, bool) { return intQuery(w, q, name, def) }
	route := r.Method + " " + r.URL.Path
	switch route {
	case "GET /sandbox/users":
		g.mu.Lock()
		ids := make([]string, 0, len(g.users))
		for id := range g.users {
			ids = append(ids, id)
		}
		sortStrings(ids)
		out := make([]GoogleUserState, 0, len(ids))
		for _, id := range ids {
			out = append(out, g.stateLocked(id))
		}
		g.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"users": out})
	case "GET /sandbox/stats":
		writeJSON(w, http.StatusOK, g.Stats())
	case "GET /sandbox/steps":
		date := q.Get("date")
		if !needUser() {
			return
		}
		if t, err := time.Parse("2006-01-02", date); err != nil || t.Format("2006-01-02") != date {
			writeJSON(w, http.StatusBadRequest, map[string]string{"error": "date must be yyyy-MM-dd"})
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"user": user, "healthUserId": g.HealthUserID(user), "date": date, "steps": Steps(user, date)})
	case "POST /sandbox/expire":
		if !needUser() {
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"user": user, "expired": g.ExpireAccessToken(user)})
	case "POST /sandbox/rate-limit":
		n, ok := intParam("n", 1)
		if !ok || !needUser() {
			return
		}
		g.ForceRateLimit(user, n)
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
		g.FailNext(q.Get("prefix"), status, n)
		writeJSON(w, http.StatusOK, map[string]any{"prefix": q.Get("prefix"), "status": status, "n": n})
	case "POST /sandbox/revoke-user":
		if !needUser() {
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"user": user, "revoked_grants": g.RevokeUser(user)})
	case "POST /sandbox/approve-next":
		if user != "" && !needUser() {
			return
		}
		a := Approval{User: user, Scopes: strings.Fields(q.Get("scopes")), Deny: q.Get("deny") == "1"}
		g.QueueApproval(a)
		writeJSON(w, http.StatusOK, a)
	case "POST /sandbox/notify", "POST /sandbox/verify":
		var in struct {
			URL           string   `json:"url"`
			Authorization string   `json:"authorization"`
			User          string   `json:"user"`
			Dates         []string `json:"dates"`
			Body          *string  `json:"body"`
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
		if r.URL.Path == "/sandbox/verify" {
			res := map[string]any{"ok": true}
			if err := g.VerifySubscriber(in.URL, in.Authorization); err != nil {
				res = map[string]any{"ok": false, "error": err.Error()}
			}
			writeJSON(w, http.StatusOK, res)
			return
		}
		var resp *http.Response
		var err error
		if in.Body != nil {
			resp, err = g.NotifyBody(in.URL, in.Authorization, []byte(*in.Body))
		} else {
			if !ValidUserID(in.User) || len(in.Dates) == 0 {
				writeJSON(w, http.StatusBadRequest, map[string]string{"error": `want "user" (a sandbox user id) and "dates" (yyyy-MM-dd), or "body"`})
				return
			}
			resp, err = g.Notify(in.URL, in.Authorization, g.NotificationFor(in.User, in.Dates...))
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
