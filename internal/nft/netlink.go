package nft

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"github.com/google/nftables/userdata"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"

	"phoenix/internal/netns"
)

// SocketBuffer sizes the netlink socket both ways: with the defaults a
// batch of a few hundred rules fails to send (message too long) or
// reports a false ENOBUFS after the kernel committed it.
const SocketBuffer = 32 << 20

// Netlink reads and replaces phoenix's table over netlink, in the named
// network namespace ("" for phoenix's own).
type Netlink struct {
	NS string
}

var _ Backend = (*Netlink)(nil)

func (n *Netlink) conn() (*nftables.Conn, func(), error) {
	opts := []nftables.ConnOption{nftables.WithSockOptions(func(c *netlink.Conn) error {
		if err := c.SetWriteBuffer(SocketBuffer); err != nil {
			return err
		}
		return c.SetReadBuffer(SocketBuffer)
	})}
	done := func() {}
	if n.NS != "" {
		f, err := netns.Open(n.NS)
		if err != nil {
			return nil, nil, err
		}
		opts = append(opts, nftables.WithNetNSFd(int(f.Fd())))
		done = func() { f.Close() }
	}
	c, err := nftables.New(opts...)
	if err != nil {
		done()
		return nil, nil, err
	}
	return c, done, nil
}

var table = &nftables.Table{Family: nftables.TableFamilyINet, Name: Table}

// Apply replaces phoenix's table with rs (nil deletes it) in one batch:
// the kernel applies all of it or nothing, and no other table is touched.
func (n *Netlink) Apply(rs *Ruleset) error {
	c, done, err := n.conn()
	if err != nil {
		return err
	}
	defer done()
	// add (a no-op when present) then delete: replaces without failing
	// on a missing table, inside the same transaction.
	c.AddTable(table)
	c.DelTable(table)
	if rs != nil {
		if err := encode(c, rs); err != nil {
			return err
		}
	}
	if err := c.Flush(); err != nil {
		return n.refused(rs, err)
	}
	return nil
}

// tableFlagOwner is NFT_TABLE_F_OWNER: the table belongs to the netlink
// socket that created it; no other may change it.
const tableFlagOwner = 0x2

// refused says what the kernel refused and why, as far as phoenix can
// tell, and that nothing of the batch was applied.
func (n *Netlink) refused(rs *Ruleset, err error) error {
	what := fmt.Sprintf("the removal of table %s %s", Family, Table)
	if rs != nil {
		what = fmt.Sprintf("the new table %s %s (%d rules)", Family, Table, rs.Rules())
	}
	cause := err
	var errno unix.Errno
	if errors.As(err, &errno) {
		cause = errno
	}
	hint := ""
	if c, done, cerr := n.conn(); cerr == nil {
		tables, _ := c.ListTablesOfFamily(nftables.TableFamilyINet)
		done()
		for _, t := range tables {
			// google/nftables v0.3.0 decodes the big-endian attribute
			// in host order; table flags are small numbers either way.
			flags := t.Flags
			if flags > 0xffff {
				flags = bits.ReverseBytes32(flags)
			}
			if t.Name == Table && flags&tableFlagOwner != 0 {
				hint = fmt.Sprintf("; table %s %s is owned by another process (nftables' owner flag): only that process can change it, and the table goes when it ends", Family, Table)
			}
		}
	}
	return fmt.Errorf("the kernel refused %s: %w%s; the batch is all or nothing: the table in force was left as it was", what, cause, hint)
}

// Current reads phoenix's table back; nil when there is none.
func (n *Netlink) Current() (*Ruleset, error) {
	c, done, err := n.conn()
	if err != nil {
		return nil, err
	}
	defer done()
	tables, err := c.ListTablesOfFamily(nftables.TableFamilyINet)
	if err != nil {
		return nil, fmt.Errorf("nftables: list tables: %w", err)
	}
	if !slices.ContainsFunc(tables, func(t *nftables.Table) bool { return t.Name == Table }) {
		return nil, nil
	}
	// The table is read in several dumps (chains, sets, rules): one that
	// another process replaces meanwhile (a rollback, an operator's nft -f)
	// loses an object between them. Read it again, whole.
	for try := 1; ; try++ {
		rs, err := decode(c)
		if err == nil || try == 5 || !vanished(err) {
			return rs, err
		}
		time.Sleep(time.Duration(try) * 20 * time.Millisecond)
	}
}

