package engine

import (
	"fmt"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// HTTPTrigger starts a flow for each request to a method and path on the
// shared listener (--addr).
type HTTPTrigger struct {
	Path    string        `yaml:"path" required:"true" doc:"The path, with {name} parameters (e.g. /users/{id}), read as request.params.name."`
	Methods []string      `yaml:"methods" default:"POST" enum:"GET,POST,PUT,PATCH,DELETE,HEAD,OPTIONS" doc:"The HTTP methods the path takes; another method gets 405 with Allow."`
	MaxBody ByteSize      `yaml:"max_body" default:"1MiB" doc:"The largest request body accepted; a larger one gets 413."`
	Timeout time.Duration `yaml:"timeout" default:"30s" doc:"How long the flow may run for one request before it fails."`
	// Policies run before the flow; one that fails answers (401, 403,
	// 404, 429...) and the flow does not run.
	Policies        Steps    `yaml:"policies" doc:"Inbound policies run before the flow (basic_auth, api_key, verify_signature, allow_ips, quota); one that fails answers with its status and the flow does not run."`
	ResponseHeaders []string `yaml:"response_headers" doc:"Message headers copied into the reply when the flow ends without respond."`
}

// TimerTrigger starts a flow on a schedule.
type TimerTrigger struct {
	Cron     *Template     `yaml:"cron" doc:"A 5-field cron expression (minute hour day-of-month month day-of-week) or @hourly/@daily/@weekly; may read a variable: ${env.FITBIT_DAILY_SCHEDULE}."`
	Every    time.Duration `yaml:"every" doc:"A fixed interval instead of cron, e.g. 10m."`
	Timezone string        `yaml:"timezone" default:"UTC" doc:"The IANA time zone the cron expression is read in."`
}

// QueueTrigger consumes a durable queue.
type QueueTrigger struct {
	Name    string        `yaml:"name" required:"true" doc:"The queue's name, the one enqueue writes to."`
	Workers int           `yaml:"workers" default:"4" doc:"Messages processed in parallel."`
	Key     *Template     `yaml:"key" doc:"Messages with one key run one at a time and in order; others run in parallel. Evaluated on each message when it is enqueued."`
	Timeout time.Duration `yaml:"timeout" default:"5m" doc:"How long one attempt may run before it fails."`
	Retry   QueueRetry    `yaml:"retry" doc:"Retries of a failed message before it is ESCALATED (dead letter)."`
}

// QueueRetry is the back-off of a queue trigger.
type QueueRetry struct {
	MaxAttempts int           `yaml:"max_attempts" default:"5" doc:"Attempts before the message is ESCALATED."`
	Backoff     time.Duration `yaml:"backoff" default:"1s" doc:"Wait before the first retry; doubles each attempt."`
	MaxBackoff  time.Duration `yaml:"max_backoff" default:"5m" doc:"The longest wait between attempts."`
}

// CallTrigger marks a flow used as a subroutine by the call step.
type CallTrigger struct{}

// ByteSize is a size written as 512, 64KiB, 1MiB or 10MB.
type ByteSize int64

func (s *ByteSize) decode(d *decoder, n *yaml.Node) {
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, "expected a size such as 1MiB, found %s", kindOfNode(n))
		return
	}
	v, err := parseByteSize(n.Value)
	if err != nil {
		d.errorf(n, "%q: %v", n.Value, err)
		return
	}
	*s = v
}

func parseByteSize(v string) (ByteSize, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1000}, {"MB", 1000 * 1000}, {"GB", 1000 * 1000 * 1000}, {"B", 1}}
	v = strings.TrimSpace(v)
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(v, u.suffix) {
			v, mult = strings.TrimSpace(strings.TrimSuffix(v, u.suffix)), u.mult
			break
		}
	}
	var n int64
	if _, err := fmt.Sscanf(v, "%d", &n); err != nil || n <= 0 || fmt.Sprint(n) != v {
		return 0, fmt.Errorf("not a size (write e.g. 512KiB or 1MiB)")
	}
	return ByteSize(n * mult), nil
}

