package store

import (
	"context"
	"time"
)

// Queues are durable FIFO queues with at-least-once delivery and per-key
// ordering.
//
// A consumer loop looks like:
//
//	for {
//		wake := q.Notify(name)          // before Lease: no lost wake-up
//		msgs, err := q.Lease(ctx, name, n, leaseFor)
//		... process each, then Ack, Retry or DeadLetter it ...
//		if len(msgs) == 0 {
//			select { case <-wake: case <-time.After(poll): case <-ctx.Done(): }
//		}
//	}
//
// The poll interval only matters for delayed messages becoming due and for
// expired leases; new, retried and released messages signal Notify.
//
// Ack, Retry and DeadLetter act on the message whatever its lease: a
// consumer that outlives its lease (processing took longer than leaseFor)
// can race the consumer that received the message next. The runtime must
// choose leaseFor longer than a flow may run.
type Queues interface {
	// Enqueue writes m to queue and returns its id once the write is
	// durable (see Durability for what survives what). The id is
	// assigned: ids sort by enqueue time, which is the queue's FIFO order.
	// m.ID, Attempts, Deliveries, LeaseUntil and LastError are ignored.
	Enqueue(ctx context.Context, queue string, m Message) (id string, err error)
	// Lease returns up to max ready messages in FIFO order and marks them
	// in flight until now+leaseFor. A message is ready when it is due
	// (NotBefore ≤ now) and not in flight. A message with a Key is not
	// returned while another message of that Key is in flight, or while an
	// earlier one of that Key is not yet due: messages of one key run one at
	// a time and in order. An expired lease makes its message ready again,
	// and opening the database ends all leases of the previous process.
	Lease(ctx context.Context, queue string, max int, leaseFor time.Duration) ([]Message, error)
	// Ack deletes a processed message.
	Ack(ctx context.Context, queue, id string) error
	// Retry releases a message for another attempt at notBefore: Attempts
	// grows by one, LastError is errText, and the message keeps its place
	// (later messages of its key wait for it).
	Retry(ctx context.Context, queue, id string, notBefore time.Time, errText string) error
	// Release ends a message's lease without counting an attempt: it is
	// ready again at once, at its place. A consumer that stops before a
	// message could finish (a shutdown) releases it, so the message runs
	// again, whole, without spending its retry budget.
	Release(ctx context.Context, queue, id string) error
	// DeadLetter moves a message to the queue's dead letters (ESCALATED)
	// with errText as LastError, counting the failed attempt; later
	// messages of its key proceed.
	DeadLetter(ctx context.Context, queue, id, errText string) error
	// DeadLetters lists a queue's dead letters, oldest first.
	DeadLetters(ctx context.Context, queue string) ([]Message, error)
	// Replay moves a dead letter back to its queue, at its original place,
	// with Attempts added to PriorAttempts, then Attempts and Deliveries
	// reset.
	Replay(ctx context.Context, queue, id string) error
	// FindDeadLetter finds a dead letter by id in any queue (for
	// `stride messages replay ID`).
	FindDeadLetter(ctx context.Context, id string) (queue string, m Message, err error)
	// Stats counts a queue's messages for metrics.
	Stats(ctx context.Context, queue string) (QueueStats, error)
	// Names lists the queues that hold messages or dead letters, or were
	// used since Open, sorted.
	Names(ctx context.Context) ([]string, error)
	// Notify returns a channel closed at the next Enqueue, Retry, Ack,
	// DeadLetter or Replay on queue, or at Close.
	Notify(queue string) <-chan struct{}
}

// Message is a queued message.
type Message struct {
	// ID is assigned by Enqueue: 32 hex characters, sortable by enqueue time.
	ID string
	// Key orders messages: those of one non-empty key are processed one at
	// a time, in order. It is stored readable (like ids), not sealed.
	Key         string
	Body        []byte
	ContentType string
	Headers     map[string]string
	Meta        map[string]string
	// Attempts counts failed attempts (Retry and DeadLetter calls): a
	// message escalated after three failed attempts says 3. Replay sets
	// it back to 0, so that a replayed message has its retries again.
	Attempts int
	// PriorAttempts counts the attempts before the replays: the message
	// log numbers a replayed message's attempts after them, so that its
	// earlier attempts stay in the log.
	PriorAttempts int
	// Deliveries counts leases, including those lost to a crash or an
	// expired lease: Deliveries much above Attempts+1 points at a message
	// that kills its consumer.
	Deliveries int
	// NotBefore delays delivery; zero means now.
	NotBefore time.Time
	Enqueued  time.Time
	// LeaseUntil is the lease deadline of a leased message.
	LeaseUntil time.Time
	// LastError is the errText of the last Retry or DeadLetter.
	LastError string
}

// QueueStats are a queue's counts. Ready counts due messages not in flight,
// including those waiting behind an earlier message of their key.
type QueueStats struct {
	Ready, InFlight, Delayed, Dead int
	// OldestEnqueued is the enqueue time of the oldest live message (zero
	// when there is none).
	OldestEnqueued time.Time
}
