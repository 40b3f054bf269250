package main

import (
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// otlpReceiver is an OTLP/HTTP trace receiver on loopback: what a
// collector would get from stride run.
type otlpReceiver struct {
	mu       sync.Mutex
	spans    []*tracepb.Span
	services []string
	srv      *httptest.Server
}

func newOTLPReceiver(t *testing.T) *otlpReceiver {
	r := &otlpReceiver{}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.URL.Path != "/v1/traces" || req.Header.Get("Content-Type") != "application/x-protobuf" {
			http.Error(w, "want protobuf on /v1/traces", http.StatusBadRequest)
			return
		}
		body, _ := io.ReadAll(req.Body)
		var export coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(body, &export); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		r.mu.Lock()
		for _, rs := range export.ResourceSpans {
			for _, a := range rs.GetResource().GetAttributes() {
				if a.Key == "service.name" {
					r.services = append(r.services, a.GetValue().GetStringValue())
				}
			}
			for _, ss := range rs.ScopeSpans {
				r.spans = append(r.spans, ss.Spans...)
			}
		}
		r.mu.Unlock()
		out, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

// byName returns the received spans by name.
func (r *otlpReceiver) byName() map[string]*tracepb.Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]*tracepb.Span{}
	for _, s := range r.spans {
		out[s.Name] = s
	}
	return out
}

// stride run --otel-endpoint exports a span per message and per step to
// an OTLP/HTTP collector; the caller's traceparent is honoured across the
// queue; the correlation id reaches the message log and stride messages.
func TestRunExportsTracesOverOTLP(t *testing.T) {
	t.Run("flag", func(t *testing.T) {
		recv := newOTLPReceiver(t)
		exportsTraces(t, recv, nil, "--otel-endpoint", recv.srv.URL)
	})
	t.Run("standard variable", func(t *testing.T) {
		recv := newOTLPReceiver(t)
		exportsTraces(t, recv, []string{"OTEL_EXPORTER_OTLP_ENDPOINT=" + recv.srv.URL})
	})
}

func exportsTraces(t *testing.T, recv *otlpReceiver, env []string, args ...string) {
	flows := t.TempDir()
	files := map[string]string{
		"in.yaml":   "flow: ingest\ntrigger: {http: {path: /in, methods: [POST]}}\nsteps:\n  - enqueue: {queue: work}\n  - respond: {status: 204}\n",
		"work.yaml": "flow: worker\ntrigger: {queue: {name: work}}\nsteps:\n  - set: {properties: {seen: '${message.correlation_id}'}}\n",
	}
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(flows, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data := t.TempDir()
	p := startStride(t, flows, append(env, "OTEL_BSP_SCHEDULE_DELAY=50"), append([]string{"--data", data}, args...)...)
	p.waitHealthy(t)

	const traceID = "0af7651916cd43dd8448eb211c80319c"
	req, _ := http.NewRequest("POST", "http://"+p.addr+"/in", strings.NewReader(`{"user":"u1"}`))
	req.Header.Set("Traceparent", "00-"+traceID+"-b7ad6b7169203331-01")
	req.Header.Set("X-Correlation-Id", "order-4711")
	resp, err := httpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 204 || resp.Header.Get("X-Correlation-Id") != "order-4711" {
		t.Fatalf("answer %d, X-Correlation-Id %q", resp.StatusCode, resp.Header.Get("X-Correlation-Id"))
	}

	deadline := time.Now().Add(15 * time.Second)
	for recv.byName()["queue work"] == nil {
		if time.Now().After(deadline) {
			t.Fatalf("no span of the queued message's run reached the collector; got %v", recv.byName())
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.wait(t, 20*time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}

	spans := recv.byName()
	for _, name := range []string{"http ingest", "enqueue", "respond", "queue work", "set"} {
		s := spans[name]
		if s == nil {
			t.Fatalf("no span %q", name)
		}
		if got := hex.EncodeToString(s.TraceId); got != traceID {
			t.Errorf("span %q in trace %s, want the caller's %s", name, got, traceID)
		}
	}
	if hex.EncodeToString(spans["http ingest"].ParentSpanId) != "b7ad6b7169203331" {
		t.Error("the http run's span is not a child of the caller's span")
	}
	if string(spans["queue work"].ParentSpanId) != string(spans["enqueue"].SpanId) {
		t.Error("the queued message's run does not continue the enqueue step's span")
	}
	recv.mu.Lock()
	services := strings.Join(recv.services, ",")
	recv.mu.Unlock()
	if !strings.Contains(services, "stride") {
		t.Errorf("service.name %q", services)
	}

	out, err := exec.Command(strideBin, "messages", "--data", data, "--flow", "worker", "--json").Output()
	if err != nil {
		t.Fatal(err)
	}
	var msgs []struct {
		ID            string `json:"id"`
		CorrelationID string `json:"correlation_id"`
		TraceID       string `json:"trace_id"`
	}
	if err := json.Unmarshal(out, &msgs); err != nil || len(msgs) != 1 {
		t.Fatalf("messages: %v %s", err, out)
	}
	if msgs[0].CorrelationID != "order-4711" || msgs[0].TraceID != traceID {
		t.Errorf("consumer's log entry: %+v", msgs[0])
	}
	show, err := exec.Command(strideBin, "messages", "show", msgs[0].ID, "--data", data).Output()
	if err != nil || !strings.Contains(string(show), "correlation id: order-4711") || !strings.Contains(string(show), "trace id: "+traceID) {
		t.Errorf("messages show: %v\n%s", err, show)
	}
	// The worker ran at the default log level and went well: no steps,
	// and the output says why.
	if !strings.Contains(string(show), "steps: not kept for an attempt that went well at log level info") {
		t.Errorf("messages show of a success at info does not say why it has no steps:\n%s", show)
	}
	byCorr, err := exec.Command(strideBin, "messages", "--data", data, "--correlation", "order-4711", "--json").Output()
	var chain []struct {
		Flow string `json:"flow"`
	}
	if err != nil || json.Unmarshal(byCorr, &chain) != nil || len(chain) != 2 || chain[0].Flow != "worker" || chain[1].Flow != "ingest" {
		t.Errorf("messages --correlation order-4711: %v %s, want the consumer's and the webhook's entries", err, byCorr)
	}
	list, _ := exec.Command(strideBin, "messages", "--data", data).Output()
	if !strings.Contains(string(list), "CORRELATION") || strings.Count(string(list), "order-4711") != 2 {
		t.Errorf("messages list does not show the correlation id of both entries:\n%s", list)
	}
}

// An endpoint that is not a URL is refused at start, before anything runs.
func TestRunRefusesABadOTLPEndpoint(t *testing.T) {
	code, _, stderr := cli("run", "--flows", t.TempDir(), "--data", t.TempDir(), "--addr", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0", "--otel-endpoint", "::not a url")
	if code != 1 || !strings.Contains(stderr, "--otel-endpoint") {
		t.Errorf("exit %d: %s", code, stderr)
	}
}