// vanished reports an error from an object that went away mid-read.
func vanished(err error) bool {
	return errors.Is(err, syscall.ENOENT) || strings.Contains(err.Error(), "no such file or directory")
}

// Sysctl reads a sysctl of the namespace.
func (n *Netlink) Sysctl(key string) (string, error) { return netns.ReadSysctl(n.NS, key) }

// SetSysctl writes a sysctl of the namespace.
func (n *Netlink) SetSysctl(key, value string) error { return netns.WriteSysctl(n.NS, key, value) }

// Registers: 16-byte NFT_REG_1 for single matches; 4-byte registers from
// NFT_REG32_00 for the fields of a concatenation.
const (
	reg1    = 1
	reg32_0 = 8
)

var (
	hooks    = map[string]*nftables.ChainHook{"input": nftables.ChainHookInput, "forward": nftables.ChainHookForward, "output": nftables.ChainHookOutput}
	protos   = map[string]byte{"icmp": unix.IPPROTO_ICMP, "tcp": unix.IPPROTO_TCP, "udp": unix.IPPROTO_UDP, "icmpv6": unix.IPPROTO_ICMPV6}
	nfprotos = map[string]byte{"ip": unix.NFPROTO_IPV4, "ip6": unix.NFPROTO_IPV6}
	ctStates = []struct {
		name string
		bit  uint32
	}{{"invalid", 1}, {"established", 2}, {"related", 4}, {"new", 8}, {"untracked", 64}}
	icmpTypes = map[string]map[string]byte{
		"icmp": {"echo-reply": 0, "destination-unreachable": 3, "echo-request": 8, "time-exceeded": 11, "parameter-problem": 12},
		"icmpv6": {"destination-unreachable": 1, "packet-too-big": 2, "time-exceeded": 3, "parameter-problem": 4,
			"echo-request": 128, "echo-reply": 129, "nd-router-solicit": 133, "nd-router-advert": 134,
			"nd-neighbor-solicit": 135, "nd-neighbor-advert": 136},
	}
	setTypes = map[string]nftables.SetDatatype{
		"ipv4_addr": nftables.TypeIPAddr, "ipv6_addr": nftables.TypeIP6Addr, "inet_service": nftables.TypeInetService,
		"icmp_type": nftables.TypeICMPType, "icmpv6_type": nftables.TypeICMP6Type,
	}
)

// addrField is where an address lies in the network header.
func addrField(fam, dir string) (off, n uint32) {
	switch {
	case fam == "ip" && dir == "saddr":
		return 12, 4
	case fam == "ip":
		return 16, 4
	case dir == "saddr":
		return 8, 16
	}
	return 24, 16
}

