package steps_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stride-engine/stride/engine/flow"
	"github.com/stride-engine/stride/engine/runtime"
)

// Values of the secrets the policy flows declare.
var policyVars = map[string]string{
	"PARTNER_PASSWORD":     "pa55-partner",
	"OTHER_PASSWORD":       "pa55-other",
	"EMPTY_PASSWORD":       "",
	"API_KEY":              "key-0123456789",
	"API_KEY_NEXT":         "key-abcdefghij",
	"FITBIT_CLIENT_SECRET": "fitbit-client-secret",
	"GH_SECRET":            "gh-webhook-secret",
	"GOOGLE_TOKEN":         "google-shared-token",
}

const policySecrets = "secrets: [PARTNER_PASSWORD, OTHER_PASSWORD, EMPTY_PASSWORD, API_KEY, API_KEY_NEXT, FITBIT_CLIENT_SECRET, GH_SECRET, GOOGLE_TOKEN]\n"

// afterPolicy is appended to the steps of a policy test: it shows that
// the flow went on, and the on_error shows that a rejection is no error.
const afterPolicy = `
  - set: {properties: {ran: true}}
on_error:
  - set: {properties: {on_error_ran: true}}
`

func bindPolicyVars(set *flow.FlowSet) {
	set.Bind(func(name string) (string, bool) {
		v, ok := policyVars[name]
		return v, ok
	})
}

func loadPolicyFlow(t testing.TB, steps string) *flow.FlowSet {
	t.Helper()
	src := "flow: f\ntrigger: {call: {}}\n" + policySecrets + "steps:\n" + strings.TrimLeft(steps, "\n") + afterPolicy
	set, err := flow.Load([]flow.Source{{Name: "f.yaml", Data: []byte(src)}})
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	bindPolicyVars(set)
	return set
}

// policyInbound is the request a policy step sees.
type policyInbound struct {
	body   string
	header map[string]string
	query  map[string]string
	remote string // request.remote_address; empty: no HTTP request
	noRaw  bool   // a queue message: no raw body
	now    time.Time
}

func (in policyInbound) exchange(set *flow.FlowSet) *flow.Exchange {
	msg := flow.NewMessage([]byte(in.body), "application/json")
	for k, v := range in.header {
		msg.SetHeader(k, v)
	}
	now := in.now
	if now.IsZero() {
		now = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	}
	x := newExchange("m1", msg, set, func() time.Time { return now })
	x.Query = map[string]string{}
	for k, v := range in.query {
		x.Query[k] = v
	}
	if in.remote != "" {
		x.Request = &flow.RequestInfo{Method: "POST", Path: "/hook", RemoteAddress: in.remote}
	}
	if !in.noRaw {
		x.RawBody = []byte(in.body)
	}
	return x
}

func runPolicy(t testing.TB, set *flow.FlowSet, in policyInbound) (*flow.Exchange, error) {
	t.Helper()
	x := in.exchange(set)
	return x, set.Run(context.Background(), "f", x)
}

// wantPassed checks that the policy let the message through to the next step.
func wantPassed(t *testing.T, x *flow.Exchange, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("error: %v", err)
	}
	if x.Response != nil || x.Stopped() {
		t.Fatalf("rejected (%+v), want passed", x.Response)
	}
	wantProp(t, x, "ran", true)
}

// wantRejected checks that the policy answered status with a small JSON
// error, ended the message DISCARDED, and that neither the next step nor
// on_error ran. It returns the error text of the answer.
func wantRejected(t *testing.T, x *flow.Exchange, err error, status int) string {
	t.Helper()
	if err != nil {
		t.Fatalf("a rejection is not an error: %v", err)
	}
	if x.Response == nil {
		t.Fatalf("passed, want %d", status)
	}
	if x.Response.Status != status || !x.Stopped() || x.Status != "DISCARDED" {
		t.Errorf("status %d stopped=%v message status %q, want %d, DISCARDED", x.Response.Status, x.Stopped(), x.Status, status)
	}
	if _, ran := x.Msg.Property["ran"]; ran {
		t.Error("the step after the policy ran")
	}
	if _, ran := x.Msg.Property["on_error_ran"]; ran {
		t.Error("on_error ran for a rejection")
	}
	var body map[string]string
	if err := json.Unmarshal(x.Response.Body, &body); err != nil || body["error"] == "" || len(body) != 1 || x.Response.ContentType != "application/json" {
		t.Errorf("answer %s (%s), want {\"error\": ...} as JSON", x.Response.Body, x.Response.ContentType)
	}
	for name, v := range policyVars {
		if v != "" && strings.Contains(string(x.Response.Body), v) {
			t.Errorf("the answer carries secret %s: %s", name, x.Response.Body)
		}
	}
	return body["error"]
}

func basicAuthHeader(user, password string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+password))
}

