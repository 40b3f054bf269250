package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/stride-engine/stride/engine/admin"
	"github.com/stride-engine/stride/engine/store"
)

// backend is where the operator commands read durable state: the data
// directory when no Stride runs on it, else the running instance's admin
// API (badger allows one process per directory).
type backend interface {
	messages(flow, status string, limit int) ([]admin.MessageJSON, error)
	// search finds log entries the way the monitor does (a correlation
	// id, text): a bounded number of entries read per call.
	search(q admin.MessageSearchQuery) ([]admin.MessageJSON, error)
	message(id string) ([]admin.MessageJSON, error)
	replay(id string) (queue string, err error)
	stores() (map[string]int, error)
	list(storeName, prefix string, limit int) ([]string, error)
	get(storeName, id string) ([]byte, error) // sensitive fields masked
	remove(storeName, id string) error
	close()
}

// openBackend opens dataDir, or falls back to the admin API of a running
// Stride: when it holds the directory (badger's lock), or when the
// directory is not on this machine (the command runs beside a server
// whose data lives elsewhere, e.g. in a container). When neither works,
// the error is the directory's.
func openBackend(dataDir, adminAddr string, stderr io.Writer) (backend, error) {
	if _, err := os.Stat(dataDir); err != nil {
		if errors.Is(err, fs.ErrNotExist) && adminUp(adminAddr) {
			fmt.Fprintf(stderr, "stride: no data directory %s here; asking the admin API of the stride running at %s\n", dataDir, adminAddr)
			return &adminBackend{c: newAdminClient(adminAddr, 10*time.Second)}, nil
		}
		return nil, fmt.Errorf("--data %s: %w", dataDir, err)
	}
	key, err := dataKey()
	if err != nil {
		return nil, err
	}
	db, err := store.Open(dataDir, store.Options{Key: key, GCInterval: -1, Logger: slog.New(slog.DiscardHandler)})
	if err == nil {
		return &dirBackend{db: db}, nil
	}
	if !errors.Is(err, store.ErrLocked) {
		return nil, openFailed(dataDir, err)
	}
	fmt.Fprintf(stderr, "stride: %s is in use by a running stride; asking its admin API at %s\n", dataDir, adminAddr)
	return &adminBackend{c: newAdminClient(adminAddr, 10*time.Second)}, nil
}

// adminUp reports whether a Stride answers on the admin API at addr
// (GET /admin/health, which needs no token): healthy, or still
// starting. A refused connection or another server's answer is no.
func adminUp(addr string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := newAdminClient(addr, 2*time.Second).Health(ctx)
	var ae *admin.APIError
	return err == nil || errors.As(err, &ae) && ae.Code == admin.CodeUnavailable
}

type dirBackend struct{ db *store.DB }

func (b *dirBackend) close() { b.db.Close() }

func (b *dirBackend) search(q admin.MessageSearchQuery) ([]admin.MessageJSON, error) {
	out, err := admin.SearchMessages(context.Background(), b.db.Log(), q)
	return out.Messages, err
}

func (b *dirBackend) messages(flow, status string, limit int) ([]admin.MessageJSON, error) {
	entries, err := b.db.Log().List(context.Background(), store.Filter{Flow: flow, Status: status, Limit: limit})
	return toJSON(entries), err
}

func (b *dirBackend) message(id string) ([]admin.MessageJSON, error) {
	entries, err := b.db.Log().Get(context.Background(), id)
	return toJSON(entries), err
}

func toJSON(entries []store.LogEntry) []admin.MessageJSON {
	out := make([]admin.MessageJSON, len(entries))
	for i, e := range entries {
		out[i] = admin.ToMessageJSON(e)
	}
	return out
}

func (b *dirBackend) replay(id string) (string, error) {
	ctx := context.Background()
	q, _, err := b.db.Queues().FindDeadLetter(ctx, id)
	if err != nil {
		return "", err
	}
	return q, b.db.Queues().Replay(ctx, q, id)
}

