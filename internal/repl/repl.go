// Package repl is `phoenix repl`: an interactive Starlark session with
// every builtin, safe by default. Each statement is planned first (run in
// dry-run mode); one that would change the world shows its plan and is run
// again for real only when the operator confirms, or with --yes.
package repl

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"

	"github.com/chzyer/readline"
	"go.starlark.net/resolve"
	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
	"go.starlark.net/syntax"

	"phoenix/builtins"
	"phoenix/runtime"
)

// Options configure a session.
type Options struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer

	// Interactive is set when stdin and stdout are a terminal: line
	// editing, history and the apply prompt. Otherwise input is read line
	// by line and a changing statement is applied only with Yes.
	Interactive bool
	Yes         bool // apply changing statements without asking
	DryRun      bool // never apply

	// Globals are extra session names, e.g. the site loaded from --config.
	Globals starlark.StringDict
	// GlobalsSource is, for :save, the statement that defines each of
	// Globals in a script, e.g. "site = config.site()".
	GlobalsSource map[string]string

	// RunFlags are the session's flags that a run of the saved script
	// needs too (--sim, --root DIR, --config DIR), for :save's header.
	RunFlags []string

	// HistoryFile overrides HistoryPath (tests).
	HistoryFile string
	// Signals delivers Ctrl-C (os.Interrupt), which cancels the running
	// statement in an interactive session; any other signal, or Ctrl-C on
	// piped input, ends the session.
	Signals <-chan os.Signal
	// Docs is help()'s reference; builtins.Docs when nil.
	Docs map[string]string
}

// fileOptions is the runtime's dialect, with load() binding globally as
// a REPL user expects.
var fileOptions = func() *syntax.FileOptions {
	o := *runtime.FileOptions
	o.LoadBindsGlobally = true
	return &o
}()

const (
	ps1 = ">>> "
	ps2 = "... "
)

var (
	errInterrupt = errors.New("interrupted")
	errStopped   = errors.New("session ended")
)

type session struct {
	rt   *runtime.Runtime
	o    Options
	docs map[string]string
	help *starlark.Builtin

	mu      sync.Mutex
	globals starlark.StringDict
	cur     *starlark.Thread
	stopCur func() // cancels the running statement's context

	applied *runtime.Report // applied changes (planned ones under --dry-run)
	// preflighted are the families whose preflight passed this session;
	// loadKey is where a statement's loads resolve from.
	preflighted map[string]bool
	loadKey     string
	saved       []string // statements for :save
	failed      int

	done     chan struct{}
	stopOnce sync.Once
	in       *reader
}

// Run runs a session until end of input, :quit or a signal that ends it.
// It returns how many statements failed.
func Run(rt *runtime.Runtime, o Options) (failed int, err error) {
	if o.Stdout == nil {
		o.Stdout = os.Stdout
	}
	if o.Stderr == nil {
		o.Stderr = os.Stderr
	}
	s := &session{rt: rt, o: o, docs: o.Docs, applied: &runtime.Report{}, done: make(chan struct{}), preflighted: map[string]bool{}}
	if wd, err := os.Getwd(); err == nil {
		s.loadKey = filepath.Join(wd, "<repl>")
	}
	if s.docs == nil {
		s.docs = builtins.Docs
	}
	s.help = s.helpBuiltin()
	s.globals = rt.Predeclared()
	for k, v := range o.Globals {
		s.globals[k] = v
	}
	s.globals["help"] = s.help
	rt.SetDryRun(true)

	src, err := s.openSource()
	if err != nil {
		return 0, err
	}
	defer src.close()
	defer s.stop() // ends the reader and signal goroutines
	s.in = startReader(src, s.done)
	if o.Signals != nil {
		go s.watchSignals()
	}
	if o.Interactive {
		fmt.Fprintln(o.Stdout, banner(o))
	}
	s.loop(src)
	return s.failed, nil
}

func banner(o Options) string {
	mode := "each statement is planned first; changes are applied when you answer y"
	switch {
	case o.DryRun:
		mode = "--dry-run: changes are planned, never applied"
	case o.Yes:
		mode = "--yes: changes are applied without asking"
	}
	return "phoenix repl (" + mode + ")\nhelp() for the reference, :help for session commands, Ctrl-D to exit."
}

