// Package store is Stride's durable state: the datastores (KV), the durable
// queues (Queues) and the message processing log (Log), all kept in one
// embedded badger database under --data.
//
// The three interfaces are deliberately narrow so that a clustered backend
// (NATS JetStream or PostgreSQL) can implement them later; the badger types
// in this package are the embedded default.
//
// Key layout (one keyspace, first byte names the area):
//
//	k/<store>\x00<id>                      datastore entry
//	q/<queue>\x00m/<message id>            queued message (FIFO = key order)
//	q/<queue>\x00d/<message id>            dead letter
//	l/t/<inverted start><id>\x00<attempt>  log entry (newest first = key order)
//	l/i/<id>\x00<attempt>                  log index by message id → primary key
//	                                       (the last write of the attempt wins)
//	l/s/<flow>\x00<inverted unix second>   log index by flow: the seconds
//	                                       in which the flow's entries started
//	l/f/<flow>\x00<inverted start><id>...  log index by flow of logs written
//	                                       before 2026-12-05 (read, no longer written)
//	l/p/<id>\x00<attempt>                  log payload (sealed when encrypted)
//	x/keycheck                             proof of the data key (encrypted dirs)
//
// A log write reads nothing: every log key follows from the entry's
// start, id and attempt (see Log.RecordBatch).
//
// # Encryption at rest
//
// With Options.Key (STRIDE_DATA_KEY) everything that carries message
// content — datastore values, queued messages (body, headers, meta, last
// error), log errors, traces and payloads — is sealed with AES-256-GCM: a
// fresh random 12-byte nonce per write, and the value's place as additional
// data (store+NUL+id for datastore values, message id and role for queue
// blobs, id, attempt and role for the log), so a value copied under another
// id does not open. Ids, store, queue and flow names, ordering keys,
// statuses and timestamps stay readable: they are what the database is
// indexed by. So does the rest of a log entry that carries nothing of its
// message (a success at log level info: the flow's version, the trigger,
// the end, ids Stride made; see carriesContent). A sealed marker proves the key at Open: another key fails
// there (ErrDecrypt), and an encrypted directory without a key is refused
// (ErrKeyRequired) instead of receiving plain values.
//
// # Sensitive values
//
// A datastore write may declare its value, or fields of it, sensitive
// (PutOptions.Sensitive). The declaration is stored with the entry, in the
// clear like ids but bound to the sealed value, and whatever shows a value
// to a person shows Entry.Masked: the declared fields as "***".
//
// # Backups
//
// DB.Backup (while the database serves) and BackupDir (a directory no
// process has open) write a consistent snapshot of everything, sealed
// values still sealed, with a checksum; Restore loads one into a new or
// empty directory, all or nothing. See backup.go for the file format.
//
// # Durability
//
// Badger's write-ahead log is an mmap'd file: a committed write is in the
// OS page cache and survives the process being killed. Surviving power loss
// needs an fsync. By default (SurvivePowerLoss) Enqueue, Replay and datastore
// Put/Delete fsync after committing, and concurrent writers share one fsync
// (group commit). Measured on the 2-core development VM (fsync ≈ 0.5 ms,
// medians of three runs): about 2,000 enqueues/s from one goroutine — the
// disk's limit, like a bare badger write followed by a sync — and 16,000/s
// from 32 goroutines, where badger's own SyncWrites option reaches 4,600/s.
// SurviveProcessCrash skips the fsync: about 90,000 enqueues/s from one
// goroutine. See bench_test.go.
package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	badger "github.com/dgraph-io/badger/v4"
	"github.com/stride-engine/stride/engine/store/record"
)

