package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"phoenix/internal/ca"
	"phoenix/internal/machine"
	"phoenix/internal/testkit"
	"phoenix/runtime"
)

const netnsEnv = "PHOENIX_E2E_IN_NETNS"

// inCANetns reports whether the test runs in a fresh network namespace
// where 10.0.0.103, the CA's address in the site config, is on the
// loopback. Called outside one, it runs the test again inside one
// (unshare --net, so the host's network is not touched), with env added,
// fails t when that run does not pass, and returns false.
func inCANetns(t *testing.T, env ...string) bool {
	t.Helper()
	if os.Getenv(netnsEnv) != "1" {
		needRoot(t)
		unshare := testkit.Tool(t, "unshare")
		testkit.Tool(t, "ip")
		cmd := exec.Command(unshare, "--net", "--", os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1")
		cmd.Env = append(append(os.Environ(), netnsEnv+"=1"), env...)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: "+t.Name()) {
			t.Fatalf("in a new network namespace: %v\n%s", err, out)
		}
		t.Logf("in a new network namespace:\n%s", out)
		return false
	}
	for _, args := range [][]string{{"link", "set", "lo", "up"}, {"addr", "add", "10.0.0.103/32", "dev", "lo"}} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	return true
}

// TestHealthCheck runs lxc_103.star's health check as on a real host: the
// CA answers at 103's address from the site config (10.0.0.103:9000),
// which a fresh network namespace puts on its loopback, so the host's
// network is not touched. Served, the check is ok; stopped, it fails
// (exit 3); restarted by the run, the check waits for it to listen.
func TestHealthCheck(t *testing.T) {
	if !inCANetns(t) {
		return
	}
	_, config, script := lxc103(t)
	root := filepath.Join(t.TempDir(), "root")
	runSim(t, config, root, script)

	// Pretend not to run under --sim: the check probes for real.
	real := starlark.StringDict{"phoenix": starlarkstruct.FromStringDict(starlark.String("phoenix"),
		starlark.StringDict{"sim": starlark.False, "target": starlark.String("")})}
	ssl := filepath.Join(root, "mnt/pve/quickOS/lxc-persistent-data/103/ssl")
	serve := func() *ca.Server {
		pw, err := os.ReadFile(filepath.Join(ssl, "password.txt"))
		if err != nil {
			t.Fatal(err)
		}
		srv, err := ca.Serve(filepath.Join(ssl, "config", "ca.json"), []byte(strings.TrimSpace(string(pw))),
			ca.ServeOptions{PathMap: map[string]string{"/etc/step-ca/ssl": ssl}}) // ca.json's address, :9000
		if err != nil {
			t.Fatal(err)
		}
		return srv
	}
	check := func(r simRun) runtime.CheckResult {
		t.Helper()
		if len(r.report.Checks) != 1 {
			t.Fatalf("checks: %+v", r.report.Checks)
		}
		return r.report.Checks[0]
	}

	srv := serve()
	c := check(runSimWith(t, config, root, script, real))
	if c.Status != "ok" || c.Target != "10.0.0.103:9000" ||
		!strings.Contains(c.Detail, "CN=Phoenix Internal CA Intermediate CA,O=Phoenix Internal CA <- CN=Phoenix Internal CA Root CA,O=Phoenix Internal CA") {
		t.Errorf("served: %+v", c)
	}
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	r := runSimWith(t, config, root, script, real)
	if c := check(r); c.Status != "fail" || !strings.Contains(c.Detail, "connection refused") || !r.report.ChecksFailed() {
		t.Errorf("stopped: %+v", c)
	}

	// The daemon is down and the run restarts it: the check waits until it
	// listens (here it comes up a second later).
	inactive := func(_ *runtime.Runtime, sr *machine.SimRunner) error {
		sr.Script([]string{"pct", "exec", "103", "--", "systemctl", "is-active"}, machine.Result{ExitCode: 3})
		return nil
	}
	started := make(chan *ca.Server, 1)
	go func() {
		time.Sleep(time.Second)
		started <- serve()
	}()
	r = runSimWith(t, config, root, script, real, inactive)
	srv = <-started
	defer srv.Stop()
	if c := check(r); c.Status != "ok" {
		t.Errorf("restarted: %+v", c)
	}
	if got := changesOf(r); strings.Join(got, "\n") != "run cmd:pct exec 103 -- systemctl restart step-ca.service" {
		t.Errorf("restarted: changes %v", got)
	}
}