func TestBasicAuth(t *testing.T) {
	set := loadPolicyFlow(t, `
  - basic_auth:
      users:
        partner: '${secret.PARTNER_PASSWORD}'
        other: '${secret.OTHER_PASSWORD}'
        ghost: '${secret.EMPTY_PASSWORD}'
      realm: partner-api`)
	auth := func(v string) policyInbound { return policyInbound{header: map[string]string{"Authorization": v}} }

	for _, user := range []string{"partner", "other"} {
		x, err := runPolicy(t, set, auth(basicAuthHeader(user, policyVars[strings.ToUpper(user)+"_PASSWORD"])))
		wantPassed(t, x, err)
		wantProp(t, x, "auth_user", user)
		if x.Msg.Header["Authorization"] == "" {
			t.Error("the header stays unless hide_credentials")
		}
	}
	x, err := runPolicy(t, set, auth("basic "+base64.StdEncoding.EncodeToString([]byte("partner:pa55-partner"))))
	wantPassed(t, x, err) // the scheme is case-insensitive

	// Wrong password, wrong user, another user's password, and an
	// existing user and a missing one answer alike.
	var answers []string
	for _, h := range []string{
		basicAuthHeader("partner", "wrong"),
		basicAuthHeader("nobody", "pa55-partner"),
		basicAuthHeader("partner", "pa55-other"),
		basicAuthHeader("partner", ""),
		basicAuthHeader("ghost", ""), // an unset password never matches
	} {
		x, err := runPolicy(t, set, auth(h))
		answers = append(answers, wantRejected(t, x, err, 401))
		if got := x.Response.Header["Www-Authenticate"]; got != `Basic realm="partner-api"` {
			t.Errorf("WWW-Authenticate %q", got)
		}
		if _, ok := x.Msg.Property["auth_user"]; ok {
			t.Error("auth_user set on a rejection")
		}
	}
	for _, a := range answers[1:] {
		if a != answers[0] {
			t.Errorf("answers differ (%q, %q): they must not tell which part was wrong", answers[0], a)
		}
	}
	for _, in := range []policyInbound{{}, auth("Bearer abc"), auth("Basic !!!"), auth(basicAuthHeader("", ""))} {
		x, err := runPolicy(t, set, in)
		wantRejected(t, x, err, 401)
	}

	// hide_credentials, default realm, another status.
	set = loadPolicyFlow(t, `
  - basic_auth: {users: {partner: '${secret.PARTNER_PASSWORD}'}, hide_credentials: true}`)
	x, err = runPolicy(t, set, auth(basicAuthHeader("partner", "pa55-partner")))
	wantPassed(t, x, err)
	if _, ok := x.Msg.Header["Authorization"]; ok {
		t.Error("hide_credentials left the Authorization header")
	}
	x, err = runPolicy(t, set, policyInbound{})
	wantRejected(t, x, err, 401)
	if got := x.Response.Header["Www-Authenticate"]; got != `Basic realm="stride"` {
		t.Errorf("default realm: %q", got)
	}
	set = loadPolicyFlow(t, `
  - basic_auth: {users: {partner: '${secret.PARTNER_PASSWORD}'}, status: 404}`)
	x, err = runPolicy(t, set, policyInbound{})
	wantRejected(t, x, err, 404)
	if _, ok := x.Response.Header["Www-Authenticate"]; ok {
		t.Error("a challenge belongs to a 401 only")
	}
}

func TestAPIKey(t *testing.T) {
	set := loadPolicyFlow(t, `
  - api_key: {header: x-api-key, keys: ['${secret.API_KEY}', '${secret.API_KEY_NEXT}', '${secret.EMPTY_PASSWORD}']}`)
	hdr := func(v string) policyInbound { return policyInbound{header: map[string]string{"X-API-Key": v}} }
	for _, k := range []string{policyVars["API_KEY"], policyVars["API_KEY_NEXT"]} {
		x, err := runPolicy(t, set, hdr(k))
		wantPassed(t, x, err)
	}
	x, err := runPolicy(t, set, policyInbound{})
	if got := wantRejected(t, x, err, 401); got != "missing API key" {
		t.Errorf("answer %q", got)
	}
	for _, in := range []policyInbound{hdr("key-wrong"), hdr(policyVars["API_KEY"] + "x"), hdr(policyVars["API_KEY"][:5]),
		{query: map[string]string{"api_key": policyVars["API_KEY"]}}} {
		x, err := runPolicy(t, set, in)
		wantRejected(t, x, err, 401)
	}

	set = loadPolicyFlow(t, `
  - api_key: {query: api_key, keys: ['${secret.API_KEY}'], status: 403, hide_credentials: true}`)
	x, err = runPolicy(t, set, policyInbound{query: map[string]string{"api_key": policyVars["API_KEY"], "other": "1"}})
	wantPassed(t, x, err)
	if _, ok := x.Query["api_key"]; ok || x.Query["other"] != "1" {
		t.Errorf("hide_credentials: query %v", x.Query)
	}
	for _, in := range []policyInbound{{}, {query: map[string]string{"api_key": "nope"}}, hdr(policyVars["API_KEY"])} {
		x, err := runPolicy(t, set, in)
		wantRejected(t, x, err, 403)
	}
}

// wantRejectedFn adapts wantRejected to a (x, err) call.
func wantRejectedFn(t *testing.T, status int) func(*flow.Exchange, error) string {
	return func(x *flow.Exchange, err error) string { t.Helper(); return wantRejected(t, x, err, status) }
}

const fitbitPolicy = `
  - verify_signature:
      header: X-Fitbit-Signature
      algorithm: hmac-sha1
      key: '${secret.FITBIT_CLIENT_SECRET + "&"}'
      status: 404`

