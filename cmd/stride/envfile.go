package main

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/stride-engine/stride/engine/flow"
)

// envLookup returns the variable lookup of a run: the process environment,
// falling back to the KEY=VALUE lines of envFile (when given). The
// process wins, so an operator can override one value of a shared file.
func envLookup(envFile string) (flow.Lookup, error) {
	fileVars := map[string]string{}
	if envFile != "" {
		vars, err := readEnvFile(envFile)
		if err != nil {
			return nil, err
		}
		fileVars = vars
	}
	return func(name string) (string, bool) {
		if v, ok := os.LookupEnv(name); ok {
			return v, true
		}
		v, ok := fileVars[name]
		return v, ok
	}, nil
}

// envReloader returns the variables' lookup for each reload of `stride
// run`: envLookup again, so the env file is read anew (an edit takes
// effect at the next reload; the process environment still wins). An env
// file that cannot be read or has a malformed line fails that reload
// with a *flow.Error at the file (and line), which `stride status` and
// the reload's answer show.
func envReloader(envFile string) func() (flow.Lookup, error) {
	return func() (flow.Lookup, error) {
		lookup, err := envLookup(envFile)
		if err == nil {
			return lookup, nil
		}
		var le *envLineError
		if errors.As(err, &le) {
			return nil, &flow.Error{Pos: flow.Pos{File: le.path, Line: le.line, Col: 1}, Msg: "env file: " + le.msg}
		}
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, &flow.Error{Pos: flow.Pos{File: envFile}, Msg: "cannot read the env file (--env-file): " + err.Error()}
	}
}

// envLineError is a malformed line of an env file.
type envLineError struct {
	path string
	line int
	msg  string
}

func (e *envLineError) Error() string { return fmt.Sprintf("%s:%d: %s", e.path, e.line, e.msg) }

// readEnvFile reads KEY=VALUE lines; blank lines and # comments are
// skipped, `export ` is allowed, and a value may be in single or double
// quotes.
func readEnvFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	vars := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		k, v, ok := strings.Cut(line, "=")
		k = strings.TrimSpace(k)
		if !ok || k == "" {
			return nil, &envLineError{path: path, line: n, msg: "expected KEY=VALUE"}
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' && v[len(v)-1] == '"' || v[0] == '\'' && v[len(v)-1] == '\'') {
			v = v[1 : len(v)-1]
		}
		vars[k] = v
	}
	return vars, sc.Err()
}
