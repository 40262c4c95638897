package e2e

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"phoenix/builtins"
	"phoenix/internal/site"
	"phoenix/internal/testkit"
	"phoenix/runtime"
)

// Directories a guest can write are hostile: these tests plant links in
// them and swap them for symlinks while phoenix runs, and prove that
// nothing outside the root is ever created, changed, chmodded or chowned.

// runHostile is one in-process `phoenix exec --sim` run that may fail.
func runHostile(t *testing.T, config, root, script string) (*runtime.Report, error) {
	t.Helper()
	rt, _ := simRuntime(t, runtime.Options{
		Sim: true, RootDir: root, ConfigDir: config, Stderr: quiet{}, Families: builtins.All(),
	})
	defer rt.Close()
	err := execScript(t, rt, script)
	return rt.Report(), err
}

type quiet struct{}

func (quiet) Write(p []byte) (int, error) { return len(p), nil }

// guestDirs are the site paths a guest can write: every LXC's bind-mount
// sources, the CA's private directory and its exports.
func guestDirs(t *testing.T, config string) []string {
	t.Helper()
	s, err := site.Load(config)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, l := range s.LXCs {
		for _, m := range l.MountPoints {
			seen[m.HostPath] = true
		}
	}
	seen[s.Hypervisor.CA.PrivateHostPath] = true
	for _, e := range s.Hypervisor.CA.Exports {
		seen[e.HostPath] = true
	}
	var out []string
	for d := range seen {
		out = append(out, d)
	}
	sort.Strings(out)
	return out
}

