package nft

import (
	"net/netip"
	"strings"
	"testing"
)

// FuzzBuild: for any flows the builder accepts, the ruleset passes the
// checks the kernel would make, renders to text whose only top-level
// statements are phoenix's own table, and admits every declared guest-to-guest flow on
// forward, whether the flows got a rule each or share a set.
func FuzzBuild(f *testing.F) {
	f.Add(uint32(0x0a000065), uint32(0x0a000066), "tcp", uint16(8443), "101 -> 102", uint8(3), uint8(1))
	f.Add(uint32(0x0a000066), uint32(0x0a0003e9), "udp", uint16(53), "dns\nflush ruleset", uint8(70), uint8(0))
	f.Add(uint32(0), uint32(0xffffffff), "sctp", uint16(0), "\"quoted\"", uint8(1), uint8(2))
	f.Fuzz(func(t *testing.T, src, dst uint32, proto string, port uint16, comment string, n uint8, setFrom uint8) {
		addr := func(v uint32) netip.Prefix {
			return netip.PrefixFrom(netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)}), 32)
		}
		var flows []Flow
		for i := 0; i < int(n%80)+1; i++ {
			flows = append(flows, Flow{
				N: i + 1, Comment: comment, Proto: proto, Port: int(port) + i,
				Src: Endpoint{Name: "src", Guests: true, Addrs: []netip.Prefix{addr(src)}},
				Dst: Endpoint{Name: "dst", Guests: true, Addrs: []netip.Prefix{addr(dst + uint32(i))}},
			})
		}
		rs, err := Build(flows, Options{SetFrom: int(setFrom)})
		if err != nil {
			return
		}
		if err := Check(rs); err != nil {
			t.Fatalf("built ruleset fails the kernel's checks: %v", err)
		}
		text := Render(rs)
		top := map[string]bool{"add table inet phoenix": true, "delete table inet phoenix": true, "table inet phoenix {": true, "}": true}
		for _, line := range strings.Split(strings.TrimSpace(text), "\n") {
			if !strings.HasPrefix(line, "\t") && !top[line] {
				t.Fatalf("rendered text has a top-level line %q that is not phoenix's one table:\n%s", line, text)
			}
		}
		for _, fl := range flows {
			if (fl.Proto == "tcp" || fl.Proto == "udp") && fl.Port > 0 && fl.Port < 65536 &&
				!Admits(rs, "forward", fl.Src.Addrs[0], fl.Dst.Addrs[0], fl.Proto, fl.Port) {
				t.Fatalf("flow %d (%s %s -> %s port %d) is not admitted on forward:\n%s", fl.N, fl.Proto, fl.Src.Addrs[0], fl.Dst.Addrs[0], fl.Port, text)
			}
		}
	})
}
