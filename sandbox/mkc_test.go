package sandbox

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

func startMKC(t *testing.T, opts MarketingCloudOptions) (*MarketingCloud, *clock) {
	t.Helper()
	c := newClock(time.Date(2025, 11, 23, 10, 0, 0, 0, time.UTC))
	if opts.Now == nil {
		opts.Now = c.Now
	}
	m := NewMarketingCloud(opts)
	if err := m.Start(""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	return m, c
}

// session is a client that keeps the CSRF token and session cookie.
type session struct {
	m      *MarketingCloud
	cookie *http.Cookie
	token  string
}

func (m *MarketingCloud) testRequest(t *testing.T, method, path, body string, auth bool) *http.Request {
	t.Helper()
	var rd *strings.Reader
	if body != "" {
		rd = strings.NewReader(body)
	} else {
		rd = strings.NewReader("")
	}
	req, err := http.NewRequest(method, m.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if auth {
		req.SetBasicAuth(m.User(), m.Password())
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return req
}

func fetchCSRF(t *testing.T, m *MarketingCloud) *session {
	t.Helper()
	req := m.testRequest(t, "GET", ServicePath, "", true)
	req.Header.Set("X-CSRF-Token", "Fetch")
	r := do(t, req)
	if r.status != 200 {
		t.Fatalf("fetch: %d %s", r.status, r.raw)
	}
	s := &session{m: m, token: r.header.Get("X-CSRF-Token")}
	for _, c := range (&http.Response{Header: r.header}).Cookies() {
		if c.Name == DefaultSessionCookie {
			s.cookie = c
		}
	}
	if s.token == "" || s.cookie == nil {
		t.Fatalf("fetch gave token %q cookie %v", s.token, r.header["Set-Cookie"])
	}
	return s
}

func (s *session) post(t *testing.T, body string) result {
	t.Helper()
	req := s.m.testRequest(t, "POST", ServicePath+"ImportHeaders", body, true)
	req.Header.Set("X-CSRF-Token", s.token)
	req.AddCookie(s.cookie)
	return do(t, req)
}

func readTestdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func interactionImport(key, contact string, quantifier any, extra string) string {
	q, _ := json.Marshal(quantifier)
	return fmt.Sprintf(`{"Id":"","SourceSystemType":"EXT","SourceSystemId":"STRIDE","Interactions":[{
		"Key":%q,"ContactId":%q,"ContactIdOrigin":"FITBIT","CommunicationMedium":"WEB","InteractionType":"WEBSITE_VISIT",
		"Timestamp":"/Date(1763769600000)/","SourceObjectType":"FITBIT_ACTIVITY","SourceObjectId":"%s-2025-11-22","Quantifier":%s%s}]}`,
		key, contact, contact, q, extra)
}

func TestMKCBasicAuth(t *testing.T) {
	m, _ := startMKC(t, MarketingCloudOptions{User: "COMM", Password: "pw"})
	for name, req := range map[string]*http.Request{
		"no auth":        m.testRequest(t, "GET", ServicePath, "", false),
		"wrong password": m.testRequest(t, "GET", ServicePath, "", false),
		"post no auth":   m.testRequest(t, "POST", ServicePath+"ImportHeaders", "{}", false),
	} {
		if name == "wrong password" {
			req.SetBasicAuth("COMM", "nope")
		}
		req.Header.Set("X-CSRF-Token", "Fetch")
		r := do(t, req)
		if r.status != 401 || !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Basic ") {
			t.Errorf("%s: %d, want 401 with WWW-Authenticate: Basic", name, r.status)
		}
		if r.header.Get("X-CSRF-Token") != "" || r.header.Get("Set-Cookie") != "" {
			t.Errorf("%s: a token or session without authentication", name)
		}
	}
	if m.Stats().Unauthorized != 3 {
		t.Errorf("stats %+v", m.Stats())
	}
}

func TestMKCCSRFHandshake(t *testing.T) {
	m, _ := startMKC(t, MarketingCloudOptions{})
	contact := readTestdata(t, "import-headers-contact.json")

	// Without a token: 403 X-CSRF-Token: Required.
	r := do(t, m.testRequest(t, "POST", ServicePath+"ImportHeaders", contact, true))
	if r.status != 403 || r.header.Get("X-CSRF-Token") != "Required" {
		t.Fatalf("no token: %d %q", r.status, r.header.Get("X-CSRF-Token"))
	}
	s := fetchCSRF(t, m)
	// The token alone, without its session cookie: 403.
	req := m.testRequest(t, "POST", ServicePath+"ImportHeaders", contact, true)
	req.Header.Set("X-CSRF-Token", s.token)
	if r := do(t, req); r.status != 403 || r.header.Get("X-CSRF-Token") != "Required" {
		t.Fatalf("token without cookie: %d", r.status)
	}
	// Token and cookie: 201.
	r = s.post(t, contact)
	if r.status != 201 {
		t.Fatalf("post: %d %s", r.status, r.raw)
	}
	d, _ := r.body["d"].(map[string]any)
	if d == nil || d["SourceSystemId"] != "STRIDE" || d["Id"] == "" || r.header.Get("Location") == "" {
		t.Errorf("201 body %s", r.raw)
	}
	// Fetching again in the same session gives the same token.
	req = m.testRequest(t, "GET", ServicePath, "", true)
	req.Header.Set("X-CSRF-Token", "Fetch")
	req.AddCookie(s.cookie)
	if r := do(t, req); r.header.Get("X-CSRF-Token") != s.token || r.header.Get("Set-Cookie") != "" {
		t.Errorf("refetch in session: token %q (was %q)", r.header.Get("X-CSRF-Token"), s.token)
	}
	cs := m.Contacts()
	if len(cs) != 1 || cs[0].ID != "26FWFL" || cs[0].FullName != "Ada Lovelace" || cs[0].DateOfBirth != "/Date(410227200000)/" || cs[0].Implicit {
		t.Errorf("contacts %+v", cs)
	}
	if m.ImportCount() != 1 || m.Stats().CSRFRejected != 2 {
		t.Errorf("stats %+v", m.Stats())
	}
}

func TestMKCTokenIsBoundToItsCookie(t *testing.T) {
	m, _ := startMKC(t, MarketingCloudOptions{})
	a, b := fetchCSRF(t, m), fetchCSRF(t, m)
	if a.token == b.token || a.cookie.Value == b.cookie.Value {
		t.Fatal("two sessions share a token or cookie")
	}
	mixed := &session{m: m, token: a.token, cookie: b.cookie}
	r := mixed.post(t, readTestdata(t, "import-headers-contact.json"))
	if r.status != 403 || r.header.Get("X-CSRF-Token") != "Required" {
		t.Fatalf("token of A with cookie of B: %d", r.status)
	}
	if r := b.post(t, readTestdata(t, "import-headers-contact.json")); r.status != 201 {
		t.Fatalf("B's own pair: %d %s", r.status, r.raw)
	}
}

func TestMKCExpireCSRF(t *testing.T) {
	m, c := startMKC(t, MarketingCloudOptions{SessionTimeout: time.Hour})
	s := fetchCSRF(t, m)
	body := readTestdata(t, "import-headers-interaction.json")
	if r := s.post(t, body); r.status != 201 {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	m.ExpireCSRF()
	if r := s.post(t, body); r.status != 403 || r.header.Get("X-CSRF-Token") != "Required" {
		t.Fatalf("after ExpireCSRF: %d", r.status)
	}
	s = fetchCSRF(t, m)
	if r := s.post(t, body); r.status != 201 {
		t.Fatalf("after refetch: %d", r.status)
	}
	// An idle session times out.
	c.Add(time.Hour + time.Second)
	if r := s.post(t, body); r.status != 403 {
		t.Fatalf("after idle timeout: %d", r.status)
	}
	// Through the control endpoint.
	s = fetchCSRF(t, m)
	req, _ := http.NewRequest("POST", m.URL+"/sandbox/expire-csrf", nil)
	do(t, req)
	if r := s.post(t, body); r.status != 403 {
		t.Fatalf("after /sandbox/expire-csrf: %d", r.status)
	}
}

func wantODataError(t *testing.T, r result, substr string) {
	t.Helper()
	if r.status != 400 {
		t.Fatalf("status %d, want 400: %s", r.status, r.raw)
	}
	e, _ := r.body["error"].(map[string]any)
	msg, _ := e["message"].(map[string]any)
	code, _ := e["code"].(string)
	value, _ := msg["value"].(string)
	if code == "" || msg["lang"] != "en" || value == "" {
		t.Fatalf("not an OData error: %s", r.raw)
	}
	if !strings.Contains(value, substr) {
		t.Errorf("message %q does not mention %q", value, substr)
	}
}

func TestMKCValidation(t *testing.T) {
	m, _ := startMKC(t, MarketingCloudOptions{})
	s := fetchCSRF(t, m)
	for name, c := range map[string]struct{ body, mention string }{
		"missing contact Id":            {`{"Id":"","SourceSystemType":"EXT","SourceSystemId":"STRIDE","Contacts":[{"IdOrigin":"FITBIT","Timestamp":"/Date(1)/"}]}`, "Contacts(0)/Id"},
		"missing SourceSystemId":        {`{"Id":"","SourceSystemType":"EXT","Contacts":[{"Id":"A","IdOrigin":"FITBIT","Timestamp":"/Date(1)/"}]}`, "SourceSystemId"},
		"missing interaction Timestamp": {strings.Replace(interactionImport("k1", "ADA1", 1, ""), `"Timestamp":"/Date(1763769600000)/",`, "", 1), "Interactions(0)/Timestamp"},
		"Key too long":                  {interactionImport(strings.Repeat("k", 33), "ADA1", 1, ""), "Interactions(0)/Key"},
		"Quantifier as string":          {interactionImport("k2", "ADA1", "15720", ""), "Quantifier"},
		"unknown property":              {interactionImport("k3", "ADA1", 1, `,"Steps":1`), "Steps"},
		"unknown header prop":           {`{"Id":"","SourceSystemType":"EXT","SourceSystemId":"S","Foo":1,"Contacts":[{"Id":"A","IdOrigin":"FITBIT","Timestamp":"/Date(1)/"}]}`, "Foo"},
		"bad Timestamp":                 {strings.Replace(interactionImport("k4", "ADA1", 1, ""), "/Date(1763769600000)/", "2025-11-22T00:00:00Z", 1), "Timestamp"},
		"Timestamp as number":           {strings.Replace(interactionImport("k5", "ADA1", 1, ""), `"/Date(1763769600000)/"`, "1763769600000", 1), "Timestamp"},
		"unknown medium":                {strings.Replace(interactionImport("k6", "ADA1", 1, ""), `"WEB"`, `"CARRIER_PIGEON"`, 1), "CARRIER_PIGEON"},
		"lower-case origin":             {strings.Replace(interactionImport("k7", "ADA1", 1, ""), `"FITBIT"`, `"fitbit"`, 1), "ContactIdOrigin"},
		"empty import":                  {`{"Id":"","SourceSystemType":"EXT","SourceSystemId":"STRIDE"}`, "no Contacts"},
		"Contacts not an array":         {`{"Id":"","SourceSystemType":"EXT","SourceSystemId":"STRIDE","Contacts":{"Id":"A"}}`, "Contacts"},
		"malformed JSON":                {`{"Id":"",`, "Malformed"},
		"not an object":                 {`[1,2]`, "ImportHeader"},
		"empty required string":         {interactionImport("k8", "", 1, ""), "ContactId"},
		"FirstName not a string":        {`{"Id":"","SourceSystemType":"EXT","SourceSystemId":"S","Contacts":[{"Id":"A","IdOrigin":"FITBIT","Timestamp":"/Date(1)/","FirstName":7}]}`, "FirstName"},
	} {
		t.Run(name, func(t *testing.T) {
			wantODataError(t, s.post(t, c.body), c.mention)
		})
	}
	if len(m.Contacts()) != 0 || len(m.Interactions()) != 0 || m.ImportCount() != 0 {
		t.Errorf("a rejected import stored something: %v %v", m.Contacts(), m.Interactions())
	}
	// All or nothing: one bad interaction rejects the whole import.
	body := `{"Id":"","SourceSystemType":"EXT","SourceSystemId":"STRIDE","Interactions":[` +
		strings.TrimSuffix(strings.SplitN(interactionImport("good", "ADA1", 1, ""), `"Interactions":[`, 2)[1], "]}") + `,` +
		strings.TrimSuffix(strings.SplitN(interactionImport("bad", "ADA1", "x", ""), `"Interactions":[`, 2)[1], "]}") + `]}`
	r := s.post(t, body)
	wantODataError(t, r, "Interactions(1)/Quantifier")
	if len(m.Interactions()) != 0 {
		t.Error("a partly invalid import stored its valid part")
	}
	details := r.body["error"].(map[string]any)["innererror"].(map[string]any)["errordetails"].([]any)
	if len(details) != 1 || details[0].(map[string]any)["target"] != "Interactions(1)/Quantifier" {
		t.Errorf("errordetails %v", details)
	}
	// Wrong content type.
	req := m.testRequest(t, "POST", ServicePath+"ImportHeaders", "<x/>", true)
	req.Header.Set("Content-Type", "application/xml")
	req.Header.Set("X-CSRF-Token", s.token)
	req.AddCookie(s.cookie)
	if r := do(t, req); r.status != 415 {
		t.Errorf("XML body: %d, want 415", r.status)
	}
}

func TestMKCUpsertByKey(t *testing.T) {
	m, _ := startMKC(t, MarketingCloudOptions{})
	s := fetchCSRF(t, m)
	for i, q := range []int{15720, 15720, 16000} {
		if r := s.post(t, interactionImport("6f1d0c9b2a7e4e3f8a5b1c2d3e4f5a6b", "ADA1", q, "")); r.status != 201 {
			t.Fatalf("import %d: %d %s", i, r.status, r.raw)
		}
	}
	if r := s.post(t, interactionImport("other-key", "ADA1", 42.5, "")); r.status != 201 {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	its := m.Interactions()
	if len(its) != 2 {
		t.Fatalf("interactions %+v, want 2 (upsert by Key)", its)
	}
	var it Interaction
	for _, x := range its {
		if x.Key == "6f1d0c9b2a7e4e3f8a5b1c2d3e4f5a6b" {
			it = x
		}
	}
	if it.Imports != 3 || it.Quantifier == nil || *it.Quantifier != 16000 || it.ContactID != "ADA1" ||
		!it.Time.Equal(time.Date(2025, 11, 22, 0, 0, 0, 0, time.UTC)) || it.SourceSystemID != "STRIDE" || it.SourceObjectID != "ADA1-2025-11-22" {
		t.Errorf("interaction %+v", it)
	}
	if st := m.Stats(); st.InteractionsNew != 2 || st.InteractionsUpd != 2 || st.Imports != 4 {
		t.Errorf("stats %+v", st)
	}
	// The interaction created the contact implicitly; a contact import fills it.
	if cs := m.Contacts(); len(cs) != 1 || !cs[0].Implicit || cs[0].ID != "ADA1" {
		t.Fatalf("contacts %+v", cs)
	}
	contact := `{"Id":"","SourceSystemType":"EXT","SourceSystemId":"STRIDE","Contacts":[{"Id":"ADA1","IdOrigin":"FITBIT","Timestamp":"/Date(1763856000000)/","FullName":"Ada Lovelace","City":"London"}]}`
	s.post(t, contact)
	s.post(t, strings.Replace(contact, `"City":"London"`, `"Country":"GB"`, 1))
	cs := m.Contacts()
	if len(cs) != 1 || cs[0].Implicit || cs[0].FullName != "Ada Lovelace" || cs[0].City != "London" || cs[0].Country != "GB" || cs[0].Imports != 2 {
		t.Errorf("contact upsert by (IdOrigin, Id) %+v", cs)
	}
	// Copies: changing them changes nothing inside.
	its[0].Key = "changed"
	*its[0].Quantifier = -1
	for _, x := range m.Interactions() {
		if x.Key == "changed" || *x.Quantifier == -1 {
			t.Error("Interactions() is not a copy")
		}
	}
	// The JSON listings.
	r := get(t, m.URL+"/sandbox/interactions")
	list, _ := r.body["interactions"].([]any)
	if r.status != 200 || len(list) != 2 || list[0].(map[string]any)["ContactId"] != "ADA1" {
		t.Errorf("listing %s", r.raw)
	}
	r = get(t, m.URL+"/sandbox/contacts")
	if list, _ := r.body["contacts"].([]any); len(list) != 1 || list[0].(map[string]any)["FullName"] != "Ada Lovelace" {
		t.Errorf("contacts listing %s", r.raw)
	}
}

func TestMKCFailureInjection(t *testing.T) {
	m, _ := startMKC(t, MarketingCloudOptions{})
	s := fetchCSRF(t, m)
	body := readTestdata(t, "import-headers-interaction.json")
	m.FailNext(2, 503)
	for i := 0; i < 2; i++ {
		if r := s.post(t, body); r.status != 503 {
			t.Fatalf("try %d: %d, want 503", i, r.status)
		}
	}
	if r := s.post(t, body); r.status != 201 {
		t.Fatalf("after: %d %s", r.status, r.raw)
	}
	m.SetUnavailable(true)
	if r := s.post(t, body); r.status != 503 {
		t.Fatalf("unavailable: %d", r.status)
	}
	req := m.testRequest(t, "GET", ServicePath, "", true)
	req.Header.Set("X-CSRF-Token", "Fetch")
	if r := do(t, req); r.status != 503 {
		t.Fatalf("CSRF fetch while unavailable: %d", r.status)
	}
	m.SetUnavailable(false)
	if r := s.post(t, body); r.status != 201 {
		t.Fatalf("available again: %d", r.status)
	}
	if len(m.Interactions()) != 1 || m.ImportCount() != 2 || m.Stats().InjectedFailures != 4 {
		t.Errorf("interactions %d, imports %d, stats %+v", len(m.Interactions()), m.ImportCount(), m.Stats())
	}
	// Control endpoint.
	req, _ = http.NewRequest("POST", m.URL+"/sandbox/fail?n=1&status=500", nil)
	do(t, req)
	if r := s.post(t, body); r.status != 500 {
		t.Errorf("after /sandbox/fail: %d", r.status)
	}
}

func TestMKCAcceptsContractSamples(t *testing.T) {
	m, _ := startMKC(t, MarketingCloudOptions{})
	s := fetchCSRF(t, m)
	for _, name := range []string{"import-headers-contact.json", "import-headers-interaction.json"} {
		if r := s.post(t, readTestdata(t, name)); r.status != 201 {
			t.Errorf("%s: %d %s", name, r.status, r.raw)
		}
	}
	its := m.Interactions()
	if len(its) != 1 || *its[0].Quantifier != 15720 || its[0].Key != "6f1d0c9b2a7e4e3f8a5b1c2d3e4f5a6b" {
		t.Errorf("interactions %+v", its)
	}
}
