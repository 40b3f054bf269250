// Package natsstore implements Stride's durable state (store.KV,
// store.Queues, store.Log) on NATS JetStream, so that several Stride
// instances share their datastores, queues and message log. The embedded
// badger store (engine/store) stays the default; this backend keeps the
// same contracts, asserted by the same conformance suite
// (engine/store/storetest).
//
// # Layout
//
// Everything is named from Options.Prefix (default "stride"):
//
//	KV bucket <prefix>_kv        datastore entries, key <store>.<id>
//	KV bucket <prefix>_queues    queued messages: <queue>.s.<id> (state:
//	                             key, attempts, lease, dead letter, error)
//	                             and <queue>.b.<id> (content, written once)
//	stream <prefix>_log          message log: <prefix>.log.<flow>.<id>.<attempt>
//	                             and payloads <prefix>.logp.<id>.<attempt>
//
// Store, queue and flow names and ids are subject tokens: letters, digits,
// '-' and '_' as they are, any other byte as =XX (see token). Each bucket
// and the log keep one message per subject, so an entry, a message's state
// or a log attempt written again replaces the one before.
//
// # Queues
//
// A queue is a set of messages in the queues bucket, not a JetStream work
// queue: its contract (a lease of any length per call, a retry that keeps
// the message's place and holds back later messages of its key, a release,
// a replay to the original place, settling by id from any instance, exact
// stats) is kept by compare-and-set writes of each message's state record.
// Every instance watches the state records of all queues (a KV watch) and
// keeps the index the badger store keeps in memory: FIFO order by id, the
// message leased with each ordering key, the dead letters. Lease picks from
// that index and claims each pick with a write conditional on the revision
// it saw; of two instances picking the same message, one wins and the other
// moves on. The watch also wakes Notify on every instance. A write is in
// the instance's own index when it returns (read your writes). After the
// connection comes back from an outage the instance watches anew and drops
// from its index what was removed meanwhile.
//
// Leases are kept by the clock of the instance that reads them: clocks of
// instances sharing queues must agree (NTP) to well under a lease.
//
// # Encryption
//
// With Options.Key, values, message contents, error texts, log bodies and
// payloads are sealed with store.Sealer (the badger store's AES-256-GCM)
// before they are published: whoever operates NATS sees ids, names,
// statuses and times, never tokens or bodies. A sealed marker in the KV
// bucket proves the key at Open, as in the badger store.
//
// # Durability
//
// A write returns when JetStream has stored it (its publish ack). With one
// server that is in the server's page cache, synced to disk at the
// server's sync_interval (2 minutes by default); with Options.Replicas 3 it
// is on a quorum of servers. Set sync_interval: always on the servers for
// the badger store's "survives power loss" on a single server.
package natsstore

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stride-engine/stride/engine/store"
)

// Options configure Open. The zero value is usable.
type Options struct {
	// Prefix names the buckets, the stream and the subjects; default
	// "stride". Deployments that share a NATS account use different
	// prefixes. Letters, digits, '-' and '_'.
	Prefix string
	// Key is the 32-byte data key (STRIDE_DATA_KEY); nil stores values in
	// plain text.
	Key []byte
	// Replicas is the number of servers that keep each bucket and the
	// log stream; default 1. Use 3 on a 3-node cluster.
	Replicas int
	// Logger receives background errors; nil discards.
	Logger *slog.Logger
	// Now is the clock for expiry, delays, leases and log times; default
	// time.Now.
	Now func() time.Time
	// LogRetention, LogPayloadRetention and LogMaxBytes are the message
	// log's limits, with the badger store's defaults (store.Options).
	LogRetention        time.Duration
	LogPayloadRetention time.Duration
	LogMaxBytes         int64
	// MarkerTTL is how long the marker of a removed queue message or
	// datastore entry is kept; default 15 minutes. It only has to outlast
	// how far an instance's watch of the queues may fall behind while
	// connected (after a reconnect the instance reads everything anew).
	MarkerTTL time.Duration
	// Instance is a stable name of this Stride instance (a pod name). A
	// lease records who holds it; with a name, Open ends the leases the
	// same instance held before a restart, as the badger store does. Empty
	// (the default): leases of a crashed instance end when they expire.
	Instance string
}

