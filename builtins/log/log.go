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
//	info(*args: any) - None
//	    Prints the arguments, separated by spaces, to stderr.
//	warn(*args: any) - None
//	error(*args: any) - None
//	    Logs only; it does not fail the run (use fail() for that).
var Module = &starlarkstruct.Module{
	Name: "log",
	Members: starlark.StringDict{
		"info":  level("info"),
		"warn":  level("warn"),
		"error": level("error"),
	},
}

func level(name string) *starlark.Builtin {
	return starlark.NewBuiltin("log."+name, func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		if len(kwargs) > 0 {
			return nil, fmt.Errorf("%s: unexpected keyword arguments", b.Name())
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
