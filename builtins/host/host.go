// Package host is the Starlark `host` module: the hypervisor's side of what guests use.
package host

import (
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"phoenix/builtins/zfs"
	"phoenix/internal/site"
	"phoenix/runtime"
)

// Family registers host with the runtime.
var Family = runtime.Family{Name: "host", Module: Module}

// Module is the host module.
//
//	prepare_mount(guest: struct|dict, mount: struct|dict, data: struct|dict|None = None) - struct(changed, dataset, path, uid, gid, mode)
//
// prepare_mount converges the host side of a container's bind mount, and
// proxmox.lxc_ensure calls it before it sets mpN. guest, mount and data
// are the site's records (read as they are) or structs or dicts: guest
// needs unprivileged; mount needs host_path and may give owner_uid
// (default 0), owner_gid (default owner_uid) and mode (an octal string
// such as "0750" or an int; default 0750). In order, each its own change:
//
//   - the guest's dataset exists: DATASET/VMID, where VMID is the first
//     directory of host_path below the mountpoint. With data (the site's
//     zfs.persistent_data: dataset, mountpoint, properties) that parent
//     dataset is ensured first; without it, the parent is the deepest
//     existing filesystem holding host_path, or host_path already lies in
//     a filesystem named by a VMID;
//   - the directories down to host_path exist (parents mode 0755);
//   - host_path has the mode, and the owner as the host sees it: for an
//     unprivileged container with the default idmap, container uid and
//     gid N are 100000+N on the host; a privileged container keeps N.
//
// Custom idmaps are not supported.
var Module = &starlarkstruct.Module{
	Name: "host",
	Members: starlark.StringDict{
		"prepare_mount": starlark.NewBuiltin("host.prepare_mount", prepareMount),
	},
}

// idmapBase and idmapSize are Proxmox's default unprivileged idmap:
// container ids 0..65535 map to host ids 100000..165535.
const (
	idmapBase = 100000
	idmapSize = 65536
)

func prepareMount(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var guest, mount starlark.Value
	var data starlark.Value = starlark.None
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "guest", &guest, "mount", &mount, "data?", &data); err != nil {
		return nil, err
	}
	s, err := parse(guest, mount)
	if err != nil {
		return nil, fmt.Errorf("host.prepare_mount: %w", err)
	}
	s.owner = guestName(guest)
	return prepare(thread, s, data)
}

// spec is a validated prepare_mount request.
type spec struct {
	hostPath string
	owner    string // the guest that writes it, for refusals
	uid, gid int    // as the host sees them
	mode     os.FileMode
}

// PrepareMount is prepare_mount for Go callers (proxmox.lxc_ensure), with
// the typed records of the site (a spec the caller decoded); data may be
// nil or None.
func PrepareMount(thread *starlark.Thread, unprivileged bool, m *site.MountPoint, data starlark.Value) (starlark.Value, error) {
	s, err := mountSpec(unprivileged, m.HostPath, m.OwnerUID, m.OwnerGID, m.Mode)
	if err != nil {
		return nil, fmt.Errorf("host.prepare_mount: %w", err)
	}
	return prepare(thread, s, data)
}

func prepare(thread *starlark.Thread, s spec, data starlark.Value) (starlark.Value, error) {
	fail := func(err error) (starlark.Value, error) { return nil, fmt.Errorf("host.prepare_mount: %w", err) }
	var root *persistent
	var err error
	if data != nil && data != starlark.None {
		if root, err = parseData(data); err != nil {
			return fail(err)
		}
	}
	rt := runtime.FromThread(thread)
	// The guest writes in there: never follow a link in it, from now on.
	owner := s.owner
	if owner == "" {
		owner = "the guest that mounts it"
	}
	rt.Root.Guard(s.hostPath, owner)
	dataset, changed, err := ensureDataset(thread, s.hostPath, root)
	if err != nil {
		return fail(err)
	}
	parentThere, err := rt.Exists(path.Dir(s.hostPath))
	if err != nil {
		return fail(err)
	}
	dirChanged, err := rt.EnsureDir(thread, s.hostPath, s.mode, s.uid, s.gid)
	if err != nil {
		return fail(err)
	}
	return starlarkstruct.FromStringDict(starlarkstruct.Default, starlark.StringDict{
		"changed": starlark.Bool(changed || dirChanged || !parentThere),
		"dataset": starlark.String(dataset),
		"path":    starlark.String(s.hostPath),
		"uid":     starlark.MakeInt(s.uid),
		"gid":     starlark.MakeInt(s.gid),
		"mode":    starlark.String(site.ModeString(s.mode)),
	}), nil
}

// persistent is the site's zfs.persistent_data.
type persistent struct {
	dataset, mountpoint string
	props               map[string]string
}

