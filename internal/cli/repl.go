package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/chzyer/readline"
	"github.com/spf13/pflag"
	"go.starlark.net/starlark"

	"phoenix/builtins/config"
	"phoenix/internal/repl"
	"phoenix/internal/site"
	"phoenix/runtime"
)

func init() { register("repl", replCmd) }

// replCmd is `phoenix repl [flags]`: exec's flags plus --yes.
func replCmd(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	f := newRunFlags("repl", stderr)
	f.fs.BoolVar(&f.yes, "yes", false, "apply each statement's changes without asking")
	f.fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: phoenix repl [flags]\n\nAn interactive session with every builtin. Each statement is planned first;\none that changes the world asks \"apply? [y/N]\". On piped input nothing is\napplied without --yes. Session commands: :plan, :save FILE.star, :help, :quit.\n\nflags:\n%s", f.fs.FlagUsages())
	}
	if err := f.fs.Parse(args); err != nil {
		return flagError(stderr, "repl", err)
	}
	switch {
	case f.fs.NArg() > 0:
		fmt.Fprintf(stderr, "phoenix repl: unexpected argument %q (use phoenix exec to run a script)\n", f.fs.Arg(0))
		return ExitUsage
	case f.output != "text":
		fmt.Fprintln(stderr, "phoenix repl: --output: the REPL prints text only")
		return ExitUsage
	case len(f.vars) > 0:
		fmt.Fprintln(stderr, "phoenix repl: --var: a session has no script parameters")
		return ExitUsage
	case f.detailedExitcode:
		fmt.Fprintln(stderr, "phoenix repl: --detailed-exitcode is for phoenix plan")
		return ExitUsage
	case f.yes && f.dryRun:
		fmt.Fprintln(stderr, "phoenix repl: --yes and --dry-run contradict each other")
		return ExitUsage
	}
	opts, _, err := f.options(false, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "phoenix repl: %v\n", err)
		return ExitUsage
	}
	rt, err := runtime.New(context.Background(), opts)
	if err != nil {
		fmt.Fprintf(stderr, "phoenix repl: %v\n", err)
		return ExitError
	}
	defer rt.Close()
	if !opts.DryRun {
		// A session that may apply holds the site lock throughout.
		end, err := beginApply(rt, f, commandLine("repl"), stderr)
		if err != nil {
			fmt.Fprintf(stderr, "phoenix repl: %v\n", err)
			return ExitError
		}
		defer end("")
	}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	defer signal.Stop(sigs)

	globals, sources := replSite(rt, opts.ConfigDir, stderr)
	failed, err := repl.Run(rt, repl.Options{
		Globals:       globals,
		GlobalsSource: sources,
		RunFlags:      f.runFlagsForScript(),
		Stdin:         stdin,
		Stdout:        stdout,
		Stderr:        stderr,
		Interactive:   isTerminal(stdin) && isTerminal(stdout),
		Yes:           f.yes,
		DryRun:        opts.DryRun,
		Signals:       sigs,
	})
	if err != nil {
		fmt.Fprintf(stderr, "phoenix repl: %v\n", err)
		return ExitError
	}
	if failed > 0 && !isTerminal(stdin) {
		// A piped session is a script: its caller learns that a statement failed.
		return ExitError
	}
	return ExitOK
}

// replSite loads the site from --config as `site`, when there is one. An
// invalid site is reported and left out: the session is how it gets fixed.
func replSite(rt *runtime.Runtime, dir string, stderr io.Writer) (starlark.StringDict, map[string]string) {
	if _, err := os.Stat(filepath.Join(dir, site.HypervisorFile)); err != nil {
		return nil, nil
	}
	_, v, err := config.Load(rt, dir)
	if err != nil {
		fmt.Fprintf(stderr, "phoenix repl: site not loaded: %v\n", err)
		return nil, nil
	}
	return starlark.StringDict{"site": v}, map[string]string{"site": "site = config.site()"}
}

func isTerminal(x any) bool {
	f, ok := x.(*os.File)
	return ok && readline.IsTerminal(int(f.Fd()))
}

// runFlagsForScript lists the flags given to the session that a run of a
// script saved from it needs too: where and against what it runs, not
// how the session asked or printed.
func (f *runFlags) runFlagsForScript() []string {
	var out []string
	f.fs.Visit(func(fl *pflag.Flag) {
		switch fl.Name {
		case "yes", "dry-run", "output", "detailed-exitcode", "var", "log-level", "sim-fault":
			return
		}
		if fl.Value.Type() == "bool" {
			if fl.Value.String() == "true" {
				out = append(out, "--"+fl.Name)
			}
			return
		}
		out = append(out, "--"+fl.Name, repl.ShellWord(fl.Value.String()))
	})
	return out
}
