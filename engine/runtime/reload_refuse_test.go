package runtime_test

import (
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stride-engine/stride/engine/admin"
	"github.com/stride-engine/stride/engine/flow"
	"github.com/stride-engine/stride/engine/runtime"
)

// envFlow answers GET path with the value of the variable name, which it
// requires.
func envFlow(id, path, name string) string {
	return "flow: " + id + "\nenv: {" + name + ": }\ntrigger: {http: {path: " + path + ", methods: [GET]}}\n" +
		"steps:\n  - respond: {status: 200, body: '${env." + name + "}'}\n"
}

// reloadFixture is a started runtime serving a flow directory through a
// Reloader whose variables come from vars, read again at every reload
// (as `stride run` reads its env file), with the outcomes reported.
type reloadFixture struct {
	t   *testing.T
	dir string
	rt  *runtime.Runtime
	r   *runtime.Reloader
	app *httptest.Server

	mu       sync.Mutex
	vars     map[string]string
	envErr   error
	outcomes []string
	oks      []bool
}

func newReloadFixture(t *testing.T, vars map[string]string, files map[string]string) *reloadFixture {
	t.Helper()
	fx := &reloadFixture{t: t, dir: t.TempDir(), vars: vars}
	for name, content := range files {
		fx.write(name, content)
	}
	fx.rt = newRuntime(t, runtime.Options{})
	fx.r = &runtime.Reloader{Dir: fx.dir, RT: fx.rt, Log: slog.New(slog.DiscardHandler),
		Env: func() (flow.Lookup, error) {
			fx.mu.Lock()
			defer fx.mu.Unlock()
			if fx.envErr != nil {
				return nil, fx.envErr
			}
			snapshot := maps.Clone(fx.vars)
			return func(name string) (string, bool) { v, ok := snapshot[name]; return v, ok }, nil
		},
		OnOutcome: func(result string, _ time.Duration) {
			fx.mu.Lock()
			defer fx.mu.Unlock()
			fx.outcomes = append(fx.outcomes, result)
		},
		OnResult: func(ok bool, _ time.Duration) {
			fx.mu.Lock()
			defer fx.mu.Unlock()
			fx.oks = append(fx.oks, ok)
		},
	}
	if res := fx.r.Reload(); !res.OK {
		t.Fatalf("initial load: %+v", res)
	}
	fx.app = httptest.NewServer(fx.rt)
	t.Cleanup(fx.app.Close)
	return fx
}

func (fx *reloadFixture) write(name, content string) {
	fx.t.Helper()
	writeAtomic(fx.t, filepath.Join(fx.dir, name), content)
}

func (fx *reloadFixture) remove(name string) {
	fx.t.Helper()
	if err := os.Remove(filepath.Join(fx.dir, name)); err != nil {
		fx.t.Fatal(err)
	}
}

func (fx *reloadFixture) setVars(vars map[string]string) {
	fx.mu.Lock()
	defer fx.mu.Unlock()
	fx.vars = vars
}

// lastOutcome is what the metrics hooks heard last.
func (fx *reloadFixture) lastOutcome() (string, bool) {
	fx.mu.Lock()
	defer fx.mu.Unlock()
	return fx.outcomes[len(fx.outcomes)-1], fx.oks[len(fx.oks)-1]
}

// get returns the status and body of GET path on the flows' listener.
func (fx *reloadFixture) get(path string) (int, string) {
	fx.t.Helper()
	resp, body := do(fx.t, "GET", fx.app.URL+path, "")
	return resp.StatusCode, body
}

func (fx *reloadFixture) wantServing(path, body string) {
	fx.t.Helper()
	if code, got := fx.get(path); code != 200 || got != body {
		fx.t.Fatalf("GET %s = %d %q, want 200 %q", path, code, got, body)
	}
}

// wantServingJSON checks a versionFlow answers version v.
func (fx *reloadFixture) wantServingJSON(path, v string) {
	fx.t.Helper()
	code, body := fx.get(path)
	var r reply
	if code != 200 || json.Unmarshal([]byte(body), &r) != nil || r.A != v || r.B != v {
		fx.t.Fatalf("GET %s = %d %q, want version %s", path, code, body, v)
	}
}

