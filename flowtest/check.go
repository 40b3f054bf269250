package flowtest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"

	"github.com/antchfx/xmlquery"
	"github.com/stride-engine/stride/engine/flow"
	"github.com/stride-engine/stride/engine/store"
)

// failure is one expectation the run did not meet.
type failure struct {
	What string // what was checked: "status", "jsonpath $.a", "mock GET ... calls"
	At   Pos    // where the expectation is written
	Want string
	Got  string
	// Detail replaces the want/got diff when set (an unmatched request
	// and the mocks it could have matched).
	Detail string
}

type checker struct {
	c     *Case
	out   *outcome
	fails []failure
}

func (k *checker) fail(what string, at Pos, want, got string) {
	k.fails = append(k.fails, failure{What: what, At: at, Want: want, Got: got})
}

// evaluate checks the case's expectations and mocks against the run.
func evaluate(ctx context.Context, c *Case, out *outcome, mocks *mockTransport, db *store.DB) []failure {
	k := &checker{c: c, out: out}
	if out.problem != "" {
		k.fails = append(k.fails, failure{What: "setup", At: c.At, Detail: out.problem})
		return k.fails
	}
	k.unmatched(mocks)
	if e := c.Expect; e != nil {
		k.expect(ctx, e, db)
	}
	k.mocks(mocks)
	return k.fails
}

func (k *checker) expect(ctx context.Context, e *Expect, db *store.DB) {
	out := k.out
	if e.Status != nil && out.httpStatus != *e.Status {
		k.fail("status", e.Keys["status"], strconv.Itoa(*e.Status), strconv.Itoa(out.httpStatus))
	}
	if e.Body != nil {
		k.body("body", e.Keys["body"], e.Body, out.body)
	}
	for _, s := range e.BodyContains {
		if !bytes.Contains(out.body, []byte(s)) {
			k.fail("body_contains", e.Keys["body_contains"], "a body containing "+strconv.Quote(s), shownBody(out.body))
		}
	}
	for _, h := range e.Headers {
		v, present := out.header(h.Name)
		if want := h.M.check(v, present); want != "" {
			k.fail("header "+h.Name, h.At, want, orNoValue(v, present))
		}
	}
	if len(e.JSONPath) > 0 {
		k.jsonPaths("jsonpath", e.JSONPath, out.body)
	}
	if len(e.XPath) > 0 {
		k.xPaths(e.XPath, out.body)
	}
	for _, p := range e.Properties {
		v, present := out.properties[p.Name]
		if want, got, ok := p.M.check(v, present); !ok {
			k.fail("property "+p.Name, p.At, want, got)
		}
	}
	if e.MessageStatus != nil {
		got := out.msgStatus
		if !out.ran {
			got = "(no message ran: the runtime answered by itself)"
		}
		if got != *e.MessageStatus {
			k.fail("message_status", e.Keys["message_status"], *e.MessageStatus, got)
		}
	}
	for _, s := range e.ErrorContains {
		if !strings.Contains(out.errText, s) {
			got := out.errText
			if got == "" {
				got = "(no error: the message ended " + orNoValue(out.msgStatus, out.msgStatus != "") + ")"
			}
			k.fail("error_contains", e.Keys["error_contains"], "an error containing "+strconv.Quote(s), got)
		}
	}
	if e.Retry != nil {
		got := out.errText != "" && !out.permanent
		if got != *e.Retry {
			k.fail("retry (the queue would retry the message)", e.Keys["retry"], strconv.FormatBool(*e.Retry), strconv.FormatBool(got))
		}
	}
	for _, se := range e.Datastore {
		k.datastore(ctx, se, db)
	}
	if e.Enqueued != nil {
		k.enqueued(*e.Enqueued, e.Keys["enqueued"])
	}
}

// header returns a reply header (request cases) or a header of the final
// message (other cases).
func (o *outcome) header(name string) (string, bool) {
	if o.httpHeader != nil || o.input == "request" {
		vs := o.httpHeader.Values(name)
		return strings.Join(vs, ", "), len(vs) > 0
	}
	v, ok := o.msgHeader[textproto.CanonicalMIMEHeaderKey(name)]
	return v, ok
}

