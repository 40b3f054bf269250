package natsstore

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stride-engine/stride/engine/store"
)

// kvStore is store.KV on the KV bucket <prefix>_kv: one key per entry,
// <store token>.<id token>. A put publishes to the key's subject itself
// (rather than through the KV API) to give any write, overwrites too, a
// per-message TTL; a put without overwrite is conditional on the key's
// last sequence (0: none), and an entry that is there but expired by the
// store's clock is replaced conditionally on its sequence. Reads check
// expiry by the store's clock as well, so an entry is gone at its Expires
// whenever the server removes it (the server's TTL, rounded up to the
// second, never removes it earlier).
type kvStore struct {
	s      *Store
	bucket jetstream.KeyValue
	stream jetstream.Stream
	name   string // the stream's name, KV_<bucket>
	subj   string // $KV.<bucket>.
}

func newKVStore(ctx context.Context, s *Store) (*kvStore, error) {
	b, err := s.openBucket(ctx, "_kv", "Stride datastores (engine/store/natsstore)")
	if err != nil {
		return nil, err
	}
	return &kvStore{s: s, bucket: b.kv, stream: b.stream, name: b.name, subj: b.subj}, nil
}

// kvBucket is a KV bucket with its backing stream, whose name and subject
// prefix direct gets and purges use.
type kvBucket struct {
	kv     jetstream.KeyValue
	stream jetstream.Stream
	name   string // KV_<bucket>
	subj   string // $KV.<bucket>.
}

// openBucket creates (or updates) the bucket <prefix><suffix>: one
// revision per key, on disk, replicated, with limit markers for
// per-entry TTLs.
func (s *Store) openBucket(ctx context.Context, suffix, description string) (kvBucket, error) {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	bucket := s.opts.Prefix + suffix
	kv, err := s.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:         bucket,
		Description:    description,
		History:        1,
		Storage:        jetstream.FileStorage,
		Replicas:       s.opts.Replicas,
		LimitMarkerTTL: s.opts.MarkerTTL,
	})
	if err != nil {
		return kvBucket{}, fmt.Errorf("bucket %s: %w", bucket, err)
	}
	stream, err := s.js.Stream(ctx, "KV_"+bucket)
	if err != nil {
		return kvBucket{}, fmt.Errorf("bucket %s: %w", bucket, err)
	}
	return kvBucket{kv: kv, stream: stream, name: "KV_" + bucket, subj: "$KV." + bucket + "."}, nil
}

func (k *kvStore) subject(storeName, id string) string {
	return k.subj + token(storeName) + "." + token(id)
}

// kv record: version, flags, id, created, expires (the zero time for
// never), the sensitivity declaration (when flagSens), then the value
// (rest, sealed when flagSealed). The id is kept because a long id's
// token is a hash.
const flagSens = 1 << 7

type kvHead struct {
	flags   byte
	id      string
	created time.Time
	expires time.Time
	sensRaw []byte
	blob    []byte
}

func (k *kvStore) encode(storeName, id string, value []byte, created, expires time.Time, sens store.Sensitivity) []byte {
	var sensRaw []byte
	if !sens.IsZero() {
		sensRaw = encodeSensitivity(sens)
	}
	blob, sealed := k.s.sealBlob(value, kvAAD(storeName, id, sensRaw))
	e := encoder{B: make([]byte, 0, 32+len(id)+len(sensRaw)+len(blob))}
	e.Byte(recordVersion)
	var flags byte
	if sealed {
		flags |= flagSealed
	}
	if sensRaw != nil {
		flags |= flagSens
	}
	e.Byte(flags)
	e.String(id)
	e.Time(created)
	e.Time(expires)
	if sensRaw != nil {
		e.Bytes(sensRaw)
	}
	e.B = append(e.B, blob...)
	return e.B
}

func decodeKVHead(rec []byte) (kvHead, error) {
	d := decoder{B: rec}
	var h kvHead
	if d.Byte() != recordVersion {
		return h, store.ErrCorrupt
	}
	h.flags = d.Byte()
	h.id = d.String()
	h.created = d.Time()
	h.expires = d.Time()
	if h.flags&flagSens != 0 {
		h.sensRaw = d.Bytes()
	}
	h.blob = d.B
	return h, d.Err
}