func (fx *reloadFixture) wantRefused(res runtime.ReloadResult, stops map[string]string) {
	fx.t.Helper()
	if res.OK || res.Result != runtime.ResultRefused || !errors.Is(res.Err, runtime.ErrWouldStopFlows) {
		fx.t.Fatalf("reload = %+v, want refused", res)
	}
	got := map[string]string{}
	for _, s := range res.WouldStop {
		got[s.ID] = s.Reason
		if s.File == "" {
			fx.t.Errorf("would stop %s: no file", s.ID)
		}
	}
	if len(got) != len(stops) {
		fx.t.Fatalf("would stop %v, want %v", got, stops)
	}
	for id, want := range stops {
		if !strings.Contains(got[id], want) {
			fx.t.Errorf("would stop %s because %q, want it to say %q", id, got[id], want)
		}
	}
	if result, ok := fx.lastOutcome(); result != runtime.ResultRefused || ok {
		fx.t.Errorf("hooks heard %q %v, want refused and not ok", result, ok)
	}
	// GET /admin/flows (and so `stride status`) shows the refusal like a
	// failed load, one entry per flow, with the way to force it.
	le := fx.r.LoadErrors()
	if len(le) != len(stops) {
		fx.t.Fatalf("LoadErrors = %v, want one per flow that would stop", le)
	}
	for _, e := range le {
		if !strings.Contains(e.Msg, "reload refused") || !strings.Contains(e.Msg, "--force") || e.Pos.File == "" {
			fx.t.Errorf("LoadErrors entry %v: want the refusal, the file and --force", e)
		}
	}
}

func (fx *reloadFixture) wantOK(res runtime.ReloadResult) {
	fx.t.Helper()
	if !res.OK || res.Result != runtime.ResultOK || len(fx.r.LoadErrors()) != 0 {
		fx.t.Fatalf("reload = %+v (load errors %v), want ok", res, fx.r.LoadErrors())
	}
	if result, ok := fx.lastOutcome(); result != runtime.ResultOK || !ok {
		fx.t.Errorf("hooks heard %q %v, want ok", result, ok)
	}
}

func TestReloadRefusesToStopARemovedFlow(t *testing.T) {
	fx := newReloadFixture(t, nil, map[string]string{
		"a.yaml": versionFlow("a", "/a", "a1"),
		"b.yaml": versionFlow("b", "/b", "b1"),
	})
	fx.remove("b.yaml")
	fx.write("a.yaml", versionFlow("a", "/a", "a2"))
	res := fx.r.Reload()
	fx.wantRefused(res, map[string]string{"b": "removed"})
	if !res.WouldStop[0].Removed {
		t.Errorf("b: Removed = false")
	}
	// Nothing of the new set is swapped in: b serves, a is still a1.
	if code, body := fx.get("/b"); code != 200 || !strings.Contains(body, "b1") {
		t.Errorf("GET /b = %d %q, want the running version", code, body)
	}
	if _, body := fx.get("/a"); !strings.Contains(body, "a1") {
		t.Errorf("GET /a = %q, want a1: a refused reload swaps nothing in", body)
	}

	// Forced, it is applied and says what it stopped.
	res = fx.r.ReloadWith(runtime.ReloadOptions{Force: true})
	fx.wantOK(res)
	if !res.Forced || len(res.Stopped) != 1 || res.Stopped[0].ID != "b" || !res.Stopped[0].Removed {
		t.Fatalf("forced reload: %+v, want b stopped", res)
	}
	if code, _ := fx.get("/b"); code != 404 {
		t.Errorf("GET /b after the forced reload = %d, want 404", code)
	}
	if _, body := fx.get("/a"); !strings.Contains(body, "a2") {
		t.Errorf("GET /a = %q, want a2", body)
	}
	// The next reload has nothing to refuse.
	fx.wantOK(fx.r.Reload())
}