// fitbitBody is a subscription notification (shared/samples/fitbit).
const fitbitBody = `[{"collectionType":"activities","date":"2012-05-24","ownerId":"224F7B","ownerType":"user","subscriptionId":"21951163-8ad9-444b-8225-ff230b6e9885-activities"}]`

// fitbitSignature signs as Fitbit documents it: base64(HMAC-SHA1(raw
// body, client_secret + "&")).
func fitbitSignature(body string) string {
	mac := hmac.New(sha1.New, []byte(policyVars["FITBIT_CLIENT_SECRET"]+"&"))
	mac.Write([]byte(body))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func TestVerifySignatureFitbit(t *testing.T) {
	// Computed apart from Go (Python's hmac) as a known answer.
	if got := fitbitSignature(fitbitBody); got != "u+QZs5iApYgdUNTdarThuu7TIvs=" {
		t.Fatalf("test vector: %s", got)
	}
	set := loadPolicyFlow(t, fitbitPolicy)
	sig := func(v string) map[string]string { return map[string]string{"X-Fitbit-Signature": v} }

	x, err := runPolicy(t, set, policyInbound{body: fitbitBody, header: sig(fitbitSignature(fitbitBody))})
	wantPassed(t, x, err)
	// Unpadded base64 is the same signature.
	x, err = runPolicy(t, set, policyInbound{body: fitbitBody, header: sig(strings.TrimRight(fitbitSignature(fitbitBody), "="))})
	wantPassed(t, x, err)

	// The signature covers the raw body, even after a step changed it.
	x = policyInbound{body: fitbitBody, header: sig(fitbitSignature(fitbitBody))}.exchange(set)
	x.Msg.SetBody([]byte(`{"changed":true}`), "application/json")
	wantPassed(t, x, set.Run(context.Background(), "f", x))
	// A queue message has no raw body: its body is signed.
	x, err = runPolicy(t, set, policyInbound{body: fitbitBody, header: sig(fitbitSignature(fitbitBody)), noRaw: true})
	wantPassed(t, x, err)

	tampered := strings.Replace(fitbitBody, "224F7B", "224F7C", 1)
	reject := wantRejectedFn(t, 404)
	var answers []string
	for name, in := range map[string]policyInbound{
		"tampered body":    {body: tampered, header: sig(fitbitSignature(fitbitBody))},
		"missing header":   {body: fitbitBody},
		"empty header":     {body: fitbitBody, header: sig("")},
		"not base64":       {body: fitbitBody, header: sig("%%%")},
		"hex not base64":   {body: fitbitBody, header: sig(hexHMAC(sha1.New, "fitbit-client-secret&", fitbitBody))},
		"key without &":    {body: fitbitBody, header: sig(b64HMAC(sha1.New, "fitbit-client-secret", fitbitBody))},
		"sha256 not sha1":  {body: fitbitBody, header: sig(b64HMAC(sha256.New, "fitbit-client-secret&", fitbitBody))},
		"truncated":        {body: fitbitBody, header: sig(fitbitSignature(fitbitBody)[:12])},
		"secret as header": {body: fitbitBody, header: sig(policyVars["FITBIT_CLIENT_SECRET"] + "&")},
	} {
		t.Run(name, func(t *testing.T) {
			x, err := runPolicy(t, set, in)
			answers = append(answers, reject(x, err))
		})
	}
	for _, a := range answers {
		if a != "invalid signature" {
			t.Errorf("answer %q", a)
		}
	}
}

func b64HMAC(h func() hash.Hash, key, body string) string {
	mac := hmac.New(h, []byte(key))
	mac.Write([]byte(body))
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

func hexHMAC(h func() hash.Hash, key, body string) string {
	mac := hmac.New(h, []byte(key))
	mac.Write([]byte(body))
	return hex.EncodeToString(mac.Sum(nil))
}

func TestVerifySignatureHexPrefixAndEquals(t *testing.T) {
	body := `{"action":"opened","number":7}`
	set := loadPolicyFlow(t, `
  - verify_signature:
      header: X-Hub-Signature-256
      algorithm: hmac-sha256
      encoding: hex
      prefix: sha256=
      key: '${secret.GH_SECRET}'`)
	good := hexHMAC(sha256.New, policyVars["GH_SECRET"], body)
	for _, h := range []string{"sha256=" + good, "sha256=" + strings.ToUpper(good), "SHA256=" + good} {
		x, err := runPolicy(t, set, policyInbound{body: body, header: map[string]string{"X-Hub-Signature-256": h}})
		wantPassed(t, x, err)
	}
	for _, h := range []string{good, "sha1=" + good, "sha256=" + good[:len(good)-2], "sha256=" + hexHMAC(sha256.New, "other", body), "sha256=",
		"sha256=" + b64HMAC(sha256.New, policyVars["GH_SECRET"], body)} {
		x, err := runPolicy(t, set, policyInbound{body: body, header: map[string]string{"X-Hub-Signature-256": h}})
		wantRejected(t, x, err, 401)
	}

	set = loadPolicyFlow(t, `
  - verify_signature: {header: Authorization, algorithm: equals, prefix: 'Bearer ', key: '${secret.GOOGLE_TOKEN}', status: 403}`)
	x, err := runPolicy(t, set, policyInbound{header: map[string]string{"Authorization": "Bearer " + policyVars["GOOGLE_TOKEN"]}})
	wantPassed(t, x, err)
	for _, h := range []string{policyVars["GOOGLE_TOKEN"], "Bearer " + policyVars["GOOGLE_TOKEN"] + "x", "Bearer ", "Bearer google"} {
		x, err := runPolicy(t, set, policyInbound{header: map[string]string{"Authorization": h}})
		wantRejected(t, x, err, 403)
	}
	x, err = runPolicy(t, set, policyInbound{})
	wantRejected(t, x, err, 403)

	// A key that evaluates to empty text is a configuration error, not
	// a signature anyone could match.
	set = loadPolicyFlow(t, `
  - verify_signature: {header: X-Sig, algorithm: equals, key: '${secret.EMPTY_PASSWORD}'}`)
	x, err = runPolicy(t, set, policyInbound{header: map[string]string{"X-Sig": ""}})
	if err == nil || !strings.Contains(err.Error(), "key evaluated to empty text") || x.Response != nil {
		t.Errorf("empty key: %v", err)
	}
}

func TestAllowIPs(t *testing.T) {
	set := loadPolicyFlow(t, `
  - allow_ips: {cidrs: [203.0.113.0/24, 198.51.100.7, '2001:db8::/32']}`)
	from := func(remote string, hdr ...string) policyInbound {
		in := policyInbound{remote: remote, header: map[string]string{}}
		for i := 0; i+1 < len(hdr); i += 2 {
			in.header[hdr[i]] = hdr[i+1]
		}
		return in
	}
	for remote, want := range map[string]string{
		"203.0.113.9:4711":          "203.0.113.9",
		"198.51.100.7:1":            "198.51.100.7",
		"[2001:db8::1]:443":         "2001:db8::1",
		"[::ffff:203.0.113.20]:80":  "203.0.113.20", // IPv4-mapped
		"203.0.113.10":              "203.0.113.10", // no port
		"[fe80::1%eth0]:80":         "",
		"[2001:db8::5%eth0]:80":     "2001:db8::5",
		"198.51.100.8:1":            "",
		"10.0.0.1:1":                "",
		"[2001:db9::1]:1":           "",
		"[::ffff:198.51.100.8]:1":   "",
		"not-an-address":            "error",
		"[::ffff:203.0.113.20]:bad": "error",
	} {
		t.Run(remote, func(t *testing.T) {
			x, err := runPolicy(t, set, from(remote, "X-Forwarded-For", "203.0.113.1"))
			switch want {
			case "":
				wantRejected(t, x, err, 403) // a spoofed header from an untrusted peer is ignored
			case "error":
				if err == nil {
					t.Errorf("want an error for remote %q", remote)
				}
			default:
				wantPassed(t, x, err)
				wantProp(t, x, "client_ip", want)
			}
		})
	}
	_, err := runPolicy(t, set, policyInbound{})
	if err == nil || !strings.Contains(err.Error(), "no HTTP request") {
		t.Errorf("outside http: %v", err)
	}

	set = loadPolicyFlow(t, `
  - allow_ips:
      cidrs: [203.0.113.0/24]
      trusted_proxies: [10.0.0.0/8, '::ffff:192.168.0.0/112']
      client_ip_header: x-forwarded-for
      status: 404`)
	for _, tc := range []struct {
		name, remote, xff, want string
	}{
		{"proxy names an allowed client", "10.1.2.3:5000", "203.0.113.5", "203.0.113.5"},
		{"proxy chain", "10.1.2.3:5000", "203.0.113.5, 10.9.9.9, 192.168.7.7", "203.0.113.5"},
		{"spoofed left part is skipped", "10.1.2.3:5000", "203.0.113.99, 198.51.100.1", ""},
		{"client spoofs an allowed address", "10.1.2.3:5000", "203.0.113.99,198.51.100.1, 10.0.0.1", ""},
		{"client with a port", "10.1.2.3:5000", "[2001:db8::1]:80, 203.0.113.6:1234", "203.0.113.6"},
		{"garbage in the header", "10.1.2.3:5000", "203.0.113.5, bogus", ""},
		{"only proxies: the left-most", "10.1.2.3:5000", "10.0.0.1, 10.0.0.2", ""},
		{"proxy without header is the client", "10.1.2.3:5000", "", ""},
		{"untrusted peer's header ignored", "198.51.100.1:5000", "203.0.113.5", ""},
		{"allowed peer, header ignored", "203.0.113.7:5000", "198.51.100.1", "203.0.113.7"},
		{"IPv4-mapped proxy", "[::ffff:192.168.1.1]:5000", "203.0.113.8", "203.0.113.8"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			in := from(tc.remote)
			if tc.xff != "" {
				in.header["X-Forwarded-For"] = tc.xff
			}
			x, err := runPolicy(t, set, in)
			if tc.want == "" {
				wantRejected(t, x, err, 404)
				return
			}
			wantPassed(t, x, err)
			wantProp(t, x, "client_ip", tc.want)
		})
	}
}

func TestQuota(t *testing.T) {
	set := loadPolicyFlow(t, `
  - quota: {rate: 1/m, burst: 2, key: '${header["X-Client"]}'}`)
	client := func(c string) policyInbound { return policyInbound{header: map[string]string{"X-Client": c}} }
	for range 2 {
		x, err := runPolicy(t, set, client("a"))
		wantPassed(t, x, err)
	}
	for range 3 { // refused requests do not push the wait further out
		x, err := runPolicy(t, set, client("a"))
		if wantRejected(t, x, err, 429) == "" {
			continue
		}
		if ra := x.Response.Header["Retry-After"]; ra != "60" {
			t.Errorf("Retry-After %q, want 60", ra)
		}
	}
	x, err := runPolicy(t, set, client("b")) // another key has its own allowance
	wantPassed(t, x, err)
	// A minute later, one more request of a.
	later := client("a")
	later.now = time.Date(2026, 11, 23, 10, 1, 0, 0, time.UTC)
	x, err = runPolicy(t, set, later)
	wantPassed(t, x, err)
	x, err = runPolicy(t, set, later)
	wantRejected(t, x, err, 429)

	// Default: by client IP; burst defaults to the count; Retry-After is
	// whole seconds and at least 1.
	set = loadPolicyFlow(t, `
  - quota: {rate: 10/s}`)
	for i := range 11 {
		x, err := runPolicy(t, set, policyInbound{remote: "[::ffff:192.0.2.1]:1234"})
		if i < 10 {
			wantPassed(t, x, err)
			continue
		}
		wantRejected(t, x, err, 429)
		if ra, _ := strconv.Atoi(x.Response.Header["Retry-After"]); ra != 1 {
			t.Errorf("Retry-After %q, want 1 (0.1s rounded up)", x.Response.Header["Retry-After"])
		}
	}
	x, err = runPolicy(t, set, policyInbound{remote: "192.0.2.2:1234"})
	wantPassed(t, x, err)
	x, err = runPolicy(t, set, policyInbound{remote: "192.0.2.1:9999"}) // same client, another port
	wantRejected(t, x, err, 429)
	if _, err := runPolicy(t, set, policyInbound{}); err == nil || !strings.Contains(err.Error(), "give key") {
		t.Errorf("no client and no key: %v", err)
	}
}

func TestQuotaParallel(t *testing.T) {
	set := loadPolicyFlow(t, `
  - quota: {rate: 100/h, burst: 25, key: '${header["X-Client"]}'}`)
	var mu sync.Mutex
	passed := map[string]int{}
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Go(func() {
			c := fmt.Sprintf("c%d", i%4)
			x := policyInbound{header: map[string]string{"X-Client": c}}.exchange(set)
			if err := set.Run(context.Background(), "f", x); err != nil {
				t.Error(err)
				return
			}
			if x.Response == nil {
				mu.Lock()
				passed[c]++
				mu.Unlock()
			} else if x.Response.Status != 429 || x.Response.Header["Retry-After"] != "36" {
				t.Errorf("answer %d Retry-After %q", x.Response.Status, x.Response.Header["Retry-After"])
			}
		})
	}
	wg.Wait()
	for c, n := range passed {
		if n != 25 {
			t.Errorf("%s passed %d times, want the burst, 25", c, n)
		}
	}
	if len(passed) != 4 {
		t.Errorf("passed %v", passed)
	}
}

