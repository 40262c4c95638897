package runtime

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"testing"
)

// Parallel steps writing into one new directory must create it once, not
// race each other to mkdir and fail with "file exists".
func TestEnsureFileSharedParentInParallel(t *testing.T) {
	for _, dry := range []bool{false, true} {
		t.Run(fmt.Sprintf("dry-run=%v", dry), func(t *testing.T) {
			rt := newSim(t, dry)
			const rounds, writers = 20, 16
			for r := 0; r < rounds; r++ {
				var wg sync.WaitGroup
				errs := make(chan error, writers)
				for w := 0; w < writers; w++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						th := rt.NewThread(fmt.Sprint("w", w), rt.Report(), io.Discard)
						defer rt.Release(th)
						path := fmt.Sprintf("/r%d/a/b/f%d", r, w)
						if _, err := rt.EnsureFile(th, FileSpec{Path: path, Data: []byte("x"), Mode: 0o644, UID: -1, GID: -1}); err != nil {
							errs <- err
						}
					}()
				}
				wg.Wait()
				close(errs)
				for err := range errs {
					t.Fatalf("round %d: %v", r, err)
				}
			}
			dirs := map[string]int{}
			for _, c := range rt.Report().Changes {
				if c.Error != "" {
					t.Errorf("%s failed: %s", c.Resource, c.Error)
				}
				if c.Resource[:4] == "dir:" {
					dirs[c.Resource]++
				}
			}
			if len(dirs) != rounds*3 {
				t.Errorf("%d directories created, want %d", len(dirs), rounds*3)
			}
			for d, n := range dirs {
				if n != 1 {
					t.Errorf("%s created %d times", d, n)
				}
			}
		})
	}
}

// newSim is a --sim runtime in a fresh root, closed with the test.
func newSim(t *testing.T, dry bool) *Runtime {
	t.Helper()
	rt, err := New(context.Background(), Options{Sim: true, DryRun: dry, RootDir: filepath.Join(t.TempDir(), "root"), Stderr: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rt.Close)
	return rt
}