// outsideTree is a directory outside the root holding the names phoenix
// writes in guest directories, so that a write steered there would show.
func outsideTree(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "outside")
	for _, f := range []string{"password.txt", "provisioner_password.txt", "root_ca.crt", "certs/root_ca.crt", "secrets/root_ca_key", "config/ca.json"} {
		p := filepath.Join(dir, f)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("outside: "+f+"\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// racer keeps exchanging each directory with a symlink to outside and
// back (renameat2 RENAME_EXCHANGE), as a guest with a shell in it could.
type racer struct {
	dirs    []string // host paths
	outside string
	pause   time.Duration // longest wait between two rounds of swaps
	stop    chan struct{}
	done    chan struct{}
	swaps   atomic.Int64
	err     error
}

func startRacer(dirs []string, outside string, pause time.Duration) *racer {
	r := &racer{dirs: dirs, outside: outside, pause: pause, stop: make(chan struct{}), done: make(chan struct{})}
	go r.run()
	return r
}

func (r *racer) run() {
	defer close(r.done)
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	for {
		// Paced at random, so that runs get past the first swap to every
		// step (creating the CA, the exports) and some converge.
		time.Sleep(time.Duration(rng.Int64N(int64(r.pause))))
		for _, d := range r.dirs {
			select {
			case <-r.stop:
				return
			default:
			}
			link := d + ".racer"
			if err := os.Symlink(r.outside, link); err != nil && !errors.Is(err, fs.ErrExist) {
				continue // the parent is not there yet
			}
			if err := unix.Renameat2(unix.AT_FDCWD, d, unix.AT_FDCWD, link, unix.RENAME_EXCHANGE); err != nil {
				continue // d is not there yet
			}
			r.swaps.Add(1)
			time.Sleep(time.Microsecond) // the symlink stays a moment
			if err := unix.Renameat2(unix.AT_FDCWD, link, unix.AT_FDCWD, d, unix.RENAME_EXCHANGE); err != nil {
				r.err = fmt.Errorf("swapping %s back: %w", d, err)
				return
			}
		}
	}
}

// halt stops the racer with every directory back in place.
func (r *racer) halt() error {
	close(r.stop)
	<-r.done
	for _, d := range r.dirs {
		os.Remove(d + ".racer")
	}
	return r.err
}

// racerRuns is how many runs of each script the racer test makes:
// PHOENIX_RACER_RUNS, else 200 (about 40 s for both scripts here).
func racerRuns(t *testing.T) int {
	if s := os.Getenv("PHOENIX_RACER_RUNS"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			t.Fatalf("PHOENIX_RACER_RUNS=%q: want a positive number", s)
		}
		return n
	}
	return 200
}

// TestRacerNeverEscapesTheRoot runs scripts/lxc_103.star and
// scripts/mounts.star repeatedly under --sim while a racer swaps every
// guest-writable directory for a symlink to a directory outside the root
// and back. Nothing outside the root may change (content, mode, owner,
// inode, mtime of every entry); each run converges or fails refusing a
// symlink; after the racer stops, a run converges and the next one
// reports 0 changed. PHOENIX_RACER_RUNS=N changes the count (200).
func TestRacerNeverEscapesTheRoot(t *testing.T) {
	needRoot(t)
	repo, config, _ := lxc103(t)
	runs := racerRuns(t)
	for _, name := range []string{"lxc_103.star", "mounts.star"} {
		t.Run(name, func(t *testing.T) {
			script := filepath.Join(repo, "scripts", name)
			root := filepath.Join(t.TempDir(), "root")
			outside := outsideTree(t)
			before, err := testkit.Tree(outside)
			if err != nil {
				t.Fatal(err)
			}
			var dirs []string
			for _, d := range guestDirs(t, config) {
				dirs = append(dirs, filepath.Join(root, d))
			}
			failed := map[string]int{}
			var swaps int64
			start := time.Now()
			for i := 0; i < runs; i++ {
				meddle(dirs)
				// Fast and slow racers: a slow one lets runs reach the
				// later steps (the CA, the exports) and some converge.
				rc := startRacer(dirs, outside, []time.Duration{time.Millisecond, 10 * time.Millisecond, 100 * time.Millisecond}[i%3])
				_, runErr := runHostile(t, config, root, script)
				if err := rc.halt(); err != nil {
					t.Fatal(err)
				}
				swaps += rc.swaps.Load()
				after, err := testkit.Tree(outside)
				if err != nil {
					t.Fatal(err)
				}
				if d := testkit.TreeDiff(before, after); d != "" {
					t.Fatalf("run %d changed the directory outside the root:\n%s", i+1, d)
				}
				if runErr != nil {
					msg := runErr.Error()
					if !strings.Contains(msg, "refusing") || !strings.Contains(msg, "a symbolic link") || !strings.Contains(msg, "lxc:") {
						t.Fatalf("run %d failed without saying which link it refused: %v", i+1, runErr)
					}
					failed[firstLine(msg)]++
				}
			}
			// The racer gone, the site converges and stays converged.
			if _, err := runHostile(t, config, root, script); err != nil {
				t.Fatalf("after the racer: %v", err)
			}
			r, err := runHostile(t, config, root, script)
			if err != nil {
				t.Fatal(err)
			}
			if n, _, _ := r.Counts(); n != 0 {
				t.Fatalf("after the racer the second run changed %d: %+v", n, r.Changes)
			}
			refusals := 0
			for _, n := range failed {
				refusals += n
			}
			t.Logf("%s: %d runs with the racer (%d swaps), %d refused a swapped directory, %d converged; nothing outside the root changed; %v",
				name, runs, swaps, refusals, runs-refusals, time.Since(start).Round(time.Millisecond))
			for msg, n := range failed {
				t.Logf("  %dx %s", n, msg)
			}
			if swaps == 0 {
				t.Fatal("the racer never swapped a directory: the test proves nothing")
			}
		})
	}
}

// meddle undoes some of what phoenix converged in the guest directories,
// as their guest may, so that every run writes, chmods and chowns in them:
// the racer then has something to steer.
func meddle(dirs []string) {
	for _, d := range dirs {
		os.Chmod(d, 0o777)
		os.Chown(d, 0, 0)
		for _, f := range []string{"root_ca.crt", "provisioner_password.txt"} {
			os.Remove(filepath.Join(d, f))
		}
		// Not password.txt: a readable secret is refused, not repaired.
		os.Chmod(filepath.Join(d, "secrets", "root_ca_key"), 0o644)
	}
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// TestPlantedLinksRefused: after a converged run, each name phoenix
// manages in a guest-writable directory is replaced in turn by a symlink
// to a file (or directory) outside that directory, and each file by a
// hard link to a host file on the same filesystem. Every run refuses,
// naming the path and the guest, and the targets are untouched (content,
// mode, owner, inode, mtime).
func TestPlantedLinksRefused(t *testing.T) {
	needRoot(t)
	repo, config, _ := lxc103(t)
	for _, name := range []string{"lxc_103.star", "mounts.star"} {
		t.Run(name, func(t *testing.T) {
			script := filepath.Join(repo, "scripts", name)
			root := filepath.Join(t.TempDir(), "root")
			if _, err := runHostile(t, config, root, script); err != nil {
				t.Fatal(err)
			}
			// Targets: outside the root, and a host file inside it (a
			// hard link needs the same filesystem).
			outside := outsideTree(t)
			hostFile := filepath.Join(root, "etc", "shadow")
			if err := os.MkdirAll(filepath.Dir(hostFile), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(hostFile, []byte("root:$y$secret:20000:0:99999:7:::\n"), 0o640); err != nil {
				t.Fatal(err)
			}
			if err := os.Chown(hostFile, 0, 42); err != nil {
				t.Fatal(err)
			}
			snapshot := func() map[string]string {
				t.Helper()
				a, err := testkit.Tree(outside)
				if err != nil {
					t.Fatal(err)
				}
				b, err := testkit.Tree(filepath.Dir(hostFile))
				if err != nil {
					t.Fatal(err)
				}
				for k, v := range b {
					a["hostetc/"+k] = v
				}
				return a
			}
			before := snapshot()
			type managed struct {
				site  string
				isDir bool
			}
			var names []managed
			for _, d := range guestDirs(t, config) {
				hd := filepath.Join(root, d)
				if _, err := os.Stat(hd); err != nil {
					continue // not on this script's paths
				}
				filepath.WalkDir(hd, func(p string, e fs.DirEntry, err error) error {
					if err != nil {
						return err
					}
					rel, _ := filepath.Rel(root, p)
					if strings.Contains(rel, "/db/") {
						return fs.SkipDir // the CA daemon's database, not phoenix's files
					}
					names = append(names, managed{"/" + rel, e.IsDir()})
					return nil
				})
			}
			if len(names) == 0 {
				t.Fatal("the converged run left nothing in the guest directories")
			}
			var cases int
			for _, n := range names {
				host := filepath.Join(root, n.site)
				plants := map[string]func() error{
					"symlink": func() error {
						target := filepath.Join(outside, "password.txt")
						if n.isDir {
							target = outside
						}
						return os.Symlink(target, host)
					},
				}
				if !n.isDir {
					plants["hardlink"] = func() error { return os.Link(hostFile, host) }
				}
				for _, kind := range []string{"symlink", "hardlink"} {
					plant := plants[kind]
					if plant == nil {
						continue
					}
					aside := host + ".aside"
					if err := os.Rename(host, aside); err != nil {
						t.Fatal(err)
					}
					if err := plant(); err != nil {
						t.Fatal(err)
					}
					_, runErr := runHostile(t, config, root, script)
					os.Remove(host)
					if err := os.Rename(aside, host); err != nil {
						t.Fatal(err)
					}
					if d := testkit.TreeDiff(before, snapshot()); d != "" {
						t.Fatalf("%s planted at %s: the target changed:\n%s", kind, n.site, d)
					}
					if runErr == nil {
						t.Errorf("%s planted at %s: the run did not refuse it", kind, n.site)
						continue
					}
					if msg := runErr.Error(); !strings.Contains(msg, "refusing "+n.site+":") || !strings.Contains(msg, "lxc:") {
						t.Errorf("%s planted at %s: not refused by name: %v", kind, n.site, runErr)
					}
					cases++
				}
			}
			// Everything back in place: converged.
			r, err := runHostile(t, config, root, script)
			if err != nil {
				t.Fatal(err)
			}
			if n, _, _ := r.Counts(); n != 0 {
				t.Fatalf("after the planted links the run changed %d: %+v", n, r.Changes)
			}
			t.Logf("%s: %d planted links under %d managed names, each refused; targets untouched", name, cases, len(names))
		})
	}
}

// TestCAModesRepaired: modes of the CA's private files that drifted (a
// key left readable by all) are put back by the next converge, each a
// change, and the run after it reports 0 changed.
func TestCAModesRepaired(t *testing.T) {
	needRoot(t)
	_, config, script := lxc103(t)
	root := filepath.Join(t.TempDir(), "root")
	if _, err := runHostile(t, config, root, script); err != nil {
		t.Fatal(err)
	}
	s, err := site.Load(config)
	if err != nil {
		t.Fatal(err)
	}
	ssl := s.Hypervisor.CA.PrivateHostPath
	drift := map[string]struct{ bad, want os.FileMode }{
		"secrets":                     {0o755, 0o700},
		"secrets/root_ca_key":         {0o644, 0o600},
		"secrets/intermediate_ca_key": {0o640, 0o600},
		"config/ca.json":              {0o644, 0o600},
		"certs/root_ca.crt":           {0o600, 0o644},
	}
	for rel, m := range drift {
		if err := os.Chmod(filepath.Join(root, ssl, rel), m.bad); err != nil {
			t.Fatal(err)
		}
	}
	r, err := runHostile(t, config, root, script)
	if err != nil {
		t.Fatal(err)
	}
	for rel, m := range drift {
		st, err := os.Stat(filepath.Join(root, ssl, rel))
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != m.want {
			t.Errorf("%s: mode %04o after the converge, want %04o", rel, st.Mode().Perm(), m.want)
		}
		found := false
		for _, c := range r.Changes {
			found = found || strings.HasSuffix(c.Resource, ssl+"/"+rel) && strings.Contains(c.Detail, fmt.Sprintf("mode: %04o -> %04o", m.bad, m.want))
		}
		if !found {
			t.Errorf("%s: no change reported for its mode", rel)
		}
	}
	r, err = runHostile(t, config, root, script)
	if err != nil {
		t.Fatal(err)
	}
	if n, _, _ := r.Counts(); n != 0 {
		t.Fatalf("the run after the repair changed %d: %+v", n, r.Changes)
	}
}
