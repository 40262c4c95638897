package runtime

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// Thread-locals of a script run inside another (scripts.run) or of a
// parallel() step.
const (
	// paramsKey holds the *paramSet params() returns on this thread;
	// without it, the run's own (the command line's).
	paramsKey = "phoenix.params"
	// runChainKey holds the absolute paths of the scripts running one
	// another down to this thread, to refuse a cycle.
	runChainKey = "phoenix.runchain"
	// scriptFileKey is the script a parallel() step was declared in: a
	// step that is a builtin itself (task(scripts.run, ...)) has no
	// Starlark frame to tell it.
	scriptFileKey = "phoenix.scriptfile"
)

// RunScript runs the script at path once more inside this run, with its
// own parameters (command-line style: --name=value), mode and report; the run's
// backends, root and command runner are shared, so what the script
// changed is what the caller sees next. A dry run's planned state is
// forgotten afterwards. phoenix test's testing.exec and testing.plan use it.
func (rt *Runtime) RunScript(path string, args []string, dryRun bool) (*Report, error) {
	decls, err := DeclaredParams(path)
	if err != nil {
		return nil, err
	}
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	ps, _, err := rt.parseParams(decls, args, nil)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	rt.mu.Lock()
	oldDry := rt.Opts.DryRun
	rt.mu.Unlock()
	defer rt.SetDryRun(oldDry)
	rt.SetDryRun(dryRun)
	rep := &Report{}
	th := rt.NewThread("run "+path, rep, rt.Opts.Stderr)
	defer rt.Release(th)
	th.SetLocal(paramsKey, ps)
	_, err = starlark.ExecFileOptions(FileOptions, th, path, src, rt.Predeclared())
	if dryRun {
		rt.ResetPlan()
	}
	return rep, err
}

// scriptsModule is the predeclared `scripts` namespace: one site script
// running another as a step of the same run.
func scriptsModule() *starlarkstruct.Module {
	return &starlarkstruct.Module{
		Name: "scripts",
		Members: starlark.StringDict{
			"run":  starlark.NewBuiltin("scripts.run", scriptsRun),
			"glob": starlark.NewBuiltin("scripts.glob", scriptsGlob),
		},
	}
}

// scriptFile is the script the builtin running on thread was called
// from: the innermost Starlark frame, or the script that declared the
// parallel() step this thread runs.
func scriptFile(thread *starlark.Thread) string {
	for d := 1; d < thread.CallStackDepth(); d++ {
		if f := thread.CallFrame(d).Pos.Filename(); f != "" && f != "<builtin>" {
			return f
		}
	}
	f, _ := thread.Local(scriptFileKey).(string)
	return f
}

// inheritLocals gives a parallel() step's thread what the declaring
// thread knows about where it runs.
func inheritLocals(from, to *starlark.Thread) {
	if chain, ok := from.Local(chainKey).([]string); ok {
		to.SetLocal(chainKey, chain)
	}
	if chain, ok := from.Local(runChainKey).([]string); ok {
		to.SetLocal(runChainKey, chain)
	}
	to.SetLocal(scriptFileKey, scriptFile(from))
}

// besideCaller resolves a script path relative to the calling script's
// directory.
func besideCaller(thread *starlark.Thread, path string) string {
	if filepath.IsAbs(path) {
		return filepath.Clean(path)
	}
	return filepath.Join(filepath.Dir(scriptFile(thread)), path)
}

