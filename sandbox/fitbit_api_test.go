package sandbox

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestProfile(t *testing.T) {
	f, _ := startFitbit(t, FitbitOptions{})
	tk := connect(t, f, "ADA1", "activity profile")
	r := api(t, f, "GET", tk.access, "/1/user/-/profile.json")
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	if missing := missingKeys(sample(t, "profile.json"), r.body, "$"); len(missing) > 0 {
		t.Errorf("profile lacks sample keys %v", missing)
	}
	u := r.body["user"].(map[string]any)
	for k, want := range map[string]any{
		"encodedId": "ADA1", "fullName": "Ada Lovelace", "firstName": "Ada", "lastName": "Lovelace",
		"country": "GB", "city": "London", "dateOfBirth": "1985-12-10", "gender": "FEMALE",
	} {
		if u[k] != want {
			t.Errorf("user.%s = %v, want %v", k, u[k], want)
		}
	}
	// The own id works like "-".
	if r2 := api(t, f, "GET", tk.access, "/1/user/ADA1/profile.json"); string(r2.raw) != string(r.raw) {
		t.Errorf("/1/user/ADA1/profile.json differs from /1/user/-/profile.json")
	}
	// Deterministic for generated users too.
	z := connect(t, f, "Q7Z", "activity profile")
	zr := api(t, f, "GET", z.access, "/1/user/-/profile.json")
	g := GeneratedUser("Q7Z")
	zu := zr.body["user"].(map[string]any)
	if zu["fullName"] != g.FullName() || zu["dateOfBirth"] != g.DateOfBirth || zu["country"] != g.Country || g.FirstName == "" {
		t.Errorf("generated profile %v, want %+v", zu, g)
	}
}

func TestScopeEnforcement(t *testing.T) {
	f, _ := startFitbit(t, FitbitOptions{})
	onlyActivity := connect(t, f, "ADA1", "activity")
	r := api(t, f, "GET", onlyActivity.access, "/1/user/-/profile.json")
	wantFitbitError(t, r, 403, "insufficient_scope")
	onlyProfile := connect(t, f, "ALAN2", "profile")
	wantFitbitError(t, api(t, f, "GET", onlyProfile.access, "/1/user/-/activities/date/2025-11-22.json"), 403, "insufficient_scope")
	wantFitbitError(t, api(t, f, "POST", onlyProfile.access, "/1/user/-/activities/apiSubscriptions/ALAN2-activities.json"), 403, "insufficient_scope")
	wantFitbitError(t, api(t, f, "POST", onlyActivity.access, "/1/user/-/body/apiSubscriptions/ADA1-body.json"), 403, "insufficient_scope")
	// Another user's data.
	wantFitbitError(t, api(t, f, "GET", onlyActivity.access, "/1/user/ALAN2/activities/date/2025-11-22.json"), 403, "insufficient_permissions")
}

func TestActivitiesAreDeterministic(t *testing.T) {
	f, _ := startFitbit(t, FitbitOptions{})
	tk := connect(t, f, "ADA1", "activity profile")
	r := api(t, f, "GET", tk.access, "/1/user/-/activities/date/2025-11-22.json")
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	if missing := missingKeys(sample(t, "daily-activity-summary.json"), r.body, "$"); len(missing) > 0 {
		t.Errorf("summary lacks sample keys %v", missing)
	}
	steps := r.body["summary"].(map[string]any)["steps"]
	if steps != float64(f.StepsFor("ADA1", "2025-11-22")) {
		t.Errorf("steps %v, StepsFor %d", steps, f.StepsFor("ADA1", "2025-11-22"))
	}
	again := api(t, f, "GET", tk.access, "/1/user/ADA1/activities/date/2025-11-22.json")
	if string(again.raw) != string(r.raw) {
		t.Error("the same user and date answered differently")
	}
	if f.ActivityReads("ADA1", "2025-11-22") != 2 {
		t.Errorf("ActivityReads = %d", f.ActivityReads("ADA1", "2025-11-22"))
	}
	// Steps vary by user and date, always 2,000..20,000.
	seen := map[int]bool{}
	day := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < 400; i++ {
		for _, u := range []string{"ADA1", "ALAN2", "GRACE3"} {
			s := Steps(u, day.AddDate(0, 0, i).Format("2006-01-02"))
			if s < 2000 || s > 20000 {
				t.Fatalf("Steps(%s) = %d out of range", u, s)
			}
			seen[s] = true
		}
	}
	if len(seen) < 1000 {
		t.Errorf("only %d distinct step counts in 1200 days", len(seen))
	}
	if Steps("ADA1", "2025-11-22") == Steps("ALAN2", "2025-11-22") && Steps("ADA1", "2025-11-21") == Steps("ALAN2", "2025-11-21") {
		t.Error("steps do not depend on the user")
	}
	bad := api(t, f, "GET", tk.access, "/1/user/-/activities/date/2025-13-01.json")
	wantFitbitError(t, bad, 400, "validation")
}

