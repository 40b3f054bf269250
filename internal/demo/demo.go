// Package demo runs Stride's end-to-end scenario: the real stride binary
// with the shipped Fitbit flows against the sandbox's fake Fitbit and
// Marketing Cloud, on loopback. `make demo` prints its report; the
// end-to-end test asserts it.
package demo

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/stride-engine/stride/sandbox"
)

// Env is a running setup: the sandbox and a stride process (the first
// instance, whose methods Env has), and any further instances sharing
// its store.
type Env struct {
	*Proc
	Bin, Flows, Data string
	Fitbit           *sandbox.Fitbit
	Google           *sandbox.GoogleHealth
	MKC              *sandbox.MarketingCloud
	GoogleAuth       string // the Authorization header Google's webhook sends
	VerifyCode       string
	Key              string // STRIDE_DATA_KEY
	// Instances are the processes AddInstance started.
	Instances []*Proc

	extraEnv []string
	client   *http.Client
}

// Proc is one `stride run` process of the setup.
type Proc struct {
	Addr, Admin string
	env         *Env
	data        string
	args        []string
	cmd         *exec.Cmd
	done        chan struct{}
	logMu       sync.Mutex
	log         strings.Builder
}

// Start starts the sandbox and `stride run` with the flows; data is the
// data directory (kept across Restart).
func Start(bin, flows, data string) (*Env, error) { return StartWith(bin, flows, data, nil) }

// StartWith is Start with more variables for every instance (e.g. a
// schedule) and more arguments for the first `stride run` (e.g. --store
// nats://… --instance a).
func StartWith(bin, flows, data string, env []string, args ...string) (*Env, error) {
	// The client is the users' browser: it keeps cookies (the consent's
	// state cookie) and follows no redirect by itself.
	jar, _ := cookiejar.New(nil)
	e := &Env{Bin: bin, Flows: flows, Data: data, extraEnv: env, VerifyCode: "demo-verify-" + randomHex(4), Key: randomHex(32),
		client: &http.Client{Timeout: 30 * time.Second, Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	var err error
	if e.Proc, err = e.newProc(data, args); err != nil {
		return nil, err
	}
	e.Fitbit = sandbox.NewFitbit(sandbox.FitbitOptions{RedirectURIs: []string{"http://" + e.Addr + "/fitbit/callback"}})
	if err := e.Fitbit.Start("127.0.0.1:0"); err != nil {
		return nil, err
	}
	e.Google = sandbox.NewGoogleHealth(sandbox.GoogleHealthOptions{RedirectURIs: []string{"http://" + e.Addr + "/google-health/callback"}})
	if err := e.Google.Start("127.0.0.1:0"); err != nil {
		return nil, err
	}
	e.GoogleAuth = "Bearer webhook-" + randomHex(8)
	e.MKC = sandbox.NewMarketingCloud(sandbox.MarketingCloudOptions{})
	if err := e.MKC.Start("127.0.0.1:0"); err != nil {
		return nil, err
	}
	return e, e.start()
}

func (e *Env) newProc(data string, args []string) (*Proc, error) {
	p := &Proc{env: e, data: data, args: args}
	var err error
	if p.Addr, err = freeAddr(); err != nil {
		return nil, err
	}
	if p.Admin, err = freeAddr(); err != nil {
		return nil, err
	}
	return p, nil
}

// AddInstance starts one more `stride run` with the same flows and
// variables, on its own ports and data directory, with args (the shared
// --store and an --instance name). Consents still go through the first
// instance: the providers know its callback URL.
func (e *Env) AddInstance(data string, args ...string) (*Proc, error) {
	p, err := e.newProc(data, args)
	if err != nil {
		return nil, err
	}
	if err := p.start(); err != nil {
		return nil, err
	}
	e.Instances = append(e.Instances, p)
	return p, nil
}

func (e *Env) environ() []string {
	var env []string
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, "STRIDE_") || strings.HasPrefix(name, "FITBIT_") || strings.HasPrefix(name, "MKC_") {
			continue
		}
		env = append(env, kv)
	}
	return append(append(env,
		"STRIDE_DATA_KEY="+e.Key,
		"FITBIT_CLIENT_ID="+e.Fitbit.ClientID(),
		"FITBIT_CLIENT_SECRET="+e.Fitbit.ClientSecret(),
		"FITBIT_REDIRECT_URI=http://"+e.Addr+"/fitbit/callback",
		"FITBIT_VERIFY_CODE="+e.VerifyCode,
		"FITBIT_AUTHORIZE_URL="+e.Fitbit.URL+"/oauth2/authorize",
		"FITBIT_API_URL="+e.Fitbit.URL,
		"GOOGLE_HEALTH_CLIENT_ID="+e.Google.ClientID(),
		"GOOGLE_HEALTH_CLIENT_SECRET="+e.Google.ClientSecret(),
		"GOOGLE_HEALTH_REDIRECT_URI=http://"+e.Addr+"/google-health/callback",
		"GOOGLE_HEALTH_WEBHOOK_AUTHORIZATION="+e.GoogleAuth,
		"GOOGLE_HEALTH_AUTHORIZE_URL="+e.Google.URL+"/o/oauth2/v2/auth",
		"GOOGLE_HEALTH_TOKEN_URL="+e.Google.URL+"/token",
		"GOOGLE_HEALTH_REVOKE_URL="+e.Google.URL+"/revoke",
		"GOOGLE_HEALTH_API_URL="+e.Google.URL,
		"MKC_URL="+e.MKC.URL,
		"MKC_USER="+e.MKC.User(),
		"MKC_PASSWORD="+e.MKC.Password(),
	), e.extraEnv...)
}

