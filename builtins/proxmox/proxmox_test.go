package proxmox_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	goproxmox "github.com/luthermonson/go-proxmox"
	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"phoenix/builtins"
	"phoenix/builtins/proxmox"
	"phoenix/internal/pve"
	"phoenix/internal/pvesim"
	"phoenix/internal/pvesim/pvesimtest"
	"phoenix/runtime"
	"phoenix/runtime/runtimetest"
)

const (
	rootPassword = "sim-root-password"
	token        = "root@pam!phoenix=0b8e4c7a-1f2d-4e5a-9c3b-7d6e5f4a3b2c"
)

var rootLogin = pve.Auth{User: "root@pam", Password: rootPassword}

// sims maps each test runtime to its simulator, for the simctl module.
var sims sync.Map // *runtime.Runtime -> *simHandle

type simHandle struct {
	*pvesimtest.Sim
	c *pve.Client
}

// startSim serves a simulator over HTTPS and connects the real client to
// it with a pinned fingerprint, as a run against a host does.
func startSim(t testing.TB, o pvesim.Options, auth pve.Auth, po pve.Options) *simHandle {
	t.Helper()
	o.Tokens = append(o.Tokens, token)
	o.RootPassword = rootPassword
	s := pvesimtest.Start(t, o)
	if auth.IsZero() {
		auth = rootLogin
	}
	return &simHandle{Sim: s, c: s.Connect(t, auth, po)}
}

func tokenAuth(t testing.TB) pve.Auth {
	a, err := pve.ParseToken(token)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// use makes a runtime's proxmox module talk to a fresh simulator.
func use(o pvesim.Options, auth func(testing.TB) pve.Auth) func(t *testing.T, rt *runtime.Runtime) {
	return func(t *testing.T, rt *runtime.Runtime) {
		var a pve.Auth
		if auth != nil {
			a = auth(t)
		}
		h := startSim(t, o, a, pvesimtest.Fast)
		if _, err := proxmox.Use(rt, h.c, h.Server); err != nil {
			t.Fatal(err)
		}
		sims.Store(rt, h)
		t.Cleanup(func() { sims.Delete(rt) })
	}
}

func predeclared() starlark.StringDict {
	d := starlark.StringDict{}
	d["simctl"] = simctl
	return d
}

// exampleConfig is the example site.
const exampleConfig = "../../config"

func simOf(thread *starlark.Thread) (*simHandle, error) {
	v, ok := sims.Load(runtime.FromThread(thread))
	if !ok {
		return nil, fmt.Errorf("no simulator in this test")
	}
	return v.(*simHandle), nil
}

func simBuiltin(name string, f func(srv *pvesim.Server, thread *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error)) *starlark.Builtin {
	return starlark.NewBuiltin("simctl."+name, func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		h, err := simOf(thread)
		if err != nil {
			return nil, err
		}
		return f(h.Server, thread, args, kwargs)
	})
}

// simctl lets .star tests inject faults and read the request counter.
var simctl = &starlarkstruct.Module{Name: "simctl", Members: starlark.StringDict{
	"fail_task": simBuiltin("fail_task", func(srv *pvesim.Server, _ *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var typ, msg string
		var vmid, times int
		var log *starlark.List
		if err := starlark.UnpackArgs("fail_task", args, kwargs, "type", &typ, "vmid", &vmid, "msg", &msg, "log", &log, "times?", &times); err != nil {
			return nil, err
		}
		var lines []string
		for i := 0; i < log.Len(); i++ {
			s, _ := starlark.AsString(log.Index(i))
			lines = append(lines, s)
		}
		srv.Faults().FailTask(typ, vmid, msg, lines, times)
		return starlark.None, nil
	}),
	"lock_timeout": simBuiltin("lock_timeout", func(srv *pvesim.Server, _ *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var vmid, times int
		if err := starlark.UnpackArgs("lock_timeout", args, kwargs, "vmid", &vmid, "times", &times); err != nil {
			return nil, err
		}
		srv.Faults().LockTimeout(vmid, times)
		return starlark.None, nil
	}),
	"http_error": simBuiltin("http_error", func(srv *pvesim.Server, _ *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var method, path string
		var status, times int
		if err := starlark.UnpackArgs("http_error", args, kwargs, "method", &method, "path", &path, "status", &status, "times", &times); err != nil {
			return nil, err
		}
		srv.Faults().HTTPError(method, path, status, times)
		return starlark.None, nil
	}),
	"requests": simBuiltin("requests", func(srv *pvesim.Server, _ *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var key string
		if err := starlark.UnpackArgs("requests", args, kwargs, "key", &key); err != nil {
			return nil, err
		}
		return starlark.MakeInt(srv.Requests()[key]), nil
	}),
	"reset": simBuiltin("reset", func(srv *pvesim.Server, _ *starlark.Thread, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		srv.ResetRequests()
		srv.Faults().Clear()
		return starlark.None, nil
	}),
	// create_vm makes a plain VM for vm_ensure to clone, through the API.
	"create_vm": starlark.NewBuiltin("simctl.create_vm", func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var vmid int
		node := "pve"
		if err := starlark.UnpackArgs(b.Name(), args, kwargs, "vmid", &vmid, "node?", &node); err != nil {
			return nil, err
		}
		h, err := simOf(thread)
		if err != nil {
			return nil, err
		}
		return starlark.None, createVM(h.c, node, vmid)
	}),
}}

