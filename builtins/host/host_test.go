package host_test

import (
	"context"
	"os"
	"path/filepath"
	"phoenix/internal/testkit"
	"strings"
	"syscall"
	"testing"

	"go.starlark.net/starlark"

	"phoenix/builtins"
	"phoenix/runtime"
	"phoenix/runtime/runtimetest"
)

func predeclared() starlark.StringDict {
	return starlark.StringDict{}
}

func TestStar(t *testing.T) {
	runtimetest.Run(t, "testdata/*.star", runtimetest.Options{Families: builtins.All()})
}

func TestStarDryRun(t *testing.T) {
	runtimetest.Run(t, "testdata/dryrun/*.star", runtimetest.Options{Families: builtins.All(), DryRun: true})
}

// runMounts runs scripts/mounts.star once, as phoenix exec --sim would,
// on the given root; it returns the run's changes.
func runMounts(t *testing.T, root string, dry bool) []runtime.Change {
	t.Helper()
	rt, err := runtime.New(context.Background(), runtime.Options{
		Sim: true, DryRun: dry, RootDir: root, Families: builtins.All(), ConfigDir: "../../config",
	})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	if _, err := rt.ExecScript("../../scripts/mounts.star"); err != nil {
		t.Fatal(err)
	}
	return rt.Report().Changes
}

func resources(cs []runtime.Change) string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Action+" "+c.Resource)
	}
	return strings.Join(out, "\n")
}

// TestMountsScript is the acceptance run of scripts/mounts.star: the plan
// lists exactly what the first run does, which creates the CA's dataset
// and directories with mapped owners; the second run changes nothing.
func TestMountsScript(t *testing.T) {
	testkit.NeedRoot(t, "bind-mount directories are chowned to the container's mapped root")
	root := filepath.Join(t.TempDir(), "root")
	plan := runMounts(t, root, true)
	first := runMounts(t, root, false)
	if resources(plan) != resources(first) {
		t.Errorf("plan:\n%s\nfirst run:\n%s", resources(plan), resources(first))
	}
	for _, want := range []string{
		"create zfs:quickOS/lxc-persistent-data",
		"create zfs:quickOS/lxc-persistent-data/101",
		"create zfs:quickOS/lxc-persistent-data/102",
		"create zfs:quickOS/lxc-persistent-data/103",
		"create dir:/mnt/pve/quickOS/lxc-persistent-data/103/ssl",
		"create dir:/mnt/pve/quickOS/lxc-persistent-data/103/export",
		"create dir:/mnt/pve/quickOS/lxc-persistent-data/103/export/gateway",
		"create dir:/mnt/pve/quickOS/lxc-persistent-data/103/export/trust",
	} {
		if !strings.Contains(resources(first)+"\n", want+"\n") {
			t.Errorf("first run lacks %q:\n%s", want, resources(first))
		}
	}
	if strings.Contains(resources(first), "dir:/mnt/pve/quickOS/lxc-persistent-data/103\n") {
		t.Errorf("the dataset's mountpoint was also made as a directory:\n%s", resources(first))
	}
	for p, want := range map[string]struct {
		uid  uint32
		mode os.FileMode
	}{
		"mnt/pve/quickOS/lxc-persistent-data/103/ssl":            {100000, 0o700},
		"mnt/pve/quickOS/lxc-persistent-data/103/export/gateway": {100000, 0o755},
		"mnt/pve/quickOS/lxc-persistent-data/103/export/trust":   {100000, 0o755},
		"mnt/pve/quickOS/lxc-persistent-data/101/certs":          {100000, 0o700},
	} {
		st, err := os.Stat(filepath.Join(root, p))
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		sys := st.Sys().(*syscall.Stat_t)
		if !st.IsDir() || sys.Uid != want.uid || sys.Gid != want.uid || st.Mode().Perm() != want.mode {
			t.Errorf("%s: dir %v, owner %d:%d, mode %v; want %d:%d %v", p, st.IsDir(), sys.Uid, sys.Gid, st.Mode().Perm(), want.uid, want.uid, want.mode)
		}
	}
	if second := runMounts(t, root, false); len(second) != 0 {
		t.Errorf("second run changed:\n%s", resources(second))
	}
}
