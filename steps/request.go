package steps

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/stride-engine/stride/engine/flow"
	"github.com/stride-engine/stride/engine/oauth"
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
	Connection   string           `yaml:"connection" doc:"Send a user's OAuth access token from this connection (a flow with trigger: {connection: ...}) as Authorization: Bearer, refreshed first when it expires; a 401 refreshes it once and sends again once. Give user too; not with auth."`
	User         *flow.Template   `yaml:"user" doc:"With connection: the user's id at the provider, e.g. '${property.owner}'."`
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
	connection   string         // the connection whose user's token is sent, or ""

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
		if name == "Authorization" && (c.Auth != nil || c.Connection != "") {
			fail("headers", "give auth or an Authorization header, not both")
		}
	}
	switch {
	case c.Connection != "" && c.User == nil:
		fail("connection", "connection: say whose token to send with user: '${property.user_id}'")
	case c.Connection == "" && c.User != nil:
		fail("user", "user is the user of a connection: give connection: NAME too")
	case c.Connection != "" && c.Auth != nil:
		fail("auth", "give connection or auth, not both: the connection sends the bearer token")
	case c.Connection != "":
		s.connection = c.Connection
		b.UseConnection(c.Connection, b.FieldPos("connection"))
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

// escapeURLValue renders a value of a request URL's template so that
// message content never becomes URL syntax: in the path it is one
// segment ("a/../b" stays one segment), in the query one value. A value at
// the very start is the base URL (often ${env.API_URL}) and is taken as
// it is, and raw_url() marks text that is URL syntax on purpose.
func escapeURLValue(before string, v any) string {
	if r, ok := v.(flow.RawURL); ok {
		return r.Text
	}
	text := flow.Stringify(v)
	switch {
	case before == "":
		return text
	case strings.ContainsAny(before, "?#"):
		return strings.ReplaceAll(url.QueryEscape(text), "+", "%20")
	}
	return url.PathEscape(text)
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
	var conn *oauth.Conn
	var user, token string
	if s.connection != "" {
		if conn, user, token, err = s.bearer(ctx, x, o); err != nil {
			return err
		}
	}
	res, note := s.exchange(ctx, x, o)
	if conn != nil && res.err == nil && res.ans.status == http.StatusUnauthorized {
		// The token died before its time (revoked, rotated elsewhere):
		// refresh it once and send once more.
		if token, err = conn.Refresh(ctx, x, user, token); err != nil {
			recordAnswer(x, res.ans)
			return errorf("%s answered 401 and refreshing the token failed: %w", x.Redact(o.shown), err)
		}
		o.header["Authorization"] = []string{"Bearer " + token}
		res, note = s.exchange(ctx, x, o)
		note = strings.TrimSpace("after a token refresh " + note)
	}
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

// bearer sets the connection user's access token on o.
func (s *requestStep) bearer(ctx context.Context, x *flow.Exchange, o *outbound) (*oauth.Conn, string, string, error) {
	conn, user, err := connectionUser(x, s.connection, s.c.User)
	if err != nil {
		return nil, "", "", err
	}
	token, err := conn.AccessToken(ctx, x, user)
	if err != nil {
		return nil, "", "", err
	}
	o.header["Authorization"] = []string{"Bearer " + token}
	return conn, user, token, nil
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
		raw, err := s.c.URL.Render(x, escapeURLValue)
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
