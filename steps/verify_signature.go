package steps

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"hash"
	"log/slog"
	"net/textproto"
	"strconv"
	"strings"
	"time"

	"github.com/stride-engine/stride/engine/flow"
)

// verifySignatureConfig checks a webhook's signature header.
type verifySignatureConfig struct {
	Header    string         `yaml:"header" required:"true" doc:"The request header that carries the signature, e.g. X-Fitbit-Signature or X-Hub-Signature-256."`
	Algorithm string         `yaml:"algorithm" default:"hmac-sha256" enum:"hmac-sha1,hmac-sha256,equals" doc:"hmac-sha1 or hmac-sha256: the header is the HMAC of the raw request body with key; equals: the header is the shared secret itself."`
	Key       *flow.Template `yaml:"key" required:"true" doc:"The HMAC key or shared secret, evaluated per message, e.g. '${secret.FITBIT_CLIENT_SECRET + \"&\"}'."`
	Encoding  string         `yaml:"encoding" default:"base64" enum:"base64,hex" doc:"How the header writes the HMAC (not used by equals)."`
	Prefix    string         `yaml:"prefix" doc:"Text before the signature in the header, removed before comparing, e.g. 'sha256=' (GitHub) or 'Bearer '; a header without it does not match."`
	Status    int            `yaml:"status" default:"401" doc:"The status of a rejected request; Fitbit expects 404."`
	Data      *flow.Template `yaml:"data" doc:"The signed text when it is not the raw body alone, e.g. 'v0:${header[\"X-Request-Timestamp\"]}:${body}' (timestamp plus body) or 'https://hooks.example.com${request.uri}${body}' (URL plus body). Under an http trigger's policies body is the raw body."`
	Timestamp *flow.Template `yaml:"timestamp" doc:"When the request was signed, in unix seconds, unix milliseconds or RFC 3339, e.g. '${header[\"X-Request-Timestamp\"]}'; with it a request signed outside tolerance is rejected (a replay)."`
	Tolerance time.Duration  `yaml:"tolerance" default:"5m" doc:"How far the timestamp may be from now, either way."`
}

type verifySignatureStep struct {
	c      *verifySignatureConfig
	header string
	hash   func() hash.Hash // nil for equals
}

func init() {
	flow.RegisterStep(flow.StepKind[verifySignatureConfig]{
		Name:    "verify_signature",
		Policy:  true,
		Summary: "Lets a webhook through only when its signature header matches the HMAC of the raw body (or a shared secret).",
		Doc: "An inbound policy: list it under an http trigger's policies (it runs before the flow) or as a step. " +
			"The HMAC is computed over the body exactly as received (for a queue message, its body), with key, and " +
			"compared in constant time with the header decoded from base64 or hex after removing prefix. " +
			"Fitbit: hmac-sha1, base64, key '${secret.FITBIT_CLIENT_SECRET + \"&\"}', status 404. " +
			"GitHub: X-Hub-Signature-256, hmac-sha256, hex, prefix 'sha256='. " +
			"Providers that send the secret itself (e.g. Google Health's Authorization header) use algorithm equals. " +
			"With data, the HMAC is computed over that text instead (providers that sign a timestamp or the URL with the body); " +
			"with timestamp, a request signed more than tolerance away from now is rejected like a wrong signature (a replay). " +
			"A missing or wrong signature is answered with status and {\"error\": \"invalid signature\"}, the message " +
			"ends DISCARDED, and the flow (and on_error) does not run. A key that evaluates to empty text fails the message.",
		Example: "- verify_signature:\n" +
			"    header: X-Fitbit-Signature\n" +
			"    algorithm: hmac-sha1\n" +
			"    key: '${secret.FITBIT_CLIENT_SECRET + \"&\"}'\n" +
			"    status: 404",
		Build: func(b *flow.Builder, c *verifySignatureConfig) (flow.Step, error) {
			if c.Header == "" || strings.ContainsAny(c.Header, " :\t") {
				return nil, errorf("header %q: write a header name such as X-Hub-Signature-256", c.Header)
			}
			if err := checkPolicyStatus(c.Status); err != nil {
				return nil, err
			}
			if c.Tolerance <= 0 {
				return nil, errorf("tolerance must be positive, e.g. 5m")
			}
			if v, ok := c.Key.Literal(); ok && v == "" {
				return nil, errorf("key is empty: give the shared secret, e.g. '${secret.WEBHOOK_SECRET}'")
			}
			s := &verifySignatureStep{c: c, header: textproto.CanonicalMIMEHeaderKey(c.Header)}
			switch c.Algorithm {
			case "hmac-sha1":
				s.hash = sha1.New
			case "hmac-sha256":
				s.hash = sha256.New
			}
			return s, nil
		},
	})
}