func (p *Proc) start() error {
	e := p.env
	p.cmd = exec.Command(e.Bin, append([]string{"run", "--flows", e.Flows, "--data", p.data, "--addr", p.Addr, "--admin-addr", p.Admin}, p.args...)...)
	p.cmd.Env = e.environ()
	p.cmd.Stdout = &lockedWriter{p}
	p.cmd.Stderr = &lockedWriter{p}
	if err := p.cmd.Start(); err != nil {
		return err
	}
	p.done = make(chan struct{})
	go func() { _ = p.cmd.Wait(); close(p.done) }()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			return fmt.Errorf("stride exited at start:\n%s", p.Log())
		default:
		}
		if resp, err := e.client.Get("http://" + p.Admin + "/admin/health"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("stride not healthy within 20s:\n%s", p.Log())
}

type lockedWriter struct{ p *Proc }

func (w *lockedWriter) Write(b []byte) (int, error) {
	w.p.logMu.Lock()
	defer w.p.logMu.Unlock()
	return w.p.log.Write(b)
}

// Pid is the stride process id.
func (p *Proc) Pid() int { return p.cmd.Process.Pid }

// Log returns what stride wrote to stdout and stderr.
func (p *Proc) Log() string {
	p.logMu.Lock()
	defer p.logMu.Unlock()
	return p.log.String()
}

// Kill ends stride with SIGKILL (a crash).
func (p *Proc) Kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// Restart starts stride again on the same data directory and ports.
func (p *Proc) Restart() error { return p.start() }

// Terminate ends stride with SIGTERM and returns its exit code (-1 when
// it had to be killed after 30 s, or was not running).
func (p *Proc) Terminate() int {
	if p.cmd == nil || p.cmd.Process == nil {
		return -1
	}
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	default:
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode()
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		return -1
	}
}

// Stop ends every stride instance with SIGTERM and returns the first
// one's exit code; the sandbox stops too.
func (e *Env) Stop() int {
	for _, p := range e.Instances {
		p.Terminate()
	}
	code := -1
	if e.Proc != nil {
		code = e.Terminate()
	}
	_ = e.Fitbit.Close()
	_ = e.Google.Close()
	_ = e.MKC.Close()
	return code
}

// Connect walks a user through the real redirect chain: /fitbit/connect →
// Fitbit's authorization page (the sandbox approves for user with scopes,
// or denies) → /fitbit/callback. It returns the callback's status and page.
func (e *Env) Connect(user, scopes string, deny bool) (int, string, error) {
	return e.connect("/fitbit/connect", user, scopes, deny)
}

