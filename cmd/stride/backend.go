package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
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
	message(id string) ([]admin.MessageJSON, error)
	replay(id string) (queue string, err error)
	stores() (map[string]int, error)
	list(storeName, prefix string, limit int) ([]string, error)
	get(storeName, id string) ([]byte, error)
	remove(storeName, id string) error
	close()
}

// openBackend opens dataDir, or falls back to the admin API when a
// running Stride holds the directory.
func openBackend(dataDir, adminAddr string, stderr io.Writer) (backend, error) {
	if _, err := os.Stat(dataDir); err != nil {
		return nil, fmt.Errorf("--data %s: %w", dataDir, err)
	}
	var key []byte
	if v := os.Getenv("STRIDE_DATA_KEY"); v != "" {
		k, err := store.ParseKey(v)
		if err != nil {
			return nil, fmt.Errorf("STRIDE_DATA_KEY: %w", err)
		}
		key = k
	}
	db, err := store.Open(dataDir, store.Options{Key: key, GCInterval: -1, Logger: slog.New(slog.DiscardHandler)})
	if err == nil {
		return &dirBackend{db: db}, nil
	}
	if !strings.Contains(strings.ToLower(err.Error()), "lock") {
		return nil, fmt.Errorf("cannot open --data %s: %w", dataDir, err)
	}
	fmt.Fprintf(stderr, "stride: %s is in use by a running stride; asking its admin API at %s\n", dataDir, adminAddr)
	return &adminBackend{base: "http://" + adminAddr, token: os.Getenv("STRIDE_ADMIN_TOKEN"), client: &http.Client{Timeout: 10 * time.Second}}, nil
}

type dirBackend struct{ db *store.DB }

func (b *dirBackend) close() { b.db.Close() }

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

func (b *dirBackend) get(storeName, id string) ([]byte, error) {
	e, err := b.db.KV().Get(context.Background(), storeName, id)
	return e.Value, err
}

func (b *dirBackend) remove(storeName, id string) error {
	return b.db.KV().Delete(context.Background(), storeName, id)
}

type adminBackend struct {
	base, token string
	client      *http.Client
}

func (b *adminBackend) close() {}

func (b *adminBackend) do(method, path string, out any) ([]byte, error) {
	req, err := http.NewRequest(method, b.base+path, nil)
	if err != nil {
		return nil, err
	}
	if b.token != "" {
		req.Header.Set("Authorization", "Bearer "+b.token)
	}
	resp, err := b.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("admin API: %w", err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if resp.StatusCode == http.StatusUnprocessableEntity && strings.HasSuffix(path, "/reload") {
		var e struct {
			Errors []struct {
				File      string
				Line, Col int
				Message   string
			}
		}
		_ = json.Unmarshal(data, &e)
		var b strings.Builder
		for _, le := range e.Errors {
			fmt.Fprintf(&b, "\n%s:%d:%d: %s", le.File, le.Line, le.Col, le.Message)
		}
		return nil, fmt.Errorf("the flows are invalid; the running flows keep serving:%s", b.String())
	}
	if resp.StatusCode >= 300 {
		var e struct{ Error string }
		_ = json.Unmarshal(data, &e)
		if resp.StatusCode == http.StatusNotFound {
			return nil, fmt.Errorf("%s: %w", e.Error, store.ErrNotFound)
		}
		return nil, fmt.Errorf("admin API answered %d: %s", resp.StatusCode, e.Error)
	}
	if out != nil {
		return data, json.Unmarshal(data, out)
	}
	return data, nil
}

func (b *adminBackend) messages(flow, status string, limit int) ([]admin.MessageJSON, error) {
	var out struct{ Messages []admin.MessageJSON }
	q := url.Values{"flow": {flow}, "status": {status}, "limit": {fmt.Sprint(limit)}}
	_, err := b.do("GET", "/admin/messages?"+q.Encode(), &out)
	return out.Messages, err
}

func (b *adminBackend) message(id string) ([]admin.MessageJSON, error) {
	var out struct{ Attempts []admin.MessageJSON }
	_, err := b.do("GET", "/admin/messages/"+url.PathEscape(id), &out)
	return out.Attempts, err
}

func (b *adminBackend) replay(id string) (string, error) {
	var out struct{ Queue string }
	_, err := b.do("POST", "/admin/messages/"+url.PathEscape(id)+"/replay", &out)
	return out.Queue, err
}

func (b *adminBackend) stores() (map[string]int, error) {
	var out struct {
		Stores []struct {
			Name  string
			Count int
		}
	}
	if _, err := b.do("GET", "/admin/stores", &out); err != nil {
		return nil, err
	}
	m := map[string]int{}
	for _, s := range out.Stores {
		m[s.Name] = s.Count
	}
	return m, nil
}

func (b *adminBackend) list(storeName, prefix string, limit int) ([]string, error) {
	var out struct{ Entries []struct{ ID string } }
	q := url.Values{"prefix": {prefix}, "limit": {fmt.Sprint(limit)}}
	_, err := b.do("GET", "/admin/stores/"+url.PathEscape(storeName)+"?"+q.Encode(), &out)
	ids := make([]string, len(out.Entries))
	for i, e := range out.Entries {
		ids[i] = e.ID
	}
	return ids, err
}

func (b *adminBackend) get(storeName, id string) ([]byte, error) {
	return b.do("GET", "/admin/stores/"+url.PathEscape(storeName)+"/"+url.PathEscape(id), nil)
}

func (b *adminBackend) remove(storeName, id string) error {
	_, err := b.do("DELETE", "/admin/stores/"+url.PathEscape(storeName)+"/"+url.PathEscape(id), nil)
	return err
}
