package steps

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"time"

	"github.com/stride-engine/stride/engine/flow"
	"github.com/stride-engine/stride/engine/store"
)

// idempotentConfig runs a block of steps once per id (CPI's idempotent
// process call).
type idempotentConfig struct {
	ID          *flow.Template `yaml:"id" required:"true" doc:"The identity of what the block does, e.g. '${json.ownerId}-${json.date}-${json.collectionType}'; a message with an id already seen skips the block."`
	Store       string         `yaml:"store" default:"idempotent" doc:"The data store keeping the ids seen; the store and the id are the namespace, so give each use its own store."`
	TTL         string         `yaml:"ttl" default:"7d" doc:"How long an id is remembered: e.g. 7d, 12h, 90m, or never."`
	OnDuplicate string         `yaml:"on_duplicate" default:"skip" enum:"skip,stop" doc:"skip: the block does not run and the message goes on; stop: the message ends with status DUPLICATE."`
	Steps       flow.Steps     `yaml:"steps" required:"true" doc:"The steps run for an id not seen before."`
}

type idempotentStep struct {
	c    *idempotentConfig
	ttl  time.Duration
	stop bool
}

// claimAttempts bounds how often a claim is tried again after an
// ambiguous store error with no entry left behind.
const claimAttempts = 3

func init() {
	flow.RegisterStep(flow.StepKind[idempotentConfig]{
		Name:    "idempotent",
		Summary: "Runs a block of steps only for an id not seen before (CPI's idempotent process call).",
		Doc: "Before the block runs, the id is claimed in a data store (atomically: of several messages with the same id at the same time exactly one runs the block). " +
			"Property duplicate is false when the block runs and true when it is skipped; with on_duplicate: stop a duplicate ends the message with status DUPLICATE. " +
			"If the block fails, the claim is withdrawn so that a retry of the message runs it again; after a successful block the id is remembered for ttl. " +
			"The id is not qualified by the flow: the store and the id are the namespace, so give each use its own store. " +
			"Needs the data store (stride run --data).",
		Example: "- idempotent:\n    id: '${json.ownerId}-${json.date}-${json.collectionType}'\n    store: fitbit-notifications\n    ttl: 7d\n    steps:\n      - enqueue: {queue: fitbit-collect}",
		Build: func(b *flow.Builder, c *idempotentConfig) (flow.Step, error) {
			bad := false
			if err := checkStore(c.Store); err != nil {
				b.Errorf(b.FieldPos("store"), "idempotent: %v", err)
				bad = true
			}
			ttl, err := parseExpiry(c.TTL)
			if err != nil {
				b.Errorf(b.FieldPos("ttl"), "idempotent: ttl %q: write e.g. 7d, 12h, 90m or never", c.TTL)
				bad = true
			}
			if c.Steps.Len() == 0 {
				b.Errorf(b.FieldPos("steps"), "idempotent: steps is empty: give the steps to run once per id")
				bad = true
			}
			if bad {
				return nil, flow.ErrReported
			}
			return &idempotentStep{c: c, ttl: ttl, stop: c.OnDuplicate == "stop"}, nil
		},
	})
}

func (s *idempotentStep) Run(ctx context.Context, x *flow.Exchange) error {
	kv, err := x.KV()
	if err != nil {
		return err
	}
	id, err := s.c.ID.String(x)
	if err != nil {
		return errorf("idempotent: id: %w", err)
	}
	if id == "" {
		return errorf("idempotent: id %s is empty", s.c.ID.Source())
	}
	rec, err := s.claimRecord(x)
	if err != nil {
		return err
	}
	dup, rec, err := s.claim(ctx, kv, x, id, rec)
	if err != nil {
		return errorf("idempotent: claiming id %q in store %s: %w", id, s.c.Store, err)
	}
	x.Msg.Property["duplicate"] = dup
	if dup {
		x.Log.Info("idempotent: id already seen, block skipped", "flow", x.Flow().ID, "message_id", x.ID, "store", s.c.Store, "id", x.Redact(id))
		if s.stop {
			x.Stop("DUPLICATE")
		}
		return nil
	}
	done := false
	defer func() {
		if !done { // the block failed (or panicked): let a retry run it
			s.release(ctx, kv, x, id, rec)
		}
	}()
	if err := s.c.Steps.Run(ctx, x); err != nil {
		return err
	}
	done = true
	return nil
}

