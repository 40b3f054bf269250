package steps

// Test hooks into the state of steps; only the tests of this package use them.

// lockTableLen is the number of (name, key) entries held or waited for.
func lockTableLen() int {
	locks.mu.Lock()
	defer locks.mu.Unlock()
	return len(locks.m)
}

// tracked returns the number of keys held, for tests.
func (s *quotaStep) tracked() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.keys)
}
