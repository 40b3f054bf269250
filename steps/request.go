package steps

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"gopkg.in/yaml.v3"

	"github.com/stride-engine/stride/engine/flow"
)

// requestConfig calls an HTTP endpoint and takes its answer (CPI's HTTP
// receiver adapter, request-reply).
type requestConfig struct {
	Method       string           `yaml:"method" default:"GET" enum:"GET,POST,PUT,PATCH,DELETE,HEAD" doc:"The HTTP method."`
	URL          *flow.Template   `yaml:"url" required:"true" doc:"The http:// or https:// URL to call, e.g. '${env.FITBIT_API_URL}/1/user/-/profile.json'."`
	Query        flow.TemplateMap `yaml:"query" doc:"Query parameters added to the URL, name: template; values are URL-encoded for you, and a list value repeats the parameter."`
	Headers      flow.TemplateMap `yaml:"headers" doc:"Headers to send, name: template. The message's own headers are not forwarded."`
	Body         *flow.Template   `yaml:"body" doc:"The body to send instead of the message body. A list or mapping is sent as JSON; text that is a JSON object or array as application/json, other text as text/plain."`
	Form         flow.TemplateMap `yaml:"form" doc:"Send these fields as an HTML form (application/x-www-form-urlencoded), name: template; not together with body."`
	ContentType  string           `yaml:"content_type" doc:"The Content-Type of what is sent, overriding the one Stride works out."`
	Auth         *requestAuth     `yaml:"auth" doc:"Credentials: {basic: {user, password}} or {bearer: token}, usually from secret.*."`
	Timeout      time.Duration    `yaml:"timeout" default:"30s" doc:"How long one attempt may take, answer included; the message's own deadline also applies."`
	Into         string           `yaml:"into" default:"body" doc:"Where the answer goes: body (it becomes the message body, with its content type) or property.NAME (decoded JSON when the answer is JSON, else text; the body stays)."`
	AcceptStatus []int            `yaml:"accept_status" doc:"Statuses besides 2xx that are an answer, not an error, e.g. [404] for 'no data'."`
	MaxResponse  flow.ByteSize    `yaml:"max_response" default:"10MiB" doc:"The largest answer accepted; a larger one fails the step."`
	Retry        *requestRetry    `yaml:"retry" doc:"Retries on connection errors, 5xx and 429: {max_attempts (default 1: none), backoff (500ms, doubling, jittered), max_backoff (30s), non_idempotent (false: POST and PATCH are not repeated), reset_headers}. Retry-After and rate-limit reset headers are honoured; a wait that would pass the message's deadline is not started."`
	CSRF         yaml.Node        `yaml:"csrf" doc:"SAP OData CSRF handshake: true, or {url: ...} to fetch the token from another URL (default: the request URL). The token and session cookies are fetched once and reused; a 403 'X-CSRF-Token: Required' fetches a new one and sends again."`
}

type requestAuth struct {
	Basic  *basicCredentials `yaml:"basic" doc:"HTTP Basic authentication: {user, password}."`
	Bearer *flow.Template    `yaml:"bearer" doc:"An OAuth access token, sent as Authorization: Bearer <token>."`
}

type basicCredentials struct {
	User     *flow.Template `yaml:"user" required:"true" doc:"The user name."`
	Password *flow.Template `yaml:"password" required:"true" doc:"The password, normally ${secret.NAME}."`
}

type requestRetry struct {
	MaxAttempts   int           `yaml:"max_attempts" default:"1" doc:"Attempts in all, the first included; 1 means no retry."`
	Backoff       time.Duration `yaml:"backoff" default:"500ms" doc:"The wait before the first retry; it doubles each attempt, with random jitter."`
	MaxBackoff    time.Duration `yaml:"max_backoff" default:"30s" doc:"The longest wait between attempts, also the cap of a server's Retry-After or rate-limit reset."`
	NonIdempotent bool          `yaml:"non_idempotent" default:"false" doc:"Also retry POST and PATCH, which may then run twice on the server; only when the target is safe to repeat (an upsert)."`
	ResetHeaders  []string      `yaml:"reset_headers" doc:"Headers of a 429 answer that give the seconds until the rate limit resets (a value over 1e9 is a Unix time); default [fitbit-rate-limit-reset, x-ratelimit-reset]."`
}