// Errors callers test with errors.Is. Returned errors wrap them with the
// store, queue or id they concern.
var (
	// ErrNotFound: no such (live) entry, message or log record.
	ErrNotFound = errors.New("not found")
	// ErrExists: a datastore put with Overwrite=false met an existing entry.
	ErrExists = errors.New("entry exists")
	// ErrDecrypt: a sealed value does not open with the configured key — a
	// different STRIDE_DATA_KEY, or a value moved to another id.
	ErrDecrypt = errors.New("cannot decrypt (wrong STRIDE_DATA_KEY?)")
	// ErrKeyRequired: the data is encrypted and no key was given.
	ErrKeyRequired = errors.New("data is encrypted: STRIDE_DATA_KEY is not set")
	// ErrInvalid: a bad store name, queue name, id or argument.
	ErrInvalid = errors.New("invalid argument")
	// ErrCorrupt: a stored record could not be decoded.
	ErrCorrupt = record.ErrCorrupt
	// ErrClosed: the database was closed.
	ErrClosed = errors.New("store closed")
	// ErrFull: the store has no room for the write (a NATS server out of
	// storage, a limit reached). The write was not made; trying again
	// later can succeed: an http trigger answers 503 with Retry-After, a
	// queue message is retried.
	ErrFull = errors.New("the store is full")
	// ErrLocked: another process has the data directory open.
	ErrLocked = errors.New("data directory is in use by another process")
	// ErrCorruptDir: Open (or a backup) refused the data directory because
	// its files are damaged or a restore into it did not finish. The way
	// back is a backup restored into a new directory (Restore).
	ErrCorruptDir = errors.New("the data directory is corrupt")
	// ErrNotEmpty: Restore was given a directory that holds files.
	ErrNotEmpty = errors.New("directory is not empty")
	// ErrBadBackup: a file is not a complete Stride backup (another kind of
	// file, or one cut short or altered).
	ErrBadBackup = errors.New("not a complete Stride backup")
)

// Options configure Open. The zero value is usable: no encryption, logs
// discarded, wall clock, data on disk, writes that survive power loss.
type Options struct {
	// Key is the 32-byte AES-256 key (STRIDE_DATA_KEY, see ParseKey). Nil
	// stores values in plain text; the caller should warn about it.
	Key []byte
	// Logger receives badger's own warnings and errors (informational
	// chatter is dropped) and the store's background errors. Nil discards.
	Logger *slog.Logger
	// InMemory keeps everything in memory (dir is ignored). For tests of
	// other packages; nothing survives Close.
	InMemory bool
	// Durability says what a returned write survives; the default is
	// SurvivePowerLoss (group-committed fsync). See Durability.
	Durability Durability
	// LogRetention is how long message log entries are kept; default 7 days.
	LogRetention time.Duration
	// LogPayloadRetention is how long the payloads of traced attempts
	// (flows with log: trace) are kept, never longer than LogRetention;
	// default 24 hours. Negative keeps them as long as their entries.
	LogPayloadRetention time.Duration
	// LogMaxBytes caps the message log's size (keys and values as stored,
	// see log_retention.go): past it, the oldest entries are deleted until
	// the log is under 90% of it. Default 256 MiB; negative for no cap.
	LogMaxBytes int64
	// GCInterval is how often the value log is garbage collected; default
	// 5 minutes. Negative disables the background GC.
	GCInterval time.Duration
	// Memory sizes badger's memtables, caches and value-log files (see
	// MemoryFor); the zero value keeps the defaults.
	Memory Memory
	// Now is the clock for expiry, delays, leases and log times; default
	// time.Now. Tests inject a fake clock. Badger removes expired entries by
	// the wall clock, so Now must not run behind it in production.
	Now func() time.Time
}

// DB is the one badger database under --data. It is safe for concurrent use.
type DB struct {
	bdb       *badger.DB
	dir       string
	seal      *sealer    // nil when no key
	gsync     *groupSync // nil unless writes must survive power loss
	log       *slog.Logger
	now       func() time.Time
	retention time.Duration

	kv *kvStore
	q  *queueStore
	lg *logStore

	parts partsCache // the last BytesByPart count
	gc    gcState    // value-log GC: its kick and what it reclaimed

	closeOnce sync.Once
	closeErr  error
	closeMu   sync.RWMutex // held for writing while closing badger
	closed    bool
	stop      chan struct{}
	bg        sync.WaitGroup
}