func TestReloadRefusesToDisableARunningFlow(t *testing.T) {
	fx := newReloadFixture(t, map[string]string{"GREETING": "hello"}, map[string]string{
		"greet.yaml":  envFlow("greet", "/greet", "GREETING"),
		"caller.yaml": "flow: caller\ntrigger: {http: {path: /caller, methods: [GET]}}\nsteps:\n  - call: helper\n",
		"helper.yaml": "flow: helper\nenv: {GREETING: }\ntrigger: {call: {}}\nsteps:\n  - set: {body: 'via ${env.GREETING}'}\n",
		"plain.yaml":  versionFlow("plain", "/plain", "p1"),
	})
	fx.wantServing("/greet", "hello")
	fx.wantServing("/caller", "via hello")

	// The variable is gone: every flow that needs it (and the caller of
	// one) would be disabled. Refused; they keep serving the old value.
	fx.setVars(map[string]string{})
	fx.wantRefused(fx.r.Reload(), map[string]string{
		"greet":  "missing variables: GREETING",
		"helper": "missing variables: GREETING",
		"caller": "calls helper",
	})
	fx.wantServing("/greet", "hello")
	fx.wantServing("/caller", "via hello")
	for _, id := range []string{"greet", "helper", "caller"} {
		if why := fx.rt.NotStarted(id); why != "" {
			t.Errorf("%s not started after a refused reload: %s", id, why)
		}
	}

	// A new value is fine: the env is read at every reload.
	fx.setVars(map[string]string{"GREETING": "bonjour"})
	fx.wantOK(fx.r.Reload())
	fx.wantServing("/greet", "bonjour")

	// Forced, the flows are disabled and the rest runs on.
	fx.setVars(map[string]string{})
	res := fx.r.ReloadWith(runtime.ReloadOptions{Force: true})
	fx.wantOK(res)
	if len(res.Stopped) != 3 {
		t.Errorf("stopped %+v, want greet, helper and caller", res.Stopped)
	}
	if code, _ := fx.get("/greet"); code == 200 {
		t.Errorf("GET /greet answered 200 after it was disabled")
	}
	if why := fx.rt.NotStarted("greet"); !strings.Contains(why, "GREETING") {
		t.Errorf("NotStarted(greet) = %q", why)
	}
	fx.wantServingJSON("/plain", "p1")
}

func TestReloadLetsADisabledFlowStayDisabledAndAddsFlows(t *testing.T) {
	fx := newReloadFixture(t, map[string]string{}, map[string]string{
		"greet.yaml": envFlow("greet", "/greet", "GREETING"),
		"a.yaml":     versionFlow("a", "/a", "a1"),
	})
	if why := fx.rt.NotStarted("greet"); why == "" {
		t.Fatal("greet runs without GREETING")
	}
	// greet was not running: it may stay disabled; new flows — one that
	// runs, one that is disabled — may come.
	fx.write("a.yaml", versionFlow("a", "/a", "a2"))
	fx.write("new.yaml", versionFlow("new", "/new", "n1"))
	fx.write("other.yaml", envFlow("other", "/other", "OTHER"))
	fx.wantOK(fx.r.Reload())
	fx.wantServingJSON("/new", "n1")
	fx.wantServingJSON("/a", "a2")

	// A disabled flow may also be removed without --force.
	fx.remove("greet.yaml")
	fx.wantOK(fx.r.Reload())

	// Once the variable is set, it runs (the env is read again).
	fx.setVars(map[string]string{"OTHER": "now set"})
	fx.wantOK(fx.r.Reload())
	fx.wantServing("/other", "now set")
}

