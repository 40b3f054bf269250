package store

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	badger "github.com/dgraph-io/badger/v4"
)

// TestSensitivityRoundTrip: the declaration a put makes is kept with the
// entry, read back by Get and Select, survives a reopen, and is replaced
// by the next write; with and without a data key.
func TestSensitivityRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		name string
		key  []byte
	}{{"plain", nil}, {"sealed", testKey(9)}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			db := openAt(t, dir, Options{Key: tc.key})
			kv := db.KV()
			tokens := []byte(`{"user_id":"ADA1","access_token":"t1","refresh_token":"r1"}`)
			puts := map[string]Sensitivity{
				"fields": {Paths: []string{"access_token", "refresh_token", "access_token"}}, // duplicates dropped
				"all":    {All: true, Paths: []string{"ignored"}},                            // All alone is kept
				"none":   {},
			}
			for id, s := range puts {
				if err := kv.Put(bg, "users", id, tokens, PutOptions{Sensitive: s}); err != nil {
					t.Fatal(err)
				}
			}
			want := map[string]Sensitivity{
				"fields": {Paths: []string{"access_token", "refresh_token"}},
				"all":    {All: true},
				"none":   {},
			}
			check := func(when string) {
				t.Helper()
				for id, w := range want {
					e, err := kv.Get(bg, "users", id)
					if err != nil || string(e.Value) != string(tokens) || !reflect.DeepEqual(e.Sensitive, w) {
						t.Errorf("%s: get %s = %q %+v %v; want the value and %+v", when, id, e.Value, e.Sensitive, err, w)
					}
				}
				all, err := kv.Select(bg, "users", SelectOptions{})
				if err != nil || len(all) != 3 {
					t.Fatalf("%s: select: %d %v", when, len(all), err)
				}
				for _, e := range all {
					if !reflect.DeepEqual(e.Sensitive, want[e.ID]) {
						t.Errorf("%s: select %s: %+v, want %+v", when, e.ID, e.Sensitive, want[e.ID])
					}
				}
			}
			check("after put")
			db.Close()
			db = openAt(t, dir, Options{Key: tc.key})
			kv = db.KV()
			check("after reopen")

			// A write replaces the declaration with its own.
			if err := kv.Put(bg, "users", "fields", tokens, PutOptions{Overwrite: true}); err != nil {
				t.Fatal(err)
			}
			want["fields"] = Sensitivity{}
			if err := kv.Put(bg, "users", "none", tokens, PutOptions{Overwrite: true, Sensitive: Sensitivity{Paths: []string{"user_id"}}}); err != nil {
				t.Fatal(err)
			}
			want["none"] = Sensitivity{Paths: []string{"user_id"}}
			check("after overwrites")

			if e, _ := kv.Get(bg, "users", "none"); string(e.Masked()) != `{"user_id":"***","access_token":"t1","refresh_token":"r1"}` {
				t.Errorf("masked: %s", e.Masked())
			}
		})
	}
}

