package startest

import (
	"fmt"
	"path/filepath"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"phoenix/internal/machine"
	"phoenix/runtime"
)

// Module is the `testing` module a test file sees; script paths resolve
// against dir, the test file's directory. Documented in
// internal/docgen/extra.go like the other names that are not a family.
func Module(dir string) *starlarkstruct.Module {
	return &starlarkstruct.Module{
		Name: "testing",
		Members: starlark.StringDict{
			"exec":     starlark.NewBuiltin("testing.exec", runScript(dir, false)),
			"plan":     starlark.NewBuiltin("testing.plan", runScript(dir, true)),
			"on":       starlark.NewBuiltin("testing.on", on),
			"commands": starlark.NewBuiltin("testing.commands", commands),
			"root":     starlark.NewBuiltin("testing.root", root),
		},
	}
}

func runScript(dir string, dryRun bool) func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error) {
	return func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var script string
		if err := starlark.UnpackPositionalArgs(b.Name(), args, nil, 1, &script); err != nil {
			return nil, err
		}
		var params []string
		for _, kv := range kwargs {
			name := string(kv[0].(starlark.String))
			switch v := kv[1].(type) {
			case starlark.String:
				params = append(params, "--"+name+"="+string(v))
			case starlark.Bool, starlark.Int:
				params = append(params, "--"+name+"="+v.String())
			default:
				return nil, fmt.Errorf("%s: parameter %s: want a string, int or bool, got %s", b.Name(), name, v.Type())
			}
		}
		if !filepath.IsAbs(script) {
			script = filepath.Join(dir, script)
		}
		rep, err := runtime.FromThread(thread).RunScript(script, params, dryRun)
		if err != nil {
			return nil, fmt.Errorf("%s(%q): %w", b.Name(), script, err)
		}
		return reportValue(rep), nil
	}
}

func reportValue(rep *runtime.Report) starlark.Value {
	var changes, checks []starlark.Value
	for _, c := range rep.Changes {
		changes = append(changes, starlarkstruct.FromStringDict(starlarkstruct.Default, starlark.StringDict{
			"resource": starlark.String(c.Resource),
			"action":   starlark.String(c.Action),
			"detail":   starlark.String(c.Detail),
		}))
	}
	for _, c := range rep.Checks {
		checks = append(checks, starlarkstruct.FromStringDict(starlarkstruct.Default, starlark.StringDict{
			"name":   starlark.String(c.Name),
			"target": starlark.String(c.Target),
			"status": starlark.String(c.Status),
			"detail": starlark.String(c.Detail),
		}))
	}
	changed, _, _ := rep.Counts()
	return starlarkstruct.FromStringDict(starlarkstruct.Default, starlark.StringDict{
		"changes": starlark.NewList(changes),
		"changed": starlark.MakeInt(changed),
		"checks":  starlark.NewList(checks),
	})
}

func simRunner(thread *starlark.Thread, b *starlark.Builtin) (*machine.SimRunner, error) {
	sr, ok := runtime.FromThread(thread).Runner.(*machine.SimRunner)
	if !ok {
		return nil, fmt.Errorf("%s: only under phoenix test (the recording command runner)", b.Name())
	}
	return sr, nil
}

func stringList(b *starlark.Builtin, what string, v *starlark.List) ([]string, error) {
	var out []string
	if v == nil {
		return nil, nil
	}
	for i := 0; i < v.Len(); i++ {
		s, ok := starlark.AsString(v.Index(i))
		if !ok {
			return nil, fmt.Errorf("%s: %s[%d]: want a string, got %s", b.Name(), what, i, v.Index(i).Type())
		}
		out = append(out, s)
	}
	return out, nil
}

func on(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var prefixV *starlark.List
	var stdout, stderr string
	var code int
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "prefix", &prefixV, "stdout?", &stdout, "stderr?", &stderr, "exit_code?", &code); err != nil {
		return nil, err
	}
	prefix, err := stringList(b, "prefix", prefixV)
	if err != nil {
		return nil, err
	}
	if len(prefix) == 0 {
		return nil, fmt.Errorf("%s: prefix is empty", b.Name())
	}
	sr, err := simRunner(thread, b)
	if err != nil {
		return nil, err
	}
	sr.Script(prefix, machine.Result{Stdout: []byte(stdout), Stderr: []byte(stderr), ExitCode: code})
	return starlark.None, nil
}

func commands(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var prefixV *starlark.List
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "prefix?", &prefixV); err != nil {
		return nil, err
	}
	prefix, err := stringList(b, "prefix", prefixV)
	if err != nil {
		return nil, err
	}
	sr, err := simRunner(thread, b)
	if err != nil {
		return nil, err
	}
	var out []starlark.Value
	for _, c := range sr.Log() {
		if len(c.Argv) < len(prefix) {
			continue
		}
		match := true
		for i := range prefix {
			match = match && c.Argv[i] == prefix[i]
		}
		if !match {
			continue
		}
		argv := make([]starlark.Value, len(c.Argv))
		for i, a := range c.Argv {
			argv[i] = starlark.String(a)
		}
		out = append(out, starlark.NewList(argv))
	}
	return starlark.NewList(out), nil
}

func root(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackArgs(b.Name(), args, kwargs); err != nil {
		return nil, err
	}
	return starlark.String(runtime.FromThread(thread).Root.Dir()), nil
}
