package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Real-process tests of `stride run`: the binary built in TestMain, on
// loopback ports, stopped with signals.

const (
	startTimeout = 15 * time.Second // generous: the machine is shared
	exitTimeout  = 5 * time.Second  // "within a few seconds"
)

var httpClient = &http.Client{Timeout: 5 * time.Second}

// syncBuffer is a bytes.Buffer safe for the child's output copier and the
// test reading it at the same time.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type strideProc struct {
	cmd            *exec.Cmd
	stdout, stderr *syncBuffer
	done           chan struct{} // closed when the process has exited
	addr, admin    string
}

// freeAddr returns a loopback address whose port was free a moment ago.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// childEnv is the test's environment without the variables that change
// what stride run does, plus extra.
func childEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "STRIDE_") || strings.HasPrefix(name, "OTEL_") || name == "NEEDED_VAR" || name == "GREETING" || name == "FILE_ONLY" || name == "WITH_DEFAULT" {
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// startStride starts `stride run` on fresh loopback ports with the flows
// under flowsDir. args are added after the defaults (a later flag wins).
func startStride(t *testing.T, flowsDir string, env []string, args ...string) *strideProc {
	t.Helper()
	if testing.Short() {
		t.Skip("starts the stride binary; skipped with -short")
	}
	p := &strideProc{stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan struct{}), addr: freeAddr(t), admin: freeAddr(t)}
	all := append([]string{"run", "--flows", flowsDir, "--data", t.TempDir(), "--addr", p.addr, "--admin-addr", p.admin}, args...)
	p.cmd = exec.Command(strideBin, all...)
	p.cmd.Env = childEnv(env...)
	p.cmd.Stdout, p.cmd.Stderr = p.stdout, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("stride stderr:\n%s", p.stderr.String())
		}
	})
	return p
}

// wait waits up to d for the process to exit and returns its exit code.
func (p *strideProc) wait(t *testing.T, d time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(d):
		t.Fatalf("stride did not exit within %v\nstderr:\n%s", d, p.stderr.String())
		return 0
	}
}

func (p *strideProc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// waitHealthy polls GET /admin/health until it answers 200 {"status":"ok"}.
func (p *strideProc) waitHealthy(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(startTimeout)
	var last string
	for time.Now().Before(deadline) {
		if p.exited() {
			t.Fatalf("stride exited with %d before it was healthy\nstderr:\n%s", p.cmd.ProcessState.ExitCode(), p.stderr.String())
		}
		resp, err := httpClient.Get("http://" + p.admin + "/admin/health")
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var h struct {
				Status string `json:"status"`
			}
			if resp.StatusCode == http.StatusOK && json.Unmarshal(body, &h) == nil && h.Status == "ok" {
				if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
					t.Errorf("health Content-Type = %q, want application/json", ct)
				}
				return
			}
			last = resp.Status + " " + string(body)
		} else {
			last = err.Error()
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("GET /admin/health not 200 {\"status\":\"ok\"} within %v (last: %s)\nstderr:\n%s", startTimeout, last, p.stderr.String())
}

// get sends a GET with optional headers (name, value, ...) and returns
// the status and body.
func get(t *testing.T, url string, header ...string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, resp.Header, body
}

type flowStatus struct {
	ID      string `json:"id"`
	File    string `json:"file"`
	Version string `json:"version"`
	Trigger string `json:"trigger"`
	Status  string `json:"status"`
	Reason  string `json:"reason"`
}

type flowsAnswer struct {
	Flows  []flowStatus      `json:"flows"`
	Errors []json.RawMessage `json:"errors"`
}

// adminFlows calls GET /admin/flows and decodes the answer.
func (p *strideProc) adminFlows(t *testing.T, header ...string) map[string]flowStatus {
	t.Helper()
	status, _, body := get(t, "http://"+p.admin+"/admin/flows", header...)
	if status != http.StatusOK {
		t.Fatalf("GET /admin/flows: %d %s", status, body)
	}
	var ans flowsAnswer
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ans); err != nil {
		t.Fatalf("GET /admin/flows: %v in %s", err, body)
	}
	if ans.Flows == nil || ans.Errors == nil {
		t.Errorf("GET /admin/flows: flows and errors must be lists, even empty: %s", body)
	}
	if len(ans.Errors) != 0 {
		t.Errorf("GET /admin/flows: errors after a good load: %s", body)
	}
	out := map[string]flowStatus{}
	for _, f := range ans.Flows {
		out[f.ID] = f
	}
	return out
}