var defaultResetHeaders = []string{"Fitbit-Rate-Limit-Reset", "X-Ratelimit-Reset"}

type requestStep struct {
	name         string
	c            *requestConfig
	headerNames  []string // canonical, computed once
	idempotent   bool     // the method may be repeated safely
	mayRepeat    bool     // idempotent, or retry.non_idempotent
	sendsMessage bool     // without body/form, the message body is sent
	intoProp     string   // the property the answer goes to; "" for the body
	retry        requestRetry
	resetHeaders []string
	csrf         bool
	csrfURL      *flow.Template // nil: the request URL

	// When url is a literal, its parsed form, its display and its client.
	static      *reqTarget
	staticShown string // METHOD scheme://host/path
}

// reqTarget is a URL to send to, with what errors may show of it.
type reqTarget struct {
	u     *url.URL
	raw   string
	shown string // scheme://host/path: no user info, no query
}

func init() {
	flow.RegisterStep(flow.StepKind[requestConfig]{
		Name:    "request",
		Summary: "Calls an HTTP(S) endpoint and takes its answer (CPI's HTTP receiver adapter, request-reply).",
		Doc: "Sends a request built from templates and, by default, makes the answer the message body; with into: property.NAME the answer lands in a property and the body stays. " +
			"After every answer the header CamelHttpResponseCode and the properties http_status and http_headers are set. " +
			"A status other than 2xx (and accept_status) fails the step with error.status and error.body, so on_error can branch on 401 or 404. " +
			"POST, PUT and PATCH send the message body unless body or form is given. " +
			"retry repeats on connection errors, 5xx and 429, honouring Retry-After and rate-limit reset headers (Fitbit's among them); POST and PATCH only with non_idempotent. " +
			"csrf does SAP's X-CSRF-Token handshake once per system and user, not once per message. " +
			"Error messages never show the query string or headers, and secrets are masked.",
		Example: "- request:\n" +
			"    url: '${env.FITBIT_API_URL}/1/user/${property.user_id}/activities/date/${property.day}.json'\n" +
			"    auth: {bearer: '${property.access_token}'}\n" +
			"    into: property.activities\n" +
			"    retry: {max_attempts: 4, backoff: 1s}\n" +
			"- request:\n" +
			"    method: POST\n" +
			"    url: '${env.MKC_URL}/sap/opu/odata/sap/CUAN_IMPORT_SRV/ImportHeaders'\n" +
			"    auth: {basic: {user: '${env.MKC_USER}', password: '${secret.MKC_PASSWORD}'}}\n" +
			"    csrf: {url: '${env.MKC_URL}/sap/opu/odata/sap/CUAN_IMPORT_SRV/'}\n" +
			"    retry: {max_attempts: 3, non_idempotent: true}  # the import is an upsert: safe to repeat",
		Shorthand: "url",
		Build:     buildRequest,
	})
}

