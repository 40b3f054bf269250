package flowtest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/stride-engine/stride/engine/flow"
)

// IsTestFile reports whether a path names a flow test file.
func IsTestFile(path string) bool { return strings.HasSuffix(path, ".test.yaml") }

// ParseFile reads one test file and checks everything that needs no
// flows: keys, kinds of values, files it names, patterns. Errors come
// back as a flow.ErrorList with file:line:col, worded as the flow
// loader words them (one decoder reads both).
func ParseFile(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parse(path, data)
}

func parse(path string, data []byte) (*File, error) {
	root, err := flow.ParseYAML(path, data)
	if root == nil {
		if err != nil {
			return nil, err
		}
		return nil, flow.ErrorList{{Pos: Pos{File: path, Line: 1, Col: 1}, Msg: "the file is empty; a test file starts with `cases:`"}}
	}
	d := flow.NewDecoder(path)
	var second flow.ErrorList // a second document: reported with the first's errors
	if errors.As(err, &second) {
		for _, e := range second {
			d.ErrorAt(e.Pos, "%s", e.Msg)
		}
	}
	f := &File{Path: path}
	d.Decode(root, f, "")
	dir := filepath.Dir(path)
	checkFixtures(d, dir, f.Datastore)
	for i, m := range f.Mocks {
		checkMock(d, dir, i, m)
	}
	includeFixtures(d, f)
	names := map[string]Pos{}
	for _, c := range f.Cases {
		if c == nil {
			continue
		}
		c.file = f
		if c.Name != "" {
			if prev, dup := names[c.Name]; dup {
				d.ErrorAt(c.Keys["name"], "a case named %q is already at line %d; names must be unique in a file", c.Name, prev.Line)
			}
			names[c.Name] = c.At
		}
		checkCase(d, c)
	}
	if err := d.Err(); err != nil {
		return nil, err
	}
	return f, nil
}

// checkCase checks one case's inputs, mocks and expectations, and reads
// the payload files it names.
func checkCase(d *flow.Decoder, c *Case) {
	dir := filepath.Dir(c.file.Path)
	var inputs []string
	for _, k := range []string{"request", "queue", "timer", "call"} {
		if _, ok := c.Keys[k]; ok {
			inputs = append(inputs, k)
		}
	}
	switch len(inputs) {
	case 0:
		d.ErrorAt(c.At, "case %q: give one trigger input: request, queue, timer or call", c.Name)
	case 1:
	default:
		d.ErrorAt(c.Keys[inputs[1]], "case %q: one trigger input per case, but it has %s", c.Name, strings.Join(inputs, " and "))
	}
	if r := c.Request; r != nil {
		r.Method = strings.ToUpper(r.Method)
		if r.Method == "" {
			r.Method = http.MethodGet
			if r.Body.Set || r.BodyFile != "" {
				r.Method = http.MethodPost
			}
		}
		if !strings.HasPrefix(r.Path, "/") {
			d.ErrorAt(r.Keys["path"], "request.path %q: write the path from the root, e.g. /fitbit/webhook (query parameters go under query:)", r.Path)
		}
		if strings.Contains(r.Path, "?") {
			d.ErrorAt(r.Keys["path"], "request.path %q: put query parameters under query:", r.Path)
		}
		readBody(d, dir, &r.Body, r.BodyFile, r.Keys, "request")
	}
	if q := c.Queue; q != nil {
		readBody(d, dir, &q.Body, q.BodyFile, q.Keys, "queue")
	}
	if cl := c.Call; cl != nil {
		readBody(d, dir, &cl.Body, cl.BodyFile, cl.Keys, "call")
	}
	checkFixtures(d, dir, c.Datastore)
	for i, m := range c.Mocks {
		checkMock(d, dir, i, m)
	}
	if e := c.Expect; e != nil {
		checkExpect(d, dir, c, e)
	}
}

