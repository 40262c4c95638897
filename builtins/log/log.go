// Package log is the Starlark `log` module. Logs go to stderr; stdout
// carries only the run's result.
package log

import (
	"fmt"
	"phoenix/runtime"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// Family registers log with the runtime.
var Family = runtime.Family{Name: "log", Module: Module}

// Module is the log module.
//
//	debug(*args: any) - None
//	    Detail for a run with --log-level debug; dropped otherwise.
//	info(*args: any) - None
//	    Prints the arguments, separated by spaces, to stderr, when the
//	    run's --log-level (debug, info, warn or error; default info)
//	    lets the level through.
//	warn(*args: any) - None
//	error(*args: any) - None
//	    Logs only; it does not fail the run (use fail() for that).
var Module = &starlarkstruct.Module{
	Name: "log",
	Members: starlark.StringDict{
		"debug": level("debug", runtime.LevelDebug),
		"info":  level("info", runtime.LevelInfo),
		"warn":  level("warn", runtime.LevelWarn),
		"error": level("error", runtime.LevelError),
	},
}

func level(name string, lvl runtime.LogLevel) *starlark.Builtin {
	return starlark.NewBuiltin("log."+name, func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		if len(kwargs) > 0 {
			return nil, fmt.Errorf("%s: unexpected keyword arguments", b.Name())
		}
		if !runtime.FromThread(thread).Logs(lvl) {
			return starlark.None, nil
		}
		parts := make([]string, len(args))
		for i, a := range args {
			if s, ok := starlark.AsString(a); ok {
				parts[i] = s
			} else {
				parts[i] = a.String()
			}
		}
		// thread.Print keeps a parallel step's lines with its other output.
		thread.Print(thread, name+": "+strings.Join(parts, " "))
		return starlark.None, nil
	})
}
