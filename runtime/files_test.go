package runtime

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
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

// RemoveFile deletes once, in a plan as in an apply, and reads after it
// see the file gone; a directory is refused.
func TestRemoveFile(t *testing.T) {
	for _, dry := range []bool{false, true} {
		t.Run(fmt.Sprintf("dry-run=%v", dry), func(t *testing.T) {
			rt := newSim(t, dry)
			if err := os.MkdirAll(filepath.Join(rt.Root.Dir(), "etc/d"), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(rt.Root.Dir(), "etc/old.conf"), []byte("x"), 0o644); err != nil {
				t.Fatal(err)
			}
			th := rt.NewThread("t", rt.Report(), io.Discard)
			defer rt.Release(th)
			for i, want := range []bool{true, false} {
				changed, err := rt.RemoveFile(th, "/etc/old.conf")
				if err != nil || changed != want {
					t.Fatalf("remove %d: changed %v, %v; want %v", i, changed, err, want)
				}
				if ok, err := rt.Exists("/etc/old.conf"); ok || err != nil {
					t.Fatalf("after remove %d: exists %v, %v", i, ok, err)
				}
			}
			if _, err := rt.RemoveFile(th, "/etc/d"); err == nil || !strings.Contains(err.Error(), "is a directory") {
				t.Fatalf("removing a directory: %v", err)
			}
			if changed, _, _ := rt.Report().Counts(); changed != 1 {
				t.Fatalf("%d changes, want 1 delete", changed)
			}
			_, err := os.Stat(filepath.Join(rt.Root.Dir(), "etc/old.conf"))
			if gone := os.IsNotExist(err); gone == dry {
				t.Fatalf("on disk after the run: gone=%v in dry-run=%v", gone, dry)
			}
		})
	}
}