func TestSubscriptions(t *testing.T) {
	f, _ := startFitbit(t, FitbitOptions{})
	ada := connect(t, f, "ADA1", "activity profile weight")
	alan := connect(t, f, "ALAN2", "activity profile")
	post := func(tok, path string, hdr ...string) result { return api(t, f, "POST", tok, path, hdr...) }

	r := post(ada.access, "/1/user/-/activities/apiSubscriptions/ADA1-activities.json")
	if r.status != 201 {
		t.Fatalf("create: %d %s", r.status, r.raw)
	}
	if missing := missingKeys(sample(t, "subscription-created.json"), r.body, "$"); len(missing) > 0 {
		t.Errorf("subscription lacks sample keys %v", missing)
	}
	if r.body["collectionType"] != "activities" || r.body["ownerId"] != "ADA1" || r.body["subscriptionId"] != "ADA1-activities" ||
		r.body["ownerType"] != "user" || r.body["subscriberId"] != "1" {
		t.Errorf("created %s", r.raw)
	}
	if r := post(ada.access, "/1/user/-/activities/apiSubscriptions/ADA1-activities.json"); r.status != 200 {
		t.Errorf("same subscription again: %d, want 200", r.status)
	}
	// The id is taken by another stream: other collection, other user.
	if r := post(ada.access, "/1/user/-/body/apiSubscriptions/ADA1-activities.json"); r.status != 409 {
		t.Errorf("id reused for another collection: %d, want 409", r.status)
	}
	if r := post(alan.access, "/1/user/-/activities/apiSubscriptions/ADA1-activities.json"); r.status != 409 {
		t.Errorf("id reused by another user: %d, want 409", r.status)
	}
	// One subscription per subscriber, user and collection.
	if r := post(ada.access, "/1/user/-/activities/apiSubscriptions/another-id.json"); r.status != 409 {
		t.Errorf("second id for the same stream: %d, want 409", r.status)
	}
	if r := post(ada.access, "/1/user/-/body/apiSubscriptions/ADA1-body.json", "X-Fitbit-Subscriber-Id", "stride"); r.status != 201 || r.body["subscriberId"] != "stride" {
		t.Errorf("body subscription: %d %s", r.status, r.raw)
	}
	if r := post(ada.access, "/1/user/-/userRevokedAccess/apiSubscriptions/ADA1-revoked.json"); r.status != 201 {
		t.Errorf("userRevokedAccess needs no scope: %d %s", r.status, r.raw)
	}
	// All collections needs every scope.
	wantFitbitError(t, post(ada.access, "/1/user/-/apiSubscriptions/ADA1-all.json"), 403, "insufficient_scope")

	l := api(t, f, "GET", ada.access, "/1/user/-/apiSubscriptions.json")
	list, _ := l.body["apiSubscriptions"].([]any)
	if l.status != 200 || len(list) != 3 {
		t.Fatalf("list: %d %s", l.status, l.raw)
	}
	l = api(t, f, "GET", ada.access, "/1/user/-/body/apiSubscriptions.json")
	if list, _ := l.body["apiSubscriptions"].([]any); len(list) != 1 {
		t.Errorf("list body: %s", l.raw)
	}
	if got := f.Subscriptions("ADA1"); len(got) != 3 || got[0].SubscriptionID != "ADA1-activities" {
		t.Errorf("Subscriptions() = %+v", got)
	}
	if u := f.UpdateFor("ADA1", "activities", "2025-11-22"); u.SubscriptionID != "ADA1-activities" || u.OwnerType != "user" {
		t.Errorf("UpdateFor = %+v", u)
	}

	if r := api(t, f, "DELETE", ada.access, "/1/user/-/activities/apiSubscriptions/ADA1-activities.json"); r.status != 204 {
		t.Errorf("delete: %d %s", r.status, r.raw)
	}
	if r := api(t, f, "DELETE", ada.access, "/1/user/-/activities/apiSubscriptions/ADA1-activities.json"); r.status != 404 {
		t.Errorf("delete again: %d, want 404", r.status)
	}
	// Freed: another user may take the id now.
	if r := post(alan.access, "/1/user/-/activities/apiSubscriptions/ADA1-activities.json"); r.status != 201 {
		t.Errorf("freed id: %d", r.status)
	}
	if len(f.Subscriptions("ADA1")) != 2 {
		t.Errorf("Subscriptions(ADA1) = %+v", f.Subscriptions("ADA1"))
	}
	if r := post(ada.access, "/1/user/-/activities/apiSubscriptions/"+strings.Repeat("x", 51)+".json"); r.status != 400 {
		t.Errorf("51-char id: %d, want 400", r.status)
	}
}

