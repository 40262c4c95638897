package nft_test

import (
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"phoenix/internal/nft"
	"phoenix/internal/nft/replica"
	"phoenix/internal/site"
	"phoenix/internal/testkit"
)

func exampleSite(t *testing.T) *site.Site {
	t.Helper()
	s, err := site.Load(filepath.Join(testkit.RepoDir(t), "config"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func build(t *testing.T, s *site.Site, o nft.Options) *nft.Ruleset {
	t.Helper()
	flows, err := nft.FromSite(s)
	if err != nil {
		t.Fatal(err)
	}
	rs, err := nft.Build(flows, o)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func TestBuildExample(t *testing.T) {
	s := exampleSite(t)
	rs := build(t, s, nft.DefaultOptions)
	text := nft.RenderTable(rs)
	for _, want := range []string{
		"chain input {\n\t\ttype filter hook input priority 0; policy drop;",
		"chain forward {\n\t\ttype filter hook forward priority 0; policy drop;",
		"ct state established,related accept",
		`ip saddr 10.0.0.102 ip daddr 10.0.0.103 tcp dport 9000 accept comment "flow 5: 102 traefik -> 103 step-ca tcp/9000"`,
		`ip saddr { 10.0.0.101, 10.0.0.102, 10.0.0.103, 10.0.0.201, 10.0.0.202 } udp dport 53 accept comment "flow 9: guests -> host udp/53"`,
		`ip saddr 192.168.10.0/24 tcp dport 22 accept comment "flow 13: management -> host tcp/22"`,
		`icmp type { destination-unreachable, parameter-problem, time-exceeded } accept`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("ruleset lacks %q:\n%s", want, text)
		}
	}
	// One rule per flow and chain it reaches: flows 1-8 forward, 9-10 and
	// 13-14 input, 11-12 both.
	if got, want := rs.Rules(), 3+8+4+4; got != want {
		t.Errorf("%d rules, want %d:\n%s", got, want, text)
	}
	if err := nft.Lockout(rs, s.Hypervisor.Management.CIDR); err != nil {
		t.Errorf("the example site locks itself out: %v", err)
	}
}

func TestLockoutGuard(t *testing.T) {
	s := exampleSite(t)
	rs := build(t, s, nft.DefaultOptions)
	in := rs.Chain("input")
	in.Rules = slices.DeleteFunc(in.Rules, func(r nft.Rule) bool { return strings.Contains(r.Comment, "tcp/8006") })
	err := nft.Lockout(rs, s.Hypervisor.Management.CIDR)
	if err == nil || !strings.Contains(err.Error(), "tcp/8006") || strings.Contains(err.Error(), "tcp/22") {
		t.Fatalf("Lockout = %v, want tcp/8006 named alone", err)
	}
}

// TestNetlinkRoundTrip applies the example site's table, and the same
// flows as a concatenated set, in a namespace and reads them back equal.
func TestNetlinkRoundTrip(t *testing.T) {
	s := exampleSite(t)
	r := replica.New(t, "pxfrt", s)
	be := &nft.Netlink{NS: r.HV}
	for _, o := range []nft.Options{nft.DefaultOptions, {SetFrom: 2}} {
		rs := build(t, s, o)
		if err := be.Apply(rs); err != nil {
			t.Fatal(err)
		}
		got, err := be.Current()
		if err != nil {
			t.Fatal(err)
		}
		if !nft.Equal(got, rs) {
			t.Fatalf("read back differs:\n--- applied\n%s--- read\n%s", nft.RenderTable(rs), nft.RenderTable(got))
		}
	}
	if err := be.Apply(nil); err != nil {
		t.Fatal(err)
	}
	if got, err := be.Current(); err != nil || got != nil {
		t.Fatalf("after delete: %v, %v", got, err)
	}
}

// TestLargeBatch: with the sized socket buffers, 20,000 rules in one
// batch apply and report success (no false ENOBUFS), and read back whole.
func TestLargeBatch(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped: -short")
	}
	replica.Need(t)
	ns := "pxf-big"
	exec.Command("ip", "netns", "del", ns).Run()
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	rs, err := nft.Build(synthetic(20000), nft.Options{})
	if err != nil {
		t.Fatal(err)
	}
	be := &nft.Netlink{NS: ns}
	if err := be.Apply(rs); err != nil {
		t.Fatalf("20,000 rules: %v", err)
	}
	got, err := be.Current()
	if err != nil {
		t.Fatal(err)
	}
	if got.Rules() != rs.Rules() || !nft.Equal(got, rs) {
		t.Fatalf("read back %d rules of %d, or different", got.Rules(), rs.Rules())
	}
}

// TestDiff: an update shows the rules that go and come, under their chain.
func TestDiff(t *testing.T) {
	s := exampleSite(t)
	live := build(t, s, nft.DefaultOptions)
	want := build(t, s, nft.DefaultOptions)
	fwd := want.Chain("forward")
	fwd.Rules = append(slices.DeleteFunc(fwd.Rules, func(r nft.Rule) bool { return strings.HasPrefix(r.Comment, "flow 2:") }), nft.Rule{IPFamily: "ip", Saddr: nft.Match{Values: []string{"10.0.0.101"}}, Daddr: nft.Match{Values: []string{"10.0.0.102"}},
		Proto: "tcp", DPort: nft.Match{Values: []string{"8080"}}, Verdict: "accept", Comment: "flow 2: 101 gateway -> 102 traefik tcp/8080"})
	got := nft.Diff(live, want)
	wantDiff := "  chain forward {\n" +
		`- ip saddr 10.0.0.101 ip daddr 10.0.0.102 tcp dport 8443 accept comment "flow 2: 101 gateway -> 102 traefik tcp/8443"` + "\n" +
		"  chain forward {\n" +
		`+ ip saddr 10.0.0.101 ip daddr 10.0.0.102 tcp dport 8080 accept comment "flow 2: 101 gateway -> 102 traefik tcp/8080"`
	if got != wantDiff {
		t.Errorf("Diff:\n%s\nwant:\n%s", got, wantDiff)
	}
	if d := nft.Diff(live, live); d != "the same rules in another order" {
		t.Errorf("Diff of equal tables: %q", d)
	}
}