// lastLine returns the last non-empty line of s.
func lastLine(s string) string {
	l := lines(strings.TrimRight(s, "\n"))
	if len(l) == 0 {
		return ""
	}
	return l[len(l)-1]
}

var hexVersion = regexp.MustCompile(`^[0-9a-f]{8,}$`)

func TestRunServesAndShutsDownOnSIGTERM(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"hello.yaml": "flow: hello\ntrigger: {http: {path: '/hello/{name}', methods: [GET]}}\nsteps:\n" +
			"  - respond: {status: 200, body: 'hello ${request.params.name}', headers: {X-Flow: hello}}\n",
		"sub/empty.yaml":   httpFlow("empty", "/empty"),
		"hello.test.yaml":  "not: [a flow\n",
		"mapping.map.yaml": "\tnot yaml\n",
	})
	p := startStride(t, dir, nil)
	p.waitHealthy(t)

	status, hdr, body := get(t, "http://"+p.addr+"/hello/ada")
	if status != http.StatusOK || string(body) != "hello ada" {
		t.Errorf("GET /hello/ada = %d %q, want 200 %q", status, body, "hello ada")
	}
	if hdr.Get("X-Flow") != "hello" || hdr.Get("X-Stride-Message-Id") == "" {
		t.Errorf("GET /hello/ada headers = %v, want X-Flow and X-Stride-Message-Id", hdr)
	}
	if status, _, _ := get(t, "http://"+p.addr+"/empty"); status != http.StatusNoContent {
		t.Errorf("GET /empty = %d, want 204", status)
	}
	if status, _, _ := get(t, "http://"+p.addr+"/nothing-here"); status != http.StatusNotFound {
		t.Errorf("GET /nothing-here = %d, want 404", status)
	}

	flows := p.adminFlows(t)
	if len(flows) != 2 {
		t.Errorf("GET /admin/flows lists %d flows, want hello and empty (no .test.yaml/.map.yaml): %v", len(flows), flows)
	}
	for id, file := range map[string]string{"hello": "hello.yaml", "empty": filepath.Join("sub", "empty.yaml")} {
		f, ok := flows[id]
		if !ok {
			t.Errorf("flow %s is not listed", id)
			continue
		}
		if f.File != filepath.Join(dir, file) {
			t.Errorf("flow %s file = %q, want %q", id, f.File, filepath.Join(dir, file))
		}
		if !hexVersion.MatchString(f.Version) {
			t.Errorf("flow %s version = %q, want a content hash", id, f.Version)
		}
		if f.Trigger != "http" || f.Status != "running" || f.Reason != "" {
			t.Errorf("flow %s = %+v, want trigger http, status running, no reason", id, f)
		}
	}
	if flows["hello"].Version == flows["empty"].Version {
		t.Errorf("two different files have the same version %q", flows["hello"].Version)
	}

	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t, exitTimeout); code != 0 {
		t.Errorf("exit %d after SIGTERM, want 0\nstderr:\n%s", code, p.stderr.String())
	}
	if _, err := net.DialTimeout("tcp", p.addr, time.Second); err == nil {
		t.Errorf("%s still accepts connections after stride exited", p.addr)
	}
}

func TestRunShutsDownOnSIGINT(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"a.yaml": httpFlow("a", "/a")})
	p := startStride(t, dir, nil)
	p.waitHealthy(t)
	if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t, exitTimeout); code != 0 {
		t.Errorf("exit %d after SIGINT, want 0", code)
	}
}

