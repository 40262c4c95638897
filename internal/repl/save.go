package repl

import (
	"errors"
	"fmt"
	"phoenix/internal/machine"
	"sort"
	"strings"

	"go.starlark.net/syntax"
)

// Which statements :save writes: those that succeeded and, when they
// change the world, were applied (under --dry-run: planned). A refused
// plan is left out, and so is every later use of what it would have
// bound, which failed. Statements that use help() are left out: it exists
// only in the REPL.

// saveable reports whether a successful statement belongs in the script.
func (s *session) saveable(c chunk) bool {
	f, err := parse(c)
	if err != nil {
		return false
	}
	s.mu.Lock()
	helpIsOurs := s.globals["help"] == s.help
	s.mu.Unlock()
	return !(helpIsOurs && uses(f, map[string]bool{"help": true})["help"])
}

// uses returns which of names the file refers to.
func uses(f *syntax.File, names map[string]bool) map[string]bool {
	found := map[string]bool{}
	for _, st := range f.Stmts {
		syntax.Walk(st, func(n syntax.Node) bool {
			if id, ok := n.(*syntax.Ident); ok && names[id.Name] {
				found[id.Name] = true
			}
			return true
		})
	}
	return found
}

// save writes the session's statements as a script for phoenix exec.
// path is an operator path (relative to the current directory), not a
// site path: it is not resolved under --root.
func (s *session) save(path string) (int, error) {
	if path == "" {
		return 0, errors.New("usage: :save FILE.star")
	}
	var body strings.Builder
	extra := map[string]bool{}
	for name := range s.o.Globals {
		extra[name] = true
	}
	used := map[string]bool{}
	for i, src := range s.saved {
		c := chunk{src: src, line: 1}
		if f, err := parse(c); err == nil {
			for n := range uses(f, extra) {
				used[n] = true
			}
			// Blocks get a blank line around them, as in a written script.
			blank := body.Len() > 0 && !strings.HasSuffix(body.String(), "\n\n")
			if isBlock(f) && blank {
				body.WriteString("\n")
			}
			body.WriteString(strings.TrimRight(src, "\n") + "\n")
			if isBlock(f) && i < len(s.saved)-1 {
				body.WriteString("\n")
			}
		}
	}
	var b strings.Builder
	what := "the statements that succeeded, changing ones as applied"
	if s.o.DryRun {
		what = "the statements that succeeded, changing ones as planned (--dry-run)"
	}
	run := append([]string{"phoenix", "exec"}, s.o.RunFlags...)
	fmt.Fprintf(&b, "# Saved from a phoenix repl session: %s.\n# Run it with: %s\n\n", what, strings.Join(append(run, ShellWord(path)), " "))
	names := make([]string, 0, len(used))
	for n := range used {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if def, ok := s.o.GlobalsSource[n]; ok {
			b.WriteString(def + "\n")
		} else {
			fmt.Fprintf(s.o.Stderr, "warning: the saved statements use %s, which only the REPL defines; the script must define it\n", n)
		}
	}
	if len(names) > 0 {
		b.WriteString("\n")
	}
	b.WriteString(body.String())
	if err := machine.WriteFileAtomic(path, []byte(b.String()), 0o644, -1, -1); err != nil {
		return 0, err
	}
	return len(s.saved), nil
}

func isBlock(f *syntax.File) bool {
	if len(f.Stmts) != 1 {
		return false
	}
	switch f.Stmts[0].(type) {
	case *syntax.DefStmt, *syntax.IfStmt, *syntax.ForStmt, *syntax.WhileStmt:
		return true
	}
	return false
}

// ShellWord quotes s for a shell when it needs it.
func ShellWord(s string) string {
	if s != "" && !strings.ContainsAny(s, " \t\n'\"\\$`!*?[]{}()<>|&;#~") {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
