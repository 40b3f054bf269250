package flow

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// flowFile is the top level of a flow file.
type flowFile struct {
	Flow        string   `yaml:"flow" required:"true" doc:"The flow's unique id, e.g. fitbit-webhook (letters, digits, - and _)."`
	Description string   `yaml:"description" doc:"What the flow does, in a sentence."`
	Env         VarDecls `yaml:"env" doc:"Environment variables the flow reads as env.NAME: NAME: default, or NAME: with no value when required."`
	Secrets     VarDecls `yaml:"secrets" doc:"Secrets the flow reads as secret.NAME; their values never appear in logs, errors or traces."`
	Log         string   `yaml:"log" enum:"none,errors,info,trace" doc:"What the message log keeps of this flow's attempts: none; errors (only attempts that failed: FAILED, RETRY, ESCALATED); info (the default: one entry per attempt with its trace of steps, durations and outcomes); trace (info and the payload: size-capped, secrets redacted, kept 24 hours by default)."`
	Trace       bool     `yaml:"trace" doc:"The older spelling of log: trace (keep payloads in the message log). Give log or trace, not both."`
	Trigger     Trigger  `yaml:"trigger" required:"true" doc:"What starts the flow: exactly one of http, timer, queue, call."`
	Steps       Steps    `yaml:"steps" required:"true" doc:"The steps, run in order."`
	OnError     Steps    `yaml:"on_error" scope:"error" doc:"The exception subprocess: runs when a step fails, with error.* in scope."`
}

// IsFlowFile reports whether a path names a flow file: *.yaml, but not a
// flow test (*.test.yaml), its shared fixtures (*.fixtures.yaml) or a
// mapping template (*.map.yaml).
func IsFlowFile(path string) bool {
	return strings.HasSuffix(path, ".yaml") && !strings.HasSuffix(path, ".test.yaml") && !strings.HasSuffix(path, ".fixtures.yaml") && !strings.HasSuffix(path, ".map.yaml")
}

// FindFlowFiles lists the flow files under each path (a file or a
// directory), sorted.
func FindFlowFiles(paths ...string) ([]string, error) {
	var files []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			files = append(files, p)
			continue
		}
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if d.IsDir() && path != p && strings.HasPrefix(d.Name(), ".") {
				return filepath.SkipDir
			}
			if !d.IsDir() && IsFlowFile(path) {
				files = append(files, path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	sort.Strings(files)
	return files, nil
}

// LoadPaths loads every flow file under the given paths. On any error it
// returns a nil set and every error found, sorted by position.
func LoadPaths(paths ...string) (*FlowSet, error) {
	files, err := FindFlowFiles(paths...)
	if err != nil {
		return nil, err
	}
	srcs := make([]Source, 0, len(files))
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		srcs = append(srcs, Source{Name: f, Data: data})
	}
	return Load(srcs)
}

// Source is one flow file's name and content.
type Source struct {
	Name string
	Data []byte
}

type callRef struct {
	from, to string
	pos      Pos
}

type loader struct {
	errs     ErrorList
	calls    []callRef
	enqueues []callRef
	uses     []callRef // connections used (request: {connection: ...})
	// retryMax is, by flow id, the largest max of the retry steps in its
	// on_error: the budget behind error.retries_left.
	retryMax map[string]int
}

// Load compiles flow files into a flow set. Every error of every file is
// reported (an ErrorList), not just the first; a set is returned only
// when there is none.
func Load(srcs []Source) (*FlowSet, error) {
	l := &loader{}
	var flows []*Flow
	for _, src := range srcs {
		if f := l.loadFile(src); f != nil {
			flows = append(flows, f)
		}
	}
	l.checkSet(flows)
	l.errs.Sort()
	if err := l.errs.Err(); err != nil {
		return nil, err
	}
	return newFlowSet(flows), nil
}

var flowIDPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)

func (l *loader) loadFile(src Source) *Flow {
	b := &Builder{l: l, file: src.Name}
	dec := yaml.NewDecoder(bytes.NewReader(src.Data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			l.errs.add(Pos{File: src.Name, Line: 1, Col: 1}, "the file is empty; a flow starts with `flow: <id>`")
		} else {
			l.yamlError(src.Name, src.Data, err)
		}
		return nil
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		l.errs.add(posOf(src.Name, &extra), "a flow file holds one flow; start another file for the second document")
	} else if !errors.Is(err, io.EOF) {
		l.yamlError(src.Name, src.Data, err)
		return nil
	}
	root := resolveAlias(doc.Content[0])
	d := &decoder{b: b}
	if root.Kind != yaml.MappingNode {
		d.errorf(root, "a flow file is a mapping that starts with `flow: <id>`, found %s", kindOfNode(root))
		return nil
	}
	// Variables first: expressions anywhere in the file are checked
	// against them.
	var ff flowFile
	for i := 0; i+1 < len(root.Content); i += 2 {
		switch root.Content[i].Value {
		case "env":
			var vs VarDecls
			vs.decode(&decoder{b: &Builder{l: &loader{}, file: src.Name}}, resolveAlias(root.Content[i+1]))
			b.ctx.env = vs.set()
		case "secrets":
			var vs VarDecls
			vs.decode(&decoder{b: &Builder{l: &loader{}, file: src.Name}}, resolveAlias(root.Content[i+1]))
			b.ctx.secret = vs.set()
		case "flow":
			b.flowID = root.Content[i+1].Value
		}
	}
	if b.ctx.env == nil {
		b.ctx.env = map[string]bool{}
	}
	if b.ctx.secret == nil {
		b.ctx.secret = map[string]bool{}
	}
	before := len(l.errs)
	callsBefore := len(l.calls)
	usesBefore := len(l.uses)
	d.decodeStruct(root, reflect.ValueOf(&ff).Elem(), specOf(reflect.TypeFor[flowFile](), ""), "flow", nil)
	if ff.Flow != "" && !flowIDPattern.MatchString(ff.Flow) {
		l.errs.add(flowKeyPos(src.Name, root), "flow id %q: use letters, digits, -, _ and . (e.g. fitbit-webhook)", ff.Flow)
	}
	level := l.logLevel(src.Name, root, &ff)
	if len(l.errs) > before {
		return nil
	}
	sum := sha256.Sum256(src.Data)
	f := &Flow{
		ID: ff.Flow, Description: ff.Description, File: src.Name, Version: hex.EncodeToString(sum[:6]),
		Trigger: ff.Trigger, Steps: ff.Steps, OnError: ff.OnError, LogLevel: level, TracePayloads: level == LogTrace,
		Env: ff.Env, Secrets: ff.Secrets, Pos: flowKeyPos(src.Name, root),
		retryBudget: l.retryMax[ff.Flow],
	}
	for _, c := range l.calls[callsBefore:] {
		if !contains(f.calls, c.to) {
			f.calls = append(f.calls, c.to)
		}
	}
	for _, u := range l.uses[usesBefore:] {
		if u.to != f.ID && !contains(f.uses, u.to) {
			f.uses = append(f.uses, u.to)
		}
	}
	f.env = map[string]string{}
	f.secret = map[string]string{}
	for _, v := range f.Env {
		f.env[v.Name] = v.Default
	}
	return f
}

