package storetest

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stride-engine/stride/engine/store"
)

// KVOpener opens an empty datastore for one test; the backend closes it
// when the test ends (t.Cleanup). now is the clock the backend must use for
// Created, expiry and liveness: the tests move it instead of sleeping.
type KVOpener func(t *testing.T, now func() time.Time) store.KV

// TestKV runs the KV contract against a backend.
func TestKV(t *testing.T, open KVOpener) {
	for _, tc := range []struct {
		name string
		run  func(*testing.T, KVOpener)
	}{
		{"PutGet", kvPutGet},
		{"Overwrite", kvOverwrite},
		{"Delete", kvDelete},
		{"Expiry", kvExpiry},
		{"InvalidArguments", kvInvalid},
		{"SelectOrderAndPaging", kvSelect},
		{"IDsOfAnyBytes", kvOddIDs},
		{"StoresAndCount", kvStoresCount},
		{"Sensitivity", kvSensitivity},
		{"ConcurrentCreate", kvConcurrentCreate},
		{"Leases", kvLeases},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.run(t, open) })
	}
}

func kvPutGet(t *testing.T, open KVOpener) {
	clock := NewClock()
	kv := open(t, clock.Now)
	value := []byte(`{"token":"abc","n":1}`)
	must(t, "put", kv.Put(bg, "tokens", "user-1", value, store.PutOptions{}))
	e, err := kv.Get(bg, "tokens", "user-1")
	must(t, "get", err)
	if e.ID != "user-1" || !bytes.Equal(e.Value, value) || !sameTime(e.Created, clock.Now()) || !e.Expires.IsZero() || !e.Sensitive.IsZero() {
		t.Fatalf("get = %s, want id user-1, the value, created now, no expiry", describe(e))
	}
	// The same id in another store is another entry.
	_, err = kv.Get(bg, "other", "user-1")
	wantErr(t, "get from another store", err, store.ErrNotFound, "")
	_, err = kv.Get(bg, "tokens", "user-2")
	wantErr(t, "get of a missing id", err, store.ErrNotFound, "")
	// An empty and a binary value.
	must(t, "put empty", kv.Put(bg, "tokens", "empty", nil, store.PutOptions{}))
	if e, err := kv.Get(bg, "tokens", "empty"); err != nil || len(e.Value) != 0 {
		t.Fatalf("empty value: %s, %v", describe(e), err)
	}
	bin := []byte{0, 1, 2, 0xff, 0xfe, 0}
	must(t, "put binary", kv.Put(bg, "tokens", "bin", bin, store.PutOptions{}))
	if e, err := kv.Get(bg, "tokens", "bin"); err != nil || !bytes.Equal(e.Value, bin) {
		t.Fatalf("binary value: %s, %v", describe(e), err)
	}
	// The value returned is the caller's to change.
	e, _ = kv.Get(bg, "tokens", "user-1")
	e.Value[0] = 'X'
	if e2, _ := kv.Get(bg, "tokens", "user-1"); !bytes.Equal(e2.Value, value) {
		t.Fatalf("changing a returned value changed the stored one: %q", e2.Value)
	}
}

func kvOverwrite(t *testing.T, open KVOpener) {
	clock := NewClock()
	kv := open(t, clock.Now)
	must(t, "put", kv.Put(bg, "s", "a", []byte("1"), store.PutOptions{}))
	created := clock.Now()
	clock.Advance(time.Minute)
	err := kv.Put(bg, "s", "a", []byte("2"), store.PutOptions{})
	wantErr(t, "put without overwrite over an entry", err, store.ErrExists, "")
	if e, _ := kv.Get(bg, "s", "a"); string(e.Value) != "1" || !sameTime(e.Created, created) {
		t.Fatalf("after a refused put: %s, want the first value and time", describe(e))
	}
	must(t, "overwrite", kv.Put(bg, "s", "a", []byte("3"), store.PutOptions{Overwrite: true}))
	if e, _ := kv.Get(bg, "s", "a"); string(e.Value) != "3" || !sameTime(e.Created, clock.Now()) {
		t.Fatalf("after overwrite: %s, want value 3 created now", describe(e))
	}
	// Overwrite of a missing entry creates it.
	must(t, "overwrite missing", kv.Put(bg, "s", "b", []byte("x"), store.PutOptions{Overwrite: true}))
	if _, err := kv.Get(bg, "s", "b"); err != nil {
		t.Fatal(err)
	}
	// An overwrite without TTL removes the expiry of the entry it replaces.
	must(t, "put with ttl", kv.Put(bg, "s", "c", []byte("x"), store.PutOptions{Overwrite: true, TTL: time.Hour}))
	must(t, "overwrite without ttl", kv.Put(bg, "s", "c", []byte("y"), store.PutOptions{Overwrite: true}))
	clock.Advance(2 * time.Hour)
	if e, err := kv.Get(bg, "s", "c"); err != nil || !e.Expires.IsZero() {
		t.Fatalf("an overwrite without TTL kept the old expiry: %s, %v", describe(e), err)
	}
}