func TestPolicyLoadErrors(t *testing.T) {
	for _, tc := range []struct{ steps, want string }{
		{"  - allow_ips: {cidrs: [10.0.0.0/8, 10.0.0.300/8]}", `cidrs[1]: "10.0.0.300/8" is not an IP network`},
		{"  - allow_ips: {cidrs: [10.0.0.0/8], trusted_proxies: [nope]}", `trusted_proxies[0]: "nope" is not an IP network`},
		{"  - allow_ips: {cidrs: [10.0.0.0/8], trusted_proxies: [10.1.0.0/16]}", "give trusted_proxies and client_ip_header together"},
		{"  - allow_ips: {cidrs: [10.0.0.0/8], client_ip_header: X-Forwarded-For}", "give trusted_proxies and client_ip_header together"},
		{"  - allow_ips: {cidrs: []}", "cidrs: give at least one network"},
		{"  - quota: {rate: 10/fortnight}", `rate "10/fortnight": the period "fortnight" is not s, m, h, d or a duration`},
		{"  - quota: {rate: ten/s}", `rate "ten/s": the count "ten" is not a positive whole number`},
		{"  - quota: {rate: '100'}", `rate "100": write a count per period`},
		{"  - quota: {rate: 0/s}", `the count "0" is not a positive whole number`},
		{"  - quota: {rate: 1/s, burst: -1}", "burst -1"},
		{"  - quota: {rate: 1/s, max_keys: 0}", "max_keys 0"},
		{"  - quota: {}", `missing required key "rate"`},
		{"  - api_key: {header: X-API-Key, query: api_key, keys: [k]}", "give exactly one of header (e.g. X-API-Key) and query (e.g. api_key)"},
		{"  - api_key: {keys: [k]}", "give exactly one of header"},
		{"  - api_key: {header: X-API-Key, keys: []}", "keys: give at least one key"},
		{"  - api_key: {header: X-API-Key, keys: ['${secret.NOPE}']}", "NOPE"},
		{"  - basic_auth: {users: {'a:b': x}}", `user name "a:b"`},
		{"  - basic_auth: {users: {}}", "users: give at least one user"},
		{"  - basic_auth: {users: {a: x}, realm: 'say \"hi\"'}", "realm"},
		{"  - basic_auth: {users: {a: x}, status: 200}", "status 200: a rejection answers with a 4xx or 5xx status"},
		{"  - verify_signature: {header: X-Sig, key: k, algorithm: md5}", `"md5" is not one of hmac-sha1, hmac-sha256, equals`},
		{"  - verify_signature: {header: X-Sig, key: k, encoding: base32}", `"base32" is not one of base64, hex`},
		{"  - verify_signature: {header: X-Sig, key: ''}", "key is empty"},
		{"  - verify_signature: {key: k}", `missing required key "header"`},
		{"  - verify_signature: {header: X-Sig}", `missing required key "key"`},
	} {
		if got := loadError(tc.steps); !strings.Contains(got, tc.want) {
			t.Errorf("%s\n  got  %q\n  want %q", tc.steps, got, tc.want)
		}
	}
	if e := loadError("  - quota: {rate: 5/30s}\n  - quota: {rate: 1/day}\n  - allow_ips: {cidrs: ['::ffff:10.0.0.0/104', 0.0.0.0/0, '::/0']}"); e != "" {
		t.Errorf("valid policies: %s", e)
	}

	// Only policies may be listed under policies (the engine checks it).
	_, err := flow.Load([]flow.Source{{Name: "h.yaml", Data: []byte(`
flow: h
trigger:
  http:
    path: /h
    policies:
      - api_key: {header: X-API-Key, keys: [k]}
      - set: {properties: {a: 1}}
steps:
  - respond: {status: 204}
`)}})
	if err == nil || !strings.Contains(err.Error(), "policies: set is not a policy (policies are ") {
		t.Fatalf("got %v", err)
	}
	for _, k := range []string{"allow_ips", "api_key", "basic_auth", "quota", "verify_signature"} {
		if !strings.Contains(err.Error(), k) {
			t.Errorf("the error does not list %s: %v", k, err)
		}
	}
}

