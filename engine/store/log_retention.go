package store

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"sync/atomic"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// Retention of the message log.
//
// By age: every key of an entry expires LogRetention after its write
// (badger drops it at compaction; reads hide it at once); a payload
// expires after LogPayloadRetention, which is shorter.
//
// By size: the log's size is the sum, over its live keys (every key under
// "l/": entries, indexes, payloads), of len(key) + len(value) as stored —
// the bytes of keys and values written, sealing included, without
// badger's own overhead (versions, block and table headers, compression).
// logStore.size measures it by scanning the keys with badger's key and
// value sizes (values are not read). A running estimate adds the bytes
// each write batch writes and subtracts those the sweeper deletes; it
// errs high (an attempt written again, an entry expired since the last
// scan), never low, and a scan corrects it: when the database opens, and
// then once a minute while the log is within 10% of LogMaxBytes (far
// below it, the error cannot matter). When the estimate passes
// LogMaxBytes — checked after every batch and every minute — the sweeper
// deletes the oldest entries (by start), in transactions of
// logSweepBatch entries, until the log is under 90% of the limit, so
// that a log at its limit is not swept after every batch.

const (
	// DefaultLogMaxBytes is Options.LogMaxBytes's default.
	DefaultLogMaxBytes = 256 << 20
	// DefaultLogPayloadRetention is Options.LogPayloadRetention's default.
	DefaultLogPayloadRetention = 24 * time.Hour

	logSweepEvery = time.Minute // ticker: rescan if near the limit, then enforce it
	logSweepBatch = 256         // entries deleted per transaction
)

type logStore struct {
	db               *DB
	maxBytes         int64 // 0: no limit
	payloadRetention time.Duration

	// est is the running estimate of the log's size (see above).
	est atomic.Int64
	// batches counts the write batches committed, reads the reads made
	// on the write path (zero Starts only). For tests.
	batches, reads atomic.Int64
	// sweeps counts the sweeps that deleted entries; for tests.
	sweeps atomic.Int64
	// seconds is what the writer knows of the seconds index.
	seconds flowSeconds

	kick chan struct{}      // a batch took the estimate past the limit
	sync chan chan struct{} // tests: run a sweep now and say when done
}

func newLogStore(db *DB, opts Options) *logStore {
	return &logStore{
		db:               db,
		maxBytes:         max(opts.LogMaxBytes, 0),
		payloadRetention: opts.LogPayloadRetention,
		kick:             make(chan struct{}, 1),
		sync:             make(chan chan struct{}),
	}
}

// written adds a committed batch's bytes to the estimate and wakes the
// sweeper when it passes the limit. It is called after the commit, so a
// rescan never misses a write (see rescan).
func (s *logStore) written(n int64) {
	if s.est.Add(n) > s.maxBytes && s.maxBytes > 0 {
		select {
		case s.kick <- struct{}{}:
		default: // a sweep is already due
		}
	}
}

// sweepLoop enforces LogMaxBytes until the database closes.
func (s *logStore) sweepLoop() {
	defer s.db.bg.Done()
	ctx := stopContext{context.Background(), s.db.stop}
	t := time.NewTicker(logSweepEvery)
	defer t.Stop()
	s.sweep(ctx, true) // the first scan sets the estimate of a log written before
	for {
		select {
		case <-ctx.Done():
			// The batches written since the last sweep may have passed
			// the limit: enforce it once more, so that a closed log is
			// within it (the database is still open here).
			if s.maxBytes > 0 && s.est.Load() > s.maxBytes {
				s.sweep(context.Background(), false)
			}
			return
		case <-t.C:
			s.sweep(ctx, s.est.Load() > s.maxBytes-s.maxBytes/10)
		case <-s.kick:
			s.sweep(ctx, false)
		case done := <-s.sync:
			s.sweep(ctx, false)
			close(done)
		}
	}
}

// stopContext is done when the database closes; unlike a context
// cancelled from a goroutine watching db.stop, it starts no goroutine.
type stopContext struct {
	context.Context
	stop <-chan struct{}
}

func (c stopContext) Done() <-chan struct{} { return c.stop }

func (c stopContext) Err() error {
	select {
	case <-c.stop:
		return context.Canceled
	default:
		return nil
	}
}

// sweepNow runs a sweep on the sweeper goroutine and waits for it (tests).
func (s *logStore) sweepNow() {
	done := make(chan struct{})
	select {
	case s.sync <- done:
		<-done
	case <-s.db.stop:
	}
}

// sweep rescans when told to, then deletes the oldest entries while the
// log is over the limit.
func (s *logStore) sweep(ctx context.Context, rescan bool) {
	if rescan {
		if err := s.rescan(ctx); err != nil {
			if ctx.Err() == nil {
				s.db.log.Warn("store: measuring the message log failed", "error", err)
			}
			return
		}
	}
	if s.maxBytes <= 0 || s.est.Load() <= s.maxBytes {
		return
	}
	low := s.maxBytes - s.maxBytes/10
	deleted := false
	for s.est.Load() > low {
		n, err := s.deleteOldest(ctx, s.est.Load()-low)
		if err != nil {
			if ctx.Err() == nil {
				s.db.log.Warn("store: deleting the oldest message log entries failed", "error", err)
			}
			return
		}
		if n == 0 {
			break // nothing left to delete: what remains is indexes of deleted entries, expiring
		}
		deleted = true
	}
	if deleted {
		s.sweeps.Add(1)
		s.db.kickGC() // reclaim what the deletes freed
	}
}

