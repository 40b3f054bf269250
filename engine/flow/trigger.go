package flow

import "fmt"

// A Claim is something a trigger takes for itself within a flow set, such
// as an HTTP route or a queue: two flows of one set may not hold the same
// claim. Trigger configs that claim something implement Claimer, so that
// the loader checks conflicts without knowing any trigger kind.
type Claim struct {
	// Key identifies the claimed thing, e.g. "route POST /users/{}" or
	// "queue fitbit-notifications". Equal keys conflict.
	Key string
	// Conflict is the load error when another flow holds the claim: a
	// format with two %s verbs, the other flow's id and its trigger's
	// position.
	Conflict string
}

// Claimer is implemented by trigger configs that claim routes or queues.
type Claimer interface {
	Claims() []Claim
}

// QueueClaim is the claim of the consumer of queue name.
func QueueClaim(name string) Claim {
	return Claim{Key: "queue " + name, Conflict: "queue " + name + " is already consumed by flow %s (%s); a queue has one consumer flow"}
}

// QueueSource is implemented by the config of a trigger that consumes a
// durable queue: enqueue reads the ordering key that the consumer declares.
type QueueSource interface {
	Claimer
	// QueueKey is the template of the ordering key, or nil.
	QueueKey() *Template
}

// Binder is implemented by trigger configs that check, once the flow's
// variables are bound, settings that read them (a cron read from
// ${env.X}). An error disables the flow with that reason.
type Binder interface {
	Bind(f *Flow) error
}

// QueueConsumer returns the flow that consumes queue, or nil.
func (s *FlowSet) QueueConsumer(queue string) *Flow {
	return s.claims[QueueClaim(queue).Key]
}

// QueueKey evaluates the ordering key that the consumer of queue declares
// (its trigger's key) on msg, in the consumer's scope. It is evaluated
// when the message is enqueued, because ordering is decided then. No
// consumer or no key gives "".
func (x *Exchange) QueueKey(queue string, msg *Message) (string, error) {
	f := x.set.QueueConsumer(queue)
	if f == nil {
		return "", nil
	}
	q, ok := f.Trigger.Config.(QueueSource)
	if !ok || q.QueueKey() == nil {
		return "", nil
	}
	c := x.Child(msg, nil)
	c.flow = f
	key, err := q.QueueKey().String(c)
	if err != nil {
		return "", fmt.Errorf("key of queue %s (flow %s, %s): %w", queue, f.ID, q.QueueKey().Pos().FileLine(), err)
	}
	return key, nil
}

// EvalString evaluates t in the scope of the flow alone (its env and
// secret variables, no message): for trigger settings such as a cron
// read from a variable.
func (f *Flow) EvalString(t *Template) (string, error) {
	x := NewExchange("", NewMessage(nil, ""), nil, nil)
	x.flow = f
	return t.String(x)
}

// Connector is implemented by the config of a trigger that declares a
// connection (an OAuth2 client of a provider, with its users' tokens):
// steps name it (request: {connection: NAME}) and the loader checks that
// the name is such a flow.
type Connector interface {
	// Connection is the data store that holds the users' tokens.
	ConnectionStore() string
}

func connector(f *Flow) (Connector, bool) {
	if f == nil {
		return nil, false
	}
	c, ok := f.Trigger.Config.(Connector)
	return c, ok
}

// Connection returns the flow that declares connection name, and its
// config, or nil.
func (s *FlowSet) Connection(name string) (*Flow, Connector) {
	f := s.flows[name]
	if c, ok := connector(f); ok {
		return f, c
	}
	return nil, nil
}