func buildRequest(b *flow.Builder, c *requestConfig) (flow.Step, error) {
	s := &requestStep{name: b.StepName(), c: c}
	bad := false
	fail := func(key, format string, args ...any) {
		b.Errorf(b.FieldPos(key), "%s: "+format, append([]any{b.StepName()}, args...)...)
		bad = true
	}
	if lit, ok := c.URL.Literal(); ok {
		raw, isText := lit.(string)
		if !isText {
			fail("url", "url %v is not an http:// or https:// URL", lit)
		} else if t, err := parseTarget(raw); err != nil {
			fail("url", "url: %v", err)
		} else {
			s.static, s.staticShown = t, c.Method+" "+t.shown
		}
	}
	switch c.Method {
	case http.MethodGet, http.MethodHead, http.MethodDelete, http.MethodPut:
		s.idempotent = true
	}
	switch c.Method {
	case http.MethodPost, http.MethodPut, http.MethodPatch:
		s.sendsMessage = true
	}
	if c.Body != nil && len(c.Form) > 0 {
		fail("form", "give body or form, not both")
	}
	if (c.Body != nil || len(c.Form) > 0) && (c.Method == http.MethodGet || c.Method == http.MethodHead) {
		key := "body"
		if c.Body == nil {
			key = "form"
		}
		fail(key, "a %s request sends no body; use method: POST (or query: for parameters)", c.Method)
	}
	for _, h := range c.Headers {
		name := textproto.CanonicalMIMEHeaderKey(h.Key)
		s.headerNames = append(s.headerNames, name)
		if name == "Authorization" && c.Auth != nil {
			fail("headers", "give auth or an Authorization header, not both")
		}
	}
	if a := c.Auth; a != nil && (a.Basic == nil) == (a.Bearer == nil) {
		fail("auth", "auth takes exactly one of basic: {user, password} and bearer: TOKEN")
	}
	switch name, isProp := strings.CutPrefix(c.Into, "property."); {
	case c.Into == "body":
	case isProp && name != "":
		s.intoProp = name
	default:
		fail("into", "into: write body or property.NAME, not %q", c.Into)
	}
	for _, st := range c.AcceptStatus {
		if st < 100 || st > 599 {
			fail("accept_status", "accept_status: %d is not an HTTP status (100 to 599)", st)
		}
	}
	if c.Timeout <= 0 {
		fail("timeout", "timeout must be more than 0")
	}
	s.retry = requestRetry{MaxAttempts: 1, Backoff: 500 * time.Millisecond, MaxBackoff: 30 * time.Second}
	if c.Retry != nil {
		s.retry = *c.Retry
	}
	if s.retry.MaxAttempts < 1 {
		fail("retry", "retry: max_attempts must be at least 1 (1 means no retry)")
	}
	if s.retry.MaxBackoff < s.retry.Backoff {
		fail("retry", "retry: max_backoff (%v) is shorter than backoff (%v)", s.retry.MaxBackoff, s.retry.Backoff)
	}
	if s.retry.ResetHeaders == nil {
		s.resetHeaders = defaultResetHeaders
	}
	for _, h := range s.retry.ResetHeaders {
		s.resetHeaders = append(s.resetHeaders, textproto.CanonicalMIMEHeaderKey(h))
	}
	s.mayRepeat = s.idempotent || s.retry.NonIdempotent
	if !s.buildCSRF(b, &c.CSRF) {
		bad = true
	}
	if bad {
		return nil, flow.ErrReported
	}
	return s, nil
}

// buildCSRF reads csrf: true | false | {url: TEMPLATE}.
func (s *requestStep) buildCSRF(b *flow.Builder, n *yaml.Node) bool {
	for n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	at := b.FieldPos("csrf")
	at.Line, at.Col = n.Line, n.Column
	usage := "csrf: write true, or {url: ...} to fetch the token from another URL"
	switch {
	case n.Kind == 0: // not given
		return true
	case n.Kind == yaml.ScalarNode && n.Tag == "!!bool":
		var on bool
		if err := n.Decode(&on); err != nil {
			b.Errorf(at, "%s: %s", s.name, usage)
			return false
		}
		s.csrf = on
	case n.Kind == yaml.MappingNode:
		s.csrf = true
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i], n.Content[i+1]
			if k.Value != "url" {
				b.Errorf(flow.Pos{File: at.File, Line: k.Line, Col: k.Column}, "%s: csrf: unknown key %q (valid keys: url)", s.name, k.Value)
				return false
			}
			t := b.CompileTemplate(v)
			if t.IsZero() {
				return false // its errors are reported
			}
			if lit, ok := t.Literal(); ok {
				raw, isText := lit.(string)
				if _, err := parseTarget(raw); !isText || err != nil {
					b.Errorf(flow.Pos{File: at.File, Line: v.Line, Col: v.Column}, "%s: csrf url: not an http:// or https:// URL", s.name)
					return false
				}
			}
			s.csrfURL = t
		}
	default:
		b.Errorf(at, "%s: %s", s.name, usage)
		return false
	}
	if s.csrf && (s.c.Method == http.MethodGet || s.c.Method == http.MethodHead) {
		b.Errorf(at, "%s: csrf is for modifying requests (POST, PUT, PATCH, DELETE), not %s", s.name, s.c.Method)
		return false
	}
	return true
}

