package steps

import (
	"container/list"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"

	"github.com/stride-engine/stride/engine/flow"
)

// quotaConfig limits the rate of requests per key.
type quotaConfig struct {
	Key     *flow.Template `yaml:"key" doc:"What is counted: a template such as '${header[\"X-API-Key\"]}' or '${property.auth_user}'; default: the client's IP address (the direct peer)."`
	Rate    string         `yaml:"rate" required:"true" doc:"Requests allowed per period and key: 10/s, 100/m, 1000/h, 5000/d or 5/30s."`
	Burst   int            `yaml:"burst" doc:"Requests a key may make at once after being idle; default: the count of rate."`
	MaxKeys int            `yaml:"max_keys" default:"100000" doc:"The most keys tracked at once; beyond it the least recently seen key is forgotten (it starts afresh)."`
	Status  int            `yaml:"status" default:"429" doc:"The status of a rejected request."`
}

type quotaStep struct {
	c     *quotaConfig
	limit rate.Limit
	burst int

	mu   sync.Mutex
	keys map[string]*list.Element // of *quotaEntry
	lru  list.List                // front: most recently seen
}

// maxQuotaKey is the longest key held as written; longer ones are held
// as their SHA-256, so memory is bounded by max_keys alone.
const maxQuotaKey = 128

type quotaEntry struct {
	key string
	// mu makes a reservation and its cancellation one step: a refused
	// request's reservation is cancelled before any other request of the
	// key reserves, so it is fully given back and the next refused
	// request sees the true wait. (Reservations of concurrent requests
	// interleaved with cancellations leak tokens in x/time/rate.)
	mu  sync.Mutex
	lim *rate.Limiter
}

func init() {
	flow.RegisterStep(flow.StepKind[quotaConfig]{
		Name:    "quota",
		Policy:  true,
		Summary: "Limits how often each key (by default each client IP) may call: beyond the rate it answers 429 with Retry-After.",
		Doc: "An inbound policy: list it under an http trigger's policies (it runs before the flow) or as a step. " +
			"Each key has a token bucket that holds burst requests and refills at rate; a request over the limit is " +
			"answered 429 (or status) with Retry-After in seconds and {\"error\": ...}, ends DISCARDED, and the flow " +
			"does not run; it does not use up the key's allowance. Counts live in memory, per flow and per Stride " +
			"process, and start afresh when the flow is reloaded. Behind a proxy, put allow_ips with " +
			"trusted_proxies first and count by key: '${property.client_ip}'. At most max_keys keys are tracked, " +
			"so a flood of made-up keys cannot exhaust memory.",
		Example: "- quota:\n" +
			"    key: '${header[\"X-API-Key\"] ?? request.remote_address}'\n" +
			"    rate: 100/m\n" +
			"    burst: 20",
		Build: func(b *flow.Builder, c *quotaConfig) (flow.Step, error) {
			count, per, err := parseRate(c.Rate)
			if err != nil {
				b.Errorf(b.FieldPos("rate"), "quota: rate %q: %v", c.Rate, err)
				return nil, flow.ErrReported
			}
			s := &quotaStep{c: c, limit: rate.Limit(float64(count) / per.Seconds()), burst: c.Burst, keys: map[string]*list.Element{}}
			switch {
			case c.Burst < 0:
				return nil, errorf("burst %d: write a positive number of requests", c.Burst)
			case c.Burst == 0:
				s.burst = count
			}
			if c.MaxKeys < 1 {
				return nil, errorf("max_keys %d: write a positive number of keys", c.MaxKeys)
			}
			if err := checkPolicyStatus(c.Status); err != nil {
				return nil, err
			}
			return s, nil
		},
	})
}

// parseRate reads "count/period": the period is s, m, h, d (or second,
// minute, hour, day) or a duration such as 30s or 15m.
func parseRate(v string) (int, time.Duration, error) {
	const how = "write a count per period, e.g. 10/s, 100/m, 1000/h, 5000/d or 5/30s"
	n, p, ok := strings.Cut(strings.ReplaceAll(v, " ", ""), "/")
	if !ok {
		return 0, 0, errorf("%s", how)
	}
	count, err := strconv.Atoi(n)
	if err != nil || count < 1 {
		return 0, 0, errorf("the count %q is not a positive whole number; %s", n, how)
	}
	var per time.Duration
	switch strings.ToLower(p) {
	case "s", "sec", "second":
		per = time.Second
	case "m", "min", "minute":
		per = time.Minute
	case "h", "hour":
		per = time.Hour
	case "d", "day":
		per = 24 * time.Hour
	default:
		per, err = time.ParseDuration(p)
		if err != nil || per <= 0 {
			return 0, 0, errorf("the period %q is not s, m, h, d or a duration; %s", p, how)
		}
	}
	return count, per, nil
}

// quotaKey is how a key is held: as written, or as its SHA-256 when
// long, so that hostile keys cost a digest, not their length.
func quotaKey(key string) string {
	if len(key) <= maxQuotaKey {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	return "sha256:" + hex.EncodeToString(sum[:])
}

// limiter returns the key's limiter, creating it (and forgetting the
// least recently seen key when full) as needed.
func (s *quotaStep) limiter(key string) *quotaEntry {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e, ok := s.keys[key]; ok {
		s.lru.MoveToFront(e)
		return e.Value.(*quotaEntry)
	}
	for len(s.keys) >= s.c.MaxKeys {
		old := s.lru.Back()
		s.lru.Remove(old)
		delete(s.keys, old.Value.(*quotaEntry).key)
	}
	ent := &quotaEntry{key: key, lim: rate.NewLimiter(s.limit, s.burst)}
	s.keys[key] = s.lru.PushFront(ent)
	return ent
}

func (s *quotaStep) Run(ctx context.Context, x *flow.Exchange) error {
	var key string
	if s.c.Key != nil {
		k, err := s.c.Key.String(x)
		if err != nil {
			return errorf("key: %w", err)
		}
		key = k
	} else {
		a, err := peerAddr(x)
		if err != nil {
			return errorf("%v, or give key", err)
		}
		key = a.String()
	}
	e := s.limiter(quotaKey(key))
	e.mu.Lock()
	now := x.Now() // read under the lock: the limiter sees time move forward
	r := e.lim.ReserveN(now, 1)
	delay := r.DelayFrom(now)
	if r.OK() && delay == 0 {
		e.mu.Unlock()
		return nil
	}
	r.CancelAt(now) // a refused request does not use up the allowance
	e.mu.Unlock()
	secs := int64(math.Ceil(delay.Seconds()))
	if !r.OK() || delay == rate.InfDuration {
		secs = 60
	}
	policyReject(ctx, x, "quota", slog.LevelDebug, s.c.Status, "rate limit exceeded; retry later",
		map[string]string{"Retry-After": strconv.FormatInt(max(secs, 1), 10)})
	return nil
}
