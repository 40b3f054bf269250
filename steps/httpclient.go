package steps

import (
	"context"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/stride-engine/stride/engine/flow"
)

// Outbound HTTP for the request step: one client per runtime over one
// tuned Transport, so that connections are kept alive across messages and
// flows, and closed when the runtime stops. Two runtimes in one process
// (parallel tests, flow tests) never share connections.

// httpPools is the key of each runtime's outbound HTTP pool.
var httpPools = flow.NewResourceKey("outbound HTTP", newHTTPPool)

// httpPool is the outbound HTTP of one runtime, with the clock and the
// waits of its retries (tests record the waits instead of sleeping).
type httpPool struct {
	transport *http.Transport
	// client has no Timeout: every request carries a context bounded by
	// the step's timeout and the message's deadline.
	client *http.Client

	now func() time.Time
	// sleep waits d or until ctx is done, with a timer (never
	// time.Sleep, which a shutdown could not interrupt).
	sleep func(ctx context.Context, d time.Duration) error
	// jitter returns a random duration in [0, d] (full jitter).
	jitter func(d time.Duration) time.Duration
}

func newHTTPPool() *httpPool {
	t := newTransport()
	return &httpPool{transport: t, client: &http.Client{Transport: t}, now: time.Now, sleep: sleepCtx, jitter: fullJitter}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

func fullJitter(d time.Duration) time.Duration {
	if d <= 0 {
		return 0
	}
	return rand.N(d + 1)
}

// Close closes the pool's idle connections when its runtime stops.
func (p *httpPool) Close() error {
	p.transport.CloseIdleConnections()
	return nil
}

// newTransport returns the Transport of outbound requests. It never reads
// a proxy from the environment: where a request goes is what the flow
// says, nothing else (tests and the demo stay on 127.0.0.1).
func newTransport() *http.Transport {
	return &http.Transport{
		Proxy: nil,
		DialContext: (&net.Dialer{
			Timeout:   30 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          1024,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
	}
}

// targetKey is scheme://host, the key of CSRF tokens.
func targetKey(u *url.URL) string { return u.Scheme + "://" + u.Host }

// drainLimit bounds how much of an unread body is discarded to keep its
// connection; a larger rest costs a new connection, not unbounded reading.
const drainLimit = 64 << 10

// closeBody drains (bounded) and closes a response body so that its
// connection goes back to the pool.
func closeBody(body io.ReadCloser) {
	_, _ = io.CopyN(io.Discard, body, drainLimit)
	_ = body.Close()
}

// errTooLarge reports a response over max_response.
type errTooLarge struct{ limit int64 }

func (e *errTooLarge) Error() string {
	return "the response is larger than max_response (" + formatSize(e.limit) + ")"
}

// readBody reads a response body of at most limit bytes. A Content-Length
// over the limit fails before reading anything.
func readBody(resp *http.Response, limit int64) ([]byte, error) {
	if resp.ContentLength > limit {
		return nil, &errTooLarge{limit}
	}
	if resp.ContentLength >= 0 {
		// The Transport enforces Content-Length, so this is exact.
		data := make([]byte, resp.ContentLength)
		_, err := io.ReadFull(resp.Body, data)
		return data, err
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if int64(len(data)) > limit {
		return nil, &errTooLarge{limit}
	}
	return data, err
}

func formatSize(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + "MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + "KiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}