// parseTarget checks that raw is an absolute http(s) URL. Its errors
// never repeat the URL, which may carry a secret.
func parseTarget(raw string) (*reqTarget, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		return nil, errors.New("not a valid URL")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("not an http:// or https:// URL (scheme %q)", u.Scheme)
	}
	if u.Host == "" {
		return nil, errors.New("the URL has no host")
	}
	return &reqTarget{u: u, raw: u.String(), shown: shownURL(u)}, nil
}

// shownURL is what an error or log line may say of a URL: no user info,
// no query, no fragment.
func shownURL(u *url.URL) string {
	return u.Scheme + "://" + u.Host + u.EscapedPath()
}

// outbound is one message's request, evaluated once and sent by every
// attempt alike.
type outbound struct {
	to      *reqTarget
	header  http.Header
	body    []byte
	hasBody bool
	shown   string // METHOD scheme://host/path
	csrf    *csrfEntry
	csrfTo  *reqTarget
	client  *http.Client // the runtime's pooled client, or the test's mocks
}

// reqAnswer is a response, read in full.
type reqAnswer struct {
	status int
	header http.Header
	body   []byte
}

func (s *requestStep) Run(ctx context.Context, x *flow.Exchange) error {
	o, err := s.prepare(x)
	if err != nil {
		return err
	}
	res, note := s.exchange(ctx, x, o)
	if a := res.ans; a != nil {
		recordAnswer(x, a)
	}
	if res.err != nil {
		return redactErr(x, res.err, note)
	}
	a := res.ans
	if !s.accepted(a.status) {
		return statusError(x, o.shown, a, note)
	}
	return s.deliver(x, a)
}

func (s *requestStep) accepted(status int) bool {
	if status >= 200 && status <= 299 {
		return true
	}
	for _, st := range s.c.AcceptStatus {
		if st == status {
			return true
		}
	}
	return false
}

