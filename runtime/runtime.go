// Package runtime owns phoenix's Starlark interpreter: the loader, thread
// set-up, the one plan/apply layer, secrets, unknown values, the confined
// filesystem root and the command runner.
package runtime

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"phoenix/internal/machine"
	"slices"
	"sync"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// DefaultMaxSteps bounds a run: large enough for any real site script,
// small enough that a runaway loop ends in seconds.
const DefaultMaxSteps = 1_000_000_000

// Options are the run-wide settings the CLI passes in.
type Options struct {
	DryRun    bool
	Sim       bool
	RootDir   string // --root; the CLI picks the default by mode
	Target    string // PVE API URL
	ConfigDir string
	MaxSteps  uint64
	Stderr    io.Writer
	// InsecurePerms uses secret files group or others can read, warning.
	InsecurePerms bool
	// LogLevel filters the log module and the runtime's diagnostics on
	// Stderr (--log-level; the zero value is info).
	LogLevel LogLevel

	// Families are the builtin families, listed by package builtins.
	Families []Family
	// Flags hold the families' own settings by name (see Family.Flags).
	Flags map[string]string
	// Globals are extra predeclared names (tests).
	Globals starlark.StringDict
	// Runner overrides the command runner (tests).
	Runner machine.Runner
	// SimFaults are command failures the --sim runner injects (tests:
	// the hidden --sim-fault flag).
	SimFaults []machine.CmdFault
	// Confirm, when set, is asked before a change that cannot be undone
	// by converging again (a CA root replaced) is applied; false or an
	// error stops the run before it. The CLI asks on a terminal and
	// otherwise needs --yes. Nil allows (library use, tests).
	Confirm func(question string) (bool, error)
}

// Runtime is one run of phoenix: one script execution or one REPL session.
type Runtime struct {
	Opts   Options
	Root   *machine.Root
	Runner machine.Runner

	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	backends map[string]*backend
	threads  map[*starlark.Thread]bool
	report   *Report // the main report; steps merge into it
	plan     *planStore
	locks    machine.Locks // by host path, held from a read to its change
	loader   *loader
	params   *paramSet
	failure  error // set by an unknown used in a condition
	stmtCtx  context.Context
	journal  *journal  // set by OpenJournal
	stop     stopState // see Stop
	// confirmed are the questions the operator said yes to in this run
	// (Confirm): a script may ask one before its first change.
	confirmed map[string]bool
}

type backend struct {
	once sync.Once
	v    any
	err  error
}

// New prepares a run. The root directory must exist unless --sim, where a
// missing one is created.
func New(ctx context.Context, opts Options) (*Runtime, error) {
	if opts.Stderr == nil {
		opts.Stderr = os.Stderr
	}
	if opts.MaxSteps == 0 {
		opts.MaxSteps = DefaultMaxSteps
	}
	if opts.RootDir == "" {
		opts.RootDir = "/"
	}
	if opts.Sim {
		if err := os.MkdirAll(opts.RootDir, 0o755); err != nil {
			return nil, fmt.Errorf("--root: %w", err)
		}
	}
	root, err := machine.NewRoot(opts.RootDir)
	if err != nil {
		return nil, fmt.Errorf("--root: %w", err)
	}
	ctx, cancel := context.WithCancel(ctx)
	rt := &Runtime{
		Opts:     opts,
		Root:     root,
		ctx:      ctx,
		cancel:   cancel,
		backends: map[string]*backend{},
		threads:  map[*starlark.Thread]bool{},
		report:   &Report{},
		plan:     newPlanStore(),
	}
	rt.loader = newLoader(rt)
	switch {
	case opts.Runner != nil:
		rt.Runner = opts.Runner
	case opts.Sim:
		sr := machine.NewSimRunner()
		sr.Passthrough(machine.Installed(rt.validators()))
		for _, f := range opts.SimFaults {
			sr.Fail(f)
		}
		for _, f := range opts.Families {
			if f.Sim == nil {
				continue
			}
			if err := f.Sim(rt, sr); err != nil {
				cancel()
				return nil, fmt.Errorf("%s: %w", f.Name, err)
			}
		}
		rt.Runner = sr
	default:
		rt.Runner = machine.ExecRunner{}
	}
	return rt, nil
}

