package proxmox

import (
	"fmt"
	"net/netip"
	"strconv"

	"go.starlark.net/starlark"

	"phoenix/builtins/config"
	"phoenix/internal/pve"
	"phoenix/internal/site"
	"phoenix/runtime"
)

// lxcSpec reads a container spec with its overrides.
func lxcSpec(thread *starlark.Thread, fn string, spec starlark.Value, over []starlark.Tuple) (*site.LXC, *pve.LXCSpec, error) {
	l := &site.LXC{}
	if err := config.DecodeGuest(thread, fn, spec, over, l); err != nil {
		return nil, nil, err
	}
	s, err := lxcSpecOf(fn, l)
	return l, s, err
}

// lxcSpecOf is the PVE side of a site container.
func lxcSpecOf(fn string, l *site.LXC) (*pve.LXCSpec, error) {
	s := &pve.LXCSpec{
		VMID: l.VMID, Node: l.Node, Hostname: l.Hostname, Template: l.Template,
		RootFSStorage: l.RootFS.Storage, RootFSSizeGB: l.RootFS.SizeGB,
		MemoryMB: l.MemoryMB, SwapMB: l.SwapMB, Cores: l.Cores,
		Net0: l.Network.Net0(), Nameserver: addr(l.Nameserver), Searchdomain: l.Searchdomain,
		Features: l.Features.PVE(), Unprivileged: l.Unprivileged, OnBoot: l.OnBoot,
	}
	for _, m := range l.MountPoints {
		s.MountPoints = append(s.MountPoints, pve.MountPoint{HostPath: m.HostPath, ContainerPath: m.ContainerPath, ReadOnly: m.ReadOnly})
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	return s, nil
}

// vmSpec reads a VM spec with its overrides.
func vmSpec(thread *starlark.Thread, fn string, spec starlark.Value, over []starlark.Tuple) (*pve.VMSpec, error) {
	v := &site.VM{}
	if err := config.DecodeGuest(thread, fn, spec, over, v); err != nil {
		return nil, err
	}
	return vmSpecOf(fn, v)
}

// vmSpecOf is the PVE side of a site VM.
func vmSpecOf(fn string, v *site.VM) (*pve.VMSpec, error) {
	s := &pve.VMSpec{
		VMID: v.VMID, Node: v.Node, Name: v.Name, CloneFrom: v.CloneFrom,
		MemoryMB: v.MemoryMB, Cores: v.Cores,
		Net0:       v.Network.Model + ",bridge=" + v.Network.Bridge + ",firewall=" + digit(v.Network.Firewall),
		IPConfig0:  v.Network.IPConfig0(),
		Nameserver: addr(v.Nameserver), Searchdomain: v.Searchdomain, OnBoot: v.OnBoot,
	}
	if err := s.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	return s, nil
}

func addr(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

func digit(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// vmidArg reads a VMID argument: an int, or a guest (a struct or dict)
// with vmid.
func vmidArg(fn string, v starlark.Value) (int, error) {
	if err := runtime.Known(v, fn+": vmid"); err != nil {
		return 0, err
	}
	if x, ok := attr(v, "vmid"); ok {
		v = x
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

// siteGuests collects the VMIDs a site (config.site(), or a struct or
// dict with lxcs and vms), a list of guests or a list of VMIDs declares, with the templates VMs clone from.
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
		case *starlark.Dict, starlark.HasAttrs:
			if s, ok := site.SiteOf(x); ok {
				for _, g := range s.Guests() {
					guests[g.VMID] = true
					if g.VM != nil {
						templates[g.VM.CloneFrom] = true
					}
				}
				return nil
			}
			if id, ok := attr(x, "vmid"); ok {
				if err := add(id, depth+1); err != nil {
					return err
				}
				if cf, ok := attr(x, "clone_from"); ok {
					var n int
					if starlark.AsInt(cf, &n) == nil {
						templates[n] = true
					}
				}
				return nil
			}
			found := false
			for _, name := range []string{"lxcs", "vms"} {
				if l, ok := attr(x, name); ok {
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

// attr is a struct's field or a dict's key, the same to a script.
func attr(v starlark.Value, name string) (starlark.Value, bool) {
	var x starlark.Value
	switch o := v.(type) {
	case *starlark.Dict: // before HasAttrs: a dict's attributes are its methods
		x, _, _ = o.Get(starlark.String(name))
	case starlark.HasAttrs:
		x, _ = o.Attr(name)
	}
	return x, x != nil && x != starlark.None
}
