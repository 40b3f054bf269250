package steps_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stride-engine/stride/engine/flow"
)

// jsonBody decodes the message body, failing the test when it is not JSON.
func jsonBody(t *testing.T, x *flow.Exchange) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(x.Msg.Body(), &v); err != nil {
		t.Fatalf("body %q is not JSON: %v", x.Msg.Body(), err)
	}
	return v
}

func wantJSONBody(t *testing.T, x *flow.Exchange, want string) {
	t.Helper()
	var w any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad want %s: %v", want, err)
	}
	if got := jsonBody(t, x); !reflect.DeepEqual(got, w) {
		t.Errorf("body\n got  %s\n want %s", x.Msg.Body(), want)
	}
	if ct := x.Msg.ContentType(); ct != "application/json" {
		t.Errorf("content type %q", ct)
	}
}

// hits counts the requests a server got per path.
type hits struct {
	mu sync.Mutex
	n  map[string]int
}

func (h *hits) add(path string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.n == nil {
		h.n = map[string]int{}
	}
	h.n[path]++
	return h.n[path]
}

func (h *hits) get(path string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.n[path]
}

// CPI's pattern: select a data store's entries as the XML envelope and
// split it per entry; each item is only its own <message> element.
func TestSplitDatastoreEnvelopeSequential(t *testing.T) {
	svc := openKV(t)
	for _, id := range []string{"u2", "u1", "u3"} {
		body := fmt.Sprintf(`<?xml version="1.0"?><user><token>t-%s</token></user>`, id)
		if _, err := runWith(t, svc, "  - datastore_put: {store: users, id: "+id+"}\n", body); err != nil {
			t.Fatal(err)
		}
	}
	srv := newReqServer(t, reply(204, "", ""))
	x, err := runWith(t, svc, fmt.Sprintf(`
  - datastore_select: {store: users}
  - split:
      xpath: /messages/message
      aggregate: json
      steps:
        - request: {method: POST, url: '%s/sync', into: property.ignored}
        - set:
            body: '${ {"id": xpath("/message/@id"), "token": xpath("/message/user/token"), "index": split.index, "size": split.size, "last": split.last, "len": len(body)} }'
`, srv.URL), "")
	noError(t, err)
	wantJSONBody(t, x, `[
		{"id": "u1", "token": "t-u1", "index": 0, "size": 3, "last": false, "len": 59},
		{"id": "u2", "token": "t-u2", "index": 1, "size": 3, "last": false, "len": 59},
		{"id": "u3", "token": "t-u3", "index": 2, "size": 3, "last": true, "len": 59}]`)
	wantProp(t, x, "split_size", 3)
	var seen []string // what each item sent, in arrival order
	for _, r := range srv.requests() {
		seen = append(seen, r.Header.Get("Content-Type")+" "+r.Body)
	}
	want := []string{
		`application/xml <message id="u1"><user><token>t-u1</token></user></message>`,
		`application/xml <message id="u2"><user><token>t-u2</token></user></message>`,
		`application/xml <message id="u3"><user><token>t-u3</token></user></message>`,
	}
	if !reflect.DeepEqual(seen, want) {
		t.Errorf("the items sent\n%s\nwant (each only its own element, in order)\n%s", strings.Join(seen, "\n"), strings.Join(want, "\n"))
	}
}

const fitbitNotifications = `[
	{"collectionType": "activities", "date": "2026-11-22", "ownerId": "A", "subscriptionId": "1"},
	{"collectionType": "sleep", "date": "2026-11-22", "ownerId": "B", "subscriptionId": "2"},
	{"collectionType": "activities", "date": "2026-11-23", "ownerId": "C", "subscriptionId": "3"}]`

func TestSplitJSONPathOverFitbitNotifications(t *testing.T) {
	x, err := runSteps(t, `
  - split:
      jsonpath: '$[*]'
      aggregate: json
      steps:
        - filter: json.collectionType == "activities"
        - set:
            body: '${ {"owner": json.ownerId, "day": json.date, "index": split.index, "size": split.size, "last": split.last} }'
  - set: {properties: {after: '${len(json)}'}}
`, fitbitNotifications, "application/json")
	noError(t, err)
	// B (sleep) was filtered: not an error, and not in the aggregate.
	wantJSONBody(t, x, `[
		{"owner": "A", "day": "2026-11-22", "index": 0, "size": 3, "last": false},
		{"owner": "C", "day": "2026-11-23", "index": 2, "size": 3, "last": true}]`)
	wantProp(t, x, "after", 2) // the steps after the split ran, on the aggregate
	if x.Status != "" {
		t.Errorf("a filtered item ended the message: status %q", x.Status)
	}
}

