package main

import (
	"bufio"
	"fmt"
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
			return nil, fmt.Errorf("%s:%d: expected KEY=VALUE", path, n)
		}
		v = strings.TrimSpace(v)
		if len(v) >= 2 && (v[0] == '"' && v[len(v)-1] == '"' || v[0] == '\'' && v[len(v)-1] == '\'') {
			v = v[1 : len(v)-1]
		}
		vars[k] = v
	}
	return vars, sc.Err()
}