func orNoValue(v string, present bool) string {
	if !present {
		return "(not set)"
	}
	return v
}

// shownBody is a body as a failure prints it: JSON indented, other text
// as it is.
func shownBody(b []byte) string {
	if len(b) == 0 {
		return "(empty body)"
	}
	if looksStructured(b) && json.Valid(b) {
		var buf bytes.Buffer
		if json.Indent(&buf, b, "", "  ") == nil {
			return buf.String()
		}
	}
	return string(b)
}

// body compares a body: text exactly, or a YAML mapping or list as JSON
// (key order and spacing do not matter).
func (k *checker) body(what string, at Pos, want *Body, got []byte) {
	if !want.JSON {
		if !bytes.Equal(want.Data, got) {
			k.fail(what, at, string(want.Data), shownText(got))
		}
		return
	}
	var w, g any
	_ = json.Unmarshal(want.Data, &w)
	if json.Unmarshal(got, &g) != nil {
		k.fail(what, at, indentJSON(canonical(w)), shownText(got)+"\n(not JSON)")
		return
	}
	if cw, cg := canonical(w), canonical(g); cw != cg {
		k.fail(what, at, indentJSON(cw), indentJSON(cg))
	}
}

func shownText(b []byte) string {
	if len(b) == 0 {
		return "(empty body)"
	}
	return string(b)
}

func indentJSON(s string) string {
	var buf bytes.Buffer
	if json.Indent(&buf, []byte(s), "", "  ") != nil {
		return s
	}
	return buf.String()
}

// jsonPaths checks JSONPath expectations on a JSON document.
func (k *checker) jsonPaths(what string, paths valueMatchers, doc []byte) {
	var data any
	if err := json.Unmarshal(doc, &data); err != nil {
		k.fail(what, paths[0].At, "a JSON body", shownText(doc)+"\n(not JSON: "+err.Error()+")")
		return
	}
	for _, p := range paths {
		v, err := flow.JSONPathValue(data, p.Name)
		if err != nil {
			k.fail(what+" "+p.Name, p.At, p.M.describe(), "(error: "+err.Error()+")")
			continue
		}
		if want, got, ok := p.M.check(v, v != nil); !ok {
			k.fail(what+" "+p.Name, p.At, want, got)
		}
	}
}

// xPaths checks XPath expectations on an XML body. XML has no types, so
// values are compared as text: 15720 and '15720' are the same.
func (k *checker) xPaths(paths valueMatchers, doc []byte) {
	if err := flow.CheckXMLSafe(doc); err != nil {
		k.fail("xpath", paths[0].At, "an XML body", err.Error())
		return
	}
	root, err := xmlquery.Parse(bytes.NewReader(doc))
	if err != nil {
		k.fail("xpath", paths[0].At, "an XML body", shownText(doc)+"\n(not XML: "+err.Error()+")")
		return
	}
	for _, p := range paths {
		v, err := flow.XPathValue(root, p.Name)
		if err != nil {
			k.fail("xpath "+p.Name, p.At, p.M.describe(), "(error: "+err.Error()+")")
			continue
		}
		present := v != nil
		text := ""
		if present {
			text = flow.Stringify(v)
		}
		m := p.M
		if m.Plain {
			if _, structured := m.Value.(map[string]any); !structured {
				if _, list := m.Value.([]any); !list {
					want := flow.Stringify(m.Value)
					if !present || text != want {
						k.fail("xpath "+p.Name, p.At, want, orNoValue(text, present))
					}
					continue
				}
			}
		}
		if want := m.Text.check(text, present); want != "" {
			k.fail("xpath "+p.Name, p.At, want, orNoValue(text, present))
		}
	}
}

