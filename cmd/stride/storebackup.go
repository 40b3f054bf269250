package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/stride-engine/stride/engine/admin"
	"github.com/stride-engine/stride/engine/store"
)

// storeBackup writes a backup of dataDir to file: read from the directory
// when no stride runs on it, else streamed by the running stride's admin
// API. The file appears whole or not at all (a temporary file, fsynced,
// checked, renamed).
func storeBackup(dataDir, adminAddr, file string, stdout, stderr io.Writer) int {
	if _, err := os.Stat(dataDir); err != nil {
		fmt.Fprintf(stderr, "stride store backup: --data %s: %v\n", dataDir, errors.Unwrap(err))
		return 1
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var info store.BackupInfo
	throughAdmin := false
	err := writeFileAtomic(file, func(f *os.File) error {
		_, err := store.BackupDir(ctx, dataDir, f, store.Options{Logger: slog.New(slog.DiscardHandler)})
		if errors.Is(err, store.ErrLocked) {
			fmt.Fprintf(stderr, "stride: %s is in use by a running stride; asking its admin API at %s\n", dataDir, adminAddr)
			throughAdmin = true
			if err := f.Truncate(0); err != nil {
				return err
			}
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				return err
			}
			_, err = backupClient(adminAddr).Backup(ctx, f)
			err = adminError(err)
		} else if err != nil && !errors.Is(err, store.ErrInvalid) {
			err = openFailed(dataDir, err)
		}
		if err != nil {
			return err
		}
		// Read back what reached the file: it must be whole.
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		info, err = store.VerifyBackup(bufio.NewReaderSize(f, 1<<20))
		return err
	})
	if err != nil {
		fmt.Fprintf(stderr, "stride store backup: %v; %s was not written\n", err, file)
		return 1
	}
	via := ""
	if throughAdmin {
		via = ", through the admin API"
	}
	fmt.Fprintf(stdout, "backup of %s written to %s (%d bytes, taken %s%s)\n", dataDir, file, info.Bytes, info.Created.Format(time.RFC3339), via)
	if info.Encrypted {
		fmt.Fprintln(stdout, "values are sealed: a store restored from it needs the same STRIDE_DATA_KEY")
	} else {
		fmt.Fprintln(stdout, "values are not encrypted (no STRIDE_DATA_KEY): keep the file as safe as the data")
	}
	return 0
}

// backupClient is the admin API client for a backup: no overall timeout
// (a backup takes as long as it takes), a bounded wait for the answer.
func backupClient(addr string) *admin.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.ResponseHeaderTimeout = time.Minute
	c := newAdminClient(addr, 0)
	c.HTTP = &http.Client{Transport: tr}
	return c
}

// writeFileAtomic writes path through fn into a temporary file beside it
// (mode 0600), fsyncs it, and renames it to path; on any error the
// temporary file is removed and path is left as it was.
func writeFileAtomic(path string, fn func(f *os.File) error) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err = fn(f); err != nil {
		return err
	}
	if err = f.Sync(); err != nil {
		return err
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	if d, derr := os.Open(dir); derr == nil { // the rename survives a power loss
		err = d.Sync()
		d.Close()
	}
	return err
}

// storeRestore loads the backup file into dataDir, which must be new or
// empty.
func storeRestore(dataDir, file string, stdout, stderr io.Writer) int {
	key, err := dataKey()
	if err != nil {
		fmt.Fprintln(stderr, "stride store restore:", err)
		return 1
	}
	f, err := os.Open(file)
	if err != nil {
		fmt.Fprintln(stderr, "stride store restore:", err)
		return 1
	}
	defer f.Close()
	info, err := store.Restore(dataDir, bufio.NewReaderSize(f, 1<<20), store.Options{Key: key, Logger: slog.New(slog.DiscardHandler)})
	switch {
	case errors.Is(err, store.ErrNotEmpty):
		fmt.Fprintf(stderr, "stride store restore: --data %s is not empty; a restore never overwrites data: give a new or empty directory\n", dataDir)
		return 1
	case errors.Is(err, store.ErrBadBackup):
		fmt.Fprintf(stderr, "stride store restore: %s is %v; nothing was restored\n", file, unwrapStore(err))
		return 1
	case errors.Is(err, store.ErrDecrypt):
		fmt.Fprintf(stderr, "stride store restore: STRIDE_DATA_KEY does not open %s: the backup was taken with another key; nothing was restored\n", file)
		return 1
	case err != nil:
		fmt.Fprintf(stderr, "stride store restore: %v; nothing was restored\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "restored %s (taken %s) into %s; serve it with `stride run --data %s`\n", file, info.Created.Format(time.RFC3339), dataDir, dataDir)
	if info.Encrypted && key == nil {
		fmt.Fprintln(stdout, "its values are sealed: stride needs the STRIDE_DATA_KEY the backup was taken with")
	}
	return 0
}

// unwrapStore drops the "store: restore into DIR: " context of a refused
// backup, for a sentence that names the file instead.
func unwrapStore(err error) error {
	for {
		inner := errors.Unwrap(err)
		if inner == nil || inner == store.ErrBadBackup || !errors.Is(inner, store.ErrBadBackup) {
			return err
		}
		err = inner
	}
}

// storeReveal prints an entry with its sensitive fields: a local act on
// the data directory, never through the admin API.
func storeReveal(dataDir, storeName, id string, stdout, stderr io.Writer) int {
	if _, err := os.Stat(dataDir); err != nil {
		fmt.Fprintf(stderr, "stride store get --reveal: --data %s: %v\n", dataDir, errors.Unwrap(err))
		return 1
	}
	key, err := dataKey()
	if err != nil {
		fmt.Fprintln(stderr, "stride store get --reveal:", err)
		return 1
	}
	db, err := store.Open(dataDir, store.Options{Key: key, GCInterval: -1, Logger: slog.New(slog.DiscardHandler)})
	if errors.Is(err, store.ErrLocked) {
		fmt.Fprintf(stderr, "stride store get --reveal: %s is in use by a running stride. --reveal reads the data directory itself and never "+
			"goes through the admin API: stop stride first, or restore a backup into another directory (`stride store backup`, `stride store restore`) and reveal there\n", dataDir)
		return 1
	}
	if err != nil {
		fmt.Fprintln(stderr, "stride store get --reveal:", openFailed(dataDir, err))
		return 1
	}
	defer db.Close()
	e, err := db.KV().Get(context.Background(), storeName, id)
	if err != nil {
		fmt.Fprintln(stderr, "stride store:", err)
		return 1
	}
	return printValue(stdout, e.Value)
}
