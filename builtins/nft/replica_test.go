package nft_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/nftables"
	"golang.org/x/sys/unix"

	engine "phoenix/internal/nft"
	"phoenix/internal/nft/replica"
	"phoenix/internal/site"
	"phoenix/internal/testkit"
)

// run is one phoenix invocation against the replica.
type run struct {
	code           int
	stdout, stderr string
	took           time.Duration
}

type fixture struct {
	t       *testing.T
	bin     string
	repo    string
	root    string
	r       *replica.Replica
	base    string // the example site's config
	noFlow2 string // the same without flow 2 (101 -> 102 tcp/8443)
}

func newFixture(t *testing.T, prefix string) *fixture {
	replica.Need(t)
	repo := testkit.RepoDir(t)
	base := filepath.Join(repo, "config")
	s, err := site.Load(base)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, repo: repo, base: base, root: t.TempDir(), r: replica.New(t, prefix, s)}
	f.noFlow2 = editConfig(t, base, func(c string) bool { return strings.HasPrefix(c, "2:") })
	f.bin = testkit.Phoenix(t)
	t.Cleanup(f.killRollback)
	// Safety: the machine's own namespace keeps its ruleset.
	before := hostRuleset(t)
	t.Cleanup(func() {
		if after := hostRuleset(t); after != before {
			t.Errorf("the machine's own ruleset changed:\n--- before\n%s--- after\n%s", before, after)
		}
	})
	return f
}

// hostRuleset lists the machine's own tables and phoenix's table there,
// read-only.
func hostRuleset(t *testing.T) string {
	t.Helper()
	c, err := nftables.New()
	if err != nil {
		t.Fatal(err)
	}
	tables, err := c.ListTables()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, tb := range tables {
		fmt.Fprintf(&b, "table %d %s\n", tb.Family, tb.Name)
	}
	own, err := (&engine.Netlink{}).Current()
	if err != nil {
		t.Fatal(err)
	}
	b.WriteString(engine.RenderTable(own))
	return b.String()
}

// editConfig copies the config and drops the flows whose comment drop
// accepts.
func editConfig(t *testing.T, from string, drop func(comment string) bool) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{site.HypervisorFile, site.LXCFile, site.VMFile} {
		b, err := os.ReadFile(filepath.Join(from, name))
		if err != nil {
			t.Fatal(err)
		}
		if name == site.HypervisorFile {
			var h map[string]any
			if err := json.Unmarshal(b, &h); err != nil {
				t.Fatal(err)
			}
			delete(h, "$schema")
			fw := h["firewall"].(map[string]any)
			var kept []any
			for _, fl := range fw["flows"].([]any) {
				if !drop(fl.(map[string]any)["comment"].(string)) {
					kept = append(kept, fl)
				}
			}
			fw["flows"] = kept
			if b, err = json.Marshal(h); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func (f *fixture) phoenix(args ...string) run {
	f.t.Helper()
	cmd := exec.Command(f.bin, args...)
	cmd.Dir = f.repo
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	r := run{stdout: out.String(), stderr: errb.String(), took: time.Since(start)}
	if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		f.t.Fatal(err)
	}
	return r
}

// script runs a script of the repository in the replica with config dir.
func (f *fixture) script(config, script string, args ...string) run {
	f.t.Helper()
	a := []string{"exec", "--root", f.root, "--config", config, "--netns", f.r.HV,
		"--guest-netns", f.r.Pattern(), "--output", "json", filepath.Join("scripts", script)}
	return f.phoenix(append(a, args...)...)
}

type report struct {
	Changed, Unchanged int
	Checks             []struct{ Name, Status, Detail string }
}

func (f *fixture) report(r run) report {
	f.t.Helper()
	var rep report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		f.t.Fatalf("exit %d, stdout not JSON (%v):\n%s\nstderr:\n%s", r.code, err, r.stdout, r.stderr)
	}
	return rep
}

