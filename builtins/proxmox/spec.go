package proxmox

import (
	"fmt"
	"strconv"
	"strings"

	"go.starlark.net/starlark"

	"phoenix/internal/pve"
	"phoenix/runtime"
)

// record reads a guest spec: a struct as config.site() returns it (or a
// dict), with keyword overrides that use the same field names.
type record struct {
	fn   string // builtin name, for errors
	path string // "spec", "spec.network", ...
	v    starlark.Value
	over map[string]starlark.Value
}

func newRecord(fn string, v starlark.Value, kwargs []starlark.Tuple, allowed []string) (*record, error) {
	r := &record{fn: fn, path: "spec", v: v, over: map[string]starlark.Value{}}
	if _, ok := v.(starlark.HasAttrs); !ok {
		if _, ok := v.(*starlark.Dict); !ok {
			return nil, fmt.Errorf("%s: spec: want the guest struct of config.site(), got %s", fn, v.Type())
		}
	}
	known := map[string]bool{}
	for _, k := range allowed {
		known[k] = true
	}
	for _, kv := range kwargs {
		k := string(kv[0].(starlark.String))
		if !known[k] {
			return nil, fmt.Errorf("%s: unexpected keyword argument %q (overrides use the spec's field names: %s)", fn, k, strings.Join(allowed, ", "))
		}
		r.over[k] = kv[1]
	}
	return r, nil
}

func (r *record) sub(name string, v starlark.Value) *record {
	return &record{fn: r.fn, path: r.path + "." + name, v: v, over: map[string]starlark.Value{}}
}

// get returns a field's value, an override winning; nil when absent.
func (r *record) get(name string) (starlark.Value, error) {
	if v, ok := r.over[name]; ok {
		return v, runtime.Known(v, r.fn+": "+name)
	}
	var v starlark.Value
	switch x := r.v.(type) {
	case starlark.HasAttrs:
		var err error
		v, err = x.Attr(name)
		if err != nil {
			return nil, nil
		}
	case *starlark.Dict:
		var found bool
		v, found, _ = x.Get(starlark.String(name))
		if !found {
			return nil, nil
		}
	}
	if v == nil || v == starlark.None {
		return nil, nil
	}
	return v, runtime.Known(v, r.fn+": "+r.path+"."+name)
}

func (r *record) missing(name string) error {
	return fmt.Errorf("%s: %s.%s is missing", r.fn, r.path, name)
}

func (r *record) str(name string, required bool) (string, error) {
	v, err := r.get(name)
	if err != nil || v == nil {
		if err == nil && required {
			err = r.missing(name)
		}
		return "", err
	}
	s, ok := starlark.AsString(v)
	if !ok {
		return "", fmt.Errorf("%s: %s.%s: want string, got %s", r.fn, r.path, name, v.Type())
	}
	return s, nil
}

func (r *record) integer(name string, required bool, def int) (int, error) {
	v, err := r.get(name)
	if err != nil || v == nil {
		if err == nil && required {
			err = r.missing(name)
		}
		return def, err
	}
	var n int
	if err := starlark.AsInt(v, &n); err != nil {
		return 0, fmt.Errorf("%s: %s.%s: want int, got %s", r.fn, r.path, name, v.Type())
	}
	return n, nil
}

func (r *record) boolean(name string, def bool) (bool, error) {
	v, err := r.get(name)
	if err != nil || v == nil {
		return def, err
	}
	b, ok := v.(starlark.Bool)
	if !ok {
		return false, fmt.Errorf("%s: %s.%s: want bool, got %s", r.fn, r.path, name, v.Type())
	}
	return bool(b), nil
}

// record returns a nested struct field.
func (r *record) record(name string, required bool) (*record, error) {
	v, err := r.get(name)
	if err != nil || v == nil {
		if err == nil && required {
			err = r.missing(name)
		}
		return nil, err
	}
	switch v.(type) {
	case starlark.HasAttrs, *starlark.Dict:
		return r.sub(name, v), nil
	}
	return nil, fmt.Errorf("%s: %s.%s: want a struct, got %s", r.fn, r.path, name, v.Type())
}

func (r *record) list(name string) ([]starlark.Value, error) {
	v, err := r.get(name)
	if err != nil || v == nil {
		return nil, err
	}
	seq, ok := v.(starlark.Indexable)
	if !ok {
		return nil, fmt.Errorf("%s: %s.%s: want a list, got %s", r.fn, r.path, name, v.Type())
	}
	out := make([]starlark.Value, seq.Len())
	for i := range out {
		out[i] = seq.Index(i)
	}
	return out, nil
}

// lxcFields are the LXC spec fields lxc_ensure reads (and accepts as
// overrides); the others of config.site()'s struct are ignored.
var lxcFields = []string{"vmid", "node", "hostname", "template", "rootfs", "memory_mb", "swap_mb", "cores",
	"network", "nameserver", "searchdomain", "features", "unprivileged", "onboot", "mount_points"}

