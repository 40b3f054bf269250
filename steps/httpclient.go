package steps

import (
	"context"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// Outbound HTTP for the request step: one pooled client per target
// (scheme+host), all sharing one tuned Transport, so that connections are
// kept alive across messages and flows.

// sharedTransport is the Transport of every outbound client. It never
// reads a proxy from the environment: where a request goes is what the
// flow says, nothing else (tests and the demo stay on 127.0.0.1).
var sharedTransport = &http.Transport{
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

// maxClients bounds the client map: URLs are templates, and a flow that
// calls many hosts must not grow it without end. Beyond it, targets share
// one client (they share the Transport, and so the pool, anyway).
const maxClients = 512

var clients = struct {
	sync.RWMutex
	m        map[string]*http.Client
	overflow *http.Client
}{m: map[string]*http.Client{}, overflow: newClient()}

func newClient() *http.Client {
	// No Client.Timeout: every request carries a context bounded by the
	// step's timeout and the message's deadline.
	return &http.Client{Transport: sharedTransport}
}

// targetKey is scheme://host, the key of pooled clients and CSRF tokens.
func targetKey(u *url.URL) string { return u.Scheme + "://" + u.Host }

// clientFor returns the pooled client of u's target.
func clientFor(u *url.URL) *http.Client {
	key := targetKey(u)
	clients.RLock()
	c := clients.m[key]
	clients.RUnlock()
	if c != nil {
		return c
	}
	clients.Lock()
	defer clients.Unlock()
	if c = clients.m[key]; c != nil {
		return c
	}
	if len(clients.m) >= maxClients {
		return clients.overflow
	}
	c = newClient()
	clients.m[key] = c
	return c
}

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

// Waiting between attempts. Tests replace these (request_export_test.go)
// to record waits instead of sleeping and to fix the jitter.
var (
	timeNow = time.Now
	// sleepCtx waits d or until ctx is done, with a timer (never
	// time.Sleep, which a shutdown could not interrupt).
	sleepCtx = func(ctx context.Context, d time.Duration) error {
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
	// jitter returns a random duration in [0, d] (full jitter).
	jitter = func(d time.Duration) time.Duration {
		if d <= 0 {
			return 0
		}
		return rand.N(d + 1)
	}
)