// checkFixtures reads the value files of datastore fixtures.
func checkFixtures(d *flow.Decoder, dir string, fxs Fixtures) {
	for _, sf := range fxs {
		for _, fx := range sf.Entries {
			if fx.ValueFile != "" {
				data, err := os.ReadFile(filepath.Join(dir, fx.ValueFile))
				if err != nil {
					d.ErrorAt(fx.Keys["value_file"], "datastore %s/%s: %v", sf.Store, fx.ID, unwrapPathError(err))
					continue
				}
				fx.Value = Body{Set: true, Data: data, JSON: json.Valid(data)}
			}
		}
	}
}

// includeFixtures reads the fixture files f includes and merges them
// under f's own: variables and the clock where f sets none, datastore
// entries written before f's (a later write wins), mocks after f's (the
// first that matches answers).
func includeFixtures(d *flow.Decoder, f *File) {
	for _, inc := range f.Include {
		at := f.Keys["include"]
		if !IsFixtureFile(inc) {
			d.ErrorAt(at, "include %q: a fixture file's name ends in .fixtures.yaml", inc)
			continue
		}
		path := filepath.Join(filepath.Dir(f.Path), inc)
		data, err := os.ReadFile(path)
		if err != nil {
			d.ErrorAt(at, "include: %v", unwrapPathError(err))
			continue
		}
		root, err := flow.ParseYAML(path, data)
		if root == nil {
			if err == nil {
				err = fmt.Errorf("%s is empty", inc)
			}
			d.ErrorAt(at, "include: %v", err)
			continue
		}
		fd := flow.NewDecoder(path)
		fx := &FixtureFile{Path: path}
		fd.Decode(root, fx, "")
		dir := filepath.Dir(path)
		checkFixtures(fd, dir, fx.Datastore)
		for j, m := range fx.Mocks {
			checkMock(fd, dir, j, m)
		}
		var el flow.ErrorList
		if err := fd.Err(); errors.As(err, &el) {
			for _, e := range el {
				d.ErrorAt(e.Pos, "%s", e.Msg)
			}
			continue
		}
		if f.Now == nil {
			f.Now = fx.Now
		}
		f.Env = underlay(f.Env, fx.Env)
		f.Secrets = underlay(f.Secrets, fx.Secrets)
		f.Datastore = append(append(Fixtures{}, fx.Datastore...), f.Datastore...)
		f.Mocks = append(f.Mocks, fx.Mocks...)
	}
}

// underlay returns top with the keys of base it lacks.
func underlay(top, base map[string]string) map[string]string {
	if len(base) == 0 {
		return top
	}
	out := maps.Clone(base)
	maps.Copy(out, top)
	return out
}

func readBody(d *flow.Decoder, dir string, b *Body, file string, keys flow.KeyPos, what string) {
	if file == "" {
		return
	}
	if b.Set {
		d.ErrorAt(keys["body_file"], "%s: body and body_file exclude each other", what)
		return
	}
	data, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		d.ErrorAt(keys["body_file"], "%s.body_file: %v", what, unwrapPathError(err))
		return
	}
	*b = Body{Set: true, Data: data, At: keys["body_file"]}
}

func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return &pathError{path: pe.Path, err: pe.Err}
	}
	return err
}

// pathError is a file system error worded "PATH: what happened", without
// the operation *fs.PathError names.
type pathError struct {
	path string
	err  error
}

func (e *pathError) Error() string { return e.path + ": " + e.err.Error() }
func (e *pathError) Unwrap() error { return e.err }