func (b *dirBackend) stores() (map[string]int, error) {
	ctx := context.Background()
	names, err := b.db.KV().Stores(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	for _, n := range names {
		out[n], _ = b.db.KV().Count(ctx, n)
	}
	return out, nil
}

func (b *dirBackend) list(storeName, prefix string, limit int) ([]string, error) {
	entries, err := b.db.KV().Select(context.Background(), storeName, store.SelectOptions{Prefix: prefix, Limit: limit})
	ids := make([]string, len(entries))
	for i, e := range entries {
		ids[i] = e.ID
	}
	return ids, err
}

// get shows the entry as the admin API does: sensitive fields masked.
func (b *dirBackend) get(storeName, id string) ([]byte, error) {
	e, err := b.db.KV().Get(context.Background(), storeName, id)
	return e.Masked(), err
}

func (b *dirBackend) remove(storeName, id string) error {
	return b.db.KV().Delete(context.Background(), storeName, id)
}

// adminBackend reads the state of a running stride through its admin API.
type adminBackend struct{ c *admin.Client }

// newAdminClient is the admin API client of the stride at addr, with
// STRIDE_ADMIN_TOKEN.
func newAdminClient(addr string, timeout time.Duration) *admin.Client {
	return &admin.Client{Base: "http://" + addr, Token: os.Getenv("STRIDE_ADMIN_TOKEN"), HTTP: &http.Client{Timeout: timeout}}
}

// adminError words an error of the admin API for the operator, deciding on
// its code: a failed reload lists the files' errors, a not_found wraps
// store.ErrNotFound like the data directory's answers, anything else
// names the status and the server's message.
func adminError(err error) error {
	var ae *admin.APIError
	if !errors.As(err, &ae) {
		return err
	}
	switch ae.Code {
	case admin.CodeInvalid:
		var b strings.Builder
		for _, le := range ae.LoadErrors {
			fmt.Fprintf(&b, "\n%s:%d:%d: %s", le.File, le.Line, le.Col, le.Message)
		}
		return fmt.Errorf("the flows are invalid; the running flows keep serving:%s", b.String())
	case admin.CodeNotFound:
		return fmt.Errorf("%s: %w", ae.Message, store.ErrNotFound)
	}
	return fmt.Errorf("admin API answered %d: %s", ae.Status, ae.Message)
}

func (b *adminBackend) close() {}

func (b *adminBackend) messages(flow, status string, limit int) ([]admin.MessageJSON, error) {
	out, err := b.c.Messages(context.Background(), admin.MessagesQuery{Flow: flow, Status: status, Limit: limit})
	return out.Messages, adminError(err)
}

func (b *adminBackend) search(q admin.MessageSearchQuery) ([]admin.MessageJSON, error) {
	out, err := b.c.SearchMessages(context.Background(), q)
	return out.Messages, adminError(err)
}

func (b *adminBackend) message(id string) ([]admin.MessageJSON, error) {
	out, err := b.c.Message(context.Background(), id)
	return out.Attempts, adminError(err)
}

func (b *adminBackend) replay(id string) (string, error) {
	out, err := b.c.Replay(context.Background(), id)
	return out.Queue, adminError(err)
}

func (b *adminBackend) stores() (map[string]int, error) {
	out, err := b.c.Stores(context.Background())
	if err != nil {
		return nil, adminError(err)
	}
	m := map[string]int{}
	for _, s := range out.Stores {
		m[s.Name] = s.Count
	}
	return m, nil
}

func (b *adminBackend) list(storeName, prefix string, limit int) ([]string, error) {
	out, err := b.c.StoreEntries(context.Background(), storeName, admin.StoreEntriesQuery{Prefix: prefix, Limit: limit})
	ids := make([]string, len(out.Entries))
	for i, e := range out.Entries {
		ids[i] = e.ID
	}
	return ids, adminError(err)
}

func (b *adminBackend) get(storeName, id string) ([]byte, error) {
	v, err := b.c.StoreGet(context.Background(), storeName, id)
	return v, adminError(err)
}

func (b *adminBackend) remove(storeName, id string) error {
	return adminError(b.c.StoreDelete(context.Background(), storeName, id))
}
