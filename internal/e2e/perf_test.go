package e2e

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"go.starlark.net/starlark"

	"phoenix/builtins"
	"phoenix/builtins/proxmox"
	"phoenix/builtins/stepca"
	"phoenix/internal/ca"
	"phoenix/internal/machine"
	"phoenix/internal/pve"
	"phoenix/internal/pvesim"
	"phoenix/internal/pvesim/pvesimtest"
	"phoenix/internal/testkit"
	"phoenix/runtime"
)

// simRun is one in-process run of a script under --sim, with the PVE
// simulator reachable so that its request counter can be read.
type simRun struct {
	report   *runtime.Report
	requests map[string]int
	elapsed  time.Duration
	stats    ca.IssuerStats
}

// runSim runs script on root as `phoenix exec --sim --config DIR` does,
// with the simulator's state where the CLI keeps it; extra hooks script
// simulated commands.
func runSim(t *testing.T, configDir, root, script string, extra ...func(*runtime.Runtime, *machine.SimRunner) error) simRun {
	t.Helper()
	return runSimWith(t, configDir, root, script, nil, extra...)
}

// runSimWith is runSim with predeclared names replaced (tests pretend
// not to run under --sim by replacing phoenix).
func runSimWith(t *testing.T, configDir, root, script string, override starlark.StringDict, extra ...func(*runtime.Runtime, *machine.SimRunner) error) simRun {
	t.Helper()
	start := time.Now()
	pre := starlark.StringDict{}
	for k, v := range override {
		pre[k] = v
	}
	rt, srv := simRuntime(t, runtime.Options{
		Sim: true, RootDir: root, ConfigDir: configDir, Stderr: testLog{t},
		Families: withHooks(extra), Globals: pre,
	})
	defer rt.Close()
	// Connecting logs in: count only what the script asks for.
	srv.ResetRequests()
	if err := execScript(t, rt, script); err != nil {
		var ee *starlark.EvalError
		if errors.As(err, &ee) {
			t.Fatal(ee.Backtrace())
		}
		t.Fatal(err)
	}
	r := simRun{report: rt.Report(), requests: srv.Requests(), elapsed: time.Since(start)}
	be, err := stepca.BackendOf(rt)
	if err != nil {
		t.Fatal(err)
	}
	r.stats = be.Stats()
	return r
}

type testLog struct{ t *testing.T }

