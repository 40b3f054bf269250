package main

import (
	"fmt"
	"os"
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

// cgroupLimit reads the memory limit of the process's cgroup (v2, then
// v1); ok is false when there is none.
func cgroupLimit() (int64, bool) {
	for _, path := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		data, err := os.ReadFile(path)
		if err != nil {
			continue
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
	return 0, false
}
