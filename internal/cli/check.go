package cli

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/pflag"
	"go.starlark.net/starlark"
	"go.starlark.net/syntax"

	"phoenix/builtins"
	"phoenix/internal/lint"
	"phoenix/internal/startest"
	"phoenix/runtime"
)

func init() { register("check", checkCmd) }

// checkCmd is `phoenix check PATH...`: every problem phoenix can find
// without running a script, each as file:line:col.
func checkCmd(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	flags := pflag.NewFlagSet("check", pflag.ContinueOnError)
	flags.SetOutput(stderr)
	flags.Usage = func() {
		fmt.Fprint(stderr, `usage: phoenix check SCRIPT|DIR...

Parses each script (every .star under a DIR), follows its load()s and,
without running anything, reports: undefined names, members a builtin
module does not have, keyword arguments a builtin does not take, load()
symbols never used and declared parameters never read. Exit 1 when
anything is found.
`)
	}
	if err := flags.Parse(args); err != nil {
		return flagError(stderr, "check", err)
	}
	if flags.NArg() == 0 {
		flags.Usage()
		return ExitUsage
	}
	scripts, err := startest.Files(flags.Args(), ".star")
	if err != nil {
		fmt.Fprintln(stderr, "phoenix check:", err)
		return ExitUsage
	}
	// *_test.star files also see phoenix test's testing module.
	testing := startest.Module(".")
	rt, err := runtime.New(context.Background(), runtime.Options{
		DryRun: true, RootDir: os.TempDir(), Stderr: stderr, Families: builtins.All(),
		Globals: starlark.StringDict{"testing": testing},
	})
	if err != nil {
		fmt.Fprintln(stderr, "phoenix check:", err)
		return ExitError
	}
	defer rt.Close()
	tests := rt.Predeclared()
	scriptsSee := maps.Clone(tests)
	delete(scriptsSee, "testing")
	ck := &checkRun{rt: rt, printed: map[string]bool{}, linted: map[string][]string{},
		scripts: &lint.Checker{Predeclared: scriptsSee, Funcs: builtins.Funcs, Options: runtime.FileOptions},
		tests:   &lint.Checker{Predeclared: tests, Funcs: builtins.Funcs, Options: runtime.FileOptions},
	}
	bad := 0
	for _, script := range scripts {
		problems := ck.check(script)
		for _, p := range problems {
			if !ck.printed[p] {
				ck.printed[p] = true
				fmt.Fprintln(stderr, p)
			}
		}
		if len(problems) > 0 {
			bad++
		} else {
			fmt.Fprintf(stdout, "%s: ok\n", script)
		}
	}
	if bad > 0 {
		return ExitError
	}
	return ExitOK
}

type checkRun struct {
	rt             *runtime.Runtime
	scripts, tests *lint.Checker
	printed        map[string]bool
	linted         map[string][]string // by absolute path
}

// check is a script's problems: the checker's findings in it and in the
// local files it loads, then the load graph's problems not already
// reported (the checker adds a suggestion to the resolver's errors).
func (ck *checkRun) check(script string) []string {
	out := ck.lintTree(script, map[string]bool{})
	for _, e := range ck.rt.CheckScript(script) {
		msg := e.Error()
		if !slices.ContainsFunc(out, func(s string) bool { return strings.HasPrefix(s, msg) }) {
			out = append(out, msg)
		}
	}
	return out
}

// lintTree lints path and, once each, the local files it loads.
func (ck *checkRun) lintTree(path string, seen map[string]bool) []string {
	abs, err := filepath.Abs(path)
	if err != nil || seen[abs] {
		return nil
	}
	seen[abs] = true
	src, err := os.ReadFile(path)
	if err != nil {
		return nil // the load graph check reports it
	}
	out, done := ck.linted[abs]
	if !done {
		c := ck.scripts
		if strings.HasSuffix(path, "_test.star") {
			c = ck.tests
		}
		out = []string{}
		for _, f := range c.File(path, src) {
			out = append(out, f.String())
		}
		ck.linted[abs] = out
	}
	out = append([]string(nil), out...)
	f, err := runtime.FileOptions.Parse(path, src, 0)
	if err != nil {
		return out
	}
	for _, stmt := range f.Stmts {
		if ld, ok := stmt.(*syntax.LoadStmt); ok {
			m := ld.ModuleName()
			if strings.HasPrefix(m, "@") {
				continue
			}
			if !filepath.IsAbs(m) {
				m = filepath.Join(filepath.Dir(path), m)
			}
			out = append(out, ck.lintTree(m, seen)...)
		}
	}
	return out
}