// prepare evaluates the templates: URL, query, headers, auth, body.
func (s *requestStep) prepare(x *flow.Exchange) (*outbound, error) {
	to := s.static
	if to == nil || len(s.c.Query) > 0 {
		raw, err := s.c.URL.String(x)
		if err != nil {
			return nil, errorf("url: %w", err)
		}
		if to, err = parseTarget(raw); err != nil {
			return nil, errorf("url: %w", err)
		}
		if len(s.c.Query) > 0 {
			q := to.u.Query()
			for _, e := range s.c.Query {
				v, err := e.Value.Eval(x)
				if err != nil {
					return nil, errorf("query %s: %w", e.Key, err)
				}
				addValues(q, e.Key, v)
			}
			to.u.RawQuery = q.Encode()
			to.raw = to.u.String()
		}
	}
	o := &outbound{to: to, header: make(http.Header, len(s.c.Headers)+3), shown: s.staticShown}
	if to != s.static {
		o.shown = s.c.Method + " " + to.shown
	}
	for i, h := range s.c.Headers {
		v, err := h.Value.String(x)
		if err != nil {
			return nil, errorf("header %s: %w", h.Key, err)
		}
		o.header[s.headerNames[i]] = []string{v}
	}
	var cred []byte
	if a := s.c.Auth; a != nil {
		if a.Basic != nil {
			user, err := a.Basic.User.String(x)
			if err != nil {
				return nil, errorf("auth user: %w", err)
			}
			pass, err := a.Basic.Password.String(x)
			if err != nil {
				return nil, errorf("auth password: %w", err)
			}
			o.header["Authorization"] = []string{"Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))}
			if s.csrf {
				cred = authMaterial("basic", user, pass)
			}
		} else {
			tok, err := a.Bearer.String(x)
			if err != nil {
				return nil, errorf("auth bearer: %w", err)
			}
			o.header["Authorization"] = []string{"Bearer " + tok}
			if s.csrf {
				cred = authMaterial("bearer", tok)
			}
		}
	}
	if _, ok := o.header["User-Agent"]; !ok {
		o.header["User-Agent"] = []string{"Stride"}
	}
	if err := s.payload(x, o); err != nil {
		return nil, err
	}
	if s.csrf {
		o.csrfTo = to
		if s.csrfURL != nil {
			raw, err := s.csrfURL.String(x)
			if err != nil {
				return nil, errorf("csrf url: %w", err)
			}
			if o.csrfTo, err = parseTarget(raw); err != nil {
				return nil, errorf("csrf url: %w", err)
			}
		}
		o.csrf = csrfCaches.Get(x.Resources()).entry(csrfKey(targetKey(to.u), cred))
	}
	if svc := x.Services(); svc != nil && svc.Transport != nil {
		// stride test: outbound requests go to the test's mocks, never
		// to the network.
		o.client = &http.Client{Transport: svc.Transport}
	} else {
		o.client = httpPools.Get(x.Resources()).client
	}
	return o, nil
}

// payload works out the body and its content type.
func (s *requestStep) payload(x *flow.Exchange, o *outbound) error {
	var ct string
	switch {
	case s.c.Body != nil:
		v, err := s.c.Body.Eval(x)
		if err != nil {
			return errorf("body: %w", err)
		}
		if o.body, ct, err = bodyBytes(v); err != nil {
			return errorf("body: %w", err)
		}
		if ct == "" {
			ct = "text/plain; charset=utf-8"
			if looksLikeJSON(o.body) {
				ct = "application/json"
			}
		}
		o.hasBody = true
	case len(s.c.Form) > 0:
		form := url.Values{}
		for _, e := range s.c.Form {
			v, err := e.Value.Eval(x)
			if err != nil {
				return errorf("form %s: %w", e.Key, err)
			}
			addValues(form, e.Key, v)
		}
		o.body, ct, o.hasBody = []byte(form.Encode()), "application/x-www-form-urlencoded", true
	case s.sendsMessage:
		o.body, ct, o.hasBody = x.Msg.Body(), x.Msg.ContentType(), true
	}
	if s.c.ContentType != "" {
		ct = s.c.ContentType
	}
	if _, given := o.header["Content-Type"]; ct != "" && o.hasBody && !given {
		o.header["Content-Type"] = []string{ct}
	}
	return nil
}

// addValues adds a query or form value; a list repeats the name.
func addValues(vals url.Values, key string, v any) {
	if list, ok := v.([]any); ok {
		for _, item := range list {
			vals.Add(key, flow.Stringify(item))
		}
		return
	}
	vals.Add(key, flow.Stringify(v))
}

func looksLikeJSON(b []byte) bool {
	t := bytes.TrimSpace(b)
	return len(t) > 1 && (t[0] == '{' || t[0] == '[') && json.Valid(t)
}

// attemptResult is the outcome of one attempt.
type attemptResult struct {
	ans    *reqAnswer  // the request's answer, when there is one
	err    error       // a failure: transport, oversized answer, CSRF fetch
	status int         // what to classify: the answer's or the CSRF fetch's status; 0 for none
	header http.Header // its headers, for Retry-After and reset hints
	unsent bool        // the request itself was not sent (the CSRF fetch failed)
	final  bool        // not worth retrying whatever the status
}

// exchange runs attempts until one is final, retries are spent, or the
// next wait would pass the message's deadline. note tells how it ended
// when that matters to the reader of the error.
func (s *requestStep) exchange(ctx context.Context, x *flow.Exchange, o *outbound) (res attemptResult, note string) {
	r := &s.retry
	pool := httpPools.Get(x.Resources())
	for attempt := 1; ; attempt++ {
		began := time.Now()
		res = s.attempt(ctx, o)
		x.ObserveOutbound(o.to.u.Host, res.status, time.Since(began))
		if !s.retryable(ctx, res) {
			if attempt > 1 {
				note = fmt.Sprintf("after %d attempts", attempt)
			}
			return res, note
		}
		if attempt >= r.MaxAttempts {
			if attempt > 1 {
				note = fmt.Sprintf("gave up after %d attempts", attempt)
			}
			return res, note
		}
		wait := s.backoff(pool, attempt, res)
		if dl, ok := ctx.Deadline(); ok && pool.now().Add(wait).After(dl) {
			return res, fmt.Sprintf("not retried after attempt %d: waiting %v would pass the message's deadline", attempt, wait.Round(time.Millisecond))
		}
		x.Log.Info("request: retrying", "step", s.name, "request", x.Redact(o.shown), "attempt", attempt, "status", res.status, "wait", wait)
		if err := pool.sleep(ctx, wait); err != nil {
			return res, fmt.Sprintf("not retried after attempt %d: %v", attempt, err)
		}
	}
}

// retryable says whether a result is worth another attempt: a connection
// error, 5xx or 429, and a request that may be repeated.
func (s *requestStep) retryable(ctx context.Context, res attemptResult) bool {
	if ctx.Err() != nil || res.final {
		return false
	}
	if res.ans != nil && res.err == nil && s.accepted(res.ans.status) {
		return false
	}
	if res.status != 0 && res.status != http.StatusTooManyRequests && res.status < 500 {
		return false
	}
	return res.unsent || s.mayRepeat
}

// backoff is the wait before attempt+1: the server's hint when it gave
// one, else exponential back-off with full jitter; at most max_backoff.
func (s *requestStep) backoff(pool *httpPool, attempt int, res attemptResult) time.Duration {
	r := &s.retry
	if d, ok := retryHint(res.status, res.header, s.resetHeaders, pool.now()); ok {
		return min(d, r.MaxBackoff)
	}
	ceil := r.Backoff
	for i := 1; i < attempt && ceil < r.MaxBackoff; i++ {
		ceil *= 2
	}
	return pool.jitter(min(ceil, r.MaxBackoff))
}

// retryHint reads Retry-After (seconds or an HTTP date) and, on a 429,
// the rate-limit reset headers (seconds, or a Unix time above 1e9).
func retryHint(status int, h http.Header, resetHeaders []string, now time.Time) (time.Duration, bool) {
	if h == nil {
		return 0, false
	}
	if v := strings.TrimSpace(h.Get("Retry-After")); v != "" {
		if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
			return hintSeconds(float64(secs)), true
		}
		if t, err := http.ParseTime(v); err == nil {
			return max(t.Sub(now), 0), true
		}
	}
	if status != http.StatusTooManyRequests {
		return 0, false
	}
	for _, name := range resetHeaders {
		v, err := strconv.ParseFloat(strings.TrimSpace(h.Get(name)), 64)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			continue
		}
		if v > 1e9 {
			return max(time.Unix(int64(v), 0).Sub(now), 0), true
		}
		return hintSeconds(v), true
	}
	return 0, false
}

