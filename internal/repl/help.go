package repl

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// helpText is what help() returns; the session prints it as is.
type helpText string

func (h helpText) String() string        { return string(h) }
func (h helpText) Type() string          { return "help" }
func (h helpText) Freeze()               {}
func (h helpText) Truth() starlark.Bool  { return h != "" }
func (h helpText) Hash() (uint32, error) { return 0, errors.New("unhashable: help") }

const commandsHelp = `Session commands:
  :plan          the changes applied so far in this session (planned, under --dry-run)
  :save FILE     write the statements that succeeded as a script for phoenix exec
  :help          this text
  :quit          end the session (Ctrl-D does too)

Each statement is planned first. One that would change the world prints
its plan and asks "apply? [y/N]"; --yes applies without asking and
--dry-run never applies. Ctrl-C cancels the running statement.`

// helpBuiltin is help(x): the reference text of a builtin, module,
// function or name ("fs.write").
func (s *session) helpBuiltin() *starlark.Builtin {
	return starlark.NewBuiltin("help", func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var x starlark.Value
		if err := starlark.UnpackPositionalArgs(b.Name(), args, kwargs, 0, &x); err != nil {
			return nil, err
		}
		if x == nil {
			return helpText(s.overview()), nil
		}
		return helpText(s.helpFor(x)), nil
	})
}

func (s *session) overview() string {
	var b strings.Builder
	b.WriteString("help(x) shows the reference of a module or builtin: help(fs), help(fs.write),\nhelp(\"params\"). dir(x) lists a module's members.\n\nModules:\n")
	var mods []string
	for name, v := range s.globals {
		if _, ok := v.(*starlarkstruct.Module); ok {
			mods = append(mods, name)
		}
	}
	sort.Strings(mods)
	for _, name := range mods {
		fmt.Fprintf(&b, "  %-10s %s\n", name, summaryOf(s.docs[name]))
	}
	b.WriteString("\nGlobals: ")
	var globals []string
	for _, name := range []string{"params", "param", "parallel", "task", "struct", "catch"} {
		if _, ok := s.globals[name]; ok {
			globals = append(globals, name)
		}
	}
	b.WriteString(strings.Join(globals, ", "))
	b.WriteString("\n\n")
	b.WriteString(commandsHelp)
	return b.String()
}

func summaryOf(doc string) string {
	first, _, _ := strings.Cut(doc, "\n\n")
	return strings.Join(strings.Fields(first), " ")
}

func (s *session) helpFor(x starlark.Value) string {
	switch x := x.(type) {
	case starlark.String:
		if d, ok := s.docs[string(x)]; ok {
			return titled(string(x), d)
		}
		if v, ok := s.globals[string(x)]; ok {
			return s.helpFor(v)
		}
		return fmt.Sprintf("no help for %q", string(x))
	case *starlarkstruct.Module:
		if d, ok := s.docs[x.Name]; ok {
			return d
		}
		// A namespace without its own entry (param): its members'.
		var lines []string
		for _, n := range x.AttrNames() {
			if d, ok := s.docs[x.Name+"."+n]; ok {
				lines = append(lines, titled(x.Name+"."+n, d))
			} else {
				lines = append(lines, x.Name+"."+n)
			}
		}
		return fmt.Sprintf("module %s:\n  %s", x.Name, strings.Join(lines, "\n  "))
	case *starlark.Builtin:
		if d, ok := s.docs[x.Name()]; ok {
			return titled(x.Name(), d)
		}
		if _, ok := starlark.Universe[x.Name()]; ok {
			return x.Name() + ": a Starlark built-in function (see the Starlark language specification)"
		}
		return x.Name() + ": no documentation"
	case *starlark.Function:
		sig := "def " + x.Name() + "(" + strings.Join(params(x), ", ") + ")"
		if doc := x.Doc(); doc != "" {
			return sig + "\n\n" + doc
		}
		return sig
	case *starlarkstruct.Struct:
		return fmt.Sprintf("a struct with fields: %s", strings.Join(x.AttrNames(), ", "))
	}
	return fmt.Sprintf("a value of type %s", x.Type())
}

// titled qualifies an entry: Docs["fs.write"] is "write(path, ...) - ...".
func titled(key, doc string) string {
	mod, fn, ok := strings.Cut(key, ".")
	if ok && strings.HasPrefix(doc, fn) && !strings.HasPrefix(doc, key) {
		return mod + "." + doc
	}
	return doc
}

func params(fn *starlark.Function) []string {
	var out []string
	n := fn.NumParams()
	for i := 0; i < n; i++ {
		name, _ := fn.Param(i)
		switch {
		case fn.HasKwargs() && i == n-1:
			name = "**" + name
		case fn.HasVarargs() && i == n-1-b2i(fn.HasKwargs()):
			name = "*" + name
		default:
			if d := fn.ParamDefault(i); d != nil {
				name += "=" + d.String()
			}
		}
		out = append(out, name)
	}
	return out
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
