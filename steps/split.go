package steps

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/antchfx/xmlquery"
	"github.com/antchfx/xpath"

	"github.com/stride-engine/stride/engine/flow"
)

// splitConfig is CPI's General and Iterating Splitter with a gather: each
// selected item runs the nested steps on a message of its own.
type splitConfig struct {
	XPath         string     `yaml:"xpath" doc:"An XPath on the XML body; each selected node is an item (an element as its own XML, an attribute or text node as text). Give this or jsonpath."`
	JSONPath      string     `yaml:"jsonpath" doc:"A JSONPath on the JSON body; each element of a list result is an item, any other result is one item (a string as text, other values as JSON). Give this or xpath."`
	Store         string     `yaml:"store" doc:"Split over a data store's entries instead of the body, read a page at a time so that a store of any size is never held whole: each item is {\"id\": ..., \"body\": ...} as datastore_select's json format gives. Give this, xpath or jsonpath."`
	Page          int        `yaml:"page" default:"200" doc:"With store: the entries read at once."`
	Parallel      int        `yaml:"parallel" default:"1" doc:"How many items run at once, 1 to 100; 1 runs them one after the other, in order."`
	OnItemError   string     `yaml:"on_item_error" default:"stop" enum:"stop,continue" doc:"stop: the first failed item fails the split (items not started yet are not started); continue: every item runs and the failures are listed in property split_errors."`
	Aggregate     string     `yaml:"aggregate" default:"none" enum:"none,json,xml" doc:"none: the body after the split is the body before it; json: a JSON array of the items' final bodies; xml: <aggregate_root><aggregate_item>body</aggregate_item>...</aggregate_root>."`
	AggregateRoot string     `yaml:"aggregate_root" default:"messages" doc:"With aggregate: xml, the root element."`
	AggregateItem string     `yaml:"aggregate_item" default:"message" doc:"With aggregate: xml, the element around each item's body."`
	Steps         flow.Steps `yaml:"steps" required:"true" scope:"split" doc:"The steps run on each item; split.index (from 0), split.size and split.last are in scope."`
}

// maxParallel bounds parallel: more would hammer a target and hold that
// many item messages at once.
const maxParallel = 100