// hintSeconds converts a hint to a duration without overflow (any hint is
// capped at max_backoff afterwards).
func hintSeconds(v float64) time.Duration {
	return time.Duration(min(max(v, 0), 1e6) * float64(time.Second))
}

// attempt sends the request once, with the CSRF handshake when asked.
func (s *requestStep) attempt(ctx context.Context, o *outbound) attemptResult {
	actx, cancel := context.WithTimeout(ctx, s.c.Timeout)
	defer cancel()
	if o.csrf == nil {
		return s.send(actx, ctx, o, o.header)
	}
	fetch := func(fctx context.Context) (string, string, error) { return s.fetchCSRF(fctx, ctx, o) }
	tok, cookies, err := o.csrf.get(actx, fetch)
	if err != nil {
		return csrfFailure(err)
	}
	res := s.send(actx, ctx, o, withCSRF(o.header, tok, cookies))
	if res.ans != nil && csrfRequired(res.ans.status, res.ans.header) {
		// The token expired (or the session did): fetch again, once.
		o.csrf.drop(tok)
		if tok, cookies, err = o.csrf.get(actx, fetch); err != nil {
			return csrfFailure(err)
		}
		res = s.send(actx, ctx, o, withCSRF(o.header, tok, cookies))
	}
	return res
}