// scripts.run(path, **params) runs the script at path as a step of this
// run: its own parameters (typed by its params()), and this run's
// backends, root, mode, planned state and report.
func scriptsRun(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if len(args) != 1 {
		return nil, errorf(b, "want the script's path, then its parameters as keywords (got %d positional arguments)", len(args))
	}
	rel, ok := starlark.AsString(args[0])
	if !ok || rel == "" {
		return nil, errorf(b, "path: want a script path, got %s", args[0].Type())
	}
	rt := FromThread(thread)
	path := besideCaller(thread, rel)
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, errorf(b, "%s: %v", path, err)
	}
	chain, _ := thread.Local(runChainKey).([]string)
	if slices.Contains(chain, abs) {
		names := append(append([]string(nil), chain...), abs)
		for i := range names {
			names[i] = shortName(names[i])
		}
		return nil, errorf(b, "scripts run one another in a cycle: %s", strings.Join(names, " -> "))
	}
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	decls, err := DeclaredParams(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}
	ps, err := rt.keywordParams(path, decls, kwargs)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", b.Name(), err)
	}

	// Its own report, merged into the caller's when it ends, so that its
	// counts can be returned and the caller's order stays the script's.
	rep := &Report{}
	th := rt.NewThread(thread.Name+" > "+path, rep, rt.Opts.Stderr)
	defer rt.Release(th)
	th.Print = thread.Print
	th.SetLocal(paramsKey, ps)
	th.SetLocal(runChainKey, append(append([]string(nil), chain...), abs))
	_, err = starlark.ExecFileOptions(FileOptions, th, path, src, rt.Predeclared())
	reportOf(thread).Merge(rep)
	if err != nil {
		return nil, &runError{script: path, err: err}
	}
	changed, unchanged, _ := rep.Counts()
	failed := 0
	for _, c := range rep.Checks {
		if c.Status == "fail" {
			failed++
		}
	}
	return starlarkstruct.FromStringDict(starlarkstruct.Default, starlark.StringDict{
		"script":        starlark.String(path),
		"changed":       starlark.MakeInt(changed),
		"unchanged":     starlark.MakeInt(unchanged),
		"failed_checks": starlark.MakeInt(failed),
	}), nil
}

// runError is a script run by scripts.run that failed. Its text carries
// the script's own backtrace: the caller's error shows where the caller
// was, this where the script stopped.
type runError struct {
	script string
	err    error
}

func (e *runError) Error() string {
	if ee, ok := e.err.(*starlark.EvalError); ok {
		return fmt.Sprintf("scripts.run: %s failed:\n%s", e.script, ee.Backtrace())
	}
	return fmt.Sprintf("scripts.run: %s: %v", e.script, e.err)
}

func (e *runError) Unwrap() error { return e.err }

// keywordParams checks scripts.run's keywords against the script's
// declarations, as the command line's would be: a name it does not
// declare or a value of another type is an error naming both. None keeps
// the default.
func (rt *Runtime) keywordParams(script string, decls []Param, kwargs []starlark.Tuple) (*paramSet, error) {
	byName := map[string]Param{}
	for _, p := range decls {
		byName[p.Name] = p
	}
	values := map[string]starlark.Value{}
	for _, kv := range kwargs {
		name := string(kv[0].(starlark.String))
		p, ok := byName[name]
		if !ok {
			msg := fmt.Sprintf("%s: no parameter %s", script, name)
			if s := suggestParam(name, decls); s != "" {
				msg += fmt.Sprintf(" (did you mean %s?)", s)
			} else if len(decls) == 0 {
				msg += " (it declares none)"
			}
			return nil, fmt.Errorf("%s", msg)
		}
		if kv[1] == starlark.None {
			continue
		}
		v, err := convertParam(p.Type, kv[1])
		if err != nil {
			return nil, fmt.Errorf("%s: parameter %s: %w", script, name, err)
		}
		if err := rt.checkPathParam(p, v); err != nil {
			return nil, fmt.Errorf("%s: parameter %s: %w", script, name, err)
		}
		values[name] = v
	}
	return &paramSet{decls: decls, values: values}, nil
}

// scripts.glob(pattern) lists the scripts matching pattern beside the
// calling script, sorted, as paths scripts.run takes.
func scriptsGlob(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var pattern string
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "pattern", &pattern); err != nil {
		return nil, err
	}
	if filepath.IsAbs(pattern) || strings.Contains(pattern, "..") {
		return nil, errorf(b, "%q: want a pattern relative to the calling script's directory", pattern)
	}
	dir := filepath.Dir(scriptFile(thread))
	matches, err := filepath.Glob(filepath.Join(dir, pattern))
	if err != nil {
		return nil, errorf(b, "%q: %v", pattern, err)
	}
	slices.Sort(matches)
	out := make([]starlark.Value, 0, len(matches))
	for _, m := range matches {
		r, err := filepath.Rel(dir, m)
		if err != nil {
			return nil, errorf(b, "%s: %v", m, err)
		}
		out = append(out, starlark.String(r))
	}
	return starlark.NewList(out), nil
}
