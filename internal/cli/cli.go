// Package cli is phoenix's command line: it parses flags, builds a
// runtime and prints what the run did.
package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"go.starlark.net/starlark"

	"phoenix/builtins"
	"phoenix/internal/machine"
	"phoenix/internal/pve"
	"phoenix/runtime"
)

// Exit codes; the CLI contract relies on them.
const (
	ExitOK      = 0
	ExitError   = 1
	ExitUsage   = 2
	ExitCheck   = 3
	ExitPending = 4
)

const usage = `phoenix automates a Proxmox VE site with Starlark scripts.

usage:
  phoenix exec     [flags] SCRIPT [script parameters]   run a script, applying its changes
  phoenix plan     [flags] SCRIPT [script parameters]   the same run with --dry-run: reads happen, nothing changes
  phoenix check    SCRIPT|DIR...                       find mistakes without running anything (names, members, arguments, unused)
  phoenix test     [-run REGEXP] [-v] [DIR|FILE...]    run the test_* functions of *_test.star files against the simulators
  phoenix fmt      [-w] [-d] FILE|DIR...               format Starlark files
  phoenix doc      [MODULE[.FUNCTION]]                 the builtin reference: signatures, typed parameters, descriptions
  phoenix repl     [flags]                             interactive session, plan first
  phoenix validate [--config DIR] [--output json]      validate the site configuration
  phoenix log      [--since WHEN] [--resource PATTERN]  the audit journal of applied changes
  phoenix sim serve [flags]                            run the Proxmox VE API simulator
  phoenix ca serve  [flags]                            run the CA daemon from a ca.json
  phoenix completion bash|zsh|fish                     shell completion script
  phoenix fw confirm|status [--root DIR]               keep a commit-confirmed firewall change; show a pending rollback
  phoenix version

Run 'phoenix COMMAND -h' for a command's flags. Everything after SCRIPT
belongs to the script: its declared parameters (--name=value) and --help.

exit codes: 0 success, 1 script or runtime error, 2 usage error,
            3 a health check failed, 4 plan --detailed-exitcode found changes,
            130/143 stopped by SIGINT/SIGTERM between changes
`

// Extra subcommands registered by packages that own them (sim, ca, repl,
// validate), so the CLI stays one table.
type command func(args []string, stdin io.Reader, stdout, stderr io.Writer) int

var commands = map[string]command{}

// Register adds a subcommand. Called from init in this package only.
func register(name string, c command) { commands[name] = c }

// serveOnly is a command whose one subcommand is serve (sim, ca): it
// prints usage, or hands the arguments after "serve" to main.
func serveOnly(name, usage string, main func(args []string, stdout, stderr io.Writer) int) command {
	return func(args []string, _ io.Reader, stdout, stderr io.Writer) int {
		if len(args) == 0 || args[0] == "-h" || args[0] == "--help" {
			w, code := stderr, ExitUsage
			if len(args) > 0 {
				w, code = stdout, ExitOK
			}
			fmt.Fprint(w, usage)
			return code
		}
		if args[0] != "serve" {
			fmt.Fprintf(stderr, "phoenix %s: unknown subcommand %q\n\n%s", name, args[0], usage)
			return ExitUsage
		}
		return main(args[1:], stdout, stderr)
	}
}

// Run is phoenix's main.
func Run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return ExitUsage
	}
	switch args[0] {
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return ExitOK
	case "version", "--version":
		fmt.Fprintln(stdout, "phoenix", Version())
		return ExitOK
	case "exec":
		return runScript(args[1:], false, stdout, stderr)
	case "plan":
		return runScript(args[1:], true, stdout, stderr)
	}
	if c, ok := commands[args[0]]; ok {
		return c(args[1:], stdin, stdout, stderr)
	}
	fmt.Fprintf(stderr, "phoenix: unknown command %q\n\n%s", args[0], usage)
	return ExitUsage
}

// Version is the module version stamped by the go tool and the VCS
// revision the binary was built from (with "+dirty" for uncommitted
// changes); "devel" only when the build info has neither.
func Version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "devel"
	}
	return versionOf(bi)
}

func versionOf(bi *debug.BuildInfo) string {
	v := bi.Main.Version
	if v == "(devel)" {
		v = ""
	}
	var rev, at string
	dirty := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			dirty = s.Value == "true"
		}
	}
	if rev != "" {
		if len(rev) > 12 {
			rev = rev[:12]
		}
		if dirty {
			rev += "+dirty"
		}
		if at != "" {
			rev += " " + at
		}
	}
	switch {
	case v != "" && rev != "":
		return v + " (" + rev + ")"
	case v != "":
		return v
	case rev != "":
		return "devel (" + rev + ")"
	}
	return "devel"
}

// runFlags are the flags exec, plan and repl share.
type runFlags struct {
	fs               *pflag.FlagSet
	dryRun, sim      bool
	root, target     string
	familyFlags      map[string]*string
	config           string
	vars             []string
	output           string
	maxSteps         uint64
	detailedExitcode bool
	yes              bool
	lockTimeout      time.Duration
	insecurePerms    bool
	logLevel         string
	simFaults        []string
}

