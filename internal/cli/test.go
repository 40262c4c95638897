package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"

	"github.com/spf13/pflag"

	"phoenix/builtins"
	"phoenix/internal/startest"
)

func init() { register("test", testCmd) }

// testCmd is `phoenix test [-run REGEXP] [-v] [DIR|FILE...]`.
func testCmd(args []string, _ io.Reader, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	run := fs.String("run", "", "run only the tests whose name matches REGEXP")
	verbose := fs.BoolP("verbose", "v", false, "show the output of passing tests too")
	config := fs.String("config", "./config", "directory holding the site's declarative config")
	fs.Usage = func() {
		fmt.Fprintf(stderr, `usage: phoenix test [-run REGEXP] [-v] [DIR|FILE...]

Runs the test_* functions of every *_test.star file below DIR (default .),
each in a fresh --sim run: the Proxmox VE and ZFS simulators, a temporary
root and a recording command runner. A test loads @stdlib//assert.star and
uses the testing module (phoenix doc testing) to run or plan scripts and to
script command results. Prints ok or FAIL per test; exit 1 on a failure.

flags:
%s`, fs.FlagUsages())
	}
	if err := fs.Parse(goStyleFlags(args)); err != nil {
		return flagError(stderr, "test", err)
	}
	o := startest.Options{ConfigDir: *config, Families: builtins.All(), Verbose: *verbose, Out: stdout}
	if *run != "" {
		re, err := regexp.Compile(*run)
		if err != nil {
			fmt.Fprintf(stderr, "phoenix test: -run: %v\n", err)
			return ExitUsage
		}
		o.Run = re
	}
	paths := fs.Args()
	if len(paths) == 0 {
		paths = []string{"."}
	}
	files, err := startest.Discover(paths)
	if err != nil {
		fmt.Fprintln(stderr, "phoenix test:", err)
		return ExitUsage
	}
	if len(files) == 0 {
		fmt.Fprintf(stdout, "no test files (*_test.star) in %s\n", strings.Join(paths, " "))
		return ExitOK
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	sum := startest.Run(ctx, files, o)
	switch {
	case sum.Failed > 0:
		fmt.Fprintf(stdout, "FAIL  %d of %d tests failed\n", sum.Failed, sum.Failed+sum.Passed)
		return ExitError
	case sum.Passed == 0:
		fmt.Fprintln(stdout, "no tests to run")
	default:
		fmt.Fprintf(stdout, "PASS  %d tests\n", sum.Passed)
	}
	return ExitOK
}

// goStyleFlags accepts go test's single-dash long flags (-run X, -v).
func goStyleFlags(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		if len(a) > 2 && a[0] == '-' && a[1] != '-' {
			a = "-" + a
		}
		out[i] = a
	}
	return out
}