func TestReloadFailsWhenTheEnvCannotBeRead(t *testing.T) {
	fx := newReloadFixture(t, map[string]string{"GREETING": "hello"}, map[string]string{
		"greet.yaml": envFlow("greet", "/greet", "GREETING"),
	})
	fx.mu.Lock()
	fx.envErr = &flow.Error{Pos: flow.Pos{File: "/etc/stride/stride.env"}, Msg: "cannot read the env file (--env-file): no such file or directory"}
	fx.mu.Unlock()
	res := fx.r.ReloadWith(runtime.ReloadOptions{Force: true}) // force does not apply what could not be read
	if res.OK || res.Result != runtime.ResultFailed || res.Err == nil {
		t.Fatalf("reload = %+v, want failed", res)
	}
	if result, ok := fx.lastOutcome(); result != runtime.ResultFailed || ok {
		t.Errorf("hooks heard %q %v, want failed", result, ok)
	}
	le := fx.r.LoadErrors()
	if len(le) != 1 || le[0].Pos.File != "/etc/stride/stride.env" || !strings.Contains(le[0].Msg, "no such file") {
		t.Errorf("LoadErrors = %v, want the env file and why", le)
	}
	fx.wantServing("/greet", "hello")

	// Any other error is put at the flows directory.
	fx.mu.Lock()
	fx.envErr = errors.New("boom")
	fx.mu.Unlock()
	fx.r.Reload()
	if le := fx.r.LoadErrors(); len(le) != 1 || le[0].Pos.File != fx.dir || le[0].Msg != "boom" {
		t.Errorf("LoadErrors = %v", le)
	}
	fx.mu.Lock()
	fx.envErr = nil
	fx.mu.Unlock()
	fx.wantOK(fx.r.Reload())
}

// The admin API answers a refused reload with 409 and the flows, applies
// it with force=true, and lists the refusal in GET /admin/flows.
func TestAdminReloadRefusedAndForced(t *testing.T) {
	fx := newReloadFixture(t, map[string]string{"GREETING": "hello"}, map[string]string{
		"greet.yaml": envFlow("greet", "/greet", "GREETING"),
		"a.yaml":     versionFlow("a", "/a", "a1"),
	})
	a := admin.NewAdmin(fx.rt, "", nil)
	a.AddReload(fx.r)
	srv := httptest.NewServer(a)
	defer srv.Close()
	c := &admin.Client{Base: srv.URL}

	fx.setVars(map[string]string{})
	resp, body := do(t, "POST", srv.URL+"/admin/reload", "")
	var refused admin.ReloadRefused
	if err := json.Unmarshal([]byte(body), &refused); err != nil || resp.StatusCode != http.StatusConflict {
		t.Fatalf("refused reload: %d %s", resp.StatusCode, body)
	}
	if refused.Code != admin.CodeWouldStopFlows || len(refused.WouldStop) != 1 || refused.WouldStop[0].ID != "greet" ||
		!strings.Contains(refused.WouldStop[0].Reason, "missing variables: GREETING") || !strings.Contains(refused.Message, "--force") ||
		len(refused.Errors) != 1 || !strings.Contains(refused.Status, "keep serving") {
		t.Errorf("409 answer: %s", body)
	}
	_, err := c.Reload(t.Context())
	var ae *admin.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusConflict || ae.Code != admin.CodeWouldStopFlows || len(ae.WouldStop) != 1 || ae.WouldStop[0].ID != "greet" {
		t.Fatalf("client: %v %+v", err, ae)
	}
	fx.wantServing("/greet", "hello")
	flows, err := c.Flows(t.Context())
	if err != nil || len(flows.Errors) != 1 || !strings.Contains(flows.Errors[0].Message, "reload refused") {
		t.Errorf("GET /admin/flows after a refusal: %+v %v", flows, err)
	}

	if resp, body := do(t, "POST", srv.URL+"/admin/reload?force=maybe", ""); resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, admin.CodeBadRequest) {
		t.Errorf("force=maybe: %d %s", resp.StatusCode, body)
	}
	if resp, _ := do(t, "POST", srv.URL+"/admin/reload?force=false", ""); resp.StatusCode != http.StatusConflict {
		t.Errorf("force=false: %d, want 409", resp.StatusCode)
	}
	out, err := c.ReloadWith(t.Context(), admin.ReloadQuery{Force: true})
	if err != nil || out.Status != "reloaded" || !out.Forced || len(out.Stopped) != 1 || out.Stopped[0].ID != "greet" || out.Versions["a"] == "" {
		t.Fatalf("forced reload: %+v %v", out, err)
	}
	if flows, _ := c.Flows(t.Context()); len(flows.Errors) != 0 {
		t.Errorf("errors after the forced reload: %+v", flows.Errors)
	}
	// A plain good reload carries neither forced nor stopped.
	_, body = do(t, "POST", srv.URL+"/admin/reload", "")
	if strings.Contains(body, "forced") || strings.Contains(body, "stopped") {
		t.Errorf("a plain reload's answer: %s", body)
	}
}
