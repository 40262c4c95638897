package runtime

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"go.starlark.net/syntax"
)

// Preflight runs, before a script starts, the preflight checks of every
// family the script (or a module it loads) refers to, so that a run that
// would certainly fail stops before its first change. The errors of all
// families are returned together.
func (rt *Runtime) Preflight(script string) error {
	abs, err := filepath.Abs(script)
	if err != nil {
		return err
	}
	names := map[string]bool{}
	usedNames(abs, map[string]bool{}, names)
	return rt.preflight(names, nil)
}

// PreflightStatement is Preflight for one REPL statement, parsed as if
// from a file at key (its loads resolve from there). Families in passed
// are not checked again; those that pass now are added to it, so that a
// session checks each family once, when a statement first refers to it,
// and again after a failure.
func (rt *Runtime) PreflightStatement(key string, f *syntax.File, passed map[string]bool) error {
	names := map[string]bool{}
	walkNames(key, f, map[string]bool{key: true}, names)
	return rt.preflight(names, passed)
}

func (rt *Runtime) preflight(names, passed map[string]bool) error {
	var errs []error
	for _, f := range rt.Opts.Families {
		if f.Preflight == nil || passed[f.Name] || !usesFamily(names, f) {
			continue
		}
		if err := f.Preflight(rt); err != nil {
			errs = append(errs, err)
		} else if passed != nil {
			passed[f.Name] = true
		}
	}
	return errors.Join(errs...)
}

// usedNames adds every identifier that key and the modules it loads
// mention. Unreadable or malformed files add nothing: running the script
// reports them properly.
func usedNames(key string, seen, names map[string]bool) {
	if seen[key] {
		return
	}
	seen[key] = true
	src, err := readModule(key)
	if err != nil {
		return
	}
	f, err := FileOptions.Parse(key, src, 0)
	if err != nil {
		return
	}
	walkNames(key, f, seen, names)
}

func walkNames(key string, f *syntax.File, seen, names map[string]bool) {
	syntax.Walk(f, func(n syntax.Node) bool {
		switch n := n.(type) {
		case *syntax.DotExpr:
			if id, ok := n.X.(*syntax.Ident); ok {
				names[id.Name+"."+n.Name.Name] = true
			}
		case *syntax.Ident:
			names[n.Name] = true
		case *syntax.LoadStmt:
			if k, _, err := resolveModule(key, n.ModuleName()); err == nil {
				usedNames(k, seen, names)
			}
		}
		return true
	})
}

// PreflightError is what a family's preflight found: every cause, each
// naming what it concerns.
type PreflightError struct {
	Family string
	Causes []string
}

func (e *PreflightError) Error() string {
	s := fmt.Sprintf("%s: the run would fail; stopped before any change:", e.Family)
	for _, c := range e.Causes {
		s += "\n  - " + c
	}
	return s
}

// usesFamily reports whether the script uses a member of f that needs its
// preflight: any but those f exempts (proxmox.lxc_exec through
// --guest-netns needs no API).
func usesFamily(names map[string]bool, f Family) bool {
	if !names[f.Name] {
		return false
	}
	for n := range names {
		member, ok := strings.CutPrefix(n, f.Name+".")
		if ok && !slices.Contains(f.PreflightExempt, member) {
			return true
		}
	}
	return false
}
