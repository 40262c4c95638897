// Package nft is phoenix's firewall engine: the ruleset model built from
// the site's flows, its nft text, semantic comparison, the lockout guard,
// and the backends that read and replace phoenix's own table (over
// netlink, or simulated), with commit-confirmed rollback.
package nft

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// The table phoenix owns. Nothing outside it is read or changed.
const (
	Family = "inet"
	Table  = "phoenix"
)

// Ruleset is phoenix's table: named sets and base chains. Its nft text
// (Render) is canonical, so two rulesets are semantically equal exactly
// when their texts are.
type Ruleset struct {
	Sets   []Set   `json:"sets,omitempty"`
	Chains []Chain `json:"chains"`
}

// Set is a named set. Type lists the key's fields, concatenated when
// more than one: ipv4_addr, ipv6_addr, inet_service.
type Set struct {
	Name     string    `json:"name"`
	Type     []string  `json:"type"`
	Elements []Element `json:"elements,omitempty"`
}

// Element is one set element: one text value per key field.
type Element struct {
	Key     []string `json:"key"`
	Comment string   `json:"comment,omitempty"`
}

// Chain is a base chain of the filter type.
type Chain struct {
	Name   string `json:"name"`
	Hook   string `json:"hook"` // input, forward, output
	Prio   int    `json:"priority"`
	Policy string `json:"policy"` // accept, drop
	Rules  []Rule `json:"rules,omitempty"`
}

// Rule is one rule in the vocabulary phoenix writes. Empty fields match
// anything. Matches are evaluated in field order.
type Rule struct {
	IIf string `json:"iifname,omitempty"`
	// IPFamily is ip or ip6: the family of Saddr, Daddr and Concat.
	IPFamily string `json:"ip_family,omitempty"`
	Saddr    Match  `json:"saddr,omitzero"`
	Daddr    Match  `json:"daddr,omitzero"`
	// Proto is tcp, udp, icmp or icmpv6.
	Proto string `json:"proto,omitempty"`
	DPort Match  `json:"dport,omitzero"`
	// ICMPTypes are icmp (or icmpv6) type names.
	ICMPTypes []string `json:"icmp_types,omitempty"`
	// Concat names a set of (saddr . daddr . dport) elements of IPFamily
	// and Proto: many flows of one shape in one rule.
	Concat  string   `json:"concat,omitempty"`
	CtState []string `json:"ct_state,omitempty"`
	Verdict string   `json:"verdict"`
	Comment string   `json:"comment,omitempty"`
	// Unknown is set on a rule read back that phoenix did not write; it
	// describes the rule's expressions.
	Unknown string `json:"unknown,omitempty"`
}

// Match is a value (an address, a prefix, a port), several values (an
// anonymous set) or a named set.
type Match struct {
	Values []string `json:"values,omitempty"`
	Set    string   `json:"set,omitempty"`
}

func (m Match) empty() bool { return len(m.Values) == 0 && m.Set == "" }

func (m Match) text() string {
	switch {
	case m.Set != "":
		return "@" + m.Set
	case len(m.Values) == 1:
		return m.Values[0]
	}
	return "{ " + strings.Join(m.Values, ", ") + " }"
}

// Rules counts the rules of every chain.
func (rs *Ruleset) Rules() int {
	n := 0
	for _, c := range rs.Chains {
		n += len(c.Rules)
	}
	return n
}

// Chain returns the chain named name, or nil.
func (rs *Ruleset) Chain(name string) *Chain {
	for i := range rs.Chains {
		if rs.Chains[i].Name == name {
			return &rs.Chains[i]
		}
	}
	return nil
}

// Render returns the table as an nft script that `nft -f` accepts: it
// replaces the table (add, delete, then define), as Apply does.
func Render(rs *Ruleset) string {
	var b strings.Builder
	fmt.Fprintf(&b, "add table %s %s\ndelete table %s %s\n", Family, Table, Family, Table)
	b.WriteString(RenderTable(rs))
	return b.String()
}

// RenderTable returns the table's definition alone, as `nft list table`
// shows it; nil renders as "" (no table).
func RenderTable(rs *Ruleset) string {
	if rs == nil {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "table %s %s {\n", Family, Table)
	for _, s := range rs.Sets {
		fmt.Fprintf(&b, "\tset %s {\n\t\ttype %s\n", s.Name, strings.Join(s.Type, " . "))
		if len(s.Elements) > 0 {
			b.WriteString("\t\telements = {")
			for i, e := range sortedElements(s.Elements) {
				if i > 0 {
					b.WriteString(",")
				}
				b.WriteString("\n\t\t\t" + strings.Join(e.Key, " . "))
				if e.Comment != "" {
					b.WriteString(" comment " + strconv.Quote(e.Comment))
				}
			}
			b.WriteString(" }\n")
		}
		b.WriteString("\t}\n")
	}
	for _, c := range rs.Chains {
		fmt.Fprintf(&b, "\tchain %s {\n\t\ttype filter hook %s priority %d; policy %s;\n", c.Name, c.Hook, c.Prio, c.Policy)
		for _, r := range c.Rules {
			b.WriteString("\t\t" + r.Text() + "\n")
		}
		b.WriteString("\t}\n")
	}
	b.WriteString("}\n")
	return b.String()
}

func sortedElements(es []Element) []Element {
	out := slices.Clone(es)
	slices.SortStableFunc(out, func(a, b Element) int { return slices.Compare(elementOrder(a), elementOrder(b)) })
	return out
}

// elementOrder sorts numerically where a field is a number or address.
func elementOrder(e Element) []string {
	out := make([]string, len(e.Key))
	for i, k := range e.Key {
		out[i] = sortKey(k)
	}
	return out
}

func sortKey(s string) string {
	if n, err := strconv.Atoi(s); err == nil {
		return fmt.Sprintf("%05d", n)
	}
	if a, err := parseAddr(s); err == nil {
		return fmt.Sprintf("%x", a.AsSlice())
	}
	return s
}

// Text is the rule in nft syntax.
func (r Rule) Text() string {
	if r.Unknown != "" {
		return "# not written by phoenix: " + r.Unknown
	}
	var p []string
	if r.IIf != "" {
		p = append(p, "iifname "+strconv.Quote(r.IIf))
	}
	if r.Concat != "" {
		p = append(p, fmt.Sprintf("%s saddr . %s daddr . %s dport @%s", r.IPFamily, r.IPFamily, r.Proto, r.Concat))
	}
	if !r.Saddr.empty() {
		p = append(p, r.IPFamily+" saddr "+r.Saddr.text())
	}
	if !r.Daddr.empty() {
		p = append(p, r.IPFamily+" daddr "+r.Daddr.text())
	}
	switch {
	case r.Concat != "":
	case !r.DPort.empty():
		p = append(p, r.Proto+" dport "+r.DPort.text())
	case len(r.ICMPTypes) > 0:
		p = append(p, r.Proto+" type "+Match{Values: r.ICMPTypes}.text())
	case r.Proto != "":
		p = append(p, "meta l4proto "+r.Proto)
	}
	if len(r.CtState) > 0 {
		p = append(p, "ct state "+strings.Join(r.CtState, ","))
	}
	p = append(p, r.Verdict)
	if r.Comment != "" {
		p = append(p, "comment "+strconv.Quote(r.Comment))
	}
	return strings.Join(p, " ")
}

// Equal reports whether two tables are semantically the same (nil is no
// table).
func Equal(a, b *Ruleset) bool { return RenderTable(a) == RenderTable(b) }
