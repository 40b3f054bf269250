package steps

// The sending half of the request step: attempts, retries with back-off,
// the CSRF handshake and reading the answer.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/stride-engine/stride/engine/flow"
)

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
	if trace.SpanFromContext(ctx).IsRecording() {
		// Tracing is on: the API's own spans join the step's trace.
		flow.TraceContext().Inject(ctx, propagation.HeaderCarrier(h))
	}
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
		v, err := flow.DecodeJSON(a.body)
		if err != nil {
			return &flow.PayloadError{Err: errorf("the answer says %s but is not valid JSON: %v", ct, err)}
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