func TestRateLimit(t *testing.T) {
	f, c := startFitbit(t, FitbitOptions{RateLimit: 3})
	c.Add(59*time.Minute + 30*time.Second) // 10:59:30
	ada := connect(t, f, "ADA1", "activity profile")
	alan := connect(t, f, "ALAN2", "activity profile")
	for i := 1; i <= 3; i++ {
		r := api(t, f, "GET", ada.access, "/1/user/-/profile.json")
		if r.status != 200 {
			t.Fatalf("call %d: %d", i, r.status)
		}
		if r.header.Get("Fitbit-Rate-Limit-Limit") != "3" || r.header.Get("Fitbit-Rate-Limit-Remaining") != strconv.Itoa(3-i) ||
			r.header.Get("Fitbit-Rate-Limit-Reset") != "30" {
			t.Errorf("call %d headers: limit %q remaining %q reset %q", i, r.header.Get("Fitbit-Rate-Limit-Limit"),
				r.header.Get("Fitbit-Rate-Limit-Remaining"), r.header.Get("Fitbit-Rate-Limit-Reset"))
		}
	}
	r := api(t, f, "GET", ada.access, "/1/user/-/activities/date/2025-11-22.json")
	if r.status != 429 || r.header.Get("Retry-After") != "30" || r.header.Get("Fitbit-Rate-Limit-Remaining") != "0" {
		t.Fatalf("4th call: %d Retry-After %q", r.status, r.header.Get("Retry-After"))
	}
	if f.ActivityReads("ADA1", "2025-11-22") != 0 {
		t.Error("a 429 must not read anything")
	}
	// Per user: another user is unaffected.
	if r := api(t, f, "GET", alan.access, "/1/user/-/profile.json"); r.status != 200 {
		t.Errorf("other user: %d", r.status)
	}
	// The window resets at the top of the hour.
	c.Add(30 * time.Second)
	r = api(t, f, "GET", ada.access, "/1/user/-/profile.json")
	if r.status != 200 || r.header.Get("Fitbit-Rate-Limit-Remaining") != "2" || r.header.Get("Fitbit-Rate-Limit-Reset") != "3600" {
		t.Errorf("next hour: %d remaining %q reset %q", r.status, r.header.Get("Fitbit-Rate-Limit-Remaining"), r.header.Get("Fitbit-Rate-Limit-Reset"))
	}
	if st := f.State("ADA1"); st.RateLimited != 1 || st.APICalls != 5 {
		t.Errorf("state %+v", st)
	}
}

