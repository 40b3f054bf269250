package store

import (
	"context"
	"sync"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// Parts is the stored size of each part of the store: the bytes of the
// live keys and values under its area, as badger reports them (before
// compression, without the files' own overhead; Size says what the files
// take on disk).
type Parts struct {
	Log        int64 `json:"log"`
	Queues     int64 `json:"queues"`
	DataStores int64 `json:"datastores"`
	// At is when the figures were counted.
	At time.Time `json:"at"`
}

// partsCache keeps the last count for a while: counting walks every key.
type partsCache struct {
	mu    sync.Mutex
	parts Parts
}

// partsMaxAge is how long a count is reused.
const partsMaxAge = 30 * time.Second

// BytesByPart counts the bytes of the log, the queues and the data
// stores, walking their keys without reading values. A count less than
// 30 s old is reused, so metrics scrapes and `stride status` stay cheap.
func (db *DB) BytesByPart(ctx context.Context) (Parts, error) {
	db.parts.mu.Lock()
	defer db.parts.mu.Unlock()
	if now := db.now(); !db.parts.parts.At.IsZero() && now.Sub(db.parts.parts.At) < partsMaxAge {
		return db.parts.parts, nil
	}
	var p Parts
	err := db.view(ctx, func(txn *badger.Txn) error {
		for _, area := range []struct {
			prefix []byte
			sum    *int64
		}{{[]byte("l/"), &p.Log}, {queueArea, &p.Queues}, {kvArea, &p.DataStores}} {
			opts := badger.DefaultIteratorOptions
			opts.PrefetchValues = false
			opts.Prefix = area.prefix
			it := txn.NewIterator(opts)
			for it.Rewind(); it.ValidForPrefix(area.prefix); it.Next() {
				if err := ctx.Err(); err != nil {
					it.Close()
					return err
				}
				item := it.Item()
				*area.sum += int64(len(item.Key())) + item.ValueSize()
			}
			it.Close()
		}
		return nil
	})
	if err != nil {
		return Parts{}, err
	}
	p.At = db.now()
	db.parts.parts = p
	return p, nil
}
