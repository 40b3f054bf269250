package main

// The "binary" case measures what users run: the real `stride run`
// binary, with its store (fsync on) and its message log (level info),
// side by side with a plain Go server doing the same work, both driven
// over loopback by a load generator in a separate process, rounds
// alternating. Each server is its own process, so RSS is each one's.

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/stride-engine/stride/internal/loadgen"
)

// benchSigningKey signs the webhook bodies of the binary case (Fitbit's
// form: base64 HMAC-SHA1 with client secret + "&").
const benchSigningKey = "bench-client-secret"

// webhookBody is a Fitbit-shaped notification.
var webhookBody = []byte(`[{"collectionType":"activities","date":"2026-11-22","ownerId":"26FWFL","ownerType":"user","subscriptionId":"26FWFL-activities"}]`)

func signFitbit(body []byte) string {
	m := hmac.New(sha1.New, []byte(benchSigningKey+"&"))
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// benchFlows are the flows the binary serves: the shipped example's rename
// and a signed webhook that queues durably (its consumer does nothing but
// finish, so the queue drains).
var benchFlows = map[string]string{
	"rename.yaml": `flow: rename
trigger: {http: {path: /rename, methods: [POST]}}
steps:
  - filter: {when: json.steps != nil, status: REJECTED}
  - set:
      body: '${ {"userId": json.user, "date": json.day, "steps": json.steps, "distanceMeters": round(json.distanceKm * 1000)} }'
  - respond: {status: 200}
`,
	"webhook.yaml": `flow: webhook
secrets: [CLIENT_SECRET]
trigger:
  http:
    path: /webhook
    policies:
      - verify_signature: {header: X-Fitbit-Signature, algorithm: hmac-sha1, key: '${secret.CLIENT_SECRET + "&"}', status: 404}
steps:
  - enqueue: {queue: notifications}
  - respond: {status: 204}
`,
	"consume.yaml": `flow: consume
trigger: {queue: {name: notifications, workers: 8}}
steps:
  - set: {properties: {n: '${len(json)}'}}
`,
}

// plainServer is the baseline: the same rename by hand, and a webhook
// that checks the same signature and appends the body to a file with an
// fsync before it answers (durable, as Stride's enqueue).
func plainServer(args []string) error {
	fs := flag.NewFlagSet("plain-server", flag.ExitOnError)
	addr := fs.String("addr", "127.0.0.1:0", "listen address")
	dir := fs.String("dir", os.TempDir(), "where the webhook's file goes")
	_ = fs.Parse(args)
	f, err := os.OpenFile(filepath.Join(*dir, "plain-webhooks.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer f.Close()
	var mu sync.Mutex
	mux := http.NewServeMux()
	mux.HandleFunc("POST /rename", plainActivity)
	mux.HandleFunc("POST /webhook", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
		if err != nil {
			http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
			return
		}
		got, _ := base64.StdEncoding.DecodeString(r.Header.Get("X-Fitbit-Signature"))
		m := hmac.New(sha1.New, []byte(benchSigningKey+"&"))
		m.Write(body)
		if !hmac.Equal(m.Sum(nil), got) {
			http.Error(w, `{"error":"invalid signature"}`, http.StatusNotFound)
			return
		}
		mu.Lock()
		_, err = f.Write(append(body, '\n'))
		if err == nil {
			err = f.Sync()
		}
		mu.Unlock()
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.WriteHeader(204)
	})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	fmt.Println(ln.Addr().String()) // the parent reads the address
	return http.Serve(ln, mux)
}

// loadProcess runs one load-generator round in this process and prints
// its result as JSON: the parent runs it as a separate process, so the
// generator never shares a CPU scheduler or a heap with a server.
func loadProcess(args []string) error {
	fs := flag.NewFlagSet("load", flag.ExitOnError)
	url := fs.String("url", "", "target")
	conc := fs.Int("c", 32, "concurrent clients")
	d := fs.Duration("d", 3*time.Second, "duration")
	kind := fs.String("kind", "rename", "rename or webhook")
	_ = fs.Parse(args)
	cfg := loadgen.Config{URL: *url, Method: "POST", Concurrency: *conc, Duration: *d}
	switch *kind {
	case "rename":
		cfg.Body, cfg.Header = activityBody, http.Header{"Content-Type": {"application/json"}}
	case "webhook":
		cfg.Body = webhookBody
		cfg.Header = http.Header{"Content-Type": {"application/json"}, "X-Fitbit-Signature": {signFitbit(webhookBody)}}
		cfg.Check = func(status int, _ []byte) bool { return status == 204 }
	default:
		return fmt.Errorf("unknown kind %q", *kind)
	}
	res := loadgen.Run(context.Background(), cfg)
	return json.NewEncoder(os.Stdout).Encode(map[string]any{
		"rps": res.RPS(), "p50_us": res.P50.Microseconds(), "p99_us": res.P99.Microseconds(),
		"requests": res.Requests, "failed": res.Failed,
	})
}

type loadResult struct {
	RPS      float64 `json:"rps"`
	P50US    int64   `json:"p50_us"`
	P99US    int64   `json:"p99_us"`
	Requests int     `json:"requests"`
	Failed   int     `json:"failed"`
}

// runLoad runs a load round as a separate process.
func runLoad(url, kind string, d time.Duration, conc int) (loadResult, error) {
	self, err := os.Executable()
	if err != nil {
		return loadResult{}, err
	}
	out, err := exec.Command(self, "load", "-url", url, "-kind", kind, "-d", d.String(), "-c", fmt.Sprint(conc)).Output()
	if err != nil {
		return loadResult{}, fmt.Errorf("load process: %w", err)
	}
	var r loadResult
	return r, json.Unmarshal(out, &r)
}

// server is a server process under measurement.
type server struct {
	name  string
	base  string
	admin string // the admin listener's base URL, "" for the plain server
	cmd   *exec.Cmd
}

// fetchProfiles fetches a CPU profile and an allocation profile (delta
// over the same window) of s for d, writing them to dir as
// <kind>-cpu.pprof and <kind>-allocs.pprof. It returns when both are
// written; run it beside a load round.
func fetchProfiles(s *server, dir, kind string, d time.Duration) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	secs := max(1, int(d.Seconds()))
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, p := range []string{"profile", "allocs"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Get(fmt.Sprintf("%s/debug/pprof/%s?seconds=%d", s.admin, p, secs))
			if err != nil {
				errs[i] = err
				return
			}
			defer resp.Body.Close()
			if resp.StatusCode != 200 {
				errs[i] = fmt.Errorf("pprof %s: %s", p, resp.Status)
				return
			}
			name := map[string]string{"profile": "cpu", "allocs": "allocs"}[p]
			f, err := os.Create(filepath.Join(dir, kind+"-"+name+".pprof"))
			if err != nil {
				errs[i] = err
				return
			}
			_, err = io.Copy(f, resp.Body)
			errs[i] = errors.Join(err, f.Close())
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (s *server) stop() {
	_ = s.cmd.Process.Signal(os.Interrupt)
	done := make(chan struct{})
	go func() { _ = s.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
	}
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// startStrideBinary starts `stride run` on the bench flows, with its
// store in dir (fsync on: the default durability) and its message log;
// extra arguments follow (e.g. a NATS --store).
func startStrideBinary(bin, dir string, extra ...string) (*server, error) {
	flows := filepath.Join(dir, "flows")
	if err := os.MkdirAll(flows, 0o755); err != nil {
		return nil, err
	}
	for name, content := range benchFlows {
		if err := os.WriteFile(filepath.Join(flows, name), []byte(content), 0o644); err != nil {
			return nil, err
		}
	}
	addr, err := freePort()
	if err != nil {
		return nil, err
	}
	admin, err := freePort()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, append([]string{"run", "--flows", flows, "--data", filepath.Join(dir, "data"), "--addr", addr, "--admin-addr", admin, "--log-level", "warn", "--min-free-disk", "64MiB"}, extra...)...)
	cmd.Env = append(os.Environ(), "CLIENT_SECRET="+benchSigningKey)
	cmd.Stderr = io.Discard
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s := &server{name: "stride run", base: "http://" + addr, admin: "http://" + admin, cmd: cmd}
	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get("http://" + admin + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return s, nil
			}
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, errors.New("stride run did not become ready")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startPlain starts the baseline server process.
func startPlain(dir string) (*server, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "plain-server", "-dir", dir)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		_ = cmd.Process.Kill()
		return nil, fmt.Errorf("plain server: %w", err)
	}
	return &server{name: "plain net/http", base: "http://" + strings.TrimSpace(line), cmd: cmd}, nil
}

// benchBinary measures the real binary against the plain server for the
// rename flow and signed webhook ingest, rounds alternating.
// With profileDir set, CPU and allocation profiles of `stride run` are
// taken during its last round of each case; extra arguments go to
// `stride run` (e.g. --memory-limit).
func benchBinary(w io.Writer, bin string, d time.Duration, rounds, conc int, profileDir string, extra ...string) error {
	dir, err := os.MkdirTemp("", "stride-bench-binary-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	st, err := startStrideBinary(bin, dir, extra...)
	if err != nil {
		return err
	}
	defer st.stop()
	plain, err := startPlain(dir)
	if err != nil {
		return err
	}
	defer plain.stop()
	servers := []*server{plain, st}

	with := ""
	if len(extra) > 0 {
		with = ", stride run " + strings.Join(extra, " ")
	}
	fmt.Fprintf(w, "### The real binary against plain Go (%d clients, %v × %d rounds, load from a separate process%s)\n\n", conc, d, rounds, with)
	fmt.Fprintln(w, "`stride run` with its store (fsync on) and its message log (level info) in one process; a plain net/http server doing the same work in another; rounds alternate. Medians.")
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| case | server | req/s | p50 | p99 | peak RSS | req/s ratio | p99 ratio |")
	fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|")
	for _, kind := range []string{"rename", "webhook"} {
		// Warm both up.
		for _, s := range servers {
			if _, err := runLoad(s.base+"/"+kind, kind, d/3, conc); err != nil {
				return err
			}
		}
		res := make([]stats, len(servers))
		for round := range rounds {
			for i, s := range servers {
				var prof chan error
				if profileDir != "" && s.admin != "" && round == rounds-1 {
					prof = make(chan error, 1)
					go func() { prof <- fetchProfiles(s, profileDir, kind, d-d/4) }()
				}
				r, err := runLoad(s.base+"/"+kind, kind, d, conc)
				if prof != nil {
					err = errors.Join(err, <-prof)
				}
				if err != nil {
					return err
				}
				if r.Failed > 0 {
					return fmt.Errorf("%s %s: %d of %d requests failed", s.name, kind, r.Failed, r.Requests)
				}
				res[i].rps = append(res[i].rps, r.RPS)
				res[i].p50 = append(res[i].p50, float64(r.P50US))
				res[i].p99 = append(res[i].p99, float64(r.P99US))
			}
		}
		base := res[0]
		for i, s := range servers {
			ratio, p99r := "1.00", "1.00"
			if i > 0 {
				ratio = fmt.Sprintf("**%.2f**", median(res[i].rps)/median(base.rps))
				p99r = fmt.Sprintf("**%.2f**", median(res[i].p99)/median(base.p99))
			}
			fmt.Fprintf(w, "| %s | %s | %.0f | %.0f µs | %.0f µs | %s | %s | %s |\n", kind, s.name,
				median(res[i].rps), median(res[i].p50), median(res[i].p99), mb(procKB(s.cmd.Process.Pid, "VmHWM")), ratio, p99r)
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "Goals (the real binary, message log on): ≥ 0.8× plain Go's req/s, p99 ≤ 2× plain Go's.")
	fmt.Fprintln(w)
	return nil
}
