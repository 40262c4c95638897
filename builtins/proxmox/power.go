package proxmox

import (
	"context"
	"fmt"

	"go.starlark.net/starlark"

	"phoenix/internal/pve"
	"phoenix/runtime"
)

func lxcStart(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	return power(thread, b, args, kwargs, pve.LXC, pve.Start)
}

func lxcStop(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	return power(thread, b, args, kwargs, pve.LXC, pve.Stop)
}

func lxcShutdown(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	return power(thread, b, args, kwargs, pve.LXC, pve.Shutdown)
}

func vmStart(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	return power(thread, b, args, kwargs, pve.QEMU, pve.Start)
}

func vmStop(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	return power(thread, b, args, kwargs, pve.QEMU, pve.Stop)
}

// power starts or stops a guest unless it already is in that state.
func power(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple, kind pve.Kind, action string) (starlark.Value, error) {
	fn := b.Name()
	var vmidV starlark.Value
	timeout := 60
	var err error
	if action == pve.Shutdown {
		err = starlark.UnpackArgs(fn, args, kwargs, "vmid", &vmidV, "timeout?", &timeout)
	} else {
		err = starlark.UnpackArgs(fn, args, kwargs, "vmid", &vmidV)
	}
	if err != nil {
		return nil, err
	}
	if timeout < 0 {
		return nil, fmt.Errorf("%s: timeout must not be negative", fn)
	}
	vmid, err := vmidArg(fn, vmidV)
	if err != nil {
		return nil, err
	}
	be, ctx, err := backendOf(thread, fn)
	if err != nil {
		return nil, err
	}
	g, ok, onlyPlanned, err := be.guestOfKind(ctx, fn, kind, vmid)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%s: %s does not exist in PVE", fn, pve.Resource(kind, vmid))
	}
	want := "stopped"
	if action == pve.Start {
		want = "running"
	}
	result := func(changed bool, st string) starlark.Value {
		return runtime.Struct(starlark.StringDict{"vmid": starlark.MakeInt(vmid), "changed": starlark.Bool(changed), "status": starlark.String(st)})
	}
	if g.Status == want {
		runtime.Unchanged(thread, g.Resource())
		return result(false, want), nil
	}
	var params map[string]any
	if action == pve.Shutdown {
		params = map[string]any{"timeout": timeout, "forceStop": 1}
	}
	detail := fmt.Sprintf("%s (status %s -> %s)", action, g.Status, want)
	after := g
	after.Status = want
	_, err = runtime.Do(thread, runtime.Change{Resource: g.Resource(), Action: "update", Detail: detail, Leaves: map[string]any{g.Resource(): after}}, func() error {
		if onlyPlanned {
			return fmt.Errorf("%s exists only in the plan", g.Resource())
		}
		_, err := be.Client.Power(ctx, g, action, params)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	return result(true, want), nil
}

func lxcDestroy(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	return destroy(thread, b, args, kwargs, pve.LXC)
}

func vmDestroy(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	return destroy(thread, b, args, kwargs, pve.QEMU)
}

// destroy deletes a guest with its disks, stopping it first. The caller
// must repeat the VMID as confirm=, so a variable holding the wrong VMID
// cannot destroy a guest by accident.
func destroy(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple, kind pve.Kind) (starlark.Value, error) {
	fn := b.Name()
	var vmidV starlark.Value
	var confirm starlark.Value = starlark.None
	if err := starlark.UnpackArgs(fn, args, kwargs, "vmid", &vmidV, "confirm?", &confirm); err != nil {
		return nil, err
	}
	vmid, err := vmidArg(fn, vmidV)
	if err != nil {
		return nil, err
	}
	var c int
	if confirm == starlark.None || starlark.AsInt(confirm, &c) != nil || c != vmid {
		return nil, fmt.Errorf("%s: refusing to destroy %s without confirm=%d (the VMID spelled out again)", fn, pve.Resource(kind, vmid), vmid)
	}
	be, ctx, err := backendOf(thread, fn)
	if err != nil {
		return nil, err
	}
	g, ok, onlyPlanned, err := be.guestOfKind(ctx, fn, kind, vmid)
	if err != nil {
		return nil, err
	}
	result := func(changed bool) starlark.Value {
		return runtime.Struct(starlark.StringDict{"vmid": starlark.MakeInt(vmid), "changed": starlark.Bool(changed)})
	}
	if !ok {
		runtime.Unchanged(thread, pve.Resource(kind, vmid))
		return result(false), nil
	}
	detail := fmt.Sprintf("destroy %q on %s with its disks", g.Name, g.Node)
	if g.Running() {
		detail += ", stopping it first"
	}
	_, err = runtime.Do(thread, runtime.Change{Resource: g.Resource(), Action: "delete", Detail: detail, Leaves: map[string]any{g.Resource(): runtime.Gone}}, func() error {
		if onlyPlanned {
			return fmt.Errorf("%s exists only in the plan", g.Resource())
		}
		if g.Running() {
			var err error
			if g, err = be.Client.Power(ctx, g, pve.Stop, nil); err != nil {
				return err
			}
		}
		return be.Client.Destroy(ctx, g)
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	return result(true), nil
}

// guestOfKind is be.guest for a call that acts on one kind of guest: ok
// is false when there is no such VMID, and a guest of the other kind is an
// error.
func (be *conn) guestOfKind(ctx context.Context, fn string, kind pve.Kind, vmid int) (g pve.Guest, ok, onlyPlanned bool, err error) {
	g, ok, onlyPlanned, err = be.guest(ctx, vmid)
	if err != nil {
		return pve.Guest{}, false, false, fmt.Errorf("%s: %w", fn, err)
	}
	if ok && g.Kind != kind {
		return pve.Guest{}, false, false, fmt.Errorf("%s: VMID %d is a %s, not a %s", fn, vmid, g.Kind.Word(), kind.Word())
	}
	return g, ok, onlyPlanned, nil
}