func kvDelete(t *testing.T, open KVOpener) {
	kv := open(t, NewClock().Now)
	must(t, "put", kv.Put(bg, "s", "a", []byte("1"), store.PutOptions{}))
	must(t, "delete", kv.Delete(bg, "s", "a"))
	_, err := kv.Get(bg, "s", "a")
	wantErr(t, "get after delete", err, store.ErrNotFound, "")
	wantErr(t, "second delete", kv.Delete(bg, "s", "a"), store.ErrNotFound, "")
	wantErr(t, "delete of a missing id", kv.Delete(bg, "s", "never"), store.ErrNotFound, "")
	// A deleted id can be created again without overwrite.
	must(t, "put after delete", kv.Put(bg, "s", "a", []byte("2"), store.PutOptions{}))
	if e, _ := kv.Get(bg, "s", "a"); string(e.Value) != "2" {
		t.Fatalf("after put again: %s", describe(e))
	}
	if n, err := kv.Count(bg, "s"); err != nil || n != 1 {
		t.Fatalf("count = %d, %v; want 1", n, err)
	}
}

func kvExpiry(t *testing.T, open KVOpener) {
	clock := NewClock() // at a whole second + 300ms
	kv := open(t, clock.Now)
	start := clock.Now()
	must(t, "put with ttl", kv.Put(bg, "s", "a", []byte("1"), store.PutOptions{TTL: time.Second}))
	must(t, "put forever", kv.Put(bg, "s", "b", []byte("2"), store.PutOptions{}))
	must(t, "put long ttl", kv.Put(bg, "s2", "c", []byte("3"), store.PutOptions{TTL: time.Hour}))
	e, err := kv.Get(bg, "s", "a")
	must(t, "get", err)
	// One-second resolution, rounded up: never early.
	want := start.Truncate(time.Second).Add(2 * time.Second)
	if !e.Expires.Equal(want) {
		t.Fatalf("Expires = %v, want %v (put at %v with TTL 1s, rounded up to the second)", e.Expires, want, start)
	}
	clock.Set(want.Add(-time.Millisecond))
	if _, err := kv.Get(bg, "s", "a"); err != nil {
		t.Fatalf("a millisecond before expiry: %v", err)
	}
	clock.Set(want)
	_, err = kv.Get(bg, "s", "a")
	wantErr(t, "get at expiry", err, store.ErrNotFound, "")
	wantErr(t, "delete of an expired entry", kv.Delete(bg, "s", "a"), store.ErrNotFound, "")
	es, err := kv.Select(bg, "s", store.SelectOptions{})
	must(t, "select", err)
	if len(es) != 1 || es[0].ID != "b" {
		t.Fatalf("select after expiry = %s, want only b", describe(es))
	}
	if n, err := kv.Count(bg, "s"); err != nil || n != 1 {
		t.Fatalf("count after expiry = %d, %v; want 1", n, err)
	}
	// An expired entry does not block a put without overwrite.
	must(t, "put over an expired entry", kv.Put(bg, "s", "a", []byte("new"), store.PutOptions{}))
	if e, err := kv.Get(bg, "s", "a"); err != nil || string(e.Value) != "new" || !e.Expires.IsZero() {
		t.Fatalf("after put over an expired entry: %s, %v", describe(e), err)
	}
	// A store whose every entry expired is not listed.
	clock.Advance(2 * time.Hour)
	names, err := kv.Stores(bg)
	must(t, "stores", err)
	if !slices.Equal(names, []string{"s"}) {
		t.Fatalf("stores = %v, want [s] (s2 only held an expired entry)", names)
	}
	// A negative TTL is refused.
	wantErr(t, "negative ttl", kv.Put(bg, "s", "neg", nil, store.PutOptions{TTL: -time.Second}), store.ErrInvalid, "")
}

