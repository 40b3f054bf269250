package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// KV is the datastore: named stores of entries addressed by id, with CPI data
// store semantics (no overwrite unless asked, expiry, select ordered by id).
// Store names follow ValidStoreName; ids are 1–1024 bytes without NUL.
type KV interface {
	// Put stores value under store/id. With Overwrite=false an existing
	// live entry is ErrExists. TTL > 0 makes the entry expire.
	Put(ctx context.Context, store, id string, value []byte, opt PutOptions) error
	// Get returns the live entry or ErrNotFound.
	Get(ctx context.Context, store, id string) (Entry, error)
	// Delete removes the entry; ErrNotFound if there is no live entry.
	Delete(ctx context.Context, store, id string) error
	// Select returns live entries ordered by id ascending.
	Select(ctx context.Context, store string, opt SelectOptions) ([]Entry, error)
	// Count returns the number of live entries in store.
	Count(ctx context.Context, store string) (int, error)
	// Stores lists the stores that hold at least one live entry, sorted.
	Stores(ctx context.Context) ([]string, error)
}

// PutOptions control Put.
type PutOptions struct {
	// Overwrite replaces an existing entry; without it a duplicate is ErrExists.
	Overwrite bool
	// TTL is the entry's lifetime; 0 never expires. Expiry has one-second
	// resolution and is rounded up: an entry never expires early.
	TTL time.Duration
	// Sensitive declares the value, or fields of it, sensitive: kept with
	// the entry (Entry.Sensitive) and masked wherever the value is shown
	// (Mask). A write replaces the declaration with its own.
	Sensitive Sensitivity
}

// SelectOptions narrow Select.
type SelectOptions struct {
	// Prefix keeps ids starting with it.
	Prefix string
	// After is an exclusive cursor: only ids greater than it (for paging,
	// pass the last id of the previous page).
	After string
	// Limit caps the number of entries; 0 or less means no limit.
	Limit int
}

// Entry is one datastore entry.
type Entry struct {
	ID    string
	Value []byte
	// Created is when this value was put (an overwrite sets it anew).
	Created time.Time
	// Expires is the zero time for entries that never expire.
	Expires time.Time
	// Sensitive is what the write declared sensitive. Show the value with
	// Masked, never Value, unless a person explicitly asked to reveal it.
	Sensitive Sensitivity
}

type kvStore struct{ db *DB }

var kvArea = []byte("k/")

// kvPrefix is k/<store>\x00: every entry of a store, and nothing else, has it.
func kvPrefix(store string) []byte {
	k := make([]byte, 0, len(kvArea)+len(store)+1)
	k = append(k, kvArea...)
	k = append(k, store...)
	return append(k, 0)
}

func kvKey(store, id string) []byte {
	return append(kvPrefix(store), id...)
}

// kvAAD binds a sealed value to its store and id, and to the stored form
// of its sensitivity declaration when it has one (so that a declaration
// removed or changed on disk makes the value fail to open).
func kvAAD(store, id string, sens []byte) []byte {
	aad := make([]byte, 0, len(store)+1+len(id)+1+len(sens))
	aad = append(aad, store...)
	aad = append(aad, 0)
	aad = append(aad, id...)
	if sens != nil {
		aad = append(aad, 0)
		aad = append(aad, sens...)
	}
	return aad
}

func checkStoreID(op, store, id string) error {
	if err := ValidStoreName(store); err != nil {
		return fmt.Errorf("store: %s: %w", op, err)
	}
	if err := validID("entry", id); err != nil {
		return fmt.Errorf("store: %s %s: %w", op, store, err)
	}
	return nil
}

// kv record: version, flags, created (varint nanos), then in version 2
// the sensitivity declaration (length-prefixed, see Sensitivity.encode),
// then the value (rest, sealed when flagSealed). An entry without a
// declaration is written as version 1, the format older Stride versions
// read; one with a declaration as version 2, which they refuse as
// corrupt rather than misread.
const kvRecordSensitive = 2

