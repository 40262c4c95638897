package runtime

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"phoenix/internal/suggest"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
	"go.starlark.net/syntax"
)

// A script declares its parameters with one top-level call, which the
// runtime reads before running anything:
//
//	P = params(
//	    reinit = param.bool(False, help = "back up the CA and start a new one"),
//	    vmid = param.int(103, help = "container to converge"),
//	)
//
// At run time params() returns a struct of the values given on the command
// line (--reinit, --vmid=105, --var vmid=105) or the defaults.

// Param is one declared script parameter.
type Param struct {
	Name    string
	Type    string // bool, int, string, path
	Default starlark.Value
	Help    string
	// Exists: a path given must name something under the root when the
	// run starts (param.path(exists = True)).
	Exists bool
}

type paramSet struct {
	decls  []Param
	values map[string]starlark.Value
	used   atomic.Bool
}

// UsageError is a command-line mistake: exit 2.
type UsageError struct{ Msg string }

func (e *UsageError) Error() string { return e.Msg }

// paramDecl is what param.bool(...) returns.
type paramDecl struct{ p Param }

func (d *paramDecl) String() string        { return "param." + d.p.Type + "(...)" }
func (p *paramDecl) Type() string          { return "param" }
func (p *paramDecl) Freeze()               {}
func (p *paramDecl) Truth() starlark.Bool  { return true }
func (p *paramDecl) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable: param") }

func paramBuiltin(typ string) *starlark.Builtin {
	return starlark.NewBuiltin("param."+typ, func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var def starlark.Value = starlark.None
		var help string
		mustExist := false
		pairs := []any{"default?", &def, "help?", &help}
		if typ == "path" {
			pairs = append(pairs, "exists?", &mustExist)
		}
		if err := starlark.UnpackArgs(b.Name(), args, kwargs, pairs...); err != nil {
			return nil, err
		}
		if def != starlark.None {
			if _, err := convertParam(typ, def); err != nil {
				return nil, fmt.Errorf("%s: default: %w", b.Name(), err)
			}
		} else if typ == "bool" {
			def = starlark.False
		}
		return &paramDecl{Param{Type: typ, Default: def, Help: help, Exists: mustExist}}, nil
	})
}

// ParamModule is the predeclared `param` namespace.
var ParamModule = &starlarkstruct.Module{
	Name: "param",
	Members: starlark.StringDict{
		"bool":   paramBuiltin("bool"),
		"int":    paramBuiltin("int"),
		"string": paramBuiltin("string"),
		"path":   paramBuiltin("path"),
	},
}

func convertParam(typ string, v starlark.Value) (starlark.Value, error) {
	want := map[string]string{"bool": "bool", "int": "int", "string": "string", "path": "string"}[typ]
	if v.Type() != want {
		return nil, fmt.Errorf("want %s, got %s", typ, v.Type())
	}
	return v, nil
}

func parseParam(p Param, s string) (starlark.Value, error) {
	switch p.Type {
	case "bool":
		switch strings.ToLower(s) {
		case "", "true", "1", "yes", "on":
			return starlark.True, nil
		case "false", "0", "no", "off":
			return starlark.False, nil
		}
		return nil, fmt.Errorf("--%s: %q is not a bool (true or false)", dashed(p.Name), s)
	case "int":
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("--%s: %q is not an int", dashed(p.Name), s)
		}
		return starlark.MakeInt64(n), nil
	}
	return starlark.String(s), nil
}

func dashed(name string) string { return strings.ReplaceAll(name, "_", "-") }

// declaringParams collects declarations in the pre-pass.
func declaringParams(out *[]Param) *starlark.Builtin {
	return starlark.NewBuiltin("params", func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		if len(args) > 0 {
			return nil, fmt.Errorf("params: declare parameters as keywords, e.g. params(reinit = param.bool(False))")
		}
		for _, kv := range kwargs {
			d, ok := kv[1].(*paramDecl)
			if !ok {
				return nil, fmt.Errorf("params: %s: want param.bool/int/string/path(...), got %s", kv[0], kv[1].Type())
			}
			p := d.p
			p.Name = string(kv[0].(starlark.String))
			*out = append(*out, p)
		}
		return starlark.None, nil
	})
}