func kvInvalid(t *testing.T, open KVOpener) {
	kv := open(t, NewClock().Now)
	for _, name := range []string{"", "a b", "a/b", "a:b", "ü", strings.Repeat("x", 41)} {
		wantErr(t, fmt.Sprintf("put in store %q", name), kv.Put(bg, name, "id", nil, store.PutOptions{}), store.ErrInvalid, "")
		_, err := kv.Get(bg, name, "id")
		wantErr(t, fmt.Sprintf("get from store %q", name), err, store.ErrInvalid, "")
		_, err = kv.Select(bg, name, store.SelectOptions{})
		wantErr(t, fmt.Sprintf("select store %q", name), err, store.ErrInvalid, "")
		_, err = kv.Count(bg, name)
		wantErr(t, fmt.Sprintf("count store %q", name), err, store.ErrInvalid, "")
	}
	for _, id := range []string{"", "a\x00b", strings.Repeat("x", 1025)} {
		wantErr(t, fmt.Sprintf("put id of %d bytes", len(id)), kv.Put(bg, "s", id, nil, store.PutOptions{}), store.ErrInvalid, "")
		_, err := kv.Get(bg, "s", id)
		wantErr(t, "get invalid id", err, store.ErrInvalid, "")
		wantErr(t, "delete invalid id", kv.Delete(bg, "s", id), store.ErrInvalid, "")
	}
	_, err := kv.Select(bg, "s", store.SelectOptions{Prefix: "a\x00"})
	wantErr(t, "select with a NUL prefix", err, store.ErrInvalid, "")
	// The longest name and id are fine.
	long, name := strings.Repeat("i", 1024), strings.Repeat("n", 40)
	must(t, "put longest", kv.Put(bg, name, long, []byte("v"), store.PutOptions{}))
	if e, err := kv.Get(bg, name, long); err != nil || e.ID != long {
		t.Fatalf("get longest: %v", err)
	}
}

func ids(es []store.Entry) []string {
	out := make([]string, len(es))
	for i, e := range es {
		out[i] = e.ID
	}
	return out
}

func kvSelect(t *testing.T, open KVOpener) {
	kv := open(t, NewClock().Now)
	all := []string{"b", "a", "ab", "abc", "b1", "c", "a-1", "A"}
	for _, id := range all {
		must(t, "put "+id, kv.Put(bg, "s", id, []byte("v:"+id), store.PutOptions{}))
	}
	must(t, "put in another store", kv.Put(bg, "s2", "aa", nil, store.PutOptions{}))
	sorted := slices.Sorted(slices.Values(all))
	for _, tc := range []struct {
		opt  store.SelectOptions
		want []string
	}{
		{store.SelectOptions{}, sorted},
		{store.SelectOptions{Prefix: "a"}, []string{"a", "a-1", "ab", "abc"}},
		{store.SelectOptions{Prefix: "ab"}, []string{"ab", "abc"}},
		{store.SelectOptions{Prefix: "z"}, nil},
		{store.SelectOptions{After: "ab"}, []string{"abc", "b", "b1", "c"}},
		{store.SelectOptions{Prefix: "a", After: "a-1"}, []string{"ab", "abc"}},
		{store.SelectOptions{Prefix: "b", After: "a"}, []string{"b", "b1"}},
		{store.SelectOptions{Limit: 3}, sorted[:3]},
		{store.SelectOptions{Limit: -1}, sorted},
		{store.SelectOptions{Prefix: "a", Limit: 2}, []string{"a", "a-1"}},
		{store.SelectOptions{After: "c"}, nil},
	} {
		es, err := kv.Select(bg, "s", tc.opt)
		must(t, "select", err)
		if got := ids(es); !slices.Equal(got, tc.want) && !(len(got) == 0 && len(tc.want) == 0) {
			t.Errorf("select %+v = %v, want %v", tc.opt, got, tc.want)
		}
		for _, e := range es {
			if string(e.Value) != "v:"+e.ID || e.Created.IsZero() {
				t.Errorf("select %+v: entry %s", tc.opt, describe(e))
			}
		}
	}
	// Paging with After visits every entry once, in order.
	var paged []string
	after := ""
	for {
		es, err := kv.Select(bg, "s", store.SelectOptions{After: after, Limit: 3})
		must(t, "select page", err)
		if len(es) == 0 {
			break
		}
		paged = append(paged, ids(es)...)
		after = es[len(es)-1].ID
	}
	if !slices.Equal(paged, sorted) {
		t.Fatalf("pages = %v, want %v", paged, sorted)
	}
	if es, err := kv.Select(bg, "empty", store.SelectOptions{}); err != nil || len(es) != 0 {
		t.Fatalf("select of an empty store = %v, %v", es, err)
	}
}

