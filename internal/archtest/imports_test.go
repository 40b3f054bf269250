package archtest

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/stride-engine/stride/"

// mayImport lists, for each package of the engine and the step kinds, the
// packages of this module it may import: imports run one way, cmd → steps
// → engine, and inside the engine from the runtime and its admin API down
// to the language. A package not listed may import none of the module.
var mayImport = map[string][]string{
	"engine/flow":            {"engine/datefmt", "engine/store"},
	"engine/mapping":         {"engine/flow", "engine/convert", "engine/datefmt", "engine/store"},
	"engine/runtime":         {"engine/flow", "engine/oauth", "engine/store"},
	"engine/oauth":           {"engine/flow", "engine/store"},
	"engine/admin":           {"engine/flow", "engine/runtime", "engine/store"},
	"engine/admin/monitor":   {"engine/admin"},
	"engine/metrics":         {"engine/flow", "engine/store"},
	"engine/store":           {"engine/store/record"},
	"engine/store/record":    {},
	"engine/store/natsstore": {"engine/store", "engine/store/record"},
	"engine/store/storetest": {"engine/store"},
	"engine/convert":         {},
	"engine/datefmt":         {},
	"steps":                  {"engine/flow", "engine/oauth", "engine/mapping", "engine/convert", "engine/datefmt", "engine/store"},
	"flowtest":               {"engine/flow", "engine/runtime", "engine/store"},
}

func TestImportsRunOneWay(t *testing.T) {
	for pkg, allowed := range mayImport {
		cmd := exec.Command("go", "list", "-f", `{{join .Imports "\n"}}`, "./"+pkg)
		cmd.Dir = repoRoot(t)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("go list %s: %v", pkg, err)
		}
		for _, imp := range strings.Fields(string(out)) {
			rel, ok := strings.CutPrefix(imp, module)
			if !ok {
				continue
			}
			if !slices.Contains(allowed, rel) {
				t.Errorf("%s imports %s; it may import only %v of this module", pkg, rel, allowed)
			}
		}
	}
}
