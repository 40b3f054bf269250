package natsstore

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/stride-engine/stride/engine/store"
)

// logStore is store.Log on the stream <prefix>_log: one message per
// attempt on <prefix>.log.<flow>.<id>.<attempt> (the stream keeps one per
// subject, so writing an attempt again replaces it) and its payload on
// <prefix>.logp.<id>.<attempt>, which expires after LogPayloadRetention.
// The stream's MaxAge and MaxBytes are LogRetention and LogMaxBytes: the
// server drops the oldest entries.
//
// List reads the stream backwards, a chunk of sequences at a time, and
// sorts what it read by Start. An entry is written after it started, so
// once the chunks reach entries the server stored before the Start of the
// last entry a page needs (less listSlack, for clocks a little apart),
// nothing older can belong on the page.
type logStore struct {
	s       *Store
	stream  jetstream.Stream
	name    string
	entries string // <prefix>.log.
	pays    string // <prefix>.logp.
	payTTL  time.Duration
}

// listSlack is how far ahead of the NATS server's clock an instance's
// clock may be for List to stay exact.
const listSlack = 10 * time.Second

func newLogStore(ctx context.Context, s *Store) (*logStore, error) {
	ctx, cancel := withTimeout(ctx)
	defer cancel()
	name := s.opts.Prefix + "_log"
	cfg := jetstream.StreamConfig{
		Name:              name,
		Description:       "Stride message log (engine/store/natsstore)",
		Subjects:          []string{s.opts.Prefix + ".log.>", s.opts.Prefix + ".logp.>"},
		Retention:         jetstream.LimitsPolicy,
		MaxAge:            s.opts.LogRetention,
		MaxBytes:          s.opts.LogMaxBytes,
		MaxMsgsPerSubject: 1,
		Discard:           jetstream.DiscardOld,
		Storage:           jetstream.FileStorage,
		Replicas:          s.opts.Replicas,
		AllowDirect:       true,
		AllowMsgTTL:       true,
	}
	stream, err := s.js.CreateOrUpdateStream(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("stream %s: %w", name, err)
	}
	l := &logStore{s: s, stream: stream, name: name, entries: s.opts.Prefix + ".log.", pays: s.opts.Prefix + ".logp."}
	if s.opts.LogPayloadRetention < s.opts.LogRetention {
		l.payTTL = max(s.opts.LogPayloadRetention, time.Second)
	}
	return l, nil
}

func (l *logStore) entrySubject(flow, id string, attempt int) string {
	return l.entries + token(flow) + "." + token(id) + "." + strconv.Itoa(attempt)
}

func (l *logStore) paySubject(id string, attempt int) string {
	return l.pays + token(id) + "." + strconv.Itoa(attempt)
}

// log record: version, flags, id, attempt, flow, status, start (readable,
// as in the badger store), then the body blob (sealed when flagSealed):
// flow version, trigger, queue, end, error, trace (store.EncodeLogBody).
func (l *logStore) encode(e *store.LogEntry) []byte {
	blob, sealed := l.s.sealBlob(store.EncodeLogBody(e), store.LogAAD(e.ID, e.Attempt, "entry"))
	r := encoder{B: make([]byte, 0, 40+len(e.ID)+len(e.Flow)+len(e.Status)+len(blob))}
	r.Byte(recordVersion)
	var flags byte
	if sealed {
		flags |= flagSealed
	}
	r.Byte(flags)
	r.String(e.ID)
	r.Uvarint(uint64(e.Attempt))
	r.String(e.Flow)
	r.String(e.Status)
	r.Time(e.Start)
	r.B = append(r.B, blob...)
	return r.B
}

// logHead is the readable part of a log record.
type logHead struct {
	flags   byte
	id      string
	attempt int
	flow    string
	status  string
	start   time.Time
	blob    []byte
	seq     uint64
}

func decodeLogHead(v []byte) (logHead, error) {
	d := decoder{B: v}
	var h logHead
	if d.Byte() != recordVersion {
		return h, store.ErrCorrupt
	}
	h.flags = d.Byte()
	h.id = d.String()
	h.attempt = d.Int()
	h.flow = d.String()
	h.status = d.String()
	h.start = d.Time()
	h.blob = d.B
	return h, d.Err
}

