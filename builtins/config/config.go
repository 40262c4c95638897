// Package config is the Starlark `config` module: the site's declarative
// configuration, validated.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"phoenix/internal/site"
	"phoenix/runtime"
)

// Family registers config with the runtime.
var Family = runtime.Family{Name: "config", Module: Module}

// Module is the config module. The site is read from --config (an
// operator path, default ./config), validated exactly as `phoenix
// validate` does, and returned as frozen values; a run reads it once.
// ("load" is a reserved word in Starlark, so the loader is config.site().)
//
//	site(dir: str|None = None) - the validated site: struct(hypervisor, lxcs, vms, guests(), lxc(vmid), vm(vmid), flows(), records())
//	validate(dir: str|None = None) - a list of error strings, empty when the site is valid
//	lxc_spec(spec: struct|dict, **overrides: any) - a container written in a script, checked: a guest as site.lxc(vmid) returns it
//	vm_spec(spec: struct|dict, **overrides: any) - the same for a VM
//
// The site's records (a guest, its network, a mount point...) wrap the
// typed values the files were decoded into; builtins given one read it
// as it is. A spec is a guest of the site, or any struct or dict with its
// fields, at every level; overrides replace whole fields of a copy. It is
// checked as the files are (keys, types, formats, defaults) and, unless it
// is a guest of the site unchanged, against the site of --config with the
// rules phoenix validate applies: a copy of another guest's address or
// name is an error naming both. proxmox.lxc_ensure and vm_ensure take
// their spec the same way.
var Module = &starlarkstruct.Module{
	Name: "config",
	Members: starlark.StringDict{
		"site":     starlark.NewBuiltin("config.site", siteFn),
		"validate": starlark.NewBuiltin("config.validate", validate),
		"lxc_spec": starlark.NewBuiltin("config.lxc_spec", lxcSpec),
		"vm_spec":  starlark.NewBuiltin("config.vm_spec", vmSpec),
	},
}

func dirArg(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (string, error) {
	var dir string
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "dir?", &dir); err != nil {
		return "", err
	}
	if dir == "" {
		dir = runtime.FromThread(thread).Opts.ConfigDir
	}
	if dir == "" {
		dir = "./config"
	}
	return dir, nil
}

// Load returns the run's site from dir, read and validated once per run,
// and its config.site() value. Every family that reads the site uses it.
func Load(rt *runtime.Runtime, dir string) (*site.Site, starlark.Value, error) {
	type loaded struct {
		s *site.Site
		v starlark.Value
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, nil, err
	}
	v, err := rt.Backend("config:"+abs, func() (any, error) {
		s, err := site.Load(dir)
		if err != nil {
			return nil, err
		}
		return &loaded{s, s.Starlark()}, nil
	})
	if err != nil {
		var es site.Errors
		if errors.As(err, &es) {
			return nil, nil, fmt.Errorf("site configuration in %s is invalid (%d errors):\n%w", dir, len(es), err)
		}
		return nil, nil, err
	}
	l := v.(*loaded)
	guard(rt, l.s)
	return l.s, l.v, nil
}

// guard declares the directories the site's guests can write (their bind
// mounts, the CA's private directory, the exports) to the run's root, so
// that no link in them is followed and no hard-linked file is changed.
func guard(rt *runtime.Runtime, s *site.Site) {
	for _, l := range s.LXCs {
		for _, m := range l.MountPoints {
			if m.HostPath != "" {
				rt.Root.Guard(m.HostPath, fmt.Sprintf("lxc:%d", l.VMID))
			}
		}
	}
	ca := s.Hypervisor.CA
	if ca.PrivateHostPath != "" {
		rt.Root.Guard(ca.PrivateHostPath, fmt.Sprintf("lxc:%d", ca.VMID))
	}
	for _, name := range slices.Sorted(maps.Keys(ca.Exports)) {
		if e := ca.Exports[name]; e.HostPath != "" {
			owner := fmt.Sprintf("lxc:%d", ca.VMID)
			if len(e.Consumers) > 0 {
				owner = fmt.Sprintf("lxc:%d", e.Consumers[0])
			}
			rt.Root.Guard(e.HostPath, owner)
		}
	}
}