// ensureDataset makes sure the guest dataset holding hostPath exists and
// is mounted above it; it returns its name and whether anything changed.
func ensureDataset(thread *starlark.Thread, hostPath string, root *persistent) (string, bool, error) {
	var parent, parentMP string
	changed := false
	if root != nil {
		props := map[string]string{"mountpoint": root.mountpoint}
		for k, v := range root.props {
			if k == "mountpoint" {
				return "", false, fmt.Errorf("data.properties: give the mountpoint as data.mountpoint")
			}
			props[k] = v
		}
		r, err := zfs.Ensure(thread, root.dataset, props)
		if err != nil {
			return "", false, fmt.Errorf("data.dataset: %w", err)
		}
		parent, parentMP, changed = root.dataset, root.mountpoint, r.Changed
	} else {
		name, mp, err := zfs.Containing(thread, hostPath)
		if err != nil {
			return "", false, err
		}
		if isVMID(path.Base(name)) {
			return name, false, nil // already inside a guest dataset
		}
		parent, parentMP = name, mp
	}
	rel, ok := below(hostPath, parentMP)
	vmid, _, _ := strings.Cut(rel, "/")
	if !ok || !isVMID(vmid) {
		return "", false, fmt.Errorf("%s is not inside a guest's directory: want %s/VMID/..., the mountpoint of %s/VMID", hostPath, parentMP, parent)
	}
	name := parent + "/" + vmid
	r, err := zfs.Ensure(thread, name, nil)
	if err != nil {
		return "", false, err
	}
	want := path.Join(parentMP, vmid)
	if r.Mountpoint != "" && r.Mountpoint != want {
		return "", false, fmt.Errorf("dataset %s is mounted at %s, not %s, so %s would not be inside it", name, r.Mountpoint, want, hostPath)
	}
	return name, changed || r.Changed, nil
}

// below is p relative to dir, when p is strictly inside it.
func below(p, dir string) (string, bool) {
	if dir == "/" {
		return strings.TrimPrefix(p, "/"), p != "/"
	}
	rel, ok := strings.CutPrefix(p, dir+"/")
	return rel, ok && rel != ""
}

// isVMID: a Proxmox VMID, 100 to 999999999, written plainly.
func isVMID(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n >= 100 && n <= 999999999 && strconv.Itoa(n) == s
}

// parse reads prepare_mount's arguments: the site's records as they are,
// or any struct or dict with their fields.
func parse(guest, mount starlark.Value) (spec, error) {
	var s spec
	unprivileged, err := parseGuest(guest)
	if err != nil {
		return s, err
	}
	if rec, _, ok := site.RecordOf(mount); ok {
		if m, ok := rec.(*site.MountPoint); ok {
			return mountSpec(unprivileged, m.HostPath, m.OwnerUID, m.OwnerGID, m.Mode)
		}
	}
	hp, err := field(mount, "mount", "host_path", true)
	if err != nil {
		return s, err
	}
	hps, ok := hp.(starlark.String)
	if !ok {
		return s, fmt.Errorf("mount.host_path: want a clean absolute path below /, got %s", hp)
	}
	uid, err := intField(mount, "owner_uid", 0)
	if err != nil {
		return s, err
	}
	gid, err := intField(mount, "owner_gid", uid)
	if err != nil {
		return s, err
	}
	mode := os.FileMode(0o750)
	mv, err := field(mount, "mount", "mode", false)
	if err != nil {
		return s, err
	}
	if mv != nil && mv != starlark.None {
		if mode, err = parseMode(mv); err != nil {
			return s, fmt.Errorf("mount.mode: %w", err)
		}
	}
	return mountSpec(unprivileged, string(hps), uid, gid, mode)
}

// guestName is "lxc:VMID" for a guest with a vmid, else "".
func guestName(guest starlark.Value) string {
	if rec, _, ok := site.RecordOf(guest); ok {
		if l, ok := rec.(*site.LXC); ok {
			return fmt.Sprintf("lxc:%d", l.VMID)
		}
	}
	if v, err := field(guest, "guest", "vmid", false); err == nil && v != nil {
		return "lxc:" + v.String()
	}
	return ""
}

// parseGuest reads whether the guest is unprivileged.
func parseGuest(guest starlark.Value) (bool, error) {
	if rec, _, ok := site.RecordOf(guest); ok {
		if l, ok := rec.(*site.LXC); ok {
			return l.Unprivileged, nil
		}
	}
	unpriv, err := field(guest, "guest", "unprivileged", true)
	if err != nil {
		return false, err
	}
	ub, ok := unpriv.(starlark.Bool)
	if !ok {
		return false, fmt.Errorf("guest.unprivileged: want bool, got %s", unpriv.Type())
	}
	if idmap, err := field(guest, "guest", "idmap", false); err != nil {
		return false, err
	} else if idmap != nil && idmap != starlark.None && idmap.Truth() {
		return false, fmt.Errorf("guest.idmap: custom idmaps are not supported; only the default map (container id N is host id %d+N)", idmapBase)
	}
	return bool(ub), nil
}