// Close releases the run's backends that need it (servers, clients).
func (rt *Runtime) Close() {
	rt.cancel()
	rt.mu.Lock()
	defer rt.mu.Unlock()
	for _, k := range slices.Sorted(maps.Keys(rt.backends)) {
		if c, ok := rt.backends[k].v.(io.Closer); ok {
			// A simulator writes its last state here: say when it cannot.
			if err := c.Close(); err != nil {
				fmt.Fprintf(rt.Opts.Stderr, "phoenix: closing the %s backend: %v\n", k, err)
			}
		}
	}
	rt.Root.Close()
}

// Context is cancelled when the run, or the REPL statement running, is
// interrupted.
func (rt *Runtime) Context() context.Context {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if rt.stmtCtx != nil {
		return rt.stmtCtx
	}
	return rt.ctx
}

// BeginStatement gives the next REPL statement its own context, so that
// interrupting it stops a command or API call it waits on without ending
// the session. The returned func cancels it and ends the statement.
func (rt *Runtime) BeginStatement() (cancel func()) {
	ctx, c := context.WithCancel(rt.ctx)
	rt.mu.Lock()
	rt.stmtCtx = ctx
	rt.mu.Unlock()
	return func() {
		c()
		rt.mu.Lock()
		if rt.stmtCtx == ctx {
			rt.stmtCtx = nil
		}
		rt.mu.Unlock()
	}
}

// Interrupt cancels the context and every live thread (Ctrl-C, SIGTERM).
func (rt *Runtime) Interrupt(reason string) {
	rt.cancel()
	rt.cancelThreads(reason)
}

// Backend returns the run's shared instance for key, creating it once.
func (rt *Runtime) Backend(key string, init func() (any, error)) (any, error) {
	rt.mu.Lock()
	b, ok := rt.backends[key]
	if !ok {
		b = &backend{}
		rt.backends[key] = b
	}
	rt.mu.Unlock()
	b.once.Do(func() { b.v, b.err = init() })
	return b.v, b.err
}

// Report is what the run has done so far, in declaration order.
func (rt *Runtime) Report() *Report { return rt.report }

const threadKey = "phoenix.runtime"
const reportKey = "phoenix.report"

// FromThread returns the run a thread belongs to.
func FromThread(thread *starlark.Thread) *Runtime {
	rt, _ := thread.Local(threadKey).(*Runtime)
	if rt == nil {
		panic("phoenix: thread without a runtime")
	}
	return rt
}

// NewThread makes a thread of this run whose changes go to report.
func (rt *Runtime) NewThread(name string, report *Report, out io.Writer) *starlark.Thread {
	th := &starlark.Thread{
		Name: name,
		Load: rt.loader.load,
		Print: func(_ *starlark.Thread, msg string) {
			fmt.Fprintln(out, msg)
		},
	}
	th.SetLocal(threadKey, rt)
	th.SetLocal(reportKey, report)
	th.SetMaxExecutionSteps(rt.Opts.MaxSteps)
	rt.mu.Lock()
	rt.threads[th] = true
	failure := rt.failure
	rt.mu.Unlock()
	if failure != nil {
		th.Cancel(failure.Error())
	}
	return th
}

// Release forgets a finished thread.
func (rt *Runtime) Release(th *starlark.Thread) {
	rt.mu.Lock()
	delete(rt.threads, th)
	rt.mu.Unlock()
}

func (rt *Runtime) cancelThreads(reason string) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	for th := range rt.threads {
		th.Cancel(reason)
	}
}

// fail stops every thread of the run with err. Used where Starlark gives
// no error return (Truth of an unknown value).
func (rt *Runtime) fail(err error) {
	rt.mu.Lock()
	if rt.failure == nil {
		rt.failure = err
	}
	rt.mu.Unlock()
	rt.cancelThreads(err.Error())
}

// FileOptions are the Starlark dialect phoenix scripts use.
var FileOptions = &syntax.FileOptions{
	Set:             true,
	While:           true,
	TopLevelControl: true,
	GlobalReassign:  true,
	Recursion:       false,
}

// SetDryRun switches the mode between statements (the REPL plans a
// statement first, then applies it when confirmed).
func (rt *Runtime) SetDryRun(dry bool) {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	rt.Opts.DryRun = dry
}
