package site_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"phoenix/internal/site"
	"phoenix/internal/site/sitegen"
	"phoenix/internal/testkit"
)

// The performance target: validating a site of 2,000 guests and 20,000
// DNS records takes at most half the time jq needs merely to parse and
// merge the same three files.
//
//	PHOENIX_TIMING=1 go test ./internal/site -run TestValidateVersusJQ -v
//
// Without PHOENIX_TIMING=1 it only checks that the generated site is valid.
const (
	perfGuests  = 2000
	perfRecords = 20000
	perfRuns    = 11
)

// generateSite writes a valid site of n guests with records DNS records
// in all, based on the example's hypervisor file.
func generateSite(t testing.TB, dir string, n, records int) {
	t.Helper()
	example, err := os.ReadFile(filepath.Join("..", "..", "config", site.HypervisorFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := sitegen.Write(dir, example, n, records); err != nil {
		t.Fatal(err)
	}
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func timeCmd(t *testing.T, cmd *exec.Cmd) time.Duration {
	t.Helper()
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %v\n%s", cmd.Args, err, out)
	}
	return time.Since(start)
}

func TestValidateVersusJQ(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the comparison with jq takes a few seconds")
	}
	jq := testkit.Tool(t, "jq")
	dir := t.TempDir()
	generateSite(t, dir, perfGuests, perfRecords)
	s, err := site.Load(dir)
	if err != nil {
		t.Fatalf("the generated site must be valid: %v", err)
	}
	if g, r := len(s.Guests()), len(s.Records()); g != perfGuests || r < perfRecords {
		t.Fatalf("generated %d guests and %d records", g, r)
	}
	if !testkit.Timing() {
		return
	}
	var size int64
	for _, f := range site.Files {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		size += st.Size()
	}
	// The real binary, so its start-up counts as an operator would see it.
	phoenix := testkit.Phoenix(t)
	paths := []string{filepath.Join(dir, site.HypervisorFile), filepath.Join(dir, site.LXCFile), filepath.Join(dir, site.VMFile)}
	var jqT, procT, inT []time.Duration
	// Interleaved, so that both see the same machine load.
	for i := 0; i < perfRuns; i++ {
		jqT = append(jqT, timeCmd(t, exec.Command(jq, append([]string{"-s", ".[0] * .[1] * .[2]"}, paths...)...)))
		procT = append(procT, timeCmd(t, exec.Command(phoenix, "validate", "--config", dir)))
		start := time.Now()
		if err := site.Validate(dir); err != nil {
			t.Fatal(err)
		}
		inT = append(inT, time.Since(start))
	}
	j, p, in := median(jqT), median(procT), median(inT)
	t.Logf("site: %d guests, %d DNS records, %.1f MB in 3 files; medians of %d runs", perfGuests, len(s.Records()), float64(size)/1e6, perfRuns)
	t.Logf("jq -s '.[0] * .[1] * .[2]' (parse + merge): %v", j.Round(time.Millisecond/10))
	t.Logf("phoenix validate (process):                  %v  (%.2fx jq)", p.Round(time.Millisecond/10), float64(p)/float64(j))
	t.Logf("validate, in process:                        %v  (%.2fx jq)", in.Round(time.Millisecond/10), float64(in)/float64(j))
	if float64(p) > 0.5*float64(j) {
		t.Errorf("validation as a process takes %v, more than half of jq's %v", p, j)
	}
}

func BenchmarkLoadLargeSite(b *testing.B) {
	dir := b.TempDir()
	generateSite(b, dir, perfGuests, perfRecords)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := site.Load(dir); err != nil {
			b.Fatal(err)
		}
	}
}
