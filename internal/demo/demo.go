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

// Env is a running setup: the sandbox and a stride process.
type Env struct {
	Bin, Flows, Data string
	Fitbit           *sandbox.Fitbit
	Google           *sandbox.GoogleHealth
	MKC              *sandbox.MarketingCloud
	GoogleAuth       string // the Authorization header Google's webhook sends
	Addr, Admin      string
	VerifyCode       string
	Key              string // STRIDE_DATA_KEY

	cmd    *exec.Cmd
	done   chan struct{}
	logMu  sync.Mutex
	log    strings.Builder
	client *http.Client
}

// Start starts the sandbox and `stride run` with the flows; data is the
// data directory (kept across Restart).
func Start(bin, flows, data string) (*Env, error) {
	// The client is the users' browser: it keeps cookies (the consent's
	// state cookie) and follows no redirect by itself.
	jar, _ := cookiejar.New(nil)
	e := &Env{Bin: bin, Flows: flows, Data: data, VerifyCode: "demo-verify-" + randomHex(4), Key: randomHex(32),
		client: &http.Client{Timeout: 30 * time.Second, Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	var err error
	if e.Addr, err = freeAddr(); err != nil {
		return nil, err
	}
	if e.Admin, err = freeAddr(); err != nil {
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
	return e, e.startStride()
}

func (e *Env) environ() []string {
	var env []string
	for _, kv := range os.Environ() {
		if name, _, _ := strings.Cut(kv, "="); strings.HasPrefix(name, "STRIDE_") || strings.HasPrefix(name, "FITBIT_") || strings.HasPrefix(name, "MKC_") {
			continue
		}
		env = append(env, kv)
	}
	return append(env,
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
	)
}

func (e *Env) startStride() error {
	e.cmd = exec.Command(e.Bin, "run", "--flows", e.Flows, "--data", e.Data, "--addr", e.Addr, "--admin-addr", e.Admin)
	e.cmd.Env = e.environ()
	e.cmd.Stdout = &lockedWriter{e}
	e.cmd.Stderr = &lockedWriter{e}
	if err := e.cmd.Start(); err != nil {
		return err
	}
	e.done = make(chan struct{})
	go func() { _ = e.cmd.Wait(); close(e.done) }()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-e.done:
			return fmt.Errorf("stride exited at start:\n%s", e.Log())
		default:
		}
		if resp, err := e.client.Get("http://" + e.Admin + "/admin/health"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return fmt.Errorf("stride not healthy within 20s:\n%s", e.Log())
}

type lockedWriter struct{ e *Env }

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.e.logMu.Lock()
	defer w.e.logMu.Unlock()
	return w.e.log.Write(p)
}

// Pid is the stride process id.
func (e *Env) Pid() int { return e.cmd.Process.Pid }

// Log returns what stride wrote to stdout and stderr.
func (e *Env) Log() string {
	e.logMu.Lock()
	defer e.logMu.Unlock()
	return e.log.String()
}

// Kill ends stride with SIGKILL (a crash).
func (e *Env) Kill() {
	_ = e.cmd.Process.Signal(syscall.SIGKILL)
	<-e.done
}

// Restart starts stride again on the same data directory and ports.
func (e *Env) Restart() error { return e.startStride() }

// Stop ends stride with SIGTERM and returns its exit code; the sandbox
// stops too.
func (e *Env) Stop() int {
	code := -1
	if e.cmd != nil && e.cmd.Process != nil {
		_ = e.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-e.done:
			code = e.cmd.ProcessState.ExitCode()
		case <-time.After(30 * time.Second):
			_ = e.cmd.Process.Kill()
		}
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
	resp, err := e.client.Get("http://" + e.Addr + path)
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
	resp, err = e.client.Get(auth.String())
	if err != nil {
		return 0, "", err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		return 0, "", fmt.Errorf("authorization page answered %d", resp.StatusCode)
	}
	resp, err = e.client.Get(resp.Header.Get("Location"))
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	page, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(page), nil
}

// Notify sends a signed notification for (user, day, collection).
func (e *Env) Notify(updates ...sandbox.Update) (int, error) {
	resp, err := e.Fitbit.Notify("http://"+e.Addr+"/fitbit/webhook", updates)
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