// apply runs firewall.star with config and wants success.
func (f *fixture) apply(config string, args ...string) report {
	f.t.Helper()
	r := f.script(config, "firewall.star", args...)
	if r.code != 0 {
		f.t.Fatalf("firewall.star exit %d:\n%s\n%s", r.code, r.stdout, r.stderr)
	}
	return f.report(r)
}

// matrix runs check_firewall.star with config: the live ruleset must be
// exactly that config's flows.
func (f *fixture) matrix(config string) run {
	f.t.Helper()
	r := f.script(config, "checks/check_firewall.star", "--timeout=2")
	rep := f.report(r)
	if r.code != 0 {
		var bad []string
		for _, c := range rep.Checks {
			if c.Status != "ok" {
				bad = append(bad, c.Name+": "+c.Detail)
			}
		}
		f.t.Fatalf("check_firewall.star exit %d with %s:\n%s", r.code, config, strings.Join(bad, "\n"))
	}
	return r
}

func (f *fixture) live() *engine.Ruleset {
	f.t.Helper()
	rs, err := (&engine.Netlink{NS: f.r.HV}).Current()
	if err != nil {
		f.t.Fatal(err)
	}
	return rs
}

func (f *fixture) pendingPath() string { return filepath.Join(f.root, engine.PendingFile) }

func (f *fixture) killRollback() {
	if p, _ := engine.ReadPending(f.pendingPath()); p != nil && p.PID > 0 {
		syscall.Kill(p.PID, syscall.SIGKILL)
	}
}

// flow2 reports whether 101 reaches 102 on tcp/8443.
func (f *fixture) flow2() bool {
	return replica.Connects(f.r.GuestNS(101), netip.MustParseAddrPort("10.0.0.102:8443"), time.Second)
}

// TestSiteReplica applies firewall.star in the hypervisor namespace and
// proves it with the matrix, from the guests and from outside.
func TestSiteReplica(t *testing.T) {
	f := newFixture(t, "pxfa")
	rep := f.apply(f.base)
	if rep.Changed != 3 {
		t.Errorf("first apply: %d changed, want 3 (two sysctls and the table)", rep.Changed)
	}
	m := f.matrix(f.base)
	mrep := f.report(m)
	summary := mrep.Checks[len(mrep.Checks)-1]
	if summary.Name != "firewall matrix" || summary.Status != "ok" || !strings.Contains(summary.Detail, "250 of 250 probed cells agree") {
		t.Errorf("summary check: %+v", summary)
	}
	t.Logf("matrix: %s in %s", summary.Detail, m.took)

	// From outside the guests: the external client reaches only the
	// gateway's 443, the management client the host's SSH and API.
	for _, c := range []struct {
		ns   string
		addr string
		want bool
	}{
		{f.r.External, "10.0.0.101:443", true},
		{f.r.External, "10.0.0.102:8443", false},
		{f.r.External, "10.0.0.103:9000", false},
		{f.r.External, "10.0.0.1:22", false},
		{f.r.Mgmt, netip.AddrPortFrom(f.r.MgmtHostIP, 22).String(), true},
		{f.r.Mgmt, netip.AddrPortFrom(f.r.MgmtHostIP, 8006).String(), true},
		{f.r.Mgmt, "10.0.0.103:9000", false},
	} {
		start := time.Now()
		got := replica.Connects(c.ns, netip.MustParseAddrPort(c.addr), time.Second)
		if got != c.want {
			t.Errorf("%s -> %s connects = %v, want %v", c.ns, c.addr, got, c.want)
		}
		if took := time.Since(start); took > 3*time.Second {
			t.Errorf("%s -> %s took %s: not bounded by the probe timeout", c.ns, c.addr, took)
		}
	}

	// UDP, which the matrix does not probe: guests reach the host's DNS,
	// the outside does not.
	dns := netip.AddrPortFrom(f.r.HostIP, 53)
	if !replica.UDPAnswers(f.r.GuestNS(102), dns, time.Second) {
		t.Error("102 -> host udp/53 gets no answer")
	}
	if replica.UDPAnswers(f.r.External, dns, time.Second) {
		t.Error("external -> host udp/53 answers")
	}

	if rep := f.apply(f.base); rep.Changed != 0 || rep.Unchanged != 3 {
		t.Errorf("second apply: %d changed, %d unchanged; want 0 and 3", rep.Changed, rep.Unchanged)
	}
	// The plan of a converged firewall is empty too.
	if r := f.phoenix("plan", "--root", f.root, "--netns", f.r.HV, "--detailed-exitcode", "scripts/firewall.star"); r.code != 0 {
		t.Errorf("plan after converging: exit %d\n%s", r.code, r.stdout)
	}
}

