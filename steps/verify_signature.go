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
	"strings"

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
	if !s.matches(x, key) {
		policyReject(ctx, x, "verify_signature", slog.LevelInfo, s.c.Status, "invalid signature", nil)
	}
	return nil
}

// matches reports whether the message carries a valid signature. A
// missing header, a missing prefix or an undecodable value do not match.
func (s *verifySignatureStep) matches(x *flow.Exchange, key string) bool {
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
	body := x.RawBody
	if body == nil {
		body = x.Msg.Body()
	}
	mac := hmac.New(s.hash, []byte(key))
	mac.Write(body)
	return hmac.Equal(mac.Sum(nil), got)
}