func (s *session) loop(src lineSource) {
	var ch chunker
	n := 0
	for !s.stopped() {
		prompt := ps1
		if ch.pending() {
			prompt = ps2
		}
		line, err := s.in.read(prompt)
		switch {
		case errors.Is(err, errInterrupt):
			ch.reset()
			continue
		case errors.Is(err, io.EOF):
			c, err := ch.eof()
			if err != nil {
				s.fail(err)
			} else if c != nil {
				s.run(*c)
			}
			return
		case err != nil:
			if !errors.Is(err, errStopped) {
				fmt.Fprintln(s.o.Stderr, "phoenix repl:", err)
			}
			return
		}
		n++
		if s.o.Interactive {
			src.remember(line)
		}
		if cmd, ok := strings.CutPrefix(line, ":"); ok {
			if c, ok := ch.endBlock(); ok {
				s.run(c)
			}
			if !ch.pending() {
				if s.command(cmd) {
					return
				}
				continue
			}
		}
		chunks, err := ch.feed(line, n)
		for _, c := range chunks {
			s.run(c)
			if s.stopped() {
				return
			}
		}
		if err != nil {
			s.fail(err)
		}
	}
}

// command runs a :command; it reports whether the session should end.
func (s *session) command(line string) bool {
	name, arg, _ := strings.Cut(strings.TrimSpace(line), " ")
	arg = strings.TrimSpace(arg)
	switch name {
	case "plan":
		if s.applied.Len() == 0 {
			if s.o.DryRun {
				fmt.Fprintln(s.o.Stdout, "no changes planned in this session")
			} else {
				fmt.Fprintln(s.o.Stdout, "no changes applied in this session")
			}
			return false
		}
		s.applied.WriteText(s.o.Stdout, s.o.DryRun)
	case "save":
		n, err := s.save(arg)
		if err != nil {
			fmt.Fprintln(s.o.Stderr, ":save:", err)
			return false
		}
		plural := "s"
		if n == 1 {
			plural = ""
		}
		fmt.Fprintf(s.o.Stdout, "saved %d statement%s to %s\n", n, plural, arg)
	case "help", "h", "?":
		fmt.Fprintln(s.o.Stdout, commandsHelp)
	case "quit", "q", "exit":
		return true
	default:
		fmt.Fprintf(s.o.Stderr, "unknown command :%s (:help lists them)\n", name)
	}
	return false
}

// result is one execution of a statement.
type result struct {
	value   starlark.Value
	globals starlark.StringDict
	output  []byte
	err     error
}

// parse parses a chunk for execution; the padding makes positions the
// session's line numbers. Resolving mutates the syntax tree, so every
// execution parses afresh.
func parse(c chunk) (*syntax.File, error) {
	return fileOptions.Parse("<repl>", strings.Repeat("\n", max(c.line-1, 0))+c.src, 0)
}

// exec runs the statement once against a copy of the globals, recording
// its changes in rep. out receives what it prints; nil buffers it.
func (s *session) exec(c chunk, rep *runtime.Report, out io.Writer) result {
	f, err := parse(c)
	if err != nil {
		return result{err: err}
	}
	s.mu.Lock()
	work := make(starlark.StringDict, len(s.globals))
	for k, v := range s.globals {
		work[k] = v
	}
	s.mu.Unlock()
	var buf bytes.Buffer
	if out == nil {
		out = &buf
	}
	th := s.rt.NewThread("repl", rep, out)
	stop := s.rt.BeginStatement()
	s.setCurrent(th, stop)
	defer func() {
		s.setCurrent(nil, nil)
		stop()
		s.rt.Release(th)
	}()
	var v starlark.Value = starlark.None
	if e := soleExpr(f); e != nil {
		v, err = starlark.EvalExprOptions(f.Options, th, e, work)
	} else {
		err = starlark.ExecREPLChunk(f, th, work)
	}
	return result{value: v, globals: work, output: buf.Bytes(), err: err}
}

func soleExpr(f *syntax.File) syntax.Expr {
	if len(f.Stmts) == 1 {
		if st, ok := f.Stmts[0].(*syntax.ExprStmt); ok {
			return st.X
		}
	}
	return nil
}