func (w testLog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// writes lists the requests that are not reads.
func writes(reqs map[string]int) []string {
	var out []string
	for k, n := range reqs {
		if !strings.HasPrefix(k, "GET ") {
			out = append(out, fmt.Sprintf("%s x%d", k, n))
		}
	}
	sort.Strings(out)
	return out
}

// TestNoopRerun: a second run of lxc_103.star on a converged site
// generates no keys, writes no file (inode, mtime, size, mode, owner and
// content of every entry under the root are the same), makes no writing
// PVE API call, and reports 0 changed. With PHOENIX_TIMING=1, fresh and
// no-op runs are timed side by side: 5 interleaved pairs, each on its own
// root, medians logged, and the no-op must be the faster.
func TestNoopRerun(t *testing.T) {
	needRoot(t)
	_, config, script := lxc103(t)
	pairs := 1
	if testkit.Timing() {
		pairs = 5
	}
	var fresh, noop []time.Duration
	var last simRun
	var entries, freshChanged int
	for i := 0; i < pairs; i++ {
		root := filepath.Join(t.TempDir(), "root")
		f := runSim(t, config, root, script)
		if n, _, _ := f.report.Counts(); n == 0 || !hasChange(f.report, "ca:") {
			t.Fatalf("the fresh run made no CA (%d changed)", n)
		}
		if len(writes(f.requests)) == 0 {
			t.Fatal("the fresh run made no writing API call: the counter does not see the script")
		}
		before, err := testkit.Tree(root)
		if err != nil {
			t.Fatal(err)
		}
		n := runSim(t, config, root, script)
		changed, _, failed := n.report.Counts()
		if changed != 0 || failed != 0 {
			t.Fatalf("no-op run: %d changed, %d failed: %+v", changed, failed, n.report.Changes)
		}
		if w := writes(n.requests); len(w) > 0 {
			t.Fatalf("no-op run made writing API calls: %s", strings.Join(w, ", "))
		}
		if n.stats != (ca.IssuerStats{}) {
			t.Fatalf("no-op run used the issuer: %+v", n.stats)
		}
		after, err := testkit.Tree(root)
		if err != nil {
			t.Fatal(err)
		}
		if d := testkit.TreeDiff(before, after); d != "" {
			t.Fatalf("no-op run touched files:\n%s", d)
		}
		fresh, noop = append(fresh, f.elapsed), append(noop, n.elapsed)
		last, entries, freshChanged = n, len(after), countChanged(f.report)
	}
	_, unchanged, _ := last.report.Counts()
	reads := 0
	for _, n := range last.requests {
		reads += n
	}
	mf, mn := median(fresh), median(noop)
	t.Logf("lxc_103.star, medians of %d interleaved pairs: fresh run %v (%d changed); no-op run %v (0 changed, %d unchanged, %d API requests all GET, %d entries under the root untouched, no key generated)",
		pairs, mf.Round(time.Millisecond), freshChanged, mn.Round(time.Millisecond), unchanged, reads, entries)
	if testkit.Timing() && mn >= mf {
		t.Errorf("the no-op run (%v) is not faster than the fresh run (%v)", mn, mf)
	}
}

func median(d []time.Duration) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func countChanged(r *runtime.Report) int { n, _, _ := r.Counts(); return n }

func hasChange(r *runtime.Report, prefix string) bool {
	for _, c := range r.Changes {
		if strings.HasPrefix(c.Resource, prefix) {
			return true
		}
	}
	return false
}

const manyCerts = `
P = params(ca_url = param.string(), n = param.int(100), tag = param.string("many"))
site = config.site()
export = site.hypervisor.ca.exports["gateway"].host_path
pw = secret.read(export + "/provisioner_password.txt")
fs.mkdir("/leaf")
for i in range(P.n):
    stepca.certificate(ca_url = P.ca_url, root = export + "/root_ca.crt", provisioner = site.hypervisor.ca.provisioner,
                       provisioner_password = pw, subject = "h%d.phoenix.internal" % i,
                       cert = "/leaf/%s-%d.crt" % (P.tag, i), key = "/leaf/%s-%d.key" % (P.tag, i))
`

const oneCert = `
P = params(ca_url = param.string(), i = param.int(0))
site = config.site()
export = site.hypervisor.ca.exports["gateway"].host_path
fs.mkdir("/leaf")
stepca.certificate(ca_url = P.ca_url, root = export + "/root_ca.crt", provisioner = site.hypervisor.ca.provisioner,
                   provisioner_password = secret.read(export + "/provisioner_password.txt"),
                   subject = "h%d.phoenix.internal" % P.i, cert = "/leaf/one-%d.crt" % P.i, key = "/leaf/one-%d.key" % P.i)
`

// TestIssueThroughput issues 100 certificates from one script and one
// each from separate `phoenix exec` runs of a one-certificate script (the
// shell-loop way the old scripts worked), against the same `phoenix ca
// serve` process, with the binary built once. With PHOENIX_TIMING=1 it
// makes 3 runs of the one script and 100 separate runs, and one script
// must issue at least 10 times as many certificates a second (medians):
// it decrypts the provisioner key once. Without, it makes one and 3.
func TestIssueThroughput(t *testing.T) {
	if testing.Short() {
		t.Skip("skipped in -short mode: builds phoenix and runs it")
	}
	needRoot(t)
	pairs, scripts, separate := 1, 1, 3
	if testkit.Timing() {
		pairs, scripts, separate = 3, 3, 100
	}
	_, config, script := lxc103(t)
	bin := testkit.Phoenix(t)
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	phoenix := func(args ...string) (time.Duration, string) {
		t.Helper()
		cmd := exec.Command(bin, args...)
		cmd.Dir = dir
		start := time.Now()
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("phoenix %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return time.Since(start), string(out)
	}
	common := []string{"--sim", "--root", root, "--config", config}

	// The binary's own wall times for lxc_103.star, fresh and no-op,
	// in interleaved pairs on their own roots (the last one is used below).
	var fresh, noop []time.Duration
	for i := 0; i < pairs; i++ {
		r := filepath.Join(dir, fmt.Sprintf("root-%d", i))
		if i == pairs-1 {
			r = root
		}
		args := []string{"exec", "--sim", "--root", r, "--config", config, script}
		d, out := phoenix(args...)
		if !strings.Contains(out, "applied  create  ca:") {
			t.Fatalf("fresh run made no CA:\n%s", out)
		}
		fresh = append(fresh, d)
		d, out = phoenix(args...)
		if !strings.Contains(out, "0 changed") {
			t.Fatalf("second run changed something:\n%s", out)
		}
		noop = append(noop, d)
	}
	t.Logf("phoenix exec --sim scripts/lxc_103.star (the binary, medians of %d pairs): fresh %v, no-op %v",
		pairs, median(fresh).Round(time.Millisecond), median(noop).Round(time.Millisecond))

	ssl := filepath.Join(root, "mnt/pve/quickOS/lxc-persistent-data/103/ssl")
	url := startCAServe(t, bin, ssl)
	many, one := filepath.Join(dir, "many.star"), filepath.Join(dir, "one.star")
	for f, src := range map[string]string{many: manyCerts, one: oneCert} {
		if err := os.WriteFile(f, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const n = 100
	var tOne []time.Duration
	for k := 0; k < scripts; k++ {
		d, out := phoenix(append(append([]string{"exec"}, common...), many, "--ca-url="+url, fmt.Sprintf("--tag=many%d", k))...)
		want := n
		if k == 0 {
			want++ // and /leaf
		}
		if !strings.Contains(out, fmt.Sprintf("%d changed", want)) {
			t.Fatalf("one script did not issue %d certificates:\n%s", n, out)
		}
		tOne = append(tOne, d)
	}
	var each []time.Duration
	for i := 0; i < separate; i++ {
		d, out := phoenix(append(append([]string{"exec"}, common...), one, "--ca-url="+url, fmt.Sprintf("--i=%d", i))...)
		if !strings.Contains(out, "cert:/leaf/one-") {
			t.Fatalf("run %d issued nothing:\n%s", i, out)
		}
		each = append(each, d)
	}
	var files []string
	for k := 0; k < scripts; k++ {
		for i := 0; i < n; i++ {
			files = append(files, fmt.Sprintf("many%d-%d.crt", k, i))
		}
	}
	for i := 0; i < separate; i++ {
		files = append(files, fmt.Sprintf("one-%d.crt", i))
	}
	for _, f := range files {
		if _, err := os.Stat(filepath.Join(root, "leaf", f)); err != nil {
			t.Fatal(err)
		}
	}
	perCert := median(tOne) / n
	ratio := float64(median(each)) / float64(perCert)
	t.Logf("%d certificates from one script: median %v over %d runs (%.1f/s); one per phoenix exec run: median %v over %d runs (%.1f/s); %.1fx the throughput",
		n, median(tOne).Round(time.Millisecond), scripts, 1/perCert.Seconds(), median(each).Round(time.Millisecond), separate,
		1/median(each).Seconds(), ratio)
	if testkit.Timing() && ratio < 10 {
		t.Errorf("one script is %.1fx the throughput of separate runs, want at least 10x", ratio)
	}
}

// startCAServe runs `phoenix ca serve` from the built binary on a free
// loopback port and returns its URL; it is stopped when the test ends.
func startCAServe(t *testing.T, bin, ssl string) string {
	t.Helper()
	cmd := exec.Command(bin, "ca", "serve", "--ca-config", filepath.Join(ssl, "config", "ca.json"),
		"--password-file", filepath.Join(ssl, "password.txt"), "--map", "/etc/step-ca/ssl="+ssl, "--listen", "127.0.0.1:0")
	d, url, err := startCA(cmd)
	if err != nil {
		t.Fatalf("phoenix ca serve: %v", err)
	}
	t.Cleanup(func() { d.Stop() })
	return url
}

// withHooks is every family plus test hooks that script the simulated
// host's answers.
func withHooks(hooks []func(*runtime.Runtime, *machine.SimRunner) error) []runtime.Family {
	fams := builtins.All()
	for _, h := range hooks {
		fams = append(fams, runtime.Family{Name: "test-hook", Sim: h})
	}
	return fams
}

// simRuntime is a --sim runtime whose proxmox family talks to a PVE
// simulator keeping its state where the CLI keeps it. The caller closes it.
func simRuntime(t *testing.T, o runtime.Options) (*runtime.Runtime, *pvesimtest.Sim) {
	t.Helper()
	rt, err := runtime.New(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	state, err := rt.Root.Resolve(proxmox.SimStatePath)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(state), 0o755); err != nil {
		t.Fatal(err)
	}
	srv := pvesimtest.Start(t, pvesim.Options{RootPassword: "e2e-root-password", StateFile: state})
	c := srv.Connect(t, pve.Auth{User: "root@pam", Password: "e2e-root-password"}, pve.Options{})
	if _, err := proxmox.Use(rt, c, srv.Server); err != nil {
		t.Fatal(err)
	}
	return rt, srv
}

// execScript runs script with its declared parameters at their defaults.
func execScript(t *testing.T, rt *runtime.Runtime, script string) error {
	t.Helper()
	decls, err := runtime.DeclaredParams(script)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rt.SetParams(decls, nil, nil); err != nil {
		t.Fatal(err)
	}
	_, err = rt.ExecScript(script)
	return err
}