// Open opens (creating if needed) the database in dir. Only one process may
// have a directory open at a time (badger holds a lock file); a second Open
// fails. With a key, Open verifies it against the one the directory was
// first encrypted with and fails with ErrDecrypt on a mismatch; without a key,
// Open refuses an encrypted directory (ErrKeyRequired) rather than mix plain
// values into it.
func Open(dir string, opts Options) (*DB, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.LogRetention <= 0 {
		opts.LogRetention = 7 * 24 * time.Hour
	}
	switch {
	case opts.LogPayloadRetention == 0:
		opts.LogPayloadRetention = DefaultLogPayloadRetention
	case opts.LogPayloadRetention < 0:
		opts.LogPayloadRetention = opts.LogRetention
	}
	switch {
	case opts.LogMaxBytes == 0:
		opts.LogMaxBytes = DefaultLogMaxBytes
	case opts.LogMaxBytes < 0:
		opts.LogMaxBytes = 0
	}
	if opts.GCInterval == 0 {
		opts.GCInterval = 5 * time.Minute
	}
	if !opts.InMemory && dir == "" {
		return nil, fmt.Errorf("store: open: no data directory given: %w", ErrInvalid)
	}
	if opts.Durability != SurvivePowerLoss && opts.Durability != SurviveProcessCrash {
		return nil, fmt.Errorf("store: open %s: unknown durability %d: %w", dir, opts.Durability, ErrInvalid)
	}
	var seal *sealer
	if opts.Key != nil {
		var err error
		if seal, err = newSealer(opts.Key); err != nil {
			return nil, err
		}
	}

	bdb, err := openBadger(dir, opts)
	if err != nil {
		return nil, err
	}
	db := &DB{
		bdb:       bdb,
		dir:       dir,
		seal:      seal,
		log:       opts.Logger,
		now:       opts.Now,
		retention: opts.LogRetention,
		stop:      make(chan struct{}),
		gc:        gcState{kick: make(chan struct{}, 1)},
	}
	if opts.Durability == SurvivePowerLoss && !opts.InMemory {
		db.gsync = newGroupSync(db.syncFiles)
	}
	if err := db.checkKey(dir); err != nil {
		bdb.Close()
		return nil, err
	}
	db.kv = &kvStore{db: db}
	db.lg = newLogStore(db, opts)
	db.q = newQueueStore(db)
	if err := db.q.load(); err != nil {
		bdb.Close()
		return nil, fmt.Errorf("store: open %s: %w: loading queues: %w", dir, ErrCorruptDir, err)
	}
	if opts.GCInterval > 0 && !opts.InMemory {
		db.bg.Add(1)
		go db.gcLoop(opts.GCInterval)
	}
	if db.lg.maxBytes > 0 {
		db.bg.Add(1)
		go db.lg.sweepLoop()
	}
	return db, nil
}

// badgerOptions are the badger options of every open of a data directory.
func badgerOptions(dir string, opts Options) badger.Options {
	bo := badger.DefaultOptions(dir).
		WithLogger(badgerLogger{opts.Logger}).
		WithLoggingLevel(badger.WARNING).
		WithMetricsEnabled(false).       // badger's metrics are process-global expvars
		WithSyncWrites(false).           // durability by group commit, see sync.go
		WithNumCompactors(2).            // a 2-core machine is the target
		WithBlockCacheSize(64 << 20).    // default 256 MB is a lot for an integration engine
		WithValueLogFileSize(256 << 20). // smaller files: GC reclaims space sooner
		WithNumVersionsToKeep(1)
	bo = opts.Memory.apply(bo)
	if opts.InMemory {
		bo = bo.WithInMemory(true).WithDir("").WithValueDir("").WithMemTableSize(16 << 20)
	}
	return bo
}

// openBadger opens the badger database in dir and words its refusals:
// ErrLocked when another process has it open, ErrCorruptDir when its files
// are damaged or a restore into it did not finish.
func openBadger(dir string, opts Options) (*badger.DB, error) {
	if !opts.InMemory {
		if _, err := os.Stat(filepath.Join(dir, restoreMarker)); err == nil {
			return nil, fmt.Errorf("store: open %s: %w: a restore into it did not finish (remove the directory and restore again)", dir, ErrCorruptDir)
		}
	}
	bdb, err := badger.Open(badgerOptions(dir, opts))
	switch {
	case err == nil:
		return bdb, nil
	case badgerLocked(err):
		return nil, fmt.Errorf("store: open %s: %w (%v)", dir, ErrLocked, err)
	case environmental(err):
		return nil, fmt.Errorf("store: open %s: %w", dir, err)
	}
	return nil, fmt.Errorf("store: open %s: %w: %w", dir, ErrCorruptDir, err)
}

