package machine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"sync"
)

// Cmd is one command line to run on the host.
type Cmd struct {
	Argv  []string
	Stdin []byte
}

func (c Cmd) String() string { return strings.Join(c.Argv, " ") }

// Result is what a finished command left behind. A non-zero exit is a
// Result, not an error: callers decide what failure means.
type Result struct {
	Stdout   []byte
	Stderr   []byte
	ExitCode int
}

// Runner runs host commands. Every shell-out in phoenix goes through one,
// so that --sim and tests can substitute the world behind it.
type Runner interface {
	// Run returns an error only when the command could not be run at all.
	Run(ctx context.Context, c Cmd) (Result, error)
}

// CommandError is a command that ran and failed.
type CommandError struct {
	Argv     []string
	ExitCode int
	Stderr   string
}

func (e *CommandError) Error() string {
	msg := strings.TrimSpace(e.Stderr)
	if msg == "" {
		msg = "(no stderr)"
	}
	return fmt.Sprintf("command %q exited %d: %s", strings.Join(e.Argv, " "), e.ExitCode, msg)
}

// Check turns a non-zero exit into a *CommandError.
func Check(c Cmd, r Result, err error) (Result, error) {
	if err != nil {
		return r, err
	}
	if r.ExitCode != 0 {
		return r, &CommandError{Argv: c.Argv, ExitCode: r.ExitCode, Stderr: string(r.Stderr)}
	}
	return r, nil
}

// ExecRunner runs commands for real.
type ExecRunner struct{}

var _ Runner = ExecRunner{}

func (ExecRunner) Run(ctx context.Context, c Cmd) (Result, error) {
	if len(c.Argv) == 0 {
		return Result{}, errors.New("empty command")
	}
	cmd := exec.CommandContext(ctx, c.Argv[0], c.Argv[1:]...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if c.Stdin != nil {
		cmd.Stdin = bytes.NewReader(c.Stdin)
	}
	err := cmd.Run()
	res := Result{Stdout: out.Bytes(), Stderr: errb.Bytes()}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		res.ExitCode = ee.ExitCode()
		return res, nil
	}
	return res, err
}

// Handler answers the commands of one program inside a SimRunner.
type Handler func(ctx context.Context, c Cmd) (Result, error)

// SimRunner records every command and answers it from a handler for its
// program (the simulated zfs, pct, ...), a scripted result, or exit 0.
// It never runs a real command, except the pure validators that
// Passthrough allows.
type SimRunner struct {
	mu          sync.Mutex
	handlers    map[string]Handler
	scripted    []scripted
	faults      []*faultRule
	passthrough func(argv []string) bool
	log         []Cmd
}

type scripted struct {
	prefix []string
	res    Result
}

// CmdFault is an injected command failure (tests, the hidden
// --sim-fault flag): the next Times commands whose argv starts with
// Prefix answer Result instead of running; Times 0 means every one.
type CmdFault struct {
	Prefix []string
	Result Result
	Times  int
}

type faultRule struct {
	CmdFault
	fired int
}

// EachSpecPair calls fn with each key=value pair of a fault spec: pairs
// are comma-separated, and the key named tail takes the rest of the spec,
// commas included, so that a message needs no quoting. Errors name the
// spec and the key.
func EachSpecPair(spec, tail string, fn func(k, v string) error) error {
	for rest := spec; rest != ""; {
		var item string
		if strings.HasPrefix(rest, tail+"=") {
			item, rest = rest, ""
		} else {
			item, rest, _ = strings.Cut(rest, ",")
		}
		k, v, ok := strings.Cut(item, "=")
		if !ok {
			return fmt.Errorf("fault %q: %q is not key=value", spec, item)
		}
		if err := fn(k, v); err != nil {
			return fmt.Errorf("fault %q: %s: %w", spec, k, err)
		}
	}
	return nil
}

