package steps

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/stride-engine/stride/engine/flow"
)

// The SAP OData CSRF handshake of the request step. A token is bound to
// the session cookies it was fetched with, so both are kept together,
// per target (scheme+host) and credentials, shared by every message and
// flow: the fetch happens once, not per message.

// csrfEntry is the token and session cookies of one target and
// credentials.
type csrfEntry struct {
	// fetching serializes fetches (capacity 1): concurrent messages
	// wait for one fetch instead of each fetching, and a waiting message
	// still honours its context.
	fetching chan struct{}

	mu      sync.Mutex
	token   string
	cookies string // "name=value; name2=value2", sent as Cookie
}

// maxCSRFEntries bounds the cache: bearer tokens change, and a key per
// stale credential must not grow it without end.
const maxCSRFEntries = 1024

// csrfCaches is the key of each runtime's cache of CSRF tokens.
var csrfCaches = flow.NewResourceKey("CSRF tokens", func() *csrfCache {
	return &csrfCache{m: map[string]*csrfEntry{}}
})

// csrfCache holds one runtime's CSRF tokens by target and credentials.
type csrfCache struct {
	mu sync.Mutex
	m  map[string]*csrfEntry
}

// csrfKey is the cache key of a target and credentials. The credentials
// are hashed: no password or token is ever kept in a key (or logged).
func csrfKey(target string, auth []byte) string {
	sum := sha256.Sum256(auth)
	return target + " " + hex.EncodeToString(sum[:])
}

// authMaterial is what identifies credentials, for csrfKey. Parts are
// length-prefixed so that ("ab", "c") and ("a", "bc") differ.
func authMaterial(kind string, parts ...string) []byte {
	var b []byte
	b = append(b, kind...)
	for _, p := range parts {
		b = append(b, ':')
		b = strconv.AppendInt(b, int64(len(p)), 10)
		b = append(b, ':')
		b = append(b, p...)
	}
	return b
}

// entry returns the cache entry of key, made on first use.
func (c *csrfCache) entry(key string) *csrfEntry {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.m[key]
	if e == nil {
		if len(c.m) >= maxCSRFEntries {
			for k := range c.m { // drop any one; holders keep their pointer
				delete(c.m, k)
				break
			}
		}
		e = &csrfEntry{fetching: make(chan struct{}, 1)}
		c.m[key] = e
	}
	return e
}

func (e *csrfEntry) current() (token, cookies string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.token, e.cookies
}

// get returns the cached token and cookies, fetching them when there are
// none. Only one fetch per entry runs at a time; the others wait and then
// use its result.
func (e *csrfEntry) get(ctx context.Context, fetch func(context.Context) (token, cookies string, err error)) (string, string, error) {
	if t, c := e.current(); t != "" {
		return t, c, nil
	}
	select {
	case e.fetching <- struct{}{}:
	case <-ctx.Done():
		return "", "", context.Cause(ctx)
	}
	defer func() { <-e.fetching }()
	if t, c := e.current(); t != "" {
		return t, c, nil // fetched while we waited
	}
	t, c, err := fetch(ctx)
	if err != nil {
		return "", "", err
	}
	e.mu.Lock()
	e.token, e.cookies = t, c
	e.mu.Unlock()
	return t, c, nil
}

// drop forgets the token when it is still the stale one a request was
// refused with; a newer token another message fetched meanwhile stays.
func (e *csrfEntry) drop(stale string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.token == stale {
		e.token, e.cookies = "", ""
	}
}

// csrfRequired reports whether a response is SAP's refusal of a missing
// or expired token.
func csrfRequired(status int, h http.Header) bool {
	return status == http.StatusForbidden && strings.EqualFold(strings.TrimSpace(h.Get("X-Csrf-Token")), "required")
}

// sessionCookies renders the cookies a response set as a Cookie header.
func sessionCookies(resp *http.Response) string {
	var b strings.Builder
	for _, c := range resp.Cookies() {
		if c.MaxAge < 0 || c.Value == "" {
			continue // a deletion
		}
		if b.Len() > 0 {
			b.WriteString("; ")
		}
		b.WriteString(c.Name)
		b.WriteByte('=')
		b.WriteString(c.Value)
	}
	return b.String()
}

// withCSRF returns h plus the token and session cookies (after any Cookie
// the flow set itself).
func withCSRF(h http.Header, token, cookies string) http.Header {
	h = h.Clone()
	h.Set("X-Csrf-Token", token)
	if cookies != "" {
		if prev := h.Get("Cookie"); prev != "" {
			cookies = prev + "; " + cookies
		}
		h.Set("Cookie", cookies)
	}
	return h
}
