// Package lint finds the mistakes in a Starlark script that resolving
// alone does not: members a builtin module lacks, keyword arguments a
// builtin does not take, load() symbols never used and declared script
// parameters never read. Builtins are known from the one registry
// (builtins.Funcs) and the modules the runtime predeclares.
package lint

import (
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"go.starlark.net/resolve"
	"go.starlark.net/starlark"
	"go.starlark.net/syntax"

	"phoenix/builtins"
	"phoenix/runtime"
)

// Finding is one problem at a position.
type Finding struct {
	Pos syntax.Position
	Msg string
}

func (f Finding) String() string { return fmt.Sprintf("%s: %s", f.Pos, f.Msg) }

// Checker checks files against the names every script sees.
type Checker struct {
	Predeclared starlark.StringDict
	Funcs       map[string]builtins.Func
	Options     *syntax.FileOptions
}

// File parses, resolves and checks one script. Parse and resolve errors
// come first (an undefined name with the closest known one); the other
// rules run only on a file that resolves.
func (c *Checker) File(filename string, src []byte) []Finding {
	f, err := c.Options.Parse(filename, src, syntax.RetainComments)
	if err != nil {
		if se, ok := err.(syntax.Error); ok {
			return []Finding{{se.Pos, se.Msg}}
		}
		return []Finding{{syntax.MakePosition(&filename, 1, 1), err.Error()}}
	}
	l := &linter{c: c, file: f}
	if err := resolve.File(f, c.Predeclared.Has, starlark.Universe.Has); err != nil {
		globals := topLevel(f)
		for _, e := range err.(resolve.ErrorList) {
			msg := e.Msg
			if name, ok := strings.CutPrefix(msg, "undefined: "); ok && !strings.Contains(name, " ") {
				msg += DidYouMean(name, c.known(globals))
			}
			l.out = append(l.out, Finding{e.Pos, msg})
		}
	}
	// The resolver binds what it can even after an error.
	l.run()
	sort.SliceStable(l.out, func(i, j int) bool { return before(l.out[i].Pos, l.out[j].Pos) })
	return l.out
}

func before(a, b syntax.Position) bool {
	if a.Line != b.Line {
		return a.Line < b.Line
	}
	return a.Col < b.Col
}

func (c *Checker) known(globals []string) []string {
	names := append([]string(nil), globals...)
	for k := range c.Predeclared {
		names = append(names, k)
	}
	for k := range starlark.Universe {
		names = append(names, k)
	}
	return names
}

func topLevel(f *syntax.File) []string {
	var names []string
	for _, stmt := range f.Stmts {
		switch s := stmt.(type) {
		case *syntax.DefStmt:
			names = append(names, s.Name.Name)
		case *syntax.LoadStmt:
			for _, id := range s.To {
				names = append(names, id.Name)
			}
		case *syntax.AssignStmt:
			syntax.Walk(s.LHS, func(n syntax.Node) bool {
				if id, ok := n.(*syntax.Ident); ok {
					names = append(names, id.Name)
				}
				return true
			})
		}
	}
	return names
}

type linter struct {
	c    *Checker
	file *syntax.File
	out  []Finding
	// uses counts the references to each binding, its defining one apart,
	// by the defining identifier (a function's free variable is another
	// Binding of the same name).
	uses map[*syntax.Ident]int
}

func (l *linter) report(pos syntax.Position, format string, args ...any) {
	l.out = append(l.out, Finding{pos, fmt.Sprintf(format, args...)})
}

func (l *linter) run() {
	l.uses = map[*syntax.Ident]int{}
	syntax.Walk(l.file, func(n syntax.Node) bool {
		switch n := n.(type) {
		case *syntax.Ident:
			if b, ok := n.Binding.(*resolve.Binding); ok && b.First != nil && b.First != n {
				l.uses[b.First]++
			}
		case *syntax.DotExpr:
			l.member(n)
		case *syntax.CallExpr:
			l.call(n)
		}
		return true
	})
	l.unusedLoads()
	l.unusedParams()
}

// predeclared returns the value a name refers to when it is a builtin.
func (l *linter) predeclared(e syntax.Expr) (string, starlark.Value, bool) {
	id, ok := e.(*syntax.Ident)
	if !ok {
		return "", nil, false
	}
	b, ok := id.Binding.(*resolve.Binding)
	if !ok || b.Scope != resolve.Predeclared {
		return "", nil, false
	}
	v, ok := l.c.Predeclared[id.Name]
	return id.Name, v, ok
}

// member reports fs.wrte: an attribute a builtin module or struct lacks.
func (l *linter) member(d *syntax.DotExpr) {
	name, v, ok := l.predeclared(d.X)
	if !ok {
		return
	}
	ha, ok := v.(starlark.HasAttrs)
	if !ok {
		return
	}
	attrs := ha.AttrNames()
	for _, a := range attrs {
		if a == d.Name.Name {
			return
		}
	}
	l.report(d.Name.NamePos, "%s has no member %s%s", name, d.Name.Name, DidYouMean(d.Name.Name, attrs))
}