var xmlName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9._-]*$`)

type splitStep struct {
	c     *splitConfig
	xpath *xpath.Expr // compiled at load
	// wholeArray: the JSONPath selects each element of the body ($[*] or
	// $), so an array body is split without decoding it.
	wholeArray bool
	stop       bool   // on_item_error: stop
	rootOpen   string // <root>, for aggregate: xml
	itemOpen   string
}

func init() {
	flow.RegisterStep(flow.StepKind[splitConfig]{
		Name:    "split",
		Summary: "Runs steps on each item an XPath or JSONPath selects, one after the other or in parallel (CPI's splitter and gather).",
		Doc: "Each item runs on a message of its own: the body is the item, headers and properties are copies of the message's (an item's changes stay in that item). " +
			"Property split_size is the number of items; an empty selection runs nothing. With parallel, at most that many items run at once and results stay in item order. " +
			"An item ended by filter or complete is not a failure and is left out of the aggregate. " +
			"A failed step of an item runs the flow's on_error inside that item, so retry sends only that item's request again. " +
			"With on_item_error: stop the split fails with the lowest failed item's error (items already running finish first); with continue it succeeds and sets split_errors ([{index, error}]) and split_failed. " +
			"respond directly inside a split is a load error; a respond reached anyway (nested in a route, or by on_error) answers for the whole message, which then ends after the split.",
		Example: "- datastore_select: {store: fitbit-users}\n- split:\n    xpath: /messages/message\n    parallel: 4\n    on_item_error: continue\n    steps:\n      - set: {properties: {user: '${xpath(\"/message/@id\")}'}}\n      - request: '${env.API_URL}/users/${property.user}/sync'",
		Build: func(b *flow.Builder, c *splitConfig) (flow.Step, error) {
			bad := false
			var xp *xpath.Expr
			report := func(key, format string, args ...any) {
				b.Errorf(b.FieldPos(key), "split: "+format, args...)
				bad = true
			}
			sources := 0
			for _, given := range []bool{c.XPath != "", c.JSONPath != "", c.Store != ""} {
				if given {
					sources++
				}
			}
			switch {
			case sources != 1:
				report("xpath", "give exactly one of xpath, jsonpath and store")
			case c.Store != "":
				if c.Aggregate != "none" {
					report("aggregate", "aggregate collects every item: it cannot go with store, which never holds them all")
				}
				if c.Page < 1 || c.Page > 10000 {
					report("page", "page must be between 1 and 10000, found %d", c.Page)
				}
			case c.XPath != "":
				var err error
				if xp, err = xpath.Compile(c.XPath); err != nil {
					report("xpath", "XPath %q: %v", c.XPath, err)
				}
			default:
				if err := flow.CompileJSONPath(c.JSONPath); err != nil {
					report("jsonpath", "%v", err)
				}
			}
			if c.Parallel < 1 || c.Parallel > maxParallel {
				report("parallel", "parallel must be between 1 and %d, found %d", maxParallel, c.Parallel)
			}
			for _, key := range []string{"aggregate_root", "aggregate_item"} {
				if c.Aggregate != "xml" && b.FieldPos(key) != b.Pos() {
					report(key, "%s applies only with aggregate: xml", key)
				}
			}
			if !xmlName.MatchString(c.AggregateRoot) {
				report("aggregate_root", "aggregate_root %q is not an XML element name", c.AggregateRoot)
			}
			if !xmlName.MatchString(c.AggregateItem) {
				report("aggregate_item", "aggregate_item %q is not an XML element name", c.AggregateItem)
			}
			kinds := c.Steps.Kinds()
			if len(kinds) == 0 {
				report("steps", "give the steps to run on each item")
			}
			// Only the split's own list can be checked: the steps nested in
			// its route branches are compiled and opaque by now.
			if slices.Contains(kinds, "respond") {
				report("steps", "respond cannot run on an item: the reply belongs to the whole message; respond after the split (e.g. with aggregate)")
			}
			if slices.Contains(kinds, "retry") {
				report("steps", "retry works in on_error only; an item's failed step runs on_error inside the item, where retry repeats that item's step")
			}
			if bad {
				return nil, flow.ErrReported
			}
			jp := strings.ReplaceAll(c.JSONPath, " ", "")
			return &splitStep{c: c, xpath: xp, wholeArray: jp == "$[*]" || jp == "$", stop: c.OnItemError == "stop",
				rootOpen: "<" + c.AggregateRoot + ">", itemOpen: "<" + c.AggregateItem + ">"}, nil
		},
	})
}

// splitItems is a selection. It makes an item's body only when the item
// starts, so a split over many items never holds every item's message.
type splitItems interface {
	len() int
	body(i int) ([]byte, string, error)
}

// splitResult is what an item leaves until the split has finished.
type splitResult struct {
	done  bool
	err   error
	child *flow.Exchange // until adopted by the parent (its trace)
	resp  *flow.Response // the item answered the request (respond)
	state string         // the status the item ended with
	kept  bool           // the item ran to its end: it is aggregated
	body  []byte
	ct    string
}

func (s *splitStep) Run(ctx context.Context, x *flow.Exchange) error {
	items, err := s.selectItems(ctx, x)
	if err != nil {
		return err
	}
	n := items.len()
	x.Msg.Property["split_size"] = n
	r := &splitRun{s: s, x: x, n: n, res: make([]splitResult, n)}
	started := 0
	if s.c.Parallel == 1 || n <= 1 {
		started = r.sequential(ctx, items)
	} else {
		started = r.parallel(ctx, items)
	}
	return r.finish(ctx, started)
}

// splitRun is one run of a split over a message.
type splitRun struct {
	s   *splitStep
	x   *flow.Exchange
	n   int
	res []splitResult

	mu       sync.Mutex // guards res, next, failed, stopping and x's trace while items run
	next     int        // the lowest item not yet adopted by the parent
	failed   bool       // an item has failed (or answered) so far
	stopping bool       // stop starting items
}

// child makes item i's exchange: the item as body, copies of the
// message's headers and properties.
func (r *splitRun) child(items splitItems, i int) (*flow.Exchange, error) {
	body, ct, err := items.body(i)
	if err != nil {
		return nil, err
	}
	msg := r.x.Msg.Clone() // copies of the headers and properties
	msg.SetBody(body, ct)
	return r.x.Child(msg, &flow.SplitInfo{Index: i, Size: r.n, Last: i == r.n-1}), nil
}

// sequential runs the items one after the other and returns how many it
// started.
func (r *splitRun) sequential(ctx context.Context, items splitItems) int {
	for i := range r.n {
		if ctx.Err() != nil || r.stopping {
			return i
		}
		c, err := r.child(items, i)
		if err == nil {
			err = r.s.c.Steps.Run(ctx, c)
		}
		r.done(i, c, err)
	}
	return r.n
}

// parallel runs the items on at most Parallel goroutines at once, started
// in item order, and returns how many it started.
func (r *splitRun) parallel(ctx context.Context, items splitItems) int {
	sem := make(chan struct{}, r.s.c.Parallel)
	var wg sync.WaitGroup
	defer wg.Wait()
	for i := range r.n {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return i
		}
		r.mu.Lock()
		stopping := r.stopping
		r.mu.Unlock()
		if stopping || ctx.Err() != nil {
			return i
		}
		// Items are made here, on the parent's goroutine: the parsed body
		// is read by one goroutine only.
		c, err := r.child(items, i)
		if err != nil {
			<-sem
			r.done(i, nil, err)
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			var err error
			defer func() {
				if p := recover(); p != nil { // a panic here would end the process
					err = fmt.Errorf("internal error: %v", p)
				}
				r.done(i, c, err)
			}()
			err = r.s.c.Steps.Run(ctx, c)
		}()
	}
	return r.n
}

// done records item i's outcome and hands the parent, in item order, the
// trace of every item finished so far.
func (r *splitRun) done(i int, c *flow.Exchange, err error) {
	res := splitResult{done: true, err: err, child: c}
	if c != nil && err == nil && c.Stopped() {
		res.resp, res.state = c.Response, c.Status
	}
	if c != nil && err == nil && !c.Stopped() && r.s.c.Aggregate != "none" {
		res.kept, res.body, res.ct = true, c.Msg.Body(), c.Msg.ContentType()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.res[i] = res
	if r.s.stop && (err != nil || res.resp != nil) {
		r.stopping = true
	}
	for r.next < r.n && r.res[r.next].done {
		d := &r.res[r.next]
		if d.child != nil {
			var handled error
			if d.err != nil && r.s.stop && !r.failed {
				handled = d.err // the error the split returns: on_error may have run for it
			}
			r.x.Adopt(d.child, handled)
			d.child = nil
		}
		if d.err != nil || d.resp != nil {
			r.failed = true
		}
		r.next++
	}
}

// finish reports the outcome once no item runs any more.
func (r *splitRun) finish(ctx context.Context, started int) error {
	x, n := r.x, r.n
	var errs []any
	var resp *splitResult
	for i := range started {
		d := &r.res[i]
		if d.resp != nil && resp == nil {
			resp = d
		}
		if d.err == nil {
			continue
		}
		if r.s.stop {
			if resp != nil {
				break // an earlier item answered the request
			}
			return itemError(d.err, i, n)
		}
		msg := x.Redact(d.err.Error())
		errs = append(errs, map[string]any{"index": i, "error": msg})
		x.Log.Warn("split item failed", "index", i, "error", msg)
	}
	if started < n && resp == nil {
		return errorf("split: %d of %d items not started: %w", n-started, n, context.Cause(ctx))
	}
	if !r.s.stop {
		if errs == nil {
			errs = []any{}
		}
		x.Msg.Property["split_errors"] = errs
		x.Msg.Property["split_failed"] = len(errs)
	}
	if r.s.c.Aggregate != "none" {
		if err := r.aggregate(); err != nil {
			return err
		}
	}
	if resp != nil { // respond ends the whole message, wherever it ran
		x.Response = resp.resp
		x.Stop(resp.state)
	}
	return nil
}

// itemError names the item in its error. The error keeps its identity (a
// *flow.StepError naming the item's failed step, its status and body),
// so that the parent knows whether the item's on_error already ran for it.
func itemError(err error, i, n int) error {
	what := fmt.Sprintf("item %d of %d (split.index %d)", i+1, n, i)
	var se *flow.StepError
	if errors.As(err, &se) {
		se.Err = fmt.Errorf("%s: %w", what, se.Err)
		return err
	}
	return fmt.Errorf("%s: %w", what, err)
}

func (r *splitRun) aggregate() error {
	var out bytes.Buffer
	if r.s.c.Aggregate == "json" {
		enc := json.NewEncoder(&out)
		enc.SetEscapeHTML(false)
		out.WriteByte('[')
		first := true
		for i := range r.res {
			d := &r.res[i]
			if !d.kept {
				continue
			}
			if !first {
				out.WriteByte(',')
			}
			first = false
			if isJSONType(d.ct) {
				if err := json.Compact(&out, d.body); err == nil {
					continue
				}
			}
			if err := enc.Encode(string(d.body)); err != nil {
				return err
			}
			out.Truncate(out.Len() - 1) // Encode's newline
		}
		out.WriteByte(']')
		r.x.Msg.SetBody(out.Bytes(), "application/json")
		return nil
	}
	closeItem, closeRoot := "</"+r.s.c.AggregateItem+">", "</"+r.s.c.AggregateRoot+">"
	out.WriteString(r.s.rootOpen)
	for i := range r.res {
		d := &r.res[i]
		if !d.kept {
			continue
		}
		out.WriteString(r.s.itemOpen)
		if isXMLDocument(d.body) {
			out.Write(stripXMLDecl(d.body))
		} else {
			_ = xml.EscapeText(&out, d.body)
		}
		out.WriteString(closeItem)
	}
	out.WriteString(closeRoot)
	r.x.Msg.SetBody(out.Bytes(), "application/xml")
	return nil
}

func (s *splitStep) selectItems(ctx context.Context, x *flow.Exchange) (splitItems, error) {
	if s.c.Store != "" {
		return newStoreItems(ctx, x, s.c.Store, s.c.Page)
	}
	if s.c.XPath != "" {
		doc, err := x.Msg.XML()
		if err != nil {
			return nil, err
		}
		// Not flow.XPathNodes: it gives an attribute's element, not the
		// attribute.
		it, ok := s.xpath.Evaluate(xmlquery.CreateXPathNavigator(doc)).(*xpath.NodeIterator)
		if !ok {
			return nil, errorf("XPath %q selects a value, not nodes", s.c.XPath)
		}
		var items xmlItems
		for it.MoveNext() {
			nav := it.Current().(*xmlquery.NodeNavigator)
			if nav.NodeType() == xpath.AttributeNode {
				items = append(items, xmlItem{text: nav.Value(), attr: true})
			} else {
				items = append(items, xmlItem{node: nav.Current()})
			}
		}
		return items, nil
	}
	if s.wholeArray {
		if raw, ok, err := rawElements(x.Msg.Body()); ok || err != nil {
			return raw, err
		}
	}
	data, err := x.Msg.JSON()
	if err != nil {
		return nil, err
	}
	v, err := flow.JSONPathValue(data, s.c.JSONPath)
	if err != nil {
		return nil, errorf("JSONPath %q: %w", s.c.JSONPath, err)
	}
	switch v := v.(type) {
	case nil:
		return jsonItems(nil), nil // nothing selected
	case []any:
		return jsonItems(v), nil
	default:
		return jsonItems{v}, nil
	}
}

// rawElements splits a JSON array body into its elements' text, without
// decoding them: the fast path of `$[*]`, which also keeps each item as
// written (key order, number digits). ok is false when the body is not an
// array.
func rawElements(body []byte) (rawItems, bool, error) {
	t := bytes.TrimSpace(body)
	if len(t) == 0 || t[0] != '[' {
		return nil, false, nil
	}
	var raw rawItems
	if err := json.Unmarshal(t, &raw); err != nil {
		return nil, true, errorf("body is not valid JSON: %w", err)
	}
	return raw, true, nil
}

type rawItems []json.RawMessage

func (r rawItems) len() int { return len(r) }

func (r rawItems) body(i int) ([]byte, string, error) {
	if raw := r[i]; raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, "", errorf("item %d: %w", i, err)
		}
		return []byte(s), "text/plain; charset=utf-8", nil
	}
	return r[i], "application/json", nil
}

type jsonItems []any

func (j jsonItems) len() int { return len(j) }

func (j jsonItems) body(i int) ([]byte, string, error) {
	if s, ok := j[i].(string); ok {
		return []byte(s), "text/plain; charset=utf-8", nil
	}
	data, err := json.Marshal(j[i])
	if err != nil {
		return nil, "", errorf("item %d: %w", i, err)
	}
	return data, "application/json", nil
}

// xmlItem is a selected node, or the value of a selected attribute.
type xmlItem struct {
	node *xmlquery.Node
	text string
	attr bool
}

type xmlItems []xmlItem

func (x xmlItems) len() int { return len(x) }

// body serializes only the item's own subtree. An element keeps the
// namespace declarations in scope where it was, so that it stays the same
// XML on its own.
func (x xmlItems) body(i int) ([]byte, string, error) {
	if x[i].attr {
		return []byte(x[i].text), "text/plain; charset=utf-8", nil
	}
	n := x[i].node
	switch n.Type {
	case xmlquery.ElementNode:
	case xmlquery.DocumentNode:
		return []byte(n.OutputXML(false)), "application/xml", nil
	default: // text, comment: their text
		return []byte(n.InnerText()), "text/plain; charset=utf-8", nil
	}
	out := n.OutputXML(true)
	decls := inheritedNamespaces(n)
	if decls == "" {
		return []byte(out), "application/xml", nil
	}
	open := "<" + n.Data
	if n.Prefix != "" {
		open = "<" + n.Prefix + ":" + n.Data
	}
	if !strings.HasPrefix(out, open) {
		return []byte(out), "application/xml", nil
	}
	return []byte(open + decls + out[len(open):]), "application/xml", nil
}

// inheritedNamespaces gives the xmlns declarations of n's ancestors that n
// does not make itself, as attributes to add to n.
func inheritedNamespaces(n *xmlquery.Node) string {
	var b strings.Builder
	seen := map[string]bool{}
	declares := func(a xmlquery.Attr) (prefix string, ok bool) {
		switch {
		case a.Name.Space == "xmlns":
			return a.Name.Local, true
		case a.Name.Space == "" && a.Name.Local == "xmlns":
			return "", true
		}
		return "", false
	}
	for _, a := range n.Attr {
		if p, ok := declares(a); ok {
			seen[p] = true
		}
	}
	for p := n.Parent; p != nil; p = p.Parent {
		for _, a := range p.Attr {
			prefix, ok := declares(a)
			if !ok || seen[prefix] {
				continue
			}
			seen[prefix] = true
			b.WriteString(" xmlns")
			if prefix != "" {
				b.WriteString(":" + prefix)
			}
			b.WriteString(`="`)
			_ = xml.EscapeText(&b, []byte(a.Value))
			b.WriteString(`"`)
		}
	}
	return b.String()
}
