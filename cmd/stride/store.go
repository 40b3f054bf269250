package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/stride-engine/stride/engine/store"
)

// dataKey reads STRIDE_DATA_KEY; nil when it is not set.
func dataKey() ([]byte, error) {
	v := os.Getenv("STRIDE_DATA_KEY")
	if v == "" {
		return nil, nil
	}
	k, err := store.ParseKey(v)
	if err != nil {
		return nil, fmt.Errorf("STRIDE_DATA_KEY: %w", err)
	}
	return k, nil
}

// openStore opens the badger database under dir, sealed with
// STRIDE_DATA_KEY when it is set.
func openStore(dir string, o storeOptions) (*store.DB, error) {
	log := o.Log
	key, err := dataKey()
	if err != nil {
		return nil, err
	}
	if key == nil {
		log.Warn("STRIDE_DATA_KEY is not set: datastore values, queued messages and traced payloads are stored unencrypted under " + dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("--data %s: %w", dir, err)
	}
	db, err := store.Open(dir, store.Options{Key: key, Logger: log, Durability: o.Durability, Memory: o.Memory,
		LogRetention: o.LogRetention, LogMaxBytes: o.LogMaxBytes})
	if err != nil {
		return nil, openFailed(dir, err)
	}
	return db, nil
}

// openFailed words a refusal of store.Open for the operator. A corrupt
// directory names the way back: a backup restored into a new directory.
func openFailed(dir string, err error) error {
	if errors.Is(err, store.ErrCorruptDir) {
		return fmt.Errorf("cannot open --data %s: %w; restore a backup with `stride store restore FILE --data DIR` into a new or empty DIR, then run stride with --data DIR (see docs/OPERATIONS.md)", dir, err)
	}
	return fmt.Errorf("cannot open --data %s: %w", dir, err)
}