func newRunFlags(name string, stderr io.Writer) *runFlags {
	f := &runFlags{fs: pflag.NewFlagSet(name, pflag.ContinueOnError)}
	fs := f.fs
	fs.SetOutput(stderr)
	fs.SetInterspersed(false)
	fs.BoolVar(&f.dryRun, "dry-run", false, "perform reads only; change nothing and print the plan")
	fs.StringVar(&f.root, "root", "", "directory that stands for / for every site path (default / , or ./.phoenix-sim with --sim)")
	fs.BoolVar(&f.sim, "sim", false, "use the embedded simulators (PVE API, ZFS, host commands) instead of the real host")
	fs.StringVar(&f.target, "target", "", "PVE API URL (default https://127.0.0.1:8006; with --sim, an external simulator)")
	f.familyFlags = map[string]*string{}
	for _, fam := range builtins.All() {
		for _, fl := range fam.Flags {
			f.familyFlags[fl.Name] = fs.String(fl.Name, "", fl.Usage)
		}
	}
	fs.StringVar(&f.config, "config", "./config", "directory holding the site's declarative config")
	fs.StringArrayVar(&f.vars, "var", nil, "set a script parameter, NAME=VALUE (repeatable)")
	fs.StringVar(&f.output, "output", "text", "result format: text or json")
	fs.Uint64Var(&f.maxSteps, "max-steps", runtime.DefaultMaxSteps, "bound on Starlark execution steps")
	fs.BoolVar(&f.detailedExitcode, "detailed-exitcode", false, "with plan: exit 4 when changes are pending")
	fs.DurationVar(&f.lockTimeout, "lock-timeout", 0, "how long an applying run waits for the site lock another run holds (0: fail at once)")
	fs.BoolVar(&f.insecurePerms, "insecure-perms", false, "use password and key files that group or others can read, with a warning")
	fs.StringVar(&f.logLevel, "log-level", "info", "what logs and diagnostics reach stderr: debug (adds each PVE API call), info, warn or error")
	// Fault injection for the reliability tests: a command of the --sim
	// runner fails (see machine.ParseCmdFault). Not for operators.
	fs.StringArrayVar(&f.simFaults, "sim-fault", nil, "with --sim: make matching simulated commands fail (tests)")
	_ = fs.MarkHidden("sim-fault")
	return f
}

func (f *runFlags) options(dryRun bool, stderr io.Writer) (runtime.Options, map[string]string, error) {
	if f.output != "text" && f.output != "json" {
		return runtime.Options{}, nil, fmt.Errorf("--output: want text or json, got %q", f.output)
	}
	vars := map[string]string{}
	for _, v := range f.vars {
		k, val, ok := strings.Cut(v, "=")
		if !ok || k == "" {
			return runtime.Options{}, nil, fmt.Errorf("--var %q: want NAME=VALUE", v)
		}
		vars[k] = val
	}
	level, err := runtime.ParseLogLevel(f.logLevel)
	if err != nil {
		return runtime.Options{}, nil, fmt.Errorf("--log-level: %w", err)
	}
	var faults []machine.CmdFault
	for _, spec := range f.simFaults {
		if !f.sim {
			return runtime.Options{}, nil, fmt.Errorf("--sim-fault needs --sim")
		}
		cf, err := machine.ParseCmdFault(spec)
		if err != nil {
			return runtime.Options{}, nil, fmt.Errorf("--sim-fault: %w", err)
		}
		faults = append(faults, cf)
	}
	target := f.target
	if target != "" {
		t, err := pve.NormalizeURL(target)
		if err != nil {
			return runtime.Options{}, nil, fmt.Errorf("--target: %w", err)
		}
		target = t
	}
	root := rootDir(f.root, f.sim)
	flags := map[string]string{}
	for name, v := range f.familyFlags {
		flags[name] = *v
	}
	return runtime.Options{
		DryRun:        dryRun || f.dryRun,
		Sim:           f.sim,
		RootDir:       root,
		Target:        target,
		ConfigDir:     f.config,
		MaxSteps:      f.maxSteps,
		Stderr:        stderr,
		InsecurePerms: f.insecurePerms,
		LogLevel:      level,
		SimFaults:     faults,
		Families:      builtins.All(),
		Flags:         flags,
	}, vars, nil
}