// kvOddIDs: ids are bytes, not names: dots, wildcards, spaces, slashes,
// percent signs and non-ASCII must all round-trip and sort bytewise, and a
// store whose name is the prefix of another's sees only its own.
func kvOddIDs(t *testing.T, open KVOpener) {
	kv := open(t, NewClock().Now)
	odd := []string{"a.b", "a", "a.b.c", "*", ">", "a b", "x/y", "50%", "=3D", "é", "日本", "\x01", "a*", "a>", "_", "-", "..", "\xff\xfe"}
	for _, id := range odd {
		must(t, fmt.Sprintf("put %q", id), kv.Put(bg, "odd.store", id, []byte(id), store.PutOptions{}))
	}
	must(t, "put in store odd", kv.Put(bg, "odd", "a", nil, store.PutOptions{}))
	must(t, "put in store odd.store.x", kv.Put(bg, "odd.store.x", "a", nil, store.PutOptions{}))
	for _, id := range odd {
		e, err := kv.Get(bg, "odd.store", id)
		if err != nil || e.ID != id || string(e.Value) != id {
			t.Fatalf("get %q = %s, %v", id, describe(e), err)
		}
	}
	es, err := kv.Select(bg, "odd.store", store.SelectOptions{})
	must(t, "select", err)
	if want := slices.Sorted(slices.Values(odd)); !slices.Equal(ids(es), want) {
		t.Fatalf("select = %q, want %q", ids(es), want)
	}
	es, err = kv.Select(bg, "odd.store", store.SelectOptions{Prefix: "a."})
	must(t, "select prefix", err)
	if want := []string{"a.b", "a.b.c"}; !slices.Equal(ids(es), want) {
		t.Fatalf("select prefix a. = %q, want %q", ids(es), want)
	}
	for name, want := range map[string]int{"odd": 1, "odd.store": len(odd), "odd.store.x": 1} {
		if n, err := kv.Count(bg, name); err != nil || n != want {
			t.Fatalf("count %s = %d, %v; want %d", name, n, err, want)
		}
	}
}

func kvStoresCount(t *testing.T, open KVOpener) {
	kv := open(t, NewClock().Now)
	if names, err := kv.Stores(bg); err != nil || len(names) != 0 {
		t.Fatalf("stores of an empty KV = %v, %v", names, err)
	}
	for i, name := range []string{"zeta", "alpha", "a.b", "a", "mid_1", "x-y"} {
		for j := 0; j <= i; j++ {
			must(t, "put", kv.Put(bg, name, fmt.Sprint(j), nil, store.PutOptions{}))
		}
	}
	names, err := kv.Stores(bg)
	must(t, "stores", err)
	if want := []string{"a", "a.b", "alpha", "mid_1", "x-y", "zeta"}; !slices.Equal(names, want) {
		t.Fatalf("stores = %v, want %v", names, want)
	}
	if n, err := kv.Count(bg, "x-y"); err != nil || n != 6 {
		t.Fatalf("count x-y = %d, %v", n, err)
	}
	if n, err := kv.Count(bg, "nothing"); err != nil || n != 0 {
		t.Fatalf("count of an unknown store = %d, %v", n, err)
	}
	// A store whose entries were all deleted is not listed.
	must(t, "delete", kv.Delete(bg, "zeta", "0"))
	names, err = kv.Stores(bg)
	must(t, "stores", err)
	if slices.Contains(names, "zeta") {
		t.Fatalf("stores = %v still lists zeta, whose entries are all deleted", names)
	}
}