func (l *logStore) decode(h *logHead) (store.LogEntry, error) {
	e := store.LogEntry{ID: h.id, Attempt: h.attempt, Flow: h.flow, Status: h.status, Start: h.start}
	p, err := l.s.openBlob(h.blob, h.flags&flagSealed != 0, store.LogAAD(h.id, h.attempt, "entry"))
	if err != nil {
		return e, err
	}
	return e, store.DecodeLogBody(p, &e)
}

// payload record: version, flags, id, attempt, then the payload (sealed
// when flagSealed).
func (l *logStore) encodePayload(e *store.LogEntry) []byte {
	blob, sealed := l.s.sealBlob(e.Payload, store.LogAAD(e.ID, e.Attempt, "payload"))
	r := encoder{B: make([]byte, 0, 16+len(e.ID)+len(blob))}
	r.Byte(recordVersion)
	var flags byte
	if sealed {
		flags |= flagSealed
	}
	r.Byte(flags)
	r.String(e.ID)
	r.Uvarint(uint64(e.Attempt))
	r.B = append(r.B, blob...)
	return r.B
}

func (l *logStore) decodePayload(v []byte) (id string, attempt int, payload []byte, err error) {
	d := decoder{B: v}
	if d.Byte() != recordVersion {
		return "", 0, nil, store.ErrCorrupt
	}
	flags := d.Byte()
	id = d.String()
	attempt = d.Int()
	if d.Err != nil {
		return "", 0, nil, d.Err
	}
	p, err := l.s.openBlob(d.B, flags&flagSealed != 0, store.LogAAD(id, attempt, "payload"))
	if err != nil {
		return id, attempt, nil, err
	}
	return id, attempt, append([]byte{}, p...), nil
}

// The badger store's limit on flow names.
const maxFlowLen = 1024

func validLogEntry(e *store.LogEntry) error {
	if err := store.ValidID("log entry", e.ID); err != nil {
		return fmt.Errorf("store: log record: %w", err)
	}
	switch {
	case e.Attempt < 0 || e.Attempt > math.MaxInt32:
		return fmt.Errorf("store: log record %s: attempt %d out of range: %w", e.ID, e.Attempt, store.ErrInvalid)
	case e.Status == "":
		return fmt.Errorf("store: log record %s: no status: %w", e.ID, store.ErrInvalid)
	case strings.IndexByte(e.Flow, 0) >= 0 || len(e.Flow) > maxFlowLen:
		return fmt.Errorf("store: log record %s: flow name %.40q contains NUL or is too long: %w", e.ID, e.Flow, store.ErrInvalid)
	}
	return nil
}

func (l *logStore) Record(ctx context.Context, e store.LogEntry) error {
	return l.RecordBatch(ctx, []store.LogEntry{e})
}