var vmFields = []string{"vmid", "node", "name", "clone_from", "memory_mb", "cores", "network",
	"ipconfig0", "nameserver", "searchdomain", "onboot"}

// lxcSpec converts a spec struct with overrides.
func lxcSpec(r *record) (*pve.LXCSpec, []starlark.Value, error) {
	s := &pve.LXCSpec{}
	var err error
	seq := []func() error{
		func() error { s.VMID, err = r.integer("vmid", true, 0); return err },
		func() error { s.Node, err = r.str("node", true); return err },
		func() error { s.Hostname, err = r.str("hostname", true); return err },
		func() error { s.Template, err = r.str("template", true); return err },
		func() error { s.MemoryMB, err = r.integer("memory_mb", true, 0); return err },
		func() error { s.SwapMB, err = r.integer("swap_mb", false, 512); return err },
		func() error { s.Cores, err = r.integer("cores", false, 0); return err },
		func() error { s.Nameserver, err = r.str("nameserver", false); return err },
		func() error { s.Searchdomain, err = r.str("searchdomain", false); return err },
		func() error { s.Unprivileged, err = r.boolean("unprivileged", true); return err },
		func() error { s.OnBoot, err = r.boolean("onboot", true); return err },
	}
	for _, f := range seq {
		if err := f(); err != nil {
			return nil, nil, err
		}
	}
	rootfs, err := r.record("rootfs", false)
	if err != nil {
		return nil, nil, err
	}
	if rootfs != nil {
		if s.RootFSStorage, err = rootfs.str("storage", true); err != nil {
			return nil, nil, err
		}
		if s.RootFSSizeGB, err = rootfs.integer("size_gb", false, 0); err != nil {
			return nil, nil, err
		}
	}
	net, err := r.record("network", true)
	if err != nil {
		return nil, nil, err
	}
	if s.Net0, err = lxcNet0(net); err != nil {
		return nil, nil, err
	}
	if s.Features, err = features(r); err != nil {
		return nil, nil, err
	}
	mps, err := r.list("mount_points")
	if err != nil {
		return nil, nil, err
	}
	for i, v := range mps {
		m := r.sub(fmt.Sprintf("mount_points[%d]", i), v)
		if _, ok := v.(starlark.HasAttrs); !ok {
			if _, ok := v.(*starlark.Dict); !ok {
				return nil, nil, fmt.Errorf("%s: %s: want a struct, got %s", r.fn, m.path, v.Type())
			}
		}
		var mp pve.MountPoint
		if mp.HostPath, err = m.str("host_path", true); err != nil {
			return nil, nil, err
		}
		if mp.ContainerPath, err = m.str("container_path", true); err != nil {
			return nil, nil, err
		}
		if mp.ReadOnly, err = m.boolean("read_only", false); err != nil {
			return nil, nil, err
		}
		s.MountPoints = append(s.MountPoints, mp)
	}
	if err := s.Validate(); err != nil {
		return nil, nil, fmt.Errorf("%s: %w", r.fn, err)
	}
	return s, mps, nil
}

// lxcNet0 builds "name=eth0,bridge=vmbr0,ip=10.0.0.101/24,gw=10.0.0.1,firewall=1".
func lxcNet0(n *record) (string, error) {
	name, err := n.str("name", false)
	if err != nil {
		return "", err
	}
	if name == "" {
		name = "eth0"
	}
	bridge, err := n.str("bridge", true)
	if err != nil {
		return "", err
	}
	ip, err := n.str("ip", true)
	if err != nil {
		return "", err
	}
	gw, err := n.str("gateway", false)
	if err != nil {
		return "", err
	}
	fw, err := n.boolean("firewall", true)
	if err != nil {
		return "", err
	}
	v := "name=" + name + ",bridge=" + bridge + ",ip=" + ip
	if gw != "" {
		v += ",gw=" + gw
	}
	return v + ",firewall=" + digit(fw), nil
}

// features builds PVE's "features" value from the spec's struct (or
// takes a PVE string as it is).
func features(r *record) (string, error) {
	v, err := r.get("features")
	if err != nil || v == nil {
		return "", err
	}
	if s, ok := starlark.AsString(v); ok {
		return s, nil
	}
	f, err := r.record("features", false)
	if err != nil {
		return "", err
	}
	var parts []string
	for _, k := range []string{"force_rw_sys", "fuse", "keyctl", "mknod", "nesting"} {
		on, err := f.boolean(k, false)
		if err != nil {
			return "", err
		}
		if on {
			parts = append(parts, k+"=1")
		}
	}
	mounts, err := f.list("mount")
	if err != nil {
		return "", err
	}
	if len(mounts) > 0 {
		fss := make([]string, len(mounts))
		for i, m := range mounts {
			s, ok := starlark.AsString(m)
			if !ok {
				return "", fmt.Errorf("%s: %s.mount[%d]: want string", r.fn, f.path, i)
			}
			fss[i] = s
		}
		parts = append(parts, "mount="+strings.Join(fss, ";"))
	}
	return strings.Join(parts, ","), nil
}

