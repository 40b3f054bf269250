package steps

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"log/slog"
	"net/netip"
	"net/textproto"

	"github.com/stride-engine/stride/engine/flow"
)

// This file holds what the inbound policies (basic_auth, api_key,
// verify_signature, allow_ips, quota) share: how a rejection answers,
// how credentials are compared, and where the request came from.

// checkPolicyStatus validates a policy's rejection status at load.
func checkPolicyStatus(status int) error {
	if status < 400 || status > 599 {
		return errorf("status %d: a rejection answers with a 4xx or 5xx status", status)
	}
	return nil
}

// policyReject answers the request with status and {"error": msg} and
// ends the message as DISCARDED. A rejection is not a flow error: the
// step returns nil, so on_error does not run. msg must never carry a
// secret or say which part of a credential was wrong.
func policyReject(ctx context.Context, x *flow.Exchange, kind string, level slog.Level, status int, msg string, header map[string]string) {
	body, _ := json.Marshal(map[string]string{"error": msg})
	if header == nil {
		header = map[string]string{}
	}
	x.Response = &flow.Response{Status: status, Header: header, Body: body, ContentType: "application/json"}
	x.Stop("DISCARDED")
	attrs := []any{"message_id", x.ID, "policy", kind, "status", status, "reason", msg}
	if f := x.Flow(); f != nil {
		attrs = append(attrs, "flow", f.ID)
	}
	if x.Request != nil {
		attrs = append(attrs, "remote_address", x.Request.RemoteAddress)
	}
	x.Log.Log(ctx, level, "request rejected by policy", attrs...)
}

// policyHeader returns an inbound header by any spelling of its name.
// The http trigger joins repeated headers with ", ".
func policyHeader(x *flow.Exchange, name string) (string, bool) {
	v, ok := x.Msg.Header[textproto.CanonicalMIMEHeaderKey(name)]
	return v, ok
}

// secretDigest hashes a credential so that comparisons take the same
// time whatever the lengths of the two sides.
func secretDigest(s string) [sha256.Size]byte { return sha256.Sum256([]byte(s)) }

// digestsEqual is 1 when a and b are equal, else 0, in constant time.
func digestsEqual(a, b *[sha256.Size]byte) int { return subtle.ConstantTimeCompare(a[:], b[:]) }

// errNoPeer is returned by peerAddr outside an http request.
var errNoPeer = errors.New("the message has no HTTP request (remote address); this policy works under an http trigger")

// peerAddr returns the address of the direct peer of the HTTP request
// (request.remote_address), IPv4-mapped IPv6 addresses unmapped.
func peerAddr(x *flow.Exchange) (netip.Addr, error) {
	if x.Request == nil || x.Request.RemoteAddress == "" {
		return netip.Addr{}, errNoPeer
	}
	return parseAddrMaybePort(x.Request.RemoteAddress)
}

// parseAddrMaybePort reads "1.2.3.4", "1.2.3.4:80", "::1" or "[::1]:80".
func parseAddrMaybePort(s string) (netip.Addr, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap().WithZone(""), nil
	}
	if len(s) > 1 && s[0] == '[' && s[len(s)-1] == ']' {
		s = s[1 : len(s)-1]
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, errorf("%q is not an IP address", s)
	}
	return a.Unmap().WithZone(""), nil
}