// DeclaredParams reads the parameters a script declares without running it.
func DeclaredParams(path string) ([]Param, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f, err := FileOptions.Parse(path, src, 0)
	if err != nil {
		return nil, err
	}
	var call *syntax.CallExpr
	for _, stmt := range f.Stmts {
		var e syntax.Expr
		switch s := stmt.(type) {
		case *syntax.ExprStmt:
			e = s.X
		case *syntax.AssignStmt:
			e = s.RHS
		}
		if c, ok := e.(*syntax.CallExpr); ok {
			if id, ok := c.Fn.(*syntax.Ident); ok && id.Name == "params" {
				if call != nil {
					return nil, fmt.Errorf("%s: params() is called twice", c.Lparen)
				}
				call = c
			}
		}
	}
	if call == nil {
		return nil, nil
	}
	var decls []Param
	env := starlark.StringDict{"params": declaringParams(&decls), "param": ParamModule}
	th := &starlark.Thread{Name: "params"}
	th.SetMaxExecutionSteps(100000)
	if _, err := starlark.EvalExprOptions(FileOptions, th, call, env); err != nil {
		return nil, fmt.Errorf("%s: params must be literal declarations: %w", call.Lparen, err)
	}
	return decls, nil
}

// SetParams parses the script's own arguments and --var values against its
// declarations. It reports whether --help was asked for.
func (rt *Runtime) SetParams(decls []Param, args []string, vars map[string]string) (help bool, err error) {
	ps, help, err := rt.parseParams(decls, args, vars)
	if ps != nil {
		rt.mu.Lock()
		rt.params = ps
		rt.mu.Unlock()
	}
	return help, err
}

// parseParams is SetParams without setting: the values of one run of a
// script.
func (rt *Runtime) parseParams(decls []Param, args []string, vars map[string]string) (ps *paramSet, help bool, err error) {
	byName := map[string]Param{}
	for _, p := range decls {
		byName[p.Name] = p
	}
	values := map[string]starlark.Value{}
	set := func(name, val string, hasVal bool, origin string) error {
		key := strings.ReplaceAll(name, "-", "_")
		p, ok := byName[key]
		if !ok {
			msg := fmt.Sprintf("unknown script parameter %s", origin)
			if s := suggestParam(key, decls); s != "" {
				msg += fmt.Sprintf(" (did you mean --%s?)", dashed(s))
			}
			return &UsageError{msg}
		}
		if !hasVal && p.Type != "bool" {
			return &UsageError{fmt.Sprintf("--%s needs a value (--%s=VALUE)", dashed(p.Name), dashed(p.Name))}
		}
		v, err := parseParam(p, val)
		if err != nil {
			return &UsageError{err.Error()}
		}
		values[key] = v
		return nil
	}
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		if err := set(k, vars[k], true, "--var "+k); err != nil {
			return nil, false, err
		}
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "-h" || a == "--help" {
			return nil, true, nil
		}
		if !strings.HasPrefix(a, "--") {
			return nil, false, &UsageError{fmt.Sprintf("unexpected argument %q: script parameters are --name=value", a)}
		}
		name, val, hasVal := strings.Cut(a[2:], "=")
		key := strings.ReplaceAll(name, "-", "_")
		if p, ok := byName[key]; ok && !hasVal && p.Type != "bool" && i+1 < len(args) && !strings.HasPrefix(args[i+1], "--") {
			i++
			val, hasVal = args[i], true
		}
		if err := set(name, val, hasVal, "--"+name); err != nil {
			return nil, false, err
		}
	}
	// Paths are checked now, before the script changes anything.
	for _, k := range slices.Sorted(maps.Keys(values)) {
		if err := rt.checkPathParam(byName[k], values[k]); err != nil {
			return nil, false, err
		}
	}
	return &paramSet{decls: decls, values: values}, false, nil
}

