// Package builtins composes phoenix's builtin families into the one list
// the runtime predeclares.
package builtins

import (
	"go.starlark.net/lib/json"
	"go.starlark.net/starlark"

	"phoenix/builtins/check"
	"phoenix/builtins/exec"
	"phoenix/builtins/fs"
	"phoenix/builtins/log"
	"phoenix/builtins/secret"
	"phoenix/runtime"
)

// Predeclared returns every builtin module, by the name scripts use.
func Predeclared() starlark.StringDict {
	return starlark.StringDict{
		"check":  check.Module,
		"exec":   exec.Module,
		"fs":     fs.Module,
		"json":   json.Module,
		"log":    log.Module,
		"secret": secret.Module,
	}
}

// SimSetup returns the hooks that install simulated backends under --sim.
func SimSetup() []func(*runtime.Runtime, *runtime.SimRunner) error {
	return nil
}
