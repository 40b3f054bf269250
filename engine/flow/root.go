package flow

import (
	"os"
	"path/filepath"
)

// RootDirName is the name of the directory `stride run` serves by default
// (--flows ./flows): the flows root of a project.
const RootDirName = "flows"

// RootOf returns the flows root that path belongs to: the nearest
// directory at or above it named flows. Validating or testing a subfolder
// or one file then resolves calls and queues against every flow the server
// would load, not only those beside it. ok is false when path is in no
// such directory.
func RootOf(path string) (root string, ok bool) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", false
	}
	if st, err := os.Stat(abs); err == nil && !st.IsDir() {
		abs = filepath.Dir(abs)
	}
	for dir := abs; ; dir = filepath.Dir(dir) {
		if filepath.Base(dir) == RootDirName {
			return dir, true
		}
		if filepath.Dir(dir) == dir {
			return "", false
		}
	}
}

// Within reports whether file lies at or under path (a file or a
// directory).
func Within(file, path string) bool {
	f, err1 := filepath.Abs(file)
	p, err2 := filepath.Abs(path)
	if err1 != nil || err2 != nil {
		return false
	}
	rel, err := filepath.Rel(p, f)
	return err == nil && filepath.IsLocal(rel)
}
