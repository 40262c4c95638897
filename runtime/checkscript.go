package runtime

import (
	"fmt"
	"os"
	"strings"

	"go.starlark.net/resolve"
	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// CheckScript parses and resolves a script and everything it loads,
// without running anything. It returns every problem found.
func (rt *Runtime) CheckScript(path string) []error {
	c := &checker{rt: rt, seen: map[string]bool{}, globals: map[string]map[string]bool{}}
	c.check(path, path, nil)
	return c.errs
}

type checker struct {
	rt      *Runtime
	seen    map[string]bool
	globals map[string]map[string]bool
	errs    []error
}

func (c *checker) check(key, display string, chain []string) map[string]bool {
	for _, k := range chain {
		if k == key {
			c.errs = append(c.errs, fmt.Errorf("cycle in load graph: %s -> %s", strings.Join(chain, " -> "), key))
			return nil
		}
	}
	if c.seen[key] {
		return c.globals[key]
	}
	c.seen[key] = true
	var src []byte
	var err error
	if strings.HasPrefix(key, stdlibPrefix) {
		src, err = readModule(key)
	} else {
		src, err = os.ReadFile(key)
	}
	if err != nil {
		c.errs = append(c.errs, err)
		return nil
	}
	pre := stdlibPredeclared(key, c.rt.Predeclared())
	f, _, err := starlark.SourceProgramOptions(FileOptions, display, src, pre.Has)
	if err != nil {
		if el, ok := err.(resolve.ErrorList); ok {
			for _, e := range el {
				c.errs = append(c.errs, e)
			}
		} else {
			c.errs = append(c.errs, err)
		}
		if f == nil {
			return nil
		}
	}
	names := topLevelNames(f)
	c.globals[key] = names
	for _, stmt := range f.Stmts {
		ld, ok := stmt.(*syntax.LoadStmt)
		if !ok {
			continue
		}
		module := ld.ModuleName()
		k, disp, err := resolveModule(display, module)
		if err != nil {
			c.errs = append(c.errs, fmt.Errorf("%s: %w", ld.Load, err))
			continue
		}
		if !strings.HasPrefix(k, stdlibPrefix) {
			k = disp
		}
		theirs := c.check(k, disp, append(chain, key))
		if theirs == nil {
			continue
		}
		for _, from := range ld.From {
			if !theirs[from.Name] {
				c.errs = append(c.errs, fmt.Errorf("%s: load: name %s not found in module %s", from.NamePos, from.Name, module))
			}
		}
	}
	return names
}

func topLevelNames(f *syntax.File) map[string]bool {
	names := map[string]bool{}
	var bind func(e syntax.Expr)
	bind = func(e syntax.Expr) {
		switch e := e.(type) {
		case *syntax.Ident:
			names[e.Name] = true
		case *syntax.TupleExpr:
			for _, x := range e.List {
				bind(x)
			}
		case *syntax.ListExpr:
			for _, x := range e.List {
				bind(x)
			}
		case *syntax.ParenExpr:
			bind(e.X)
		}
	}
	for _, stmt := range f.Stmts {
		switch s := stmt.(type) {
		case *syntax.AssignStmt:
			bind(s.LHS)
		case *syntax.DefStmt:
			names[s.Name.Name] = true
		case *syntax.LoadStmt:
			for _, id := range s.To {
				names[id.Name] = true
			}
		case *syntax.ForStmt:
			bind(s.Vars)
		}
	}
	return names
}
