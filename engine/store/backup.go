package store

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	badger "github.com/dgraph-io/badger/v4"
)

// Backups
//
// A backup is the whole database — datastores, queues with their messages'
// state and dead letters, the message log, the data key's check — as of one
// moment: badger's backup stream read in a single transaction, so at one
// read timestamp. Nothing is decrypted or re-encrypted: sealed values stay
// sealed, and a restored store needs the STRIDE_DATA_KEY the backup was
// taken with. The file is:
//
//	stride-backup 1\n                         the first line
//	{"created": ..., "encrypted": ...}\n      the header, one line of JSON
//	badger's backup stream                    length-prefixed protobuf KV lists (DB.Backup, DB.Load)
//	trailer, 48 bytes                         "SBKEND01", the length of all that precedes it
//	                                          (uint64, big endian), its SHA-256
//
// The trailer lets a restore refuse a file cut short (a full disk, a
// connection to the admin API that broke) or altered, instead of loading
// part of a store.

const (
	backupMagic   = "stride-backup 1\n"
	backupFormat  = "badger-v4"
	trailerMagic  = "SBKEND01"
	trailerLen    = len(trailerMagic) + 8 + sha256.Size
	maxHeaderLine = 64 << 10

	// restoreMarker is a file Restore keeps in the directory while it
	// loads: a directory that has it is a restore that did not finish,
	// which Open refuses.
	restoreMarker = "STRIDE-RESTORE-INCOMPLETE"
)

// BackupInfo describes a backup: its header, and its size once read.
type BackupInfo struct {
	// Created is when the backup was taken.
	Created time.Time `json:"created"`
	// Encrypted: the data was sealed with a STRIDE_DATA_KEY, which a store
	// restored from it needs.
	Encrypted bool `json:"encrypted"`
	// Format is the format of the data: "badger-v4".
	Format string `json:"format"`
	// Bytes is the size of the backup (set by Backup, BackupDir,
	// VerifyBackup and Restore; not part of the header).
	Bytes int64 `json:"-"`
}

// Backup writes a backup of the open database to w while it serves: a
// consistent snapshot (one read timestamp) of everything committed when it
// started. Writes go on meanwhile. Backup ends early, with ctx's error or
// ErrClosed, when ctx is done or the database is closing.
func (db *DB) Backup(ctx context.Context, w io.Writer) (BackupInfo, error) {
	db.closeMu.RLock()
	defer db.closeMu.RUnlock()
	if db.closed {
		return BackupInfo{}, ErrClosed
	}
	return backupBadger(ctx, db.bdb, w, db.now(), db.stop)
}

// BackupDir writes a backup of the data directory dir, which no process
// may have open, to w. It needs no data key: the values are copied as
// stored. A directory that holds no database is ErrInvalid, one that
// another process has open ErrLocked (take the backup through that
// process: DB.Backup, GET /admin/backup).
func BackupDir(ctx context.Context, dir string, w io.Writer, opts Options) (BackupInfo, error) {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if _, err := os.Stat(dir); err != nil {
		return BackupInfo{}, fmt.Errorf("store: backup: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dir, badger.ManifestFilename)); err != nil {
		return BackupInfo{}, fmt.Errorf("store: backup %s: it holds no Stride data: %w", dir, ErrInvalid)
	}
	opts.InMemory = false
	bdb, err := openBadger(dir, opts)
	if err != nil {
		return BackupInfo{}, err
	}
	info, err := backupBadger(ctx, bdb, w, opts.Now(), nil)
	if cerr := bdb.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("store: backup %s: %w", dir, cerr)
	}
	return info, err
}

func backupBadger(ctx context.Context, bdb *badger.DB, w io.Writer, now time.Time, stop <-chan struct{}) (BackupInfo, error) {
	info := BackupInfo{Created: now.UTC(), Format: backupFormat}
	err := bdb.View(func(txn *badger.Txn) error {
		_, err := txn.Get(keyCheckKey)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		info.Encrypted = err == nil
		return err
	})
	if err != nil {
		return info, fmt.Errorf("store: backup: %w", err)
	}
	hdr, err := json.Marshal(info)
	if err != nil {
		return info, fmt.Errorf("store: backup: %w", err)
	}
	bw := &backupWriter{ctx: ctx, stop: stop, w: w, h: sha256.New()}
	if _, err := bw.Write(append(append([]byte(backupMagic), hdr...), '\n')); err != nil {
		return info, fmt.Errorf("store: backup: %w", err)
	}
	// One producer: one read-only transaction, so one read timestamp for
	// the whole stream (each of badger's producers opens its own).
	stream := bdb.NewStream()
	stream.NumGo = 1
	stream.LogPrefix = "stride backup"
	if _, err := stream.Backup(bw, 0); err != nil {
		if errors.Is(err, badger.ErrDBClosed) {
			err = ErrClosed
		}
		return info, fmt.Errorf("store: backup: %w", err)
	}
	trailer := make([]byte, 0, trailerLen)
	trailer = append(trailer, trailerMagic...)
	trailer = binary.BigEndian.AppendUint64(trailer, uint64(bw.n))
	trailer = bw.h.Sum(trailer)
	if _, err := w.Write(trailer); err != nil {
		return info, fmt.Errorf("store: backup: %w", err)
	}
	info.Bytes = bw.n + int64(trailerLen)
	return info, nil
}

