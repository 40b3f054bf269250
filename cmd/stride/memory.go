package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/stride-engine/stride/engine/flow"
)

// defaultMemoryLimit is the budget when neither --memory-limit nor a
// cgroup says otherwise: fit for a 256 MiB container.
const defaultMemoryLimit = 256 << 20

// memoryBudget works out the process's memory budget: the flag (or
// STRIDE_MEMORY_LIMIT) when given, else the cgroup's limit, else
// defaultMemoryLimit. It says where the figure came from.
func memoryBudget(flagValue string) (int64, string, error) {
	if flagValue != "" {
		n, err := flow.ParseByteSize(flagValue)
		if err != nil {
			return 0, "", fmt.Errorf("--memory-limit %q: %v", flagValue, err)
		}
		if n < 64<<20 {
			return 0, "", fmt.Errorf("--memory-limit %q: Stride needs at least 64MiB", flagValue)
		}
		return int64(n), "--memory-limit", nil
	}
	if n, ok := cgroupLimit(); ok {
		return n, "the cgroup's memory limit", nil
	}
	return defaultMemoryLimit, "the default (no cgroup limit found)", nil
}

// cgroupLimit reads the memory limit of the process's cgroup; ok is
// false when there is none.
func cgroupLimit() (int64, bool) {
	self, _ := os.ReadFile("/proc/self/cgroup")
	return cgroupLimitIn("/sys/fs/cgroup", string(self))
}

// cgroupLimitIn finds the memory limit of the cgroup that self (the text
// of /proc/self/cgroup) names, under the cgroup file systems mounted at
// root: cgroup v2 ("0::/path", memory.max) or v1 ("N:memory:/path",
// memory/.../memory.limit_in_bytes). The process's own cgroup comes
// first — a service or a process put in a cgroup that is not its
// namespace's root (systemd's MemoryMax=, a job runner) has its limit
// there — then the root's, which is the container's in a container (its
// cgroup namespace shows its own cgroup as the root). The smallest limit
// on the way from the process's cgroup up to the root is the one the
// kernel enforces.
func cgroupLimitIn(root, self string) (int64, bool) {
	var dirs []string
	for _, line := range strings.Split(self, "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		switch {
		case parts[0] == "0" && parts[1] == "":
			dirs = append(dirs, ancestors(filepath.Join(root), parts[2], "memory.max")...)
		case slices.Contains(strings.Split(parts[1], ","), "memory"):
			dirs = append(dirs, ancestors(filepath.Join(root, "memory"), parts[2], "memory.limit_in_bytes")...)
		}
	}
	// Without /proc/self/cgroup: the roots.
	dirs = append(dirs, filepath.Join(root, "memory.max"), filepath.Join(root, "memory", "memory.limit_in_bytes"))
	limit, found := int64(0), false
	for _, path := range dirs {
		if n, ok := readLimit(path); ok && (!found || n < limit) {
			limit, found = n, true
		}
	}
	return limit, found
}

// ancestors returns file in the cgroup directory cg under mount and in
// each of its parents up to mount.
func ancestors(mount, cg, file string) []string {
	var out []string
	for dir := filepath.Join(mount, filepath.Clean("/"+cg)); ; dir = filepath.Dir(dir) {
		out = append(out, filepath.Join(dir, file))
		if dir == mount || len(dir) <= len(mount) {
			return out
		}
	}
}

// readLimit reads a cgroup memory limit file; ok is false for none
// ("max", or cgroup v1's huge number) or when it cannot be read.
func readLimit(path string) (int64, bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	v := strings.TrimSpace(string(data))
	if v == "max" {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 64)
	// cgroup v1 says "no limit" with a huge number.
	if err != nil || n <= 0 || n >= 1<<50 {
		return 0, false
	}
	return n, true
}