// checkPathParam: a param.path value is a clean absolute site path that
// resolves under the root, and exists when the declaration says so.
func (rt *Runtime) checkPathParam(p Param, v starlark.Value) error {
	s, ok := v.(starlark.String)
	if p.Type != "path" || !ok || s == "" {
		return nil
	}
	flag := "--" + dashed(p.Name)
	if !path.IsAbs(string(s)) || path.Clean(string(s)) != string(s) {
		return &UsageError{fmt.Sprintf("%s: %q: want a clean absolute path (under --root), without . or .. components", flag, string(s))}
	}
	_, err := rt.Root.Stat(string(s))
	switch {
	case err == nil:
	case errors.Is(err, fs.ErrNotExist):
		if p.Exists {
			return &UsageError{fmt.Sprintf("%s: %s does not exist", flag, string(s))}
		}
	default:
		return &UsageError{fmt.Sprintf("%s: %v", flag, err)}
	}
	return nil
}

// ParamsHelp lists a script's parameters for --help.
func ParamsHelp(script string, decls []Param) string {
	var b strings.Builder
	fmt.Fprintf(&b, "usage: phoenix exec [flags] %s [parameters]\n", script)
	if doc := ScriptDoc(script); doc != "" {
		b.WriteString("\n" + doc + "\n")
	}
	if len(decls) == 0 {
		b.WriteString("\nThis script declares no parameters.\n")
		return b.String()
	}
	b.WriteString("\nparameters:\n")
	sorted := append([]Param(nil), decls...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Name < sorted[j].Name })
	for _, p := range sorted {
		flag := "--" + dashed(p.Name)
		if p.Type != "bool" {
			flag += "=" + strings.ToUpper(p.Type)
		}
		def := ""
		if p.Default != starlark.None {
			def = fmt.Sprintf(" (default %s)", p.Default.String())
		}
		fmt.Fprintf(&b, "  %-28s %s%s\n", flag, p.Help, def)
	}
	return b.String()
}

// ScriptDoc is the docstring a script opens with ("" when none or when
// it does not parse).
func ScriptDoc(path string) string {
	src, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	f, err := FileOptions.Parse(path, src, 0)
	if err != nil || len(f.Stmts) == 0 {
		return ""
	}
	es, ok := f.Stmts[0].(*syntax.ExprStmt)
	if !ok {
		return ""
	}
	lit, ok := es.X.(*syntax.Literal)
	if !ok || lit.Token != syntax.STRING {
		return ""
	}
	return strings.TrimSpace(lit.Value.(string))
}

// paramsBuiltin is params() at run time: it returns the values.
func paramsBuiltin(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	ps, _ := thread.Local(paramsKey).(*paramSet)
	if ps == nil {
		rt := FromThread(thread)
		rt.mu.Lock()
		ps = rt.params
		rt.mu.Unlock()
	}
	if ps == nil {
		// Loaded as a module, or run with no declarations read (REPL):
		// defaults only.
		ps = &paramSet{values: map[string]starlark.Value{}}
	}
	if ps.used.Swap(true) {
		return nil, fmt.Errorf("params: called twice")
	}
	fields := starlark.StringDict{}
	for _, kv := range kwargs {
		name := string(kv[0].(starlark.String))
		d, ok := kv[1].(*paramDecl)
		if !ok {
			return nil, fmt.Errorf("params: %s: want param.bool/int/string/path(...)", name)
		}
		if v, ok := ps.values[name]; ok {
			fields[name] = v
		} else {
			fields[name] = d.p.Default
		}
	}
	return starlarkstruct.FromStringDict(starlarkstruct.Default, fields), nil
}

// suggestParam returns the declared name closest to name, if close enough.
func suggestParam(name string, decls []Param) string {
	names := make([]string, len(decls))
	for i, p := range decls {
		names[i] = p.Name
	}
	return suggest.Closest(name, names)
}