// TestAtomicity: a ruleset with one invalid element applies nothing.
func TestAtomicity(t *testing.T) {
	f := newFixture(t, "pxfb")
	f.apply(f.base)
	before := f.live()

	s, err := site.Load(f.noFlow2)
	if err != nil {
		t.Fatal(err)
	}
	flows, err := engine.FromSite(s)
	if err != nil {
		t.Fatal(err)
	}
	bad, err := engine.Build(flows, engine.DefaultOptions)
	if err != nil {
		t.Fatal(err)
	}
	// The last rule names a set that does not exist: the kernel refuses it.
	fwd := bad.Chain("forward")
	fwd.Rules = append(fwd.Rules, engine.Rule{IPFamily: "ip", Saddr: engine.Match{Set: "missing"}, Verdict: "accept", Comment: "invalid"})
	if err := (&engine.Netlink{NS: f.r.HV}).Apply(bad); err == nil {
		t.Fatal("a ruleset naming a missing set applied")
	}
	if after := f.live(); !engine.Equal(after, before) {
		t.Fatalf("the failed batch changed the table:\n%s", engine.Diff(before, after))
	}
	if !f.flow2() {
		t.Error("flow 2 stopped connecting after a failed apply that would have removed it")
	}
	f.matrix(f.base)
}

// TestLockoutGuard: a ruleset without management access is refused and
// nothing changes.
func TestLockoutGuard(t *testing.T) {
	f := newFixture(t, "pxfc")
	f.apply(f.base)
	before := f.live()
	noMgmt := editConfig(t, f.base, func(c string) bool { return strings.Contains(c, "management network") })
	r := f.script(noMgmt, "firewall.star")
	if r.code != 1 || !strings.Contains(r.stderr, "lock operators out") || !strings.Contains(r.stderr, "tcp/22 and tcp/8006") {
		t.Fatalf("exit %d, want 1 naming the lockout:\n%s", r.code, r.stderr)
	}
	if after := f.live(); !engine.Equal(after, before) {
		t.Fatalf("a refused apply changed the table:\n%s", engine.Diff(before, after))
	}
	f.matrix(f.base)
	// allow_lockout=True overrides.
	if rep := f.apply(noMgmt, "--allow-lockout"); rep.Changed != 1 {
		t.Errorf("with --allow-lockout: %d changed, want 1", rep.Changed)
	}
}

