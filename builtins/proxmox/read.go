package proxmox

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	goproxmox "github.com/luthermonson/go-proxmox"
	"go.starlark.net/starlark"

	"phoenix/internal/pve"
	"phoenix/runtime"
)

func guestValue(g pve.Guest) starlark.Value {
	return runtime.Struct(starlark.StringDict{
		"vmid":    starlark.MakeInt(g.VMID),
		"kind":    starlark.String(g.Kind.Word()),
		"node":    starlark.String(g.Node),
		"name":    starlark.String(g.Name),
		"status":  starlark.String(g.Status),
		"running": starlark.Bool(g.Running()),
	})
}

func status(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	fn := b.Name()
	var vmidV starlark.Value
	if err := starlark.UnpackArgs(fn, args, kwargs, "vmid", &vmidV); err != nil {
		return nil, err
	}
	vmid, err := vmidArg(fn, vmidV)
	if err != nil {
		return nil, err
	}
	be, ctx, err := backendOf(thread, fn)
	if err != nil {
		return nil, err
	}
	g, ok, onlyPlanned, err := be.guest(ctx, vmid)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	if !ok {
		return starlark.None, nil
	}
	if _, _, planned := plannedGuest(be.rt, vmid); !onlyPlanned && !planned {
		st, err := be.Client.Status(ctx, g)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", fn, err)
		}
		if s, ok := st["status"].(string); ok {
			g.Status = s
		}
	}
	return guestValue(g), nil
}

func nodes(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	fn := b.Name()
	if err := starlark.UnpackArgs(fn, args, kwargs); err != nil {
		return nil, err
	}
	ns, err := query(thread, fn, (*pve.Client).Nodes)
	if err != nil {
		return nil, err
	}
	out := make([]starlark.Value, len(ns))
	for i, n := range ns {
		out[i] = runtime.Struct(starlark.StringDict{"name": starlark.String(n.Node), "status": starlark.String(n.Status)})
	}
	return starlark.NewList(out), nil
}

func resources(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	fn := b.Name()
	var typ starlark.Value = starlark.None
	if err := starlark.UnpackArgs(fn, args, kwargs, "type?", &typ); err != nil {
		return nil, err
	}
	t := ""
	if typ != starlark.None {
		s, ok := starlark.AsString(typ)
		if !ok {
			return nil, fmt.Errorf("%s: type: want string, got %s", fn, typ.Type())
		}
		switch s {
		case "vm", "storage", "node", "sdn":
		default:
			return nil, fmt.Errorf("%s: type %q: want vm, storage, node or sdn", fn, s)
		}
		t = s
	}
	rs, err := query(thread, fn, func(c *pve.Client, ctx context.Context) (goproxmox.ClusterResources, error) {
		return c.Resources(ctx, t)
	})
	if err != nil {
		return nil, err
	}
	out := make([]starlark.Value, len(rs))
	for i, r := range rs {
		var vmid starlark.Value = starlark.None
		if r.VMID != 0 {
			vmid = starlark.MakeUint64(r.VMID)
		}
		out[i] = runtime.Struct(starlark.StringDict{
			"id":       starlark.String(r.ID),
			"type":     starlark.String(r.Type),
			"node":     starlark.String(r.Node),
			"name":     starlark.String(r.Name),
			"status":   starlark.String(r.Status),
			"vmid":     vmid,
			"storage":  starlark.String(r.Storage),
			"template": starlark.Bool(r.Template != 0),
		})
	}
	return starlark.NewList(out), nil
}

func nextID(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	fn := b.Name()
	if err := starlark.UnpackArgs(fn, args, kwargs); err != nil {
		return nil, err
	}
	id, err := query(thread, fn, (*pve.Client).NextID)
	if err != nil {
		return nil, err
	}
	// Not one the plan already creates.
	rt := runtime.FromThread(thread)
	for {
		if _, _, planned := plannedGuest(rt, id); !planned {
			break
		}
		id++
	}
	return starlark.MakeInt(id), nil
}

// orphans lists guests PVE has that the site does not declare, leaving
// out templates and the VMs the site clones from. It only reports.
func orphans(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	fn := b.Name()
	var siteV starlark.Value
	if err := starlark.UnpackArgs(fn, args, kwargs, "site", &siteV); err != nil {
		return nil, err
	}
	declared, templates, err := siteGuests(fn, siteV)
	if err != nil {
		return nil, err
	}
	gs, err := query(thread, fn, (*pve.Client).Guests)
	if err != nil {
		return nil, err
	}
	var out []starlark.Value
	for _, g := range asPlanned(runtime.FromThread(thread), gs) {
		if declared[g.VMID] || templates[g.VMID] || g.Template {
			continue
		}
		out = append(out, guestValue(g))
	}
	return starlark.NewList(out), nil
}

// query makes one read of the API for a builtin, in the run's context.
func query[T any](thread *starlark.Thread, fn string, read func(*pve.Client, context.Context) (T, error)) (T, error) {
	be, ctx, err := backendOf(thread, fn)
	if err != nil {
		var zero T
		return zero, err
	}
	v, err := read(be.Client, ctx)
	if err != nil {
		return v, fmt.Errorf("%s: %w", fn, err)
	}
	return v, nil
}

// asPlanned is PVE's guest list as the plan leaves it: without the guests
// it destroys, with the ones it creates or powers as declared.
func asPlanned(rt *runtime.Runtime, gs []pve.Guest) []pve.Guest {
	byID := map[int]pve.Guest{}
	for _, g := range gs {
		byID[g.VMID] = g
	}
	for _, prefix := range []string{"lxc:", "vm:"} {
		names, states := rt.PlannedUnder(prefix)
		for _, n := range names {
			var vmid int
			if _, err := fmt.Sscanf(strings.TrimPrefix(n, prefix), "%d", &vmid); err != nil {
				continue
			}
			if g, ok := states[n].(pve.Guest); ok {
				byID[vmid] = g
			} else if states[n] == runtime.Gone {
				if g, ok := byID[vmid]; ok && g.Resource() == n {
					delete(byID, vmid)
				}
			}
		}
	}
	out := make([]pve.Guest, 0, len(byID))
	for _, id := range slices.Sorted(maps.Keys(byID)) {
		out = append(out, byID[id])
	}
	return out
}
