package nft

import (
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// ManagementPorts are what an operator needs to reach the host: SSH and
// the PVE API.
var ManagementPorts = []int{22, 8006}

// Lockout returns an error naming what rs would drop of the management
// ports from network mgmt, on the input chain; nil when both stay open.
func Lockout(rs *Ruleset, mgmt netip.Prefix) error {
	var closed []string
	for _, p := range ManagementPorts {
		if !Admits(rs, "input", mgmt, netip.Prefix{}, "tcp", p) {
			closed = append(closed, "tcp/"+strconv.Itoa(p))
		}
	}
	if len(closed) == 0 {
		return nil
	}
	return fmt.Errorf("the ruleset drops %s from the management network %s: applying it would lock operators out of the host (allow_lockout=True overrides)", strings.Join(closed, " and "), mgmt)
}

// Admits reports whether new traffic from every address of src to dst
// (invalid: any address) on proto/port is accepted by chain. Rules that
// depend on an interface or on conntrack state are not counted.
func Admits(rs *Ruleset, chain string, src, dst netip.Prefix, proto string, port int) bool {
	c := rs.Chain(chain)
	if c == nil {
		return true // no chain, no filter
	}
	for _, r := range c.Rules {
		if r.Unknown != "" || r.IIf != "" || len(r.CtState) > 0 || len(r.ICMPTypes) > 0 {
			continue
		}
		if r.Proto != "" && r.Proto != proto {
			continue
		}
		if !covers(rs, r.Saddr, src) || !covers(rs, r.Daddr, dst) {
			continue
		}
		if r.Concat != "" && !concatHas(rs, r.Concat, src, dst, port) {
			continue
		}
		if !r.DPort.empty() && !portIn(rs, r.DPort, port) {
			continue
		}
		switch r.Verdict {
		case "accept":
			return true
		case "drop", "reject":
			return false
		}
	}
	return c.Policy == "accept"
}

// covers reports whether match m holds for every address of p.
func covers(rs *Ruleset, m Match, p netip.Prefix) bool {
	if m.empty() {
		return true
	}
	if !p.IsValid() {
		return false
	}
	for _, v := range values(rs, m, 0) {
		q, err := netip.ParsePrefix(v)
		if err != nil {
			a, err := netip.ParseAddr(v)
			if err != nil {
				continue
			}
			q = netip.PrefixFrom(a, a.BitLen())
		}
		if q.Bits() <= p.Bits() && q.Contains(p.Addr()) {
			return true
		}
	}
	return false
}

func portIn(rs *Ruleset, m Match, port int) bool {
	return slices.Contains(values(rs, m, 0), strconv.Itoa(port))
}

func concatHas(rs *Ruleset, set string, src, dst netip.Prefix, port int) bool {
	if !src.IsValid() || !dst.IsValid() || !src.IsSingleIP() || !dst.IsSingleIP() {
		return false
	}
	want := []string{src.Addr().String(), dst.Addr().String(), strconv.Itoa(port)}
	for _, s := range rs.Sets {
		if s.Name == set {
			for _, e := range s.Elements {
				if slices.Equal(e.Key, want) {
					return true
				}
			}
		}
	}
	return false
}

// values are a match's values, a named set's elements (field i) included.
func values(rs *Ruleset, m Match, i int) []string {
	if m.Set == "" {
		return m.Values
	}
	var out []string
	for _, s := range rs.Sets {
		if s.Name == m.Set {
			for _, e := range s.Elements {
				out = append(out, e.Key[i])
			}
		}
	}
	return out
}
