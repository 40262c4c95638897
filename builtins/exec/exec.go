// Package exec is the Starlark `exec` module: host commands through the
// run's command runner.
package exec

import (
	"fmt"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"phoenix/internal/machine"
	"phoenix/runtime"
)

// Family registers exec with the runtime.
var Family = runtime.Family{
	Name:   "exec",
	Module: Module,
	// Host-side validators of rendered configs: they change nothing.
	Validators: map[string][]string{"nginx": {"-t"}},
}

// Module is the exec module.
//
//	run(argv: list, read_only: bool = False, stdin: str|secret|None = None, check: bool = True) - struct(exit_code, stdout, stderr, changed)
//	    Runs argv (a list of strings, no shell) through the command runner. A non-zero exit is an error unless check=False.
//
// A command counts as a change unless it is declared read_only=True: a
// plan lists it without running it, and its outputs are unknown there.
// stdin may be a secret; argv may not (it would show in ps).
var Module = &starlarkstruct.Module{
	Name: "exec",
	Members: starlark.StringDict{
		"run": starlark.NewBuiltin("exec.run", run),
	},
}

// Argv converts a Starlark list of strings, refusing secrets and unknowns.
func Argv(fn string, v *starlark.List) ([]string, error) {
	if v.Len() == 0 {
		return nil, fmt.Errorf("%s: argv is empty", fn)
	}
	out := make([]string, v.Len())
	for i := range out {
		switch x := v.Index(i).(type) {
		case starlark.String:
			out[i] = string(x)
		case *runtime.Secret:
			return nil, fmt.Errorf("%s: argv[%d] is a secret; pass secrets on stdin, never on the command line", fn, i)
		default:
			if err := runtime.Known(x, fmt.Sprintf("%s: argv[%d]", fn, i)); err != nil {
				return nil, err
			}
			return nil, fmt.Errorf("%s: argv[%d]: want string, got %s", fn, i, x.Type())
		}
	}
	return out, nil
}

// Stdin converts an optional stdin argument.
func Stdin(fn string, v starlark.Value) ([]byte, error) {
	switch x := v.(type) {
	case starlark.NoneType:
		return nil, nil
	case starlark.String:
		return []byte(x), nil
	case starlark.Bytes:
		return []byte(x), nil
	case *runtime.Secret:
		return x.Reveal(), nil
	}
	if err := runtime.Known(v, fn+": stdin"); err != nil {
		return nil, err
	}
	return nil, fmt.Errorf("%s: stdin: want string, bytes or secret, got %s", fn, v.Type())
}

// Run runs cmd as a declared change (or a plain read when readOnly) and
// returns the result struct every command builtin gives scripts.
func Run(thread *starlark.Thread, fn string, resource string, cmd machine.Cmd, readOnly, check bool) (starlark.Value, error) {
	rt := runtime.FromThread(thread)
	var res machine.Result
	do := func() error {
		var err error
		res, err = rt.Runner.Run(rt.Context(), cmd)
		if err == nil && check {
			_, err = machine.Check(cmd, res, nil)
		}
		return err
	}
	if readOnly {
		if err := do(); err != nil {
			return nil, fmt.Errorf("%s: %w", fn, err)
		}
		return resultStruct(thread, res, false, false), nil
	}
	ran, err := runtime.Do(thread, runtime.Change{Resource: resource, Action: "run"}, do)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	// A command a plan did not run has no output yet.
	return resultStruct(thread, res, true, !ran), nil
}

func resultStruct(thread *starlark.Thread, res machine.Result, changed, unknown bool) starlark.Value {
	fields := starlark.StringDict{
		"exit_code": starlark.MakeInt(res.ExitCode),
		"stdout":    starlark.String(res.Stdout),
		"stderr":    starlark.String(res.Stderr),
		"changed":   starlark.Bool(changed),
	}
	if unknown {
		for _, k := range []string{"exit_code", "stdout", "stderr"} {
			fields[k] = runtime.NewUnknown(thread, "command "+k)
		}
	}
	return starlarkstruct.FromStringDict(starlarkstruct.Default, fields)
}

func run(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var argvList *starlark.List
	var stdin starlark.Value = starlark.None
	readOnly, check := false, true
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "argv", &argvList, "read_only?", &readOnly, "stdin?", &stdin, "check?", &check); err != nil {
		return nil, err
	}
	argv, err := Argv(b.Name(), argvList)
	if err != nil {
		return nil, err
	}
	in, err := Stdin(b.Name(), stdin)
	if err != nil {
		return nil, err
	}
	return Run(thread, b.Name(), "cmd:"+strings.Join(argv, " "), machine.Cmd{Argv: argv, Stdin: in}, readOnly, check)
}