// call checks a call of a documented builtin against its signature.
func (l *linter) call(c *syntax.CallExpr) {
	key := ""
	switch fn := c.Fn.(type) {
	case *syntax.Ident:
		if name, _, ok := l.predeclared(fn); ok {
			key = name
		}
	case *syntax.DotExpr:
		if name, _, ok := l.predeclared(fn.X); ok {
			key = name + "." + fn.Name.Name
		}
	}
	switch {
	case key == "scripts.run":
		l.scriptParams(c.Args)
	case key == "task" && len(c.Args) > 0 && l.isScriptsRun(c.Args[0]):
		l.scriptParams(c.Args[1:])
	}
	f, ok := l.c.Funcs[key]
	if !ok || f.Params == nil {
		return
	}
	positional, unpacked := 0, false
	given := map[string]bool{}
	for _, arg := range c.Args {
		switch a := arg.(type) {
		case *syntax.BinaryExpr:
			if a.Op == syntax.EQ {
				kw := a.X.(*syntax.Ident)
				given[kw.Name] = true
				if !f.Accepts(kw.Name) {
					l.report(kw.NamePos, "%s does not take the keyword argument %s%s (it takes %s)", key, kw.Name, DidYouMean(kw.Name, f.Keywords()), strings.Join(f.Keywords(), ", "))
				}
				continue
			}
		case *syntax.UnaryExpr:
			if a.Op == syntax.STAR || a.Op == syntax.STARSTAR {
				unpacked = true
				continue
			}
		}
		positional++
	}
	if unpacked {
		return
	}
	var slots []builtins.Param
	variadic := false
	for _, p := range f.Params {
		switch {
		case p.Varargs:
			variadic = true
		case !p.Kwargs && !p.KeywordOnly:
			slots = append(slots, p)
		}
	}
	if positional > len(slots) && !variadic {
		l.report(c.Lparen, "%s takes at most %d positional arguments, got %d", key, len(slots), positional)
		return
	}
	for i, p := range f.Params {
		if p.Varargs || p.Kwargs || p.Default != "" || given[p.Name] {
			continue
		}
		if !p.KeywordOnly && i < positional {
			continue
		}
		l.report(c.Lparen, "%s: missing argument %s", key, p.Name)
	}
}

// unusedLoads reports load() symbols the file never uses.
func (l *linter) unusedLoads() {
	for _, stmt := range l.file.Stmts {
		ld, ok := stmt.(*syntax.LoadStmt)
		if !ok {
			continue
		}
		for _, id := range ld.To {
			b, ok := id.Binding.(*resolve.Binding)
			if ok && b.First == id && l.uses[id] == 0 && !strings.HasPrefix(id.Name, "_") {
				l.report(id.NamePos, "%s is loaded but never used", id.Name)
			}
		}
	}
}

// unusedParams reports script parameters declared in params() and never
// read: `p = params(x = ...)` with no p.x anywhere. A params result used
// any other way (passed along whole) is not judged.
func (l *linter) unusedParams() {
	for _, stmt := range l.file.Stmts {
		var lhs syntax.Expr
		var call *syntax.CallExpr
		switch s := stmt.(type) {
		case *syntax.AssignStmt:
			lhs = s.LHS
			call, _ = s.RHS.(*syntax.CallExpr)
		case *syntax.ExprStmt:
			call, _ = s.X.(*syntax.CallExpr)
		}
		if call == nil {
			continue
		}
		if name, _, ok := l.predeclared(call.Fn); !ok || name != "params" {
			continue
		}
		read := map[string]bool{}
		if id, ok := lhs.(*syntax.Ident); ok {
			b, ok := id.Binding.(*resolve.Binding)
			if !ok || b.First == nil {
				return
			}
			dotted := 0
			syntax.Walk(l.file, func(n syntax.Node) bool {
				if d, ok := n.(*syntax.DotExpr); ok {
					if x, ok := d.X.(*syntax.Ident); ok && x != b.First && sameBinding(x, b.First) {
						read[d.Name.Name] = true
						dotted++
					}
				}
				return true
			})
			if dotted < l.uses[b.First] {
				return
			}
		} else if lhs != nil {
			return
		}
		for _, arg := range call.Args {
			if a, ok := arg.(*syntax.BinaryExpr); ok && a.Op == syntax.EQ {
				kw := a.X.(*syntax.Ident)
				if !read[kw.Name] {
					l.report(kw.NamePos, "parameter %s is declared but never used", kw.Name)
				}
			}
		}
	}
}

func sameBinding(id, first *syntax.Ident) bool {
	b, ok := id.Binding.(*resolve.Binding)
	return ok && b.First == first
}

func (l *linter) isScriptsRun(e syntax.Expr) bool {
	d, ok := e.(*syntax.DotExpr)
	if !ok || d.Name.Name != "run" {
		return false
	}
	name, _, ok := l.predeclared(d.X)
	return ok && name == "scripts"
}

// scriptParams checks scripts.run's arguments (or a task's that calls
// it) when the script is a literal path: it must exist beside this file,
// and each keyword must be one of its declared parameters.
func (l *linter) scriptParams(args []syntax.Expr) {
	if len(args) == 0 {
		return
	}
	lit, ok := args[0].(*syntax.Literal)
	if !ok || lit.Token != syntax.STRING {
		return
	}
	rel := lit.Value.(string)
	path := rel
	if !filepath.IsAbs(rel) {
		path = filepath.Join(filepath.Dir(l.file.Path), rel)
	}
	decls, err := runtime.DeclaredParams(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			l.report(lit.TokenPos, "scripts.run: no script %s beside this file", rel)
		} else {
			l.report(lit.TokenPos, "scripts.run: %s: %v", rel, err)
		}
		return
	}
	var names []string
	for _, p := range decls {
		names = append(names, p.Name)
	}
	for _, arg := range args[1:] {
		b, ok := arg.(*syntax.BinaryExpr)
		if !ok || b.Op != syntax.EQ {
			continue
		}
		kw := b.X.(*syntax.Ident)
		if kw.Name == "name" || kw.Name == "needs" {
			continue // task()'s own
		}
		if !slices.Contains(names, kw.Name) {
			takes := "it declares none"
			if len(names) > 0 {
				takes = "it declares " + strings.Join(names, ", ")
			}
			l.report(kw.NamePos, "%s declares no parameter %s%s (%s)", rel, kw.Name, DidYouMean(kw.Name, names), takes)
		}
	}
}
