package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Real-process tests of reload safety: the env file is read again at
// every reload, and a reload that would stop a running flow is refused
// unless forced.

// envEchoFlow answers GET path with the variable name, which it requires.
func envEchoFlow(id, path, name string) string {
	return "flow: " + id + "\nenv: {" + name + ": }\ntrigger: {http: {path: " + path + ", methods: [GET]}}\n" +
		"steps:\n  - respond: {status: 200, body: '${env." + name + "}'}\n"
}

// postReload sends POST /admin/reload (with a query such as "?force=true")
// and returns the status and body.
func postReload(t *testing.T, admin, query string) (int, []byte) {
	t.Helper()
	resp, err := httpClient.Post("http://"+admin+"/admin/reload"+query, "application/json", nil)
	if err != nil {
		t.Fatalf("POST /admin/reload: %v", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("POST /admin/reload: %v", err)
	}
	return resp.StatusCode, body
}

// waitBody polls GET url until it answers 200 with want.
func waitBody(t *testing.T, url, want, what string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		status, _, body := get(t, url)
		if status == http.StatusOK && string(body) == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: GET %s = %d %q, want 200 %q", what, url, status, body, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestReloadReadsTheEnvFileAgain: an env file edited, then SIGHUP or POST
// /admin/reload, changes what the flows see without a restart; the
// process environment still wins; an env file gone fails the reload and
// the running flows keep serving.
func TestReloadReadsTheEnvFileAgain(t *testing.T) {
	dir := t.TempDir()
	flows, envFile := filepath.Join(dir, "flows"), filepath.Join(dir, "stride.env")
	writeFiles(t, dir, map[string]string{
		"flows/greet.yaml": envEchoFlow("greet", "/greet", "RELOAD_GREETING"),
		"flows/late.yaml":  envEchoFlow("late", "/late", "RELOAD_LATE"),
		"flows/fixed.yaml": envEchoFlow("fixed", "/fixed", "RELOAD_FIXED"),
		"stride.env":       "RELOAD_GREETING=one\nRELOAD_FIXED=from file\n",
	})
	p := startStride(t, flows, []string{"RELOAD_FIXED=from process"}, "--env-file", envFile)
	p.waitHealthy(t)
	app := "http://" + p.addr
	waitBody(t, app+"/greet", "one", "at start")
	waitBody(t, app+"/fixed", "from process", "at start")
	if status, _, _ := get(t, app+"/late"); status == http.StatusOK {
		t.Fatalf("late runs without RELOAD_LATE")
	}

	// SIGHUP reads the edited file.
	writeFile(t, envFile, "RELOAD_GREETING=two\nRELOAD_FIXED=from file 2\n")
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitBody(t, app+"/greet", "two", "after SIGHUP")
	waitBody(t, app+"/fixed", "from process", "the process environment wins")

	// A variable added to the file starts the flow that needed it.
	writeFile(t, envFile, "RELOAD_GREETING=three\nRELOAD_LATE=now set\n")
	if status, body := postReload(t, p.admin, ""); status != http.StatusOK {
		t.Fatalf("POST /admin/reload: %d %s", status, body)
	}
	waitBody(t, app+"/greet", "three", "after POST /admin/reload")
	waitBody(t, app+"/late", "now set", "a variable added to the env file")

	// The env file gone: the reload fails with the reason, stride status
	// says so and exits 1, the flows keep serving.
	if err := os.Rename(envFile, envFile+".moved"); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := runCmd("reload", "--admin-addr", p.admin)
	if code != 1 || !strings.Contains(errOut, envFile) || !strings.Contains(errOut, "cannot read the env file") || !strings.Contains(errOut, "keep serving") {
		t.Fatalf("reload without the env file: %d %q", code, errOut)
	}
	if code, out, _ := runCmd("status", "--admin-addr", p.admin); code != 1 || !strings.Contains(out, envFile+": cannot read the env file") {
		t.Fatalf("status after the failed reload: %d %q", code, out)
	}
	waitBody(t, app+"/greet", "three", "after a failed reload")
	if err := os.Rename(envFile+".moved", envFile); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runCmd("reload", "--admin-addr", p.admin); code != 0 || !strings.Contains(out, "reloaded 3 flows") {
		t.Fatalf("reload with the env file back: %d %q %q", code, out, errOut)
	}
	if code, out, _ := runCmd("status", "--admin-addr", p.admin); code != 0 {
		t.Fatalf("status after a good reload: %d %q", code, out)
	}
}

// TestReloadRefusesToStopRunningFlows: a variable removed from the env
// file would disable a running flow, a flow file removed would stop its
// flow. Every reload (POST, stride reload, SIGHUP, the watcher) refuses
// and the flows keep answering; stride status and stride reload exit 1;
// stride reload --force applies it.
func TestReloadRefusesToStopRunningFlows(t *testing.T) {
	dir := t.TempDir()
	flows, envFile := filepath.Join(dir, "flows"), filepath.Join(dir, "stride.env")
	writeFiles(t, dir, map[string]string{
		"flows/greet.yaml": envEchoFlow("greet", "/greet", "RELOAD_GREETING"),
		"flows/other.yaml": envEchoFlow("other", "/other", "RELOAD_OTHER"),
		"stride.env":       "RELOAD_GREETING=hello\nRELOAD_OTHER=other\n",
	})
	p := startStride(t, flows, nil, "--env-file", envFile)
	p.waitHealthy(t)
	app := "http://" + p.addr
	waitBody(t, app+"/greet", "hello", "at start")

	writeFile(t, envFile, "RELOAD_OTHER=other 2\n")
	status, body := postReload(t, p.admin, "")
	var refused struct {
		Error     string `json:"error"`
		Code      string `json:"code"`
		WouldStop []struct {
			ID, File, Reason string
		} `json:"would_stop"`
	}
	if err := json.Unmarshal(body, &refused); err != nil || status != http.StatusConflict || refused.Code != "would_stop_flows" ||
		len(refused.WouldStop) != 1 || refused.WouldStop[0].ID != "greet" || !strings.Contains(refused.WouldStop[0].Reason, "RELOAD_GREETING") ||
		!strings.Contains(refused.Error, "--force") {
		t.Fatalf("POST /admin/reload: %d %s, want 409 would_stop_flows naming greet and RELOAD_GREETING", status, body)
	}
	waitBody(t, app+"/greet", "hello", "after a refused reload")
	waitBody(t, app+"/other", "other", "a refused reload swaps nothing in")
	if !strings.Contains(p.stderr.String(), "reload refused") {
		t.Errorf("the refusal is not logged:\n%s", p.stderr.String())
	}

	code, _, errOut := runCmd("reload", "--admin-addr", p.admin)
	if code != 1 || !strings.Contains(errOut, "refused") || !strings.Contains(errOut, "greet") ||
		!strings.Contains(errOut, "missing variables: RELOAD_GREETING") || !strings.Contains(errOut, "--force") {
		t.Fatalf("stride reload: %d %q, want exit 1 naming greet, the variable and --force", code, errOut)
	}
	code, out, _ := runCmd("status", "--admin-addr", p.admin)
	if code != 1 || !strings.Contains(out, "reload refused: flow greet would stop") || !strings.Contains(out, "greet.yaml") {
		t.Fatalf("stride status after a refusal: %d %q, want exit 1 showing it", code, out)
	}

	// SIGHUP is never forced: refused again, logged, greet serves on.
	before := strings.Count(p.stderr.String(), "reload refused;")
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for strings.Count(p.stderr.String(), "reload refused;") == before {
		if time.Now().After(deadline) {
			t.Fatalf("SIGHUP: no refusal logged:\n%s", p.stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(p.stderr.String(), "by=SIGHUP") {
		t.Errorf("the SIGHUP refusal does not say so:\n%s", p.stderr.String())
	}
	waitBody(t, app+"/greet", "hello", "after SIGHUP")

	// Forced: greet is disabled (it says why), other gets its new value.
	code, out, errOut = runCmd("reload", "--force", "--admin-addr", p.admin)
	if code != 0 || !strings.Contains(out, "reloaded 2 flows") || !strings.Contains(out, "stopped flow greet") {
		t.Fatalf("stride reload --force: %d %q %q", code, out, errOut)
	}
	if status, _, _ := get(t, app+"/greet"); status == http.StatusOK {
		t.Errorf("GET /greet = 200 after the forced reload disabled it")
	}
	waitBody(t, app+"/other", "other 2", "after the forced reload")
	code, out, _ = runCmd("status", "--admin-addr", p.admin)
	if code != 0 || !strings.Contains(out, "disabled (missing variables: RELOAD_GREETING)") {
		t.Fatalf("stride status after the forced reload: %d %q", code, out)
	}

	// A flow file removed: the watcher refuses, the flow keeps answering,
	// stride status exits 1 and says it was removed; --force removes it.
	if err := os.Remove(filepath.Join(flows, "other.yaml")); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(10 * time.Second)
	for {
		code, out, _ = runCmd("status", "--admin-addr", p.admin)
		if code == 1 && strings.Contains(out, "flow other would stop (removed") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the watcher did not refuse to stop other: status %d %q", code, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
	waitBody(t, app+"/other", "other 2", "after its file was removed")
	if code, _, errOut := runCmd("reload", "--admin-addr", p.admin); code != 1 || !strings.Contains(errOut, "removed") {
		t.Fatalf("stride reload after a removal: %d %q", code, errOut)
	}
	if code, out, errOut := runCmd("reload", "--force", "--admin-addr", p.admin); code != 0 || !strings.Contains(out, "stopped flow other") {
		t.Fatalf("stride reload --force after a removal: %d %q %q", code, out, errOut)
	}
	if status, _, _ := get(t, app+"/other"); status != http.StatusNotFound {
		t.Errorf("GET /other = %d after the forced removal, want 404", status)
	}
	if code, out, _ := runCmd("status", "--admin-addr", p.admin); code != 0 || strings.Contains(out, "other") {
		t.Errorf("stride status after the forced removal: %d %q", code, out)
	}
}
