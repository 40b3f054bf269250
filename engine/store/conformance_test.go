package store_test

import (
	"testing"
	"time"

	"github.com/stride-engine/stride/engine/store"
	"github.com/stride-engine/stride/engine/store/storetest"
)

// The conformance suite (engine/store/storetest) against the badger
// backend: what it asserts is the contract every backend keeps.

func openConformance(t *testing.T, now func() time.Time) *store.DB {
	t.Helper()
	db, err := store.Open(t.TempDir(), store.Options{GCInterval: -1, Now: now})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestConformanceKV(t *testing.T) {
	storetest.TestKV(t, func(t *testing.T, now func() time.Time) store.KV { return openConformance(t, now).KV() })
}

func TestConformanceQueues(t *testing.T) {
	storetest.TestQueues(t, func(t *testing.T) store.Queues { return openConformance(t, nil).Queues() })
}

func TestConformanceLog(t *testing.T) {
	storetest.TestLog(t, func(t *testing.T) store.Log { return openConformance(t, nil).Log() })
}