func flowKeyPos(file string, root *yaml.Node) Pos {
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value == "flow" {
			return posOf(file, root.Content[i+1])
		}
	}
	return posOf(file, root)
}

// yamlError records a YAML syntax error at its position, with advice.
func (l *loader) yamlError(file string, data []byte, err error) {
	l.errs = append(l.errs, yamlSyntaxError(file, data, err))
}

// checkSet runs the checks that need every flow: unique ids, unique HTTP
// routes, calls to existing call-triggered flows, and no call cycles.
func (l *loader) checkSet(flows []*Flow) {
	byID := map[string]*Flow{}
	for _, f := range flows {
		if prev := byID[f.ID]; prev != nil {
			l.errs.add(f.Pos, "flow id %q is already used by %s", f.ID, prev.Pos)
			continue
		}
		byID[f.ID] = f
	}
	claims := map[string]*Flow{}
	for _, f := range flows {
		c, ok := f.Trigger.Config.(Claimer)
		if !ok {
			continue
		}
		for _, cl := range c.Claims() {
			if prev := claims[cl.Key]; prev != nil && prev != f {
				l.errs.add(f.Trigger.Pos, cl.Conflict, prev.ID, prev.Trigger.Pos)
				continue
			}
			claims[cl.Key] = f
		}
	}
	queues := map[string]*Flow{}
	for _, f := range flows {
		if q, ok := f.Trigger.Config.(QueueSource); ok {
			for _, cl := range q.Claims() {
				if name, ok := strings.CutPrefix(cl.Key, "queue "); ok && claims[cl.Key] == f {
					queues[name] = f
				}
			}
		}
	}
	for _, e := range l.enqueues {
		if queues[e.to] == nil {
			names := make([]string, 0, len(queues))
			for n := range queues {
				names = append(names, n)
			}
			l.errs.add(e.pos, "enqueue: no flow consumes queue %q (a flow with trigger: {queue: {name: %s}})%s", e.to, e.to, didYouMean(e.to, names))
		}
	}
	for _, c := range l.calls {
		t := byID[c.to]
		switch {
		case t == nil:
			ids := make([]string, 0, len(byID))
			for id := range byID {
				ids = append(ids, id)
			}
			l.errs.add(c.pos, "call: no flow %q%s", c.to, didYouMean(c.to, ids))
		case t.Trigger.Kind != "call":
			l.errs.add(c.pos, "call: flow %q has a %s trigger; a called flow needs `trigger: {call: {}}`", c.to, t.Trigger.Kind)
		}
	}
	for _, u := range l.uses {
		t := byID[u.to]
		if _, ok := connector(t); !ok {
			var names []string
			for id, f := range byID {
				if _, ok := connector(f); ok {
					names = append(names, id)
				}
			}
			sort.Strings(names)
			if t == nil {
				l.errs.add(u.pos, "connection: no connection %q (a flow with trigger: {connection: ...})%s", u.to, didYouMean(u.to, names))
			} else {
				l.errs.add(u.pos, "connection: flow %q has a %s trigger, not a connection", u.to, t.Trigger.Kind)
			}
		}
	}
	// A call cycle would recurse until the stack runs out at run time.
	state := map[string]int{} // 1 visiting, 2 done
	var visit func(id string, path []string) bool
	visit = func(id string, path []string) bool {
		f := byID[id]
		if f == nil || state[id] == 2 {
			return false
		}
		if state[id] == 1 {
			start := 0
			for i, p := range path {
				if p == id {
					start = i
				}
			}
			cycle := append(append([]string{}, path[start:]...), id)
			l.errs.add(f.Pos, "flows call each other in a cycle: %s", strings.Join(cycle, " → "))
			return true
		}
		state[id] = 1
		for _, c := range f.calls {
			if visit(c, append(path, id)) {
				break
			}
		}
		state[id] = 2
		return false
	}
	for _, f := range flows {
		visit(f.ID, nil)
	}
}
