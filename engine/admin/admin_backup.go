package admin

import (
	"context"
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/stride-engine/stride/engine/store"
)

// Backuper takes a consistent backup of a running instance's durable
// state while it serves: *store.DB.
type Backuper interface {
	Backup(ctx context.Context, w io.Writer) (store.BackupInfo, error)
}

// backupWriteTimeout cuts off a client that reads nothing of the backup
// for this long, so that it cannot hold the store (and a shutdown) open.
const backupWriteTimeout = time.Minute

// AddBackup serves GET /admin/backup: a backup of b, streamed as it is
// taken (BackupContentType). Sealed values stay sealed. A failure before
// the first byte is an Error answer; one after it cuts the connection, so
// a client never mistakes a partial backup for a whole one (the file's own
// checksum says so too: store.VerifyBackup).
func (a *Admin) AddBackup(b Backuper) {
	a.Handle("GET /admin/backup", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		defer func() { _ = rc.SetWriteDeadline(time.Time{}) }()
		h := w.Header()
		h.Set("Content-Type", BackupContentType)
		h.Set("Content-Disposition", `attachment; filename="stride-`+time.Now().UTC().Format("20060102T150405Z")+`.backup"`)
		h.Set("Cache-Control", "no-store")
		bw := &backupResponse{w: w, rc: rc}
		_, err := b.Backup(r.Context(), bw)
		switch {
		case err == nil:
			return
		case bw.started:
			panic(http.ErrAbortHandler) // cut the stream short: never a clean end
		case errors.Is(err, store.ErrClosed):
			h.Del("Content-Disposition")
			writeError(w, http.StatusServiceUnavailable, CodeUnavailable, "stride is stopping: "+err.Error())
		default:
			h.Del("Content-Disposition")
			writeError(w, http.StatusInternalServerError, CodeInternal, err.Error())
		}
	}))
}

// backupResponse writes the backup to the response, with a write deadline
// renewed at each write.
type backupResponse struct {
	w       http.ResponseWriter
	rc      *http.ResponseController
	started bool
}

func (b *backupResponse) Write(p []byte) (int, error) {
	b.started = true
	_ = b.rc.SetWriteDeadline(time.Now().Add(backupWriteTimeout)) // not every ResponseWriter has one
	return b.w.Write(p)
}
