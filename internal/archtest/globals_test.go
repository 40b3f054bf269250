// Package archtest checks rules of the code's architecture that the
// compiler does not: no package-level mutable state in the engine or the
// step kinds, and the direction of imports.
package archtest

import (
	"fmt"
	"go/ast"
	"go/importer"
	"go/parser"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// checkedDirs are the packages that must hold no package-level mutable
// state: everything a runtime uses must belong to the runtime, so that
// many runtimes can live in one process (parallel tests, flow tests, a
// reload, a library user).
var checkedDirs = []string{"engine/flow", "engine/runtime", "engine/admin", "engine/admin/monitor", "engine/mapping", "engine/oauth", "steps"}

// allowed lists package-level variables that look mutable but are not
// state a runtime could share by accident, each with the reason.
var allowed = map[string]string{
	"flow.stepKinds":       "registry, written only by RegisterStep from init functions",
	"flow.triggerKinds":    "registry, written only by RegisterTrigger from init functions",
	"runtime.triggerKinds": "registry, written only by RegisterTrigger from init functions",
	"flow.functionsByName": "table of expression functions, built once in init",
	"flow.specCache":       "memo of a pure function (a config type's spec); a spec is complete before it is stored and never changes",
	"flow.templateSchema":  "constant JSON Schema fragment",
	"flow.xpathCache":      "memo of a pure function (XPath compilation); values are immutable",
	"flow.jsonpathCache":   "memo of a pure function (JSONPath compilation); values are immutable",
	"flow.dateCache":       "memo of a pure function (date pattern compilation); values are immutable",
	"flow.discardLogger":   "a logger that drops everything; it has no state",
	"runtime.gzipWriters":  "pool of scratch compressors, reset before each use; holds nothing between uses",
}

// immutableTypes are pointer types whose values never change once made.
var immutableTypes = map[string]bool{
	"*regexp.Regexp": true,
}

func TestNoPackageLevelMutableState(t *testing.T) {
	root := repoRoot(t)
	var found []string
	for _, dir := range checkedDirs {
		found = append(found, mutableGlobals(t, filepath.Join(root, dir))...)
	}
	for _, f := range found {
		t.Error(f + ": package-level mutable state; make it a resource of the runtime (flow.NewResourceKey) or a field of the step, or add it to the allow-list with the reason it is not shared state")
	}
}

// The check itself finds what it must, and nothing else.
func TestTheCheckFindsMutableGlobals(t *testing.T) {
	var got []string
	for _, f := range mutableGlobals(t, "testdata/bad") {
		_, what, _ := strings.Cut(f, ": ")
		got = append(got, what)
	}
	sort.Strings(got)
	want := []string{
		"bad.cache is a map",
		"bad.counter is a pointer (*struct{n int})",
		"bad.guarded is a struct holding a lock",
		"bad.mu is a sync.Mutex",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("found:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// mutableGlobals lists the package-level variables of the package in dir
// that are mutable and not allowed, as "file:line:col: pkg.name is why".
func mutableGlobals(t *testing.T, dir string) []string {
	t.Helper()
	pkg, fset, files := typeCheck(t, dir)
	if pkg == nil {
		return nil // the package does not exist (yet)
	}
	var found []string
	for _, f := range files {
		for _, decl := range f.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.VAR {
				continue
			}
			for _, spec := range gd.Specs {
				for _, name := range spec.(*ast.ValueSpec).Names {
					obj := pkg.Scope().Lookup(name.Name)
					if name.Name == "_" || obj == nil {
						continue
					}
					key := pkg.Name() + "." + name.Name
					if why := mutable(obj.Type()); why != "" && allowed[key] == "" {
						found = append(found, fset.Position(name.Pos()).String()+": "+key+" is "+why)
					}
				}
			}
		}
	}
	sort.Strings(found)
	return found
}

// mutable says why a package-level variable of type t is mutable state,
// or "".
func mutable(t types.Type) string {
	if immutableTypes[types.TypeString(t, shortQualifier)] {
		return ""
	}
	switch u := t.Underlying().(type) {
	case *types.Map:
		return "a map"
	case *types.Chan:
		return "a channel"
	case *types.Pointer:
		if named, ok := u.Elem().(*types.Named); ok && named.Obj().Name() == "ResourceKey" {
			return "" // a key: the resource lives in each runtime
		}
		return "a pointer (" + types.TypeString(t, shortQualifier) + ")"
	case *types.Struct:
		if isSync(t) {
			return "a " + types.TypeString(t, shortQualifier)
		}
		if holdsLock(u, 0) {
			return "a struct holding a lock"
		}
	}
	return ""
}

func isSync(t types.Type) bool {
	named, ok := t.(*types.Named)
	if !ok || named.Obj().Pkg() == nil {
		return false
	}
	p := named.Obj().Pkg().Path()
	return p == "sync" || p == "sync/atomic"
}

func holdsLock(s *types.Struct, depth int) bool {
	if depth > 5 {
		return false
	}
	for i := range s.NumFields() {
		ft := s.Field(i).Type()
		if isSync(ft) {
			return true
		}
		if inner, ok := ft.Underlying().(*types.Struct); ok && holdsLock(inner, depth+1) {
			return true
		}
	}
	return false
}

func shortQualifier(p *types.Package) string { return p.Name() }

// typeCheck parses and type-checks the non-test files of the package in
// dir.
func typeCheck(t *testing.T, dir string) (*types.Package, *token.FileSet, []*ast.File) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil, nil, nil
	}
	if err != nil {
		t.Fatal(err)
	}
	fset := token.NewFileSet()
	var files []*ast.File
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, e.Name()), nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	if len(files) == 0 {
		return nil, nil, nil
	}
	conf := types.Config{Importer: importer.ForCompiler(fset, "gc", exportLookup(t, dir))}
	pkg, err := conf.Check(files[0].Name.Name, fset, files, nil)
	if err != nil {
		t.Fatalf("type-checking %s: %v", dir, err)
	}
	return pkg, fset, files
}

// exportLookup finds the compiled export data of dir's dependencies
// through `go list -export`, so that type-checking needs no source of
// third-party modules.
func exportLookup(t *testing.T, dir string) importer.Lookup {
	t.Helper()
	cmd := exec.Command("go", "list", "-export", "-deps", "-f", "{{.ImportPath}}\t{{.Export}}", ".")
	cmd.Dir = dir
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -export in %s: %v\n%s", dir, err, stderr.String())
	}
	exports := map[string]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if path, file, ok := strings.Cut(line, "\t"); ok && file != "" {
			exports[path] = file
		}
	}
	return func(path string) (io.ReadCloser, error) {
		file, ok := exports[path]
		if !ok {
			return nil, fmt.Errorf("no export data for %s", path)
		}
		return os.Open(file)
	}
}

func repoRoot(t *testing.T) string {
	t.Helper()
	dir, err := filepath.Abs(".")
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found")
		}
		dir = parent
	}
}