// backupWriter hashes and counts what it writes, and stops the backup
// when its context is done or the database closes.
type backupWriter struct {
	ctx  context.Context
	stop <-chan struct{}
	w    io.Writer
	h    hash.Hash
	n    int64
}

func (b *backupWriter) Write(p []byte) (int, error) {
	if err := b.ctx.Err(); err != nil {
		return 0, err
	}
	select {
	case <-b.stop:
		return 0, ErrClosed
	default:
	}
	n, err := b.w.Write(p)
	b.h.Write(p[:n])
	b.n += int64(n)
	return n, err
}

// VerifyBackup reads a backup to its end and checks that it is complete
// and unaltered (ErrBadBackup otherwise).
func VerifyBackup(r io.Reader) (BackupInfo, error) {
	return readBackup(r, func(body io.Reader) error {
		_, err := io.Copy(io.Discard, body)
		return err
	})
}

// Restore loads a backup into dir, which must not exist or be empty
// (ErrNotEmpty otherwise: nothing is ever overwritten). It is all or
// nothing: a backup that is not complete (ErrBadBackup) or does not load
// leaves dir as it was, and a restore cut short (the process killed)
// leaves a directory Open refuses. The values are loaded as stored, still
// sealed; with opts.Key, Restore then opens the result with it, and a key
// the backup was not taken with undoes the restore (ErrDecrypt).
func Restore(dir string, r io.Reader, opts Options) (info BackupInfo, err error) {
	if opts.InMemory || dir == "" {
		return info, fmt.Errorf("store: restore: no data directory given: %w", ErrInvalid)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Key != nil {
		if _, err := newSealer(opts.Key); err != nil {
			return info, err
		}
	}
	created := false
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return info, fmt.Errorf("store: restore: %w", err)
		}
		created = true
	case err != nil:
		return info, fmt.Errorf("store: restore: %w", err)
	case !fi.IsDir():
		return info, fmt.Errorf("store: restore: %s is not a directory: %w", dir, ErrInvalid)
	default:
		entries, err := os.ReadDir(dir)
		if err != nil {
			return info, fmt.Errorf("store: restore: %w", err)
		}
		if len(entries) > 0 {
			return info, fmt.Errorf("store: restore into %s: %w (it holds %d files, e.g. %s); restore only into a new or empty directory", dir, ErrNotEmpty, len(entries), entries[0].Name())
		}
	}
	defer func() {
		if err != nil {
			undoRestore(dir, created)
		}
	}()
	marker := filepath.Join(dir, restoreMarker)
	if err := writeSynced(marker, []byte("A restore of a Stride backup into this directory started and did not finish.\nRemove the directory and restore again.\n")); err != nil {
		return info, fmt.Errorf("store: restore: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return info, fmt.Errorf("store: restore: %w", err)
	}
	bdb, err := badger.Open(badgerOptions(dir, opts))
	if err != nil {
		return info, fmt.Errorf("store: restore into %s: %w", dir, err)
	}
	info, err = readBackup(r, func(body io.Reader) error { return bdb.Load(body, 16) })
	if cerr := bdb.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return info, fmt.Errorf("store: restore into %s: %w", dir, err)
	}
	if err := os.Remove(marker); err != nil {
		return info, fmt.Errorf("store: restore: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return info, fmt.Errorf("store: restore: %w", err)
	}
	if opts.Key != nil {
		db, err := Open(dir, Options{Key: opts.Key, Logger: opts.Logger, GCInterval: -1, Now: opts.Now})
		if err != nil {
			return info, fmt.Errorf("store: restore into %s: the restored data does not open with this STRIDE_DATA_KEY: %w", dir, err)
		}
		if err := db.Close(); err != nil {
			return info, fmt.Errorf("store: restore: %w", err)
		}
	}
	return info, nil
}