// run plans a statement and, when it would change the world, applies it
// as the options and the operator decide.
func (s *session) run(c chunk) {
	f, err := parse(c)
	if err != nil {
		s.fail(err)
		return
	}
	if len(f.Stmts) == 0 {
		return
	}
	// A statement that would certainly fail (no credentials, a missing
	// node) stops before its first change, as a script does.
	if err := s.rt.PreflightStatement(s.loadKey, f, s.preflighted); err != nil {
		s.fail(err)
		return
	}
	before := s.fingerprints()
	s.rt.SetDryRun(true)
	plan := &runtime.Report{}
	res := s.exec(c, plan, nil)
	// A --dry-run session is one plan: later statements see this one's
	// planned state. Otherwise the world is the truth between statements.
	if !(s.o.DryRun && res.err == nil) {
		s.rt.ResetPlan()
	}
	if res.err != nil {
		s.o.Stderr.Write(res.output)
		s.fail(res.err)
		return
	}
	if plan.Len() == 0 {
		// Nothing to change: the plan run was the live run.
		s.o.Stderr.Write(res.output)
		s.commit(c, res)
		if hasEntries(plan) {
			plan.WriteText(s.o.Stdout, false)
		}
		display(s.o.Stdout, res.value)
		return
	}
	mutated := s.mutatedSince(before)
	switch {
	case s.o.DryRun:
		s.o.Stderr.Write(res.output)
		plan.WriteText(s.o.Stdout, true)
		s.applied.Merge(plan)
		s.commit(c, res)
		display(s.o.Stdout, res.value)
		return
	case s.o.Yes:
		// The apply run prints the same output again, live.
	case s.o.Interactive:
		s.o.Stderr.Write(res.output)
		plan.WriteText(s.o.Stdout, true)
		warnMutated(s.o.Stderr, mutated)
		if !s.confirm() {
			fmt.Fprintln(s.o.Stderr, "not applied")
			return
		}
	default:
		s.o.Stderr.Write(res.output)
		plan.WriteText(s.o.Stdout, true)
		fmt.Fprintln(s.o.Stderr, "not applied: stdin is not a terminal, so nothing is applied without --yes")
		return
	}
	if s.o.Yes {
		warnMutated(s.o.Stderr, mutated)
	}
	s.apply(c)
}

// apply runs the statement again, for real.
func (s *session) apply(c chunk) {
	s.rt.SetDryRun(false)
	rep := &runtime.Report{}
	res := s.exec(c, rep, s.o.Stderr)
	s.rt.SetDryRun(true)
	// The plan store held what was planned; the world now holds it.
	s.rt.ResetPlan()
	rep.WriteText(s.o.Stdout, false)
	s.applied.Merge(rep)
	if res.err != nil {
		s.fail(res.err)
		return
	}
	s.commit(c, res)
	display(s.o.Stdout, res.value)
}

func hasEntries(r *runtime.Report) bool {
	return len(r.Unchanged)+len(r.Checks)+len(r.Pending)+len(r.Skipped) > 0
}

func (s *session) confirm() bool {
	line, err := s.in.read("apply? [y/N] ")
	if err != nil {
		return false
	}
	a := strings.ToLower(strings.TrimSpace(line))
	return a == "y" || a == "yes"
}

// commit keeps a successful statement: its globals, and its text for :save.
func (s *session) commit(c chunk, res result) {
	s.mu.Lock()
	s.globals = res.globals
	s.mu.Unlock()
	if s.saveable(c) {
		s.saved = append(s.saved, c.src)
	}
}

func (s *session) fail(err error) {
	s.failed++
	var ee *starlark.EvalError
	if errors.As(err, &ee) {
		fmt.Fprintln(s.o.Stderr, ee.Backtrace())
		return
	}
	var el resolve.ErrorList
	if errors.As(err, &el) {
		for _, e := range el {
			fmt.Fprintln(s.o.Stderr, e)
		}
		return
	}
	fmt.Fprintln(s.o.Stderr, err)
}

// fingerprints records the printed form of the mutable values bound to
// globals, to notice a plan run that changed one in place: applying runs
// the statement again, so the change would happen twice.
func (s *session) fingerprints() map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	fp := map[string]string{}
	for name, v := range s.globals {
		switch v.(type) {
		case *starlark.List, *starlark.Dict, *starlark.Set, *starlarkstruct.Struct, starlark.Tuple:
			fp[name] = v.String()
		}
	}
	return fp
}

