package admin

import (
	"net/http"
	"net/http/pprof"
)

// AddPprof serves Go's profiles under /debug/pprof/ behind the admin
// token: CPU (profile?seconds=N), heap, allocs, goroutine, block, mutex,
// trace. They show where a running instance spends its time and memory;
// they name code, never message content or secrets, but they are for the
// operator only, as the rest of the admin API.
func (a *Admin) AddPprof() {
	a.Handle("GET /debug/pprof/", http.HandlerFunc(pprof.Index))
	a.Handle("GET /debug/pprof/cmdline", http.HandlerFunc(pprof.Cmdline))
	a.Handle("GET /debug/pprof/profile", http.HandlerFunc(pprof.Profile))
	a.Handle("GET /debug/pprof/symbol", http.HandlerFunc(pprof.Symbol))
	a.Handle("GET /debug/pprof/trace", http.HandlerFunc(pprof.Trace))
}
