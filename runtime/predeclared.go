package runtime

import (
	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// Predeclared is what every script and loaded module sees: the builtin
// modules plus the runtime's own globals.
func (rt *Runtime) Predeclared() starlark.StringDict {
	d := starlark.StringDict{
		"params":   starlark.NewBuiltin("params", paramsBuiltin),
		"param":    ParamModule,
		"parallel": starlark.NewBuiltin("parallel", parallelBuiltin),
		"task":     starlark.NewBuiltin("task", taskBuiltin),
		"struct":   starlark.NewBuiltin("struct", starlarkstruct.Make),
		"catch":    starlark.NewBuiltin("catch", catchBuiltin),
	}
	for k, v := range rt.Opts.Predeclared {
		d[k] = v
	}
	return d
}

// catch(fn, *args, **kwargs) calls fn and returns its error message, or
// None when it succeeded. For tests and for scripts that handle a failure
// themselves.
func catchBuiltin(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if len(args) < 1 {
		return nil, errorf(b, "missing function argument")
	}
	_, err := starlark.Call(thread, args[0], args[1:], kwargs)
	if err != nil {
		if ee, ok := err.(*starlark.EvalError); ok {
			return starlark.String(ee.Msg), nil
		}
		return starlark.String(err.Error()), nil
	}
	return starlark.None, nil
}
