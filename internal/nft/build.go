package nft

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"phoenix/internal/site"
)

// Options tune how flows become rules.
type Options struct {
	// SetFrom is how many flows of one shape (single address to single
	// address, one tcp or udp port) there must be before they share one
	// rule over a concatenated set instead of a rule each; 0 never.
	SetFrom int
}

// DefaultOptions keep a site of ordinary size at one rule per flow.
var DefaultOptions = Options{SetFrom: 64}

// Flow is a site flow resolved to addresses.
type Flow struct {
	N         int // 1-based position in the config
	Comment   string
	Src, Dst  Endpoint
	Proto     string
	Port      int
	ICMPTypes []string
}

// Endpoint is a flow's source or destination, resolved.
type Endpoint struct {
	Name string // as the comment shows it: "102 traefik", "any", "management"
	// Host is true for the host itself (traffic it receives: input).
	Host bool
	// Guests is true for guest addresses (traffic it routes: forward).
	Guests bool
	// Addrs are the prefixes it stands for; none means any address.
	Addrs []netip.Prefix
}

// FromSite resolves the site's flows.
func FromSite(s *site.Site) ([]Flow, error) {
	var out []Flow
	for i, f := range s.Flows() {
		src, err := endpoint(s, f.Source)
		if err != nil {
			return nil, fmt.Errorf("firewall.flows[%d].source: %w", i, err)
		}
		dst, err := endpoint(s, f.Destination)
		if err != nil {
			return nil, fmt.Errorf("firewall.flows[%d].destination: %w", i, err)
		}
		out = append(out, Flow{N: i + 1, Comment: f.Comment, Src: src, Dst: dst, Proto: f.Proto, Port: f.Port, ICMPTypes: f.ICMPTypes})
	}
	return out, nil
}

func endpoint(s *site.Site, e site.Endpoint) (Endpoint, error) {
	switch {
	case e.VMID != 0:
		g, ok := s.Guest(e.VMID)
		if !ok {
			return Endpoint{}, fmt.Errorf("no guest %d", e.VMID)
		}
		return Endpoint{Name: strconv.Itoa(g.VMID) + " " + g.Name, Guests: true, Addrs: []netip.Prefix{host(g.IP.Addr())}}, nil
	case e.Prefix.IsValid():
		return Endpoint{Name: e.String(), Host: true, Guests: true, Addrs: []netip.Prefix{e.Prefix}}, nil
	}
	switch e.Keyword {
	case "any":
		return Endpoint{Name: "any", Host: true, Guests: true}, nil
	case "guests":
		ep := Endpoint{Name: "guests", Guests: true}
		for _, g := range s.Guests() {
			ep.Addrs = append(ep.Addrs, host(g.IP.Addr()))
		}
		return ep, nil
	case "host":
		return Endpoint{Name: "host", Host: true}, nil
	case "management":
		return Endpoint{Name: "management", Host: true, Guests: true, Addrs: []netip.Prefix{s.Hypervisor.Management.CIDR}}, nil
	case "nodes":
		ep := Endpoint{Name: "nodes", Host: true}
		for _, n := range s.NodeNames() {
			ep.Addrs = append(ep.Addrs, host(s.Hypervisor.Nodes[n].ManagementIP))
		}
		return ep, nil
	}
	return Endpoint{}, fmt.Errorf("unknown endpoint %q", e.String())
}

func host(a netip.Addr) netip.Prefix { return netip.PrefixFrom(a, a.BitLen()) }

// Label is the comment that names the flow's rule.
func (f Flow) Label() string {
	what := f.Proto
	if f.Port != 0 {
		what += "/" + strconv.Itoa(f.Port)
	}
	return fmt.Sprintf("flow %d: %s -> %s %s", f.N, f.Src.Name, f.Dst.Name, what)
}

