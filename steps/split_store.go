package steps

import (
	"context"
	"encoding/json"

	"github.com/stride-engine/stride/engine/flow"
	"github.com/stride-engine/stride/engine/store"
)

// storeItems are the entries of a data store, read a page at a time as
// the split starts its items (in item order, on the parent's goroutine):
// a nightly run over every user holds one page, not the whole store.
type storeItems struct {
	ctx   context.Context
	kv    store.KV
	store string
	page  int
	n     int // entries when the split started

	base  int           // the index of entries[0]
	items []store.Entry // the current page
	after string        // the last id read: the cursor of the next page
}

func newStoreItems(ctx context.Context, x *flow.Exchange, storeName string, page int) (*storeItems, error) {
	kv, err := x.KV()
	if err != nil {
		return nil, err
	}
	n, err := kv.Count(ctx, storeName)
	if err != nil {
		return nil, errorf("split: store %s: %w", storeName, err)
	}
	return &storeItems{ctx: ctx, kv: kv, store: storeName, page: page, n: n}, nil
}

// len is the number of entries when the split started; entries added
// meanwhile are not items of this run.
func (s *storeItems) len() int { return s.n }

func (s *storeItems) body(i int) ([]byte, string, error) {
	for i >= s.base+len(s.items) {
		s.base += len(s.items)
		entries, err := s.kv.Select(s.ctx, s.store, store.SelectOptions{After: s.after, Limit: s.page})
		if err != nil {
			return nil, "", errorf("split: store %s: %w", s.store, err)
		}
		if len(entries) == 0 {
			return nil, "", errorf("split: store %s: entry %d is gone (deleted while the split ran)", s.store, i)
		}
		s.items, s.after = entries, entries[len(entries)-1].ID
	}
	e := s.items[i-s.base]
	_, body, err := decodeStored(e.Value)
	if err != nil {
		return nil, "", err
	}
	v, err := flow.DecodeJSON(body)
	if err != nil {
		v = string(body)
	}
	data, err := json.Marshal(struct {
		ID   string `json:"id"`
		Body any    `json:"body"`
	}{e.ID, v})
	return data, "application/json", err
}
