package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestStatusReloadAndSIGHUP(t *testing.T) {
	flows := t.TempDir()
	file := filepath.Join(flows, "hello.yaml")
	write := func(body string) {
		if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	good := func(v string) string {
		return "flow: hello\ntrigger: {http: {path: /hello, methods: [GET]}}\nsteps:\n  - respond: {body: " + v + "}\n"
	}
	write(good("one"))
	p := startStride(t, flows, nil)
	p.waitHealthy(t)
	if code, out, errOut := runCmd("status", "--admin-addr", p.admin); code != 0 || !strings.Contains(out, "hello") || !strings.Contains(out, "running") || !strings.Contains(out, "Store: log ") {
		t.Fatalf("status: %d %q %q", code, out, errOut)
	}
	body := func() string {
		_, _, b := get(t, "http://"+p.addr+"/hello")
		return string(b)
	}

	// A broken edit: reload fails with positions; the old flow serves on.
	write("flow: hello\ntrigger: {http: {path: /hello, methods: [GET]}}\nsteps:\n  - respnd: {}\n")
	code, _, errOut := runCmd("reload", "--admin-addr", p.admin)
	if code != 1 || !strings.Contains(errOut, "hello.yaml:4:5") || !strings.Contains(errOut, `did you mean "respond"`) {
		t.Fatalf("reload of a broken file: %d %q", code, errOut)
	}
	if b := body(); b != "one" {
		t.Fatalf("old version must keep serving, got %q", b)
	}
	if code, out, _ := runCmd("status", "--admin-addr", p.admin); code != 1 || !strings.Contains(out, "hello.yaml:4:5") {
		t.Fatalf("status after a failed reload: %d %q", code, out)
	}

	// SIGHUP reloads the fixed file.
	write(good("two"))
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for body() != "two" {
		if time.Now().After(deadline) {
			t.Fatal("SIGHUP (or the watcher) did not reload")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if code, out, _ := runCmd("reload", "--admin-addr", p.admin); code != 0 || !strings.Contains(out, "reloaded 1 flows") {
		t.Fatalf("reload: %d %q", code, out)
	}
}