// TestSensitivityRecordFormat: an entry without a declaration keeps the
// record format older versions read; a declaration is bound to a sealed
// value, so removing it on disk makes the value fail to open.
func TestSensitivityRecordFormat(t *testing.T) {
	db, _ := openTest(t, Options{Key: testKey(4)})
	kv := db.KV()
	if err := kv.Put(bg, "s", "plain", []byte(`{"a":1}`), PutOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := kv.Put(bg, "s", "secret", []byte(`{"a":1}`), PutOptions{Sensitive: Sensitivity{Paths: []string{"a"}}}); err != nil {
		t.Fatal(err)
	}
	raw := func(id string) []byte {
		var v []byte
		err := db.bdb.View(func(txn *badger.Txn) error {
			item, err := txn.Get(kvKey("s", id))
			if err != nil {
				return err
			}
			v, err = item.ValueCopy(nil)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	if v := raw("plain"); v[0] != recordVersion {
		t.Errorf("an entry without a declaration is written as version %d, want %d", v[0], recordVersion)
	}
	rec := raw("secret")
	if rec[0] != kvRecordSensitive {
		t.Fatalf("an entry with a declaration is written as version %d, want %d", rec[0], kvRecordSensitive)
	}
	// Strip the declaration: version 1, same flags, time and sealed value.
	d := decoder{B: rec}
	d.Byte()
	flags := d.Byte()
	created := d.Time()
	d.Bytes()
	e := encoder{}
	e.Byte(recordVersion)
	e.Byte(flags)
	e.Time(created)
	e.B = append(e.B, d.B...)
	if err := db.bdb.Update(func(txn *badger.Txn) error { return txn.Set(kvKey("s", "secret"), e.B) }); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Get(bg, "s", "secret"); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("a sealed value whose declaration was removed: %v, want ErrDecrypt", err)
	}
}

func TestSensitivityInvalid(t *testing.T) {
	db, _ := openTest(t, Options{})
	many := make([]string, maxSensitivePaths+1)
	for i := range many {
		many[i] = "f" + strings.Repeat("x", i)
	}
	for _, s := range []Sensitivity{
		{Paths: []string{""}},
		{Paths: []string{".a"}},
		{Paths: []string{"a..b"}},
		{Paths: []string{"a."}},
		{Paths: []string{"a\x00b"}},
		{Paths: []string{strings.Repeat("a", maxPathLen+1)}},
		{Paths: many},
	} {
		err := db.KV().Put(bg, "s", "x", []byte(`{}`), PutOptions{Sensitive: s})
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("put with %q: %v, want ErrInvalid", s.Paths, err)
		}
	}
	if _, err := db.KV().Get(bg, "s", "x"); !errors.Is(err, ErrNotFound) {
		t.Errorf("a refused put wrote the entry: %v", err)
	}
}

func TestMask(t *testing.T) {
	envelope := `{"text":"{\"user_id\":\"ADA1\",\"access_token\":\"t1\",\"refresh_token\":\"r1\"}","content_type":"application/json"}`
	tests := []struct {
		name, value string
		s           Sensitivity
		want        string
	}{
		{"nothing declared", `{"a":1}`, Sensitivity{}, `{"a":1}`},
		{"whole value", `{"a":1}`, Sensitivity{All: true}, `"***"`},
		{"whole value, not JSON", `hello`, Sensitivity{All: true}, `"***"`},
		{"top-level key, order kept", `{"z":1,"secret":"s","a":[1,2]}`, Sensitivity{Paths: []string{"secret"}}, `{"z":1,"secret":"***","a":[1,2]}`},
		{"an object or a number", `{"tok":{"a":1},"n":5}`, Sensitivity{Paths: []string{"tok", "n"}}, `{"tok":"***","n":"***"}`},
		{"nested", `{"token":{"refresh":"r","type":"Bearer"}}`, Sensitivity{Paths: []string{"token.refresh"}}, `{"token":{"refresh":"***","type":"Bearer"}}`},
		{"absent path leaves the value as it is", `{ "a" : 1 }`, Sensitivity{Paths: []string{"b", "a.c"}}, `{ "a" : 1 }`},
		{"array index", `{"items":[{"s":1},{"s":2}]}`, Sensitivity{Paths: []string{"items.1.s"}}, `{"items":[{"s":1},{"s":"***"}]}`},
		{"every element", `{"items":[{"s":1},{"s":2},3]}`, Sensitivity{Paths: []string{"items.s"}}, `{"items":[{"s":"***"},{"s":"***"},3]}`},
		{"top-level array", `[{"s":1}]`, Sensitivity{Paths: []string{"s"}}, `[{"s":"***"}]`},
		{"JSON inside a string (the steps' envelope)", envelope, Sensitivity{Paths: []string{"text.access_token", "text.refresh_token"}},
			`{"text":"{\"user_id\":\"ADA1\",\"access_token\":\"***\",\"refresh_token\":\"***\"}","content_type":"application/json"}`},
		{"text that is not JSON is hidden whole", `{"text":"token=abc","ct":"text/plain"}`, Sensitivity{Paths: []string{"text.token"}}, `{"text":"***","ct":"text/plain"}`},
		{"a value that is not JSON is hidden whole", `access_token=abc`, Sensitivity{Paths: []string{"access_token"}}, `"***"`},
		{"special characters kept", `{"html":"<b>&</b>","s":"x"}`, Sensitivity{Paths: []string{"s"}}, `{"html":"<b>&</b>","s":"***"}`},
		{"a scalar holds nothing", `{"a":true}`, Sensitivity{Paths: []string{"a.b"}}, `{"a":true}`},
	}
	for _, tc := range tests {
		got := Mask([]byte(tc.value), tc.s)
		if string(got) != tc.want {
			t.Errorf("%s: Mask(%s, %+v)\n got  %s\n want %s", tc.name, tc.value, tc.s, got, tc.want)
		}
	}
}
