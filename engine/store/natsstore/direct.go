package natsstore

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"
)

// directReq is a JetStream direct get request ($JS.API.DIRECT.GET.<stream>):
// one message by sequence or last by subject, a batch from a sequence
// (optionally only subjects matching NextFor), or the last message of
// every subject matching MultiLastFor. The jetstream package only offers
// the single get, which is why the batch forms are sent by hand.
type directReq struct {
	Seq          uint64   `json:"seq,omitempty"`
	LastFor      string   `json:"last_by_subj,omitempty"`
	NextFor      string   `json:"next_by_subj,omitempty"`
	Batch        int      `json:"batch,omitempty"`
	MultiLastFor []string `json:"multi_last,omitempty"`
	UpToSeq      uint64   `json:"up_to_seq,omitempty"`
}

// requestTimeout bounds a request when ctx has no deadline.
const requestTimeout = 10 * time.Second

// directGet sends req to stream's direct get endpoint and returns the
// messages of the answer, in stream order; none when nothing matched.
// Each has the headers Nats-Subject, Nats-Sequence and Nats-Time-Stamp.
// pending is, for a batch, how many matching messages follow the last one.
func (s *Store) directGet(ctx context.Context, stream string, req directReq) (msgs []*nats.Msg, pending uint64, err error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, requestTimeout)
		defer cancel()
	}
	data, err := json.Marshal(req)
	if err != nil {
		return nil, 0, err
	}
	inbox := s.nc.NewInbox()
	sub, err := s.nc.SubscribeSync(inbox)
	if err != nil {
		return nil, 0, err
	}
	defer sub.Unsubscribe()
	if err := sub.SetPendingLimits(-1, -1); err != nil {
		return nil, 0, err
	}
	if err := s.nc.PublishRequest("$JS.API.DIRECT.GET."+stream, inbox, data); err != nil {
		return nil, 0, err
	}
	batch := req.Batch > 0 || len(req.MultiLastFor) > 0
	for {
		m, err := sub.NextMsgWithContext(ctx)
		if err != nil {
			return nil, 0, fmt.Errorf("direct get from %s: %w", stream, err)
		}
		switch status := m.Header.Get("Status"); status {
		case "":
			msgs = append(msgs, m)
			if !batch {
				return msgs, 0, nil
			}
		case "204": // the end of a batch
			pending, _ = strconv.ParseUint(m.Header.Get("Nats-Num-Pending"), 10, 64)
			return msgs, pending, nil
		case "404":
			return msgs, 0, nil
		case "503":
			return nil, 0, fmt.Errorf("direct get from %s: no stream answers (%w)", stream, nats.ErrNoResponders)
		default:
			return nil, 0, fmt.Errorf("direct get from %s: %s %s", stream, status, m.Header.Get("Description"))
		}
	}
}

// scanBatch is how many messages one request of scan asks for.
const scanBatch = 1024

// scan calls fn with every message of stream whose subject matches filter,
// in stream order. Buckets keep one message per subject, so scanning a
// bucket visits each key's current value (or marker) once.
func (s *Store) scan(ctx context.Context, stream, filter string, fn func(*nats.Msg) error) error {
	seq := uint64(1)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		msgs, pending, err := s.directGet(ctx, stream, directReq{Seq: seq, NextFor: filter, Batch: scanBatch})
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if err := fn(m); err != nil {
				return err
			}
		}
		if len(msgs) == 0 || pending == 0 {
			return nil
		}
		seq = msgSeq(msgs[len(msgs)-1]) + 1
	}
}

// msgSeq is the stream sequence of a direct get answer.
func msgSeq(m *nats.Msg) uint64 {
	n, _ := strconv.ParseUint(m.Header.Get("Nats-Sequence"), 10, 64)
	return n
}

// msgTime is the time the stream stored a direct get answer.
func msgTime(m *nats.Msg) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, m.Header.Get("Nats-Time-Stamp"))
	return t
}