// DefaultPrefix is Options.Prefix when none is given.
const DefaultPrefix = "stride"

// The message log's defaults, the badger store's.
const (
	defaultLogRetention        = 7 * 24 * time.Hour
	defaultLogPayloadRetention = 24 * time.Hour
	defaultLogMaxBytes         = 256 << 20
)

// Store is the JetStream backend. It is safe for concurrent use.
type Store struct {
	nc   *nats.Conn
	js   jetstream.JetStream
	seal *store.Sealer
	log  *slog.Logger
	now  func() time.Time
	opts Options

	kv *kvStore
	q  *queueStore
	lg *logStore

	closeOnce sync.Once
	closed    chan struct{}
}

// Open sets up the buckets and the log stream (creating or updating them),
// checks the data key, loads the queue index and returns the store. The
// connection stays the caller's: Close does not close it.
func Open(ctx context.Context, nc *nats.Conn, opts Options) (*Store, error) {
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if err := validPrefix(opts.Prefix); err != nil {
		return nil, err
	}
	if opts.Replicas <= 0 {
		opts.Replicas = 1
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.MarkerTTL <= 0 {
		opts.MarkerTTL = 15 * time.Minute
	}
	if opts.MarkerTTL < time.Second {
		opts.MarkerTTL = time.Second
	}
	if opts.LogRetention <= 0 {
		opts.LogRetention = defaultLogRetention
	}
	switch {
	case opts.LogPayloadRetention == 0:
		opts.LogPayloadRetention = defaultLogPayloadRetention
	case opts.LogPayloadRetention < 0:
		opts.LogPayloadRetention = opts.LogRetention
	}
	switch {
	case opts.LogMaxBytes == 0:
		opts.LogMaxBytes = defaultLogMaxBytes
	case opts.LogMaxBytes < 0:
		opts.LogMaxBytes = -1
	}
	js, err := jetstream.New(nc)
	if err != nil {
		return nil, fmt.Errorf("natsstore: %w", err)
	}
	s := &Store{nc: nc, js: js, log: opts.Logger, now: opts.Now, opts: opts, closed: make(chan struct{})}
	if opts.Key != nil {
		if s.seal, err = store.NewSealer(opts.Key); err != nil {
			return nil, err
		}
	}
	if s.kv, err = newKVStore(ctx, s); err != nil {
		return nil, fmt.Errorf("natsstore: open: %w", err)
	}
	if err := s.checkKey(ctx); err != nil {
		return nil, err
	}
	if s.lg, err = newLogStore(ctx, s); err != nil {
		return nil, fmt.Errorf("natsstore: open: %w", err)
	}
	if s.q, err = newQueueStore(ctx, s); err != nil {
		return nil, fmt.Errorf("natsstore: open: %w", err)
	}
	return s, nil
}

func validPrefix(p string) error {
	if len(p) > 32 {
		return fmt.Errorf("natsstore: prefix %q is longer than 32 characters: %w", p, store.ErrInvalid)
	}
	for i := 0; i < len(p); i++ {
		if !plain(p[i]) {
			return fmt.Errorf("natsstore: prefix %q: use letters, digits, '-' and '_': %w", p, store.ErrInvalid)
		}
	}
	return nil
}

// KV returns the datastores.
func (s *Store) KV() store.KV { return s.kv }

// Queues returns the durable queues.
func (s *Store) Queues() store.Queues { return s.q }

// Log returns the message processing log.
func (s *Store) Log() store.Log { return s.lg }

// Encrypted reports whether values written through this store are sealed.
func (s *Store) Encrypted() bool { return s.seal != nil }

// Close stops watching the queues and wakes every Notify waiter. It does
// not close the connection. It is safe to call more than once.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		close(s.closed)
		s.q.close()
	})
	return nil
}

func (s *Store) isClosed() bool {
	select {
	case <-s.closed:
		return true
	default:
		return false
	}
}

// sealBlob seals plain when the store has a key; sealed reports whether.
func (s *Store) sealBlob(plain, aad []byte) (out []byte, sealed bool) {
	if s.seal == nil {
		return plain, false
	}
	return s.seal.Seal(plain, aad), true
}