func TestSplitJSONItemShapes(t *testing.T) {
	runCases(t, []stepCase{
		{name: "a string item is text/plain and stays a string in the aggregate", body: `["1", 2, {"a": [true]}, null]`, steps: `
  - split:
      jsonpath: '$'
      aggregate: json
      steps:
        - set: {properties: {x: 1}}
`, check: func(t *testing.T, x *flow.Exchange, err error) {
			noError(t, err)
			wantJSONBody(t, x, `["1", 2, {"a": [true]}, null]`)
			wantProp(t, x, "split_size", 4)
		}},
		{name: "a single value is one item", body: fitbitNotifications, steps: `
  - split:
      jsonpath: '$[1]'
      aggregate: json
      steps:
        - set: {body: '${json.ownerId}/${split.size}'}
`, check: func(t *testing.T, x *flow.Exchange, err error) {
			noError(t, err)
			wantJSONBody(t, x, `["B/1"]`)
		}},
		{name: "a single string is one text item", body: fitbitNotifications, steps: `
  - split:
      jsonpath: '$[2].ownerId'
      aggregate: xml
      steps:
        - set: {properties: {x: 1}}
`, check: func(t *testing.T, x *flow.Exchange, err error) {
			noError(t, err)
			if got := string(x.Msg.Body()); got != "<messages><message>C</message></messages>" {
				t.Errorf("got %s", got)
			}
		}},
	})
}

// What an item's message is, as the item sends it on.
func TestSplitJSONItemsAsSent(t *testing.T) {
	srv := newReqServer(t, reply(204, "", ""))
	for _, tc := range []struct {
		path, body string
		want       []string
	}{
		{"$[*].ownerId", fitbitNotifications, []string{"text/plain; charset=utf-8 A", "text/plain; charset=utf-8 B", "text/plain; charset=utf-8 C"}},
		{"$[0]", fitbitNotifications, []string{`application/json {"collectionType":"activities","date":"2026-11-22","ownerId":"A","subscriptionId":"1"}`}},
		{"$[*].date", fitbitNotifications, []string{"text/plain; charset=utf-8 2026-11-22", "text/plain; charset=utf-8 2026-11-22", "text/plain; charset=utf-8 2026-11-23"}},
		// $[*] over an array gives each element as written: key order and
		// every digit of a large number are kept.
		{"$[*]", ` [{"z": 1, "a": 12345678901234567890}, "s\u00e9", null, 2.50] `, []string{
			`application/json {"z": 1, "a": 12345678901234567890}`, "text/plain; charset=utf-8 s\u00e9", "application/json null", "application/json 2.50"}},
		// Other paths re-encode the selected value.
		{"$[0]", `[{"z": 1, "a": 2.50}]`, []string{`application/json {"a":2.5,"z":1}`}},
		{"$", `{"z": 1}`, []string{`application/json {"z":1}`}},
	} {
		before := len(srv.requests())
		_, err := runSteps(t, fmt.Sprintf("  - split: {jsonpath: '%s', steps: [{request: {method: POST, url: '%s/x', into: property.a}}]}\n", tc.path, srv.URL), tc.body, "")
		noError(t, err)
		var seen []string
		for _, r := range srv.requests()[before:] {
			seen = append(seen, r.Header.Get("Content-Type")+" "+r.Body)
		}
		if !reflect.DeepEqual(seen, tc.want) {
			t.Errorf("%s: items sent\n%s\nwant\n%s", tc.path, strings.Join(seen, "\n"), strings.Join(tc.want, "\n"))
		}
	}
}