func encode(c *nftables.Conn, rs *Ruleset) error {
	t := c.AddTable(table)
	sets := map[string]*nftables.Set{}
	for _, s := range rs.Sets {
		var types []nftables.SetDatatype
		for _, ty := range s.Type {
			st, ok := setTypes[ty]
			if !ok {
				return fmt.Errorf("set %s: unknown type %s", s.Name, ty)
			}
			types = append(types, st)
		}
		kt := types[0]
		if len(types) > 1 {
			var err error
			if kt, err = nftables.ConcatSetType(types...); err != nil {
				return fmt.Errorf("set %s: %w", s.Name, err)
			}
		}
		ns := &nftables.Set{Table: t, Name: s.Name, KeyType: kt, Concatenation: len(types) > 1}
		var elems []nftables.SetElement
		for _, e := range s.Elements {
			k, err := elementKey(s.Type, e.Key)
			if err != nil {
				return fmt.Errorf("set %s: %w", s.Name, err)
			}
			elems = append(elems, nftables.SetElement{Key: k, Comment: e.Comment})
		}
		if err := c.AddSet(ns, elems); err != nil {
			return fmt.Errorf("set %s: %w", s.Name, err)
		}
		sets[s.Name] = ns
	}
	for _, ch := range rs.Chains {
		hook, ok := hooks[ch.Hook]
		if !ok {
			return fmt.Errorf("chain %s: unknown hook %q", ch.Name, ch.Hook)
		}
		pol := nftables.ChainPolicyDrop
		if ch.Policy == "accept" {
			pol = nftables.ChainPolicyAccept
		}
		nc := c.AddChain(&nftables.Chain{Name: ch.Name, Table: t, Type: nftables.ChainTypeFilter, Hooknum: hook,
			Priority: nftables.ChainPriorityRef(nftables.ChainPriority(ch.Prio)), Policy: &pol})
		for i, r := range ch.Rules {
			exprs, err := ruleExprs(c, t, sets, r)
			if err != nil {
				return fmt.Errorf("chain %s rule %d (%s): %w", ch.Name, i+1, r.Text(), err)
			}
			nr := &nftables.Rule{Table: t, Chain: nc, Exprs: exprs}
			if r.Comment != "" {
				nr.UserData = userdata.AppendString(nil, userdata.TypeComment, r.Comment)
			}
			c.AddRule(nr)
		}
	}
	return nil
}

func elementKey(types, key []string) ([]byte, error) {
	if len(types) != len(key) {
		return nil, fmt.Errorf("element %s: %d fields for a key of %d", strings.Join(key, " . "), len(key), len(types))
	}
	var out []byte
	for i, ty := range types {
		b, err := valueBytes(ty, key[i])
		if err != nil {
			return nil, err
		}
		if len(types) > 1 {
			for len(b)%4 != 0 {
				b = append(b, 0)
			}
		}
		out = append(out, b...)
	}
	return out, nil
}

func valueBytes(ty, v string) ([]byte, error) {
	switch ty {
	case "ipv4_addr", "ipv6_addr":
		a, err := netip.ParseAddr(v)
		if err != nil || a.Is4() != (ty == "ipv4_addr") {
			return nil, fmt.Errorf("%q is not an %s", v, ty)
		}
		return a.AsSlice(), nil
	case "inet_service":
		p, err := strconv.ParseUint(v, 10, 16)
		if err != nil {
			return nil, fmt.Errorf("%q is not a port", v)
		}
		return binaryutil.BigEndian.PutUint16(uint16(p)), nil
	case "icmp_type", "icmpv6_type":
		n, ok := icmpTypes[strings.TrimSuffix(ty, "_type")][v]
		if !ok {
			return nil, fmt.Errorf("%q is not an %s", v, ty)
		}
		return []byte{n}, nil
	}
	return nil, fmt.Errorf("unknown type %s", ty)
}

func cmpEq(reg uint32, data []byte) *expr.Cmp {
	return &expr.Cmp{Op: expr.CmpOpEq, Register: reg, Data: data}
}

