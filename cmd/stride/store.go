package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/stride-engine/stride/engine/store"
)

// openStore opens the badger database under dir, sealed with
// STRIDE_DATA_KEY when it is set.
func openStore(dir string, dur store.Durability, log *slog.Logger) (*store.DB, error) {
	var key []byte
	if v := os.Getenv("STRIDE_DATA_KEY"); v != "" {
		k, err := store.ParseKey(v)
		if err != nil {
			return nil, fmt.Errorf("STRIDE_DATA_KEY: %w", err)
		}
		key = k
	} else {
		log.Warn("STRIDE_DATA_KEY is not set: datastore values, queued messages and traced payloads are stored unencrypted under " + dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("--data %s: %w", dir, err)
	}
	db, err := store.Open(dir, store.Options{Key: key, Logger: log, Durability: dur})
	if err != nil {
		return nil, fmt.Errorf("cannot open --data %s: %w", dir, err)
	}
	return db, nil
}