// TestPolicyKinds checks the registration and that every policy's
// example loads both as steps and under an http trigger's policies.
func TestPolicyKinds(t *testing.T) {
	want := map[string]bool{"allow_ips": true, "api_key": true, "basic_auth": true, "quota": true, "verify_signature": true}
	for _, k := range flow.StepKinds() {
		if !want[k.Name] {
			continue
		}
		delete(want, k.Name)
		if !k.Policy || k.Summary == "" || k.Doc == "" || k.Example == "" {
			t.Errorf("%s: Policy %v, summary/doc/example must be written", k.Name, k.Policy)
		}
		for _, f := range k.Fields {
			if f.Doc == "" {
				t.Errorf("%s.%s has no doc", k.Name, f.Name)
			}
		}
		secrets := "secrets: [PARTNER_A_PASSWORD, PARTNER_B_PASSWORD, PARTNER_API_KEY, PARTNER_API_KEY_NEXT, FITBIT_CLIENT_SECRET]\n"
		indent := func(s, pad string) string { return pad + strings.ReplaceAll(s, "\n", "\n"+pad) }
		for form, src := range map[string]string{
			"step":   "flow: f\ntrigger: {call: {}}\n" + secrets + "steps:\n" + indent(k.Example, "  "),
			"policy": "flow: f\n" + secrets + "trigger:\n  http:\n    path: /p\n    policies:\n" + indent(k.Example, "      ") + "\nsteps:\n  - respond: {status: 204}\n",
		} {
			if _, err := flow.Load([]flow.Source{{Name: "f.yaml", Data: []byte(src)}}); err != nil {
				t.Errorf("%s example as a %s: %v\n%s", k.Name, form, err, src)
			}
		}
	}
	if len(want) > 0 {
		t.Errorf("not registered: %v", want)
	}
}