func TestSplitItemMessagesAreCopies(t *testing.T) {
	x, err := runSteps(t, `
  - set: {properties: {p: parent, keep: 1}, headers: {X-Mark: parent}}
  - split:
      jsonpath: '$[*]'
      aggregate: json
      steps:
        - set:
            properties: {seen_p: '${property.p}', seen_mark: '${header["X-Mark"]}'}
        - set:
            properties: {p: 'item-${split.index}', only_in_item: true}
            headers: {X-Mark: 'item-${split.index}'}
            remove_properties: [keep]
        - set: {body: '${ {"seen_p": property.seen_p, "seen_mark": property.seen_mark, "p": property.p} }'}
`, `[1, 2, 3]`, "")
	noError(t, err)
	// Sequential, so a leak from item 0 would show in item 1.
	wantJSONBody(t, x, `[
		{"seen_p": "parent", "seen_mark": "parent", "p": "item-0"},
		{"seen_p": "parent", "seen_mark": "parent", "p": "item-1"},
		{"seen_p": "parent", "seen_mark": "parent", "p": "item-2"}]`)
	wantProp(t, x, "p", "parent")
	wantProp(t, x, "keep", 1)
	wantProp(t, x, "only_in_item", nil)
	wantProp(t, x, "seen_p", nil)
	if x.Msg.Header["X-Mark"] != "parent" {
		t.Errorf("header X-Mark = %q", x.Msg.Header["X-Mark"])
	}

	// Without aggregate the body after the split is the body before it.
	x, err = runSteps(t, `
  - split:
      jsonpath: '$[*]'
      steps:
        - set: {body: changed}
`, `[1, 2]`, "application/json")
	noError(t, err)
	if string(x.Msg.Body()) != `[1, 2]` || x.Msg.ContentType() != "application/json" {
		t.Errorf("body %q (%s)", x.Msg.Body(), x.Msg.ContentType())
	}
}

func TestSplitEmptySelection(t *testing.T) {
	for _, tc := range []struct{ name, split, body, ct, wantBody string }{
		{"xpath", "xpath: /messages/message", "<messages></messages>", "application/xml", "<messages></messages>"},
		{"jsonpath on an empty array", "jsonpath: '$[*]'", "[]", "", "[]"},
		{"jsonpath on a missing key", "jsonpath: '$.items'", `{"other": 1}`, "", "[]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			agg := "json"
			if tc.ct == "application/xml" {
				agg = "xml"
			}
			x, err := runSteps(t, fmt.Sprintf(`
  - split:
      %s
      aggregate: %s
      on_item_error: continue
      steps:
        - fail: no item may run
`, tc.split, agg), tc.body, tc.ct)
			noError(t, err)
			wantProp(t, x, "split_size", 0)
			wantProp(t, x, "split_failed", 0)
			if errs, ok := x.Msg.Property["split_errors"].([]any); !ok || len(errs) != 0 {
				t.Errorf("split_errors = %#v, want an empty list", x.Msg.Property["split_errors"])
			}
			if string(x.Msg.Body()) != tc.wantBody {
				t.Errorf("body %q, want %q", x.Msg.Body(), tc.wantBody)
			}
		})
	}
}

func TestSplitCompleteInAnItemIsNotAFailure(t *testing.T) {
	x, err := runSteps(t, `
  - split:
      jsonpath: '$[*]'
      aggregate: json
      steps:
        - route:
            - when: json == 2
              steps: [{complete: ALREADY_DONE}]
        - set: {body: 'kept ${json}'}
`, `[1, 2, 3]`, "")
	noError(t, err)
	wantJSONBody(t, x, `["kept 1", "kept 3"]`)
	if x.Status != "" || x.Stopped() {
		t.Errorf("status %q, stopped %v: an item's complete ended the message", x.Status, x.Stopped())
	}
}

// items fail where json.bad is true; each calls the server first, so the
// server sees which items ran.
const failingItems = `
  - split:
      jsonpath: '$[*]'
      on_item_error: %s
      parallel: %d
      aggregate: json
      steps:
        - request: {url: '%s/item/${json.id}', into: property.answer}
        - route:
            - when: json.bad ?? false
              steps: [{fail: 'bad ${json.id}'}]
        - set: {body: '${json.id}'}
`

