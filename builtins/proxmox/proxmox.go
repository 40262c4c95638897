// Package proxmox is the Starlark `proxmox` module: the site's containers
// and VMs through the Proxmox VE API (internal/pve over go-proxmox).
package proxmox

import (
	"phoenix/runtime"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// Family registers proxmox with the runtime.
var Family = runtime.Family{
	Name:   "proxmox",
	Module: Module,
	Sim:    SimSetup,
	// Connecting and checking the site's guests before the script runs
	// stops a run that PVE would refuse halfway.
	Preflight: preflight,
	// Commands in guests need no API with --guest-netns.
	PreflightExempt: []string{"lxc_exec", "lxc_push"},
	Flags: []runtime.Flag{{
		Name:  "guest-netns",
		Usage: "run proxmox.lxc_exec through `ip netns exec` in this netns pattern ({vmid} replaced) instead of pct exec",
	}},
}

// Module is the proxmox module. Guests are converged from the site
// config's guests (config.site()), or any struct or dict with the same
// fields; keyword overrides use the same field names and replace whole
// fields of a copy. A spec is checked as config.lxc_spec and vm_spec
// check it: as the files are, and against the other guests of the site.
//
//	lxc_ensure(spec: struct|dict, restart_if_needed: bool = False, data: struct|dict|None = None, **overrides: any) - struct(vmid, node, resource, changed, action, diff, pending_restart, pending, restarted, hwaddr)
//	vm_ensure(spec: struct|dict, restart_if_needed: bool = False, **overrides: any) - struct(vmid, node, resource, changed, action, diff, pending_restart, pending, restarted, mac)
//	lxc_start(vmid: int) - struct(vmid, changed, status)
//	lxc_stop(vmid: int) - struct(vmid, changed, status); a hard stop
//	lxc_shutdown(vmid: int, timeout: int = 60) - struct(vmid, changed, status); stops it if the guest does not shut down in time
//	lxc_destroy(vmid: int, confirm: int) - struct(vmid, changed); confirm must repeat the VMID
//	vm_start(vmid: int) - struct(vmid, changed, status)
//	vm_stop(vmid: int) - struct(vmid, changed, status)
//	vm_destroy(vmid: int, confirm: int) - struct(vmid, changed); confirm must repeat the VMID
//	status(vmid: int) - struct(vmid, kind, node, name, status, running), or None when PVE has no such guest
//	nodes() - list of struct(name, status)
//	resources(type: str|None = None) - list of struct(id, type, node, name, status, vmid, storage, template); type is vm, storage, node or sdn
//	next_id() - the next free VMID
//	orphans(site: struct) - list of struct(vmid, kind, node, name, status): guests PVE has and the site does not; never deletes
//	lxc_exec(vmid: int, argv: list, read_only: bool = False, stdin: str|secret|None = None, check: bool = True) - struct(exit_code, stdout, stderr, changed)
//	lxc_push(vmid: int, dst: str, src: str|None = None, content: str|secret|None = None, mode: int = 0o644, executable: bool = False) - struct(changed, path, sha256)
//
// lxc_ensure downloads a missing OS template (aplinfo), prepares the host
// side of every bind mount with host.prepare_mount (data, the site's
// zfs.persistent_data, is passed on to it), then creates the container or
// changes only the options that differ, compared semantically; action is
// create, update or none and diff lists "key: old -> new". A change PVE holds until the guest restarts is marked
// pending_restart on the run that makes it; later runs list it as pending
// (not a change) and restart the guest only with restart_if_needed=True.
// vm_ensure clones clone_from, sets cloud-init's ipconfig0 and keeps the
// MAC address PVE assigned. Creates and clones on one node run one at a
// time; lock timeouts and failed reads are retried; a failed task is an
// error with its log.
//
// lxc_exec runs `pct exec VMID -- argv` on this host (with --guest-netns
// PATTERN, `ip netns exec NAME argv` instead); lxc_push copies a site
// file (src), a string (content) or the running phoenix binary
// (executable=True) with `pct push`, only when its SHA-256 differs from
// the container's copy, atomically: pushed to DST.phoenix-new, then
// renamed over dst inside the container, so that a daemon reading dst
// (or running it) never sees half a file. Both refuse a guest on another node.
var Module = &starlarkstruct.Module{
	Name: "proxmox",
	Members: starlark.StringDict{
		"lxc_ensure":   starlark.NewBuiltin("proxmox.lxc_ensure", lxcEnsure),
		"vm_ensure":    starlark.NewBuiltin("proxmox.vm_ensure", vmEnsure),
		"lxc_start":    starlark.NewBuiltin("proxmox.lxc_start", lxcStart),
		"lxc_stop":     starlark.NewBuiltin("proxmox.lxc_stop", lxcStop),
		"lxc_shutdown": starlark.NewBuiltin("proxmox.lxc_shutdown", lxcShutdown),
		"lxc_destroy":  starlark.NewBuiltin("proxmox.lxc_destroy", lxcDestroy),
		"vm_start":     starlark.NewBuiltin("proxmox.vm_start", vmStart),
		"vm_stop":      starlark.NewBuiltin("proxmox.vm_stop", vmStop),
		"vm_destroy":   starlark.NewBuiltin("proxmox.vm_destroy", vmDestroy),
		"status":       starlark.NewBuiltin("proxmox.status", status),
		"nodes":        starlark.NewBuiltin("proxmox.nodes", nodes),
		"resources":    starlark.NewBuiltin("proxmox.resources", resources),
		"next_id":      starlark.NewBuiltin("proxmox.next_id", nextID),
		"orphans":      starlark.NewBuiltin("proxmox.orphans", orphans),
		"lxc_exec":     starlark.NewBuiltin("proxmox.lxc_exec", lxcExec),
		"lxc_push":     starlark.NewBuiltin("proxmox.lxc_push", lxcPush),
	},
}