func kvSensitivity(t *testing.T, open KVOpener) {
	kv := open(t, NewClock().Now)
	v := []byte(`{"access_token":"t0k3n","user":"u"}`)
	must(t, "put", kv.Put(bg, "s", "a", v, store.PutOptions{Sensitive: store.Sensitivity{Paths: []string{"access_token", "access_token", "x.y"}}}))
	e, err := kv.Get(bg, "s", "a")
	must(t, "get", err)
	if !slices.Equal(e.Sensitive.Paths, []string{"access_token", "x.y"}) || e.Sensitive.All || !bytes.Equal(e.Value, v) {
		t.Fatalf("get = %s, want the paths without duplicates and the value whole", describe(e))
	}
	if got := string(e.Masked()); got != `{"access_token":"***","user":"u"}` {
		t.Fatalf("masked = %s", got)
	}
	must(t, "put all", kv.Put(bg, "s", "b", v, store.PutOptions{Sensitive: store.Sensitivity{All: true, Paths: []string{"ignored"}}}))
	if e, _ := kv.Get(bg, "s", "b"); !e.Sensitive.All || len(e.Sensitive.Paths) != 0 {
		t.Fatalf("All: %s", describe(e.Sensitive))
	}
	es, err := kv.Select(bg, "s", store.SelectOptions{})
	must(t, "select", err)
	if len(es) != 2 || es[0].Sensitive.String() != "access_token, x.y" || !es[1].Sensitive.All {
		t.Fatalf("select keeps the declarations: %s", describe(es))
	}
	// A write replaces the declaration with its own.
	must(t, "overwrite", kv.Put(bg, "s", "a", v, store.PutOptions{Overwrite: true}))
	if e, _ := kv.Get(bg, "s", "a"); !e.Sensitive.IsZero() {
		t.Fatalf("overwrite without a declaration kept %s", e.Sensitive)
	}
	wantErr(t, "invalid path", kv.Put(bg, "s", "c", v, store.PutOptions{Sensitive: store.Sensitivity{Paths: []string{"a..b"}}}), store.ErrInvalid, "")
}

// kvConcurrentCreate: of many puts without overwrite of one id, exactly
// one succeeds.
func kvConcurrentCreate(t *testing.T, open KVOpener) {
	kv := open(t, NewClock().Now)
	var wg sync.WaitGroup
	var ok, exists atomic.Int32
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := kv.Put(bg, "s", "once", []byte(fmt.Sprint(i)), store.PutOptions{})
			switch {
			case err == nil:
				ok.Add(1)
			case errors.Is(err, store.ErrExists):
				exists.Add(1)
			default:
				t.Errorf("put: %v", err)
			}
		}()
	}
	wg.Wait()
	if ok.Load() != 1 || exists.Load() != 7 {
		t.Fatalf("%d puts succeeded and %d met ErrExists; want 1 and 7", ok.Load(), exists.Load())
	}
}

// kvLeases: store.Leases on the backend's KV — one holder at a time,
// renewal by the holder, release only by the holder, expiry frees a
// crashed holder's lease, and of many concurrent takers exactly one wins.
func kvLeases(t *testing.T, open KVOpener) {
	clock := NewClock()
	l := store.Leases{KV: open(t, clock.Now)}
	got := func(name, holder string) bool {
		t.Helper()
		ok, err := l.Acquire(bg, name, holder, 10*time.Second)
		must(t, "acquire", err)
		return ok
	}
	if !got("refresh/u1", "a") {
		t.Fatal("a free lease was refused")
	}
	if got("refresh/u1", "b") {
		t.Fatal("a held lease was granted to another holder")
	}
	if !got("refresh/u2", "b") {
		t.Fatal("another lease name is another lease")
	}
	clock.Advance(8 * time.Second)
	if !got("refresh/u1", "a") {
		t.Fatal("the holder could not renew")
	}
	clock.Advance(8 * time.Second) // 16 s after the first take, 8 after the renewal
	if got("refresh/u1", "b") {
		t.Fatal("a renewed lease ended at the first TTL")
	}
	must(t, "release by another holder", l.Release(bg, "refresh/u1", "b"))
	if h, err := l.Holder(bg, "refresh/u1"); err != nil || h != "a" {
		t.Fatalf("another holder's release freed the lease: holder %q, %v", h, err)
	}
	must(t, "release", l.Release(bg, "refresh/u1", "a"))
	if !got("refresh/u1", "b") {
		t.Fatal("a released lease was refused")
	}
	// b crashes without releasing: the lease ends with its TTL.
	clock.Advance(11 * time.Second)
	if !got("refresh/u1", "c") {
		t.Fatal("a crashed holder's lease did not expire")
	}
	must(t, "release of an ended lease", l.Release(bg, "refresh/u2", "b"))

	const takers = 8
	var wins atomic.Int32
	var wg sync.WaitGroup
	for i := range takers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := l.Acquire(bg, "tick", fmt.Sprintf("instance-%d", i), time.Minute)
			if err != nil {
				t.Errorf("acquire: %v", err)
			}
			if ok {
				wins.Add(1)
			}
		}()
	}
	wg.Wait()
	if wins.Load() != 1 {
		t.Fatalf("%d of %d concurrent takers got the lease, want 1", wins.Load(), takers)
	}
}