// Build makes phoenix's table from resolved flows: input and forward
// chains with policy drop, established and related traffic accepted,
// loopback accepted on input, then one accept rule per flow and chain it
// reaches (the host's own traffic on input, routed and bridged guest
// traffic on forward). Flows whose source is the host need no rule: the
// host's output is not filtered.
func Build(flows []Flow, o Options) (*Ruleset, error) {
	for _, f := range flows {
		// Flows built in Go skip the site's validator; a protocol is also
		// rendered as nft text, so only the known words may pass.
		switch f.Proto {
		case "tcp", "udp", "icmp", "icmpv6":
		default:
			return nil, fmt.Errorf("flow %d: protocol %q: want tcp, udp, icmp or icmpv6", f.N, f.Proto)
		}
		if f.Port < 0 || f.Port > 65535 {
			return nil, fmt.Errorf("flow %d: port %d is out of range", f.N, f.Port)
		}
		for _, typ := range f.ICMPTypes {
			if typ == "" || strings.Trim(typ, "abcdefghijklmnopqrstuvwxyz-") != "" {
				return nil, fmt.Errorf("flow %d: ICMP type %q is not an nft type name", f.N, typ)
			}
		}
	}
	rs := &Ruleset{Chains: []Chain{
		{Name: "input", Hook: "input", Policy: "drop", Rules: []Rule{
			{IIf: "lo", Verdict: "accept", Comment: "the host talks to itself"},
			{CtState: []string{"established", "related"}, Verdict: "accept", Comment: "replies to allowed traffic"},
		}},
		{Name: "forward", Hook: "forward", Policy: "drop", Rules: []Rule{
			{CtState: []string{"established", "related"}, Verdict: "accept", Comment: "replies to allowed traffic"},
		}},
	}}
	// Flows of the shape a concatenated set holds, by chain and family/proto.
	type shape struct{ chain, fam, proto string }
	grouped := map[shape][]Flow{}
	var order []shape
	for _, f := range flows {
		if f.Src.Name == "host" && !f.Src.Guests {
			continue
		}
		for _, chain := range chainsOf(f) {
			if sh, ok := concatShape(f); ok && o.SetFrom > 0 {
				k := shape{chain, sh, f.Proto}
				if _, seen := grouped[k]; !seen {
					order = append(order, k)
				}
				grouped[k] = append(grouped[k], f)
				continue
			}
			r, err := ruleOf(f)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", f.Label(), err)
			}
			c := rs.Chain(chain)
			c.Rules = append(c.Rules, r)
		}
	}
	for _, k := range order {
		fs := grouped[k]
		c := rs.Chain(k.chain)
		if len(fs) < o.SetFrom {
			for _, f := range fs {
				r, err := ruleOf(f)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", f.Label(), err)
				}
				c.Rules = append(c.Rules, r)
			}
			continue
		}
		name := fmt.Sprintf("%s_%s_%s", k.chain, k.fam, k.proto)
		addrType := "ipv4_addr"
		if k.fam == "ip6" {
			addrType = "ipv6_addr"
		}
		s := Set{Name: name, Type: []string{addrType, addrType, "inet_service"}}
		for _, f := range fs {
			s.Elements = append(s.Elements, Element{
				Key:     []string{f.Src.Addrs[0].Addr().String(), f.Dst.Addrs[0].Addr().String(), strconv.Itoa(f.Port)},
				Comment: f.Label(),
			})
		}
		rs.Sets = append(rs.Sets, s)
		c.Rules = append(c.Rules, Rule{IPFamily: k.fam, Proto: k.proto, Concat: name, Verdict: "accept",
			Comment: fmt.Sprintf("flows %d-%d: %d flows in set %s", fs[0].N, fs[len(fs)-1].N, len(fs), name)})
	}
	return rs, nil
}

// chainsOf returns the chains a flow's traffic crosses.
func chainsOf(f Flow) []string {
	var out []string
	if f.Dst.Host {
		out = append(out, "input")
	}
	if f.Dst.Guests {
		out = append(out, "forward")
	}
	return out
}

// concatShape reports whether a flow is single address to single address
// on one port, and its family.
func concatShape(f Flow) (string, bool) {
	if f.Port == 0 || len(f.Src.Addrs) != 1 || len(f.Dst.Addrs) != 1 ||
		!f.Src.Addrs[0].IsSingleIP() || !f.Dst.Addrs[0].IsSingleIP() {
		return "", false
	}
	s, d := f.Src.Addrs[0].Addr(), f.Dst.Addrs[0].Addr()
	if s.Is4() != d.Is4() {
		return "", false
	}
	if s.Is4() {
		return "ip", true
	}
	return "ip6", true
}

func ruleOf(f Flow) (Rule, error) {
	r := Rule{Proto: f.Proto, Verdict: "accept", Comment: f.Label()}
	fam := ""
	for _, ep := range []struct {
		addrs []netip.Prefix
		m     *Match
	}{{f.Src.Addrs, &r.Saddr}, {f.Dst.Addrs, &r.Daddr}} {
		if len(ep.addrs) == 0 {
			continue
		}
		v, err := addrValues(ep.addrs)
		if err != nil {
			return Rule{}, err
		}
		epFam := "ip"
		if ep.addrs[0].Addr().Is6() {
			epFam = "ip6"
		}
		if fam != "" && fam != epFam {
			return Rule{}, fmt.Errorf("source and destination are of different IP families")
		}
		fam = epFam
		ep.m.Values = v
	}
	switch {
	case f.Proto == "icmp" && fam == "ip6", f.Proto == "icmpv6" && fam == "ip":
		return Rule{}, fmt.Errorf("%s between %s addresses", f.Proto, fam)
	}
	r.IPFamily = fam
	if f.Port != 0 {
		r.DPort = Match{Values: []string{strconv.Itoa(f.Port)}}
	}
	r.ICMPTypes = slices.Clone(f.ICMPTypes)
	sortValues(r.ICMPTypes)
	return r, nil
}

// addrValues renders prefixes: one prefix as itself, several single
// addresses as an anonymous set (intervals are not used).
func addrValues(ps []netip.Prefix) ([]string, error) {
	if len(ps) == 1 {
		if ps[0].IsSingleIP() {
			return []string{ps[0].Addr().String()}, nil
		}
		return []string{ps[0].Masked().String()}, nil
	}
	var out []string
	for _, p := range ps {
		if !p.IsSingleIP() {
			return nil, fmt.Errorf("%s: a network in a list of addresses", p)
		}
		if p.Addr().Is4() != ps[0].Addr().Is4() {
			return nil, fmt.Errorf("a list of addresses of both IP families")
		}
		out = append(out, p.Addr().String())
	}
	out = slices.Compact(sortValues(out))
	if len(out) == 1 {
		return out, nil
	}
	return out, nil
}

func sortValues(v []string) []string {
	slices.SortFunc(v, func(a, b string) int {
		x, y := sortKey(a), sortKey(b)
		switch {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	})
	return v
}

func parseAddr(s string) (netip.Addr, error) { return netip.ParseAddr(s) }
