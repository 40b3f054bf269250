package sandbox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strconv"
	"sync"
	"time"
)

// endpoint is the listening side of a fake: Start, Close and URL.
type endpoint struct {
	// URL is the base URL (http://127.0.0.1:PORT) once Start returned.
	URL string

	mu  sync.Mutex
	srv *http.Server
	ln  net.Listener
}

// checkLoopback refuses any address that is not on the loopback interface:
// the fakes hand out tokens to whoever asks.
func checkLoopback(addr string) (string, error) {
	if addr == "" {
		return "127.0.0.1:0", nil
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return "", fmt.Errorf("sandbox: address %q: %v", addr, err)
	}
	switch host {
	case "127.0.0.1", "localhost", "::1":
		return addr, nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return addr, nil
	}
	return "", fmt.Errorf("sandbox: address %q is not a loopback address", addr)
}

func (e *endpoint) start(h http.Handler, addr string) error {
	addr, err := checkLoopback(addr)
	if err != nil {
		return err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.srv != nil {
		return errors.New("sandbox: already started")
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	e.ln = ln
	e.srv = &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	e.URL = "http://" + ln.Addr().String()
	go e.srv.Serve(ln) //nolint:errcheck // ends with ErrServerClosed
	return nil
}

// Close stops the listener started by Start (waiting up to 1 s for requests
// in flight). It is a no-op when Start was not called.
func (e *endpoint) Close() error {
	e.mu.Lock()
	srv := e.srv
	e.srv = nil
	e.mu.Unlock()
	if srv == nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		return srv.Close()
	}
	return nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(status)
	w.Write(append(b, '\n'))
}

// failRule answers the next n matching requests with status.
type failRule struct {
	prefix string
	status int
	n      int
}

// takeFailure consumes one matching rule, returning its status or 0.
func takeFailure(rules *[]failRule, path string) int {
	for i := range *rules {
		r := &(*rules)[i]
		if r.n > 0 && len(path) >= len(r.prefix) && path[:len(r.prefix)] == r.prefix {
			r.n--
			status := r.status
			if r.n == 0 {
				*rules = append((*rules)[:i], (*rules)[i+1:]...)
			}
			return status
		}
	}
	return 0
}

func sortStrings(s []string) { sort.Strings(s) }

// requireUser answers 400 unless user is a valid sandbox user id (the
// control endpoints of both fakes).
func requireUser(w http.ResponseWriter, user string) bool {
	if !ValidUserID(user) {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "user must be 1 to 16 of 0-9 and A-Z"})
		return false
	}
	return true
}

// intQuery reads a non-negative integer query parameter (def when absent),
// answering 400 when it is not one.
func intQuery(w http.ResponseWriter, q url.Values, name string, def int) (int, bool) {
	s := q.Get(name)
	if s == "" {
		return def, true
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": name + " must be a non-negative integer"})
		return 0, false
	}
	return n, true
}