// send sends the request and reads its answer.
func (s *requestStep) send(actx, ctx context.Context, o *outbound, h http.Header) attemptResult {
	a, err := roundTrip(actx, o.client, s.c.Method, o.to.raw, h, o.body, o.hasBody, int64(s.c.MaxResponse))
	if err != nil {
		res := attemptResult{err: transportError(o.shown, err, actx, ctx, s.c.Timeout)}
		if tl := (*errTooLarge)(nil); errors.As(err, &tl) {
			// An answer, only too large: its status is still recorded.
			res.ans, res.status, res.final = a, a.status, true
		}
		return res // a broken connection, before or during the answer
	}
	return attemptResult{ans: a, status: a.status, header: a.header}
}

// csrfFetchError is a failed token fetch, with what classifies it.
type csrfFetchError struct {
	status int
	header http.Header
	final  bool
	err    error
}

func (e *csrfFetchError) Error() string { return e.err.Error() }
func (e *csrfFetchError) Unwrap() error { return e.err }

func csrfFailure(err error) attemptResult {
	var fe *csrfFetchError
	if errors.As(err, &fe) {
		return attemptResult{err: fe.err, status: fe.status, header: fe.header, unsent: true, final: fe.final}
	}
	return attemptResult{err: err, unsent: true} // the wait for another fetch ended
}

// fetchCSRF gets a token and the session cookies it is bound to with
// GET X-CSRF-Token: Fetch, using the request's headers and credentials.
func (s *requestStep) fetchCSRF(actx, ctx context.Context, o *outbound) (string, string, error) {
	to := o.csrfTo
	shown := "CSRF token fetch GET " + to.shown
	h := o.header.Clone()
	h.Del("Content-Type")
	h.Set("X-Csrf-Token", "Fetch")
	var cookies string
	a, err := roundTripWith(actx, o.client, http.MethodGet, to.raw, h, nil, false, int64(s.c.MaxResponse), func(resp *http.Response) {
		cookies = sessionCookies(resp)
	})
	if err != nil {
		var tl *errTooLarge
		return "", "", &csrfFetchError{final: errors.As(err, &tl), err: transportError(shown, err, actx, ctx, s.c.Timeout)}
	}
	if a.status < 200 || a.status > 299 {
		return "", "", &csrfFetchError{status: a.status, header: a.header, err: &flow.StatusError{Status: a.status, Body: truncateUTF8(a.body, 4<<10), Msg: answeredMsg(shown, a)}}
	}
	tok := strings.TrimSpace(a.header.Get("X-Csrf-Token"))
	if tok == "" || strings.EqualFold(tok, "required") {
		return "", "", &csrfFetchError{final: true, err: fmt.Errorf("%s answered %d without an X-CSRF-Token header", shown, a.status)}
	}
	return tok, cookies, nil
}

// roundTrip sends one request and reads its answer, at most limit bytes.
// The body is always drained and closed, so the connection is reused.
func roundTrip(ctx context.Context, c *http.Client, method, raw string, h http.Header, body []byte, hasBody bool, limit int64) (*reqAnswer, error) {
	return roundTripWith(ctx, c, method, raw, h, body, hasBody, limit, nil)
}

func roundTripWith(ctx context.Context, c *http.Client, method, raw string, h http.Header, body []byte, hasBody bool, limit int64, seen func(*http.Response)) (*reqAnswer, error) {
	var rd io.Reader
	if hasBody {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, raw, rd)
	if err != nil {
		return nil, err
	}
	req.Header = h
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	defer closeBody(resp.Body)
	if seen != nil {
		seen(resp)
	}
	a := &reqAnswer{status: resp.StatusCode, header: resp.Header}
	a.body, err = readBody(resp, limit)
	return a, err
}