// datastore checks one store after the run.
func (k *checker) datastore(ctx context.Context, se *storeExpect, db *store.DB) {
	entries, err := db.KV().Select(ctx, se.Store, store.SelectOptions{})
	if err != nil {
		k.fail("datastore "+se.Store, se.At, "readable", err.Error())
		return
	}
	ids := make([]string, len(entries))
	for i, e := range entries {
		ids[i] = e.ID
	}
	shownIDs := "entries: " + orNone(ids)
	switch {
	case se.Empty:
		if len(entries) > 0 {
			k.fail("datastore "+se.Store, se.At, "empty", shownIDs)
		}
		return
	case se.Count != nil:
		if len(entries) != *se.Count {
			k.fail("datastore "+se.Store+": number of entries", se.At, strconv.Itoa(*se.Count), fmt.Sprintf("%d (%s)", len(entries), shownIDs))
		}
		return
	}
	byID := map[string][]byte{}
	for _, e := range entries {
		byID[e.ID] = decodeStored(e.Value)
	}
	for _, ee := range se.Entries {
		what := "datastore " + se.Store + "/" + ee.ID
		if ee.ID == "*" { // some entry must match
			if len(entries) == 0 {
				k.fail(what, ee.At, "an entry", "the store is empty")
				continue
			}
			var firstFails []failure
			matched := false
			for _, e := range entries {
				sub := &checker{c: k.c, out: k.out}
				sub.entry(what, ee, byID[e.ID], true)
				if len(sub.fails) == 0 {
					matched = true
					break
				}
				if firstFails == nil {
					firstFails = sub.fails
				}
			}
			if !matched {
				f := firstFails[0]
				f.What += " (no entry matches; the first one, " + entries[0].ID + ")"
				k.fails = append(k.fails, f)
			}
			continue
		}
		v, present := byID[ee.ID]
		switch {
		case ee.Absent:
			if present {
				k.fail(what, ee.At, "absent", shownBody(v))
			}
		case !present:
			k.fail(what, ee.At, "present", "absent ("+shownIDs+")")
		default:
			k.entry(what, ee, v, true)
		}
	}
}

func (k *checker) entry(what string, ee *entryExpect, v []byte, present bool) {
	if want := ee.Text.check(string(v), present); want != "" {
		k.fail(what, ee.At, want, shownBody(v))
	}
	if len(ee.JSONPath) > 0 {
		k.jsonPaths(what+" jsonpath", ee.JSONPath, v)
	}
}

// enqueued checks the messages the run left in the queues. The list names
// every queue that should have received messages: any other queue that
// did is a failure, and `enqueued: []` means none at all.
func (k *checker) enqueued(list []*EnqueuedExpect, at Pos) {
	listed := map[string]bool{}
	for _, ee := range list {
		listed[ee.Queue] = true
		msgs := k.out.enqueued[ee.Queue]
		what := "enqueued " + ee.Queue
		if ee.Count != nil {
			if len(msgs) != *ee.Count {
				k.fail(what+": count", ee.At, strconv.Itoa(*ee.Count), strconv.Itoa(len(msgs)))
				continue
			}
		} else if len(msgs) == 0 {
			k.fail(what+": count", ee.At, "at least 1", "0")
			continue
		}
		for i, m := range msgs {
			w := fmt.Sprintf("%s: message %d", what, i+1)
			if ee.Body != nil {
				k.body(w+" body", ee.At, ee.Body, m.Body)
			}
			for _, s := range ee.BodyContains {
				if !bytes.Contains(m.Body, []byte(s)) {
					k.fail(w+" body", ee.At, "containing "+strconv.Quote(s), shownBody(m.Body))
				}
			}
			if ee.Key != nil && m.Key != *ee.Key {
				k.fail(w+" key", ee.At, *ee.Key, m.Key)
			}
			for _, h := range ee.Headers {
				v, present := m.Headers[textproto.CanonicalMIMEHeaderKey(h.Name)]
				if want := h.M.check(v, present); want != "" {
					k.fail(w+" header "+h.Name, h.At, want, orNoValue(v, present))
				}
			}
		}
	}
	for _, q := range sortedKeys(k.out.enqueued) {
		if n := len(k.out.enqueued[q]); n > 0 && !listed[q] {
			k.fail("enqueued "+q, at, "no message", fmt.Sprintf("%d %s:\n%s", n, plural(n, "message", "messages"), shownBody(k.out.enqueued[q][0].Body)))
		}
	}
}