// environmental reports whether badger.Open failed for a reason outside
// the data (permissions, a full disk, ...), not because the files are
// damaged. Like badgerLocked it reads the text: badger formats the errors
// it wraps (y.Wrapf) instead of wrapping them.
func environmental(err error) bool {
	if errors.Is(err, fs.ErrPermission) {
		return true
	}
	msg := strings.ToLower(err.Error())
	for _, s := range []string{"permission denied", "no space left", "read-only file system", "too many open files",
		"not a directory", "cannot allocate memory", "operation not permitted", "disk quota"} {
		if strings.Contains(msg, s) {
			return true
		}
	}
	return false
}

// badgerLocked reports whether badger.Open failed because another process
// holds the directory's lock. It reads the error's text because badger
// leaves nothing else to test: it wraps the flock (or,
// on Windows, the lock file) error with y.Wrapf, which formats it with %+v
// instead of wrapping it, so neither errors.Is(err, syscall.EWOULDBLOCK) nor
// a badger sentinel matches. The sentence tested ends badger's lock error
// on every platform (dir_unix.go, dir_windows.go, v4.9), and badger's own
// tests assert it; TestOpenTwiceFails fails if an upgrade changes it.
func badgerLocked(err error) bool {
	return strings.Contains(err.Error(), "Another process is using this Badger database")
}

// keyCheckKey holds a sealed known value: it proves, at Open, that the key
// given is the key the directory was encrypted with.
var keyCheckKey = []byte("x/keycheck")

const keyCheckPlain = "stride data key check v1"

func (db *DB) checkKey(dir string) error {
	wrote := false
	err := db.bdb.Update(func(txn *badger.Txn) error {
		item, err := txn.Get(keyCheckKey)
		switch {
		case errors.Is(err, badger.ErrKeyNotFound):
			if db.seal == nil {
				return nil // plain directory stays plain
			}
			wrote = true
			return txn.Set(keyCheckKey, db.seal.seal(nil, []byte(keyCheckPlain), keyCheckKey))
		case err != nil:
			return fmt.Errorf("store: open %s: %w", dir, err)
		}
		if db.seal == nil {
			return fmt.Errorf("store: open %s: %w", dir, ErrKeyRequired)
		}
		v, err := item.ValueCopy(nil)
		if err != nil {
			return fmt.Errorf("store: open %s: %w", dir, err)
		}
		if p, err := db.seal.open(v, keyCheckKey); err != nil || string(p) != keyCheckPlain {
			return fmt.Errorf("store: open %s: the data was encrypted with another key: %w", dir, ErrDecrypt)
		}
		return nil
	})
	if err == nil && wrote {
		// From now on this directory needs the key: make that stick
		// before any sealed value is written.
		err = db.bdb.Sync()
	}
	return err
}

// Close stops the background GC and closes the database, flushing the
// memtable. It is safe to call more than once.
func (db *DB) Close() error {
	db.closeOnce.Do(func() {
		close(db.stop)
		db.bg.Wait()
		db.q.close()
		db.closeMu.Lock()
		defer db.closeMu.Unlock()
		db.closed = true
		if err := db.bdb.Close(); err != nil {
			db.closeErr = fmt.Errorf("store: close: %w", err)
		}
	})
	return db.closeErr
}

// KV returns the datastores.
func (db *DB) KV() KV { return db.kv }

// Queues returns the durable queues.
func (db *DB) Queues() Queues { return db.q }

// Log returns the message processing log.
func (db *DB) Log() Log { return db.lg }

// Encrypted reports whether values written through this DB are sealed.
func (db *DB) Encrypted() bool { return db.seal != nil }

// Size returns the on-disk size of the LSM tree and of the value log in
// bytes, as last computed by badger (it refreshes them every minute).
func (db *DB) Size() (lsm, vlog int64) { return db.bdb.Size() }