func policyNames() []string {
	var out []string
	for _, k := range StepKinds() {
		if k.Policy {
			out = append(out, k.Name)
		}
	}
	return out
}

func init() {
	RegisterTrigger(TriggerKind[HTTPTrigger]{
		Name:    "http",
		Summary: "Runs the flow for each HTTP request to a path on the shared listener.",
		Doc:     "The reply is what respond set, else the message at the end (200, its body and content type). A body over max_body gets 413, another method 405, an unknown path 404, a failed flow 500 with the message id.",
		Example: "trigger:\n  http: {path: /fitbit/webhook, methods: [GET, POST]}",
		Validate: func(b *Builder, c *HTTPTrigger) error {
			if !strings.HasPrefix(c.Path, "/") {
				return fmt.Errorf("path %q must start with /", c.Path)
			}
			for _, seg := range strings.Split(c.Path, "/") {
				if strings.ContainsAny(seg, "{}") && !(strings.HasPrefix(seg, "{") && strings.HasSuffix(seg, "}") && len(seg) > 2 && !strings.ContainsAny(seg[1:len(seg)-1], "{}")) {
					return fmt.Errorf("path %q: a parameter is a whole segment like {id}", c.Path)
				}
			}
			seen := map[string]bool{}
			for _, m := range c.Methods {
				if seen[m] {
					return fmt.Errorf("method %s is listed twice", m)
				}
				seen[m] = true
			}
			if c.Timeout <= 0 {
				return fmt.Errorf("timeout must be positive")
			}
			for _, k := range c.Policies.Kinds() {
				if info := stepKinds[k]; info == nil || !info.Policy {
					return fmt.Errorf("policies: %s is not a policy (policies are %s)", k, strings.Join(policyNames(), ", "))
				}
			}
			return nil
		},
	})
	RegisterTrigger(TriggerKind[TimerTrigger]{
		Name:    "timer",
		Summary: "Runs the flow on a schedule (cron or every), never overlapping itself.",
		Doc:     "A run still going when the next tick comes skips that tick (logged). POST /admin/flows/{id}/run and `stride trigger ID` run it now.",
		Example: "trigger:\n  timer: {cron: '0 2 * * *', timezone: UTC}",
		Validate: func(b *Builder, c *TimerTrigger) error {
			if (c.Cron == nil) == (c.Every == 0) {
				return fmt.Errorf("give exactly one of cron and every")
			}
			if _, err := time.LoadLocation(c.Timezone); err != nil {
				return fmt.Errorf("unknown time zone %q", c.Timezone)
			}
			if c.Cron != nil {
				if v, ok := c.Cron.Literal(); ok {
					if _, err := parseCron(Stringify(v)); err != nil {
						return err
					}
				}
			}
			if c.Every != 0 && c.Every < time.Second {
				return fmt.Errorf("every must be at least 1s")
			}
			return nil
		},
	})
	RegisterTrigger(TriggerKind[QueueTrigger]{
		Name:    "queue",
		Summary: "Consumes a durable queue: at least once, retried with back-off, then ESCALATED.",
		Doc:     "Messages are on disk before enqueue returns. With key, messages of one key run one at a time and in order.",
		Example: "trigger:\n  queue: {name: fitbit-notifications, workers: 8, retry: {max_attempts: 10, backoff: 2s}}",
		Validate: func(b *Builder, c *QueueTrigger) error {
			if c.Workers < 1 {
				return fmt.Errorf("workers must be at least 1")
			}
			if c.Retry.MaxAttempts < 1 {
				return fmt.Errorf("retry.max_attempts must be at least 1")
			}
			if c.Retry.MaxBackoff < c.Retry.Backoff {
				return fmt.Errorf("retry.max_backoff is shorter than retry.backoff")
			}
			return nil
		},
	})
	RegisterTrigger(TriggerKind[CallTrigger]{
		Name:    "call",
		Summary: "Makes the flow a subroutine that other flows run with the call step.",
		Doc:     "The called flow works on the caller's message (CPI's process call).",
		Example: "trigger: {call: {}}",
	})
}
