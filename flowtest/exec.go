package flowtest

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/stride-engine/stride/engine/flow"
	"github.com/stride-engine/stride/engine/runtime"
	"github.com/stride-engine/stride/engine/store"
)

// defaultTimeout bounds one case when neither the case nor the file sets
// timeout.
const defaultTimeout = 60 * time.Second

// traceStep is one step of the run, from the exchange's trace or the
// message log.
type traceStep struct {
	Step, Kind, At, Outcome, Error string
}

// outcome is what a case's run produced.
type outcome struct {
	input string // request, queue, timer, call
	// followed lists the queued messages a follow case ran: "queue →
	// flow STATUS".
	followed []string

	// request cases: the reply; ran is false when the runtime answered
	// without running a flow (404, 405).
	httpStatus int
	httpHeader http.Header
	ran        bool

	body       []byte            // reply body, or the message's final body
	msgHeader  map[string]string // final message headers (not request)
	properties map[string]any    // final properties (not request)
	msgStatus  string
	errText    string
	permanent  bool   // the failure is not retried by a queue
	errClass   string // flow.Classify's class of the failure
	errAt      string
	errStep    string
	trace      []traceStep
	flow       string

	enqueued map[string][]store.Message
	disabled []string // http flows the case's variables leave disabled, with the reason
	problem  string   // the run itself could not be set up
}

// lockedBuffer collects a case's log lines from concurrent steps.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// variables merges the file's and the case's env and secrets (the case
// wins). The engine resolves env and secrets through one lookup.
func (c *Case) variables() map[string]string {
	vars := map[string]string{}
	maps.Copy(vars, c.file.Env)
	maps.Copy(vars, c.file.Secrets)
	maps.Copy(vars, c.Env)
	maps.Copy(vars, c.Secrets)
	return vars
}

func (c *Case) now() *time.Time {
	if c.Now != nil {
		return &c.Now.Time
	}
	if c.file.Now != nil {
		return &c.file.Now.Time
	}
	return nil
}

func (c *Case) timeout() time.Duration {
	switch {
	case c.Timeout > 0:
		return c.Timeout
	case c.file.Timeout > 0:
		return c.file.Timeout
	}
	return defaultTimeout
}