func TestRunInvalidFlowsNeverListens(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"good.yaml": httpFlow("good", "/good"),
		"bad.yaml":  "flow: bad\ntrigger: {http: {path: /bad, methods: [GET]}}\nsteps:\n  - respnd: {status: 204}\n",
	})
	p := startStride(t, dir, nil)

	// Until it exits, neither port may accept a connection.
	for !p.exited() {
		for _, a := range []string{p.addr, p.admin} {
			if c, err := net.DialTimeout("tcp", a, 100*time.Millisecond); err == nil {
				c.Close()
				t.Fatalf("stride listens on %s although its flows are invalid", a)
			}
		}
		select {
		case <-p.done:
		case <-time.After(5 * time.Millisecond):
		}
	}
	code := p.wait(t, startTimeout)
	if code == 0 {
		t.Error("exit 0 with invalid flows, want non-zero")
	}
	stderr := p.stderr.String()
	assertNoPanic(t, stderr)
	if want := filepath.Join(dir, "bad.yaml") + `:4:5: unknown step kind "respnd"`; !strings.Contains(stderr, want) {
		t.Errorf("stderr does not report %q:\n%s", want, stderr)
	}
	reason := lastLine(stderr)
	if !strings.HasPrefix(reason, "stride run: ") || !strings.Contains(reason, "invalid") || !strings.Contains(reason, dir) {
		t.Errorf("last line = %q, want a one-line reason naming %s", reason, dir)
	}
	if strings.Contains(stderr, "stride running") {
		t.Errorf("stride reported running:\n%s", stderr)
	}
	if p.stdout.String() != "" {
		t.Errorf("stdout = %q, want nothing", p.stdout.String())
	}
}

func TestRunFlowsDirMissing(t *testing.T) {
	t.Parallel()
	missing := filepath.Join(t.TempDir(), "nowhere")
	p := startStride(t, missing, nil)
	if code := p.wait(t, startTimeout); code == 0 {
		t.Error("exit 0 with a missing flows directory")
	}
	if reason := lastLine(p.stderr.String()); !strings.HasPrefix(reason, "stride run: ") || !strings.Contains(reason, missing) {
		t.Errorf("last line = %q, want a reason naming %s", reason, missing)
	}
}

func TestRunPortTaken(t *testing.T) {
	for _, flagName := range []string{"--addr", "--admin-addr"} {
		t.Run(flagName, func(t *testing.T) {
			t.Parallel()
			held, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer held.Close()
			taken := held.Addr().String()
			dir := t.TempDir()
			writeFiles(t, dir, map[string]string{"a.yaml": httpFlow("a", "/a")})
			p := startStride(t, dir, nil, flagName, taken)
			code := p.wait(t, startTimeout)
			if code == 0 {
				t.Errorf("exit 0 with %s %s taken, want non-zero", flagName, taken)
			}
			stderr := p.stderr.String()
			assertNoPanic(t, stderr)
			out := lines(stderr)
			if len(out) != 1 {
				t.Errorf("want exactly one line on stderr, got %d:\n%s", len(out), stderr)
			}
			reason := lastLine(stderr)
			if !strings.HasPrefix(reason, "stride run: ") || !strings.Contains(reason, flagName+" "+taken) {
				t.Errorf("reason = %q, want a line naming %s %s", reason, flagName, taken)
			}
		})
	}
}

