package steps

import (
	"context"
	"log/slog"
	"net/netip"
	"net/textproto"
	"strings"

	"github.com/stride-engine/stride/engine/flow"
)

// allowIPsConfig lets through only requests from given networks.
type allowIPsConfig struct {
	CIDRs          []string `yaml:"cidrs" required:"true" doc:"The networks allowed to call, e.g. [10.0.0.0/8, 203.0.113.7, '2001:db8::/32']; a bare address is one host."`
	TrustedProxies []string `yaml:"trusted_proxies" doc:"The networks of your own proxies or load balancers; only a request from one of them may name its client in client_ip_header."`
	ClientIPHeader string   `yaml:"client_ip_header" doc:"The header in which trusted proxies name the client, e.g. X-Forwarded-For or X-Real-IP; ignored from any other peer."`
	Status         int      `yaml:"status" default:"403" doc:"The status of a rejected request."`
}

type allowIPsStep struct {
	c       *allowIPsConfig
	allow   []netip.Prefix
	proxies []netip.Prefix
	header  string
}

func init() {
	flow.RegisterStep(flow.StepKind[allowIPsConfig]{
		Name:    "allow_ips",
		Policy:  true,
		Summary: "Lets a request through only from the given IP networks.",
		Doc: "An inbound policy: list it under an http trigger's policies (it runs before the flow) or as a step. " +
			"The client is the direct peer of the connection. Behind your own proxy or load balancer, list it in " +
			"trusted_proxies and name its header in client_ip_header: the header is honoured only when the peer is a " +
			"trusted proxy, and the client is then the right-most address in it that is not itself a trusted proxy, " +
			"so a client cannot spoof its address by sending the header itself. IPv4-mapped IPv6 addresses count as " +
			"IPv4. On success property client_ip holds the client address (a key for quota); a request from " +
			"elsewhere is answered 403 (or status) with {\"error\": ...}, ends DISCARDED, and the flow does not run.",
		Example: "- allow_ips:\n" +
			"    cidrs: [203.0.113.0/24, '2001:db8:1::/48']\n" +
			"    trusted_proxies: [10.0.0.0/8]\n" +
			"    client_ip_header: X-Forwarded-For",
		Build: func(b *flow.Builder, c *allowIPsConfig) (flow.Step, error) {
			s := &allowIPsStep{c: c}
			bad := false
			parse := func(key string, list []string) []netip.Prefix {
				out := make([]netip.Prefix, 0, len(list))
				for i, v := range list {
					p, err := parseCIDR(v)
					if err != nil {
						b.Errorf(b.FieldPos(key), "allow_ips: %s[%d]: %q is not an IP network (write e.g. 10.0.0.0/8, 203.0.113.7 or 2001:db8::/32)", key, i, v)
						bad = true
						continue
					}
					out = append(out, p)
				}
				return out
			}
			s.allow = parse("cidrs", c.CIDRs)
			s.proxies = parse("trusted_proxies", c.TrustedProxies)
			if bad {
				return nil, flow.ErrReported
			}
			if len(s.allow) == 0 {
				return nil, errorf("cidrs: give at least one network (0.0.0.0/0 and ::/0 allow everyone)")
			}
			if (c.ClientIPHeader == "") != (len(s.proxies) == 0) {
				return nil, errorf("give trusted_proxies and client_ip_header together: the header is honoured only from a trusted proxy")
			}
			if c.ClientIPHeader != "" {
				s.header = textproto.CanonicalMIMEHeaderKey(c.ClientIPHeader)
			}
			if err := checkPolicyStatus(c.Status); err != nil {
				return nil, err
			}
			return s, nil
		},
	})
}

// parseCIDR reads a network or a bare address. An IPv4-mapped IPv6
// network (::ffff:10.0.0.0/104) becomes its IPv4 network, since
// addresses are unmapped before matching.
func parseCIDR(v string) (netip.Prefix, error) {
	v = strings.TrimSpace(v)
	if !strings.Contains(v, "/") {
		a, err := netip.ParseAddr(v)
		if err != nil || a.Zone() != "" {
			return netip.Prefix{}, errorf("bad address")
		}
		a = a.Unmap()
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	p, err := netip.ParsePrefix(v)
	if err != nil {
		return netip.Prefix{}, err
	}
	if a := p.Addr(); a.Is4In6() {
		if p.Bits() < 96 {
			return netip.Prefix{}, errorf("an IPv4-mapped network needs at least 96 bits")
		}
		p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
	}
	return p.Masked(), nil
}

func containsAddr(list []netip.Prefix, a netip.Addr) bool {
	for _, p := range list {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// clientAddr is the peer, or, when the peer is a trusted proxy, the
// right-most address of the client header that is not a trusted proxy.
// ok is false when the header names something that is not an address.
func (s *allowIPsStep) clientAddr(x *flow.Exchange) (netip.Addr, bool, error) {
	peer, err := peerAddr(x)
	if err != nil {
		return netip.Addr{}, false, err
	}
	if s.header == "" || !containsAddr(s.proxies, peer) {
		return peer, true, nil
	}
	h, found := x.Msg.Header[s.header]
	if !found || strings.TrimSpace(h) == "" {
		return peer, true, nil // the proxy named nobody: it is the client
	}
	client := peer
	for rest := h; rest != ""; {
		var item string
		if i := strings.LastIndexByte(rest, ','); i >= 0 {
			rest, item = rest[:i], rest[i+1:]
		} else {
			rest, item = "", rest
		}
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		a, err := parseAddrMaybePort(item)
		if err != nil {
			return netip.Addr{}, false, nil // garbage where an address should be
		}
		client = a
		if !containsAddr(s.proxies, a) {
			break
		}
	}
	return client, true, nil
}

func (s *allowIPsStep) Run(ctx context.Context, x *flow.Exchange) error {
	client, ok, err := s.clientAddr(x)
	if err != nil {
		return err
	}
	if !ok || !containsAddr(s.allow, client) {
		policyReject(ctx, x, "allow_ips", slog.LevelInfo, s.c.Status, "access from this address is not allowed", nil)
		return nil
	}
	x.Msg.Property["client_ip"] = client.String()
	return nil
}
