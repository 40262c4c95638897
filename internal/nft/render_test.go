package nft_test

import (
	"os/exec"
	"strings"
	"testing"

	"phoenix/internal/nft"
	"phoenix/internal/nft/replica"
	"phoenix/internal/testkit"
)

// TestRenderIsNftSyntax loads render(rs) with the real nft and reads the
// table back over netlink: the text is the same ruleset.
func TestRenderIsNftSyntax(t *testing.T) {
	s := exampleSite(t)
	r := replica.New(t, "pxfrn", s)
	nftBin := testkit.Tool(t, "nft")
	for _, o := range []nft.Options{nft.DefaultOptions, {SetFrom: 2}} {
		rs := build(t, s, o)
		cmd := exec.Command("ip", "netns", "exec", r.HV, nftBin, "-f", "-")
		cmd.Stdin = strings.NewReader(nft.Render(rs))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("nft -f: %v\n%s\n%s", err, out, nft.Render(rs))
		}
		got, err := (&nft.Netlink{NS: r.HV}).Current()
		if err != nil {
			t.Fatal(err)
		}
		if !nft.Equal(got, rs) {
			out, _ := exec.Command("ip", "netns", "exec", r.HV, nftBin, "--debug=netlink", "list", "table", "inet", "phoenix").CombinedOutput()
			t.Fatalf("nft -f of the text reads back differently:\n--- rendered\n%s--- read\n%s--- nft\n%s", nft.RenderTable(rs), nft.RenderTable(got), out)
		}
	}
}

// TestOtherTablesAndHandEdits: apply replaces phoenix's table only; a rule
// added to it by hand reads back as not written by phoenix, so the table
// no longer matches and the next apply replaces it.
func TestOtherTablesAndHandEdits(t *testing.T) {
	s := exampleSite(t)
	r := replica.New(t, "pxfot", s)
	nftBin := testkit.Tool(t, "nft")
	nftIn := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("ip", append([]string{"netns", "exec", r.HV, nftBin}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("nft %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	// PVE's own firewall would live in tables like these.
	cmd := exec.Command("ip", "netns", "exec", r.HV, nftBin, "-f", "-")
	cmd.Stdin = strings.NewReader("table inet pve {\n chain input {\n  type filter hook input priority -10; policy accept;\n  tcp dport 3128 accept\n }\n}\ntable ip other {\n set s {\n  type ipv4_addr\n  elements = { 192.0.2.1 }\n }\n}\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft -f: %v\n%s", err, out)
	}
	others := nftIn("list", "table", "inet", "pve") + nftIn("list", "table", "ip", "other")

	be := &nft.Netlink{NS: r.HV}
	rs := build(t, s, nft.DefaultOptions)
	for range 2 {
		if err := be.Apply(rs); err != nil {
			t.Fatal(err)
		}
	}
	if got := nftIn("list", "table", "inet", "pve") + nftIn("list", "table", "ip", "other"); got != others {
		t.Fatalf("other tables changed:\n--- before\n%s--- after\n%s", others, got)
	}

	nftIn("add", "rule", "inet", "phoenix", "forward", "ip", "saddr", "203.0.113.9", "counter", "accept")
	live, err := be.Current()
	if err != nil {
		t.Fatal(err)
	}
	if nft.Equal(live, rs) {
		t.Fatal("a rule added by hand still compares equal")
	}
	if d := nft.Diff(live, rs); !strings.Contains(d, "- # not written by phoenix") {
		t.Errorf("diff does not show the foreign rule:\n%s", d)
	}
	if err := be.Apply(rs); err != nil {
		t.Fatal(err)
	}
	if live, _ := be.Current(); !nft.Equal(live, rs) {
		t.Fatalf("apply did not replace the hand-edited table:\n%s", nft.RenderTable(live))
	}
}