func TestRunDisablesFlowWithMissingVariable(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"needy.yaml": needyFlow,
		"plain.yaml": httpFlow("plain", "/plain"),
		"caller.yaml": "flow: caller\ntrigger: {http: {path: /caller, methods: [GET]}}\nsteps:\n" +
			"  - call: callee\n",
		"callee.yaml": "flow: callee\nenv: {NEEDED_VAR: }\ntrigger: {call: {}}\nsteps:\n  - set: {body: '${env.NEEDED_VAR}'}\n",
	})
	p := startStride(t, dir, nil)
	p.waitHealthy(t)

	if status, _, _ := get(t, "http://"+p.addr+"/plain"); status != http.StatusNoContent {
		t.Errorf("GET /plain = %d, want 204 from the running flow", status)
	}
	if status, _, body := get(t, "http://"+p.addr+"/needy"); status < 400 {
		t.Errorf("GET /needy = %d %q, want an error: the flow is disabled", status, body)
	}
	flows := p.adminFlows(t)
	if f := flows["plain"]; f.Status != "running" || f.Reason != "" {
		t.Errorf("plain = %+v, want running", f)
	}
	for _, id := range []string{"needy", "callee", "caller"} {
		if f := flows[id]; f.Status != "disabled" || !strings.Contains(f.Reason, "NEEDED_VAR") {
			t.Errorf("%s = %+v, want disabled with a reason naming NEEDED_VAR", id, f)
		}
	}
	if !strings.Contains(flows["caller"].Reason, "callee") {
		t.Errorf("caller's reason %q does not name callee", flows["caller"].Reason)
	}
	// The log says which variables are missing.
	stderr := p.stderr.String()
	for _, id := range []string{"needy", "callee", "caller"} {
		if !regexp.MustCompile(`flow not started.*flow=` + id + `\b.*NEEDED_VAR`).MatchString(stderr) {
			t.Errorf("no log line about flow %s and NEEDED_VAR:\n%s", id, stderr)
		}
	}
	// A warning for each cause, an info line for what only depends on one.
	if !strings.Contains(stderr, `level=WARN msg="flow not started" flow=callee`) || !strings.Contains(stderr, `level=INFO msg="flow not started" flow=caller`) {
		t.Errorf("want a WARN for callee (its own cause) and an INFO for caller (it calls callee):\n%s", stderr)
	}
}

func TestRunEnvFileAndProcessEnv(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"flows/greet.yaml": "flow: greet\nenv: {GREETING: , FILE_ONLY: , WITH_DEFAULT: fallback}\n" +
			"trigger: {http: {path: /greet, methods: [GET]}}\nsteps:\n" +
			"  - respond: {status: 200, body: '${env.GREETING}|${env.FILE_ONLY}|${env.WITH_DEFAULT}'}\n",
		"stride.env": "# shared settings\n\nexport GREETING=\"from file\"\nFILE_ONLY='only in file'\n",
	})
	flows, envFile := filepath.Join(dir, "flows"), filepath.Join(dir, "stride.env")
	p := startStride(t, flows, []string{"GREETING=from process"}, "--env-file", envFile)
	p.waitHealthy(t)
	status, _, body := get(t, "http://"+p.addr+"/greet")
	if want := "from process|only in file|fallback"; status != http.StatusOK || string(body) != want {
		t.Errorf("GET /greet = %d %q, want 200 %q (process beats file, file fills the rest, defaults last)", status, body, want)
	}
}

func TestRunAdminToken(t *testing.T) {
	t.Parallel()
	const token = "test-admin-token-1234"
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{"a.yaml": httpFlow("a", "/a")})
	p := startStride(t, dir, []string{"STRIDE_ADMIN_TOKEN=" + token})
	p.waitHealthy(t) // without a token

	url := "http://" + p.admin + "/admin/flows"
	for _, c := range []struct {
		name   string
		header []string
	}{
		{"no header", nil},
		{"wrong token", []string{"Authorization", "Bearer wrong"}},
		{"no Bearer", []string{"Authorization", token}},
		{"token prefix", []string{"Authorization", "Bearer " + token[:len(token)-1]}},
	} {
		status, hdr, body := get(t, url, c.header...)
		if status != http.StatusUnauthorized {
			t.Errorf("%s: GET /admin/flows = %d, want 401", c.name, status)
		}
		if strings.Contains(string(body), `"flows"`) {
			t.Errorf("%s: the 401 leaks the flows: %s", c.name, body)
		}
		if !strings.HasPrefix(hdr.Get("WWW-Authenticate"), "Bearer") {
			t.Errorf("%s: WWW-Authenticate = %q, want Bearer", c.name, hdr.Get("WWW-Authenticate"))
		}
	}
	flows := p.adminFlows(t, "Authorization", "Bearer "+token)
	if f := flows["a"]; f.Status != "running" {
		t.Errorf("with the token: flow a = %+v, want running", f)
	}
	// The token guards the admin API, not the flows.
	if status, _, _ := get(t, "http://"+p.addr+"/a"); status != http.StatusNoContent {
		t.Errorf("GET /a = %d, want 204 without any token", status)
	}
}