// TestCommitConfirmed: without confirm the old ruleset comes back at the
// deadline; with confirm the new one stays; SIGTERM to the rollback
// process restores at once.
func TestCommitConfirmed(t *testing.T) {
	f := newFixture(t, "pxfd")
	f.apply(f.base)
	original := f.live()

	// Each subtest reports through its own t.
	sub := func(t *testing.T) *fixture { g := *f; g.t = t; return &g }

	t.Run("timeout", func(t *testing.T) {
		f := sub(t)
		f.apply(f.noFlow2, "--confirm-timeout=12s")
		if f.flow2() {
			t.Fatal("flow 2 still connects after applying a ruleset without it")
		}
		f.matrix(f.noFlow2)
		waitFor(t, 25*time.Second, "the rollback", func() bool { return engine.Equal(f.live(), original) })
		f.matrix(f.base)
		if _, err := os.Stat(f.pendingPath()); !os.IsNotExist(err) {
			t.Errorf("pending file left after the rollback: %v", err)
		}
	})

	t.Run("confirm", func(t *testing.T) {
		f := sub(t)
		f.apply(f.noFlow2, "--confirm-timeout=6s")
		st := f.phoenix("fw", "status", "--root", f.root)
		if !strings.Contains(st.stdout, "rollback pending in network namespace "+f.r.HV) || !strings.Contains(st.stdout, "running") {
			t.Errorf("fw status:\n%s%s", st.stdout, st.stderr)
		}
		if r := f.phoenix("fw", "confirm", "--root", f.root); r.code != 0 || !strings.Contains(r.stdout, "confirmed") {
			t.Fatalf("fw confirm: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		time.Sleep(7 * time.Second) // past the deadline
		f.matrix(f.noFlow2)
		if st := f.phoenix("fw", "status", "--root", f.root); !strings.Contains(st.stdout, "no rollback pending") {
			t.Errorf("fw status after confirm:\n%s", st.stdout)
		}
		f.apply(f.base)
	})

	t.Run("sigterm", func(t *testing.T) {
		f := sub(t)
		f.apply(f.noFlow2, "--confirm-timeout=10m")
		p, err := engine.ReadPending(f.pendingPath())
		if err != nil || p == nil {
			t.Fatalf("no pending rollback: %v", err)
		}
		// Another change while a rollback is pending is refused: the
		// rollback would undo it.
		if r := f.script(f.base, "firewall.star"); r.code != 1 || !strings.Contains(r.stderr, "a rollback is pending") {
			t.Errorf("apply during a pending rollback: exit %d\n%s", r.code, r.stderr)
		}
		// The rollback process leads its own session, detached from ours.
		if sid, err := unix.Getsid(p.PID); err != nil || sid != p.PID {
			t.Errorf("rollback process %d: session %d (%v), want its own", p.PID, sid, err)
		}
		if err := syscall.Kill(p.PID, syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		time.Sleep(300 * time.Millisecond)
		if engine.Equal(f.live(), original) {
			t.Fatal("SIGHUP rolled back; it must be ignored")
		}
		start := time.Now()
		if err := syscall.Kill(p.PID, syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, "the rollback on SIGTERM", func() bool { return engine.Equal(f.live(), original) })
		t.Logf("rolled back %s after SIGTERM", time.Since(start))
		f.matrix(f.base)
	})
}

func waitFor(t *testing.T, limit time.Duration, what string, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not happen within %s", what, limit)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var perf = flag.Bool("nft.perf", false, "measure the matrix check's wall time (docs/performance.md)")

// TestMatrixWallTime prints the figure of docs/performance.md:
//
//	go test -count=1 -run TestMatrixWallTime ./builtins/nft/ -nft.perf -v
func TestMatrixWallTime(t *testing.T) {
	if !*perf {
		t.Skip("skipped: a measurement, run with -nft.perf")
	}
	f := newFixture(t, "pxfp")
	f.apply(f.base)
	for _, timeout := range []int{1, 2, 3} {
		var took []time.Duration
		for range 5 {
			r := f.script(f.base, "checks/check_firewall.star", "--timeout="+strconv.Itoa(timeout))
			if r.code != 0 {
				t.Fatalf("exit %d\n%s", r.code, r.stdout)
			}
			took = append(took, r.took)
		}
		slices.Sort(took)
		m := took[len(took)/2]
		t.Logf("probe timeout %ds: matrix of 250 tcp probes (234 blocked) in %.2f s median of 5 (%.2fx the timeout; probing one after another would take at least %d s)",
			timeout, m.Seconds(), m.Seconds()/float64(timeout), 234*timeout)
	}
}