// unmatched reports every outbound request no mock answered, with the
// mocks it could have matched: usually the first thing to fix.
func (k *checker) unmatched(t *mockTransport) {
	_, unmatched := t.snapshot()
	for _, c := range unmatched {
		var b strings.Builder
		fmt.Fprintf(&b, "outbound request without a mock: %s\n", c.shown())
		if len(c.Body) > 0 {
			fmt.Fprintf(&b, "  body: %s\n", firstLine(string(c.Body), 200))
		}
		if len(t.mocks) == 0 {
			b.WriteString("  the case has no mocks: add one under mocks: with this method and URL")
		} else {
			b.WriteString("  no mock matches; the case's mocks are:")
			for i, m := range t.mocks {
				fmt.Fprintf(&b, "\n    %d. %s", i+1, m.describe())
			}
		}
		k.fails = append(k.fails, failure{What: "outbound request", At: k.c.At, Detail: b.String()})
	}
}

// mocks checks each mock's expectations on its calls, and that every
// outbound request met a mock.
func (k *checker) mocks(t *mockTransport) {
	calls, _ := t.snapshot()
	for i, m := range t.mocks {
		e := m.Expect
		if e == nil {
			continue
		}
		what := "mock " + m.describe()
		cs := calls[i]
		if e.Calls != nil && len(cs) != *e.Calls {
			k.fail(what+": calls", e.At, strconv.Itoa(*e.Calls), strconv.Itoa(len(cs)))
		}
		needsCall := e.Body != nil || len(e.BodyContains) > 0 || len(e.Headers) > 0 || len(e.Query) > 0 || len(e.Form) > 0 || len(e.JSONPath) > 0
		if !needsCall {
			continue
		}
		if len(cs) == 0 {
			if e.Calls == nil { // a calls mismatch already says so
				k.fail(what, e.At, "called (its expectations are checked on the last call)", "never called")
			}
			continue
		}
		last := cs[len(cs)-1]
		w := what + ": last call"
		if len(cs) == 1 {
			w = what + ": the call"
		}
		if e.Body != nil {
			k.body(w+" body", e.At, e.Body, last.Body)
		}
		for _, s := range e.BodyContains {
			if !bytes.Contains(last.Body, []byte(s)) {
				k.fail(w+" body", e.At, "containing "+strconv.Quote(s), shownBody(last.Body))
			}
		}
		for _, h := range e.Headers {
			vs := last.Header.Values(h.Name)
			v := strings.Join(vs, ", ")
			if want := h.M.check(v, len(vs) > 0); want != "" {
				k.fail(w+" header "+h.Name, h.At, want, orNoValue(v, len(vs) > 0))
			}
		}
		k.values(w+" query", e.Query, last.URL.Query())
		if len(e.Form) > 0 {
			form, err := url.ParseQuery(string(last.Body))
			if err != nil || !strings.HasPrefix(last.Header.Get("Content-Type"), "application/x-www-form-urlencoded") {
				k.fail(w+" form", e.Form[0].At, "a form body (application/x-www-form-urlencoded)", shownBody(last.Body))
			} else {
				k.values(w+" form", e.Form, form)
			}
		}
		if len(e.JSONPath) > 0 {
			k.jsonPaths(w+" jsonpath", e.JSONPath, last.Body)
		}
	}
}

func (k *checker) values(what string, want textMatchers, got url.Values) {
	for _, h := range want {
		vs, present := got[h.Name]
		v := strings.Join(vs, ", ")
		if w := h.M.check(v, present); w != "" {
			k.fail(what+" "+h.Name, h.At, w, orNoValue(v, present))
		}
	}
}

func firstLine(s string, max int) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i] + " ..."
	}
	if len(s) > max {
		s = s[:max] + "..."
	}
	return s
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
