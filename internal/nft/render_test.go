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