func ruleExprs(c *nftables.Conn, t *nftables.Table, sets map[string]*nftables.Set, r Rule) ([]expr.Any, error) {
	if r.Unknown != "" {
		return nil, fmt.Errorf("a rule phoenix did not write cannot be written back")
	}
	var out []expr.Any
	// match loads a field into reg1 and compares it with m: equality, a
	// prefix, an anonymous set or a named set.
	match := func(load expr.Any, ty string, m Match) error {
		out = append(out, load)
		switch {
		case m.Set != "":
			s, ok := sets[m.Set]
			if !ok {
				// Left for the kernel to refuse, as nft would.
				out = append(out, &expr.Lookup{SourceRegister: reg1, SetName: m.Set})
				return nil
			}
			out = append(out, &expr.Lookup{SourceRegister: reg1, SetName: s.Name, SetID: s.ID})
		case len(m.Values) == 1 && strings.Contains(m.Values[0], "/"):
			p, err := netip.ParsePrefix(m.Values[0])
			if err != nil {
				return err
			}
			n := uint32(p.Addr().BitLen() / 8)
			mask := make([]byte, n)
			for i := 0; i < p.Bits(); i++ {
				mask[i/8] |= 0x80 >> (i % 8)
			}
			out = append(out, &expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: n, Mask: mask, Xor: make([]byte, n)},
				cmpEq(reg1, p.Masked().Addr().AsSlice()))
		case len(m.Values) == 1:
			b, err := valueBytes(ty, m.Values[0])
			if err != nil {
				return err
			}
			out = append(out, cmpEq(reg1, b))
		default:
			s := &nftables.Set{Table: t, Anonymous: true, Constant: true, KeyType: setTypes[ty]}
			var elems []nftables.SetElement
			for _, v := range m.Values {
				b, err := valueBytes(ty, v)
				if err != nil {
					return err
				}
				elems = append(elems, nftables.SetElement{Key: b})
			}
			if err := c.AddSet(s, elems); err != nil {
				return err
			}
			out = append(out, &expr.Lookup{SourceRegister: reg1, SetName: s.Name, SetID: s.ID})
		}
		return nil
	}
	if r.IIf != "" {
		out = append(out, &expr.Meta{Key: expr.MetaKeyIIFNAME, Register: reg1}, cmpEq(reg1, []byte(r.IIf+"\x00")))
	}
	if r.IPFamily != "" {
		out = append(out, &expr.Meta{Key: expr.MetaKeyNFPROTO, Register: reg1}, cmpEq(reg1, []byte{nfprotos[r.IPFamily]}))
	}
	if r.Proto != "" {
		p, ok := protos[r.Proto]
		if !ok {
			return nil, fmt.Errorf("unknown protocol %q", r.Proto)
		}
		out = append(out, &expr.Meta{Key: expr.MetaKeyL4PROTO, Register: reg1}, cmpEq(reg1, []byte{p}))
	}
	addrType := "ipv4_addr"
	if r.IPFamily == "ip6" {
		addrType = "ipv6_addr"
	}
	if r.Concat != "" {
		so, sn := addrField(r.IPFamily, "saddr")
		do, dn := addrField(r.IPFamily, "daddr")
		step := sn / 4
		out = append(out,
			&expr.Payload{DestRegister: reg32_0, Base: expr.PayloadBaseNetworkHeader, Offset: so, Len: sn},
			&expr.Payload{DestRegister: reg32_0 + step, Base: expr.PayloadBaseNetworkHeader, Offset: do, Len: dn},
			&expr.Payload{DestRegister: reg32_0 + 2*step, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2})
		s, ok := sets[r.Concat]
		if !ok {
			out = append(out, &expr.Lookup{SourceRegister: reg32_0, SetName: r.Concat})
		} else {
			out = append(out, &expr.Lookup{SourceRegister: reg32_0, SetName: s.Name, SetID: s.ID})
		}
	}
	for _, a := range []struct {
		dir string
		m   Match
	}{{"saddr", r.Saddr}, {"daddr", r.Daddr}} {
		if a.m.empty() {
			continue
		}
		if r.IPFamily == "" {
			return nil, fmt.Errorf("an address match without an IP family")
		}
		off, n := addrField(r.IPFamily, a.dir)
		if err := match(&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseNetworkHeader, Offset: off, Len: n}, addrType, a.m); err != nil {
			return nil, err
		}
	}
	if !r.DPort.empty() && r.Concat == "" {
		if err := match(&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2}, "inet_service", r.DPort); err != nil {
			return nil, err
		}
	}
	if len(r.ICMPTypes) > 0 {
		if r.Proto != "icmp" && r.Proto != "icmpv6" {
			return nil, fmt.Errorf("icmp types without proto icmp or icmpv6")
		}
		if err := match(&expr.Payload{DestRegister: reg1, Base: expr.PayloadBaseTransportHeader, Offset: 0, Len: 1}, r.Proto+"_type", Match{Values: r.ICMPTypes}); err != nil {
			return nil, err
		}
	}
	if len(r.CtState) > 0 {
		var bits uint32
		for _, s := range r.CtState {
			i := slices.IndexFunc(ctStates, func(x struct {
				name string
				bit  uint32
			}) bool {
				return x.name == s
			})
			if i < 0 {
				return nil, fmt.Errorf("unknown ct state %q", s)
			}
			bits |= ctStates[i].bit
		}
		out = append(out, &expr.Ct{Register: reg1, Key: expr.CtKeySTATE},
			&expr.Bitwise{SourceRegister: reg1, DestRegister: reg1, Len: 4, Mask: binaryutil.NativeEndian.PutUint32(bits), Xor: make([]byte, 4)},
			&expr.Cmp{Op: expr.CmpOpNeq, Register: reg1, Data: make([]byte, 4)})
	}
	switch r.Verdict {
	case "accept":
		out = append(out, &expr.Verdict{Kind: expr.VerdictAccept})
	case "drop":
		out = append(out, &expr.Verdict{Kind: expr.VerdictDrop})
	default:
		return nil, fmt.Errorf("unknown verdict %q", r.Verdict)
	}
	return out, nil
}