// execute runs one case in isolation: its own compiled flow set bound to
// its variables, its own in-memory store with the fixtures, its own
// mocks, and a fresh runtime over them.
func execute(ctx context.Context, srcs []flow.Source, c *Case, logs io.Writer) (*outcome, *mockTransport, *store.DB) {
	out := &outcome{input: inputKind(c)}
	mocks := newMockTransport(append(slices.Clip(c.Mocks), c.file.Mocks...))
	// A fresh compile per case: Bind sets variables on the flows, and
	// steps keep state of their own (quota counters...), so cases that
	// run in parallel must not share a set.
	set, err := flow.Load(srcs)
	if err != nil {
		out.problem = "the flows did not load:\n" + err.Error()
		return out, mocks, nil
	}
	vars := c.variables()
	set.Bind(func(name string) (string, bool) { v, ok := vars[name]; return v, ok })
	for _, f := range set.Flows() {
		if _, isHTTP := f.Trigger.Config.(*runtime.HTTPTrigger); isHTTP && f.Disabled != "" {
			out.disabled = append(out.disabled, fmt.Sprintf("%s (%s): %s", f.ID, f.Pos.FileLine(), f.Disabled))
		}
	}

	var clock func() time.Time
	if t := c.now(); t != nil {
		fixed := *t
		clock = func() time.Time { return fixed }
	}
	// The store keeps the wall clock even when the case fixes now: badger
	// expires entries by the wall clock, so an entry written with a TTL
	// from a fixed instant in the past would vanish at once.
	db, err := store.Open("", store.Options{InMemory: true, GCInterval: -1, Durability: store.SurviveProcessCrash})
	if err != nil {
		out.problem = "could not open the in-memory store: " + err.Error()
		return out, mocks, nil
	}
	if err := putFixtures(ctx, db, c); err != nil {
		out.problem = err.Error()
		return out, mocks, db
	}

	// Only http triggers run: a case runs a queue, timer or call flow
	// itself, once, and a queue's messages are drained and shown instead
	// of consumed.
	rt := runtime.New(runtime.Options{
		Log:      slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug, ReplaceAttr: dropTime})),
		Services: &flow.Services{KV: db.KV(), Queues: db.Queues(), Log: db.Log(), Transport: mocks},
		Now:      clock,
		Triggers: []string{"http", "connection"},
		// A case reports where the run ended, from its log entry.
		KeepStepTraces: true,
	})
	rt.Swap(set)
	if err := rt.Start(ctx); err != nil {
		out.problem = "could not start the runtime: " + err.Error()
		return out, mocks, db
	}

	cctx, cancel := context.WithTimeout(ctx, c.timeout())
	defer cancel()
	switch {
	case c.Request != nil:
		runRequest(cctx, rt, c.Request, c.now(), out)
	case c.Queue != nil:
		q := c.Queue
		msg := flow.NewMessage(q.Body.Data, contentType(q.ContentType, q.Headers, q.Body))
		for _, h := range q.Headers {
			msg.SetHeader(h.Name, h.Value)
		}
		for _, p := range q.Properties {
			msg.Property[p.Name] = p.Value
		}
		f := set.Flow(q.Flow)
		qctx := cctx
		if qt, ok := f.Trigger.Config.(*runtime.QueueTrigger); ok && qt.Timeout > 0 {
			var qcancel context.CancelFunc
			qctx, qcancel = context.WithTimeout(cctx, qt.Timeout)
			defer qcancel()
		}
		runMessage(qctx, rt, set, f, msg, "queue", out)
	case c.Timer != nil:
		runMessage(cctx, rt, set, set.Flow(c.Timer.Flow), flow.NewMessage(nil, ""), "timer", out)
	case c.Call != nil:
		cl := c.Call
		msg := flow.NewMessage(cl.Body.Data, contentType(cl.ContentType, cl.Headers, cl.Body))
		for _, h := range cl.Headers {
			msg.SetHeader(h.Name, h.Value)
		}
		maps.Copy(msg.Property, cl.Properties)
		runMessage(cctx, rt, set, set.Flow(cl.Flow), msg, "call", out)
	}
	if c.Follow && out.problem == "" {
		follow(cctx, rt, set, db, out)
	}
	_ = rt.Stop(ctx) // flushes the message log

	if c.Request != nil && out.ran {
		readLogEntry(ctx, db, out)
	}
	out.enqueued, err = drainQueues(ctx, db)
	if err != nil {
		out.problem = "reading the queues: " + err.Error()
	}
	return out, mocks, db
}

func dropTime(groups []string, a slog.Attr) slog.Attr {
	if len(groups) == 0 && a.Key == slog.TimeKey {
		return slog.Attr{}
	}
	return a
}

// contentType is an input's content type: content_type, a Content-Type
// header, or guessed from the body.
func contentType(explicit string, headers namedTexts, b Body) string {
	if explicit != "" {
		return explicit
	}
	for _, h := range headers {
		if strings.EqualFold(h.Name, "Content-Type") {
			return h.Value
		}
	}
	if len(b.Data) == 0 {
		return ""
	}
	if b.JSON {
		return "application/json"
	}
	return sniffType(b.Data)
}

// putFixtures writes the case's datastore entries the way datastore_put
// does: an envelope {"text": ..., "content_type": ...} that
// datastore_get turns back into the body.
func putFixtures(ctx context.Context, db *store.DB, c *Case) error {
	for _, sf := range append(slices.Clip(c.file.Datastore), c.Datastore...) {
		for _, fx := range sf.Entries {
			ct := fx.ContentType
			if ct == "" {
				ct = sniffType(fx.Value.Data)
			}
			env, err := encodeStored(fx.Value.Data, ct)
			if err != nil {
				return err
			}
			if err := db.KV().Put(ctx, sf.Store, fx.ID, env, store.PutOptions{Overwrite: true, TTL: fx.Expires}); err != nil {
				return fmt.Errorf("%s: datastore %s/%s: %v", fx.At.FileLine(), sf.Store, fx.ID, err)
			}
		}
	}
	return nil
}

// storedEnvelope mirrors what datastore_put writes (steps/datastore.go):
// text bodies as text, others as base64 data.
type storedEnvelope struct {
	Text        *string        `json:"text,omitempty"`
	Data        []byte         `json:"data,omitempty"`
	ContentType string         `json:"content_type,omitempty"`
	Properties  map[string]any `json:"properties,omitempty"`
}