// ConnectGoogle walks a user through the Google Health consent chain.
func (e *Env) ConnectGoogle(user, scopes string, deny bool) (int, string, error) {
	return e.connect("/google-health/connect", user, scopes, deny)
}

func (e *Env) connect(path, user, scopes string, deny bool) (int, string, error) {
	// Each consent is its own browser: the flow binds its state to a
	// cookie, and concurrent consents (stride-bench connects 16 users at
	// a time) must not overwrite each other's.
	client := *e.client
	client.Jar, _ = cookiejar.New(nil)
	resp, err := client.Get("http://" + e.Addr + path)
	if err != nil {
		return 0, "", err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		return 0, "", fmt.Errorf("connect answered %d", resp.StatusCode)
	}
	auth, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		return 0, "", err
	}
	q := auth.Query()
	q.Set("sandbox_user", user)
	if scopes != "" {
		q.Set("sandbox_scopes", scopes)
	}
	if deny {
		q.Set("sandbox_deny", "1")
	}
	auth.RawQuery = q.Encode()
	resp, err = client.Get(auth.String())
	if err != nil {
		return 0, "", err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		return 0, "", fmt.Errorf("authorization page answered %d", resp.StatusCode)
	}
	resp, err = client.Get(resp.Header.Get("Location"))
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	page, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(page), nil
}

// Notify sends a signed notification for (user, day, collection).
func (e *Env) Notify(updates ...sandbox.Update) (int, error) { return e.NotifyAt(e.Proc, updates...) }

// NotifyAt sends a signed notification to instance p.
func (e *Env) NotifyAt(p *Proc, updates ...sandbox.Update) (int, error) {
	resp, err := e.Fitbit.Notify("http://"+p.Addr+"/fitbit/webhook", updates)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// Update builds one notification update.
func Update(user, day, collection string) sandbox.Update {
	return sandbox.Update{CollectionType: collection, Date: day, OwnerID: user, OwnerType: "user", SubscriptionID: user + "-" + collection}
}

// Message is a message log entry as the admin API lists it.
type Message struct {
	ID, Flow, Status, Error string
	Attempt                 int
	Start                   time.Time
}

// Messages lists the message log (newest first).
func (e *Env) Messages() ([]Message, error) {
	resp, err := e.client.Get("http://" + e.Admin + "/admin/messages?limit=1000")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out struct{ Messages []Message }
	return out.Messages, json.NewDecoder(resp.Body).Decode(&out)
}

// RunDaily runs the fitbit-daily timer flow now.
func (e *Env) RunDaily() (string, error) { return e.RunFlow("fitbit-daily") }

// RunFlow runs a timer flow now.
func (e *Env) RunFlow(id string) (string, error) {
	resp, err := e.client.Post("http://"+e.Admin+"/admin/flows/"+id+"/run", "", nil)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var out struct {
		MessageID string `json:"message_id"`
	}
	if resp.StatusCode != http.StatusAccepted {
		return "", fmt.Errorf("run now answered %d", resp.StatusCode)
	}
	err = json.NewDecoder(resp.Body).Decode(&out)
	return out.MessageID, err
}

// StoredUsers lists the ids in the fitbit-users data store.
func (e *Env) StoredUsers() ([]string, error) {
	resp, err := e.client.Get("http://" + e.Admin + "/admin/stores/fitbit-users")
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	var out struct{ Entries []struct{ ID string } }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		return nil, err
	}
	var ids []string
	for _, en := range out.Entries {
		ids = append(ids, en.ID)
	}
	sort.Strings(ids)
	return ids, nil
}

// WaitFor polls cond until it holds or the timeout passes.
func WaitFor(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(25 * time.Millisecond)
	}
	return true
}

// InteractionFor finds the interaction of (user, day).
func (e *Env) InteractionFor(user, day string) *sandbox.Interaction {
	for _, in := range e.MKC.Interactions() {
		if in.ContactID == user && in.SourceObjectID == user+"-"+day {
			return &in
		}
	}
	return nil
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// TempData makes a data directory.
func TempData() (string, error) { return os.MkdirTemp("", "stride-demo-") }