// claimRecord is the value kept under the id: who claimed it and when,
// readable with `stride store get` and datastore_get, and a random token
// that tells this claim from any other for the same id.
func (s *idempotentStep) claimRecord(x *flow.Exchange) ([]byte, error) {
	v, err := json.Marshal(map[string]string{
		"flow":    x.Flow().ID,
		"message": x.ID,
		"claimed": x.Now().Format(time.RFC3339Nano),
		"claim":   rand.Text(),
	})
	if err != nil {
		return nil, err
	}
	return encodeStored(v, "application/json", nil)
}

// claim puts the id with Overwrite=false: success means this message runs
// the block, ErrExists that another message claimed it first. The badger
// store makes that atomic (the put reads the key in its transaction; of
// two concurrent puts one commit conflicts, and the store retries it, then
// seeing the winner's entry: ErrExists). Any other error is ambiguous —
// the write may have committed (a failed sync) or not (a conflict that
// outlasted the store's retries) — and the entry decides: someone else's
// claim is a duplicate, ours is withdrawn and the error returned, and no
// entry at all means the claim can be tried again.
//
// A claim held by this same message id is not a duplicate: the message is
// being delivered again (the process died inside the block, or a retry
// found its own claim still there), so it runs the block and takes over
// that claim.
func (s *idempotentStep) claim(ctx context.Context, kv store.KV, x *flow.Exchange, id string, rec []byte) (dup bool, held []byte, err error) {
	for range claimAttempts {
		err = kv.Put(ctx, s.c.Store, id, rec, store.PutOptions{TTL: s.ttl})
		switch {
		case err == nil:
			return false, rec, nil
		case errors.Is(err, store.ErrExists):
			if e, gerr := kv.Get(ctx, s.c.Store, id); gerr == nil && claimedBy(e.Value) == x.ID {
				return false, e.Value, nil
			}
			return true, rec, nil
		case ctx.Err() != nil || errors.Is(err, store.ErrInvalid) || errors.Is(err, store.ErrClosed):
			return false, rec, err
		}
		e, gerr := kv.Get(ctx, s.c.Store, id)
		switch {
		case gerr == nil && !bytes.Equal(e.Value, rec):
			if claimedBy(e.Value) == x.ID {
				return false, e.Value, nil
			}
			return true, rec, nil
		case gerr == nil: // our write is there but was not confirmed
			if derr := kv.Delete(context.WithoutCancel(ctx), s.c.Store, id); derr != nil && !errors.Is(derr, store.ErrNotFound) {
				return false, rec, errors.Join(err, derr)
			}
			return false, rec, err
		case !errors.Is(gerr, store.ErrNotFound):
			return false, rec, errors.Join(err, gerr)
		}
	}
	return false, rec, err
}

// claimedBy returns the message id recorded in a stored claim, or "".
func claimedBy(stored []byte) string {
	_, body, err := decodeStored(stored)
	if err != nil {
		return ""
	}
	var c struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(body, &c) != nil {
		return ""
	}
	return c.Message
}

// release withdraws the claim after the block failed, unless the entry
// is no longer this message's claim (it expired and another message
// claimed the id since). It runs even when the message's context has
// ended: that is often why the block failed.
func (s *idempotentStep) release(ctx context.Context, kv store.KV, x *flow.Exchange, id string, rec []byte) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	e, err := kv.Get(ctx, s.c.Store, id)
	if err == nil && bytes.Equal(e.Value, rec) {
		err = kv.Delete(ctx, s.c.Store, id)
	}
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		x.Log.Error("idempotent: the block failed but its id could not be released; a retry will be taken for a duplicate",
			"flow", x.Flow().ID, "message_id", x.ID, "store", s.c.Store, "id", x.Redact(id), "error", err)
	}
}
