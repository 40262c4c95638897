package zfs

import (
	"context"
	"os"
	"path/filepath"
	"phoenix/internal/machine"
	"strings"
	"testing"
)

type simEnv struct {
	t    *testing.T
	sim  *Sim
	root *machine.Root
}

func newSimEnv(t *testing.T) *simEnv {
	t.Helper()
	root, err := machine.NewRoot(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewSim(root)
	if err != nil {
		t.Fatal(err)
	}
	return &simEnv{t: t, sim: s, root: root}
}

// zfs runs one command line in the simulator.
func (e *simEnv) zfs(args ...string) (stdout, stderr string, code int) {
	e.t.Helper()
	res, err := e.sim.Handler()(context.Background(), machine.Cmd{Argv: append([]string{"zfs"}, args...)})
	if err != nil {
		e.t.Fatalf("zfs %s: %v", strings.Join(args, " "), err)
	}
	return string(res.Stdout), string(res.Stderr), res.ExitCode
}

// ok runs a command that must succeed silently on stderr.
func (e *simEnv) ok(args ...string) string {
	e.t.Helper()
	out, errs, code := e.zfs(args...)
	if code != 0 || errs != "" {
		e.t.Fatalf("zfs %s: exit %d, stderr %q", strings.Join(args, " "), code, errs)
	}
	return out
}

// fails runs a command that must fail with exactly stderr and code.
func (e *simEnv) fails(code int, stderr string, args ...string) {
	e.t.Helper()
	out, errs, c := e.zfs(args...)
	if c != code || errs != stderr || out != "" {
		e.t.Errorf("zfs %s:\n exit %d, stdout %q, stderr:\n%s\nwant exit %d, stderr:\n%s", strings.Join(args, " "), c, out, errs, code, stderr)
	}
}

func (e *simEnv) host(site string) string {
	e.t.Helper()
	h, err := e.root.Resolve(site)
	if err != nil {
		e.t.Fatal(err)
	}
	return h
}

func (e *simEnv) isDir(site string) bool {
	st, err := os.Stat(e.host(site))
	return err == nil && st.IsDir()
}

func (e *simEnv) prop(name, prop string) string {
	e.t.Helper()
	return strings.TrimSuffix(e.ok("get", "-H", "-p", "-o", "value,source", prop, name), "\n")
}

func TestSimSeed(t *testing.T) {
	e := newSimEnv(t)
	got := e.ok("list", "-H", "-o", "name,mountpoint")
	want := "quickOS\t/mnt/pve/quickOS\nrpool\t/rpool\nrpool/data\t/rpool/data\n"
	if got != want {
		t.Errorf("seed:\n%s\nwant:\n%s", got, want)
	}
	for _, d := range []string{"/mnt/pve/quickOS", "/rpool", "/rpool/data"} {
		if !e.isDir(d) {
			t.Errorf("%s not created", d)
		}
	}
	if got := e.prop("quickOS", "mountpoint"); got != "/mnt/pve/quickOS\tlocal" {
		t.Errorf("quickOS mountpoint: %q", got)
	}
	if got := e.prop("rpool/data", "mountpoint"); got != "/rpool/data\tdefault" {
		t.Errorf("rpool/data mountpoint: %q", got)
	}
}

func TestSimCreate(t *testing.T) {
	e := newSimEnv(t)
	e.fails(1, "cannot create 'quickOS/lxc-persistent-data/103': parent does not exist\n",
		"create", "quickOS/lxc-persistent-data/103")
	e.fails(1, "cannot create 'quickOS': missing dataset name\n", "create", "quickOS")
	e.fails(1, "cannot create 'tank/a': no such pool 'tank'\n", "create", "tank/a")
	e.fails(1, "cannot create 'tank/a/b': no such pool 'tank'\n", "create", "-p", "tank/a/b")
	e.fails(1, "cannot create 'quickOS/a/': trailing slash in name\n", "create", "quickOS/a/")
	e.fails(1, "cannot create 'quickOS//a': empty component or misplaced '@' or '#' delimiter in name\n", "create", "quickOS//a")
	e.fails(1, "cannot create 'quickOS/a*': invalid character '*' in name\n", "create", "quickOS/a*")
	e.fails(1, "cannot create 'quickOS/a@s': snapshot delimiter '@' is not expected here\n", "create", "quickOS/a@s")
	e.fails(1, "cannot create 'quickOS/..': parent reference, '..' is found in name\n", "create", "quickOS/..")
	e.fails(1, "cannot create 'quickOS/a%b': invalid character % in name\n", "create", "quickOS/a%b")
	e.fails(1, "cannot create 'quickOS/"+strings.Repeat("n/", 50)+"x': maximum name nesting depth exceeded\n", "create", "-p", "quickOS/"+strings.Repeat("n/", 50)+"x")
	e.fails(1, "cannot create snapshot 'quickOS@a/b': trailing slash in name\n", "snapshot", "quickOS@a/b")
	e.fails(1, "cannot create snapshot 'quickOS@a@b': multiple '@' and/or '#' delimiters in name\n", "snapshot", "quickOS@a@b")
	e.fails(1, "cannot create snapshot 'quickOS@': empty component or misplaced '@' or '#' delimiter in name\n", "snapshot", "quickOS@")
	e.fails(1, "cannot create snapshots : this property can not be modified for snapshots\n", "snapshot", "-o", "atime=off", "quickOS@p")
	e.fails(1, "cannot create 'quickOS/a': invalid property 'bogus'\n", "create", "-o", "bogus=1", "quickOS/a")
	e.fails(1, "cannot create 'quickOS/a': 'compression' must be one of '"+compressionValues+"'\n",
		"create", "-o", "compression=fast", "quickOS/a")
	e.fails(1, "cannot create 'quickOS/a': 'mountpoint' must be an absolute path, 'none', or 'legacy'\n",
		"create", "-o", "mountpoint=rel", "quickOS/a")
	e.fails(1, "cannot create 'quickOS/a': 'used' is readonly\n", "create", "-o", "used=1", "quickOS/a")
	e.fails(1, "property 'atime' specified multiple times\n", "create", "-o", "atime=on", "-o", "atime=off", "quickOS/a")
	if out := e.ok("list", "-H", "-o", "name", "-r", "quickOS"); out != "quickOS\n" {
		t.Fatalf("failed creates left datasets:\n%s", out)
	}

	e.ok("create", "-p", "-o", "compression=lz4", "quickOS/lxc-persistent-data/103")
	e.ok("create", "-p", "quickOS/lxc-persistent-data/103") // exists: -p succeeds
	e.fails(1, "cannot create 'quickOS/lxc-persistent-data/103': dataset already exists\n",
		"create", "quickOS/lxc-persistent-data/103")
	for _, d := range []string{"/mnt/pve/quickOS/lxc-persistent-data", "/mnt/pve/quickOS/lxc-persistent-data/103"} {
		if !e.isDir(d) {
			t.Errorf("mountpoint %s not created", d)
		}
	}
	st, _ := os.Stat(e.host("/mnt/pve/quickOS/lxc-persistent-data/103"))
	if st.Mode().Perm() != 0o755 {
		t.Errorf("mountpoint mode %v", st.Mode())
	}
	// -o applies to the target only, not to the ancestors -p made.
	if got := e.prop("quickOS/lxc-persistent-data", "compression"); got != "on\tdefault" {
		t.Errorf("ancestor compression: %q", got)
	}
	if got := e.prop("quickOS/lxc-persistent-data/103", "compress"); got != "lz4\tlocal" {
		t.Errorf("compression via alias: %q", got)
	}
	// A name with a space.
	e.ok("create", "quickOS/backup copies")
	if !e.isDir("/mnt/pve/quickOS/backup copies") {
		t.Error("mountpoint with a space not created")
	}
}

func TestSimInheritance(t *testing.T) {
	e := newSimEnv(t)
	e.ok("create", "-p", "quickOS/a/b/c")
	e.ok("set", "atime=off", "quickOS")
	e.ok("set", "atime=on", "quickOS/a/b")
	e.ok("set", "phoenix:owner=ca", "quickOS/a")
	for _, tc := range []struct{ name, prop, want string }{
		{"quickOS", "atime", "off\tlocal"},
		{"quickOS/a", "atime", "off\tinherited from quickOS"},
		{"quickOS/a/b", "atime", "on\tlocal"},
		{"quickOS/a/b/c", "atime", "on\tinherited from quickOS/a/b"},
		{"quickOS/a/b/c", "sync", "standard\tdefault"},
		{"quickOS/a/b/c", "mountpoint", "/mnt/pve/quickOS/a/b/c\tinherited from quickOS"},
		{"quickOS/a/b/c", "canmount", "on\tdefault"},
		{"quickOS/a/b/c", "used", "98304\t-"},
		{"quickOS/a/b/c", "phoenix:owner", "ca\tinherited from quickOS/a"},
		{"quickOS", "phoenix:owner", "-\t-"},
		{"rpool/data", "mountpoint", "/rpool/data\tdefault"},
	} {
		if got := e.prop(tc.name, tc.prop); got != tc.want {
			t.Errorf("%s %s = %q, want %q", tc.name, tc.prop, got, tc.want)
		}
	}

	// A local mountpoint moves the subtree; children follow it.
	os.WriteFile(filepath.Join(e.host("/mnt/pve/quickOS/a/b"), "f"), []byte("x"), 0o644)
	e.ok("set", "mountpoint=/srv/b", "quickOS/a/b")
	if got := e.prop("quickOS/a/b/c", "mountpoint"); got != "/srv/b/c\tinherited from quickOS/a/b" {
		t.Errorf("after set: %q", got)
	}
	if b, err := os.ReadFile(filepath.Join(e.host("/srv/b"), "f")); err != nil || string(b) != "x" {
		t.Errorf("content did not move with the mountpoint: %q %v", b, err)
	}
	if !e.isDir("/srv/b/c") || e.isDir("/mnt/pve/quickOS/a/b") {
		t.Error("mount directories not moved")
	}
	// none: children inherit it and are not mounted.
	e.ok("set", "mountpoint=none", "quickOS/a")
	if got := e.prop("quickOS/a", "mounted"); got != "no\t-" {
		t.Errorf("mounted with mountpoint=none: %q", got)
	}
	if got := e.prop("quickOS/a/b/c", "mountpoint"); got != "/srv/b/c\tinherited from quickOS/a/b" {
		t.Errorf("local mountpoint below none: %q", got)
	}

	// Human form without -p.
	if got := strings.TrimSpace(e.ok("get", "-H", "-o", "value", "used,quota,creation", "quickOS/a/b/c")); got != "96K\nnone\nMon Jan  1  0:00 2024" {
		t.Errorf("human values: %q", got)
	}
}

func TestSimSetErrors(t *testing.T) {
	e := newSimEnv(t)
	e.ok("create", "quickOS/a")
	e.fails(1, "cannot set property for 'quickOS/a': invalid property 'bogus'\n", "set", "bogus=1", "quickOS/a")
	e.fails(1, "cannot set property for 'quickOS/a': 'used' is readonly\n", "set", "used=1", "quickOS/a")
	e.fails(1, "cannot set property for 'quickOS/a': 'atime' must be one of 'on | off'\n", "set", "atime=yes", "quickOS/a")
	e.fails(1, "cannot set property for 'quickOS/a': bad numeric value 'lots'\n", "set", "quota=lots", "quickOS/a")
	e.fails(1, "cannot set property for 'quickOS/a': invalid numeric suffix 'Q'\n", "set", "quota=1Q", "quickOS/a")
	e.fails(1, "cannot set property for 'quickOS/a': size is less than current used or reserved space\n", "set", "quota=1K", "quickOS/a")
	e.fails(1, "cannot set property for 'quickOS/a': 'recordsize' must be power of 2 from 512B to 16M\n", "set", "recordsize=1000", "quickOS/a")
	e.fails(1, "cannot open 'quickOS/zz': dataset does not exist\n", "set", "atime=off", "quickOS/zz")
	e.fails(2, "invalid argument order\n"+usageOf("set"), "set", "atime=off", "quickOS/a", "exec=off")
	e.fails(2, "missing dataset name(s)\n"+usageOf("set"), "set", "atime=off")
	// Nothing above changed anything; several properties apply together.
	if got := e.prop("quickOS/a", "atime"); got != "on\tdefault" {
		t.Errorf("atime after failures: %q", got)
	}
	e.ok("set", "quota=1G", "compression=zstd-3", "phoenix:x=a b", "quickOS/a")
	if got := e.prop("quickOS/a", "quota"); got != "1073741824\tlocal" {
		t.Errorf("quota: %q", got)
	}
	if got := e.prop("quickOS/a", "phoenix:x"); got != "a b\tlocal" {
		t.Errorf("user property: %q", got)
	}
	if got := e.prop("quickOS/a", "available"); got != "1073643520\t-" {
		t.Errorf("available under quota: %q", got)
	}
	// On a snapshot only user properties can be set.
	e.ok("snapshot", "quickOS/a@s")
	e.fails(1, "cannot set property for 'quickOS/a@s': this property can not be modified for snapshots\n", "set", "atime=off", "quickOS/a@s")
	e.ok("set", "phoenix:x=snap", "quickOS/a@s")
}

func usageOf(cmd string) string {
	return "usage:\n" + usageText[cmd] + "\nFor the property list, run: zfs set|get\n\nFor the delegated permission list, run: zfs allow|unallow\n"
}

func TestSimDestroy(t *testing.T) {
	e := newSimEnv(t)
	e.ok("create", "-p", "quickOS/a/b")
	e.ok("create", "quickOS/a/c")
	e.ok("snapshot", "quickOS/a/b@s1")
	e.ok("snapshot", "quickOS/a@s2")
	e.fails(1, "cannot destroy 'quickOS/a': filesystem has children\n"+
		"use '-r' to destroy the following datasets:\n"+
		"quickOS/a/b@s1\nquickOS/a/b\nquickOS/a/c\nquickOS/a@s2\n", "destroy", "quickOS/a")
	e.fails(1, "cannot destroy 'quickOS': operation does not apply to pools\n"+
		"use 'zfs destroy -r quickOS' to destroy all datasets in the pool\n"+
		"use 'zpool destroy quickOS' to destroy the pool itself\n", "destroy", "quickOS")
	e.fails(1, "cannot open 'quickOS/zz': dataset does not exist\n", "destroy", "quickOS/zz")
	e.fails(1, "could not find any snapshots to destroy; check snapshot names.\n", "destroy", "quickOS/a@nope")
	e.fails(2, "missing dataset argument\n"+usageOf("destroy"), "destroy")
	if !e.isDir("/mnt/pve/quickOS/a/b") {
		t.Fatal("refused destroy removed a directory")
	}
	e.ok("destroy", "quickOS/a/b@s1")
	os.WriteFile(filepath.Join(e.host("/mnt/pve/quickOS/a/b"), "data"), []byte("x"), 0o600)
	e.ok("destroy", "-r", "quickOS/a")
	if out := e.ok("list", "-H", "-o", "name", "-t", "all", "-r", "quickOS"); out != "quickOS\n" {
		t.Errorf("after destroy -r:\n%s", out)
	}
	if e.isDir("/mnt/pve/quickOS/a") || !e.isDir("/mnt/pve/quickOS") {
		t.Error("destroy -r did not remove exactly the destroyed mountpoints")
	}
	// -r on a pool destroys what is in it, not the pool.
	e.ok("destroy", "-r", "rpool")
	if out := e.ok("list", "-H", "-o", "name", "-r", "rpool"); out != "rpool\n" {
		t.Errorf("after destroy -r rpool:\n%s", out)
	}
}

func TestSimSnapshotRollback(t *testing.T) {
	e := newSimEnv(t)
	e.ok("create", "-p", "quickOS/ca/sub")
	dir := e.host("/mnt/pve/quickOS/ca")
	write := func(name, data string, mode os.FileMode) {
		t.Helper()
		p := filepath.Join(dir, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(data), mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(p, mode)
	}
	write("ssl/key.pem", "key-1", 0o600)
	os.Symlink("ssl/key.pem", filepath.Join(dir, "current"))
	write("sub-data-not-ours", "v1", 0o644)
	os.WriteFile(filepath.Join(e.host("/mnt/pve/quickOS/ca/sub"), "child"), []byte("child-1"), 0o644)
	e.ok("snapshot", "quickOS/ca@zz-first")

	write("ssl/key.pem", "key-2", 0o640)
	write("new", "n", 0o644)
	os.WriteFile(filepath.Join(e.host("/mnt/pve/quickOS/ca/sub"), "child"), []byte("child-2"), 0o644)
	e.ok("snapshot", "quickOS/ca@aa-second")
	e.fails(1, "cannot create snapshot 'quickOS/ca@aa-second': dataset already exists\n", "snapshot", "quickOS/ca@aa-second")
	e.fails(1, "cannot create snapshot 'quickOS/ca@aa-second': dataset already exists\nno snapshots were created\n",
		"snapshot", "-r", "quickOS/ca@aa-second")
	e.fails(2, "cannot open 'quickOS/zz': dataset does not exist\n"+usageOf("snapshot"), "snapshot", "quickOS/zz@s")
	e.fails(2, usageOf("snapshot"), "snapshot", "quickOS/ca")

	// Oldest first, whatever the names.
	if out := e.ok("list", "-H", "-p", "-t", "snapshot", "-o", "name,creation", "quickOS/ca"); out != "quickOS/ca@zz-first\t1704067206\nquickOS/ca@aa-second\t1704067207\n" {
		t.Errorf("snapshots:\n%s", out)
	}
	e.fails(1, "cannot rollback to 'quickOS/ca@zz-first': more recent snapshots or bookmarks exist\n"+
		"use '-r' to force deletion of the following snapshots and bookmarks:\nquickOS/ca@aa-second\n",
		"rollback", "quickOS/ca@zz-first")
	e.fails(1, "cannot open 'quickOS/ca@nope': dataset does not exist\n", "rollback", "quickOS/ca@nope")
	e.fails(1, "cannot open 'quickOS/ca': missing '@' delimiter in snapshot name\n", "rollback", "quickOS/ca")
	if b, _ := os.ReadFile(filepath.Join(dir, "ssl/key.pem")); string(b) != "key-2" {
		t.Fatal("refused rollback changed content")
	}

	e.ok("rollback", "-r", "quickOS/ca@zz-first")
	if out := e.ok("list", "-H", "-t", "snapshot", "-o", "name", "quickOS/ca"); out != "quickOS/ca@zz-first\n" {
		t.Errorf("rollback -r kept:\n%s", out)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "ssl/key.pem")); string(b) != "key-1" {
		t.Errorf("key.pem after rollback: %q", b)
	}
	if st, _ := os.Stat(filepath.Join(dir, "ssl/key.pem")); st.Mode().Perm() != 0o600 {
		t.Errorf("key.pem mode after rollback: %v", st.Mode())
	}
	if l, _ := os.Readlink(filepath.Join(dir, "current")); l != "ssl/key.pem" {
		t.Errorf("symlink after rollback: %q", l)
	}
	if _, err := os.Stat(filepath.Join(dir, "new")); !os.IsNotExist(err) {
		t.Error("file created after the snapshot survived rollback")
	}
	// The child is another filesystem: neither captured nor rolled back.
	if b, _ := os.ReadFile(filepath.Join(e.host("/mnt/pve/quickOS/ca/sub"), "child")); string(b) != "child-2" {
		t.Errorf("child filesystem rolled back with its parent: %q", b)
	}
	// Rolling back to the latest needs no -r.
	write("ssl/key.pem", "key-3", 0o600)
	e.ok("rollback", "quickOS/ca@zz-first")
	if b, _ := os.ReadFile(filepath.Join(dir, "ssl/key.pem")); string(b) != "key-1" {
		t.Errorf("second rollback: %q", b)
	}
	// Destroying the snapshot drops its captured tree.
	ents, _ := os.ReadDir(e.host(snapSiteDir))
	e.ok("destroy", "quickOS/ca@zz-first")
	ents2, _ := os.ReadDir(e.host(snapSiteDir))
	if len(ents) != 1 || len(ents2) != 0 {
		t.Errorf("captured trees: %d before destroy, %d after", len(ents), len(ents2))
	}
}

func TestSimPersists(t *testing.T) {
	e := newSimEnv(t)
	e.ok("create", "-o", "atime=off", "quickOS/a")
	e.ok("snapshot", "quickOS/a@s")
	s2, err := NewSim(e.root)
	if err != nil {
		t.Fatal(err)
	}
	e2 := &simEnv{t: t, sim: s2, root: e.root}
	if got := e2.prop("quickOS/a", "atime"); got != "off\tlocal" {
		t.Errorf("reloaded atime: %q", got)
	}
	if out := e2.ok("list", "-H", "-t", "snapshot", "-o", "name"); out != "quickOS/a@s\n" {
		t.Errorf("reloaded snapshots: %q", out)
	}
	os.WriteFile(e.host(stateSitePath), []byte("{"), 0o644)
	if _, err := NewSim(e.root); err == nil || !strings.Contains(err.Error(), "zfs.json") {
		t.Errorf("corrupt state: %v", err)
	}
}

func TestSimListAndGet(t *testing.T) {
	e := newSimEnv(t)
	e.ok("create", "-p", "quickOS/b/x")
	e.ok("create", "quickOS/b x")
	e.ok("create", "quickOS/b-y")
	// strcmp order: ' ' < '-' < '/'.
	if out := e.ok("list", "quickOS", "-r", "-H", "-o", "name"); out != "quickOS\nquickOS/b\nquickOS/b x\nquickOS/b-y\nquickOS/b/x\n" {
		t.Errorf("order:\n%s", out)
	}
	if out := e.ok("list", "-H", "-o", "name", "-d", "1", "quickOS"); strings.Count(out, "\n") != 4 {
		t.Errorf("-d 1:\n%s", out)
	}
	// A path finds the filesystem holding it.
	os.MkdirAll(e.host("/mnt/pve/quickOS/b/x/deep"), 0o755)
	if out := e.ok("list", "-H", "-o", "name", "/mnt/pve/quickOS/b/x/deep"); out != "quickOS/b/x\n" {
		t.Errorf("path argument: %q", out)
	}
	os.MkdirAll(e.host("/etc"), 0o755)
	e.fails(1, "'/etc': not a ZFS filesystem\n", "list", "-H", "/etc")
	e.fails(1, "/nowhere: No such file or directory\n", "list", "-H", "/nowhere")
	e.fails(1, "cannot open 'quickOS/nope': dataset does not exist\n", "list", "quickOS/nope")
	e.fails(1, "cannot open 'quickOS/a/': trailing slash in name\n", "list", "quickOS/a/")
	e.fails(2, "bad property list: invalid property 'bogus'\n"+usageOf("list"), "list", "-o", "name,bogus")
	e.fails(2, "invalid option 'x'\n"+usageOf("list"), "list", "-x")
	e.ok("snapshot", "quickOS/b@s")
	e.fails(1, "cannot open 'quickOS/b@s': snapshot delimiter '@' is not expected here\n", "list", "-t", "filesystem", "quickOS/b@s")
	if out := e.ok("list", "-H", "-o", "name", "quickOS/b@s"); out != "quickOS/b@s\n" {
		t.Errorf("snapshot argument: %q", out)
	}
	if out := e.ok("list", "-H", "-o", "name", "-r", "quickOS/b"); strings.Contains(out, "@") {
		t.Errorf("list -r shows snapshots without -t:\n%s", out)
	}

	out := e.ok("list", "-p", "-o", "name,used,avail,refer,mountpoint", "quickOS/b x")
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "NAME") || !strings.Contains(lines[0], "AVAIL") || !strings.HasSuffix(lines[1], "/mnt/pve/quickOS/b x") {
		t.Errorf("table output:\n%s", out)
	}
	// get all lists native properties in zfs order, then user ones.
	e.ok("set", "phoenix:b=1", "quickOS")
	e.ok("set", "phoenix:a=2", "quickOS/b")
	all := e.ok("get", "-H", "-o", "property", "all", "quickOS/b/x")
	if !strings.HasPrefix(all, "type\ncreation\nused\navailable\nreferenced\n") || !strings.HasSuffix(all, "\nphoenix:a\nphoenix:b\n") || strings.Contains(all, "origin") {
		t.Errorf("get all:\n%s", all)
	}
	if out := e.ok("get", "-H", "-s", "local", "-o", "name,property", "all"); out != "quickOS\tmountpoint\nquickOS\tphoenix:b\nquickOS/b\tphoenix:a\n" {
		t.Errorf("-s local:\n%s", out)
	}
	e.fails(2, "bad property list: invalid property 'Bogus:X'\n"+usageOf("get"), "get", "Bogus:X", "quickOS")
	e.fails(2, "unrecognized command 'frob'\nusage: zfs command args ...\n", "frob")
	e.fails(2, "zfs (simulator): command 'rename' is not simulated\n", "rename", "quickOS/b", "quickOS/c")
}

