package store

import (
	"bytes"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestKVSemantics runs CPI data store semantics as a table of steps against
// one database: each step is an operation and what it must return.
func TestKVSemantics(t *testing.T) {
	clock := newClock()
	db, _ := openTest(t, Options{Now: clock.Now})
	kv := db.KV()

	type step struct {
		name    string
		op      string // put, get, delete, advance
		store   string
		id      string
		value   string
		opt     PutOptions
		advance time.Duration
		wantErr error  // errors.Is target; nil = success
		want    string // value expected by get
		wantExp bool   // get: entry has an expiry
	}
	steps := []step{
		{name: "put new", op: "put", store: "users", id: "u1", value: "v1"},
		{name: "get it", op: "get", store: "users", id: "u1", want: "v1"},
		{name: "duplicate without overwrite", op: "put", store: "users", id: "u1", value: "v2", wantErr: ErrExists},
		{name: "value unchanged after refused put", op: "get", store: "users", id: "u1", want: "v1"},
		{name: "overwrite", op: "put", store: "users", id: "u1", value: "v3", opt: PutOptions{Overwrite: true}},
		{name: "overwritten value", op: "get", store: "users", id: "u1", want: "v3"},
		{name: "same id other store is independent", op: "put", store: "tokens", id: "u1", value: "t1"},
		{name: "other store value", op: "get", store: "tokens", id: "u1", want: "t1"},
		{name: "missing id", op: "get", store: "users", id: "nope", wantErr: ErrNotFound},
		{name: "missing store", op: "get", store: "empty", id: "u1", wantErr: ErrNotFound},
		{name: "put with ttl", op: "put", store: "users", id: "tmp", value: "x", opt: PutOptions{TTL: time.Hour}},
		{name: "ttl entry visible", op: "get", store: "users", id: "tmp", want: "x", wantExp: true},
		{name: "ttl duplicate refused while live", op: "put", store: "users", id: "tmp", value: "y", wantErr: ErrExists},
		{name: "time passes", op: "advance", advance: time.Hour + time.Second},
		{name: "expired entry invisible", op: "get", store: "users", id: "tmp", wantErr: ErrNotFound},
		{name: "expired entry cannot be deleted", op: "delete", store: "users", id: "tmp", wantErr: ErrNotFound},
		{name: "put over expired entry without overwrite", op: "put", store: "users", id: "tmp", value: "z"},
		{name: "new value after expiry", op: "get", store: "users", id: "tmp", want: "z"},
		{name: "never-expiring entry survives", op: "get", store: "users", id: "u1", want: "v3"},
		{name: "delete", op: "delete", store: "users", id: "u1"},
		{name: "deleted is gone", op: "get", store: "users", id: "u1", wantErr: ErrNotFound},
		{name: "delete missing", op: "delete", store: "users", id: "u1", wantErr: ErrNotFound},
		{name: "put after delete", op: "put", store: "users", id: "u1", value: "again"},
		{name: "empty value", op: "put", store: "users", id: "empty", value: ""},
		{name: "empty value reads back", op: "get", store: "users", id: "empty", want: ""},
		{name: "binary id", op: "put", store: "users", id: "a/b c\xff\x01", value: "bin"},
		{name: "binary id reads back", op: "get", store: "users", id: "a/b c\xff\x01", want: "bin"},
		{name: "NUL in id rejected", op: "put", store: "users", id: "a\x00b", value: "x", wantErr: ErrInvalid},
		{name: "NUL in id rejected on get", op: "get", store: "users", id: "a\x00b", wantErr: ErrInvalid},
		{name: "empty id rejected", op: "put", store: "users", id: "", value: "x", wantErr: ErrInvalid},
		{name: "long id rejected", op: "put", store: "users", id: strings.Repeat("i", maxIDLen+1), value: "x", wantErr: ErrInvalid},
		{name: "bad store name rejected", op: "put", store: "my store", id: "x", value: "x", wantErr: ErrInvalid},
		{name: "negative ttl rejected", op: "put", store: "users", id: "neg", value: "x", opt: PutOptions{TTL: -time.Second}, wantErr: ErrInvalid},
	}
	for _, s := range steps {
		var err error
		var got Entry
		switch s.op {
		case "put":
			err = kv.Put(bg, s.store, s.id, []byte(s.value), s.opt)
		case "get":
			got, err = kv.Get(bg, s.store, s.id)
		case "delete":
			err = kv.Delete(bg, s.store, s.id)
		case "advance":
			clock.Advance(s.advance)
			continue
		}
		if s.wantErr != nil {
			if !errors.Is(err, s.wantErr) {
				t.Fatalf("%s: err = %v, want %v", s.name, err, s.wantErr)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if s.op == "get" {
			if string(got.Value) != s.want || got.ID != s.id {
				t.Fatalf("%s: got %q=%q, want %q=%q", s.name, got.ID, got.Value, s.id, s.want)
			}
			if got.Created.IsZero() {
				t.Fatalf("%s: no Created time", s.name)
			}
			if s.wantExp != !got.Expires.IsZero() {
				t.Fatalf("%s: Expires = %v, want expiry %v", s.name, got.Expires, s.wantExp)
			}
		}
	}
}

// TestKVErrorsNameTheEntry: a duplicate names store and id.
func TestKVErrorsNameTheEntry(t *testing.T) {
	db, _ := openTest(t, Options{})
	kv := db.KV()
	if err := kv.Put(bg, "tokens", "user-42", []byte("a"), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	err := kv.Put(bg, "tokens", "user-42", []byte("b"), PutOptions{})
	if !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), "tokens") || !strings.Contains(err.Error(), "user-42") {
		t.Fatalf("err = %v; want ErrExists naming tokens and user-42", err)
	}
	_, err = kv.Get(bg, "tokens", "user-43")
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "user-43") {
		t.Fatalf("err = %v; want ErrNotFound naming user-43", err)
	}
}

func TestKVExpiryRoundsUp(t *testing.T) {
	clock := newClock()
	clock.Advance(300 * time.Millisecond) // not on a second boundary
	db, _ := openTest(t, Options{Now: clock.Now})
	kv := db.KV()
	if err := kv.Put(bg, "s", "a", []byte("x"), PutOptions{TTL: 1500 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	e, err := kv.Get(bg, "s", "a")
	if err != nil {
		t.Fatal(err)
	}
	want := clock.Now().Add(1500 * time.Millisecond)
	if e.Expires.Before(want) || e.Expires.Sub(want) >= time.Second {
		t.Fatalf("Expires = %v, want in [%v, +1s)", e.Expires, want)
	}
	clock.Advance(1499 * time.Millisecond)
	if _, err := kv.Get(bg, "s", "a"); err != nil {
		t.Fatalf("expired early: %v", err)
	}
	clock.Advance(time.Second)
	if _, err := kv.Get(bg, "s", "a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after expiry: err = %v, want ErrNotFound", err)
	}
}

func TestKVSelect(t *testing.T) {
	clock := newClock()
	db, _ := openTest(t, Options{Now: clock.Now})
	kv := db.KV()
	// 1,000 ids in two families, written in scrambled order; a neighbour
	// store whose name extends this one's must never leak in.
	for i := 0; i < 1000; i++ {
		j := (i * 7919) % 1000
		fam := "a"
		if j%2 == 1 {
			fam = "b"
		}
		id := fmt.Sprintf("%s%04d", fam, j)
		if err := kv.Put(bg, "users", id, []byte("v"+id), PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for _, id := range []string{"a0000", "zzz"} {
		if err := kv.Put(bg, "users2", id, []byte("other"), PutOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// An expiring entry that will be expired at select time.
	if err := kv.Put(bg, "users", "a0001x", []byte("gone"), PutOptions{TTL: time.Minute}); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * time.Minute)

	ids := func(es []Entry) []string {
		out := make([]string, len(es))
		for i, e := range es {
			out[i] = e.ID
			if string(e.Value) != "v"+e.ID {
				t.Fatalf("entry %s has value %q", e.ID, e.Value)
			}
		}
		return out
	}
	tests := []struct {
		name      string
		opt       SelectOptions
		wantLen   int
		wantFirst string
		wantLast  string
	}{
		{"all", SelectOptions{}, 1000, "a0000", "b0999"},
		{"limit", SelectOptions{Limit: 10}, 10, "a0000", "a0018"},
		{"prefix", SelectOptions{Prefix: "b"}, 500, "b0001", "b0999"},
		{"prefix and limit", SelectOptions{Prefix: "b09", Limit: 3}, 3, "b0901", "b0905"},
		{"after", SelectOptions{After: "a0998"}, 500, "b0001", "b0999"},
		{"after is exclusive", SelectOptions{After: "a0000", Limit: 2}, 2, "a0002", "a0004"},
		{"after between ids", SelectOptions{After: "a0001", Limit: 1}, 1, "a0002", "a0002"},
		{"after a prefix of ids", SelectOptions{After: "b", Limit: 1}, 1, "b0001", "b0001"},
		{"after before prefix", SelectOptions{Prefix: "b", After: "a0500", Limit: 1}, 1, "b0001", "b0001"},
		{"after past prefix", SelectOptions{Prefix: "a", After: "b"}, 0, "", ""},
		{"prefix matches nothing", SelectOptions{Prefix: "c"}, 0, "", ""},
	}
	for _, tc := range tests {
		got, err := kv.Select(bg, "users", tc.opt)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		g := ids(got)
		if len(g) != tc.wantLen {
			t.Fatalf("%s: %d entries, want %d", tc.name, len(g), tc.wantLen)
		}
		for i := 1; i < len(g); i++ {
			if g[i-1] >= g[i] {
				t.Fatalf("%s: not ascending at %d: %q then %q", tc.name, i, g[i-1], g[i])
			}
		}
		if tc.wantLen > 0 && (g[0] != tc.wantFirst || g[len(g)-1] != tc.wantLast) {
			t.Fatalf("%s: first/last = %s/%s, want %s/%s", tc.name, g[0], g[len(g)-1], tc.wantFirst, tc.wantLast)
		}
	}
	// Paging with After visits every id once.
	var all []string
	after := ""
	for {
		page, err := kv.Select(bg, "users", SelectOptions{After: after, Limit: 128})
		if err != nil {
			t.Fatal(err)
		}
		if len(page) == 0 {
			break
		}
		all = append(all, ids(page)...)
		after = page[len(page)-1].ID
	}
	if len(all) != 1000 {
		t.Fatalf("paging visited %d ids, want 1000", len(all))
	}

	n, err := kv.Count(bg, "users")
	if err != nil || n != 1000 {
		t.Fatalf("Count = %d, %v; want 1000 (expired entry excluded)", n, err)
	}
	stores, err := kv.Stores(bg)
	if err != nil || strings.Join(stores, ",") != "users,users2" {
		t.Fatalf("Stores = %v, %v; want [users users2]", stores, err)
	}
	if _, err := kv.Select(bg, "bad name", SelectOptions{}); !errors.Is(err, ErrInvalid) {
		t.Fatalf("Select with bad store name: err = %v", err)
	}
}

func TestKVStoresSkipsExpiredAndDeleted(t *testing.T) {
	clock := newClock()
	db, _ := openTest(t, Options{Now: clock.Now})
	kv := db.KV()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(kv.Put(bg, "a", "1", nil, PutOptions{TTL: time.Minute}))
	must(kv.Put(bg, "a", "2", nil, PutOptions{}))
	must(kv.Put(bg, "b", "1", nil, PutOptions{TTL: time.Minute}))
	must(kv.Put(bg, "c", "1", nil, PutOptions{}))
	must(kv.Delete(bg, "c", "1"))
	clock.Advance(time.Hour)
	stores, err := kv.Stores(bg)
	if err != nil || strings.Join(stores, ",") != "a" {
		t.Fatalf("Stores = %v, %v; want [a]", stores, err)
	}
}

func TestValidStoreName(t *testing.T) {
	tests := []struct {
		name string
		ok   bool
		msg  string
	}{
		{"users", true, ""},
		{"Fitbit-Tokens_v2.1", true, ""},
		{"a", true, ""},
		{strings.Repeat("x", 40), true, ""},
		{strings.Repeat("x", 41), false, "at most 40"},
		{"", false, "empty"},
		{"my store", false, "space"},
		{"a/b", false, `'/'`},
		{"ä", false, `'ä'`},
		{"a\x00", false, `'\x00'`},
	}
	for _, tc := range tests {
		err := ValidStoreName(tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("ValidStoreName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
			continue
		}
		if err != nil && (!strings.Contains(err.Error(), tc.msg) || !errors.Is(err, ErrInvalid)) {
			t.Errorf("ValidStoreName(%q) = %q, want a message with %q", tc.name, err, tc.msg)
		}
	}
}

// TestKVConcurrent: 16 goroutines put and get their own and shared ids;
// with overwrite=false on one shared id exactly one put wins.
func TestKVConcurrent(t *testing.T) {
	db, _ := openTest(t, Options{Key: testKey(1)})
	kv := db.KV()
	const workers, per = 16, 50
	var wg sync.WaitGroup
	var mu sync.Mutex
	winners := 0
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			err := kv.Put(bg, "shared", "once", []byte(fmt.Sprint(w)), PutOptions{})
			switch {
			case err == nil:
				mu.Lock()
				winners++
				mu.Unlock()
			case !errors.Is(err, ErrExists):
				errs <- err
				return
			}
			for i := 0; i < per; i++ {
				id := fmt.Sprintf("w%02d-%03d", w, i)
				val := []byte(strings.Repeat(id, 10))
				if err := kv.Put(bg, "users", id, val, PutOptions{}); err != nil {
					errs <- err
					return
				}
				e, err := kv.Get(bg, "users", id)
				if err != nil || !bytes.Equal(e.Value, val) {
					errs <- fmt.Errorf("get %s = %q, %v", id, e.Value, err)
					return
				}
				if err := kv.Put(bg, "shared", "hot", val, PutOptions{Overwrite: true}); err != nil {
					errs <- err
					return
				}
				if _, err := kv.Get(bg, "shared", "hot"); err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if winners != 1 {
		t.Fatalf("%d puts of one id without overwrite succeeded, want exactly 1", winners)
	}
	if n, err := kv.Count(bg, "users"); err != nil || n != workers*per {
		t.Fatalf("Count = %d, %v; want %d", n, err, workers*per)
	}
}

func TestKVPersistsAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	db := openAt(t, dir, Options{})
	if err := db.KV().Put(bg, "s", "id", []byte("kept"), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := db.KV().Get(bg, "s", "id"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Get after Close: err = %v, want ErrClosed", err)
	}
	db2 := openAt(t, dir, Options{})
	e, err := db2.KV().Get(bg, "s", "id")
	if err != nil || string(e.Value) != "kept" {
		t.Fatalf("after reopen: %q, %v", e.Value, err)
	}
}