// decodeSignature reads the header's signature in enc; ok is false when
// it is not valid in that encoding. Base64 is accepted padded or not, in
// the standard or the URL alphabet.
func decodeSignature(sig, enc string) ([]byte, bool) {
	if enc == "hex" {
		b, err := hex.DecodeString(sig)
		return b, err == nil
	}
	for _, e := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := e.DecodeString(sig); err == nil {
			return b, true
		}
	}
	return nil, false
}

func (s *verifySignatureStep) Run(ctx context.Context, x *flow.Exchange) error {
	key, err := s.c.Key.String(x)
	if err != nil {
		return errorf("key: %w", err)
	}
	if key == "" {
		return errorf("key evaluated to empty text; a webhook signature needs the shared secret")
	}
	if s.c.Timestamp != nil {
		if why := s.stale(x); why != "" {
			policyReject(ctx, x, "verify_signature", slog.LevelInfo, s.c.Status, "invalid signature: "+why, nil)
			return nil
		}
	}
	signed := x.RawBody
	if signed == nil {
		signed = x.Msg.Body()
	}
	if s.c.Data != nil {
		text, err := s.c.Data.String(x)
		if err != nil {
			x.Log.Info("verify_signature: the signed text cannot be built", "message_id", x.ID, "error", x.Redact(err.Error()))
			policyReject(ctx, x, "verify_signature", slog.LevelInfo, s.c.Status, "invalid signature", nil)
			return nil
		}
		signed = []byte(text)
	}
	if !s.matches(x, key, signed) {
		policyReject(ctx, x, "verify_signature", slog.LevelInfo, s.c.Status, "invalid signature", nil)
	}
	return nil
}

// stale says why the request's timestamp is missing, unreadable or
// outside the tolerance window, or "" when it is fresh.
func (s *verifySignatureStep) stale(x *flow.Exchange) string {
	v, err := s.c.Timestamp.Eval(x)
	if err != nil {
		return "no timestamp"
	}
	at, ok := parseTimestamp(v)
	if !ok {
		return "the timestamp is not a time"
	}
	if d := x.Now().Sub(at); d > s.c.Tolerance || d < -s.c.Tolerance {
		return "the timestamp is outside the tolerance window (a replay?)"
	}
	return ""
}

// parseTimestamp reads unix seconds, unix milliseconds (13 digits and
// more) or RFC 3339.
func parseTimestamp(v any) (time.Time, bool) {
	switch t := v.(type) {
	case time.Time:
		return t, true
	case float64:
		return unixAuto(int64(t)), true
	case int:
		return unixAuto(int64(t)), true
	case int64:
		return unixAuto(t), true
	}
	text := strings.TrimSpace(flow.Stringify(v))
	if n, err := strconv.ParseInt(text, 10, 64); err == nil {
		return unixAuto(n), true
	}
	if t, err := time.Parse(time.RFC3339Nano, text); err == nil {
		return t, true
	}
	return time.Time{}, false
}

func unixAuto(n int64) time.Time {
	if n >= 1e12 { // milliseconds: 1e12 ms is 2001, 1e12 s is the year 33658
		return time.UnixMilli(n)
	}
	return time.Unix(n, 0)
}

// matches reports whether the message carries a valid signature. A
// missing header, a missing prefix or an undecodable value do not match.
func (s *verifySignatureStep) matches(x *flow.Exchange, key string, signed []byte) bool {
	sig, ok := x.Msg.Header[s.header]
	if !ok {
		return false
	}
	sig = strings.TrimSpace(sig)
	if p := s.c.Prefix; p != "" {
		if len(sig) < len(p) || !strings.EqualFold(sig[:len(p)], p) {
			return false
		}
		sig = strings.TrimSpace(sig[len(p):])
	}
	if sig == "" {
		return false
	}
	if s.hash == nil { // equals: the header is the secret itself
		got, want := secretDigest(sig), secretDigest(key)
		return digestsEqual(&got, &want) == 1
	}
	got, ok := decodeSignature(sig, s.c.Encoding)
	if !ok {
		return false
	}
	mac := hmac.New(s.hash, []byte(key))
	mac.Write(signed)
	return hmac.Equal(mac.Sum(nil), got)
}
