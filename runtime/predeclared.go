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
		"scripts":  scriptsModule(),
		"phoenix":  rt.info(),
	}
	for _, f := range rt.Opts.Families {
		if f.Module != nil {
			d[f.Name] = f.Module
		}
	}
	for k, v := range rt.Opts.Globals {
		d[k] = v
	}
	return d
}

// info is the `phoenix` struct: how this run was started, so scripts can
// say why they skip a step (a health probe under --sim, say).
func (rt *Runtime) info() starlark.Value {
	return starlarkstruct.FromStringDict(starlark.String("phoenix"), starlark.StringDict{
		"sim":    starlark.Bool(rt.Opts.Sim),
		"target": starlark.String(rt.Opts.Target),
	})
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
