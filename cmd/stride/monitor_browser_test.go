package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stride-engine/stride/internal/demo"
	"github.com/stride-engine/stride/sandbox"
)

// The monitor page in a real headless Chromium, driven by chromedp: the
// stride binary on loopback, the browser on loopback, nothing else.
// Without a Chromium the tests skip and say so; CI installs one (.ci/run).
// With STRIDE_SCREENSHOTS=DIR they save PNGs of the pages they pass
// (`make screenshots` writes docs/screenshots).

const (
	browserTimeout = 60 * time.Second // the whole walk
	stepTimeout    = 10 * time.Second // one step, which takes well under a second
)

// chromium returns the browser to drive: $STRIDE_CHROMIUM, or the first
// Chromium or Chrome on the PATH or at Debian's place.
func chromium() string {
	if p := os.Getenv("STRIDE_CHROMIUM"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "/usr/bin/chromium"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// newBrowser starts a headless Chromium with a fresh profile and no
// background traffic, for one test; it ends with the test.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	if testing.Short() {
		t.Skip("starts stride and a browser; skipped with -short")
	}
	path := chromium()
	if path == "" {
		t.Skip("no Chromium found (install the chromium package or set STRIDE_CHROMIUM): the monitor's browser tests did not run")
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("disable-default-apps", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 860),
	}
	ctx, cancelTimeout := context.WithTimeout(context.Background(), browserTimeout)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
		cancelTimeout()
	})
	if err := chromedp.Do(bctx); err != nil { // starts the browser
		t.Fatalf("starting %s: %v", path, err)
	}
	return bctx
}

// browse runs browser actions, failing the test with what was being done
// and what the browser showed.
func browse(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(sctx, actions...); err != nil {
		browserFailed(t, ctx, what, err)
	}
}

// read runs one browser action that returns a value.
func read[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(sctx, a)
	if err != nil {
		browserFailed(t, ctx, what, err)
	}
	return v
}