// The trigger form: policies run before the flow, answer for it when
// they fail, and the flow's steps do not run.

func servePolicyFlows(t *testing.T, files ...string) *httptest.Server {
	t.Helper()
	var srcs []flow.Source
	for i := 0; i+1 < len(files); i += 2 {
		srcs = append(srcs, flow.Source{Name: files[i], Data: []byte(strings.TrimLeft(files[i+1], "\n"))})
	}
	set, err := flow.Load(srcs)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	bindPolicyVars(set)
	rt := runtime.New(runtime.Options{})
	rt.Swap(set)
	if err := rt.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(rt)
	t.Cleanup(func() { srv.Close(); _ = rt.Stop(context.Background()) })
	return srv
}

func policySend(t *testing.T, method, url, body string, hdr ...string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp, string(data)
}

// policyFlow is an http flow whose steps mark the reply, so that a test
// sees whether they ran.
func policyFlow(id, path, policies string) string {
	return "flow: " + id + "\n" + policySecrets + "trigger:\n  http:\n    path: " + path + "\n    methods: [GET, POST]\n    policies:\n" + policies + `
steps:
  - respond: {status: 204, headers: {X-Flow-Ran: 'yes'}}
on_error:
  - respond: {status: 500, headers: {X-On-Error: 'yes'}}
`
}

