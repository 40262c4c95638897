package cli_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	mrand "math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"phoenix/internal/testkit"
	"phoenix/runtime"
)

var crashIterations = flag.Int("crash-iterations", 0, "iterations of TestCrashConsistency (default 10, or $PHOENIX_CRASH_ITERATIONS)")

// TestCrashConsistency runs scripts/lxc_103.star, then scripts/site.star
// (the whole site: DNS, mounts, the CA, the VMs, the firewall), with
// --sim --target against a separately running phoenix sim serve (a real
// PVE keeps running its tasks when the client dies; an in-process
// simulator would die with phoenix), SIGKILLs it after a random delay,
// and checks:
//   - every file under the root is complete: PEM parses to the end, JSON
//     is valid, a secret file is a value and a newline, and a file whose
//     content does not vary between runs has exactly that content;
//   - the rerun succeeds, whatever temp files the kill left;
//   - after the rerun, the root, the ZFS datasets and the PVE guests equal
//     those of an uninterrupted run: the same files and directories with
//     the same modes and owners and fixed contents, datasets and
//     properties, guests and configs (PVE-assigned MACs and VM uuids
//     aside);
//   - the CA root, once on disk, never changes.
//
// 10 iterations of each script by default; -crash-iterations N or
// PHOENIX_CRASH_ITERATIONS=N for more, PHOENIX_CRASH_SEED to replay.
func TestCrashConsistency(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root: lxc_103 gives its files to the container's mapped root (100000)")
	}
	n := 10
	if v := os.Getenv("PHOENIX_CRASH_ITERATIONS"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil {
			t.Fatalf("PHOENIX_CRASH_ITERATIONS: %v", err)
		}
	}
	if *crashIterations > 0 {
		n = *crashIterations
	}
	seed := uint64(time.Now().UnixNano())
	if v := os.Getenv("PHOENIX_CRASH_SEED"); v != "" {
		seed, _ = strconv.ParseUint(v, 10, 64)
	}
	t.Logf("seed %d (PHOENIX_CRASH_SEED replays it)", seed)
	for _, script := range []string{"lxc_103.star", "site.star"} {
		t.Run(script, func(t *testing.T) {
			crashLoop(t, script, n, mrand.New(mrand.NewPCG(seed, 0)))
		})
	}
}