func (h *kvHead) live(now time.Time) bool { return h.expires.IsZero() || now.Before(h.expires) }

// entry opens the value and decodes the declaration.
func (k *kvStore) entry(storeName string, h *kvHead) (store.Entry, error) {
	e := store.Entry{ID: h.id, Created: h.created, Expires: h.expires}
	if h.sensRaw != nil {
		sens, err := decodeSensitivity(h.sensRaw)
		if err != nil {
			return e, err
		}
		e.Sensitive = sens
	}
	v, err := k.s.openBlob(h.blob, h.flags&flagSealed != 0, kvAAD(storeName, h.id, h.sensRaw))
	if err != nil {
		return e, err
	}
	if h.flags&flagSealed == 0 {
		v = bytes.Clone(v)
	}
	if v == nil {
		v = []byte{}
	}
	e.Value = v
	return e, nil
}

// kvAAD binds a sealed value to its store and id, and to its declaration
// (as the badger store does).
func kvAAD(storeName, id string, sens []byte) []byte {
	aad := make([]byte, 0, len(storeName)+1+len(id)+1+len(sens))
	aad = append(aad, storeName...)
	aad = append(aad, 0)
	aad = append(aad, id...)
	if sens != nil {
		aad = append(aad, 0)
		aad = append(aad, sens...)
	}
	return aad
}

func encodeSensitivity(s store.Sensitivity) []byte {
	var e encoder
	if s.All {
		e.Byte(1)
	} else {
		e.Byte(0)
	}
	e.Uvarint(uint64(len(s.Paths)))
	for _, p := range s.Paths {
		e.String(p)
	}
	return e.B
}

func decodeSensitivity(b []byte) (store.Sensitivity, error) {
	d := decoder{B: b}
	var s store.Sensitivity
	s.All = d.Byte() == 1
	n := d.Uvarint()
	if n > 64 {
		d.Fail()
	}
	for i := uint64(0); i < n && d.Err == nil; i++ {
		s.Paths = append(s.Paths, d.String())
	}
	if d.Err != nil || len(d.B) != 0 {
		return store.Sensitivity{}, store.ErrCorrupt
	}
	return s, nil
}

func checkStoreID(op, storeName, id string) error {
	if err := store.ValidStoreName(storeName); err != nil {
		return fmt.Errorf("store: %s: %w", op, err)
	}
	if err := store.ValidID("entry", id); err != nil {
		return fmt.Errorf("store: %s %s: %w", op, storeName, err)
	}
	return nil
}

// expiresAt is t rounded up to the second (an entry never expires early).
func expiresAt(t time.Time) time.Time {
	r := t.Truncate(time.Second)
	if r.Before(t) {
		r = r.Add(time.Second)
	}
	return r
}

// last is the last message on subj, nil when there is none.
func (k *kvStore) last(ctx context.Context, subj string) (*jetstream.RawStreamMsg, error) {
	m, err := k.stream.GetLastMsgForSubject(ctx, subj)
	if errors.Is(err, jetstream.ErrMsgNotFound) {
		return nil, nil
	}
	return m, err
}

// current is the entry's head on subj and its sequence; live is false
// when there is none (no message, a marker, or expired by the clock). A
// record that cannot be decoded is live, with an error: it exists, like
// an unreadable badger record, and only a delete or an overwrite removes
// it.
func (k *kvStore) current(ctx context.Context, storeName, id, subj string) (h kvHead, seq uint64, live bool, err error) {
	m, err := k.last(ctx, subj)
	if err != nil || m == nil {
		return h, 0, false, err
	}
	if isMarker(m.Header) {
		return h, m.Sequence, false, nil
	}
	if h, err = decodeKVHead(m.Data); err != nil {
		return h, m.Sequence, true, fmt.Errorf("store %q id %q: %w", storeName, id, err)
	}
	if h.id != id {
		return h, m.Sequence, true, fmt.Errorf("store %q id %q: the record holds id %q: %w", storeName, id, h.id, store.ErrCorrupt)
	}
	return h, m.Sequence, h.live(k.s.now()), nil
}

