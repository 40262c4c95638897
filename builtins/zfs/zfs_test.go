package zfs_test

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"go.starlark.net/starlark"

	"phoenix/builtins"
	"phoenix/internal/machine"
	"phoenix/runtime"
	"phoenix/runtime/runtimetest"
)

func predeclared(pool string) starlark.StringDict {
	return starlark.StringDict{"POOL": starlark.String(pool)}
}

// TestStar runs testdata/*.star against the simulator.
func TestStar(t *testing.T) {
	runtimetest.Run(t, "testdata/*.star", runtimetest.Options{
		Families: builtins.All(),
		Globals:  predeclared("quickOS"),
	})
}

// TestStarWithoutHook: the module installs the simulator itself when the
// runtime's hooks did not.
func TestStarWithoutHook(t *testing.T) {
	runtimetest.Run(t, "testdata/zfs.star", runtimetest.Options{Families: withoutHook(), Globals: predeclared("quickOS")})
}

// withoutHook is every family with zfs's --sim hook left out.
func withoutHook() []runtime.Family {
	var out []runtime.Family
	for _, f := range builtins.All() {
		if f.Name == "zfs" {
			f.Sim = nil
		}
		out = append(out, f)
	}
	return out
}

// TestStarRealZFS runs the same file against a real OpenZFS 2.x. These
// machines have no ZFS kernel module, so it skips, saying so, even in CI:
// the one stated exception to "a missing tool fails CI".
func TestStarRealZFS(t *testing.T) {
	if why := realZFS(); why != "" {
		t.Skipf("skipped, also in CI: %s; the same testdata/zfs.star ran against the simulator in TestStar", why)
	}
	pool := os.Getenv("PHOENIX_TEST_ZPOOL")
	if pool == "" {
		t.Skip("skipped: OpenZFS is present, but PHOENIX_TEST_ZPOOL does not name a disposable pool to test in")
	}
	rt, err := runtime.New(context.Background(), runtime.Options{
		RootDir:  "/",
		Runner:   machine.ExecRunner{},
		Families: builtins.All(),
		Globals:  predeclared(pool),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	if _, err := rt.ExecScript("testdata/zfs.star"); err != nil {
		t.Fatal(err)
	}
}

// realZFS says why there is no usable OpenZFS 2.x, or "" if there is.
func realZFS() string {
	if _, err := exec.LookPath("zfs"); err != nil {
		return "no zfs command"
	}
	if _, err := os.Stat("/dev/zfs"); err != nil {
		return "no /dev/zfs (the ZFS kernel module is not loaded, and cannot be here)"
	}
	out, err := exec.Command("zfs", "version").Output()
	if err != nil || !strings.HasPrefix(string(out), "zfs-2.") {
		return "zfs is not OpenZFS 2.x (zfs version: " + strings.TrimSpace(string(out)) + ")"
	}
	return ""
}

// TestPlan: in a dry run nothing is made, later reads see the plan, and
// the plan lists exactly what apply then does.
func TestPlan(t *testing.T) {
	root := filepath.Join(t.TempDir(), "root")
	script := filepath.Join(t.TempDir(), "plan.star")
	os.WriteFile(script, []byte(`
r = zfs.dataset_ensure("quickOS/p/q", properties = {"atime": "off"})
assert_true(r.created)
g = zfs.get("quickOS/p/q")
assert_true(g != None)
assert_eq(g.mountpoint, "/mnt/pve/quickOS/p/q")
assert_eq(g.properties["atime"], "off")
assert_eq(zfs.dataset_ensure("quickOS/p/q", properties = {"atime": "off"}).changed, False)
assert_eq([d.name for d in zfs.list(prefix = "quickOS/p")], ["quickOS/p", "quickOS/p/q"])
zfs.snapshot("quickOS/p/q", "s")
assert_eq([s.name for s in zfs.snapshots("quickOS/p/q")], ["quickOS/p/q@s"])
assert_eq(zfs.snapshot("quickOS/p/q", "s").changed, False)
assert_eq(fs.mkdir("/mnt/pve/quickOS/p/q/sub").changed, True)
zfs.set("quickOS", {"atime": "off"})
assert_eq(zfs.get("quickOS").properties["atime"], "off")
zfs.destroy("rpool/data", confirm = "rpool/data")
assert_eq(zfs.get("rpool/data"), None)
`), 0o644)
	assertions := starlark.StringDict{
		"assert_true": starlark.NewBuiltin("assert_true", func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, _ []starlark.Tuple) (starlark.Value, error) {
			if !args[0].Truth() {
				return nil, errorf("assert_true failed")
			}
			return starlark.None, nil
		}),
		"assert_eq": starlark.NewBuiltin("assert_eq", func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, _ []starlark.Tuple) (starlark.Value, error) {
			if eq, err := starlark.Equal(args[0], args[1]); err != nil || !eq {
				return nil, errorf("got %s, want %s", args[0], args[1])
			}
			return starlark.None, nil
		}),
	}
	run := func(dry bool) *runtime.Runtime {
		d := predeclared("quickOS")
		for k, v := range assertions {
			d[k] = v
		}
		rt, err := runtime.New(context.Background(), runtime.Options{Sim: true, DryRun: dry, RootDir: root, Families: builtins.All(), Globals: d})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(rt.Close)
		return rt
	}
	rt := run(true)
	if _, err := rt.ExecScript(script); err != nil {
		t.Fatal(err)
	}
	var planned []string
	for _, c := range rt.Report().Changes {
		planned = append(planned, c.Action+" "+c.Resource)
		if c.Applied {
			t.Errorf("%s applied in a dry run", c.Resource)
		}
	}
	want := "create zfs:quickOS/p,create zfs:quickOS/p/q,create zfs:quickOS/p/q@s,create dir:/mnt/pve/quickOS/p/q/sub,update zfs:quickOS,delete zfs:rpool/data"
	if strings.Join(planned, ",") != want {
		t.Errorf("plan:\n%s\nwant:\n%s", strings.Join(planned, ","), want)
	}
	res, _ := rt.Runner.Run(context.Background(), machine.Cmd{Argv: []string{"zfs", "list", "-H", "-o", "name", "-t", "all"}})
	if got := string(res.Stdout); got != "quickOS\nrpool\nrpool/data\n" {
		t.Errorf("a dry run changed zfs:\n%s", got)
	}
	if _, err := os.Stat(filepath.Join(root, "mnt/pve/quickOS/p")); !os.IsNotExist(err) {
		t.Errorf("a dry run made a mountpoint: %v", err)
	}

	// Apply does what the plan said, in the same order.
	rt = run(false)
	if _, err := rt.ExecScript(script); err != nil {
		t.Fatal(err)
	}
	var applied []string
	for _, c := range rt.Report().Changes {
		applied = append(applied, c.Action+" "+c.Resource)
	}
	if strings.Join(applied, ",") != want {
		t.Errorf("apply:\n%s\nwant:\n%s", strings.Join(applied, ","), want)
	}
}

func errorf(format string, a ...any) error { return fmt.Errorf(format, a...) }

// TestStarDryRun runs testdata/dryrun/*.star as a plan.
func TestStarDryRun(t *testing.T) {
	runtimetest.Run(t, "testdata/dryrun/*.star", runtimetest.Options{
		Families: builtins.All(),
		Globals:  predeclared("quickOS"),
		DryRun:   true,
	})
}
