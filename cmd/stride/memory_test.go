package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestMemoryBudget(t *testing.T) {
	if n, from, err := memoryBudget("512MiB"); err != nil || n != 512<<20 || from != "--memory-limit" {
		t.Errorf("512MiB: %d %q %v", n, from, err)
	}
	if _, _, err := memoryBudget("32MiB"); err == nil || !strings.Contains(err.Error(), "at least 64MiB") {
		t.Errorf("32MiB: %v, want refused", err)
	}
	if _, _, err := memoryBudget("lots"); err == nil {
		t.Error("lots: accepted")
	}
	n, from, err := memoryBudget("")
	if err != nil || n <= 0 || from == "" {
		t.Errorf("default: %d %q %v", n, from, err)
	}
	if c, ok := cgroupLimit(); ok && n != c {
		t.Errorf("a cgroup limit of %d is set but the budget is %d", c, n)
	}
}

// The budget follows the limit of the process's own cgroup (v1 or v2),
// the smallest on its way up to the root, and the root's when the
// process sits there (a container's cgroup namespace).
func TestCgroupLimitOfTheProcessCgroup(t *testing.T) {
	write := func(root, rel, v string) {
		t.Helper()
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(v+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	v1 := t.TempDir()
	write(v1, "memory/memory.limit_in_bytes", "9223372036854771712") // v1's "no limit"
	write(v1, "memory/jobs/memory.limit_in_bytes", "9223372036854771712")
	write(v1, "memory/jobs/stride/memory.limit_in_bytes", "134217728")
	v2 := t.TempDir()
	write(v2, "memory.max", "max")
	write(v2, "system.slice/memory.max", "268435456")
	write(v2, "system.slice/stride.service/memory.max", "536870912")
	for _, tc := range []struct {
		name, root, self string
		want             int64
		ok               bool
	}{
		{"v1, own cgroup", v1, "12:pids:/jobs/stride\n5:cpuset,memory:/jobs/stride\n1:name=systemd:/jobs/stride\n", 128 << 20, true},
		{"v1, at the root", v1, "5:memory:/\n", 0, false},
		{"v2, a parent's smaller limit holds", v2, "0::/system.slice/stride.service\n", 256 << 20, true},
		{"v2, at the root", v2, "0::/\n", 0, false},
		{"no /proc/self/cgroup", v1, "", 0, false},
		{"a path that tries to climb out", v2, "0::/../../etc\n", 0, false},
	} {
		n, ok := cgroupLimitIn(tc.root, tc.self)
		if n != tc.want || ok != tc.ok {
			t.Errorf("%s: %d %v, want %d %v", tc.name, n, ok, tc.want, tc.ok)
		}
	}
	// A container: the namespace's root file holds the limit.
	c := t.TempDir()
	write(c, "memory.max", "201326592")
	if n, ok := cgroupLimitIn(c, "0::/\n"); !ok || n != 192<<20 {
		t.Errorf("container root: %d %v", n, ok)
	}
}