func checkMock(d *flow.Decoder, dir string, i int, m *Mock) {
	if m == nil {
		return
	}
	r := &m.Request
	r.Method = strings.ToUpper(r.Method)
	switch {
	case r.URL == "" && r.URLRegex == "":
		d.ErrorAt(r.At, "mocks[%d].request: give url (with * wildcards) or url_regex", i)
	case r.URL != "" && r.URLRegex != "":
		d.ErrorAt(r.Keys["url_regex"], "mocks[%d].request: url and url_regex exclude each other", i)
	case r.URL != "":
		m.urlRE = globRE(r.URL)
	default:
		re, err := regexp.Compile(r.URLRegex)
		if err != nil {
			d.ErrorAt(r.Keys["url_regex"], "mocks[%d].request.url_regex: %v", i, err)
		}
		m.urlRE = re
	}
	if len(m.Respond) == 0 {
		m.Respond = responses{{Status: 200, At: m.At}}
	}
	for _, resp := range m.Respond {
		if resp.Error != "" {
			if resp.Status != 0 || resp.Body.Set || resp.BodyFile != "" || len(resp.Headers) > 0 {
				d.ErrorAt(resp.Keys["error"], "mocks[%d].respond: error (a failed connection) excludes status, headers and body", i)
			}
			continue
		}
		if resp.Status == 0 {
			resp.Status = 200
		}
		if resp.Status < 100 || resp.Status > 599 {
			d.ErrorAt(resp.Keys["status"], "mocks[%d].respond.status %d: not an HTTP status", i, resp.Status)
		}
		readBody(d, dir, &resp.Body, resp.BodyFile, resp.Keys, fmt.Sprintf("mocks[%d].respond", i))
		resp.data = resp.Body.Data
	}
	if e := m.Expect; e != nil {
		checkPaths(d, e.JSONPath, nil)
	}
}

// globRE turns a URL pattern with * wildcards into an anchored regexp.
func globRE(pattern string) *regexp.Regexp {
	parts := strings.Split(pattern, "*")
	for i, p := range parts {
		parts[i] = regexp.QuoteMeta(p)
	}
	return regexp.MustCompile("^" + strings.Join(parts, ".*") + "$")
}

func checkPaths(d *flow.Decoder, jsonPaths, xPaths valueMatchers) {
	for _, p := range jsonPaths {
		if err := flow.CompileJSONPath(p.Name); err != nil {
			d.ErrorAt(p.At, "jsonpath %q: %v", p.Name, err)
		}
	}
	for _, p := range xPaths {
		if err := flow.CompileXPath(p.Name); err != nil {
			d.ErrorAt(p.At, "xpath %q: %v", p.Name, err)
		}
	}
}

func checkExpect(d *flow.Decoder, dir string, c *Case, e *Expect) {
	if e.BodyFile != "" {
		if e.Body != nil {
			d.ErrorAt(e.Keys["body_file"], "expect: body and body_file exclude each other")
		} else if data, err := os.ReadFile(filepath.Join(dir, e.BodyFile)); err != nil {
			d.ErrorAt(e.Keys["body_file"], "expect.body_file: %v", unwrapPathError(err))
		} else {
			e.Body = &Body{Set: true, Data: data, JSON: json.Valid(bytes.TrimSpace(data)) && looksStructured(data)}
		}
	}
	checkPaths(d, e.JSONPath, e.XPath)
	if c.Request != nil {
		if _, ok := e.Keys["properties"]; ok {
			d.ErrorAt(e.Keys["properties"], "expect.properties: a request case cannot see the message's properties (the HTTP trigger keeps them); check the reply, the datastore or the mocks' calls instead")
		}
	} else if _, ok := e.Keys["status"]; ok {
		d.ErrorAt(e.Keys["status"], "expect.status is the HTTP status of a request case; for a %s case use message_status", inputKind(c))
	}
	if _, ok := e.Keys["retry"]; ok && c.Queue == nil {
		d.ErrorAt(e.Keys["retry"], "expect.retry says whether the queue would retry the message: only for queue cases")
	}
}

func looksStructured(data []byte) bool {
	t := bytes.TrimSpace(data)
	return len(t) > 0 && (t[0] == '{' || t[0] == '[')
}

