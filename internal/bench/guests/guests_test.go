// Package guests measures scripts/guests.star under --sim on generated
// sites of 10, 100 and 1,000 guests: a fresh run and a no-op run, with
// peak memory. Run:
//
//	PHOENIX_TIMING=1 go test ./internal/bench/guests -run TestCurve -v -count=1 -timeout 30m
//
// and, for a profile of one no-op run in process:
//
//	go test ./internal/bench/guests -run '^$' -bench Noop -benchtime 3x -cpuprofile cpu.out
package guests

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"syscall"
	"testing"
	"time"

	"phoenix/internal/cli"
	"phoenix/internal/site/sitegen"
	"phoenix/internal/testkit"
)

// noops is how many no-op runs each size gets; the median is reported.
const noops = 3

type run struct {
	wall    time.Duration
	cpu     time.Duration // user and system, all threads: what load does not inflate
	peakKB  int64
	changed string
}

var summary = regexp.MustCompile(`(?m)^(\d+) changed, (\d+) unchanged`)

func phoenix(t *testing.T, bin string, args ...string) run {
	t.Helper()
	cmd := exec.Command(bin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("phoenix %v: %v\n%s", args, err, tail(out.String()))
	}
	wall := time.Since(start)
	m := summary.FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("phoenix %v: no summary line:\n%s", args, tail(out.String()))
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return run{wall: wall, cpu: cpu, peakKB: ru.Maxrss, changed: m[1]}
}

func tail(s string) string {
	if len(s) > 4000 {
		return "..." + s[len(s)-4000:]
	}
	return s
}

func site(t testing.TB, n int) string {
	t.Helper()
	example, err := os.ReadFile(filepath.Join(testkit.RepoDir(t), "config", "phoenix_hypervisor_config.json"))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "config")
	if err := sitegen.Write(dir, example, n, 0); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestCurve: the no-op cost per guest at 1,000 guests is at most 1.5x
// that at 100, and every second run reports 0 changed.
func TestCurve(t *testing.T) {
	testkit.NeedRoot(t, "guests.star chowns bind-mount directories to the containers' mapped root")
	testkit.NeedTiming(t)
	bin := testkit.Phoenix(t)
	script := filepath.Join(testkit.RepoDir(t), "scripts", "guests.star")
	perGuest := map[int]time.Duration{}
	for _, n := range []int{10, 100, 1000} {
		config := site(t, n)
		root := filepath.Join(t.TempDir(), "root")
		args := []string{"exec", "--sim", "--root", root, "--config", config, script}
		fresh := phoenix(t, bin, args...)
		var walls, cpus []time.Duration
		var peak int64
		for i := 0; i < noops; i++ {
			r := phoenix(t, bin, args...)
			if r.changed != "0" {
				t.Fatalf("%d guests: no-op run %d reported %s changed", n, i+1, r.changed)
			}
			walls, cpus = append(walls, r.wall), append(cpus, r.cpu)
			peak = max(peak, r.peakKB)
		}
		noop := median(walls)
		perGuest[n] = noop / time.Duration(n)
		t.Logf("%5d guests: fresh %8v (cpu %8v, %s changed, peak %3d MB); no-op median of %d %8v (cpu %8v, peak %3d MB), %v per guest",
			n, fresh.wall.Round(time.Millisecond), fresh.cpu.Round(time.Millisecond), fresh.changed, fresh.peakKB/1024, noops,
			noop.Round(time.Millisecond), median(cpus).Round(time.Millisecond), peak/1024, perGuest[n].Round(10*time.Microsecond))
	}
	ratio := float64(perGuest[1000]) / float64(perGuest[100])
	t.Logf("no-op per guest, 1,000 against 100: %.2fx (target at most 1.5x)", ratio)
	if ratio > 1.5 {
		t.Errorf("no-op cost per guest at 1,000 guests is %.2fx that at 100, want at most 1.5x", ratio)
	}
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// BenchmarkNoop100 and BenchmarkNoop1000 run the no-op in process, for
// profiles.
func BenchmarkNoop10(b *testing.B)   { benchNoop(b, 10) }
func BenchmarkNoop100(b *testing.B)  { benchNoop(b, 100) }
func BenchmarkNoop1000(b *testing.B) { benchNoop(b, 1000) }

func benchNoop(b *testing.B, n int) {
	config := site(b, n)
	root := filepath.Join(b.TempDir(), "root")
	script := filepath.Join(testkit.RepoDir(b), "scripts", "guests.star")
	args := []string{"exec", "--sim", "--root", root, "--config", config, script}
	var out bytes.Buffer
	if code := cli.Run(args, nil, &out, &out); code != 0 {
		b.Fatalf("fresh run: exit %d\n%s", code, tail(out.String()))
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		out.Reset()
		if code := cli.Run(args, nil, &out, io.Discard); code != 0 {
			b.Fatalf("no-op run: exit %d\n%s", code, tail(out.String()))
		}
		if m := summary.FindStringSubmatch(out.String()); m == nil || m[1] != "0" {
			b.Fatalf("no-op run changed something:\n%s", tail(out.String()))
		}
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N*n), "µs/guest")
}
