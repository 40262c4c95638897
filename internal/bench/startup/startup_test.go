// Package startup measures phoenix's start-up against a bare interpreter
// that links the same packages. Run:
//
//	PHOENIX_TIMING=1 go test ./internal/bench/startup -run TestStartup -v -count=1
package startup

import (
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"phoenix/internal/testkit"
)

const runs = 41

func median(d []time.Duration) time.Duration {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d[len(d)/2]
}

func TestStartup(t *testing.T) {
	testkit.NeedTiming(t)
	dir := t.TempDir()
	phoenix := testkit.Phoenix(t)
	bare := testkit.Build(t, "./internal/bench/bareinterp", "bare")
	script := filepath.Join(dir, "one.star")
	if err := os.WriteFile(script, []byte("x = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(dir, "root")
	time1 := func(argv ...string) time.Duration {
		start := time.Now()
		cmd := exec.Command(argv[0], argv[1:]...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v: %v\n%s", argv, err, out)
		}
		return time.Since(start)
	}
	var p, b []time.Duration
	for i := 0; i < runs; i++ { // interleaved, so both see the same machine
		p = append(p, time1(phoenix, "exec", "--sim", "--root", root, script))
		b = append(b, time1(bare, script))
	}
	pm, bm := median(p), median(b)
	ratio := float64(pm) / float64(bm)
	st, _ := os.Stat(phoenix)
	t.Logf("phoenix exec one-line script: median %.1f ms over %d runs", float64(pm.Microseconds())/1000, runs)
	t.Logf("bare interpreter, same packages: median %.1f ms", float64(bm.Microseconds())/1000)
	t.Logf("ratio phoenix/bare: %.2f (target <= 1.50)", ratio)
	t.Logf("binary size: %.1f MB", float64(st.Size())/1e6)
	if ratio > 1.5 {
		t.Errorf("phoenix start-up is %.2fx the bare interpreter's; the target is at most 1.5x", ratio)
	}
}