func TestForceRateLimit(t *testing.T) {
	f, _ := startFitbit(t, FitbitOptions{ForcedRetryAfter: 2 * time.Second})
	tk := connect(t, f, "ADA1", "activity profile")
	f.ForceRateLimit("ADA1", 2)
	for i := 0; i < 2; i++ {
		r := api(t, f, "GET", tk.access, "/1/user/-/activities/date/2025-11-22.json")
		wantFitbitError(t, r, 429, "system")
		if r.header.Get("Retry-After") != "2" || r.header.Get("Fitbit-Rate-Limit-Reset") != "2" {
			t.Errorf("forced 429 headers %v", r.header)
		}
	}
	if r := api(t, f, "GET", tk.access, "/1/user/-/activities/date/2025-11-22.json"); r.status != 200 || r.header.Get("Fitbit-Rate-Limit-Remaining") != "149" {
		t.Errorf("after forced 429s: %d remaining %q", r.status, r.header.Get("Fitbit-Rate-Limit-Remaining"))
	}
	// Through the control endpoint.
	req, _ := http.NewRequest(http.MethodPost, f.URL+"/sandbox/rate-limit?user=ADA1&n=1", nil)
	if r := do(t, req); r.status != 200 {
		t.Fatalf("control: %d", r.status)
	}
	if r := api(t, f, "GET", tk.access, "/1/user/-/profile.json"); r.status != 429 {
		t.Errorf("after control: %d", r.status)
	}
}

// receiver is a subscriber endpoint that records what Fitbit sent.
type receiver struct {
	mu     sync.Mutex
	bodies [][]byte
	sigs   []string
	ctypes []string
	verify []string
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if r.Method == http.MethodGet {
		rc.verify = append(rc.verify, r.URL.Query().Get("verify"))
		if r.URL.Query().Get("verify") == "good-code" {
			w.WriteHeader(204)
		} else {
			w.WriteHeader(404)
		}
		return
	}
	b, _ := io.ReadAll(r.Body)
	rc.bodies = append(rc.bodies, b)
	rc.sigs = append(rc.sigs, r.Header.Get("X-Fitbit-Signature"))
	rc.ctypes = append(rc.ctypes, r.Header.Get("Content-Type"))
	w.WriteHeader(204)
}

func TestNotifySignsLikeFitbit(t *testing.T) {
	f, _ := startFitbit(t, FitbitOptions{ClientSecret: "the-secret"})
	rc := &receiver{}
	hook := httptest.NewServer(rc)
	defer hook.Close()

	updates := []Update{
		{CollectionType: "activities", Date: "2025-11-22", OwnerID: "ADA1", SubscriptionID: "ADA1-activities"},
		{CollectionType: "sleep", Date: "2025-11-22", OwnerID: "ALAN2", OwnerType: "user", SubscriptionID: "ALAN2-sleep"},
	}
	resp, err := f.Notify(hook.URL+"/fitbit/webhook", updates)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	body, sig := rc.bodies[0], rc.sigs[0]
	mac := hmac.New(sha1.New, []byte("the-secret&"))
	mac.Write(body)
	want := base64.StdEncoding.EncodeToString(mac.Sum(nil))
	if sig != want {
		t.Errorf("X-Fitbit-Signature %q, want base64(HMAC-SHA1(body, secret&)) %q", sig, want)
	}
	if !hmac.Equal([]byte(sig), []byte(f.Sign(body))) {
		t.Error("Sign disagrees with the header")
	}
	if rc.ctypes[0] != "application/json" {
		t.Errorf("Content-Type %q", rc.ctypes[0])
	}
	var got []map[string]any
	if err := json.Unmarshal(body, &got); err != nil || len(got) != 2 {
		t.Fatalf("body %s: %v", body, err)
	}
	samples := sample(t, "notification-multiple.json").([]any)
	if missing := missingKeys(samples[0], got[0], "$[0]"); len(missing) > 0 {
		t.Errorf("update lacks sample keys %v", missing)
	}
	if got[0]["ownerType"] != "user" || got[0]["ownerId"] != "ADA1" || got[1]["collectionType"] != "sleep" {
		t.Errorf("body %s", body)
	}

	// Bad and missing signatures go out as given.
	resp, err = f.NotifyWithSignature(hook.URL, []byte(`[]`), "bogus")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	resp, err = f.NotifyWithSignature(hook.URL, []byte(`[]`), "")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if rc.sigs[1] != "bogus" || rc.sigs[2] != "" || !bytes.Equal(rc.bodies[2], []byte(`[]`)) {
		t.Errorf("signatures %q", rc.sigs)
	}

	// Verification handshake.
	resp, err = f.Verify(hook.URL+"/fitbit/webhook", "good-code")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 || rc.verify[0] != "good-code" {
		t.Errorf("verify: %d %v", resp.StatusCode, rc.verify)
	}
	if err := f.VerifySubscriber(hook.URL, "good-code"); err != nil {
		t.Errorf("VerifySubscriber: %v", err)
	}
	if err := f.VerifySubscriber(hook.URL, "bad-code"); err == nil {
		t.Error("VerifySubscriber accepted a subscriber that answers 404 to its code")
	}
}