// decode reads phoenix's table into the model. Rules outside phoenix's
// vocabulary come back with Unknown set, so they never compare equal.
func decode(c *nftables.Conn) (*Ruleset, error) {
	sets, err := c.GetSets(table)
	if err != nil {
		return nil, fmt.Errorf("nftables: list sets: %w", err)
	}
	byName := map[string]*nftables.Set{}
	elems := map[string][]nftables.SetElement{}
	rs := &Ruleset{}
	for _, s := range sets {
		byName[s.Name] = s
		es, err := c.GetSetElements(s)
		if err != nil {
			return nil, fmt.Errorf("nftables: set %s: %w", s.Name, err)
		}
		elems[s.Name] = es
		if s.Anonymous {
			continue
		}
		ms := Set{Name: s.Name}
		types := []nftables.SetDatatype{s.KeyType}
		if s.Concatenation || strings.Contains(s.KeyType.Name, " . ") {
			types = nftables.ConcatSetTypeElements(s.KeyType)
		}
		for _, ty := range types {
			ms.Type = append(ms.Type, ty.Name)
		}
		for _, e := range es {
			key, err := keyValues(ms.Type, e.Key)
			if err != nil {
				return nil, fmt.Errorf("set %s: %w", s.Name, err)
			}
			ms.Elements = append(ms.Elements, Element{Key: key, Comment: e.Comment})
		}
		rs.Sets = append(rs.Sets, ms)
	}
	slices.SortFunc(rs.Sets, func(a, b Set) int { return strings.Compare(a.Name, b.Name) })
	chains, err := c.ListChainsOfTableFamily(nftables.TableFamilyINet)
	if err != nil {
		return nil, fmt.Errorf("nftables: list chains: %w", err)
	}
	for _, ch := range chains {
		if ch.Table.Name != Table {
			continue
		}
		mc := Chain{Name: ch.Name, Policy: "accept"}
		if ch.Hooknum != nil {
			for name, h := range hooks {
				if *h == *ch.Hooknum {
					mc.Hook = name
				}
			}
		}
		if ch.Priority != nil {
			mc.Prio = int(*ch.Priority)
		}
		if ch.Policy != nil && *ch.Policy == nftables.ChainPolicyDrop {
			mc.Policy = "drop"
		}
		rules, err := c.GetRules(table, ch)
		if err != nil {
			return nil, fmt.Errorf("nftables: chain %s: %w", ch.Name, err)
		}
		for _, r := range rules {
			mr := decodeRule(r.Exprs, byName, elems)
			if cm, ok := userdata.GetString(r.UserData, userdata.TypeComment); ok {
				mr.Comment = cm
			}
			mc.Rules = append(mc.Rules, mr)
		}
		rs.Chains = append(rs.Chains, mc)
	}
	// Chains in phoenix's order: input before forward before the rest.
	order := map[string]int{"input": 0, "forward": 1, "output": 2}
	slices.SortStableFunc(rs.Chains, func(a, b Chain) int { return order[a.Hook] - order[b.Hook] })
	return rs, nil
}