func (s *kvStore) encode(store, id string, value []byte, created time.Time, sens Sensitivity) []byte {
	var sensRaw []byte
	if !sens.IsZero() {
		se := encoder{}
		sens.encode(&se)
		sensRaw = se.B
	}
	blob, sealed := s.db.sealBlob(value, kvAAD(store, id, sensRaw))
	e := encoder{B: make([]byte, 0, 16+len(sensRaw)+len(blob))}
	if sensRaw != nil {
		e.Byte(kvRecordSensitive)
	} else {
		e.Byte(recordVersion)
	}
	var flags byte
	if sealed {
		flags |= flagSealed
	}
	e.Byte(flags)
	e.Time(created)
	if sensRaw != nil {
		e.Bytes(sensRaw)
	}
	e.B = append(e.B, blob...)
	return e.B
}

func (s *kvStore) decode(store, id string, rec []byte, exp uint64) (Entry, error) {
	d := decoder{B: rec}
	ver := d.Byte()
	flags := d.Byte()
	created := d.Time()
	var sensRaw []byte
	var sens Sensitivity
	if ver == kvRecordSensitive {
		sensRaw = d.Bytes()
		sd := decoder{B: sensRaw}
		sens = decodeSensitivity(&sd)
		if sd.Err != nil || len(sd.B) != 0 {
			d.Fail()
		}
	}
	if d.Err != nil || ver != recordVersion && ver != kvRecordSensitive {
		return Entry{}, fmt.Errorf("store %q id %q: %w", store, id, ErrCorrupt)
	}
	v, err := s.db.openBlob(d.B, flags&flagSealed != 0, kvAAD(store, id, sensRaw))
	if err != nil {
		return Entry{}, fmt.Errorf("store %q id %q: %w", store, id, err)
	}
	if flags&flagSealed == 0 {
		v = bytes.Clone(v)
	}
	return Entry{ID: id, Value: v, Created: created, Expires: expiryTime(exp), Sensitive: sens}, nil
}

func (s *kvStore) Put(ctx context.Context, store, id string, value []byte, opt PutOptions) error {
	if err := checkStoreID("put", store, id); err != nil {
		return err
	}
	if opt.TTL < 0 {
		return fmt.Errorf("store: put %s/%q: negative TTL %v: %w", store, id, opt.TTL, ErrInvalid)
	}
	sens, err := opt.Sensitive.normalized()
	if err != nil {
		return fmt.Errorf("store: put %s/%q: %w", store, id, err)
	}
	key := kvKey(store, id)
	now := s.db.now()
	ent := badger.NewEntry(key, s.encode(store, id, value, now, sens))
	if opt.TTL > 0 {
		ent.ExpiresAt = expiresAt(now.Add(opt.TTL))
	}
	err = s.db.update(ctx, func(txn *badger.Txn) error {
		if !opt.Overwrite {
			// Reading the key puts it in the transaction's read set: a
			// concurrent put of the same id makes one of the two commits
			// conflict, and the retry then sees the other's entry.
			item, err := txn.Get(key)
			if err == nil && live(item.ExpiresAt(), now) {
				return ErrExists
			}
			if err != nil && !errors.Is(err, badger.ErrKeyNotFound) {
				return err
			}
		}
		return txn.SetEntry(ent)
	})
	if err == nil {
		err = s.db.durable()
	}
	if err != nil {
		return fmt.Errorf("store: put %s/%q: %w", store, id, err)
	}
	return nil
}

func (s *kvStore) Get(ctx context.Context, store, id string) (Entry, error) {
	if err := checkStoreID("get", store, id); err != nil {
		return Entry{}, err
	}
	var out Entry
	err := s.db.view(ctx, func(txn *badger.Txn) error {
		item, err := txn.Get(kvKey(store, id))
		if errors.Is(err, badger.ErrKeyNotFound) || err == nil && !live(item.ExpiresAt(), s.db.now()) {
			return fmt.Errorf("store: get %s/%q: %w", store, id, ErrNotFound)
		}
		if err != nil {
			return fmt.Errorf("store: get %s/%q: %w", store, id, err)
		}
		return item.Value(func(v []byte) error {
			out, err = s.decode(store, id, v, item.ExpiresAt())
			return err
		})
	})
	return out, err
}