// rescan measures the log and corrects the estimate. Writes committed
// during the scan may be in the scan and in the estimate's growth since
// before it: counted twice, which errs high until the next scan.
func (s *logStore) rescan(ctx context.Context) error {
	before := s.est.Load()
	size, err := s.size(ctx)
	if err != nil {
		return err
	}
	s.est.Add(size - before)
	return nil
}

var logPrefix = []byte("l/")

// size is the log's size as LogMaxBytes counts it: len(key) + len(value)
// of every live key under "l/", from badger's key and value sizes.
func (s *logStore) size(ctx context.Context) (int64, error) {
	now := s.db.now()
	var n int64
	err := s.db.view(ctx, func(txn *badger.Txn) error {
		it := txn.NewIterator(iterOptions(logPrefix))
		defer it.Close()
		i := 0
		for it.Rewind(); it.Valid(); it.Next() {
			if i++; i%4096 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			item := it.Item()
			if live(item.ExpiresAt(), now) {
				n += int64(len(item.Key())) + item.ValueSize()
			}
		}
		return nil
	})
	return n, err
}

// oldEntry is a primary key to delete, with what its deletion frees.
type oldEntry struct {
	key  []byte
	flow string
	size int64
}

// deleteOldest deletes up to logSweepBatch of the oldest entries, fewer
// once about want bytes are freed, in one transaction, and subtracts what
// it deleted from the estimate. It returns how many entries it deleted.
func (s *logStore) deleteOldest(ctx context.Context, want int64) (int, error) {
	var old []oldEntry
	err := s.db.view(ctx, func(txn *badger.Txn) error {
		o := iterOptions(logByTime)
		o.Reverse = true
		it := txn.NewIterator(o)
		defer it.Close()
		var freed int64
		// Reverse iteration from the first key past the prefix: the
		// largest inverted start, the oldest entry, comes first.
		end := bytes.Clone(logByTime)
		end[len(end)-1]++
		for it.Seek(end); it.ValidForPrefix(logByTime) && len(old) < logSweepBatch && freed < want; it.Next() {
			item := it.Item()
			e := oldEntry{key: item.KeyCopy(nil), size: int64(len(item.Key())) + item.ValueSize()}
			if err := item.Value(func(v []byte) error {
				h, err := decodeLogHead(v, e.key)
				e.flow = h.flow
				return err
			}); err != nil {
				e.flow = "" // corrupt: delete it all the same
			}
			// Its by-id pointer, flow index and payload, roughly.
			freed += 2*e.size + int64(len(e.flow))
			old = append(old, e)
		}
		return nil
	})
	if err != nil || len(old) == 0 {
		return 0, err
	}
	var freed int64
	err = s.db.update(ctx, func(txn *badger.Txn) error {
		freed = 0 // the closure runs again after a conflict
		del := func(k []byte, size int64) error {
			freed += size
			return txn.Delete(k)
		}
		// delIfThere deletes k if it exists, counting its size.
		delIfThere := func(k []byte) error {
			item, err := txn.Get(k)
			if errors.Is(err, badger.ErrKeyNotFound) {
				return nil
			}
			if err != nil {
				return err
			}
			return del(k, int64(len(k))+item.ValueSize())
		}
		seconds := map[string]int64{} // seconds keys of the deleted entries → their second
		for _, e := range old {
			suffix := e.key[len(logByTime):]
			if err := del(e.key, e.size); err != nil {
				return err
			}
			if e.flow != "" {
				// Written by logs before the seconds index.
				if err := delIfThere(append(logFlowPrefix(e.flow), suffix...)); err != nil {
					return err
				}
				sec := secondOf(binary.BigEndian.Uint64(suffix))
				seconds[string(logSecondKey(e.flow, sec))] = sec
			}
			id, attempt, ok := parseSuffix(suffix)
			if !ok {
				continue
			}
			// The pointer and the payload belong to the attempt: they go
			// only if the pointer names this entry (not a later write of
			// the attempt under another start). Reading the pointer makes
			// a concurrent rewrite of it a conflict, and this transaction
			// runs again.
			pk := logIDKey(logByID, id, attempt)
			item, err := txn.Get(pk)
			if errors.Is(err, badger.ErrKeyNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			v, err := item.ValueCopy(nil)
			if err != nil {
				return err
			}
			if named, err := logPrimary(v, id, attempt); err == nil && !bytes.Equal(named, e.key) {
				continue // a later write of the attempt (a corrupt pointer goes with its entry)
			}
			if err := del(pk, int64(len(pk)+len(v))); err != nil {
				return err
			}
			if err := delIfThere(logIDKey(logPay, id, attempt)); err != nil {
				return err
			}
		}
		// The seconds keys go with the entries, but the newest second
		// deleted may still hold entries (deletion goes oldest first, so
		// every older second is empty now): its keys stay while it does.
		newest := secondOf(binary.BigEndian.Uint64(old[len(old)-1].key[len(logByTime):]))
		keepNewest := remainsInSecond(txn, newest)
		for k, sec := range seconds {
			if sec == newest && keepNewest {
				continue
			}
			if err := delIfThere([]byte(k)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	s.est.Add(-freed)
	return len(old), nil
}

// remainsInSecond reports whether an entry that started in second sec is
// left once txn commits: the transaction's iterator hides the keys it
// has deleted.
func remainsInSecond(txn *badger.Txn, sec int64) bool {
	it := txn.NewIterator(badger.IteratorOptions{Prefix: logByTime})
	defer it.Close()
	it.Seek(binary.BigEndian.AppendUint64(bytes.Clone(logByTime), ^uint64(sec*1e9+999_999_999)))
	if !it.ValidForPrefix(logByTime) {
		return false
	}
	k := it.Item().Key()
	return len(k) >= len(logByTime)+8 && secondOf(binary.BigEndian.Uint64(k[len(logByTime):])) == sec
}
