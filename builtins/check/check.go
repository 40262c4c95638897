// Package check is the Starlark `check` module: health-check results.
package check

import (
	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"phoenix/runtime"
)

// Family registers check with the runtime.
var Family = runtime.Family{Name: "check", Module: Module}

// Module is the check module. Results are printed after the changes, as a
// table or as "checks" in JSON; any failure makes the run exit 3.
//
//	ok(name: str, target: str, detail: str = "") - None
//	    Records a passed check: one row of the health-check table.
//	fail(name: str, target: str, detail: str = "") - None
//	    Records a failed check; the run goes on and exits 3 at the end.
//	skip(name: str, target: str, reason: str = "") - None
//	    Records a check that was not run, and why (a probe under --sim, say).
var Module = &starlarkstruct.Module{
	Name: "check",
	Members: starlark.StringDict{
		"ok":   record("ok", "detail"),
		"fail": record("fail", "detail"),
		"skip": record("skip", "reason"),
	},
}

func record(status, third string) *starlark.Builtin {
	return starlark.NewBuiltin("check."+status, func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var name, target string
		var detail starlark.Value = starlark.String("")
		if err := starlark.UnpackArgs(b.Name(), args, kwargs, "name", &name, "target", &target, third+"?", &detail); err != nil {
			return nil, err
		}
		text, ok := starlark.AsString(detail)
		if !ok {
			// Secrets and other values show as they print: <secret>.
			text = detail.String()
		}
		runtime.AddCheck(thread, runtime.CheckResult{Name: name, Target: target, Status: status, Detail: text})
		return starlark.None, nil
	})
}
