package sandbox

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestStartRefusesNonLoopback(t *testing.T) {
	for _, addr := range []string{"0.0.0.0:0", ":0", "192.0.2.1:9001", "example.com:80"} {
		f := NewFitbit(FitbitOptions{})
		if err := f.Start(addr); err == nil {
			f.Close()
			t.Errorf("Start(%q) listened; want a loopback-only refusal", addr)
		}
	}
	m := NewMarketingCloud(MarketingCloudOptions{})
	if err := m.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if !strings.HasPrefix(m.URL, "http://127.0.0.1:") {
		t.Errorf("URL %q", m.URL)
	}
	if err := m.Start(""); err == nil {
		t.Error("a second Start succeeded")
	}
}

// syncBuffer is an io.Writer safe for the server goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestServePrintsEnvAndServes(t *testing.T) {
	envFile := filepath.Join(t.TempDir(), "sandbox.env")
	ctx, cancel := context.WithCancel(context.Background())
	out, logs := &syncBuffer{}, &syncBuffer{}
	done := make(chan error, 1)
	go func() {
		done <- Serve(ctx, Config{
			Fitbit: FitbitOptions{ClientID: "CID", ClientSecret: "SEC", RedirectURIs: []string{"http://127.0.0.1:8080/fitbit/callback"}},
			MKC:    MarketingCloudOptions{User: "U", Password: "P"}, VerifyCode: "VC", EnvOut: envFile, Log: logs,
		}, out)
	}()
	var env map[string]string
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, err := os.ReadFile(envFile)
		if err == nil && strings.Contains(out.String(), "MKC_USER=") {
			env = map[string]string{}
			sc := bufio.NewScanner(strings.NewReader(string(b)))
			for sc.Scan() {
				k, v, _ := strings.Cut(sc.Text(), "=")
				env[k] = v
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no env file; output %q", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	for k, want := range map[string]string{
		"FITBIT_CLIENT_ID": "CID", "FITBIT_CLIENT_SECRET": "SEC", "FITBIT_VERIFY_CODE": "VC",
		"FITBIT_REDIRECT_URI": "http://127.0.0.1:8080/fitbit/callback", "MKC_USER": "U", "MKC_PASSWORD": "P",
	} {
		if env[k] != want {
			t.Errorf("%s=%q, want %q", k, env[k], want)
		}
	}
	if env["FITBIT_AUTHORIZE_URL"] != env["FITBIT_API_URL"]+"/oauth2/authorize" || !strings.HasPrefix(env["MKC_URL"], "http://127.0.0.1:") {
		t.Errorf("env %v", env)
	}
	if !strings.Contains(out.String(), "FITBIT_API_URL="+env["FITBIT_API_URL"]) {
		t.Errorf("output does not print the env: %q", out.String())
	}
	// Both fakes answer.
	resp, err := http.Get(env["FITBIT_API_URL"] + "/sandbox/stats")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	req, _ := http.NewRequest("GET", env["MKC_URL"]+ServicePath, nil)
	req.SetBasicAuth("U", "P")
	req.Header.Set("X-CSRF-Token", "Fetch")
	resp, err = http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("X-CSRF-Token") == "" {
		t.Errorf("MKC fetch: %d", resp.StatusCode)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	if !strings.Contains(logs.String(), "fitbit GET /sandbox/stats 200") || !strings.Contains(logs.String(), "mkc GET "+ServicePath+" 200") {
		t.Errorf("request log %q", logs.String())
	}
	if _, err := http.Get(env["FITBIT_API_URL"] + "/sandbox/stats"); err == nil {
		t.Error("Fitbit fake still listening after Serve returned")
	}
}

func TestServeFailsOnTakenPort(t *testing.T) {
	f := NewFitbit(FitbitOptions{})
	if err := f.Start(""); err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	addr := strings.TrimPrefix(f.URL, "http://")
	err := Serve(context.Background(), Config{FitbitAddr: addr}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "fitbit") {
		t.Fatalf("Serve on a taken port: %v", err)
	}
}