func TestSplitStopAndContinue(t *testing.T) {
	body := `[{"id": "a"}, {"id": "b", "bad": true}, {"id": "c", "bad": true}, {"id": "d"}]`
	t.Run("stop", func(t *testing.T) {
		var h hits
		srv := newReqServer(t, func(w http.ResponseWriter, r *http.Request) { h.add(r.URL.Path); w.WriteHeader(204) })
		x, err := runSteps(t, fmt.Sprintf(failingItems, "stop", 1, srv.URL), body, "")
		if err == nil || !strings.Contains(err.Error(), "item 2 of 4 (split.index 1): bad b") {
			t.Fatalf("got %v, want the error of item 2 of 4", err)
		}
		if h.get("/item/a") != 1 || h.get("/item/b") != 1 || h.get("/item/c") != 0 || h.get("/item/d") != 0 {
			t.Errorf("items run: %v; want a and b only", h.n)
		}
		if string(x.Msg.Body()) != body {
			t.Errorf("a failed split changed the body: %s", x.Msg.Body())
		}
		wantProp(t, x, "split_size", 4)
		wantProp(t, x, "split_errors", nil)
	})
	t.Run("continue", func(t *testing.T) {
		var h hits
		srv := newReqServer(t, func(w http.ResponseWriter, r *http.Request) { h.add(r.URL.Path); w.WriteHeader(204) })
		x, err := runSteps(t, fmt.Sprintf(failingItems, "continue", 1, srv.URL), body, "")
		noError(t, err)
		for _, id := range []string{"a", "b", "c", "d"} {
			if h.get("/item/"+id) != 1 {
				t.Errorf("item %s ran %d times, want 1", id, h.get("/item/"+id))
			}
		}
		wantJSONBody(t, x, `["a", "d"]`)
		wantProp(t, x, "split_failed", 2)
		errs, _ := x.Msg.Property["split_errors"].([]any)
		if len(errs) != 2 {
			t.Fatalf("split_errors = %#v", x.Msg.Property["split_errors"])
		}
		for i, want := range []struct {
			index int
			msg   string
		}{{1, "bad b"}, {2, "bad c"}} {
			e := errs[i].(map[string]any)
			if e["index"] != want.index || !strings.Contains(e["error"].(string), want.msg) || !strings.Contains(e["error"].(string), "f.yaml:") {
				t.Errorf("split_errors[%d] = %#v, want index %d and an error naming %q and its step", i, e, want.index, want.msg)
			}
		}
		// The list is usable from expressions.
		x, err = runSteps(t, fmt.Sprintf(failingItems, "continue", 2, srv.URL)+
			"  - set: {properties: {first: '${property.split_errors[0].index}:${property.split_errors[1].error contains \"bad c\"}'}}\n", body, "")
		noError(t, err)
		wantProp(t, x, "first", "1:true")
	})
}

// With parallel items, stop reports the lowest failed item, not the one
// that failed first in time, and starts no item after a failure.
func TestSplitParallelStopReportsTheLowestFailedItem(t *testing.T) {
	fastFailed := make(chan struct{})
	var h hits
	srv := newReqServer(t, func(w http.ResponseWriter, r *http.Request) {
		h.add(r.URL.Path)
		switch r.URL.Path {
		case "/item/0", "/item/1", "/item/2": // finish after item 3 failed; 1 fails
			select {
			case <-fastFailed:
			case <-time.After(5 * time.Second):
				t.Error("item 3 never ran: the items do not run in parallel")
			}
			time.Sleep(100 * time.Millisecond)
			if r.URL.Path == "/item/1" {
				w.WriteHeader(500)
			} else {
				w.WriteHeader(204)
			}
		case "/item/3": // fails first
			w.WriteHeader(500)
			close(fastFailed)
		default:
			w.WriteHeader(204)
		}
	})
	body := `[{"id": 0}, {"id": 1}, {"id": 2}, {"id": 3}, {"id": 4}, {"id": 5}, {"id": 6}, {"id": 7}]`
	_, err := runSteps(t, fmt.Sprintf(failingItems, "stop", 4, srv.URL), body, "")
	if err == nil || !strings.Contains(err.Error(), "item 2 of 8 (split.index 1): GET") || !strings.Contains(err.Error(), "500") {
		t.Fatalf("got %v, want the error of item 2 of 8 (index 1)", err)
	}
	wantReqStatus(t, err, 500)
	for i := 4; i < 8; i++ {
		if n := h.get("/item/" + strconv.Itoa(i)); n != 0 {
			t.Errorf("item %d started after the failure", i)
		}
	}
}

