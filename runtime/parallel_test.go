package runtime_test

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"phoenix/builtins"
	"phoenix/runtime/runtimetest"
)

// Parallel steps that share a resource none of them declares alone (a
// parent directory, a parent dataset) race to make it. The report must
// not show who won: the same run prints the same plan every time.
func TestParallelReportIsDeterministic(t *testing.T) {
	script := filepath.Join(t.TempDir(), "race.star")
	err := os.WriteFile(script, []byte(`
def step(i):
    fs.write("/srv/race/a/b/f%d" % i, "x")
    fs.mkdir("/srv/race/shared")
    zfs.dataset_ensure("quickOS/race/shared/d%d" % i)

parallel([task(step, i, name = "s%d" % i) for i in range(6)], max = 6)
`), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	for _, dry := range []bool{true, false} {
		t.Run(fmt.Sprintf("dry-run=%v", dry), func(t *testing.T) {
			var first []string
			for run := 0; run < 25; run++ {
				rt := runtimetest.New(t, runtimetest.Options{Families: builtins.All(), DryRun: dry})
				if _, err := rt.ExecScript(script); err != nil {
					t.Fatal(err)
				}
				var got []string
				for _, c := range rt.Report().Changes {
					got = append(got, c.Action+" "+c.Resource+" "+c.Detail+" "+c.Error)
				}
				changed, unchanged, failed := rt.Report().Counts()
				got = append(got, fmt.Sprintf("%d changed, %d unchanged, %d failed", changed, unchanged, failed))
				if run == 0 {
					first = got
					// 5 directories, 6 files, 2 parent datasets and 6 children;
					// the shared directory the other steps found is changed,
					// so not also unchanged.
					if want := 5 + 6 + 2 + 6; changed != want || failed != 0 || unchanged != 0 {
						t.Fatalf("run 0: %d changed, %d unchanged, %d failed; want %d, 0, 0:\n%q", changed, unchanged, failed, want, got)
					}
					continue
				}
				if !reflect.DeepEqual(got, first) {
					t.Fatalf("run %d reported differently from run 0:\n%q\nvs\n%q", run, got, first)
				}
			}
		})
	}
}