func encodeStored(body []byte, contentType string) ([]byte, error) {
	e := storedEnvelope{ContentType: contentType}
	if isUTF8(body) {
		s := string(body)
		e.Text = &s
	} else {
		e.Data = body
	}
	return json.Marshal(e)
}

// decodeStored returns an entry's body; a value that is not an envelope
// is returned as it is.
func decodeStored(v []byte) []byte {
	var e storedEnvelope
	if json.Unmarshal(v, &e) != nil {
		return v
	}
	if e.Text != nil {
		return []byte(*e.Text)
	}
	if e.Data != nil {
		return e.Data
	}
	return v
}

func isUTF8(b []byte) bool { return strings.ToValidUTF8(string(b), "\uFFFD") == string(b) }

// runRequest sends the case's request through the runtime's handler, as
// the listener would: policies, 404, 405 and 413 apply.
func runRequest(ctx context.Context, rt *runtime.Runtime, r *RequestInput, now *time.Time, out *outcome) {
	q := url.Values{}
	for _, p := range r.Query {
		q.Add(p.Name, p.Value)
	}
	target := r.Path
	if len(q) > 0 {
		target += "?" + q.Encode()
	}
	req := httptest.NewRequest(r.Method, target, bytes.NewReader(r.Body.Data))
	req.Header.Del("Content-Type")
	for _, h := range r.Headers {
		req.Header.Add(h.Name, h.Value)
	}
	if ct := contentType(r.ContentType, r.Headers, r.Body); ct != "" && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", ct)
	}
	if s := r.Sign; s != nil {
		at := time.Now()
		switch {
		case s.SignedAt != nil:
			at = s.SignedAt.Time
		case now != nil:
			at = *now
		}
		ts := strconv.FormatInt(at.Unix(), 10)
		if s.TimestampHeader != "" {
			req.Header.Set(s.TimestampHeader, ts)
		}
		signed := r.Body.Data
		if s.Data != "" {
			signed = []byte(strings.NewReplacer("{body}", string(r.Body.Data), "{timestamp}", ts, "{uri}", req.RequestURI, "{host}", req.Host).Replace(s.Data))
		}
		req.Header.Set(s.Header, s.Prefix+sign(s, signed))
	}
	if r.RemoteAddress != "" {
		req.RemoteAddr = r.RemoteAddress
	}
	req = req.WithContext(ctx)
	rec := httptest.NewRecorder()
	rt.ServeHTTP(rec, req)
	resp := rec.Result()
	body, _ := io.ReadAll(resp.Body)
	if resp.Header.Get("Content-Encoding") == "gzip" {
		if zr, err := gzip.NewReader(bytes.NewReader(body)); err == nil {
			if plain, err := io.ReadAll(zr); err == nil {
				body = plain
			}
		}
	}
	out.httpStatus, out.httpHeader, out.body = resp.StatusCode, resp.Header, body
	out.ran = resp.Header.Get("X-Stride-Message-Id") != ""
}