func keyValues(types []string, key []byte) ([]string, error) {
	var out []string
	for _, ty := range types {
		var n int
		switch ty {
		case "ipv4_addr":
			n = 4
		case "ipv6_addr":
			n = 16
		case "inet_service":
			n = 2
		case "icmp_type", "icmpv6_type":
			n = 1
		default:
			return nil, fmt.Errorf("unknown set type %s", ty)
		}
		if len(key) < n {
			return nil, fmt.Errorf("short key")
		}
		out = append(out, valueString(ty, key[:n]))
		if len(types) > 1 {
			n = (n + 3) / 4 * 4
		}
		key = key[min(n, len(key)):]
	}
	return out, nil
}

func valueString(ty string, b []byte) string {
	switch ty {
	case "ipv4_addr", "ipv6_addr":
		a, _ := netip.AddrFromSlice(b)
		return a.String()
	case "inet_service":
		return strconv.Itoa(int(binary.BigEndian.Uint16(b)))
	case "icmp_type", "icmpv6_type":
		for name, n := range icmpTypes[strings.TrimSuffix(ty, "_type")] {
			if n == b[0] {
				return name
			}
		}
	}
	return fmt.Sprintf("0x%x", b)
}

// decodeRule reverses ruleExprs.
func decodeRule(exprs []expr.Any, sets map[string]*nftables.Set, elems map[string][]nftables.SetElement) Rule {
	var r Rule
	unknown := func(e expr.Any) Rule {
		return Rule{Unknown: fmt.Sprintf("%d expressions, the first not understood a %T", len(exprs), e)}
	}
	// loaded is what the last load put in a register: a field name.
	type field struct {
		name   string // iifname nfproto l4proto saddr daddr dport type ct
		reg    uint32
		prefix int // bits of a bitwise mask, -1 without
		mask   []byte
	}
	var loaded []field
	setValues := func(name, ty string) []string {
		var out []string
		for _, e := range elems[name] {
			out = append(out, valueString(ty, e.Key))
		}
		return sortValues(out)
	}
	for _, e := range exprs {
		switch e := e.(type) {
		case *expr.Meta:
			switch e.Key {
			case expr.MetaKeyIIFNAME:
				loaded = []field{{name: "iifname", reg: e.Register, prefix: -1}}
			case expr.MetaKeyNFPROTO:
				loaded = []field{{name: "nfproto", reg: e.Register, prefix: -1}}
			case expr.MetaKeyL4PROTO:
				loaded = []field{{name: "l4proto", reg: e.Register, prefix: -1}}
			default:
				return unknown(e)
			}
		case *expr.Payload:
			name := ""
			switch {
			case e.Base == expr.PayloadBaseNetworkHeader:
				// nft loads only the bytes a byte-aligned prefix needs.
				so, sn := addrField(r.IPFamily, "saddr")
				do, _ := addrField(r.IPFamily, "daddr")
				switch {
				case r.IPFamily == "" || e.Len == 0 || e.Len > sn:
					return unknown(e)
				case e.Offset == so:
					name = "saddr"
				case e.Offset == do:
					name = "daddr"
				default:
					return unknown(e)
				}
			case e.Base == expr.PayloadBaseTransportHeader && e.Offset == 2 && e.Len == 2:
				name = "dport"
			case e.Base == expr.PayloadBaseTransportHeader && e.Offset == 0 && e.Len == 1:
				name = "type"
			default:
				return unknown(e)
			}
			f := field{name: name, reg: e.DestRegister, prefix: -1}
			if _, full := addrField(r.IPFamily, name); (name == "saddr" || name == "daddr") && e.Len < full {
				f.prefix = int(e.Len) * 8
			}
			if len(loaded) > 0 && e.DestRegister >= reg32_0 && loaded[len(loaded)-1].reg >= reg32_0 {
				loaded = append(loaded, f) // a concatenation
			} else {
				loaded = []field{f}
			}
		case *expr.Ct:
			if e.Key != expr.CtKeySTATE {
				return unknown(e)
			}
			loaded = []field{{name: "ct", reg: e.Register, prefix: -1}}
		case *expr.Bitwise:
			if len(loaded) != 1 {
				return unknown(e)
			}
			loaded[0].mask = e.Mask
			loaded[0].prefix = maskBits(e.Mask)
		case *expr.Cmp:
			if len(loaded) != 1 {
				return unknown(e)
			}
			f := loaded[0]
			loaded = nil
			if f.name == "ct" {
				if e.Op != expr.CmpOpNeq || len(f.mask) != 4 {
					return unknown(e)
				}
				bits := binaryutil.NativeEndian.Uint32(f.mask)
				for _, s := range ctStates {
					if bits&s.bit != 0 {
						r.CtState = append(r.CtState, s.name)
					}
				}
				continue
			}
			if e.Op != expr.CmpOpEq {
				return unknown(e)
			}
			switch f.name {
			case "iifname":
				r.IIf = string(bytes.TrimRight(e.Data, "\x00"))
			case "nfproto":
				for k, v := range nfprotos {
					if len(e.Data) == 1 && v == e.Data[0] {
						r.IPFamily = k
					}
				}
			case "l4proto":
				for k, v := range protos {
					if len(e.Data) == 1 && v == e.Data[0] {
						r.Proto = k
					}
				}
			case "saddr", "daddr":
				n := 4
				if r.IPFamily == "ip6" {
					n = 16
				}
				if len(e.Data) > n {
					return unknown(e)
				}
				a, ok := netip.AddrFromSlice(append(slices.Clone(e.Data), make([]byte, n-len(e.Data))...))
				if !ok {
					return unknown(e)
				}
				v := a.String()
				if f.prefix >= 0 {
					v = netip.PrefixFrom(a, f.prefix).String()
				}
				if f.name == "saddr" {
					r.Saddr = Match{Values: []string{v}}
				} else {
					r.Daddr = Match{Values: []string{v}}
				}
			case "dport":
				r.DPort = Match{Values: []string{valueString("inet_service", e.Data)}}
			case "type":
				r.ICMPTypes = []string{valueString(r.Proto+"_type", e.Data)}
			default:
				return unknown(e)
			}
		case *expr.Lookup:
			if e.Invert || len(loaded) == 0 {
				return unknown(e)
			}
			s := sets[e.SetName]
			if len(loaded) > 1 {
				r.Concat = e.SetName
				loaded = nil
				continue
			}
			f := loaded[0]
			loaded = nil
			var m Match
			ty := ""
			switch f.name {
			case "saddr", "daddr":
				ty = "ipv4_addr"
				if r.IPFamily == "ip6" {
					ty = "ipv6_addr"
				}
			case "dport":
				ty = "inet_service"
			case "type":
				ty = r.Proto + "_type"
			default:
				return unknown(e)
			}
			if s != nil && s.Anonymous {
				m.Values = setValues(e.SetName, ty)
			} else {
				m.Set = e.SetName
			}
			switch f.name {
			case "saddr":
				r.Saddr = m
			case "daddr":
				r.Daddr = m
			case "dport":
				r.DPort = m
			case "type":
				r.ICMPTypes = m.Values
			}
		case *expr.Verdict:
			switch e.Kind {
			case expr.VerdictAccept:
				r.Verdict = "accept"
			case expr.VerdictDrop:
				r.Verdict = "drop"
			default:
				return unknown(e)
			}
		default:
			return unknown(e)
		}
	}
	return r
}

// maskBits is the prefix length of a contiguous mask, or -1.
func maskBits(m []byte) int {
	n, ones := 0, true
	for _, b := range m {
		for i := 7; i >= 0; i-- {
			set := b&(1<<i) != 0
			switch {
			case set && ones:
				n++
			case set:
				return -1
			default:
				ones = false
			}
		}
	}
	return n
}
