package zfs

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"phoenix/internal/machine"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// newClient is a Client over a SimRunner whose "zfs" is a fresh Sim.
func newClient(t *testing.T) (*Client, *machine.SimRunner, *machine.Root) {
	t.Helper()
	e := newSimEnv(t)
	sr := machine.NewSimRunner()
	sr.Handle("zfs", e.sim.Handler())
	return New(sr), sr, e.root
}

func TestClientAgainstSim(t *testing.T) {
	c, sr, root := newClient(t)
	ctx := context.Background()
	const ds = "quickOS/lxc-persistent-data/103"

	err := c.Create(ctx, ds, nil, false)
	if !errors.Is(err, ErrNoParent) {
		t.Fatalf("create without parents: %v", err)
	}
	var ze *Error
	if !errors.As(err, &ze) || ze.ExitCode != 1 ||
		!reflect.DeepEqual(ze.Argv, []string{"zfs", "create", ds}) ||
		ze.Stderr != "cannot create '"+ds+"': parent does not exist\n" {
		t.Fatalf("typed error: %#v", ze)
	}
	if !strings.Contains(err.Error(), "zfs create "+ds) || !strings.Contains(err.Error(), "parent does not exist") {
		t.Errorf("error text: %v", err)
	}

	if err := c.Create(ctx, ds, map[string]string{"compression": "lz4", "phoenix:role": "ca"}, true); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, "quickOS/lxc-persistent-data", nil, false); !errors.Is(err, ErrExist) {
		t.Errorf("create existing: %v", err)
	}

	d, ok, err := c.Lookup(ctx, ds)
	if err != nil || !ok {
		t.Fatalf("lookup: %v %v", ok, err)
	}
	if d.Name != ds || d.Mountpoint != "/mnt/pve/quickOS/lxc-persistent-data/103" || d.Refer != baseRefer || d.Used != baseRefer || d.Avail == 0 {
		t.Errorf("lookup: %+v", d)
	}
	if _, ok, err := c.Lookup(ctx, "quickOS/nope"); ok || err != nil {
		t.Errorf("lookup of a missing dataset: %v %v", ok, err)
	}
	if m, ok, err := c.LookupMount(ctx, ds); err != nil || !ok || m != (Mount{ds, "/mnt/pve/quickOS/lxc-persistent-data/103"}) {
		t.Errorf("lookup of the mount: %+v %v %v", m, ok, err)
	}
	if _, ok, err := c.LookupMount(ctx, "quickOS/nope"); ok || err != nil {
		t.Errorf("lookup of a missing mount: %v %v", ok, err)
	}
	if ms, err := c.Mounts(ctx, "quickOS/lxc-persistent-data", true); err != nil || len(ms) != 2 || ms[1].Name != ds {
		t.Errorf("mounts -r: %+v %v", ms, err)
	}

	all, err := c.List(ctx, "quickOS", true)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range all {
		names = append(names, d.Name)
	}
	if strings.Join(names, ",") != "quickOS,quickOS/lxc-persistent-data,"+ds {
		t.Errorf("list -r: %v", names)
	}
	if everything, err := c.List(ctx, "", false); err != nil || len(everything) != 5 {
		t.Errorf("list all: %d %v", len(everything), err)
	}

	props, err := c.Get(ctx, ds, "compression", "atime", "mountpoint", "phoenix:role", "phoenix:unset")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, p := range props {
		got[p.Name] = p.Value + " " + p.Source.String()
	}
	want := map[string]string{
		"compression": "lz4 local", "atime": "on default",
		"mountpoint":   "/mnt/pve/quickOS/lxc-persistent-data/103 inherited from quickOS",
		"phoenix:role": "ca local", "phoenix:unset": "- -",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("get: %v", got)
	}
	if allProps, err := c.Get(ctx, ds); err != nil || len(allProps) < 50 {
		t.Errorf("get all: %d %v", len(allProps), err)
	}

	if err := c.Set(ctx, ds, map[string]string{"atime": "off", "quota": "2G"}); err != nil {
		t.Fatal(err)
	}
	if err := c.Set(ctx, ds, map[string]string{"atime": "maybe"}); err == nil || !strings.Contains(err.Error(), "'atime' must be one of 'on | off'") {
		t.Errorf("bad value: %v", err)
	}

	// Snapshots, rollback of content, and the refusals.
	dir, _ := root.Resolve("/mnt/pve/quickOS/lxc-persistent-data/103")
	os.WriteFile(filepath.Join(dir, "ca.json"), []byte("v1"), 0o600)
	if err := c.Snapshot(ctx, ds, "before reinit"); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "ca.json"), []byte("v2"), 0o600)
	if err := c.Snapshot(ctx, ds, "after"); err != nil {
		t.Fatal(err)
	}
	if err := c.Snapshot(ctx, ds, "after"); !errors.Is(err, ErrExist) {
		t.Errorf("snapshot twice: %v", err)
	}
	snaps, err := c.Snapshots(ctx, ds)
	if err != nil || len(snaps) != 2 || snaps[0].Snap != "before reinit" || snaps[1].Snap != "after" || snaps[0].Creation >= snaps[1].Creation || snaps[0].Dataset != ds {
		t.Fatalf("snapshots: %+v %v", snaps, err)
	}
	if err := c.Rollback(ctx, ds, "before reinit", false); !errors.Is(err, ErrNewerSnapshots) {
		t.Errorf("rollback past a newer snapshot: %v", err)
	}
	if err := c.Rollback(ctx, ds, "nope", false); !errors.Is(err, ErrNotExist) {
		t.Errorf("rollback to a missing snapshot: %v", err)
	}
	if err := c.Rollback(ctx, ds, "before reinit", true); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "ca.json")); string(b) != "v1" {
		t.Errorf("content after rollback: %q", b)
	}

	if err := c.Destroy(ctx, "quickOS/lxc-persistent-data", false); !errors.Is(err, ErrHasChildren) {
		t.Errorf("destroy with children: %v", err)
	}
	if err := c.Destroy(ctx, ds+"@before reinit", false); err != nil {
		t.Errorf("destroy snapshot: %v", err)
	}
	if err := c.Destroy(ctx, "quickOS/lxc-persistent-data", true); err != nil {
		t.Fatal(err)
	}
	if err := c.Destroy(ctx, ds, false); !errors.Is(err, ErrNotExist) {
		t.Errorf("destroy twice: %v", err)
	}

	// Every command used the machine-readable forms.
	for _, cmd := range sr.Log() {
		a := cmd.Argv
		switch a[1] {
		case "list", "get":
			if !slices.Contains(a, "-H") || !slices.Contains(a, "-p") {
				t.Errorf("%v: not -H -p", a)
			}
		}
	}
}

