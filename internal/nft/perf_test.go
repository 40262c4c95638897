package nft_test

import (
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"phoenix/internal/netns"
	"phoenix/internal/nft"
	"phoenix/internal/testkit"
)

var perf = flag.Bool("nft.perf", false, "measure applying rulesets against the nft command (docs/performance.md)")

// synthetic makes n guest-to-guest tcp flows between distinct addresses.
func synthetic(n int) []nft.Flow {
	out := make([]nft.Flow, n)
	for i := range out {
		src := netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)})
		dst := netip.AddrFrom4([4]byte{10, 2, byte(i >> 8), byte(i)})
		out[i] = nft.Flow{N: i + 1, Proto: "tcp", Port: 1000 + i%50000,
			Src: nft.Endpoint{Name: src.String(), Guests: true, Addrs: []netip.Prefix{netip.PrefixFrom(src, 32)}},
			Dst: nft.Endpoint{Name: dst.String(), Guests: true, Addrs: []netip.Prefix{netip.PrefixFrom(dst, 32)}}}
	}
	return out
}

// TestPerformance prints the figures of docs/performance.md:
//
//	go test -count=1 -run TestPerformance ./internal/nft/ -nft.perf -v
//
// Each figure is the median of alternating runs in one namespace.
func TestPerformance(t *testing.T) {
	if !*perf {
		t.Skip("skipped: a measurement, run with -nft.perf")
	}
	if os.Geteuid() != 0 {
		t.Skip("skipped: network namespaces need root")
	}
	nftBin := testkit.Tool(t, "nft")
	testkit.Tool(t, "ip")
	ns := "pxf-perf"
	exec.Command("ip", "netns", "del", ns).Run()
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	be := &nft.Netlink{NS: ns}
	dir := t.TempDir()
	const runs = 9

	// nftF runs `nft -f file` inside ns: forked from a thread that joined
	// it, so no ip-netns-exec start-up is counted.
	nftRun := func(args ...string) time.Duration {
		var took time.Duration
		err := netns.Do(ns, func() error {
			start := time.Now()
			out, err := exec.Command(nftBin, args...).CombinedOutput()
			took = time.Since(start)
			if err != nil {
				return fmt.Errorf("nft %s: %v\n%s", strings.Join(args, " "), err, out)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return took
	}
	timeGo := func(f func() error) time.Duration {
		start := time.Now()
		if err := f(); err != nil {
			t.Fatal(err)
		}
		return time.Since(start)
	}
	median := func(d []time.Duration) time.Duration {
		slices.Sort(d)
		return d[len(d)/2]
	}
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

	t.Logf("| flows | phoenix, one rule per flow | nft -f, same text | ratio | phoenix, one set | nft -f, one set | ratio | set vs nft -f rules | read back (rules) |")
	t.Logf("|---|---|---|---|---|---|---|---|---|")
	var perRule10k time.Duration
	for _, n := range []int{10, 100, 1000, 10000} {
		flows := synthetic(n)
		rules, err := nft.Build(flows, nft.Options{})
		if err != nil {
			t.Fatal(err)
		}
		set, err := nft.Build(flows, nft.Options{SetFrom: 1})
		if err != nil {
			t.Fatal(err)
		}
		rulesFile, setFile := filepath.Join(dir, "rules.nft"), filepath.Join(dir, "set.nft")
		os.WriteFile(rulesFile, []byte(nft.Render(rules)), 0o644)
		os.WriteFile(setFile, []byte(nft.Render(set)), 0o644)
		var pr, nr, ps, nsf, rb []time.Duration
		for range runs {
			pr = append(pr, timeGo(func() error { return be.Apply(rules) }))
			rb = append(rb, timeGo(func() error {
				got, err := be.Current()
				if err == nil && !nft.Equal(got, rules) {
					err = fmt.Errorf("read back differs at %d flows", n)
				}
				return err
			}))
			nr = append(nr, nftRun("-f", rulesFile))
			ps = append(ps, timeGo(func() error { return be.Apply(set) }))
			nsf = append(nsf, nftRun("-f", setFile))
		}
		mpr, mnr, mps, mns := median(pr), median(nr), median(ps), median(nsf)
		t.Logf("| %d | %s | %s | %.2f | %s | %s | %.2f | %.3f | %s |", n, ms(mpr), ms(mnr), float64(mpr)/float64(mnr),
			ms(mps), ms(mns), float64(mps)/float64(mns), float64(mps)/float64(mnr), ms(median(rb)))
		if n == 10000 {
			perRule10k = mpr
		}
	}

	// The old scripts' way: one nft add rule per rule.
	const calls = 200
	be.Apply(&nft.Ruleset{Chains: []nft.Chain{{Name: "forward", Hook: "forward", Policy: "drop"}}})
	var each []time.Duration
	for _, f := range synthetic(calls) {
		r, _ := nft.Build([]nft.Flow{f}, nft.Options{})
		text := r.Chain("forward").Rules[1].Text()
		each = append(each, nftRun("add rule inet phoenix forward "+text))
	}
	var total time.Duration
	for _, d := range each {
		total += d
	}
	per := median(each)
	t.Logf("%d separate `nft add rule` calls: %s in all, median %s per call; 10,000 that way ≈ %.1f s, %.0fx phoenix's one batch of 10,000 (%s)",
		calls, ms(total), ms(per), (per * 10000).Seconds(), float64(per*10000)/float64(perRule10k), ms(perRule10k))
}

// BenchmarkApply10k applies 10,000 flow rules in one batch (profile with
// -cpuprofile); run as root.
func BenchmarkApply10k(b *testing.B) {
	if os.Geteuid() != 0 {
		b.Skip("skipped: network namespaces need root")
	}
	ns := "pxf-bench"
	exec.Command("ip", "netns", "del", ns).Run()
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		b.Fatalf("ip netns add: %v %s", err, out)
	}
	b.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	rs, err := nft.Build(synthetic(10000), nft.Options{})
	if err != nil {
		b.Fatal(err)
	}
	be := &nft.Netlink{NS: ns}
	for b.Loop() {
		if err := be.Apply(rs); err != nil {
			b.Fatal(err)
		}
	}
}
