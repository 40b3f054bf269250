package steps

import (
	"time"

	"github.com/stride-engine/stride/engine/flow"
)

// Test hooks into the state of steps; only the tests of this package use them.

// testResources are the resources the exchanges of this package's tests
// share, as the exchanges of one runtime do (across its flow sets):
// pooled HTTP, CSRF tokens, locks. Tests that need them fresh reset them.
var testResources = flow.NewResources()

// NewTestExchange returns an exchange on set with the tests' resources.
func NewTestExchange(id string, msg *flow.Message, set *flow.FlowSet, now func() time.Time) *flow.Exchange {
	x := flow.NewExchange(id, msg, set, now)
	x.SetResources(testResources)
	return x
}

// lockTableLen is the number of (name, key) entries held or waited for.
func lockTableLen() int {
	t := lockTables.Get(testResources)
	t.mu.Lock()
	defer t.mu.Unlock()
	return len(t.m)
}

// lockEntryRefs returns the references of lock id in any test's table.
func lockEntryRefs(id lockID) int {
	t := lockTables.Get(testResources)
	t.mu.Lock()
	defer t.mu.Unlock()
	if e := t.m[id]; e != nil {
		return e.refs
	}
	return 0
}

// tracked returns the number of keys held, for tests.
func (s *quotaStep) tracked() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.keys)
}