// mountSpec checks a mount and maps its owner as the host sees it.
func mountSpec(unprivileged bool, hostPath string, uid, gid int, mode os.FileMode) (spec, error) {
	var s spec
	if !strings.HasPrefix(hostPath, "/") || path.Clean(hostPath) != hostPath || hostPath == "/" {
		return s, fmt.Errorf("mount.host_path: want a clean absolute path below /, got %q", hostPath)
	}
	s.hostPath = hostPath
	if unprivileged {
		for what, id := range map[string]int{"owner_uid": uid, "owner_gid": gid} {
			if id >= idmapSize {
				return s, fmt.Errorf("mount.%s: %d is outside the default idmap of an unprivileged container (0 to %d)", what, id, idmapSize-1)
			}
		}
		uid, gid = uid+idmapBase, gid+idmapBase
	}
	s.uid, s.gid, s.mode = uid, gid, mode
	return s, nil
}

func parseMode(v starlark.Value) (os.FileMode, error) {
	var n uint64
	switch x := v.(type) {
	case starlark.String:
		var err error
		if n, err = strconv.ParseUint(string(x), 8, 32); err != nil || x == "" {
			return 0, fmt.Errorf("want an octal string such as \"0750\", got %q", string(x))
		}
	case starlark.Int:
		u, ok := x.Uint64()
		if !ok {
			return 0, fmt.Errorf("bad mode %s", x)
		}
		n = u
	default:
		return 0, fmt.Errorf("want an octal string or an int, got %s", v.Type())
	}
	if n > 0o7777 {
		return 0, fmt.Errorf("mode %o is more than 07777", n)
	}
	// Mount entries come from the site: convert modes as it does.
	return site.ModeFromOctal(n), nil
}

func intField(mount starlark.Value, name string, def int) (int, error) {
	v, err := field(mount, "mount", name, false)
	if err != nil || v == nil || v == starlark.None {
		return def, err
	}
	i, ok := v.(starlark.Int)
	n, exact := i.Int64()
	if !ok || !exact || n < 0 || n > 1<<31-1 {
		return 0, fmt.Errorf("mount.%s: want a non-negative int, got %s", name, v)
	}
	return int(n), nil
}

func parseData(v starlark.Value) (*persistent, error) {
	if rec, _, ok := site.RecordOf(v); ok {
		if d, ok := rec.(*site.PersistentData); ok {
			return &persistent{dataset: d.Dataset, mountpoint: d.Mountpoint, props: d.Properties}, nil
		}
	}
	p := &persistent{}
	for _, f := range []struct {
		name string
		dst  *string
	}{{"dataset", &p.dataset}, {"mountpoint", &p.mountpoint}} {
		x, err := field(v, "data", f.name, true)
		if err != nil {
			return nil, err
		}
		s, ok := x.(starlark.String)
		if !ok {
			return nil, fmt.Errorf("data.%s: want string, got %s", f.name, x.Type())
		}
		*f.dst = string(s)
	}
	if !strings.HasPrefix(p.mountpoint, "/") || path.Clean(p.mountpoint) != p.mountpoint {
		return nil, fmt.Errorf("data.mountpoint: want a clean absolute path, got %q", p.mountpoint)
	}
	props, err := field(v, "data", "properties", false)
	if err != nil {
		return nil, err
	}
	if p.props, err = zfs.Properties(props); err != nil {
		return nil, fmt.Errorf("data.%w", err)
	}
	return p, nil
}

// field reads a struct attribute or a dict key; required fields must be
// present, and none may be an unknown plan value.
func field(v starlark.Value, what, name string, required bool) (starlark.Value, error) {
	var x starlark.Value
	switch o := v.(type) {
	case *starlark.Dict:
		got, found, err := o.Get(starlark.String(name))
		if err != nil {
			return nil, err
		}
		if found {
			x = got
		}
	case starlark.HasAttrs:
		if got, err := o.Attr(name); err == nil {
			x = got
		}
	default:
		return nil, fmt.Errorf("%s: want a struct or dict, got %s", what, v.Type())
	}
	if x == nil {
		if required {
			return nil, fmt.Errorf("%s.%s is missing", what, name)
		}
		return nil, nil
	}
	if err := runtime.Known(x, what+"."+name); err != nil {
		return nil, err
	}
	return x, nil
}