func (k *kvStore) Put(ctx context.Context, storeName, id string, value []byte, opt store.PutOptions) error {
	ctx, cancel := bounded(ctx)
	defer cancel()
	if err := checkStoreID("put", storeName, id); err != nil {
		return err
	}
	if opt.TTL < 0 {
		return fmt.Errorf("store: put %s/%q: negative TTL %v: %w", storeName, id, opt.TTL, store.ErrInvalid)
	}
	if k.s.isClosed() {
		return store.ErrClosed
	}
	sens, err := opt.Sensitive.Normalized()
	if err != nil {
		return fmt.Errorf("store: put %s/%q: %w", storeName, id, err)
	}
	now := k.s.now()
	var expires time.Time
	if opt.TTL > 0 {
		expires = expiresAt(now.Add(opt.TTL))
	}
	rec := k.encode(storeName, id, value, now, expires, sens)
	subj := k.subject(storeName, id)
	publish := func(expect *uint64) error {
		var opts []jetstream.PublishOpt
		if opt.TTL > 0 {
			opts = append(opts, jetstream.WithMsgTTL(ttlSeconds(now, expires)))
		}
		if expect != nil {
			opts = append(opts, jetstream.WithExpectLastSequencePerSubject(*expect))
		}
		_, err := k.s.js.PublishMsg(ctx, &nats.Msg{Subject: subj, Data: rec}, opts...)
		return noRoom(err)
	}
	if opt.Overwrite {
		if err := publish(nil); err != nil {
			return fmt.Errorf("store: put %s/%q: %w", storeName, id, err)
		}
		return nil
	}
	var expect uint64 // no message on the subject
	for range 20 {
		err := publish(&expect)
		if err == nil {
			return nil
		}
		if !isWrongLastSeq(err) {
			return fmt.Errorf("store: put %s/%q: %w", storeName, id, err)
		}
		// The subject holds something: an entry, expired or not, or a
		// marker. Only a live entry refuses the put.
		_, seq, live, err := k.current(ctx, storeName, id, subj)
		if err != nil && !live {
			return fmt.Errorf("store: put %s/%q: %w", storeName, id, err)
		}
		if live {
			return fmt.Errorf("store: put %s/%q: %w", storeName, id, store.ErrExists)
		}
		expect = seq
	}
	return fmt.Errorf("store: put %s/%q: the entry kept changing under concurrent writes", storeName, id)
}

func (k *kvStore) Get(ctx context.Context, storeName, id string) (store.Entry, error) {
	ctx, cancel := bounded(ctx)
	defer cancel()
	if err := checkStoreID("get", storeName, id); err != nil {
		return store.Entry{}, err
	}
	if k.s.isClosed() {
		return store.Entry{}, store.ErrClosed
	}
	h, _, live, err := k.current(ctx, storeName, id, k.subject(storeName, id))
	if err != nil {
		return store.Entry{}, fmt.Errorf("store: get %s/%q: %w", storeName, id, err)
	}
	if !live {
		return store.Entry{}, fmt.Errorf("store: get %s/%q: %w", storeName, id, store.ErrNotFound)
	}
	e, err := k.entry(storeName, &h)
	if err != nil {
		return store.Entry{}, fmt.Errorf("store: get %s/%q: store %q id %q: %w", storeName, id, storeName, id, err)
	}
	return e, nil
}

func (k *kvStore) Delete(ctx context.Context, storeName, id string) error {
	ctx, cancel := bounded(ctx)
	defer cancel()
	if err := checkStoreID("delete", storeName, id); err != nil {
		return err
	}
	if k.s.isClosed() {
		return store.ErrClosed
	}
	subj := k.subject(storeName, id)
	for range 20 {
		_, seq, live, err := k.current(ctx, storeName, id, subj)
		if err != nil && !live {
			return fmt.Errorf("store: delete %s/%q: %w", storeName, id, err)
		}
		if !live {
			return fmt.Errorf("store: delete %s/%q: %w", storeName, id, store.ErrNotFound)
		}
		_, err = k.s.publishMarker(ctx, subj, seq)
		if err == nil {
			return nil
		}
		if !isWrongLastSeq(err) {
			return fmt.Errorf("store: delete %s/%q: %w", storeName, id, err)
		}
	}
	return fmt.Errorf("store: delete %s/%q: the entry kept changing under concurrent writes", storeName, id)
}