func TestNotifyControlEndpoint(t *testing.T) {
	f, _ := startFitbit(t, FitbitOptions{})
	rc := &receiver{}
	hook := httptest.NewServer(rc)
	defer hook.Close()
	post := func(body string) result {
		req, _ := http.NewRequest(http.MethodPost, f.URL+"/sandbox/notify", strings.NewReader(body))
		return do(t, req)
	}
	r := post(`{"url":"` + hook.URL + `","updates":[{"collectionType":"activities","date":"2025-11-22","ownerId":"ADA1","subscriptionId":"ADA1-activities"}]}`)
	if r.status != 200 || r.body["status"] != float64(204) {
		t.Fatalf("notify: %d %s", r.status, r.raw)
	}
	if rc.sigs[0] != f.Sign(rc.bodies[0]) {
		t.Error("control notify not signed")
	}
	r = post(`{"url":"` + hook.URL + `","body":"[1]","signature":"nope"}`)
	if r.status != 200 || rc.sigs[1] != "nope" || string(rc.bodies[1]) != "[1]" {
		t.Errorf("raw notify: %d %q %q", r.status, rc.sigs, rc.bodies)
	}
	if r := post(`{"url":"http://example.com/hook","updates":[]}`); r.status != 400 {
		t.Errorf("non-loopback target: %d, want 400", r.status)
	}
}

func TestRevokeUserSendsUserRevokedAccess(t *testing.T) {
	f, _ := startFitbit(t, FitbitOptions{})
	tk := connect(t, f, "ADA1", "activity profile")
	api(t, f, "POST", tk.access, "/1/user/-/activities/apiSubscriptions/ADA1-activities.json")
	api(t, f, "POST", tk.access, "/1/user/-/userRevokedAccess/apiSubscriptions/ADA1-revoked.json")
	ups := f.RevokeUser("ADA1")
	if len(ups) != 1 || ups[0].CollectionType != "userRevokedAccess" || ups[0].OwnerID != "ADA1" || ups[0].SubscriptionID != "ADA1-revoked" {
		t.Errorf("updates %+v", ups)
	}
	if len(f.Subscriptions("ADA1")) != 0 {
		t.Errorf("subscriptions survived: %+v", f.Subscriptions("ADA1"))
	}
	// Only a userRevokedAccess (or all-collections) subscription is told.
	alan := connect(t, f, "ALAN2", "activity profile")
	api(t, f, "POST", alan.access, "/1/user/-/activities/apiSubscriptions/ALAN2-activities.json")
	if ups := f.RevokeUser("ALAN2"); len(ups) != 0 {
		t.Errorf("activities-only subscriber got %+v", ups)
	}
	wantFitbitError(t, api(t, f, "GET", tk.access, "/1/user/-/profile.json"), 401, "invalid_token")
	wantFitbitError(t, refreshReq(t, f, tk.refresh), 400, "invalid_grant")
}

func TestControlUsersAndStats(t *testing.T) {
	f, _ := startFitbit(t, FitbitOptions{})
	connect(t, f, "ADA1", "activity profile")
	r := get(t, f.URL+"/sandbox/users")
	users, _ := r.body["users"].([]any)
	if r.status != 200 || len(users) != len(DefaultUsers) {
		t.Fatalf("users: %d %s", r.status, r.raw)
	}
	first := users[0].(map[string]any)
	if first["user"].(map[string]any)["id"] != "ADA1" || first["connected"] != true {
		t.Errorf("first user %v", first)
	}
	if r := get(t, f.URL+"/sandbox/stats"); r.body["code_exchanges"] != float64(1) || r.body["spent_refresh_reuse"] != float64(0) {
		t.Errorf("stats %s", r.raw)
	}
	if r := get(t, f.URL+"/sandbox/steps?user=ADA1&date=2025-11-22"); r.body["steps"] != float64(Steps("ADA1", "2025-11-22")) {
		t.Errorf("steps %s", r.raw)
	}
	if r := get(t, f.URL+"/sandbox/nope"); r.status != 404 {
		t.Errorf("unknown control: %d", r.status)
	}
}
