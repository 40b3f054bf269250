package admin_test

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stride-engine/stride/engine/admin"
	"github.com/stride-engine/stride/engine/flow"
	"github.com/stride-engine/stride/engine/runtime"
	"github.com/stride-engine/stride/engine/store"
	_ "github.com/stride-engine/stride/steps" // step kinds
)

// startRuntime loads flows given as alternating name, content, binds them
// with vars, and runs them until the test ends. db may be nil (no store).
func startRuntime(t *testing.T, db *store.DB, vars map[string]string, files ...string) *runtime.Runtime {
	t.Helper()
	var srcs []flow.Source
	for i := 0; i+1 < len(files); i += 2 {
		srcs = append(srcs, flow.Source{Name: files[i], Data: []byte(files[i+1])})
	}
	set, err := flow.Load(srcs)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	set.Bind(func(n string) (string, bool) { v, ok := vars[n]; return v, ok })
	opts := runtime.Options{Log: slog.New(slog.DiscardHandler)}
	if db != nil {
		opts.Services = &flow.Services{KV: db.KV(), Queues: db.Queues(), Log: db.Log()}
	}
	rt := runtime.New(opts)
	rt.Swap(set)
	if err := rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = rt.Stop(ctx)
	})
	return rt
}

// openStore opens a badger store in a temporary directory.
func openStore(t *testing.T) *store.DB {
	t.Helper()
	db, err := store.Open(t.TempDir(), store.Options{GCInterval: -1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// serve serves h over HTTP and returns a client of it with token.
func serve(t *testing.T, h http.Handler, token string) *admin.Client {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &admin.Client{Base: srv.URL, Token: token, HTTP: &http.Client{Timeout: 10 * time.Second}}
}

// apiError asserts that err is an *admin.APIError with status and code.
func apiError(t *testing.T, what string, err error, status int, code string) *admin.APIError {
	t.Helper()
	var ae *admin.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("%s: %v (%T), want an *admin.APIError", what, err, err)
	}
	if ae.Status != status || ae.Code != code {
		t.Fatalf("%s: %d %q (%s), want %d %q", what, ae.Status, ae.Code, ae.Message, status, code)
	}
	return ae
}

// waitFor polls cond for up to 5 seconds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

const (
	webFlow     = "flow: web\ntrigger: {http: {path: /web, methods: [GET]}}\nsteps:\n  - respond: {status: 204}\n"
	nightlyFlow = "flow: nightly\ntrigger: {timer: {cron: '0 2 * * *'}}\nsteps:\n  - log: nightly ran\n"
	needyFlow   = "flow: needy\nenv: {NEEDED: }\ntrigger: {timer: {every: 1h}}\nsteps:\n  - log: x\n"
)

func TestTokenGuardsEverythingButHealth(t *testing.T) {
	rt := startRuntime(t, nil, nil, "web.yaml", webFlow)
	var ready atomic.Bool
	a := admin.NewAdmin(rt, "s3cret", ready.Load)
	anon := serve(t, a, "")
	ctx := t.Context()

	_, err := anon.Health(ctx)
	ae := apiError(t, "health before ready", err, http.StatusServiceUnavailable, admin.CodeUnavailable)
	if ae.Message != "starting" {
		t.Errorf("health before ready says %q, want starting", ae.Message)
	}
	ready.Store(true)
	if h, err := anon.Health(ctx); err != nil || h.Status != "ok" || h.Flows != 1 {
		t.Fatalf("health needs no token: %+v %v", h, err)
	}

	for _, c := range []*admin.Client{anon, {Base: anon.Base, Token: "s3cre"}, {Base: anon.Base, Token: "s3cret-and-more"}} {
		_, err := c.Flows(ctx)
		ae := apiError(t, "flows with token "+c.Token, err, http.StatusUnauthorized, admin.CodeUnauthorized)
		if !strings.Contains(ae.Message, "Bearer") {
			t.Errorf("401 does not say what to send: %q", ae.Message)
		}
		// A refused call does nothing: RunNow of a real timer flow would
		// otherwise answer 422.
		_, err = c.RunNow(ctx, "web")
		apiError(t, "run with token "+c.Token, err, http.StatusUnauthorized, admin.CodeUnauthorized)
	}
	got, err := (&admin.Client{Base: anon.Base, Token: "s3cret"}).Flows(ctx)
	if err != nil || len(got.Flows) != 1 || got.Flows[0].ID != "web" {
		t.Fatalf("flows with the token: %+v %v", got, err)
	}

	// The challenge names the scheme, for clients that read it.
	resp, err := http.Get(anon.Base + "/admin/flows")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if h := resp.Header.Get("WWW-Authenticate"); !strings.HasPrefix(h, "Bearer ") {
		t.Errorf("WWW-Authenticate = %q", h)
	}
}

func TestFlowsAndRunNow(t *testing.T) {
	db := openStore(t)
	release := make(chan struct{})
	var calls atomic.Int32
	gate := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(gate.Close)
	rt := startRuntime(t, db, nil,
		"web.yaml", webFlow,
		"nightly.yaml", nightlyFlow,
		"needy.yaml", needyFlow,
		"slow.yaml", "flow: slow\ntrigger: {timer: {every: 1h}}\nsteps:\n  - request: '"+gate.URL+"'\n")
	t.Cleanup(func() { close(release) }) // runs before the runtime stops
	a := admin.NewAdmin(rt, "", nil)
	a.AddStoreRoutes(rt.Services())
	c := serve(t, a, "")
	ctx := t.Context()

	fl, err := c.Flows(ctx)
	if err != nil {
		t.Fatal(err)
	}
	byID := map[string]admin.FlowStatus{}
	for _, f := range fl.Flows {
		byID[f.ID] = f
	}
	if len(byID) != 4 || fl.Errors == nil || len(fl.Errors) != 0 {
		t.Fatalf("flows: %+v", fl)
	}
	if f := byID["web"]; f.Trigger != "http" || f.Status != "running" || f.File != "web.yaml" || f.Version == "" || f.Reason != "" {
		t.Errorf("web: %+v", f)
	}
	if f := byID["needy"]; f.Status != "disabled" || !strings.Contains(f.Reason, "NEEDED") {
		t.Errorf("needy (its variable is missing): %+v", f)
	}

	// A timer flow runs now, and its run is in the message log under the
	// id the API answered.
	run, err := c.RunNow(ctx, "nightly")
	if err != nil || run.MessageID == "" {
		t.Fatalf("run nightly: %+v %v", run, err)
	}
	var attempts []admin.MessageJSON
	waitFor(t, "the run in the message log", func() bool {
		m, err := c.Message(ctx, run.MessageID)
		attempts = m.Attempts
		return err == nil && len(m.Attempts) == 1 && m.Attempts[0].Status == store.StatusCompleted
	})
	if m := attempts[0]; m.Flow != "nightly" || m.ID != run.MessageID || !strings.HasPrefix(m.Trigger, "timer") {
		t.Errorf("the run's log entry: %+v", m)
	}

	_, err = c.RunNow(ctx, "web")
	ae := apiError(t, "run of an http flow", err, http.StatusUnprocessableEntity, admin.CodeNotRunnable)
	if !strings.Contains(ae.Message, "only timer flows") {
		t.Errorf("run of an http flow says %q", ae.Message)
	}
	_, err = c.RunNow(ctx, "needy")
	apiError(t, "run of a disabled flow", err, http.StatusUnprocessableEntity, admin.CodeNotRunnable)
	_, err = c.RunNow(ctx, "nope")
	apiError(t, "run of an unknown flow", err, http.StatusNotFound, admin.CodeNotFound)

	// A timer flow never overlaps itself: while its run waits on the gate,
	// a second run is refused, and nothing more is called.
	if _, err := c.RunNow(ctx, "slow"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the slow run to reach the gate", func() bool { return calls.Load() == 1 })
	_, err = c.RunNow(ctx, "slow")
	apiError(t, "a second run while the first goes on", err, http.StatusConflict, admin.CodeAlreadyRunning)
	if n := calls.Load(); n != 1 {
		t.Errorf("the refused run called the gate: %d calls", n)
	}
}

func TestRunNowAfterStop(t *testing.T) {
	rt := startRuntime(t, nil, nil, "nightly.yaml", nightlyFlow)
	c := serve(t, admin.NewAdmin(rt, "", nil), "")
	if err := rt.Stop(t.Context()); err != nil {
		t.Fatal(err)
	}
	_, err := c.RunNow(t.Context(), "nightly")
	apiError(t, "run after stop", err, http.StatusUnprocessableEntity, admin.CodeUnavailable)
}

func TestReloadReportsInvalidFilesAndKeepsServing(t *testing.T) {
	dir := t.TempDir()
	write := func(content string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, "web.yaml"), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(webFlow)
	rt := runtime.New(runtime.Options{Log: slog.New(slog.DiscardHandler)})
	r := &runtime.Reloader{Dir: dir, Lookup: func(string) (string, bool) { return "", false }, RT: rt, Log: slog.New(slog.DiscardHandler)}
	if res := r.Reload(); !res.OK {
		t.Fatalf("initial load: %+v", res)
	}
	if err := rt.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rt.Stop(context.Background()) })
	a := admin.NewAdmin(rt, "", nil)
	a.AddReload(r)
	c := serve(t, a, "")
	app := httptest.NewServer(rt)
	t.Cleanup(app.Close)
	ctx := t.Context()

	ok, err := c.Reload(ctx)
	if err != nil || ok.Status != "reloaded" || ok.Versions["web"] == "" || ok.TookMS < 0 {
		t.Fatalf("reload of a good directory: %+v %v", ok, err)
	}
	version := ok.Versions["web"]

	write("flow: web\ntrigger: {http: {path: /web, methods: [GET]}}\nsteps:\n  - respnd: {status: 204}\n")
	_, err = c.Reload(ctx)
	ae := apiError(t, "reload of a broken file", err, http.StatusUnprocessableEntity, admin.CodeInvalid)
	if len(ae.LoadErrors) != 1 {
		t.Fatalf("load errors: %+v", ae.LoadErrors)
	}
	le := ae.LoadErrors[0]
	if filepath.Base(le.File) != "web.yaml" || le.Line != 4 || le.Col != 5 || !strings.Contains(le.Message, `did you mean "respond"`) {
		t.Errorf("load error: %+v, want web.yaml:4:5 suggesting respond", le)
	}
	if !strings.Contains(ae.Message, "keep serving") {
		t.Errorf("message %q", ae.Message)
	}

	// The old flow still serves, GET /admin/flows lists it at its old
	// version and names the broken file.
	resp, err := http.Get(app.URL + "/web")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNoContent {
		t.Errorf("the running flow answered %d after a failed reload", resp.StatusCode)
	}
	fl, err := c.Flows(ctx)
	if err != nil || len(fl.Flows) != 1 || fl.Flows[0].Version != version || len(fl.Errors) != 1 || fl.Errors[0] != le {
		t.Fatalf("flows after a failed reload: %+v %v", fl, err)
	}

	write(strings.Replace(webFlow, "204", "200", 1))
	ok, err = c.Reload(ctx)
	if err != nil || ok.Versions["web"] == version {
		t.Fatalf("reload of the fixed file: %+v %v", ok, err)
	}
	if fl, err := c.Flows(ctx); err != nil || len(fl.Errors) != 0 || fl.Flows[0].Version != ok.Versions["web"] {
		t.Fatalf("flows after the fix: %+v %v", fl, err)
	}
}

func TestMessagesAndReplay(t *testing.T) {
	db := openStore(t)
	rt := startRuntime(t, db, nil,
		"hello.yaml", "flow: hello\ntrigger: {http: {path: /hello, methods: [GET]}}\nsteps:\n  - fail: {message: broken on purpose, status: 418}\n",
		"web.yaml", webFlow)
	a := admin.NewAdmin(rt, "", nil)
	a.AddStoreRoutes(rt.Services())
	c := serve(t, a, "")
	app := httptest.NewServer(rt)
	t.Cleanup(app.Close)
	ctx := t.Context()

	get := func(path string) string {
		t.Helper()
		resp, err := http.Get(app.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.Header.Get("X-Stride-Message-Id")
	}
	failed := get("/hello")
	get("/web")
	var listed []admin.MessageJSON
	waitFor(t, "both messages in the log", func() bool {
		all, err := c.Messages(ctx, admin.MessagesQuery{})
		listed = all.Messages
		return err == nil && len(all.Messages) == 2
	})
	ms, err := c.Messages(ctx, admin.MessagesQuery{Flow: "hello"})
	if err != nil || len(ms.Messages) != 1 {
		t.Fatalf("messages of hello: %+v %v (all: %+v)", ms, err, listed)
	}
	m := ms.Messages[0]
	if m.ID != failed || m.Status != store.StatusFailed || !strings.Contains(m.Error, "broken on purpose") || m.Attempt != 1 {
		t.Errorf("hello's entry: %+v", m)
	}
	if len(m.Trace) != 1 || m.Trace[0].Step != "fail" || m.Trace[0].At != "hello.yaml:4" || m.Trace[0].Outcome != "error" {
		t.Errorf("hello's trace: %+v", m.Trace)
	}
	if m.End.Before(m.Start) || m.Start.IsZero() {
		t.Errorf("times: %v → %v", m.Start, m.End)
	}
	if ms, err := c.Messages(ctx, admin.MessagesQuery{Status: store.StatusCompleted}); err != nil || len(ms.Messages) != 1 || ms.Messages[0].Flow != "web" {
		t.Errorf("completed messages: %+v %v", ms, err)
	}
	if ms, err := c.Messages(ctx, admin.MessagesQuery{Limit: 1}); err != nil || len(ms.Messages) != 1 {
		t.Errorf("limit 1: %+v %v", ms, err)
	}
	if ms, err := c.Messages(ctx, admin.MessagesQuery{Flow: "nobody"}); err != nil || ms.Messages == nil || len(ms.Messages) != 0 {
		t.Errorf("messages of no flow must be an empty list: %+v %v", ms, err)
	}

	one, err := c.Message(ctx, failed)
	if err != nil || len(one.Attempts) != 1 || one.Attempts[0].ID != failed {
		t.Fatalf("message %s: %+v %v", failed, one, err)
	}
	_, err = c.Message(ctx, "nope")
	apiError(t, "an unknown message", err, http.StatusNotFound, admin.CodeNotFound)

	// Only a dead letter replays: an HTTP message is not one.
	_, err = c.Replay(ctx, failed)
	apiError(t, "replay of a message that is no dead letter", err, http.StatusNotFound, admin.CodeNotFound)

	// A dead letter goes back to its queue and can be leased again.
	qid, err := db.Queues().Enqueue(ctx, "orders", store.Message{Body: []byte("o1")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Queues().Lease(ctx, "orders", 1, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := db.Queues().DeadLetter(ctx, "orders", qid, "gave up"); err != nil {
		t.Fatal(err)
	}
	rep, err := c.Replay(ctx, qid)
	if err != nil || rep.Queue != "orders" || rep.MessageID != qid {
		t.Fatalf("replay: %+v %v", rep, err)
	}
	if dead, err := db.Queues().DeadLetters(ctx, "orders"); err != nil || len(dead) != 0 {
		t.Errorf("dead letters after replay: %d %v", len(dead), err)
	}
	got, err := db.Queues().Lease(ctx, "orders", 1, time.Minute)
	if err != nil || len(got) != 1 || got[0].ID != qid || string(got[0].Body) != "o1" {
		t.Errorf("lease after replay: %+v %v", got, err)
	}
	_, err = c.Replay(ctx, qid)
	apiError(t, "a second replay", err, http.StatusNotFound, admin.CodeNotFound)
}

func TestStores(t *testing.T) {
	db := openStore(t)
	rt := startRuntime(t, db, nil, "web.yaml", webFlow)
	a := admin.NewAdmin(rt, "", nil)
	a.AddStoreRoutes(rt.Services())
	c := serve(t, a, "")
	ctx := t.Context()

	if st, err := c.Stores(ctx); err != nil || st.Stores == nil || len(st.Stores) != 0 {
		t.Fatalf("no stores must be an empty list: %+v %v", st, err)
	}
	kv := db.KV()
	for id, ttl := range map[string]time.Duration{"u1": 0, "u2": time.Hour, "x1": 0} {
		if err := kv.Put(ctx, "users", id, []byte(`{"id":"`+id+`"}`), store.PutOptions{TTL: ttl}); err != nil {
			t.Fatal(err)
		}
	}
	st, err := c.Stores(ctx)
	if err != nil || len(st.Stores) != 1 || st.Stores[0] != (admin.StoreInfo{Name: "users", Count: 3}) {
		t.Fatalf("stores: %+v %v", st, err)
	}
	es, err := c.StoreEntries(ctx, "users", admin.StoreEntriesQuery{Prefix: "u"})
	if err != nil || len(es.Entries) != 2 || es.Entries[0].ID != "u1" || es.Entries[1].ID != "u2" {
		t.Fatalf("entries with prefix u: %+v %v", es, err)
	}
	if e := es.Entries[0]; e.Created.IsZero() || !e.Expires.IsZero() {
		t.Errorf("u1 never expires: %+v", e)
	}
	if e := es.Entries[1]; !e.Expires.After(e.Created) {
		t.Errorf("u2 expires in an hour: %+v", e)
	}
	if es, err := c.StoreEntries(ctx, "users", admin.StoreEntriesQuery{Limit: 1}); err != nil || len(es.Entries) != 1 {
		t.Errorf("limit 1: %+v %v", es, err)
	}
	_, err = c.StoreEntries(ctx, "bad name", admin.StoreEntriesQuery{})
	apiError(t, "a store name with a space", err, http.StatusBadRequest, admin.CodeBadRequest)

	v, err := c.StoreGet(ctx, "users", "u1")
	if err != nil || string(v) != `{"id":"u1"}` {
		t.Fatalf("get u1: %q %v", v, err)
	}
	if err := c.StoreDelete(ctx, "users", "u1"); err != nil {
		t.Fatal(err)
	}
	_, err = c.StoreGet(ctx, "users", "u1")
	apiError(t, "get after delete", err, http.StatusNotFound, admin.CodeNotFound)
	apiError(t, "a second delete", c.StoreDelete(ctx, "users", "u1"), http.StatusNotFound, admin.CodeNotFound)
	if _, err := kv.Get(ctx, "users", "u1"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("u1 is still in the store: %v", err)
	}
}

// TestClientErrors: an answer without a code (Go's mux answers unknown
// paths in text) gets the code of its status, and a server that is not
// there is a transport error, not an APIError.
func TestClientErrors(t *testing.T) {
	rt := startRuntime(t, nil, nil, "web.yaml", webFlow)
	c := serve(t, admin.NewAdmin(rt, "", nil), "")
	_, err := c.Message(t.Context(), "x") // no store routes: the mux's own 404
	ae := apiError(t, "an unknown route", err, http.StatusNotFound, admin.CodeNotFound)
	if ae.Message != "" || !strings.Contains(ae.Error(), "404") {
		t.Errorf("text answer: %q / %q", ae.Message, ae.Error())
	}

	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL
	srv.Close()
	_, err = (&admin.Client{Base: base}).Flows(t.Context())
	var none *admin.APIError
	if err == nil || errors.As(err, &none) || !strings.HasPrefix(err.Error(), "admin API: ") {
		t.Errorf("no server: %v", err)
	}
}