// publishMarker replaces the message on subj, if its sequence is still
// seq, with a KV purge marker that the server removes after MarkerTTL;
// KV watchers see the key removed.
func (s *Store) publishMarker(ctx context.Context, subj string, seq uint64) (uint64, error) {
	m := nats.NewMsg(subj)
	m.Header.Set(hdrKVOp, "PURGE")
	m.Header.Set(hdrRollup, "sub")
	ack, err := s.js.PublishMsg(ctx, m, jetstream.WithExpectLastSequencePerSubject(seq), jetstream.WithMsgTTL(s.opts.MarkerTTL))
	if err != nil {
		return 0, err
	}
	return ack.Sequence, nil
}

// scanStore calls fn with the head of every live entry of a store.
func (k *kvStore) scanStore(ctx context.Context, storeName string, fn func(h *kvHead) error) error {
	now := k.s.now()
	prefix := k.subj + token(storeName) + "."
	return k.s.scan(ctx, k.name, prefix+"*", func(m *nats.Msg) error {
		if isMarker(m.Header) {
			return nil
		}
		h, err := decodeKVHead(m.Data)
		if err != nil || token(h.id) != strings.TrimPrefix(m.Header.Get("Nats-Subject"), prefix) {
			k.s.log.Error("natsstore: skipping an unreadable datastore record", "store", storeName, "subject", m.Header.Get("Nats-Subject"), "err", err)
			return nil
		}
		if !h.live(now) {
			return nil
		}
		return fn(&h)
	})
}

func (k *kvStore) Select(ctx context.Context, storeName string, opt store.SelectOptions) ([]store.Entry, error) {
	if err := store.ValidStoreName(storeName); err != nil {
		return nil, fmt.Errorf("store: select: %w", err)
	}
	if strings.IndexByte(opt.Prefix+opt.After, 0) >= 0 {
		return nil, fmt.Errorf("store: select %s: prefix or cursor contains a NUL byte: %w", storeName, store.ErrInvalid)
	}
	if k.s.isClosed() {
		return nil, store.ErrClosed
	}
	var heads []kvHead
	err := k.scanStore(ctx, storeName, func(h *kvHead) error {
		if strings.HasPrefix(h.id, opt.Prefix) && h.id > opt.After {
			heads = append(heads, *h)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: select %s: %w", storeName, err)
	}
	slices.SortFunc(heads, func(a, b kvHead) int { return strings.Compare(a.id, b.id) })
	if opt.Limit > 0 && len(heads) > opt.Limit {
		heads = heads[:opt.Limit]
	}
	out := make([]store.Entry, 0, len(heads))
	for i := range heads {
		e, err := k.entry(storeName, &heads[i])
		if err != nil {
			return nil, fmt.Errorf("store: select %s: store %q id %q: %w", storeName, storeName, heads[i].id, err)
		}
		out = append(out, e)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

func (k *kvStore) Count(ctx context.Context, storeName string) (int, error) {
	if err := store.ValidStoreName(storeName); err != nil {
		return 0, fmt.Errorf("store: count: %w", err)
	}
	if k.s.isClosed() {
		return 0, store.ErrClosed
	}
	n := 0
	err := k.scanStore(ctx, storeName, func(*kvHead) error { n++; return nil })
	if err != nil {
		return 0, fmt.Errorf("store: count %s: %w", storeName, err)
	}
	return n, nil
}

func (k *kvStore) Stores(ctx context.Context) ([]string, error) {
	if k.s.isClosed() {
		return nil, store.ErrClosed
	}
	now := k.s.now()
	seen := map[string]bool{}
	err := k.s.scan(ctx, k.name, k.subj+"*.*", func(m *nats.Msg) error {
		if isMarker(m.Header) {
			return nil
		}
		storeTok, _, _ := strings.Cut(strings.TrimPrefix(m.Header.Get("Nats-Subject"), k.subj), ".")
		name, ok := untoken(storeTok)
		if !ok || seen[name] {
			return nil
		}
		h, err := decodeKVHead(m.Data)
		if err == nil && h.live(now) {
			seen[name] = true
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: list stores: %w", err)
	}
	if len(seen) == 0 {
		return nil, nil
	}
	return slices.Sorted(func(yield func(string) bool) {
		for n := range seen {
			if !yield(n) {
				return
			}
		}
	}), nil
}