// crashLoop kills scripts/SCRIPT n times, each after a random delay up
// to an uninterrupted run's duration, and checks each kill's aftermath.
func crashLoop(t *testing.T, script string, n int, rng *mrand.Rand) {
	bin := testkit.Phoenix(t)
	repo := testkit.RepoDir(t)
	c := &crashRun{t: t, bin: bin, script: filepath.Join(repo, "scripts", script), config: filepath.Join(repo, "config")}

	// Two uninterrupted runs tell which contents are fixed and which are
	// generated (keys, passwords, certificates).
	ref1, dur := c.reference("ref1")
	ref2, dur2 := c.reference("ref2")
	// The quicker run bounds the delays: on a loaded machine one run can
	// take twice as long, and kills after the end prove nothing.
	dur = min(dur, dur2)
	fixed := map[string]bool{}
	for p, e := range ref1.files {
		if o, ok := ref2.files[p]; ok && o.sum == e.sum {
			fixed[p] = true
		}
	}
	if len(fixed) == 0 || len(fixed) == len(ref1.files) {
		t.Fatalf("%d of %d entries fixed between two runs: the comparison would prove nothing", len(fixed), len(ref1.files))
	}
	if !ref1.sameAs(ref2, fixed) {
		t.Fatalf("two uninterrupted runs differ:\n%s", ref1.diff(ref2, fixed))
	}

	var killedMid, completed, tempLeft, caBefore, unfinishedReported, diverged int
	files := 0
	for i := range n {
		it := fmt.Sprintf("it%02d", i)
		delay := time.Duration(rng.Int64N(int64(dur) + 1))
		sim := c.startSim(it)
		root := filepath.Join(c.dir(it), "root")
		cmd := c.command(sim, root)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("%s: the run failed before the kill: %v\n%s", it, err, out.String())
			}
			completed++
		case <-time.After(delay):
			cmd.Process.Signal(syscall.SIGKILL)
			if err := <-done; err == nil {
				completed++ // it finished just before the kill
			} else {
				killedMid++
			}
		}

		after := snapshot(t, root, "")
		files += len(after.files)
		for p, e := range after.files {
			if e.temp {
				tempLeft++
				continue
			}
			// A simulated host's state is rewritten at each change (the
			// nft simulator's sysctls, then its table): a kill leaves one
			// of its states, and the rerun must converge it. Its JSON must
			// be whole; the table's text is empty before there is a table.
			simState := strings.HasPrefix(p, "var/lib/phoenix-sim/")
			if simState && !strings.HasSuffix(p, ".json") {
				continue
			}
			if err := complete(filepath.Join(root, p), e, fixed[p] && !simState, ref1.files[p]); err != nil {
				t.Errorf("%s (killed after %v): %s: %v", it, delay, p, err)
			}
		}
		caRoot, _ := os.ReadFile(filepath.Join(root, caRootPath))
		if len(caRoot) > 0 {
			caBefore++
		}

		var rerun bytes.Buffer
		cmd = c.command(sim, root)
		cmd.Stdout, cmd.Stderr = &rerun, &rerun
		if err := cmd.Run(); err != nil {
			t.Fatalf("%s (killed after %v): the rerun failed: %v\n%s", it, delay, err, rerun.String())
		}
		if strings.Contains(rerun.String(), "started but did not finish") {
			unfinishedReported++
		}
		if len(caRoot) > 0 {
			if now, _ := os.ReadFile(filepath.Join(root, caRootPath)); !bytes.Equal(now, caRoot) {
				t.Errorf("%s (killed after %v): the CA root changed on the rerun", it, delay)
			}
		}
		got := snapshot(t, root, sim.state)
		if d := got.diff(ref1, fixed); d != "" {
			diverged++
			t.Errorf("%s (killed after %v): the rerun did not converge to the uninterrupted state:\n%s", it, delay, d)
		}
		if _, err := os.Stat(filepath.Join(root, caMarkerPath)); err != nil {
			t.Errorf("%s (killed after %v): the rerun left the CA without its completion marker: %v", it, delay, err)
		}
		sim.stop()
	}
	t.Logf("%s: %d iterations (%d killed mid-run, %d finished before the kill; uninterrupted run %v): checked %d files and directories for complete content (PEM, JSON, secrets, %d fixed contents), %d temp files left by kills were ignored by the rerun, %d reruns reported unfinished changes from the journal; %d of %d reruns converged to the uninterrupted state (files, modes, owners, ZFS datasets, PVE guests, the CA's completion marker); the CA root never changed (%d times it existed before the rerun)",
		script, n, killedMid, completed, dur.Round(time.Millisecond), files, len(fixed), tempLeft, unfinishedReported, n-diverged, n, caBefore)
}

const (
	caRootPath   = "mnt/pve/quickOS/lxc-persistent-data/103/ssl/certs/root_ca.crt"
	caMarkerPath = "mnt/pve/quickOS/lxc-persistent-data/103/ssl/.phoenix-ca-complete"
)

type crashRun struct {
	t                   *testing.T
	bin, script, config string
	base                string
}

func (c *crashRun) dir(name string) string {
	if c.base == "" {
		c.base = c.t.TempDir()
	}
	d := filepath.Join(c.base, name)
	if err := os.MkdirAll(d, 0o755); err != nil {
		c.t.Fatal(err)
	}
	return d
}

type simServer struct {
	d                  *testkit.Daemon
	url, fp, pw, state string
}

func (s *simServer) stop() { s.d.Stop() }