// createVM makes a VM to clone from, through the API: the simulator has
// no templates.
func createVM(c *pve.Client, node string, vmid int) error {
	ctx := context.Background()
	n := (&goproxmox.Node{}).New(c.API(), node)
	task, err := n.NewVirtualMachine(ctx, vmid,
		goproxmox.VirtualMachineOption{Name: "name", Value: fmt.Sprintf("template-%d", vmid)},
		goproxmox.VirtualMachineOption{Name: "memory", Value: 2048},
		goproxmox.VirtualMachineOption{Name: "scsi0", Value: "local-zfs:8"},
		goproxmox.VirtualMachineOption{Name: "ide2", Value: "local-zfs:cloudinit"},
		goproxmox.VirtualMachineOption{Name: "net0", Value: "virtio,bridge=vmbr0"})
	if err != nil {
		return err
	}
	if err := c.Wait(ctx, string(task.UPID), "create template"); err != nil {
		return err
	}
	_, err = c.RefreshGuests(ctx)
	return err
}

// testSite writes the example site with what the .star tests use beside
// it: a second node, pve2, and a second bridge, vmbr1. Specs written in
// the tests are checked against it as against any site.
func testSite(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range []string{"phoenix_hypervisor_config.json", "phoenix_lxc_configs.json", "phoenix_vm_configs.json"} {
		b, err := os.ReadFile(filepath.Join(exampleConfig, name))
		if err != nil {
			t.Fatal(err)
		}
		if name == "phoenix_hypervisor_config.json" {
			var h map[string]any
			if err := json.Unmarshal(b, &h); err != nil {
				t.Fatal(err)
			}
			delete(h, "$schema")
			h["nodes"].(map[string]any)["pve2"] = map[string]any{"management_ip": "192.168.10.12"}
			h["bridges"].(map[string]any)["vmbr1"] = map[string]any{"cidr": "10.0.1.0/24", "gateway": "10.0.1.1"}
			fw := h["firewall"].(map[string]any)
			fw["flows"] = append(fw["flows"].([]any), map[string]any{"source": "nodes", "destination": "nodes", "proto": "udp", "port": 5405, "comment": "corosync"})
			if b, err = json.Marshal(h); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestStar(t *testing.T) {
	runtimetest.Run(t, "testdata/*.star", runtimetest.Options{
		Families: builtins.All(), Globals: predeclared(), ConfigDir: testSite(t),
		Setup: use(pvesim.Options{Nodes: 2}, nil),
	})
}

// TestStarToken runs with an API token, which PVE refuses bind mounts.
func TestStarToken(t *testing.T) {
	runtimetest.Run(t, "testdata/token/*.star", runtimetest.Options{
		Families: builtins.All(), Globals: predeclared(), ConfigDir: testSite(t),
		Setup: use(pvesim.Options{}, tokenAuth),
	})
}

// run executes src as a script of rt and returns the run's report.
func run(t *testing.T, rt *runtime.Runtime, src string) *runtime.Report {
	t.Helper()
	p := filepath.Join(t.TempDir(), "script.star")
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.ExecScript(p); err != nil {
		if ee, ok := err.(*starlark.EvalError); ok {
			t.Fatal(ee.Backtrace())
		}
		t.Fatal(err)
	}
	return rt.Report()
}

func changes(r *runtime.Report) string {
	var out []string
	for _, c := range r.Changes {
		s := c.Action + " " + c.Resource
		if c.PendingRestart {
			s += " (pending restart)"
		}
		out = append(out, s)
	}
	return strings.Join(out, "\n")
}

func only(r *runtime.Report, prefix string) string {
	var out []string
	for _, l := range strings.Split(changes(r), "\n") {
		if strings.Contains(l, " "+prefix) {
			out = append(out, l)
		}
	}
	sort.Strings(out)
	return strings.Join(out, "\n")
}