// RecordBatch publishes the batch's entries (and payloads) without waiting
// for each ack in turn, then waits for them all. Invalid entries are left
// out and reported; a zero Start costs a read of the attempt written
// before.
func (l *logStore) RecordBatch(ctx context.Context, es []store.LogEntry) error {
	ctx, cancel := bounded(ctx)
	defer cancel()
	var errs []error
	valid := make([]store.LogEntry, 0, len(es))
	for i := range es {
		if err := validLogEntry(&es[i]); err != nil {
			errs = append(errs, err)
			continue
		}
		valid = append(valid, es[i])
	}
	if len(valid) == 0 {
		return errors.Join(errs...)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if l.s.isClosed() {
		return store.ErrClosed
	}
	if err := l.resolveStarts(ctx, valid); err != nil {
		return errors.Join(append(errs, fmt.Errorf("store: log record: %w", err))...)
	}
	var futures []jetstream.PubAckFuture
	publish := func(m *nats.Msg, opts ...jetstream.PublishOpt) error {
		f, err := l.s.js.PublishMsgAsync(m, opts...)
		if err != nil {
			return err
		}
		futures = append(futures, f)
		return nil
	}
	var err error
	for i := range valid {
		e := &valid[i]
		if err = publish(&nats.Msg{Subject: l.entrySubject(e.Flow, e.ID, e.Attempt), Data: l.encode(e)}); err != nil {
			break
		}
		if e.Payload != nil {
			var opts []jetstream.PublishOpt
			if l.payTTL > 0 {
				opts = append(opts, jetstream.WithMsgTTL(l.payTTL))
			}
			if err = publish(&nats.Msg{Subject: l.paySubject(e.ID, e.Attempt), Data: l.encodePayload(e)}, opts...); err != nil {
				break
			}
		}
	}
	wait, cancel := withTimeout(ctx)
	defer cancel()
	for _, f := range futures {
		select {
		case <-f.Ok():
		case perr := <-f.Err():
			err = cmp.Or(err, perr)
		case <-wait.Done():
			err = cmp.Or(err, wait.Err())
		}
	}
	if err != nil {
		errs = append(errs, fmt.Errorf("store: log record of %d entries (first %s attempt %d): %w", len(valid), valid[0].ID, valid[0].Attempt, noRoom(err)))
	}
	return errors.Join(errs...)
}

// resolveStarts gives entries with a zero Start the start of the attempt
// written before — earlier in the batch, or in the stream — or now.
func (l *logStore) resolveStarts(ctx context.Context, es []store.LogEntry) error {
	starts := map[string]time.Time{} // id\x00attempt → start, within the batch
	now := l.s.now()
	for i := range es {
		e := &es[i]
		k := e.ID + "\x00" + strconv.Itoa(e.Attempt)
		if !e.Start.IsZero() {
			starts[k] = e.Start
			continue
		}
		if st, ok := starts[k]; ok {
			e.Start = st
			continue
		}
		e.Start = now
		msgs, _, err := l.s.directGet(ctx, l.name, directReq{MultiLastFor: []string{l.entries + "*." + token(e.ID) + "." + strconv.Itoa(e.Attempt)}})
		if err != nil {
			return err
		}
		var last uint64
		for _, m := range msgs {
			if h, err := decodeLogHead(m.Data); err == nil && h.id == e.ID && h.attempt == e.Attempt && msgSeq(m) > last {
				e.Start, last = h.start, msgSeq(m)
			}
		}
		starts[k] = e.Start
	}
	return nil
}

func (l *logStore) Get(ctx context.Context, id string) ([]store.LogEntry, error) {
	if err := store.ValidID("log entry", id); err != nil {
		return nil, fmt.Errorf("store: log get: %w", err)
	}
	if l.s.isClosed() {
		return nil, store.ErrClosed
	}
	tok := token(id)
	msgs, _, err := l.s.directGet(ctx, l.name, directReq{MultiLastFor: []string{l.entries + "*." + tok + ".*", l.pays + tok + ".*"}})
	if err != nil {
		return nil, fmt.Errorf("store: log get %s: %w", id, err)
	}
	heads := map[int]logHead{}
	payloads := map[int][]byte{}
	for _, m := range msgs {
		subj := m.Header.Get("Nats-Subject")
		if strings.HasPrefix(subj, l.pays) {
			pid, attempt, p, err := l.decodePayload(m.Data)
			if pid != id {
				continue
			}
			if err != nil {
				return nil, fmt.Errorf("store: log get %s: attempt %d payload: %w", id, attempt, err)
			}
			payloads[attempt] = p
			continue
		}
		h, err := decodeLogHead(m.Data)
		if err != nil {
			return nil, fmt.Errorf("store: log get %s: %w", id, err)
		}
		h.seq = msgSeq(m)
		// An attempt written again under another flow leaves the old
		// subject behind: the last write wins.
		if h.id == id && h.seq > heads[h.attempt].seq {
			heads[h.attempt] = h
		}
	}
	if len(heads) == 0 {
		return nil, fmt.Errorf("store: log get %s: %w", id, store.ErrNotFound)
	}
	out := make([]store.LogEntry, 0, len(heads))
	for _, a := range slices.Sorted(func(yield func(int) bool) {
		for a := range heads {
			if !yield(a) {
				return
			}
		}
	}) {
		h := heads[a]
		e, err := l.decode(&h)
		if err != nil {
			return nil, fmt.Errorf("store: log get %s: attempt %d: %w", id, a, err)
		}
		e.Payload = payloads[a]
		out = append(out, e)
	}
	return out, nil
}

// newer orders entries as List returns them: newest start first, then by
// id and attempt (the badger store's key order).
func newer(a, b *logHead) int {
	if c := b.start.Compare(a.start); c != 0 {
		return c
	}
	if c := strings.Compare(a.id, b.id); c != 0 {
		return c
	}
	return cmp.Compare(a.attempt, b.attempt)
}

func (l *logStore) List(ctx context.Context, f store.Filter) ([]store.LogEntry, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = store.DefaultListLimit
	}
	if strings.IndexByte(f.Flow, 0) >= 0 {
		return nil, fmt.Errorf("store: log list: flow name contains NUL: %w", store.ErrInvalid)
	}
	if l.s.isClosed() {
		return nil, store.ErrClosed
	}
	filter := l.entries + ">"
	if f.Flow != "" {
		filter = l.entries + token(f.Flow) + ".>"
	}
	info, err := l.stream.Info(ctx)
	if err != nil {
		return nil, fmt.Errorf("store: log list: %w", err)
	}
	first, hi := info.State.FirstSeq, info.State.LastSeq
	var cands []logHead
	chunk := uint64(256)
	for hi >= first && hi > 0 {
		lo := first
		if hi-first+1 > chunk {
			lo = hi - chunk + 1
		}
		msgs, err := l.read(ctx, filter, lo, hi, int(chunk))
		if err != nil {
			return nil, fmt.Errorf("store: log list: %w", err)
		}
		var oldest time.Time // when the server stored the oldest message read
		for _, m := range msgs {
			seq := msgSeq(m)
			if oldest.IsZero() {
				oldest = msgTime(m)
			}
			h, err := decodeLogHead(m.Data)
			if err != nil {
				l.s.log.Error("natsstore: skipping an unreadable log entry", "subject", m.Header.Get("Nats-Subject"), "err", err)
				continue
			}
			if (!f.Before.IsZero() && !h.start.Before(f.Before)) ||
				(f.Status != "" && !strings.EqualFold(f.Status, h.status)) ||
				(f.Flow != "" && h.flow != f.Flow) {
				continue
			}
			h.seq = seq
			cands = append(cands, h)
		}
		if len(cands) >= limit {
			slices.SortFunc(cands, func(a, b logHead) int { return newer(&a, &b) })
			cands = cands[:limit]
			if !oldest.IsZero() && oldest.Add(listSlack).Before(cands[limit-1].start) {
				break // nothing stored before oldest started after the page's last entry
			}
		}
		if lo == first {
			break
		}
		hi = lo - 1
		if len(msgs) == 0 && chunk < 1<<14 {
			chunk *= 4 // sparse: read further at a time
		}
	}
	slices.SortFunc(cands, func(a, b logHead) int { return newer(&a, &b) })
	if len(cands) > limit {
		cands = cands[:limit]
	}
	out := make([]store.LogEntry, 0, len(cands))
	for i := range cands {
		e, err := l.decode(&cands[i])
		if err != nil {
			return nil, fmt.Errorf("store: log list: log entry %s attempt %d: %w", cands[i].id, cands[i].attempt, err)
		}
		out = append(out, e)
	}
	if len(out) == 0 {
		return nil, nil
	}
	return out, nil
}

// read returns the messages matching filter with sequences lo…hi, in
// order (more than one request when an answer stops at the server's byte
// limit).
func (l *logStore) read(ctx context.Context, filter string, lo, hi uint64, batch int) ([]*nats.Msg, error) {
	var out []*nats.Msg
	for from := lo; from <= hi; {
		msgs, pending, err := l.s.directGet(ctx, l.name, directReq{Seq: from, NextFor: filter, Batch: batch})
		if err != nil {
			return nil, err
		}
		for _, m := range msgs {
			if msgSeq(m) > hi {
				return out, nil
			}
			out = append(out, m)
		}
		if len(msgs) == 0 || pending == 0 {
			return out, nil
		}
		from = msgSeq(msgs[len(msgs)-1]) + 1
	}
	return out, nil
}