func (c *crashRun) startSim(name string) *simServer {
	pwb := make([]byte, 12)
	rand.Read(pwb)
	s := &simServer{pw: hex.EncodeToString(pwb), state: filepath.Join(c.dir(name), "pve-state.json")}
	cmd := exec.Command(c.bin, "sim", "serve", "--listen", "127.0.0.1:0", "--root-password", s.pw,
		"--state", s.state, "--task-duration", "20ms")
	cmd.Stderr = os.Stderr
	d, err := testkit.StartDaemon(cmd, 30*time.Second, func(l string) bool {
		if v, ok := strings.CutPrefix(l, "URL:"); ok {
			s.url = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(l, "Fingerprint:"); ok {
			s.fp = strings.TrimSpace(v)
		}
		return s.url != "" && s.fp != ""
	})
	if err != nil {
		c.t.Fatalf("phoenix sim serve: %v", err)
	}
	s.d = d
	c.t.Cleanup(func() { d.Stop() })
	return s
}

func (c *crashRun) command(s *simServer, root string) *exec.Cmd {
	cmd := exec.Command(c.bin, "exec", "--sim", "--target", s.url, "--root", root, "--config", c.config, c.script)
	cmd.Env = append(os.Environ(), "PHOENIX_PVE_TOKEN=", "PHOENIX_PVE_FINGERPRINT="+s.fp, "PHOENIX_PVE_PASSWORD="+s.pw)
	return cmd
}

// reference is an uninterrupted run's end state and duration.
func (c *crashRun) reference(name string) (*state, time.Duration) {
	sim := c.startSim(name)
	defer sim.stop()
	root := filepath.Join(c.dir(name), "root")
	cmd := c.command(sim, root)
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		c.t.Fatalf("uninterrupted run: %v\n%s", err, out)
	}
	dur := time.Since(start)
	return snapshot(c.t, root, sim.state), dur
}

type entry struct {
	mode     fs.FileMode
	uid, gid uint32
	sum      string // content hash; "" for a directory
	temp     bool
}

type state struct {
	files    map[string]entry
	datasets map[string]string // name -> properties
	guests   map[string]string // vmid -> type, node, running and config
}

var tempName = regexp.MustCompile(`(^|/)\.[^/]*\.tmp-[^/]*$`)

// skipped are phoenix's own run records, not site state.
var skipped = map[string]bool{
	strings.TrimPrefix(runtime.JournalPath, "/"): true,
	strings.TrimPrefix(runtime.LockPath, "/"):    true,
}

func snapshot(t *testing.T, root, pveState string) *state {
	t.Helper()
	s := &state{files: map[string]entry{}, datasets: map[string]string{}, guests: map[string]string{}}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if p == root && errors.Is(err, fs.ErrNotExist) {
			return fs.SkipAll // killed before it made the root
		}
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." || skipped[rel] {
			return nil
		}
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		st := info.Sys().(*syscall.Stat_t)
		e := entry{mode: info.Mode(), uid: st.Uid, gid: st.Gid, temp: tempName.MatchString(rel)}
		if info.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			e.sum = hex.EncodeToString(sum[:])
		}
		s.files[rel] = e
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(root, "var/lib/phoenix-sim/zfs.json")); err == nil {
		var z struct {
			Datasets map[string]struct {
				Props map[string]string `json:"props"`
			} `json:"datasets"`
		}
		if err := json.Unmarshal(b, &z); err != nil {
			t.Fatalf("zfs.json: %v", err)
		}
		for name, ds := range z.Datasets {
			s.datasets[name] = fmt.Sprint(ds.Props)
		}
		delete(s.files, "var/lib/phoenix-sim/zfs.json") // compared by datasets
	}
	if pveState != "" {
		b, err := os.ReadFile(pveState)
		if err != nil {
			t.Fatalf("PVE simulator state: %v", err)
		}
		var p struct {
			Guests map[string]struct {
				Type    string            `json:"type"`
				Node    string            `json:"node"`
				Running bool              `json:"running"`
				Conf    map[string]string `json:"conf"`
			} `json:"guests"`
		}
		if err := json.Unmarshal(b, &p); err != nil {
			t.Fatalf("PVE simulator state: %v", err)
		}
		// PVE assigns MACs, and a VM's SMBIOS uuid and generation id,
		// when it creates the guest: a guest created in another order
		// gets others.
		mac := regexp.MustCompile(`(hwaddr|macaddr|virtio)=[0-9A-Fa-f:]{17}`)
		uuid := regexp.MustCompile(`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`)
		for id, g := range p.Guests {
			conf := map[string]string{}
			for k, v := range g.Conf {
				conf[k] = mac.ReplaceAllString(v, "$1=MAC")
				if k == "smbios1" || k == "vmgenid" {
					conf[k] = uuid.ReplaceAllString(conf[k], "UUID")
				}
			}
			s.guests[id] = fmt.Sprintf("%s on %s running=%v %v", g.Type, g.Node, g.Running, conf)
		}
	}
	return s
}