func sign(s *Signature, body []byte) string {
	var h func() hash.Hash = sha256.New
	if s.Algorithm == "hmac-sha1" {
		h = sha1.New
	}
	m := hmac.New(h, []byte(s.Key))
	m.Write(body)
	if s.Encoding == "hex" {
		return hex.EncodeToString(m.Sum(nil))
	}
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// runMessage runs a flow on a message the way its trigger would, once,
// and finishes it like the runtime does (completion hooks, message log).
func runMessage(ctx context.Context, rt *runtime.Runtime, set *flow.FlowSet, f *flow.Flow, msg *flow.Message, trigger string, out *outcome) {
	out.flow = f.ID
	x := rt.NewExchange(runtime.NewMessageID(), set, msg)
	x.RawBody = msg.Body()
	start := time.Now()
	err := f.Run(ctx, x)
	out.msgStatus = rt.Finish(ctx, x, f, trigger, 1, start, err)
	out.ran = true
	out.body = x.Msg.Body()
	out.msgHeader = x.Msg.Header
	out.properties = x.Msg.Property
	if err != nil {
		out.errText = x.Redact(err.Error())
		var sc flow.StatusClasses
		if q, ok := f.Trigger.Config.(*runtime.QueueTrigger); ok {
			sc = flow.StatusClasses{Permanent: q.Retry.PermanentStatus, Transient: q.Retry.TransientStatus}
		}
		out.errClass, out.permanent = flow.Classify(err, sc)
		var se *flow.StepError
		if errors.As(err, &se) {
			out.errAt, out.errStep = se.Pos.FileLine(), se.Flow+" / "+se.Step
		}
	}
	for _, t := range x.Trace {
		out.trace = append(out.trace, traceStep{Step: t.Step, Kind: t.Kind, At: t.At, Outcome: t.Outcome, Error: t.Error})
	}
}

// stepErrorRE reads "flow / step (file:line): message", a StepError's
// text, from the message log of a request case.
var stepErrorRE = regexp.MustCompile(`^(\S+) / (.+?) \(([^()\s]+:\d+)\): `)

// readLogEntry fills a request case's status, error and trace from the
// message log entry the runtime recorded.
func readLogEntry(ctx context.Context, db *store.DB, out *outcome) {
	id := out.httpHeader.Get("X-Stride-Message-Id")
	entries, err := db.Log().Get(ctx, id)
	if err != nil || len(entries) == 0 {
		return
	}
	e := entries[len(entries)-1]
	out.msgStatus, out.errText, out.flow = e.Status, e.Error, e.Flow
	if m := stepErrorRE.FindStringSubmatch(e.Error); m != nil {
		out.errAt, out.errStep = m[3], m[1]+" / "+m[2]
	}
	for _, t := range e.Trace {
		out.trace = append(out.trace, traceStep{Step: t.Step, Kind: t.Kind, At: t.At, Outcome: t.Outcome, Error: t.Error})
	}
}

// drainQueues reads back every message the run enqueued. No consumer
// runs in a test, so they are all still queued; leasing and acking them
// in turn passes messages of one key held back by an earlier one.
// follow runs the queued messages through their consumers, as the queue
// triggers would, until no queue holds one (at most maxFollowed runs).
func follow(ctx context.Context, rt *runtime.Runtime, set *flow.FlowSet, db *store.DB, out *outcome) {
	const maxFollowed = 100
	qs := db.Queues()
	for runs := 0; runs < maxFollowed; {
		names, err := qs.Names(ctx)
		if err != nil {
			out.problem = "follow: " + err.Error()
			return
		}
		leased := 0
		for _, name := range names {
			msgs, err := qs.Lease(ctx, name, maxFollowed, time.Hour)
			if err != nil {
				out.problem = "follow: " + err.Error()
				return
			}
			for _, m := range msgs {
				leased++
				runs++
				f := set.QueueConsumer(name)
				if f == nil {
					out.problem = fmt.Sprintf("follow: no flow consumes queue %s", name)
					return
				}
				msg := flow.NewMessage(m.Body, m.ContentType)
				maps.Copy(msg.Header, m.Headers)
				for k, v := range m.Meta {
					msg.Property[k] = v
				}
				x := rt.NewExchange(m.ID, set, msg)
				x.RawBody = m.Body
				start := time.Now()
				err := f.Run(ctx, x)
				status := rt.Finish(ctx, x, f, "queue", 1, start, err)
				out.followed = append(out.followed, name+" → "+f.ID+" "+status)
				if err != nil {
					out.problem = fmt.Sprintf("follow: the message on queue %s failed in flow %s: %s", name, f.ID, x.Redact(err.Error()))
					return
				}
				if err := qs.Ack(ctx, name, m.ID); err != nil {
					out.problem = "follow: " + err.Error()
					return
				}
			}
		}
		if leased == 0 {
			return
		}
	}
	out.problem = fmt.Sprintf("follow: still messages queued after %d runs", maxFollowed)
}

func drainQueues(ctx context.Context, db *store.DB) (map[string][]store.Message, error) {
	qs := db.Queues()
	names, err := qs.Names(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string][]store.Message{}
	for _, name := range names {
		for {
			msgs, err := qs.Lease(ctx, name, 1000, time.Hour)
			if err != nil {
				return nil, err
			}
			if len(msgs) == 0 {
				break
			}
			for _, m := range msgs {
				out[name] = append(out[name], m)
				if err := qs.Ack(ctx, name, m.ID); err != nil {
					return nil, err
				}
			}
		}
	}
	return out, nil
}
