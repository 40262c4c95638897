package runtime

import (
	"fmt"

	"go.starlark.net/starlark"

	"phoenix/internal/machine"
)

// Family is a builtin family's one registration record: the module
// scripts see, and what the family adds to a run. Package builtins lists
// every family; nothing else registers builtins.
type Family struct {
	// Name is the global scripts use; errors read "name.function: ...".
	Name   string
	Module starlark.Value
	// Sim installs the family's simulated host commands (a simulated zfs
	// or pct) into a --sim run's command runner. Nil when it has none.
	Sim func(rt *Runtime, sr *machine.SimRunner) error
	// Validators are read-only checkers of the family's files that --sim
	// still runs for real when installed (program -> required arguments).
	Validators map[string][]string
	// Flags are the family's own run settings, given as --NAME VALUE to
	// exec, plan and repl and read with Runtime.Flag.
	Flags []Flag
	// Preflight, when set, runs before a script that refers to the
	// family starts (Runtime.Preflight): it finds what would certainly
	// fail later, such as missing credentials or names the site config
	// gives that the world lacks, and returns every cause at once.
	Preflight func(rt *Runtime) error
	// PreflightExempt are members whose use alone does not call for the
	// preflight.
	PreflightExempt []string
}

// Flag is one family-only setting of a run.
type Flag struct {
	Name  string
	Usage string
}

// Flag returns the value of a family's run setting ("" when unset).
func (rt *Runtime) Flag(name string) string {
	for _, f := range rt.Opts.Families {
		for _, fl := range f.Flags {
			if fl.Name == name {
				return rt.Opts.Flags[name]
			}
		}
	}
	panic(fmt.Sprintf("phoenix: no family declares the flag --%s", name))
}

// UseBackend returns the run's one backend of a family, made on first use:
// by sim under --sim, by real otherwise. B is the family's backend
// interface, which both implementations satisfy.
func UseBackend[B any](rt *Runtime, family string, real, sim func(*Runtime) (B, error)) (B, error) {
	v, err := rt.Backend("backend:"+family, func() (any, error) {
		if rt.Opts.Sim {
			return sim(rt)
		}
		return real(rt)
	})
	if err != nil {
		var zero B
		return zero, err
	}
	return v.(B), nil
}

func (rt *Runtime) validators() map[string][]string {
	out := map[string][]string{}
	for _, f := range rt.Opts.Families {
		for prog, args := range f.Validators {
			out[prog] = args
		}
	}
	return out
}
