// Package builtins composes phoenix's builtin families into the one list
// the runtime predeclares.
package builtins

import (
	"go.starlark.net/lib/json"
	"go.starlark.net/starlark"

	"phoenix/builtins/check"
	"phoenix/builtins/config"
	"phoenix/builtins/exec"
	"phoenix/builtins/fs"
	"phoenix/builtins/host"
	"phoenix/builtins/log"
	"phoenix/builtins/proxmox"
	"phoenix/builtins/secret"
	"phoenix/builtins/stepca"
	"phoenix/builtins/tls"
	"phoenix/builtins/zfs"
	"phoenix/runtime"
)

// Predeclared returns every builtin module, by the name scripts use.
func Predeclared() starlark.StringDict {
	return starlark.StringDict{
		"check":   check.Module,
		"config":  config.Module,
		"exec":    exec.Module,
		"fs":      fs.Module,
		"host":    host.Module,
		"json":    json.Module,
		"log":     log.Module,
		"proxmox": proxmox.Module,
		"secret":  secret.Module,
		"stepca":  stepca.Module,
		"tls":     tls.Module,
		"zfs":     zfs.Module,
	}
}

// SimSetup returns the hooks that install simulated backends under --sim.
func SimSetup() []func(*runtime.Runtime, *runtime.SimRunner) error {
	return []func(*runtime.Runtime, *runtime.SimRunner) error{
		zfs.SimSetup,
		proxmox.SimSetup,
	}
}
