package admin

import (
	"context"
	"net/http"

	"github.com/stride-engine/stride/engine/store"
)

// StoreSizer is what GET /admin/store reads: the badger DB.
type StoreSizer interface {
	Size() (lsm, vlog int64)
	BytesByPart(ctx context.Context) (store.Parts, error)
}

// StoreSize is GET /admin/store's answer: the store's files on disk and
// the live bytes of each part.
type StoreSize struct {
	LSMBytes  int64       `json:"lsm_bytes"`
	VlogBytes int64       `json:"vlog_bytes"`
	Parts     store.Parts `json:"parts"`
	PartsNote string      `json:"parts_note"`
}

// AddStoreSize serves GET /admin/store (behind the token): what `stride
// status` shows under the flows.
func (a *Admin) AddStoreSize(db StoreSizer) {
	a.Handle("GET /admin/store", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, err := db.BytesByPart(r.Context())
		if err != nil {
			WriteJSON(w, http.StatusInternalServerError, Error{Message: err.Error(), Code: CodeInternal})
			return
		}
		lsm, vlog := db.Size()
		WriteJSON(w, http.StatusOK, StoreSize{LSMBytes: lsm, VlogBytes: vlog, Parts: p,
			PartsNote: "parts count live keys and values before compression; lsm and vlog are the files on disk"})
	}))
}

// StoreSize calls GET /admin/store.
func (c *Client) StoreSize(ctx context.Context) (StoreSize, error) {
	var out StoreSize
	_, err := c.do(ctx, http.MethodGet, "/admin/store", nil, &out)
	return out, err
}