func browserFailed(t *testing.T, ctx context.Context, what string, err error) {
	t.Helper()
	url, _ := chromedp.Run(ctx, chromedp.Location())
	text, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.body ? document.body.innerText.slice(0, 2000) : ""`))
	t.Fatalf("%s: %v\nbrowser at %s showing:\n%s", what, err, url, text)
}

// screenshot saves the viewport as DIR/name.png when STRIDE_SCREENSHOTS=DIR.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	dir := os.Getenv("STRIDE_SCREENSHOTS")
	if dir == "" {
		return
	}
	browse(t, ctx, "settle before screenshot "+name, chromedp.Sleep(150*time.Millisecond))
	png := read(t, ctx, "screenshot "+name, chromedp.CaptureScreenshot())
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// setHash moves the page to another view (the monitor routes on the URL
// fragment) and waits until it has drawn it.
func setHash(t *testing.T, ctx context.Context, hash string) {
	t.Helper()
	read(t, ctx, "open "+hash, chromedp.Evaluate[string](fmt.Sprintf(`location.hash = %q`, hash)))
	browse(t, ctx, "wait for "+hash, chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`body[data-ready=%q]`, hash))))
}

const monitorToken = "monitor-test-token-5d1f0a"

// TestMonitorInABrowser walks the operator's way through the monitor: a
// wrong token is refused, the right one logs in (the session cookie is not
// readable by scripts), the flows and a diagram with live step counts show,
// a failed message is found by filters, its trace shows the failed step,
// and replaying it (once the upstream is back) adds a COMPLETED attempt.
func TestMonitorInABrowser(t *testing.T) {
	ctx := newBrowser(t)
	var failing atomic.Bool
	failing.Store(true)
	erp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			http.Error(w, `{"error":"order rejected: customer blocked"}`, http.StatusBadRequest)
			return
		}
		w.WriteHeader(http.StatusCreated)
	}))
	t.Cleanup(erp.Close)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"intake.yaml": "flow: orders-intake\ntrigger: {http: {path: /orders, methods: [POST]}}\nsteps:\n  - enqueue: {queue: orders}\n  - respond: {status: 202}\n",
		"export.yaml": `flow: orders-export
description: Sends each order to the ERP.
env: {ERP_URL: }
log: trace
trigger:
  queue: {name: orders, retry: {max_attempts: 3, backoff: 50ms}}
steps:
  - route:
      - when: json.n > 100
        steps:
          - set: {properties: {big: true}}
      - otherwise:
          - set: {properties: {big: false}}
  - name: send-to-erp
    request: {method: POST, url: '${env.ERP_URL}/orders', body: '${body}', content_type: application/json}
on_error:
  - log: {level: error, message: 'export failed: ${error.message}'}
`,
	})
	writeFiles(t, dir, map[string]string{"needs-var.yaml": "flow: needs-var\nenv: {NEEDED_VAR: }\ntrigger: {http: {path: /needs}}\nsteps:\n  - respond: {status: 200, body: '${env.NEEDED_VAR}'}\n"})
	p := startStride(t, dir, []string{"STRIDE_ADMIN_TOKEN=" + monitorToken, "ERP_URL=" + erp.URL})
	p.waitHealthy(t)
	// A file that fails to load: the running flows keep serving, and the
	// flows page says where and why.
	writeFiles(t, dir, map[string]string{"broken.yaml": "flow: broken\ntrigger: {http: {path: /broken}}\nsteps:\n  - sett: {}\n"})
	if code, _ := post(t, "http://"+p.admin+"/admin/reload", "", "Authorization", "Bearer "+monitorToken); code != http.StatusUnprocessableEntity {
		t.Fatalf("reload with a broken file: %d, want 422", code)
	}
	post(t, "http://"+p.addr+"/orders", `{"n": 7}`)
	waitDead(t, p, "orders", 1)
	failing.Store(false)
	for _, n := range []int{1, 200} {
		post(t, "http://"+p.addr+"/orders", fmt.Sprintf(`{"n": %d}`, n))
	}
	base := "http://" + p.admin

	start := time.Now()
	css := func(sel string) chromedp.CSS { return chromedp.CSS(sel) }
	browse(t, ctx, "a wrong token",
		chromedp.Navigate(base+"/"),
		chromedp.WaitVisible(css(`#token`)),
		chromedp.SendKeys(css(`#token`), "not-the-token"),
		chromedp.Click(css(`#login-submit`)),
		chromedp.WaitVisible(css(`#login-error`)))
	if text := read(t, ctx, "login error", chromedp.Text(css(`#login-error`))); !strings.Contains(text, "not the admin token") {
		t.Fatalf("after a wrong token the login page says %q", text)
	}
	screenshot(t, ctx, "login")
	browse(t, ctx, "log in",
		chromedp.SendKeys(css(`#token`), monitorToken),
		chromedp.Click(css(`#login-submit`)),
		chromedp.WaitVisible(css(`tr[data-flow="orders-export"]`)))
	if cookies := read(t, ctx, "cookies", chromedp.Evaluate[string](`document.cookie`)); cookies != "" {
		t.Errorf("scripts can read cookies %q; the session cookie must be HttpOnly", cookies)
	}
	text := read(t, ctx, "flows page", chromedp.Text(css(`main`)))
	for _, want := range []string{"orders-intake", "running", "needs-var", "disabled", "missing variables: NEEDED_VAR", "broken.yaml:4:5", `unknown step kind "sett"`} {
		if !strings.Contains(text, want) {
			t.Errorf("flows page lacks %q:\n%s", want, text)
		}
	}
	if html := read(t, ctx, "page source", chromedp.OuterHTML(css(`html`))); strings.Contains(html, monitorToken) {
		t.Fatal("the admin token is in the page")
	}
	screenshot(t, ctx, "flows")

	browse(t, ctx, "open the diagram",
		chromedp.Click(css(`tr[data-flow="orders-export"] a`)),
		chromedp.WaitVisible(css(`#diagram .node.has-errors`)),
		chromedp.Click(css(`#diagram .node.has-errors .head`)))
	text = read(t, ctx, "diagram", chromedp.Text(css(`#diagram`)))
	for _, want := range []string{"queue", "route", "when json.n > 100", "otherwise", "send-to-erp", "export.yaml:15", "on_error", "${env.ERP_URL}/orders"} {
		if !strings.Contains(strings.ToLower(text), strings.ToLower(want)) {
			t.Errorf("diagram lacks %q:\n%s", want, text)
		}
	}
	if counts := read(t, ctx, "the failed step's counts", chromedp.Text(css(`#diagram .node.has-errors .counts`))); !strings.Contains(counts, "1 error") || strings.Contains(counts, "1 errors") {
		t.Errorf("send-to-erp counts %q, want its one error", counts)
	}
	screenshot(t, ctx, "diagram")

	setHash(t, ctx, "#/messages")
	browse(t, ctx, "filter the messages",
		chromedp.SetValue(css(`#f-flow`), "orders-export"),
		chromedp.SetValue(css(`#f-status`), "FAILED"),
		chromedp.Click(css(`#f-apply`)),
		chromedp.WaitVisible(css(`body[data-ready^="#/messages?"] tr[data-id]`)))
	rows := read(t, ctx, "rows", chromedp.Evaluate[int](`document.querySelectorAll('tr[data-id]').length`))
	if text := read(t, ctx, "messages", chromedp.Text(css(`main table`))); rows != 1 || !strings.Contains(text, "FAILED") {
		t.Fatalf("failed messages of orders-export: %d rows: %q", rows, text)
	}
	screenshot(t, ctx, "messages")

	browse(t, ctx, "open the trace",
		chromedp.Click(css(`tr[data-id] a`)),
		chromedp.WaitVisible(css(`section.attempt[data-status="FAILED"]`)))
	text = read(t, ctx, "trace", chromedp.Text(css(`main`)))
	for _, want := range []string{"send-to-erp", "export.yaml:15", "answered 400", "payload snapshot", `{"n": 7}`} {
		if !strings.Contains(strings.ToLower(text), strings.ToLower(want)) {
			t.Errorf("trace lacks %q:\n%s", want, text)
		}
	}
	screenshot(t, ctx, "trace")

	browse(t, ctx, "replay it and see the new attempt",
		chromedp.Click(css(`#replay`)),
		chromedp.WaitVisible(css(`#replayed`)),
		chromedp.WaitVisible(css(`section.attempt[data-status="COMPLETED"]`)))
	screenshot(t, ctx, "trace-replayed")

	// A message of a flow at the default log level that went well: one
	// compact entry, no steps, and the page says why.
	setHash(t, ctx, "#/messages?flow=orders-intake")
	browse(t, ctx, "open a message that went well",
		chromedp.WaitVisible(css(`body[data-ready^="#/messages?"] tr[data-id]`)),
		chromedp.Click(css(`tr[data-id] a`)),
		chromedp.WaitVisible(css(`section.attempt[data-status="COMPLETED"] #no-steps`)))
	if n := read(t, ctx, "its steps", chromedp.Evaluate[int](`document.querySelectorAll('tr.trace').length`)); n != 0 {
		t.Errorf("a completed message of a flow at log level info shows %d steps", n)
	}

	setHash(t, ctx, "#/queues")
	browse(t, ctx, "queues", chromedp.WaitVisible(css(`tr[data-queue="orders"]`)))
	screenshot(t, ctx, "queues")
	t.Logf("browser walk: %v", time.Since(start).Round(time.Millisecond))
}