func TestGetopt(t *testing.T) {
	opts, ops, err := getopt([]string{"-Hpo", "name", "pool", "-rd1", "--", "-x"}, "Hpo:rd:")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, o := range opts {
		got = append(got, string(o.c)+o.arg)
	}
	if strings.Join(got, ",") != "H,p,oname,r,d1" || strings.Join(ops, ",") != "pool,-x" {
		t.Errorf("opts %v operands %v", got, ops)
	}
	if _, _, err := getopt([]string{"-o"}, "o:"); err == nil || err.Error() != "missing argument for 'o' option" {
		t.Errorf("missing argument: %v", err)
	}
}

func TestNiceNumbers(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint64
	}{{"0", 0}, {"512", 512}, {"1K", 1024}, {"1.5G", 3 << 29}, {"2MiB", 2 << 20}, {"10kb", 10240}} {
		if got, err := niceStrToNum(tc.in); err != nil || got != tc.want {
			t.Errorf("niceStrToNum(%q) = %d, %v", tc.in, got, err)
		}
	}
	for _, tc := range []struct {
		in   uint64
		want string
	}{{0, "0B"}, {512, "512B"}, {98304, "96K"}, {1536, "1.50K"}, {10239, "10.0K"}, {1 << 40, "1T"}} {
		if got := niceBytes(tc.in); got != tc.want {
			t.Errorf("niceBytes(%d) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