func (s *kvStore) Delete(ctx context.Context, store, id string) error {
	if err := checkStoreID("delete", store, id); err != nil {
		return err
	}
	key := kvKey(store, id)
	now := s.db.now()
	err := s.db.update(ctx, func(txn *badger.Txn) error {
		item, err := txn.Get(key)
		if errors.Is(err, badger.ErrKeyNotFound) || err == nil && !live(item.ExpiresAt(), now) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		return txn.Delete(key)
	})
	if err == nil {
		err = s.db.durable()
	}
	if err != nil {
		return fmt.Errorf("store: delete %s/%q: %w", store, id, err)
	}
	return nil
}

func (s *kvStore) Select(ctx context.Context, store string, opt SelectOptions) ([]Entry, error) {
	if err := ValidStoreName(store); err != nil {
		return nil, fmt.Errorf("store: select: %w", err)
	}
	if i := bytes.IndexByte([]byte(opt.Prefix+opt.After), 0); i >= 0 {
		return nil, fmt.Errorf("store: select %s: prefix or cursor contains a NUL byte: %w", store, ErrInvalid)
	}
	base := kvPrefix(store)
	prefix := append(bytes.Clone(base), opt.Prefix...)
	seek := prefix
	if opt.After != "" {
		// The smallest key after base+After: ids hold no NUL, so appending
		// one gives a key between After and everything greater.
		after := append(append(bytes.Clone(base), opt.After...), 0)
		if bytes.Compare(after, seek) > 0 {
			seek = after
		}
	}
	now := s.db.now()
	var out []Entry
	err := s.db.view(ctx, func(txn *badger.Txn) error {
		io := iterOptions(prefix)
		it := txn.NewIterator(io)
		defer it.Close()
		n := 0
		for it.Seek(seek); it.ValidForPrefix(prefix); it.Next() {
			if n++; n%1024 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			item := it.Item()
			if !live(item.ExpiresAt(), now) {
				continue
			}
			id := string(item.Key()[len(base):])
			var e Entry
			err := item.Value(func(v []byte) error {
				var err error
				e, err = s.decode(store, id, v, item.ExpiresAt())
				return err
			})
			if err != nil {
				return err
			}
			out = append(out, e)
			if opt.Limit > 0 && len(out) >= opt.Limit {
				break
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: select %s: %w", store, err)
	}
	return out, nil
}

func (s *kvStore) Count(ctx context.Context, store string) (int, error) {
	if err := ValidStoreName(store); err != nil {
		return 0, fmt.Errorf("store: count: %w", err)
	}
	prefix := kvPrefix(store)
	now := s.db.now()
	n := 0
	err := s.db.view(ctx, func(txn *badger.Txn) error {
		io := iterOptions(prefix)
		it := txn.NewIterator(io)
		defer it.Close()
		for it.Rewind(); it.ValidForPrefix(prefix); it.Next() {
			if live(it.Item().ExpiresAt(), now) {
				n++
			}
			if n%4096 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: count %s: %w", store, err)
	}
	return n, nil
}

func (s *kvStore) Stores(ctx context.Context) ([]string, error) {
	now := s.db.now()
	var out []string
	err := s.db.view(ctx, func(txn *badger.Txn) error {
		io := iterOptions(kvArea)
		it := txn.NewIterator(io)
		defer it.Close()
		it.Rewind()
		for it.ValidForPrefix(kvArea) {
			if err := ctx.Err(); err != nil {
				return err
			}
			k := it.Item().Key()[len(kvArea):]
			i := bytes.IndexByte(k, 0)
			if i < 0 { // not a kv key; cannot happen with this layout
				it.Next()
				continue
			}
			name := string(k[:i])
			if !live(it.Item().ExpiresAt(), now) {
				it.Next() // an expired entry; look at the next in this store
				continue
			}
			out = append(out, name)
			// Skip the rest of this store: \x01 sorts after every id.
			it.Seek(append(kvPrefix(name)[:len(kvArea)+len(name)], 1))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: list stores: %w", err)
	}
	return out, nil
}
