// Package builtins composes phoenix's builtin families into the one list
// the runtime registers.
package builtins

import (
	"go.starlark.net/lib/json"

	"phoenix/builtins/check"
	"phoenix/builtins/config"
	"phoenix/builtins/dns"
	"phoenix/builtins/dnsmasq"
	"phoenix/builtins/exec"
	"phoenix/builtins/fs"
	"phoenix/builtins/host"
	"phoenix/builtins/log"
	"phoenix/builtins/nft"
	"phoenix/builtins/proxmox"
	"phoenix/builtins/secret"
	"phoenix/builtins/stepca"
	"phoenix/builtins/tls"
	"phoenix/builtins/zfs"
	"phoenix/runtime"
)

// All returns every builtin family's registration record, sorted by name.
func All() []runtime.Family {
	return []runtime.Family{
		check.Family,
		config.Family,
		dns.Family,
		dnsmasq.Family,
		exec.Family,
		fs.Family,
		host.Family,
		{Name: "json", Module: json.Module},
		log.Family,
		nft.Family,
		proxmox.Family,
		secret.Family,
		stepca.Family,
		tls.Family,
		zfs.Family,
	}
}
