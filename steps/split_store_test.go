package steps_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stride-engine/stride/engine/flow"
	"github.com/stride-engine/stride/engine/store"
)

// split: {store: ...} runs every entry of a data store, in id order, a
// page at a time.
func TestSplitOverAStorePageByPage(t *testing.T) {
	db, err := store.Open(t.TempDir(), store.Options{GCInterval: -1, Durability: store.SurviveProcessCrash})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	set, err := flow.Load([]flow.Source{
		{Name: "put.yaml", Data: []byte("flow: put\ntrigger: {call: {}}\nsteps:\n  - datastore_put: {store: users, id: '${property.id}'}\n")},
		{Name: "all.yaml", Data: []byte(`flow: all
trigger: {call: {}}
steps:
  - split:
      store: users
      page: 7
      parallel: 3
      on_item_error: continue
      steps:
        - route:
            - when: json.body.n % 10 == 9
              steps:
                - fail: 'user ${json.id} fails'
        - set: {properties: {seen: '${json.id}'}}
`)},
	})
	if err != nil {
		t.Fatal(err)
	}
	set.Bind(func(string) (string, bool) { return "", false })
	ctx := context.Background()
	run := func(id, body string, props map[string]any) *flow.Exchange {
		x := newExchange("m", flow.NewMessage([]byte(body), "application/json"), set, nil)
		x.SetServices(&flow.Services{KV: db.KV()})
		for k, v := range props {
			x.Msg.Property[k] = v
		}
		if err := set.Run(ctx, id, x); err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		return x
	}
	const users = 50
	for i := range users {
		run("put", fmt.Sprintf(`{"n": %d}`, i), map[string]any{"id": fmt.Sprintf("user-%03d", i)})
	}
	x := run("all", "{}", nil)
	if x.Msg.Property["split_size"] != users || x.Msg.Property["split_failed"] != 5 {
		t.Fatalf("size %v failed %v, want %d and 5", x.Msg.Property["split_size"], x.Msg.Property["split_failed"], users)
	}
	errs := fmt.Sprint(x.Msg.Property["split_errors"])
	for _, want := range []string{"user user-009 fails", "user user-049 fails"} {
		if !strings.Contains(errs, want) {
			t.Errorf("split_errors lack %q: %s", want, errs)
		}
	}
	if string(x.Msg.Body()) != "{}" {
		t.Errorf("the body after the split changed: %s", x.Msg.Body())
	}
}

func TestSplitStoreLoadErrors(t *testing.T) {
	for _, tc := range []struct{ split, want string }{
		{"{store: u, jsonpath: '$[*]', steps: [{log: x}]}", "give exactly one of xpath, jsonpath and store"},
		{"{store: u, aggregate: json, steps: [{log: x}]}", "aggregate collects every item: it cannot go with store"},
		{"{store: u, page: 0, steps: [{log: x}]}", "page must be between 1 and 10000"},
	} {
		_, err := flow.Load([]flow.Source{{Name: "f.yaml", Data: []byte("flow: f\ntrigger: {call: {}}\nsteps:\n  - split: " + tc.split + "\n")}})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.split, err, tc.want)
		}
	}
}
