package cli

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/spf13/pflag"
	"go.starlark.net/starlark"

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
	scripts, err := starFiles(flags.Args())
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
	bad := 0
	for _, script := range scripts {
		c := &lint.Checker{Predeclared: scriptsSee, Funcs: builtins.Funcs, Options: runtime.FileOptions}
		if strings.HasSuffix(script, "_test.star") {
			c.Predeclared = tests
		}
		problems := checkOne(rt, c, script)
		for _, p := range problems {
			fmt.Fprintln(stderr, p)
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

// checkOne is the checker's findings, then the load graph's problems it
// did not already report at the same position.
func checkOne(rt *runtime.Runtime, c *lint.Checker, script string) []string {
	var out []string
	if src, err := os.ReadFile(script); err == nil {
		for _, f := range c.File(script, src) {
			out = append(out, f.String())
		}
	}
	// The checker reports the script's own parse and resolve errors, with
	// a suggestion added; the load graph's are new.
	for _, e := range rt.CheckScript(script) {
		msg := e.Error()
		if !slices.ContainsFunc(out, func(s string) bool { return strings.HasPrefix(s, msg) }) {
			out = append(out, msg)
		}
	}
	return out
}

// starFiles expands directories to the .star files below them, sorted.
func starFiles(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			out = append(out, a)
			continue
		}
		var found []string
		err = filepath.WalkDir(a, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && strings.HasSuffix(path, ".star") {
				found = append(found, path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		sort.Strings(found)
		out = append(out, found...)
	}
	return out, nil
}