// waitDead waits until queue has n dead letters.
func waitDead(t *testing.T, p *strideProc, queue string, n int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	want := fmt.Sprintf(`"dead": %d`, n)
	for time.Now().Before(deadline) {
		if _, _, body := get(t, "http://"+p.admin+"/admin/queues", "Authorization", "Bearer "+monitorToken); strings.Contains(string(body), want) {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("queue %s never had %d dead letters\nstderr:\n%s", queue, n, p.stderr.String())
}

// TestConsentChainInABrowser: for Fitbit and for Google Health, the
// browser opens the shipped connect flow, passes the provider's consent
// page (the sandbox's), lands on the callback's Connected page, and the
// user is a contact in the Marketing Cloud fake.
func TestConsentChainInABrowser(t *testing.T) {
	ctx := newBrowser(t)
	e, err := demo.Start(strideBin, "../../flows", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		e.Stop()
		if t.Failed() {
			t.Logf("stride's log:\n%s", e.Log())
		}
	})
	for _, c := range []struct {
		provider, connect, user, callback, origin string
		approve                                   func(sandbox.Approval)
		contactID                                 func() string
	}{
		{"fitbit", "/fitbit/connect", "BROWSER1", "/fitbit/callback", "FITBIT", e.Fitbit.QueueApproval, func() string { return "BROWSER1" }},
		// NOVA7 never had a Fitbit account: the contact is the Google
		// Health user's.
		{"google-health", "/google-health/connect", "NOVA7", "/google-health/callback", "GOOGLE_HEALTH", e.Google.QueueApproval,
			func() string { return e.Google.HealthUserID("NOVA7") }},
	} {
		t.Run(c.provider, func(t *testing.T) {
			c.approve(sandbox.Approval{User: c.user, Page: true})
			start := time.Now()
			// connect → the provider's consent page (the user and the
			// scopes asked for), where the user clicks Allow.
			browse(t, ctx, "connect "+c.provider,
				chromedp.Navigate("http://"+e.Addr+c.connect),
				chromedp.WaitVisible(chromedp.CSS(`#allow`)))
			if who := read(t, ctx, "the consent page's user", chromedp.Text(chromedp.CSS(`#user`))); who != c.user {
				t.Fatalf("the consent page is for %q, want %s", who, c.user)
			}
			screenshot(t, ctx, "provider-consent-"+c.provider)
			browse(t, ctx, "allow on "+c.provider+"'s consent page",
				chromedp.Click(chromedp.CSS(`#allow`)),
				chromedp.WaitNotPresent(chromedp.CSS(`#allow`)),
				chromedp.WaitVisible(chromedp.CSS(`h1`)))
			heading := read(t, ctx, "heading", chromedp.Text(chromedp.CSS(`h1`)))
			page := read(t, ctx, "page", chromedp.Text(chromedp.CSS(`body`)))
			at := read(t, ctx, "location", chromedp.Location())
			if heading != "Connected" || !strings.HasPrefix(at, "http://"+e.Addr+c.callback+"?") {
				t.Fatalf("after consent the browser is at %s showing %q: %q", at, heading, page)
			}
			screenshot(t, ctx, "consent-"+c.provider)
			id := c.contactID()
			found := false
			for _, ct := range e.MKC.Contacts() {
				if ct.ID == id && ct.IDOrigin == c.origin {
					found = true
				}
			}
			if id == "" || !found {
				t.Errorf("no Marketing Cloud contact %q of origin %s after %s's consent: %+v", id, c.origin, c.provider, e.MKC.Contacts())
			}
			t.Logf("%s consent chain in the browser: %v", c.provider, time.Since(start).Round(time.Millisecond))
		})
	}

	// The monitor shows who is connected, never a token (the demo runs
	// without STRIDE_ADMIN_TOKEN: no login).
	browse(t, ctx, "connections",
		chromedp.Navigate("http://"+e.Admin+"/#/connections"),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-user="BROWSER1"]`)))
	row := read(t, ctx, "BROWSER1's connection", chromedp.Text(chromedp.CSS(`tr[data-user="BROWSER1"]`)))
	if !strings.Contains(row, "fitbit-users") || !strings.Contains(row, "activity") || !strings.Contains(row, "access_token") {
		t.Errorf("BROWSER1's connection reads %q; want its store, scopes and access_token among the hidden fields", row)
	}
	screenshot(t, ctx, "connections")
	read(t, ctx, "open fitbit-users", chromedp.Evaluate[string](`location.hash = "#/stores/fitbit-users"`))
	browse(t, ctx, "a stored user's value",
		chromedp.WaitVisible(chromedp.CSS(`body[data-ready="#/stores/fitbit-users"] details`)),
		chromedp.Click(chromedp.CSS(`details summary`)),
		chromedp.WaitVisible(chromedp.CSS(`details pre[data-loaded]`)))
	value := read(t, ctx, "the value", chromedp.Text(chromedp.CSS(`details pre`)))
	if !strings.Contains(value, `"access_token": "***"`) && !strings.Contains(value, `"access_token":"***"`) {
		t.Errorf("fitbit-users value shows %q; want access_token as ***", value)
	}
	if !strings.Contains(value, `"refresh_token": "***"`) && !strings.Contains(value, `"refresh_token":"***"`) {
		t.Errorf("fitbit-users value shows %q; want refresh_token as ***", value)
	}
	screenshot(t, ctx, "store-value")
}