func runScript(args []string, plan bool, stdout, stderr io.Writer) int {
	name := "exec"
	if plan {
		name = "plan"
	}
	f := newRunFlags(name, stderr)
	f.fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: phoenix %s [flags] SCRIPT [script parameters]\n\nflags:\n%s", name, f.fs.FlagUsages())
	}
	if !plan {
		f.fs.BoolVar(&f.yes, "yes", false, "confirm changes that cannot be undone (replacing a CA root) without asking; needed off a terminal")
	}
	if err := f.fs.Parse(args); err != nil {
		return flagError(stderr, name, err)
	}
	if f.fs.NArg() < 1 {
		fmt.Fprintf(stderr, "phoenix %s: missing SCRIPT\n", name)
		f.fs.Usage()
		return ExitUsage
	}
	script, scriptArgs := f.fs.Arg(0), f.fs.Args()[1:]
	opts, vars, err := f.options(plan, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "phoenix %s: %v\n", name, err)
		return ExitUsage
	}
	if _, err := os.Stat(script); err != nil {
		fmt.Fprintf(stderr, "phoenix %s: %v\n", name, err)
		return ExitUsage
	}
	decls, err := runtime.DeclaredParams(script)
	if err != nil {
		fmt.Fprintf(stderr, "phoenix %s: %v\n", name, err)
		return ExitError
	}
	if msg := misplacedFlag(f.fs, name, script, scriptArgs, decls); msg != "" {
		fmt.Fprintf(stderr, "phoenix %s: %s\n", name, msg)
		return ExitUsage
	}

	opts.Confirm = confirmer(f.yes, os.Stdin, stderr)
	rt, err := runtime.New(context.Background(), opts)
	if err != nil {
		fmt.Fprintf(stderr, "phoenix %s: %v\n", name, err)
		return ExitError
	}
	defer rt.Close()
	help, err := rt.SetParams(decls, scriptArgs, vars)
	if help {
		fmt.Fprint(stdout, runtime.ParamsHelp(script, decls))
		return ExitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "phoenix %s: %s: %v\n", name, script, err)
		return ExitUsage
	}
	signalled, stopSignals := stopOnSignal(rt)
	defer stopSignals()
	end := func(string) {}
	if !opts.DryRun {
		if end, err = beginApply(rt, f, commandLine(name, script), stderr); err != nil {
			fmt.Fprintf(stderr, "phoenix %s: %v\n", name, err)
			if s := signalled(); s != nil {
				return signalExit(s)
			}
			return ExitError
		}
	}

	runErr := rt.Preflight(script)
	if runErr == nil {
		_, runErr = rt.ExecScript(script)
	}
	rep := rt.Report()
	if f.output == "json" {
		rep.WriteJSONResult(stdout, runErr)
	} else {
		rep.WriteText(stdout, opts.DryRun)
	}
	outcome := ""
	if runErr != nil {
		outcome = runErr.Error()
	}
	if s := signalled(); s != nil {
		end("stopped by " + sigName(s))
		reportStopped(stderr, name, s, rep)
		return signalExit(s)
	}
	end(outcome)
	if runErr != nil {
		printError(stderr, runErr)
		return ExitError
	}
	if rep.ChecksFailed() {
		return ExitCheck
	}
	if changed, _, _ := rep.Counts(); plan && f.detailedExitcode && changed > 0 {
		return ExitPending
	}
	return ExitOK
}

// confirmer asks on a terminal, like terraform apply; off a terminal
// only --yes confirms.
func confirmer(yes bool, stdin *os.File, stderr io.Writer) func(string) (bool, error) {
	return func(q string) (bool, error) {
		if yes {
			return true, nil
		}
		if !isTerminal(stdin) || !isTerminal(stderr) {
			return false, fmt.Errorf("%s: this needs confirmation; run phoenix exec --yes to confirm it off a terminal", q)
		}
		fmt.Fprintf(stderr, "%s\nOnly 'yes' confirms: ", q)
		line, err := bufio.NewReader(stdin).ReadString('\n')
		if err != nil && line == "" {
			return false, nil
		}
		return strings.TrimSpace(line) == "yes", nil
	}
}

// misplacedFlag explains a phoenix flag given after the script, where
// the script's own parameters go, unless the script declares that name.
func misplacedFlag(fs *pflag.FlagSet, cmd, script string, args []string, decls []runtime.Param) string {
	for _, a := range args {
		if a == "--" {
			break
		}
		if !strings.HasPrefix(a, "-") || a == "-h" || a == "--help" {
			continue
		}
		n, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if fs.Lookup(n) == nil || slices.ContainsFunc(decls, func(p runtime.Param) bool { return p.Name == strings.ReplaceAll(n, "-", "_") }) {
			continue
		}
		return fmt.Sprintf("%s is a phoenix flag, but it comes after the script, where the script's own parameters go: move it before the script (phoenix %s %s %s ...)", a, cmd, a, script)
	}
	return ""
}

// flagError reports a flag parse error (or -h) with the right exit code.
func flagError(stderr io.Writer, cmd string, err error) int {
	if errors.Is(err, pflag.ErrHelp) {
		return ExitOK
	}
	fmt.Fprintf(stderr, "phoenix %s: %v\n", cmd, err)
	return ExitUsage
}

// printError prints a script error with its Starlark backtrace.
func printError(w io.Writer, err error) {
	var ee *starlark.EvalError
	if errors.As(err, &ee) {
		fmt.Fprintln(w, ee.Backtrace())
		return
	}
	fmt.Fprintln(w, "error:", err)
}

// rootDir is --root, or its default by mode: the host's / for real, a
// directory of its own under --sim.
func rootDir(root string, sim bool) string {
	switch {
	case root != "":
		return root
	case sim:
		return "./.phoenix-sim"
	}
	return "/"
}