// transportError describes a failure without an answer. It never shows
// the URL's query (a *url.Error would).
func transportError(shown string, err error, actx, ctx context.Context, timeout time.Duration) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	switch {
	case ctx.Err() != nil:
		return fmt.Errorf("%s: %w", shown, context.Cause(ctx))
	case errors.Is(actx.Err(), context.DeadlineExceeded):
		return fmt.Errorf("%s: no answer within %v (timeout)", shown, timeout)
	}
	return fmt.Errorf("%s: %w", shown, err)
}

// recordAnswer sets what every answer leaves on the message.
func recordAnswer(x *flow.Exchange, a *reqAnswer) {
	x.Msg.SetHeader("CamelHttpResponseCode", strconv.Itoa(a.status))
	x.Msg.Property["http_status"] = a.status
	hm := make(map[string]any, len(a.header))
	for k, v := range a.header {
		if len(v) > 0 {
			hm[k] = v[0]
		}
	}
	x.Msg.Property["http_headers"] = hm
}

// deliver puts an accepted answer where into says.
func (s *requestStep) deliver(x *flow.Exchange, a *reqAnswer) error {
	ct := a.header.Get("Content-Type")
	if s.intoProp == "" {
		x.Msg.SetBody(a.body, ct)
		return nil
	}
	if isJSONType(ct) && len(bytes.TrimSpace(a.body)) > 0 {
		var v any
		if err := json.Unmarshal(a.body, &v); err != nil {
			return errorf("the answer says %s but is not valid JSON: %v", ct, err)
		}
		x.Msg.Property[s.intoProp] = v
		return nil
	}
	x.Msg.Property[s.intoProp] = string(a.body)
	return nil
}

func isJSONType(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/json" || mt == "text/json" || strings.HasSuffix(mt, "+json")
}

// statusError is the failure of a non-accepted answer: it carries the
// status and (truncated) body for on_error, and reads like
// "POST https://host/path answered 401: {...}".
func statusError(x *flow.Exchange, shown string, a *reqAnswer, note string) error {
	msg := answeredMsg(shown, a)
	if note != "" {
		msg += " (" + note + ")"
	}
	return &flow.StatusError{Status: a.status, Body: x.Redact(truncateUTF8(a.body, 4<<10)), Msg: x.Redact(msg)}
}

func answeredMsg(shown string, a *reqAnswer) string {
	msg := shown + " answered " + strconv.Itoa(a.status)
	if snippet := oneLine(truncateUTF8(a.body, 200)); snippet != "" {
		msg += ": " + snippet
	}
	return msg
}

// redactErr masks secrets in a failure, keeping what it wraps (a deadline
// stays a deadline for the executor). A StatusError keeps its type.
func redactErr(x *flow.Exchange, err error, note string) error {
	var se *flow.StatusError
	if errors.As(err, &se) {
		msg := se.Msg
		if note != "" {
			msg += " (" + note + ")"
		}
		return &flow.StatusError{Status: se.Status, Body: x.Redact(se.Body), Msg: x.Redact(msg)}
	}
	msg := err.Error()
	if note != "" {
		msg += " (" + note + ")"
	}
	return &redactedError{msg: x.Redact(msg), err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

// truncateUTF8 cuts b to at most n bytes, on a UTF-8 boundary.
func truncateUTF8(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	b = b[:n]
	for i := 0; i < utf8.UTFMax && len(b) > 0; i++ {
		if r, size := utf8.DecodeLastRune(b); r != utf8.RuneError || size != 1 {
			break
		}
		b = b[:len(b)-1]
	}
	return string(b)
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if !strings.ContainsAny(s, "\r\n\t") {
		return s
	}
	return strings.Join(strings.Fields(s), " ")
}
