package main

import (
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