// TestClientArgv pins the exact command lines, against scripted output.
func TestClientArgv(t *testing.T) {
	sr := machine.NewSimRunner()
	c := New(sr)
	ctx := context.Background()
	sr.Script([]string{"zfs", "list"}, machine.Result{Stdout: []byte("p/a b\t1\t2\t3\t/x y\n")})
	sr.Script([]string{"zfs", "get"}, machine.Result{Stdout: []byte("p/a b\tatime\toff\tinherited from p\n")})
	sr.Script([]string{"zfs", "list", "-H", "-p", "-t", "snapshot"}, machine.Result{Stdout: []byte("p/a b@s\t5\n")})
	if ds, err := c.List(ctx, "p/a b", true); err != nil || ds[0].Mountpoint != "/x y" {
		t.Errorf("list: %v %v", ds, err)
	}
	if ps, err := c.Get(ctx, "p/a b", "atime"); err != nil || ps[0].Source.From != "p" {
		t.Errorf("get: %v %v", ps, err)
	}
	c.Get(ctx, "p/a b")
	c.Create(ctx, "p/a b", map[string]string{"z:z": "1", "atime": "off"}, true)
	c.Set(ctx, "p/a b", map[string]string{"quota": "1G", "atime": "on"})
	c.Snapshot(ctx, "p/a b", "s")
	c.Snapshots(ctx, "p/a b")
	c.Rollback(ctx, "p/a b", "s", true)
	c.Rollback(ctx, "p/a b", "s", false)
	c.Destroy(ctx, "p/a b", true)
	c.Destroy(ctx, "p/a b@s", false)
	want := [][]string{
		{"zfs", "list", "-H", "-p", "-o", "name,used,avail,refer,mountpoint", "-t", "filesystem", "-r", "p/a b"},
		{"zfs", "get", "-H", "-p", "-o", "name,property,value,source", "atime", "p/a b"},
		{"zfs", "get", "-H", "-p", "-o", "name,property,value,source", "all", "p/a b"},
		{"zfs", "create", "-p", "-o", "atime=off", "-o", "z:z=1", "p/a b"},
		{"zfs", "set", "atime=on", "quota=1G", "p/a b"},
		{"zfs", "snapshot", "p/a b@s"},
		{"zfs", "list", "-H", "-p", "-t", "snapshot", "-o", "name,creation", "p/a b"},
		{"zfs", "rollback", "-r", "p/a b@s"},
		{"zfs", "rollback", "p/a b@s"},
		{"zfs", "destroy", "-r", "p/a b"},
		{"zfs", "destroy", "p/a b@s"},
	}
	var got [][]string
	for _, cmd := range sr.Log() {
		got = append(got, cmd.Argv)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("argv:\n%q\nwant:\n%q", got, want)
	}
}

// TestClientRefusesBadInput checks that nothing that could be read as an
// option or break -H output reaches zfs.
func TestClientRefusesBadInput(t *testing.T) {
	sr := machine.NewSimRunner()
	c := New(sr)
	ctx := context.Background()
	for name, err := range map[string]error{
		"name -r":       c.Destroy(ctx, "-r", false),
		"name newline":  c.Create(ctx, "p/a\nb", nil, false),
		"leading slash": c.Snapshot(ctx, "/p", "s"),
		"snap with @":   c.Snapshot(ctx, "p", "a@b"),
		"snap in list":  func() error { _, err := c.List(ctx, "p@s", false); return err }(),
		"prop with =":   c.Set(ctx, "p", map[string]string{"a=b": "c"}),
		"prop option":   c.Set(ctx, "p", map[string]string{"-o": "c"}),
		"value newline": c.Create(ctx, "p/a", map[string]string{"phoenix:x": "a\nb"}, false),
		"get all name":  func() error { _, err := c.Get(ctx, "p", "all"); return err }(),
	} {
		if err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if n := len(sr.Log()); n != 0 {
		t.Errorf("%d commands ran", n)
	}
}

// TestClientRunnerError: a command that could not run at all is not an
// *Error.
func TestClientRunnerError(t *testing.T) {
	sr := machine.NewSimRunner()
	sr.Handle("zfs", func(context.Context, machine.Cmd) (machine.Result, error) {
		return machine.Result{}, errors.New("exec: \"zfs\": executable file not found in $PATH")
	})
	_, err := New(sr).List(context.Background(), "", false)
	var ze *Error
	if err == nil || errors.As(err, &ze) || !strings.Contains(err.Error(), "executable file not found") {
		t.Errorf("got %v", err)
	}
}