func inputKind(c *Case) string {
	switch {
	case c.Request != nil:
		return "request"
	case c.Queue != nil:
		return "queue"
	case c.Timer != nil:
		return "timer"
	}
	return "call"
}

// suite is the flows under one PATH argument and the test files found in
// it: every test file runs against all of those flows.
type suite struct {
	root  string
	srcs  []flow.Source
	files []*File
}

// discover finds the test files under each path and the flows they run
// against. A path may be a directory or a *.test.yaml file (its directory
// holds the flows). Errors are positioned where possible.
func discover(paths []string) ([]*suite, []error) {
	var suites []*suite
	var errs []error
	seen := map[string]bool{}
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			errs = append(errs, unwrapPathError(err))
			continue
		}
		s := &suite{root: p}
		var testFiles []string
		if st.IsDir() {
			err = filepath.WalkDir(p, func(path string, de fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				if de.IsDir() && path != p && strings.HasPrefix(de.Name(), ".") {
					return filepath.SkipDir
				}
				if !de.IsDir() && IsTestFile(path) {
					testFiles = append(testFiles, path)
				}
				return nil
			})
			if err != nil {
				errs = append(errs, err)
				continue
			}
		} else {
			if !IsTestFile(p) {
				errs = append(errs, fmt.Errorf("%s: not a directory or a test file (*.test.yaml)", p))
				continue
			}
			testFiles = []string{p}
			s.root = filepath.Dir(p)
		}
		sort.Strings(testFiles)
		for _, tf := range testFiles {
			abs, _ := filepath.Abs(tf)
			if seen[abs] {
				continue
			}
			seen[abs] = true
			f, err := ParseFile(tf)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			s.files = append(s.files, f)
		}
		if len(s.files) == 0 {
			continue
		}
		// The cases run against every flow the server would load: the
		// flows root around the tests (a directory named flows), so that
		// a subfolder's flows find the flows they call in another one.
		if root, ok := flow.RootOf(s.root); ok {
			s.root = root
		}
		flowFiles, err := flow.FindFlowFiles(s.root)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, ff := range flowFiles {
			data, err := os.ReadFile(ff)
			if err != nil {
				errs = append(errs, err)
				continue
			}
			s.srcs = append(s.srcs, flow.Source{Name: ff, Data: data})
		}
		suites = append(suites, s)
	}
	return suites, errs
}

// checkAgainst checks a suite's cases against its flow set: the flows
// they start exist and have the right trigger. It returns the reason per
// case that cannot run.
func (s *suite) checkAgainst(set *flow.FlowSet) map[*Case]*flow.Error {
	errs := map[*Case]*flow.Error{}
	for _, f := range s.files {
		for _, c := range f.Cases {
			id, kind, at := "", "", Pos{}
			switch {
			case c.Queue != nil:
				id, kind, at = c.Queue.Flow, "queue", c.Queue.At
			case c.Timer != nil:
				id, kind, at = c.Timer.Flow, "timer", c.Timer.At
			case c.Call != nil:
				id, kind, at = c.Call.Flow, "call", c.Call.At
			default:
				continue
			}
			fl := set.Flow(id)
			switch {
			case fl == nil:
				var ids []string
				for _, x := range set.Flows() {
					if x.Trigger.Kind == kind {
						ids = append(ids, x.ID)
					}
				}
				errs[c] = &flow.Error{Pos: at, Msg: fmt.Sprintf("%s.flow: no flow %q under %s (%s flows: %s)", kind, id, s.root, kind, orNone(ids))}
			case fl.Trigger.Kind != kind:
				errs[c] = &flow.Error{Pos: at, Msg: fmt.Sprintf("%s.flow: flow %s (%s) has a %s trigger, not %s", kind, id, fl.Pos.FileLine(), fl.Trigger.Kind, kind)}
			}
		}
	}
	return errs
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "none"
	}
	return strings.Join(s, ", ")
}