func (s *state) sameAs(o *state, fixed map[string]bool) bool { return s.diff(o, fixed) == "" }

// diff lists what differs, ignoring generated contents and temp files.
func (s *state) diff(o *state, fixed map[string]bool) string {
	var out []string
	for p, e := range s.files {
		if e.temp {
			continue
		}
		f, ok := o.files[p]
		switch {
		case !ok:
			out = append(out, "extra "+p)
		case e.mode != f.mode || e.uid != f.uid || e.gid != f.gid:
			out = append(out, fmt.Sprintf("%s: %v %d:%d, want %v %d:%d", p, e.mode, e.uid, e.gid, f.mode, f.uid, f.gid))
		case fixed[p] && e.sum != f.sum:
			out = append(out, p+": content differs")
		}
	}
	for p, f := range o.files {
		if _, ok := s.files[p]; !ok && !f.temp {
			out = append(out, "missing "+p)
		}
	}
	for _, m := range []struct {
		what string
		a, b map[string]string
	}{{"dataset", s.datasets, o.datasets}, {"guest", s.guests, o.guests}} {
		for k, v := range m.a {
			if m.b[k] != v {
				out = append(out, fmt.Sprintf("%s %s: %s, want %q", m.what, k, v, m.b[k]))
			}
		}
		for k, v := range m.b {
			if _, ok := m.a[k]; !ok {
				out = append(out, fmt.Sprintf("missing %s %s (%s)", m.what, k, v))
			}
		}
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}

// complete checks that a file a kill left is a whole one: the fixed
// content when it has one, else parseable to its end.
func complete(path string, e entry, fixed bool, ref entry) error {
	if e.sum == "" {
		return nil
	}
	if fixed {
		if e.sum != ref.sum {
			return fmt.Errorf("content is neither absent nor the complete file")
		}
		return nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	switch {
	case len(b) == 0:
		return fmt.Errorf("empty")
	case bytes.HasPrefix(b, []byte("-----BEGIN")):
		rest, blocks := b, 0
		for {
			blk, r := pem.Decode(rest)
			if blk == nil {
				break
			}
			blocks++
			rest = r
		}
		if blocks == 0 || len(bytes.TrimSpace(rest)) > 0 {
			return fmt.Errorf("truncated PEM (%d blocks, %d bytes left over)", blocks, len(rest))
		}
	case strings.HasSuffix(path, ".json") || bytes.HasPrefix(b, []byte("{")):
		if !json.Valid(b) {
			return fmt.Errorf("truncated JSON")
		}
	case strings.HasSuffix(path, ".txt"):
		if !bytes.HasSuffix(b, []byte("\n")) || len(bytes.TrimSpace(b)) < 16 {
			return fmt.Errorf("truncated secret (%d bytes)", len(b))
		}
	}
	return nil
}
