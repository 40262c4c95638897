package dnsmasq_test

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.starlark.net/starlark"

	"phoenix/builtins"
	"phoenix/internal/machine"
	"phoenix/internal/testkit"
	"phoenix/runtime"
	"phoenix/runtime/runtimetest"
)

func config(t *testing.T) string { return filepath.Join(testkit.RepoDir(t), "config") }

func TestStar(t *testing.T) {
	runtimetest.Run(t, "testdata/*.star", runtimetest.Options{Families: builtins.All(), ConfigDir: config(t)})
}

func TestPlan(t *testing.T) {
	runtimetest.Run(t, "testdata/dryrun/*.star", runtimetest.Options{Families: builtins.All(), ConfigDir: config(t), DryRun: true})
}

// TestSimCommands: under --sim the restart and the reload are commands
// the simulated runner records, and nothing else is run but dnsmasq --test.
func TestSimCommands(t *testing.T) {
	rt := runtimetest.New(t, runtimetest.Options{Families: builtins.All(), ConfigDir: config(t)})
	if _, err := execString(t, rt, "apply.star", `
site = config.site()
dnsmasq.apply(dnsmasq.render(site))
dnsmasq.apply(dnsmasq.render(site, hosts = "addn-hosts"))
dnsmasq.apply(dnsmasq.render(site, hosts = "addn-hosts", records = [{"view": "internal", "name": "a.phoenix.internal", "type": "A", "value": "10.0.0.5"}]))
`); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range rt.Runner.(*machine.SimRunner).Log() {
		if c.Argv[0] == "dnsmasq" {
			if len(c.Argv) != 3 || c.Argv[1] != "--test" || !strings.HasPrefix(c.Argv[2], "--conf-file=") {
				t.Errorf("dnsmasq run as %q", c)
			}
			continue
		}
		got = append(got, c.String())
	}
	want := []string{
		"systemctl restart dnsmasq", "systemctl restart dnsmasq@external",
		"systemctl restart dnsmasq", "systemctl restart dnsmasq@external",
		"systemctl reload dnsmasq", "systemctl reload dnsmasq@external",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("commands:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestBadConfigKeepsFile: a file dnsmasq --test rejects is not written,
// and nothing else is either.
func TestBadConfigKeepsFile(t *testing.T) {
	testkit.Tool(t, "dnsmasq")
	rt := runtimetest.New(t, runtimetest.Options{Families: builtins.All(), ConfigDir: config(t)})
	if _, err := execString(t, rt, "good.star", `dnsmasq.apply(dnsmasq.render(config.site()))`); err != nil {
		t.Fatal(err)
	}
	before, err := testkit.Tree(rt.Root.Dir())
	if err != nil {
		t.Fatal(err)
	}
	n := rt.Report().Len()
	_, err = execString(t, rt, "bad.star", `
dnsmasq.apply(dnsmasq.render(config.site(), options = ["no-such-option"], records = [
    {"view": "internal", "name": "a.phoenix.internal", "type": "A", "value": "10.0.0.5"}]))
`)
	if err == nil || !strings.Contains(err.Error(), "/etc/dnsmasq.d/10-phoenix.conf is not applied, the current file stays: dnsmasq --test rejects it: ") ||
		!strings.Contains(err.Error(), "bad option at line") {
		t.Fatalf("err = %v", err)
	}
	after, err := testkit.Tree(rt.Root.Dir())
	if err != nil {
		t.Fatal(err)
	}
	if diff := testkit.TreeDiff(before, after); diff != "" {
		t.Fatalf("the root changed:\n%s", diff)
	}
	if rt.Report().Len() != n {
		t.Fatalf("changes declared after the failed test: %+v", rt.Report().Changes[n:])
	}
}

// execString runs src as a script named name.
func execString(t *testing.T, rt *runtime.Runtime, name, src string) (starlark.StringDict, error) {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return rt.ExecScript(p)
}

// TestRetireExternalView: when the site drops dns.external_listen_address,
// the external instance's files go and its service is stopped and
// disabled, once; the internal view stays as it was.
func TestRetireExternalView(t *testing.T) {
	dir := testkit.SiteConfig(t)
	rt := runtimetest.New(t, runtimetest.Options{Families: builtins.All(), ConfigDir: dir})
	if _, err := execString(t, rt, "with.star", `dnsmasq.apply(dnsmasq.render(config.site()))`); err != nil {
		t.Fatal(err)
	}
	hv := filepath.Join(dir, "phoenix_hypervisor_config.json")
	b, err := os.ReadFile(hv)
	if err != nil {
		t.Fatal(err)
	}
	without := strings.Replace(string(b), `"external_listen_address": "203.0.113.2",`, "", 1)
	if without == string(b) {
		t.Fatal("the example site has no external_listen_address to drop")
	}
	if err := os.WriteFile(hv, []byte(without), 0o644); err != nil {
		t.Fatal(err)
	}
	// A later run, as the operator's next one: the site is read anew.
	rt, err = runtime.New(context.Background(), runtime.Options{Sim: true, RootDir: rt.Root.Dir(), ConfigDir: dir, Families: builtins.All(), Stderr: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	runner := rt.Runner.(*machine.SimRunner)
	before := len(runner.Log())
	if _, err := execString(t, rt, "without.star", `
r = dnsmasq.apply(dnsmasq.render(config.site()))
if sorted(r.files) != ["/etc/default/dnsmasq.external", "/etc/dnsmasq.d/phoenix/external.hosts.d/records", "/etc/dnsmasq.d/phoenix/external/10-phoenix.conf"]:
    fail("removed %s" % r.files)
if r.actions != {"dnsmasq": "none"}:
    fail("actions %s" % r.actions)
for p in r.files:
    if fs.exists(p):
        fail(p + " is still there")
if dnsmasq.apply(dnsmasq.render(config.site())).changed:
    fail("a second run changed something")
`); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range runner.Log()[before:] {
		if c.Argv[0] != "dnsmasq" {
			got = append(got, c.String())
		}
	}
	if want := "systemctl disable --now dnsmasq@external"; strings.Join(got, "\n") != want {
		t.Fatalf("commands %q, want %q", got, want)
	}
}
