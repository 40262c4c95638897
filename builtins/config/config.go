// Package config is the Starlark `config` module: the site's declarative
// configuration, validated.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

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
var Module = &starlarkstruct.Module{
	Name: "config",
	Members: starlark.StringDict{
		"site":     starlark.NewBuiltin("config.site", siteFn),
		"validate": starlark.NewBuiltin("config.validate", validate),
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
	return l.s, l.v, nil
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