func wantPolicyAnswer(t *testing.T, resp *http.Response, body string, status int) {
	t.Helper()
	if resp.StatusCode != status {
		t.Errorf("status %d, want %d (%s)", resp.StatusCode, status, body)
	}
	ran := resp.Header.Get("X-Flow-Ran") == "yes"
	if status == 204 && !ran {
		t.Error("the flow did not run")
	}
	if status != 204 {
		if ran || resp.Header.Get("X-On-Error") != "" {
			t.Error("the flow (or on_error) ran after a failing policy")
		}
		var e map[string]string
		if err := json.Unmarshal([]byte(body), &e); err != nil || e["error"] == "" || resp.Header.Get("Content-Type") != "application/json" {
			t.Errorf("answer %q (%s)", body, resp.Header.Get("Content-Type"))
		}
	}
}

func TestPoliciesUnderHTTPTrigger(t *testing.T) {
	srv := servePolicyFlows(t,
		"fitbit.yaml", policyFlow("fitbit", "/fitbit/webhook", `
      - verify_signature:
          header: X-Fitbit-Signature
          algorithm: hmac-sha1
          key: '${secret.FITBIT_CLIENT_SECRET + "&"}'
          status: 404`),
		"partner.yaml", policyFlow("partner", "/partner", `
      - allow_ips: {cidrs: [127.0.0.0/8, '::1']}
      - basic_auth: {users: {partner: '${secret.PARTNER_PASSWORD}'}}
      - api_key: {query: api_key, keys: ['${secret.API_KEY}']}`),
		"closed.yaml", policyFlow("closed", "/closed", `
      - allow_ips: {cidrs: [203.0.113.0/24]}`),
		"proxied.yaml", policyFlow("proxied", "/proxied", `
      - allow_ips: {cidrs: [203.0.113.0/24], trusted_proxies: [127.0.0.0/8, '::1'], client_ip_header: X-Forwarded-For}`),
	)

	t.Run("verify_signature", func(t *testing.T) {
		resp, body := policySend(t, "POST", srv.URL+"/fitbit/webhook", fitbitBody, "X-Fitbit-Signature", fitbitSignature(fitbitBody))
		wantPolicyAnswer(t, resp, body, 204)
		resp, body = policySend(t, "POST", srv.URL+"/fitbit/webhook", fitbitBody+" ", "X-Fitbit-Signature", fitbitSignature(fitbitBody))
		wantPolicyAnswer(t, resp, body, 404)
		resp, body = policySend(t, "POST", srv.URL+"/fitbit/webhook", fitbitBody)
		wantPolicyAnswer(t, resp, body, 404)
		if resp.Header.Get("X-Stride-Message-Id") == "" {
			t.Error("a rejection carries its message id")
		}
	})
	t.Run("policies in order", func(t *testing.T) {
		auth := basicAuthHeader("partner", policyVars["PARTNER_PASSWORD"])
		resp, body := policySend(t, "POST", srv.URL+"/partner?api_key="+policyVars["API_KEY"], "", "Authorization", auth)
		wantPolicyAnswer(t, resp, body, 204)
		resp, body = policySend(t, "POST", srv.URL+"/partner?api_key="+policyVars["API_KEY"], "", "Authorization", basicAuthHeader("partner", "guess"))
		wantPolicyAnswer(t, resp, body, 401)
		if resp.Header.Get("WWW-Authenticate") != `Basic realm="stride"` {
			t.Errorf("WWW-Authenticate %q", resp.Header.Get("WWW-Authenticate"))
		}
		resp, body = policySend(t, "POST", srv.URL+"/partner?api_key=nope", "", "Authorization", auth)
		wantPolicyAnswer(t, resp, body, 401)
		if resp.Header.Get("WWW-Authenticate") != "" {
			t.Error("api_key sends no Basic challenge")
		}
		resp, body = policySend(t, "GET", srv.URL+"/partner", "")
		wantPolicyAnswer(t, resp, body, 401)
	})
	t.Run("allow_ips", func(t *testing.T) {
		resp, body := policySend(t, "GET", srv.URL+"/closed", "", "X-Forwarded-For", "203.0.113.5")
		wantPolicyAnswer(t, resp, body, 403) // the test client is not a trusted proxy of /closed
		resp, body = policySend(t, "GET", srv.URL+"/proxied", "", "X-Forwarded-For", "203.0.113.5")
		wantPolicyAnswer(t, resp, body, 204)
		resp, body = policySend(t, "GET", srv.URL+"/proxied", "", "X-Forwarded-For", "203.0.113.5, 198.51.100.1")
		wantPolicyAnswer(t, resp, body, 403)
		resp, body = policySend(t, "GET", srv.URL+"/proxied", "")
		wantPolicyAnswer(t, resp, body, 403)
	})
}

func TestQuotaUnderHTTPTrigger(t *testing.T) {
	srv := servePolicyFlows(t, "q.yaml", policyFlow("q", "/q", `
      - quota: {rate: 10/h}`))
	var mu sync.Mutex
	statuses := map[int]int{}
	var wg sync.WaitGroup
	for range 40 {
		wg.Go(func() {
			resp, body := policySend(t, "POST", srv.URL+"/q", "")
			wantPolicyAnswer(t, resp, body, resp.StatusCode)
			if resp.StatusCode == 429 {
				if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 1 {
					t.Errorf("Retry-After %q", resp.Header.Get("Retry-After"))
				}
			}
			mu.Lock()
			statuses[resp.StatusCode]++
			mu.Unlock()
		})
	}
	wg.Wait()
	if statuses[204] != 10 || statuses[429] != 30 {
		t.Errorf("statuses %v, want 10 × 204 (the burst) and 30 × 429", statuses)
	}
}