// undoRestore removes what a failed restore wrote: the directory it
// created, or the files it wrote into the empty one it was given.
func undoRestore(dir string, created bool) {
	if created {
		_ = os.RemoveAll(dir)
		return
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		_ = os.RemoveAll(filepath.Join(dir, e.Name()))
	}
}

// readBackup checks a backup's first line and header, gives load the
// badger stream, and checks the trailer once load has read it all.
func readBackup(r io.Reader, load func(body io.Reader) error) (BackupInfo, error) {
	var info BackupInfo
	br := bufio.NewReaderSize(r, 64<<10)
	first, err := readLine(br, len(backupMagic))
	if err != nil || string(first) != backupMagic {
		return info, fmt.Errorf("%w: it does not start with %q", ErrBadBackup, backupMagic[:len(backupMagic)-1])
	}
	hdr, err := readLine(br, maxHeaderLine)
	if err != nil {
		return info, fmt.Errorf("%w: its header is cut short or too long", ErrBadBackup)
	}
	if err := json.Unmarshal(hdr, &info); err != nil {
		return info, fmt.Errorf("%w: its header is not JSON: %v", ErrBadBackup, err)
	}
	if info.Format != backupFormat {
		return info, fmt.Errorf("%w: its data is in format %q; this Stride reads %q", ErrBadBackup, info.Format, backupFormat)
	}
	body := &holdback{r: br, h: sha256.New()}
	body.h.Write(first)
	body.h.Write(hdr)
	body.n = int64(len(first) + len(hdr))
	loadErr := load(body)
	if loadErr == nil {
		_, loadErr = io.Copy(io.Discard, body) // anything load left
	}
	if body.err != nil {
		return info, fmt.Errorf("reading the backup: %w", body.err)
	}
	if !body.eof {
		_, _ = io.Copy(io.Discard, body) // read to the end to find the trailer
	}
	if terr := body.checkTrailer(); terr != nil {
		return info, terr // a damaged file explains a failed load best
	}
	info.Bytes = body.n + int64(trailerLen)
	if loadErr != nil {
		return info, loadErr
	}
	return info, nil
}

// readLine reads up to and including '\n', at most max bytes.
func readLine(br *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	for len(line) < max {
		b, err := br.ReadByte()
		if err != nil {
			return nil, err
		}
		line = append(line, b)
		if b == '\n' {
			return line, nil
		}
	}
	return nil, fmt.Errorf("line longer than %d bytes", max)
}

// holdback passes on what r gives but the last trailerLen bytes, which
// it keeps as the trailer, hashing and counting what it passes on.
type holdback struct {
	r   io.Reader
	buf []byte
	eof bool
	err error // a read error of r (not EOF)
	h   hash.Hash
	n   int64
}

func (b *holdback) Read(p []byte) (int, error) {
	for len(b.buf) <= trailerLen && !b.eof {
		if cap(b.buf)-len(b.buf) < 16<<10 {
			nb := make([]byte, len(b.buf), len(b.buf)+64<<10)
			copy(nb, b.buf)
			b.buf = nb
		}
		n, err := b.r.Read(b.buf[len(b.buf):cap(b.buf)])
		b.buf = b.buf[:len(b.buf)+n]
		if errors.Is(err, io.EOF) {
			b.eof = true
		} else if err != nil {
			b.err = err
			return 0, err
		}
	}
	avail := len(b.buf) - trailerLen
	if avail <= 0 {
		return 0, io.EOF
	}
	n := copy(p, b.buf[:avail])
	b.h.Write(p[:n])
	b.n += int64(n)
	b.buf = b.buf[n:]
	return n, nil
}

func (b *holdback) checkTrailer() error {
	t := b.buf
	if len(t) != trailerLen || string(t[:len(trailerMagic)]) != trailerMagic {
		return fmt.Errorf("%w: it is cut short (no end marker after %d bytes)", ErrBadBackup, b.n+int64(len(t)))
	}
	t = t[len(trailerMagic):]
	if n := binary.BigEndian.Uint64(t); n != uint64(b.n) {
		return fmt.Errorf("%w: its end marker says %d bytes, it has %d", ErrBadBackup, n, b.n)
	}
	if !bytes.Equal(t[8:], b.h.Sum(nil)) {
		return fmt.Errorf("%w: its checksum does not match (the file was altered or damaged)", ErrBadBackup)
	}
	return nil
}

// writeSynced writes a small file and fsyncs it.
func writeSynced(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if serr := f.Sync(); err == nil {
		err = serr
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// syncDir fsyncs a directory, so that the files created, renamed or
// removed in it stay so after a power loss.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