// update runs fn in a read-write transaction, retrying on badger's optimistic
// conflict error (two writers touched the same key) a bounded number of times.
func (db *DB) update(ctx context.Context, fn func(txn *badger.Txn) error) error {
	var err error
	for attempt := 0; attempt < 20; attempt++ {
		if err = ctx.Err(); err != nil {
			return err
		}
		err = db.bdb.Update(fn)
		if !errors.Is(err, badger.ErrConflict) {
			break
		}
	}
	if errors.Is(err, badger.ErrDBClosed) {
		return ErrClosed
	}
	return err
}

func (db *DB) view(ctx context.Context, fn func(txn *badger.Txn) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := db.bdb.View(fn)
	if errors.Is(err, badger.ErrDBClosed) {
		return ErrClosed
	}
	return err
}

// iterOptions iterates over prefix without prefetching values: values
// below badger's value threshold (1 MB: all but unusually large datastore values) live in the
// LSM tree next to their keys, and prefetching them on goroutines costs
// more than reading them in place (Select of 100 entries: 310 µs → 66 µs).
func iterOptions(prefix []byte) badger.IteratorOptions {
	return badger.IteratorOptions{Prefix: prefix, PrefetchValues: false}
}

// expiresAt converts an expiry time to badger's ExpiresAt (unix seconds,
// 0 = never), rounding up so an entry never expires early.
func expiresAt(t time.Time) uint64 {
	if t.IsZero() {
		return 0
	}
	s := t.Unix()
	if t.Nanosecond() > 0 {
		s++
	}
	if s <= 0 {
		return 1
	}
	return uint64(s)
}

// live reports whether an item with badger expiry exp is visible at now.
// Badger hides it by the wall clock; this applies the injected clock too, so
// expiry is testable without sleeping.
func live(exp uint64, now time.Time) bool {
	return exp == 0 || now.Unix() < int64(exp)
}

func expiryTime(exp uint64) time.Time {
	if exp == 0 {
		return time.Time{}
	}
	return time.Unix(int64(exp), 0)
}

// ValidStoreName reports whether name can be a datastore name: 1–40
// characters, letters, digits, '-', '_' or '.'.
func ValidStoreName(name string) error { return validName("store", name) }

// ValidQueueName reports whether name can be a queue name; the rule is the
// store name's.
func ValidQueueName(name string) error { return validName("queue", name) }

const maxNameLen = 40

func validName(what, name string) error {
	if name == "" {
		return fmt.Errorf("%s name is empty: %w", what, ErrInvalid)
	}
	if len(name) > maxNameLen {
		return fmt.Errorf("%s name %q is %d characters long, at most %d are allowed: %w", what, name, len(name), maxNameLen, ErrInvalid)
	}
	for i, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
		case r == ' ':
			return fmt.Errorf("%s name %q contains a space (at %d): %w", what, name, i, ErrInvalid)
		default:
			return fmt.Errorf("%s name %q contains %q (at %d); use letters, digits, '-', '_' or '.': %w", what, name, r, i, ErrInvalid)
		}
	}
	return nil
}

// maxIDLen bounds ids so keys stay well below badger's 64 KB key limit.
const maxIDLen = 1024

func validID(what, id string) error {
	if id == "" {
		return fmt.Errorf("%s id is empty: %w", what, ErrInvalid)
	}
	if len(id) > maxIDLen {
		return fmt.Errorf("%s id %.40q... is %d bytes long, at most %d are allowed: %w", what, id, len(id), maxIDLen, ErrInvalid)
	}
	if i := strings.IndexByte(id, 0); i >= 0 {
		return fmt.Errorf("%s id %q contains a NUL byte (at %d): %w", what, id, i, ErrInvalid)
	}
	return nil
}

// badgerLogger routes badger's logging to slog. Badger is chatty at info
// level (compactions, flushes); only warnings and errors pass.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, a ...any) {
	b.l.Error("badger: " + strings.TrimSpace(fmt.Sprintf(f, a...)))
}
func (b badgerLogger) Warningf(f string, a ...any) {
	b.l.Warn("badger: " + strings.TrimSpace(fmt.Sprintf(f, a...)))
}
func (badgerLogger) Infof(string, ...any)  {}
func (badgerLogger) Debugf(string, ...any) {}