func BenchmarkVerifySignature(b *testing.B) {
	body := strings.Repeat(`{"collectionType":"activities","date":"2026-11-22","ownerId":"224F7B"},`, 15)
	body = "[" + body[:1024-2] + "]"
	if len(body) != 1024 {
		b.Fatalf("body %d bytes", len(body))
	}
	for _, bc := range []struct{ name, policy, header, sig string }{
		// baseline: the same flow without the policy, to read its cost.
		{"baseline-no-policy", "  - log: {level: debug, message: x}", "X-Fitbit-Signature", ""},
		{"fitbit-hmac-sha1-base64", fitbitPolicy, "X-Fitbit-Signature", fitbitSignature(body)},
		{"github-hmac-sha256-hex", `
  - verify_signature: {header: X-Hub-Signature-256, algorithm: hmac-sha256, encoding: hex, prefix: sha256=, key: '${secret.GH_SECRET}'}`,
			"X-Hub-Signature-256", "sha256=" + hexHMAC(sha256.New, policyVars["GH_SECRET"], body)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			set := loadPolicyFlow(b, bc.policy)
			in := policyInbound{body: body, header: map[string]string{bc.header: bc.sig}}
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			for b.Loop() {
				x := in.exchange(set)
				if err := set.Run(context.Background(), "f", x); err != nil || x.Response != nil {
					b.Fatalf("%v %v", err, x.Response)
				}
			}
		})
	}
}

// Providers that sign a timestamp with the body (Slack-style) or the URL
// with the body: data says what is signed, timestamp and tolerance reject
// replays.
func TestVerifySignatureOfTimestampOrURLWithBody(t *testing.T) {
	srv := servePolicyFlows(t, "ts.yaml", `
flow: ts
`+policySecrets+`trigger:
  http:
    path: /ts
    policies:
      - verify_signature:
          header: X-Signature
          prefix: 'v0='
          encoding: hex
          key: '${secret.GH_SECRET}'
          data: 'v0:${header["X-Request-Timestamp"]}:${body}'
          timestamp: '${header["X-Request-Timestamp"]}'
          tolerance: 5m
steps:
  - respond: {status: 204}
`, "url.yaml", `
flow: url
`+policySecrets+`trigger:
  http:
    path: /url
    policies:
      - verify_signature:
          header: X-Signature
          algorithm: hmac-sha1
          key: '${secret.GH_SECRET}'
          data: 'https://hooks.example.com${request.uri}${body}'
steps:
  - respond: {status: 204}
`)
	sign := func(text string, h func() hash.Hash, enc func([]byte) string) string {
		mac := hmac.New(h, []byte(policyVars["GH_SECRET"]))
		mac.Write([]byte(text))
		return enc(mac.Sum(nil))
	}
	body := `{"event":"sleep"}`
	now := time.Now().Unix()
	for _, tc := range []struct {
		name string
		at   int64
		sig  func(ts string) string
		want int
	}{
		{"fresh and signed", now, func(ts string) string { return "v0=" + sign("v0:"+ts+":"+body, sha256.New, hex.EncodeToString) }, 204},
		{"body alone signed", now, func(string) string { return "v0=" + sign(body, sha256.New, hex.EncodeToString) }, 401},
		{"a replay, 10 minutes old", now - 600, func(ts string) string { return "v0=" + sign("v0:"+ts+":"+body, sha256.New, hex.EncodeToString) }, 401},
		{"from the future", now + 600, func(ts string) string { return "v0=" + sign("v0:"+ts+":"+body, sha256.New, hex.EncodeToString) }, 401},
		{"milliseconds are read as such", now * 1000, func(ts string) string { return "v0=" + sign("v0:"+ts+":"+body, sha256.New, hex.EncodeToString) }, 204},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := strconv.FormatInt(tc.at, 10)
			resp, got := policySend(t, "POST", srv.URL+"/ts", body, "X-Request-Timestamp", ts, "X-Signature", tc.sig(ts))
			if resp.StatusCode != tc.want {
				t.Errorf("%d %s, want %d", resp.StatusCode, got, tc.want)
			}
		})
	}
	t.Run("no timestamp", func(t *testing.T) {
		resp, _ := policySend(t, "POST", srv.URL+"/ts", body, "X-Signature", "v0="+sign("v0::"+body, sha256.New, hex.EncodeToString))
		if resp.StatusCode != 401 {
			t.Errorf("%d, want 401", resp.StatusCode)
		}
	})
	t.Run("URL with body", func(t *testing.T) {
		good := sign("https://hooks.example.com/url?user=ada"+body, sha1.New, base64.StdEncoding.EncodeToString)
		if resp, got := policySend(t, "POST", srv.URL+"/url?user=ada", body, "X-Signature", good); resp.StatusCode != 204 {
			t.Errorf("signed URL and body: %d %s", resp.StatusCode, got)
		}
		if resp, _ := policySend(t, "POST", srv.URL+"/url?user=eve", body, "X-Signature", good); resp.StatusCode != 401 {
			t.Errorf("another query with the same signature: %d, want 401", resp.StatusCode)
		}
	})
}