// 200 items, 8 at a time, against a server that counts how many are in
// flight: never more than 8, more than one (it is parallel), and the
// aggregate in item order.
func TestSplitParallelIsBoundedAndKeepsOrder(t *testing.T) {
	svc := openKV(t)
	var inFlight, maxInFlight atomic.Int32
	srv := newReqServer(t, func(w http.ResponseWriter, r *http.Request) {
		n := inFlight.Add(1)
		defer inFlight.Add(-1)
		for {
			m := maxInFlight.Load()
			if n <= m || maxInFlight.CompareAndSwap(m, n) {
				break
			}
		}
		time.Sleep(2 * time.Millisecond)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"n": %s}`, strings.TrimPrefix(r.URL.Path, "/item/"))
	})
	items := make([]string, 200)
	for i := range items {
		items[i] = fmt.Sprintf(`{"i": %d, "id": "e%03d"}`, i, i)
	}
	// Each item also writes the store and registers a completion hook, so
	// that the shared services and hooks are used concurrently.
	x, err := runWith(t, svc, fmt.Sprintf(`
  - split:
      jsonpath: '$[*]'
      parallel: 8
      aggregate: json
      steps:
        - set: {properties: {id: '${json.id}', i: '${json.i}'}}
        - datastore_put: {store: seen, id: '${property.id}'}
        - datastore_select: {store: seen, prefix: '${property.id}', delete_on_completion: true}
        - request: '%s/item/${property.i}'
        - set: {body: '${ {"n": json.n, "index": split.index, "id": property.id} }'}
`, srv.URL), "["+strings.Join(items, ",")+"]")
	noError(t, err)
	got, _ := jsonBody(t, x).([]any)
	if len(got) != 200 {
		t.Fatalf("%d results, want 200", len(got))
	}
	for i, v := range got {
		m := v.(map[string]any)
		if m["n"] != float64(i) || m["index"] != float64(i) || m["id"] != fmt.Sprintf("e%03d", i) {
			t.Fatalf("result %d is %v: not in item order", i, m)
		}
	}
	if m := maxInFlight.Load(); m > 8 || m < 2 {
		t.Errorf("at most %d items ran at once, want 2 to 8", m)
	}
	// The completion hooks of all items ran once the message completed.
	after, err := runWith(t, svc, "  - datastore_select: {store: seen, format: json}\n", "")
	noError(t, err)
	if string(after.Msg.Body()) != "[]\n" {
		t.Errorf("entries left after completion: %s", after.Msg.Body())
	}
}

func TestSplitAggregateXML(t *testing.T) {
	x, err := runSteps(t, `
  - split:
      xpath: /orders/order
      aggregate: xml
      aggregate_root: results
      aggregate_item: result
      steps:
        - route:
            - when: xpath("/order/@id") == "1"
              steps: [{set: {body: '<?xml version="1.0" encoding="UTF-8"?><ok id="1"/>'}}]
            - when: xpath("/order/@id") == "2"
              steps: [{set: {body: 'a < b & "c"', content_type: text/plain}}]
            - when: xpath("/order/@id") == "3"
              steps: [{filter: "false"}]
`, `<orders><order id="1"/><order id="2"/><order id="3"/><order id="4"><line>x</line></order></orders>`, "application/xml")
	noError(t, err)
	want := `<results><result><ok id="1"/></result><result>a &lt; b &amp; &#34;c&#34;</result><result><order id="4"><line>x</line></order></result></results>`
	if got := string(x.Msg.Body()); got != want || x.Msg.ContentType() != "application/xml" {
		t.Errorf("got  %s (%s)\nwant %s", got, x.Msg.ContentType(), want)
	}
}

func TestSplitXPathItems(t *testing.T) {
	t.Run("attributes and text are text items", func(t *testing.T) {
		x, err := runSteps(t, `
  - split:
      xpath: /messages/message/@id
      aggregate: json
      steps:
        - set: {body: '${body}:${split.index}'}
`, `<messages><message id="u1"/><message id="u2"/></messages>`, "application/xml")
		noError(t, err)
		wantJSONBody(t, x, `["u1:0", "u2:1"]`)
	})
	t.Run("an element keeps the namespaces in scope", func(t *testing.T) {
		x, err := runSteps(t, `
  - split:
      xpath: //*[local-name()='message']
      aggregate: json
      steps:
        - set: {properties: {x: 1}}
`, `<a:messages xmlns:a="urn:a" xmlns="urn:d" xmlns:b="urn:b"><a:message id="1" xmlns:b="urn:b2"><b:x/></a:message><message>t</message></a:messages>`, "application/xml")
		noError(t, err)
		wantJSONBody(t, x, `[
			"<a:message xmlns:a=\"urn:a\" xmlns=\"urn:d\" id=\"1\" xmlns:b=\"urn:b2\"><b:x></b:x></a:message>",
			"<message xmlns:a=\"urn:a\" xmlns=\"urn:d\" xmlns:b=\"urn:b\">t</message>"]`)
	})
	t.Run("an XPath giving a value fails at run time", func(t *testing.T) {
		_, err := runSteps(t, "  - split: {xpath: 'count(/a/b)', steps: [{set: {properties: {x: 1}}}]}\n", "<a><b/></a>", "application/xml")
		if err == nil || !strings.Contains(err.Error(), "selects a value, not nodes") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("a body that is not XML fails", func(t *testing.T) {
		_, err := runSteps(t, "  - split: {xpath: /a, steps: [{set: {properties: {x: 1}}}]}\n", `{"a": 1}`, "")
		if err == nil || !strings.Contains(err.Error(), "not well-formed XML") {
			t.Errorf("got %v", err)
		}
	})
}

// The 401 pattern inside a split: on_error runs in the item that failed,
// repairs its token and retries; only that item's request is sent again.
func TestSplitRetryRepeatsOnlyTheFailedItemsStep(t *testing.T) {
	var h hits
	srv := newReqServer(t, func(w http.ResponseWriter, r *http.Request) {
		h.add(r.URL.Path)
		if r.URL.Path == "/users/u2" && r.Header.Get("Authorization") != "Bearer fresh" {
			w.WriteHeader(401)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"user": %q, "auth": %q}`, strings.TrimPrefix(r.URL.Path, "/users/"), r.Header.Get("Authorization"))
	})
	set := reqFlow(t, "env: [API_URL]\non_error:\n"+`
  - request: {url: '${env.API_URL}/on_error', into: property.ignored}
  - route:
      - when: error.status == 401 && error.step == "send"
        steps:
          - set: {properties: {token: fresh}}
          - retry: {max: 1}
`, `
  - set: {properties: {token: stale}}
  - split:
      jsonpath: '$[*]'
      parallel: 2
      aggregate: json
      steps:
        - name: send
          request:
            url: '${env.API_URL}/users/${json.id}'
            headers: {Authorization: 'Bearer ${property.token}'}
`, map[string]string{"API_URL": srv.URL})
	x, err := runReqFlow(context.Background(), set, `[{"id": "u1"}, {"id": "u2"}, {"id": "u3"}]`, "")
	noError(t, err)
	wantJSONBody(t, x, `[{"user": "u1", "auth": "Bearer stale"}, {"user": "u2", "auth": "Bearer fresh"}, {"user": "u3", "auth": "Bearer stale"}]`)
	for path, want := range map[string]int{"/users/u1": 1, "/users/u2": 2, "/users/u3": 1, "/on_error": 1} {
		if got := h.get(path); got != want {
			t.Errorf("%s: %d requests, want %d", path, got, want)
		}
	}
	wantProp(t, x, "token", "stale") // the repair stayed in its item
	var kinds []string
	for _, e := range x.Trace {
		kinds = append(kinds, e.Step+":"+e.Outcome)
	}
	// u2's failure, on_error's steps and the retry are in the message's trace.
	if got := strings.Join(kinds, " "); !strings.Contains(got, "send:error") || !strings.Contains(got, "retry:ok") || strings.Count(got, "send:ok") != 3 {
		t.Errorf("trace: %s", got)
	}
}

// When an item's on_error has run and the item still fails, the split
// fails with that error, and on_error does not run again for the split.
func TestSplitItemErrorHandledOnceByOnError(t *testing.T) {
	for _, tc := range []struct {
		name, onError, want string
		onErrorRuns         int
	}{
		{"retries spent", "  - retry: {max: 1}\n", "item 2 of 3 (split.index 1): GET", 2},
		{"on_error fails", "  - fail: on_error broke\n", "then on_error failed", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h hits
			srv := newReqServer(t, func(w http.ResponseWriter, r *http.Request) {
				h.add(r.URL.Path)
				if r.URL.Path == "/users/u2" {
					w.WriteHeader(401)
				}
			})
			set := reqFlow(t, "env: [API_URL]\non_error:\n  - request: {url: '${env.API_URL}/on_error', into: property.ignored}\n"+tc.onError, `
  - split:
      jsonpath: '$[*]'
      steps:
        - name: send
          request: '${env.API_URL}/users/${json.id}'
`, map[string]string{"API_URL": srv.URL})
			_, err := runReqFlow(context.Background(), set, `[{"id": "u1"}, {"id": "u2"}, {"id": "u3"}]`, "")
			if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Count(err.Error(), "then on_error failed") > 1 {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
			var se *flow.StepError
			if !errors.As(err, &se) || se.Status != 401 || se.Step != "send" {
				t.Errorf("want the item's step error with status 401, got %#v", se)
			}
			if got := h.get("/on_error"); got != tc.onErrorRuns {
				t.Errorf("on_error ran %d times, want %d", got, tc.onErrorRuns)
			}
			if h.get("/users/u1") != 1 || h.get("/users/u3") != 0 {
				t.Errorf("requests: %v (the split must not run again, nor go past the failure)", h.n)
			}
		})
	}
}

// A respond reached in an item (here by on_error) answers for the whole
// message, which ends after the split.
func TestSplitRespondFromAnItemsOnErrorAnswersTheMessage(t *testing.T) {
	x, err := runSteps(t, `
  - split:
      jsonpath: '$[*]'
      steps:
        - set: {properties: {seen: '${json}'}}
        - route:
            - when: json >= 2
              steps: [{fail: 'item ${json} is bad'}]
  - set: {properties: {after: true}}
on_error:
  - respond: {status: 502, body: 'failed: ${error.message}'}
`, `[1, 2, 3]`, "")
	noError(t, err)
	if x.Response == nil || x.Response.Status != 502 || string(x.Response.Body) != "failed: item 2 is bad" {
		t.Fatalf("response %+v", x.Response)
	}
	wantProp(t, x, "after", nil)
	if !x.Stopped() {
		t.Error("the message goes on after a respond")
	}
}

func TestSplitTraceShowsItemsWithinTheBound(t *testing.T) {
	x, err := runSteps(t, `
  - split:
      jsonpath: '$[*]'
      steps:
        - name: each
          set: {properties: {i: '${split.index}'}}
`, `[1, 2, 3]`, "")
	noError(t, err)
	var got []string
	for _, e := range x.Trace {
		got = append(got, e.Step+"@"+e.At)
	}
	if want := "each@f.yaml:8 each@f.yaml:8 each@f.yaml:8 split@f.yaml:4"; strings.Join(got, " ") != want {
		t.Errorf("trace %q, want %q", strings.Join(got, " "), want)
	}

	body := "[" + strings.TrimSuffix(strings.Repeat("1,", 300), ",") + "]"
	x, err = runSteps(t, `
  - split:
      jsonpath: '$[*]'
      parallel: 4
      steps:
        - set: {properties: {i: '${split.index}'}}
`, body, "")
	noError(t, err)
	if len(x.Trace) != 256 || x.TraceDropped != 300+1-256 {
		t.Errorf("trace of %d entries, %d dropped; want 256 and %d", len(x.Trace), x.TraceDropped, 300+1-256)
	}
}

func TestSplitNested(t *testing.T) {
	_, err := runSteps(t, `
  - split:
      jsonpath: '$[*]'
      steps:
        - split:
            jsonpath: '$.items[*]'
            steps:
              - route:
                  - when: body == "bad"
                    steps: [{fail: 'bad at ${split.index}'}]
`, `[{"items": ["ok"]}, {"items": ["ok", "ok", "bad"]}]`, "")
	if err == nil || !strings.Contains(err.Error(), "item 2 of 2 (split.index 1): item 3 of 3 (split.index 2): bad at 2") {
		t.Fatalf("got %v", err)
	}
}

func TestSplitLoadErrors(t *testing.T) {
	ok := "      steps: [{set: {properties: {x: 1}}}]\n"
	for _, tc := range []struct{ steps, want string }{
		{"  - split:\n      xpath: /a\n      jsonpath: '$'\n" + ok, "give exactly one of xpath, jsonpath and store"},
		{"  - split:\n      parallel: 2\n" + ok, "give exactly one of xpath, jsonpath and store"},
		{"  - split:\n      xpath: '/a['\n" + ok, `f.yaml:5:7: split: XPath "/a["`},
		{"  - split:\n      jsonpath: '$[?('\n" + ok, `f.yaml:5:7: split: JSONPath "$[?("`},
		{"  - split:\n      xpath: /a\n      parallel: 0\n" + ok, "f.yaml:6:7: split: parallel must be between 1 and 100, found 0"},
		{"  - split:\n      xpath: /a\n      parallel: 101\n" + ok, "parallel must be between 1 and 100"},
		{"  - split:\n      xpath: /a\n      steps: [{respond: {status: 200}}]\n", "respond cannot run on an item"},
		{"  - split:\n      xpath: /a\n      steps: []\n", "give the steps to run on each item"},
		{"  - split:\n      xpath: /a\n", `missing required key "steps"`},
		{"  - split:\n      xpath: /a\n      aggregate_root: r\n" + ok, "aggregate_root applies only with aggregate: xml"},
		{"  - split:\n      xpath: /a\n      aggregate: xml\n      aggregate_item: 'a b'\n" + ok, `aggregate_item "a b" is not an XML element name`},
		{"  - split:\n      xpath: /a\n      on_item_error: skip\n" + ok, `"skip" is not one of stop, continue`},
		{"  - split:\n      xpath: /a\n      aggregate: csv\n" + ok, `"csv" is not one of none, json, xml`},
		{"  - set: {properties: {i: '${split.index}'}}\n", "split.* is only in scope inside the steps of a split"},
		{"  - split:\n      xpath: /a\n      steps: [{set: {properties: {i: '${split.indx}'}}}]\n", "indx"},
	} {
		if e := loadError(tc.steps); !strings.Contains(e, tc.want) {
			t.Errorf("%s\ngot  %q\nwant %q", tc.steps, e, tc.want)
		}
	}
	// retry directly in a split that is part of on_error.
	src := "flow: f\ntrigger: {call: {}}\nsteps:\n  - fail: x\non_error:\n  - split:\n      xpath: /a\n      steps: [{retry: {max: 1}}]\n"
	if _, err := flow.Load([]flow.Source{{Name: "f.yaml", Data: []byte(src)}}); err == nil || !strings.Contains(err.Error(), "f.yaml:8:7: split: retry works in on_error only") {
		t.Errorf("retry inside a split: got %v", err)
	}
	if e := loadError("  - split:\n      xpath: /a\n      aggregate: xml\n      aggregate_root: r\n      steps: [{set: {properties: {i: '${split.index + split.size}', l: '${split.last}'}}}]\n"); e != "" {
		t.Errorf("a valid split does not load: %s", e)
	}
}

func TestSplitExampleLoads(t *testing.T) {
	for _, k := range flow.StepKinds() {
		if k.Name != "split" {
			continue
		}
		if k.Summary == "" || k.Doc == "" {
			t.Error("split is not documented")
		}
		for _, f := range k.Fields {
			if f.Doc == "" {
				t.Errorf("split.%s has no doc", f.Name)
			}
		}
		src := "flow: f\ntrigger: {call: {}}\nenv: [API_URL]\nsteps:\n" + indentReq(k.Example, "  ")
		if _, err := flow.Load([]flow.Source{{Name: "f.yaml", Data: []byte(src)}}); err != nil {
			t.Errorf("the example does not load: %v\n%s", err, src)
		}
		return
	}
	t.Fatal("split is not registered")
}

// BenchmarkSplitJSON1000 splits a JSON array of 1,000 objects, one set
// step per item.
func BenchmarkSplitJSON1000(b *testing.B) {
	const n = 1000
	items := make([]string, n)
	for i := range items {
		items[i] = fmt.Sprintf(`{"id": "user-%d", "collectionType": "activities", "date": "2026-11-22"}`, i)
	}
	body := []byte("[" + strings.Join(items, ",") + "]")
	src := `flow: f
trigger: {call: {}}
steps:
  - split:
      jsonpath: '$[*]'
      steps:
        - set: {properties: {owner: '${json.id}'}}
`
	set, err := flow.Load([]flow.Source{{Name: "f.yaml", Data: []byte(src)}})
	if err != nil {
		b.Fatal(err)
	}
	set.Bind(func(string) (string, bool) { return "", false })
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		x := newExchange("m1", flow.NewMessage(body, "application/json"), set, nil)
		if err := set.Run(ctx, "f", x); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/item")
}