// ParseCmdFault reads the --sim-fault syntax: comma-separated key=value
// pairs; argv= is the command prefix, split on spaces; stderr= takes the
// rest of the spec, commas included.
//
//	argv=zfs create,exit=1,times=1,stderr=cannot create 'quickOS/x': out of space
func ParseCmdFault(spec string) (CmdFault, error) {
	f := CmdFault{Result: Result{ExitCode: 1}}
	err := EachSpecPair(spec, "stderr", func(k, v string) (err error) {
		switch k {
		case "argv":
			f.Prefix = strings.Fields(v)
		case "exit":
			f.Result.ExitCode, err = strconv.Atoi(v)
		case "times":
			f.Times, err = strconv.Atoi(v)
		case "stderr":
			f.Result.Stderr = []byte(v + "\n")
		default:
			return fmt.Errorf("unknown key %q (want argv, exit, times or stderr)", k)
		}
		return err
	})
	if err != nil {
		return f, err
	}
	switch {
	case len(f.Prefix) == 0:
		return f, fmt.Errorf("fault %q: missing argv=", spec)
	case f.Result.ExitCode == 0:
		return f, fmt.Errorf("fault %q: exit=0 is no failure", spec)
	case f.Times < 0:
		return f, fmt.Errorf("fault %q: times must not be negative", spec)
	}
	return f, nil
}

var _ Runner = (*SimRunner)(nil)

func NewSimRunner() *SimRunner { return &SimRunner{handlers: map[string]Handler{}} }

// Handle routes every command whose argv[0] is prog to h.
func (s *SimRunner) Handle(prog string, h Handler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handlers[prog] = h
}

// Script makes commands starting with prefix answer res. Later scripts win.
func (s *SimRunner) Script(prefix []string, res Result) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.scripted = append(s.scripted, scripted{prefix, res})
}

// Fail injects f: it wins over handlers and scripted results while it
// fires.
func (s *SimRunner) Fail(f CmdFault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = append(s.faults, &faultRule{CmdFault: f})
}

// Passthrough lets commands for which allow returns true run for real.
func (s *SimRunner) Passthrough(allow func(argv []string) bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.passthrough = allow
}

// Log returns the commands run so far, in order.
func (s *SimRunner) Log() []Cmd {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Cmd(nil), s.log...)
}

func (s *SimRunner) Run(ctx context.Context, c Cmd) (Result, error) {
	if len(c.Argv) == 0 {
		return Result{}, errors.New("empty command")
	}
	s.mu.Lock()
	s.log = append(s.log, c)
	h := s.handlers[c.Argv[0]]
	pass := s.passthrough
	for _, f := range s.faults {
		if (f.Times == 0 || f.fired < f.Times) && hasPrefix(c.Argv, f.Prefix) {
			f.fired++
			s.mu.Unlock()
			return f.Result, nil
		}
	}
	var match *scripted
	for i := len(s.scripted) - 1; i >= 0; i-- {
		if hasPrefix(c.Argv, s.scripted[i].prefix) {
			match = &s.scripted[i]
			break
		}
	}
	s.mu.Unlock()
	switch {
	case match != nil:
		return match.res, nil
	case h != nil:
		return h(ctx, c)
	case pass != nil && pass(c.Argv):
		return ExecRunner{}.Run(ctx, c)
	}
	return Result{}, nil
}

func hasPrefix(argv, prefix []string) bool {
	if len(prefix) > len(argv) {
		return false
	}
	for i := range prefix {
		if argv[i] != prefix[i] {
			return false
		}
	}
	return true
}

// Installed returns a passthrough test for SimRunner: argv is one of the
// validators (program -> arguments it must carry) and the program is
// installed. Validators change nothing and catch real mistakes, so --sim
// still runs them.
func Installed(validators map[string][]string) func(argv []string) bool {
	return func(argv []string) bool {
		want, ok := validators[argv[0]]
		if !ok {
			return false
		}
		args := map[string]bool{}
		for _, a := range argv[1:] {
			args[a] = true
		}
		for _, w := range want {
			if !args[w] {
				return false
			}
		}
		_, err := exec.LookPath(argv[0])
		return err == nil
	}
}
