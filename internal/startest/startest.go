// Package startest is phoenix test: it runs the test_* functions of
// *_test.star files, each in a fresh --sim run (the Proxmox VE and ZFS
// simulators, a temporary root, a recording command runner), and reports
// ok or FAIL per test the way go test does.
package startest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"

	"phoenix/runtime"
)

// Options are the runner's settings.
type Options struct {
	// Run selects tests by name; nil runs all.
	Run       *regexp.Regexp
	ConfigDir string
	Families  []runtime.Family
	// Verbose shows the output of passing tests too.
	Verbose bool
	Out     io.Writer
}

// Summary counts the tests run.
type Summary struct{ Passed, Failed int }

// Discover returns the *_test.star files named or found below the given
// paths, sorted per argument.
func Discover(paths []string) ([]string, error) { return Files(paths, "_test.star") }

// Files returns the files named, and those below the named directories
// whose names end in suffix, sorted per argument.
func Files(paths []string, suffix string) ([]string, error) {
	var out []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			out = append(out, p)
			continue
		}
		var found []string
		err = filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && strings.HasSuffix(path, suffix) {
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

// TestNames lists a file's top-level test_* functions in source order.
func TestNames(file string) ([]string, error) {
	src, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	f, err := runtime.FileOptions.Parse(file, src, 0)
	if err != nil {
		return nil, err
	}
	var names []string
	for _, stmt := range f.Stmts {
		if d, ok := stmt.(*syntax.DefStmt); ok && strings.HasPrefix(d.Name.Name, "test_") {
			names = append(names, d.Name.Name)
		}
	}
	return names, nil
}

// Run runs every selected test of the files.
func Run(ctx context.Context, files []string, o Options) Summary {
	var sum Summary
	for _, file := range files {
		names, err := TestNames(file)
		if err != nil {
			fmt.Fprintf(o.Out, "FAIL  %s\n%s\n", file, indent(err.Error()))
			sum.Failed++
			continue
		}
		for _, name := range names {
			if o.Run != nil && !o.Run.MatchString(name) {
				continue
			}
			start := time.Now()
			var log bytes.Buffer
			err := runOne(ctx, file, name, o, &log)
			took := time.Since(start).Seconds()
			if err != nil {
				sum.Failed++
				fmt.Fprintf(o.Out, "FAIL  %s %s (%.2fs)\n%s\n", file, name, took, indent(message(err)))
				if log.Len() > 0 {
					fmt.Fprintf(o.Out, "    output:\n%s\n", indent(indent(log.String())))
				}
				continue
			}
			sum.Passed++
			fmt.Fprintf(o.Out, "ok    %s %s (%.2fs)\n", file, name, took)
			if o.Verbose && log.Len() > 0 {
				fmt.Fprintln(o.Out, indent(log.String()))
			}
		}
	}
	return sum
}

func message(err error) string {
	var ee *starlark.EvalError
	if errors.As(err, &ee) {
		return ee.Backtrace()
	}
	return err.Error()
}

func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = "    " + l
	}
	return strings.Join(lines, "\n")
}

// runOne runs one test in a fresh run: its own temporary root, its own
// simulators and command runner, its own load of the file.
func runOne(ctx context.Context, file, name string, o Options, log io.Writer) error {
	tmp, err := os.MkdirTemp("", "phoenix-test-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	rt, err := runtime.New(ctx, runtime.Options{
		Sim:       true,
		RootDir:   filepath.Join(tmp, "root"),
		ConfigDir: o.ConfigDir,
		Stderr:    log,
		Families:  o.Families,
		Globals:   starlark.StringDict{"testing": Module(filepath.Dir(file))},
	})
	if err != nil {
		return err
	}
	defer rt.Close()
	globals, err := rt.ExecScript(file)
	if err != nil {
		return err
	}
	fn, ok := globals[name].(starlark.Callable)
	if !ok {
		return fmt.Errorf("%s: %s is not a function", file, name)
	}
	th := rt.NewThread(name, rt.Report(), log)
	defer rt.Release(th)
	_, err = starlark.Call(th, fn, nil, nil)
	return err
}