// openBlob reverses sealBlob.
func (s *Store) openBlob(b []byte, sealed bool, aad []byte) ([]byte, error) {
	if !sealed {
		return b, nil
	}
	if s.seal == nil {
		return nil, store.ErrKeyRequired
	}
	return s.seal.Open(b, aad)
}

// keyCheck is the KV key of the sealed known value that proves the data
// key: one token, where datastore entries have two.
const (
	keyCheck      = "=keycheck"
	keyCheckPlain = "stride data key check v1"
)

func (s *Store) checkKey(ctx context.Context) error {
	e, err := s.kv.bucket.Get(ctx, keyCheck)
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted):
		if s.seal == nil {
			return nil // plain data stays plain
		}
		_, err := s.kv.bucket.Create(ctx, keyCheck, s.seal.Seal([]byte(keyCheckPlain), []byte(keyCheck)))
		if err == nil {
			return nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return fmt.Errorf("natsstore: open: writing the key check: %w", err)
		}
		// Another instance wrote it first: check against theirs.
		if e, err = s.kv.bucket.Get(ctx, keyCheck); err != nil {
			return fmt.Errorf("natsstore: open: reading the key check: %w", err)
		}
	case err != nil:
		return fmt.Errorf("natsstore: open: reading the key check: %w", err)
	}
	if s.seal == nil {
		return fmt.Errorf("natsstore: open %s: %w", s.opts.Prefix, store.ErrKeyRequired)
	}
	if p, err := s.seal.Open(e.Value(), []byte(keyCheck)); err != nil || string(p) != keyCheckPlain {
		return fmt.Errorf("natsstore: open %s: the data was encrypted with another key: %w", s.opts.Prefix, store.ErrDecrypt)
	}
	return nil
}

// isWrongLastSeq reports whether a conditional write failed because the
// subject's last sequence was not the one expected.
func isWrongLastSeq(err error) bool {
	var apiErr *jetstream.APIError
	if !errors.As(err, &apiErr) {
		return errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch)
	}
	return apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequence ||
		apiErr.ErrorCode == jetstream.JSErrCodeStreamWrongLastSequenceConstant
}

// Headers of the records.
const (
	hdrKVOp   = "KV-Operation" // DEL or PURGE on a KV marker
	hdrMarker = "Nats-Marker-Reason"
	hdrRollup = "Nats-Rollup"
)

// isMarker reports whether a stored message with header h marks a
// removed key rather than holding a value.
func isMarker(h nats.Header) bool {
	return h.Get(hdrKVOp) != "" || h.Get(hdrMarker) != ""
}

// ttlSeconds is a server-side TTL that ends no earlier than exp, in whole
// seconds (the server's resolution), at least one.
func ttlSeconds(now, exp time.Time) time.Duration {
	d := exp.Sub(now)
	secs := (d + time.Second - 1) / time.Second
	if secs < 1 {
		secs = 1
	}
	return secs * time.Second
}

// bounded bounds one operation (its requests and retries) by
// requestTimeout even when ctx has a later deadline: a request whose
// answer was lost while the connection failed over would otherwise wait
// for all of a flow's timeout, holding its message's lease and key.
func bounded(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, requestTimeout)
}

// withTimeout bounds a request by requestTimeout when ctx has no deadline.
func withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, requestTimeout)
}

// fullCodes are the JetStream errors of a write refused for lack of room.
var fullCodes = []jetstream.ErrorCode{10002, 10023, 10028, 10047}

// noRoom marks err as store.ErrFull when JetStream refused the write for
// lack of room (storage, memory, account limits, a stream's byte limit),
// so that callers answer "retry later" instead of failing for good.
func noRoom(err error) error {
	if err == nil || errors.Is(err, store.ErrFull) {
		return err
	}
	var ae *jetstream.APIError
	if errors.As(err, &ae) && slices.Contains(fullCodes, ae.ErrorCode) {
		return fmt.Errorf("%w: %w", store.ErrFull, err)
	}
	if msg := err.Error(); strings.Contains(msg, "insufficient resources") || strings.Contains(msg, "maximum bytes exceeded") ||
		strings.Contains(msg, "insufficient storage") {
		return fmt.Errorf("%w: %w", store.ErrFull, err)
	}
	return err
}