func (s *session) mutatedSince(before map[string]string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	for name, fp := range before {
		if v, ok := s.globals[name]; ok && v.String() != fp {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}

func warnMutated(w io.Writer, names []string) {
	if len(names) > 0 {
		fmt.Fprintf(w, "warning: planning this statement changed %s in place; applying runs it again, so that change happens twice (assign a new value instead, e.g. l = l + [x])\n", strings.Join(names, ", "))
	}
}

func (s *session) setCurrent(th *starlark.Thread, stop func()) {
	s.mu.Lock()
	s.cur, s.stopCur = th, stop
	s.mu.Unlock()
}

func (s *session) snapshot() starlark.StringDict {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.globals
}

func (s *session) stop() { s.stopOnce.Do(func() { close(s.done) }) }

func (s *session) stopped() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

func (s *session) watchSignals() {
	for {
		select {
		case <-s.done:
			return
		case sig, ok := <-s.o.Signals:
			if !ok {
				return
			}
			s.mu.Lock()
			th, stop := s.cur, s.stopCur
			s.mu.Unlock()
			if sig == os.Interrupt && s.o.Interactive {
				if th != nil {
					th.Cancel("interrupted")
					stop()
				}
				continue
			}
			s.stop()
			s.rt.Interrupt("interrupted")
		}
	}
}

// lineSource is where input lines come from.
type lineSource interface {
	readLine(prompt string) (string, error) // io.EOF at the end, errInterrupt on Ctrl-C
	remember(line string)                   // add to the history
	close()
}

type pipeSource struct{ r *bufio.Reader }

func (p pipeSource) readLine(string) (string, error) {
	line, err := p.r.ReadString('\n')
	if err == io.EOF && line != "" {
		return line, nil
	}
	if err != nil {
		return "", err
	}
	return strings.TrimSuffix(line, "\n"), nil
}

func (pipeSource) remember(string) {}
func (pipeSource) close()          {}

type termSource struct {
	rl   *readline.Instance
	hist *history
	errw io.Writer
}

func (t *termSource) readLine(prompt string) (string, error) {
	t.rl.SetPrompt(prompt)
	line, err := t.rl.Readline()
	if errors.Is(err, readline.ErrInterrupt) {
		return "", errInterrupt
	}
	return line, err
}

func (t *termSource) remember(line string) {
	if strings.TrimSpace(line) == "" {
		return
	}
	t.rl.SaveHistory(line)
	if err := t.hist.add(line); err != nil {
		fmt.Fprintln(t.errw, "phoenix repl: history:", err)
		t.hist.close()
		t.hist = nil
	}
}

func (t *termSource) close() {
	t.rl.Close()
	t.hist.close()
}

func (s *session) openSource() (lineSource, error) {
	if !s.o.Interactive {
		return pipeSource{bufio.NewReader(s.o.Stdin)}, nil
	}
	ts := &termSource{errw: s.o.Stderr}
	path := s.o.HistoryFile
	var err error
	if path == "" {
		path, err = HistoryPath()
	}
	var lines []string
	if err == nil {
		ts.hist, lines, err = openHistory(path)
	}
	if err != nil {
		// A session without history still works.
		fmt.Fprintln(s.o.Stderr, "phoenix repl:", err)
	}
	cfg := &readline.Config{
		Prompt:                 ps1,
		AutoComplete:           completer{globals: s.snapshot},
		DisableAutoSaveHistory: true,
		HistoryLimit:           historyKeep,
		Stdout:                 s.o.Stdout,
		Stderr:                 s.o.Stderr,
		FuncIsTerminal:         func() bool { return true },
	}
	if s.o.Stdin != os.Stdin {
		cfg.Stdin = io.NopCloser(s.o.Stdin)
	}
	rl, err := readline.NewEx(cfg)
	if err != nil {
		ts.hist.close()
		return nil, err
	}
	for _, l := range lines {
		rl.SaveHistory(l)
	}
	ts.rl = rl
	return ts, nil
}

// reader reads lines on its own goroutine so that a signal can end the
// session while it waits for input.
type reader struct {
	reqs  chan string
	resps chan lineResult
	done  <-chan struct{}
}

type lineResult struct {
	line string
	err  error
}

func startReader(src lineSource, done <-chan struct{}) *reader {
	r := &reader{reqs: make(chan string), resps: make(chan lineResult, 1), done: done}
	go func() {
		for {
			select {
			case <-done:
				return
			case prompt := <-r.reqs:
				line, err := src.readLine(prompt)
				r.resps <- lineResult{line, err}
			}
		}
	}()
	return r
}

func (r *reader) read(prompt string) (string, error) {
	select {
	case r.reqs <- prompt:
	case <-r.done:
		return "", errStopped
	}
	select {
	case res := <-r.resps:
		return res.line, res.err
	case <-r.done:
		return "", errStopped
	}
}