// vmSpec converts a VM spec struct with overrides.
func vmSpec(r *record) (*pve.VMSpec, error) {
	s := &pve.VMSpec{}
	var err error
	seq := []func() error{
		func() error { s.VMID, err = r.integer("vmid", true, 0); return err },
		func() error { s.Node, err = r.str("node", true); return err },
		func() error { s.Name, err = r.str("name", true); return err },
		func() error { s.CloneFrom, err = r.integer("clone_from", true, 0); return err },
		func() error { s.MemoryMB, err = r.integer("memory_mb", true, 0); return err },
		func() error { s.Cores, err = r.integer("cores", false, 0); return err },
		func() error { s.Nameserver, err = r.str("nameserver", false); return err },
		func() error { s.Searchdomain, err = r.str("searchdomain", false); return err },
		func() error { s.OnBoot, err = r.boolean("onboot", true); return err },
		func() error { s.IPConfig0, err = r.str("ipconfig0", false); return err },
	}
	for _, f := range seq {
		if err := f(); err != nil {
			return nil, err
		}
	}
	net, err := r.record("network", true)
	if err != nil {
		return nil, err
	}
	model, err := net.str("model", false)
	if err != nil {
		return nil, err
	}
	if model == "" {
		model = "virtio"
	}
	bridge, err := net.str("bridge", true)
	if err != nil {
		return nil, err
	}
	fw, err := net.boolean("firewall", true)
	if err != nil {
		return nil, err
	}
	s.Net0 = model + ",bridge=" + bridge + ",firewall=" + digit(fw)
	if s.IPConfig0 == "" {
		ip, err := net.str("ip", true)
		if err != nil {
			return nil, err
		}
		gw, err := net.str("gateway", false)
		if err != nil {
			return nil, err
		}
		s.IPConfig0 = "ip=" + ip
		if gw != "" {
			s.IPConfig0 += ",gw=" + gw
		}
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", r.fn, err)
	}
	return s, nil
}

func digit(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// vmidArg reads a VMID argument: an int, or a guest struct with vmid.
func vmidArg(fn string, v starlark.Value) (int, error) {
	if err := runtime.Known(v, fn+": vmid"); err != nil {
		return 0, err
	}
	if ha, ok := v.(starlark.HasAttrs); ok {
		if x, err := ha.Attr("vmid"); err == nil && x != nil {
			v = x
		}
	}
	var n int
	if err := starlark.AsInt(v, &n); err != nil {
		return 0, fmt.Errorf("%s: vmid: want int or a guest struct, got %s", fn, v.Type())
	}
	if n < 100 || n > 999999999 {
		return 0, fmt.Errorf("%s: vmid %d: want 100..999999999", fn, n)
	}
	return n, nil
}

// siteGuests collects the VMIDs a site (config.site()), a list of guest
// structs or a list of VMIDs declares, with the templates VMs clone from.
func siteGuests(fn string, v starlark.Value) (guests, templates map[int]bool, err error) {
	guests, templates = map[int]bool{}, map[int]bool{}
	var add func(v starlark.Value, depth int) error
	add = func(v starlark.Value, depth int) error {
		if depth > 3 {
			return fmt.Errorf("%s: site: nested too deeply", fn)
		}
		switch x := v.(type) {
		case starlark.Int:
			n, ok := x.Int64()
			if !ok {
				return fmt.Errorf("%s: site: VMID %s out of range", fn, x)
			}
			guests[int(n)] = true
			return nil
		case *starlark.List, starlark.Tuple:
			seq := x.(starlark.Indexable)
			for i := 0; i < seq.Len(); i++ {
				if err := add(seq.Index(i), depth+1); err != nil {
					return err
				}
			}
			return nil
		case starlark.HasAttrs:
			if id, err := x.Attr("vmid"); err == nil && id != nil {
				if err := add(id, depth+1); err != nil {
					return err
				}
				if cf, err := x.Attr("clone_from"); err == nil && cf != nil {
					var n int
					if starlark.AsInt(cf, &n) == nil {
						templates[n] = true
					}
				}
				return nil
			}
			found := false
			for _, name := range []string{"lxcs", "vms"} {
				if l, err := x.Attr(name); err == nil && l != nil {
					found = true
					if err := add(l, depth+1); err != nil {
						return err
					}
				}
			}
			if !found {
				return fmt.Errorf("%s: site: want config.site()'s struct (with lxcs and vms), guest structs or VMIDs, got %s", fn, v.Type())
			}
			return nil
		}
		return fmt.Errorf("%s: site: want config.site()'s struct, guest structs or VMIDs, got %s", fn, v.Type())
	}
	if err := add(v, 0); err != nil {
		return nil, nil, err
	}
	return guests, templates, nil
}

func itoa(n int) string { return strconv.Itoa(n) }