// RunSite is the site of --config, through Load; nil when --config is not
// given or holds no site (a family can then work without one).
func RunSite(rt *runtime.Runtime) (*site.Site, error) {
	dir := rt.Opts.ConfigDir
	if dir == "" {
		return nil, nil
	}
	if _, err := os.Stat(filepath.Join(dir, site.HypervisorFile)); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	s, _, err := Load(rt, dir)
	return s, err
}

func siteFn(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	dir, err := dirArg(thread, b, args, kwargs)
	if err != nil {
		return nil, err
	}
	_, v, err := Load(runtime.FromThread(thread), dir)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	return v, nil
}

func validate(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	dir, err := dirArg(thread, b, args, kwargs)
	if err != nil {
		return nil, err
	}
	err = site.Validate(dir)
	var out []starlark.Value
	var es site.Errors
	switch {
	case err == nil:
	case errors.As(err, &es):
		for _, e := range es {
			out = append(out, starlark.String(e.Error()))
		}
	default:
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	return starlark.NewList(out), nil
}

func lxcSpec(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	return guestSpec(thread, b, args, kwargs, &site.LXC{})
}

func vmSpec(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	return guestSpec(thread, b, args, kwargs, &site.VM{})
}

func guestSpec(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple, dst any) (starlark.Value, error) {
	if len(args) != 1 {
		return nil, fmt.Errorf("%s: got %d positional arguments, want the spec", b.Name(), len(args))
	}
	s, err := decodeGuest(thread, b.Name(), args[0], kwargs, dst)
	if err != nil {
		return nil, err
	}
	return s.Wrap(dst), nil
}

// DecodeGuest reads a guest spec and its overrides into dst (a *site.LXC
// or a *site.VM) and checks it, as config.lxc_spec does; fn names the
// builtin in errors.
func DecodeGuest(thread *starlark.Thread, fn string, spec starlark.Value, over []starlark.Tuple, dst any) error {
	_, err := decodeGuest(thread, fn, spec, over, dst)
	return err
}

// decodeGuest returns the site dst was checked against, or nil.
func decodeGuest(thread *starlark.Thread, fn string, spec starlark.Value, over []starlark.Tuple, dst any) (*site.Site, error) {
	known := func(v starlark.Value) error {
		if u, ok := v.(*runtime.Unknown); ok {
			return fmt.Errorf("not known until apply: it is the value of %s", u.Origin())
		}
		return nil
	}
	var from *site.Site
	fromSite := false
	switch spec.(type) {
	case *starlark.Dict, starlark.HasAttrs:
		_, from, fromSite = site.RecordOf(spec)
	default:
		return nil, fmt.Errorf("%s: spec: want a guest of config.site(), or a struct or dict with its fields, got %s", fn, spec.Type())
	}
	if err := site.Decode(spec, dst, "spec", known); err != nil {
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	allowed := site.FieldNames(dst)
	for _, kv := range over {
		k := string(kv[0].(starlark.String))
		if !slices.Contains(allowed, k) {
			return nil, fmt.Errorf("%s: unexpected keyword argument %q (overrides use the spec's field names: %s)", fn, k, strings.Join(allowed, ", "))
		}
		if err := site.DecodeField(dst, k, kv[1], known); err != nil {
			return nil, fmt.Errorf("%s: %w", fn, err)
		}
	}
	if len(over) > 0 {
		if err := site.Check(dst, "spec"); err != nil {
			return nil, fmt.Errorf("%s: %w", fn, err)
		}
	}
	if fromSite && len(over) == 0 {
		return from, nil // checked with its site when it was loaded
	}
	if !fromSite || from == nil {
		var err error
		if from, err = RunSite(runtime.FromThread(thread)); err != nil {
			return nil, fmt.Errorf("%s: %w", fn, err)
		}
	}
	if from == nil {
		return nil, nil // no site to check against
	}
	var err error
	switch g := dst.(type) {
	case *site.LXC:
		err = from.CheckLXC(g, "spec")
	case *site.VM:
		err = from.CheckVM(g, "spec")
	}
	if err != nil {
		return nil, fmt.Errorf("%s: the spec breaks the site's rules (as phoenix validate checks the files):\n%w", fn, err)
	}
	return from, nil
}
