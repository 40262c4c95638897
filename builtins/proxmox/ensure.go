package proxmox

import (
	"context"
	"fmt"
	"strings"

	"go.starlark.net/starlark"

	"phoenix/builtins/host"
	"phoenix/internal/pve"
	"phoenix/internal/site"
	"phoenix/runtime"
)

// ensureArgs splits lxc_ensure's and vm_ensure's arguments: the spec,
// restart_if_needed, and the field overrides.
func ensureArgs(b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (spec starlark.Value, restart bool, data starlark.Value, over []starlark.Tuple, err error) {
	data = starlark.None
	if len(args) > 1 {
		return nil, false, nil, nil, fmt.Errorf("%s: got %d positional arguments, want only spec", b.Name(), len(args))
	}
	if len(args) == 1 {
		spec = args[0]
	}
	for _, kv := range kwargs {
		switch string(kv[0].(starlark.String)) {
		case "spec":
			if spec != nil {
				return nil, false, nil, nil, fmt.Errorf("%s: spec given twice", b.Name())
			}
			spec = kv[1]
		case "restart_if_needed":
			v, ok := kv[1].(starlark.Bool)
			if !ok {
				return nil, false, nil, nil, fmt.Errorf("%s: restart_if_needed: want bool, got %s", b.Name(), kv[1].Type())
			}
			restart = bool(v)
		case "data":
			data = kv[1]
		default:
			over = append(over, kv)
		}
	}
	if spec == nil {
		return nil, false, nil, nil, fmt.Errorf("%s: missing argument spec", b.Name())
	}
	return spec, restart, data, over, nil
}

// ensured is the result both ensure builtins return.
type ensured struct {
	vmid           int
	node, resource string
	action         string // create, update, none
	diff           []string
	pendingRestart bool
	pending        []string
	restarted      bool
	mac            starlark.Value
}

func (e *ensured) value(macField string) starlark.Value {
	mac := e.mac
	if mac == nil {
		mac = starlark.None
	}
	return runtime.Struct(starlark.StringDict{
		"vmid":            starlark.MakeInt(e.vmid),
		"node":            starlark.String(e.node),
		"resource":        starlark.String(e.resource),
		"changed":         starlark.Bool(e.action != "none" || e.restarted),
		"action":          starlark.String(e.action),
		"diff":            runtime.Strings(e.diff),
		"pending_restart": starlark.Bool(e.pendingRestart),
		"pending":         runtime.Strings(e.pending),
		"restarted":       starlark.Bool(e.restarted),
		macField:          mac,
	})
}

func lxcEnsure(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	fn := b.Name()
	specV, restart, data, over, err := ensureArgs(b, args, kwargs)
	if err != nil {
		return nil, err
	}
	guest, spec, err := lxcSpec(thread, fn, specV, over)
	if err != nil {
		return nil, err
	}
	be, ctx, err := backendOf(thread, fn)
	if err != nil {
		return nil, err
	}

	plan, onlyPlanned, err := be.planGuest(ctx, pve.LXC, spec.VMID, func() (*pve.Plan, error) { return be.Client.PlanLXC(ctx, spec) })
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	// Host directories first: PVE neither creates nor owns them.
	mu := hostLock(be.rt)
	mu.Lock()
	err = prepareMounts(thread, fn, guest, data)
	mu.Unlock()
	if err != nil {
		return nil, err
	}

	want := pve.Guest{VMID: spec.VMID, Kind: pve.LXC, Node: spec.Node, Name: spec.Hostname, Status: "stopped"}
	return converge(thread, fn, be, want, "hwaddr", plan, onlyPlanned, restart, func() (string, bool, error) {
		if err := ensureTemplate(thread, be, spec.Node, spec.Template); err != nil {
			return "", false, err
		}
		var net0 string
		leaves := map[string]any{want.Resource(): want}
		applied, err := runtime.Do(thread, runtime.Change{Resource: want.Resource(), Action: "create", Detail: lxcCreateDetail(spec), Leaves: leaves, After: spec.CreateConfig()}, func() error {
			g, err := be.Client.CreateLXC(ctx, spec.Node, spec.VMID, spec.CreateConfig())
			if err != nil {
				return err
			}
			st, err := be.Client.ReadState(ctx, g)
			if err != nil {
				return err
			}
			net0 = st.Effective["net0"]
			return nil
		})
		return net0, applied, err
	})
}

func vmEnsure(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	fn := b.Name()
	specV, restart, data, over, err := ensureArgs(b, args, kwargs)
	if err != nil {
		return nil, err
	}
	if data != starlark.None {
		return nil, fmt.Errorf("%s: data is for containers' bind mounts; VMs have none", fn)
	}
	spec, err := vmSpec(thread, fn, specV, over)
	if err != nil {
		return nil, err
	}
	be, ctx, err := backendOf(thread, fn)
	if err != nil {
		return nil, err
	}

	plan, onlyPlanned, err := be.planGuest(ctx, pve.QEMU, spec.VMID, func() (*pve.Plan, error) { return be.Client.PlanVM(ctx, spec) })
	if err != nil {
		return nil, fmt.Errorf("%s: %w", fn, err)
	}
	want := pve.Guest{VMID: spec.VMID, Kind: pve.QEMU, Node: spec.Node, Name: spec.Name, Status: "stopped"}
	return converge(thread, fn, be, want, "mac", plan, onlyPlanned, restart, func() (string, bool, error) {
		src, ok, _, err := be.guest(ctx, spec.CloneFrom)
		if err != nil {
			return "", false, err
		}
		if !ok || src.Kind != pve.QEMU {
			return "", false, fmt.Errorf("vm:%d clones vm:%d (clone_from), which PVE does not have; create or restore that template first", spec.VMID, spec.CloneFrom)
		}
		var net0 string
		detail := fmt.Sprintf("clone of vm:%d on %s: %s", spec.CloneFrom, spec.Node, optionList(spec.Options()))
		leaves := map[string]any{want.Resource(): want}
		applied, err := runtime.Do(thread, runtime.Change{Resource: want.Resource(), Action: "create", Detail: detail, Leaves: leaves, After: spec.Options()}, func() error {
			g, err := be.Client.CloneVM(ctx, src.Node, src.VMID, spec.VMID, spec.Node, spec.Name, true)
			if err != nil {
				return err
			}
			st, err := be.Client.ReadState(ctx, g)
			if err != nil {
				return err
			}
			set, del := (&pve.Plan{Changes: pve.Diff(pve.QEMU, st.Effective, spec.Options(), nil)}).Split()
			if err := be.Client.Configure(ctx, g, set, del); err != nil {
				return err
			}
			net0 = st.Effective["net0"]
			if v, ok := set["net0"]; ok {
				net0 = v
			}
			return nil
		})
		return net0, applied, err
	})
}

// converge is what lxc_ensure and vm_ensure share once the plan is read:
// create want when PVE lacks it, else update the options that differ and
// restart when asked. create declares and makes the guest and returns its
// net0 as PVE stored it, or applied=false when it was only planned (the
// MAC is then unknown). macField names the MAC in the result.
func converge(thread *starlark.Thread, fn string, be *conn, want pve.Guest, macField string, plan *pve.Plan, onlyPlanned, restart bool, create func() (net0 string, applied bool, err error)) (starlark.Value, error) {
	res := want.Resource()
	out := &ensured{vmid: want.VMID, node: want.Node, resource: res, action: "none"}
	unknownMAC := func() starlark.Value { return runtime.NewUnknown(thread, fn+"("+itoa(want.VMID)+")."+macField) }
	switch {
	case onlyPlanned:
		runtime.Unchanged(thread, res)
		out.mac = unknownMAC()
	case !plan.Exists:
		net0, applied, err := create()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", fn, err)
		}
		out.action = "create"
		if applied {
			out.mac = starlark.String(macOf(want.Kind, net0))
		} else {
			out.mac = unknownMAC()
		}
	default:
		if err := update(thread, be, plan, out); err != nil {
			return nil, fmt.Errorf("%s: %w", fn, err)
		}
		out.mac = starlark.String(macOf(want.Kind, plan.State.Effective["net0"]))
		if err := restartIfNeeded(thread, be, plan, restart, out); err != nil {
			return nil, fmt.Errorf("%s: %w", fn, err)
		}
	}
	return out.value(macField), nil
}

// macOf reads the MAC address PVE assigned from a net0 value; containers
// call it hwaddr, VMs macaddr.
func macOf(kind pve.Kind, net0 string) string {
	key := "hwaddr"
	if kind == pve.QEMU {
		key = "macaddr"
	}
	return pve.ParseProp(kind, "net0", net0)[key]
}

// planGuest reads what converging needs. In a dry run, a guest that only
// the plan creates has nothing to compare yet.
func (be *conn) planGuest(ctx context.Context, kind pve.Kind, vmid int, read func() (*pve.Plan, error)) (*pve.Plan, bool, error) {
	g, ok, onlyPlanned, err := be.guest(ctx, vmid)
	if err != nil {
		return nil, false, err
	}
	if onlyPlanned {
		if g.Kind != kind {
			return nil, false, fmt.Errorf("VMID %d is planned as a %s earlier in this plan", vmid, g.Kind.Word())
		}
		return &pve.Plan{Guest: g, Exists: true}, true, nil
	}
	if !ok {
		// Destroyed earlier in the plan, or missing: create.
		return &pve.Plan{}, false, nil
	}
	p, err := read()
	return p, false, err
}

// update applies the differing options of an existing guest, or records
// that it is unchanged; restarts PVE still holds are listed either way.
func update(thread *starlark.Thread, be *conn, plan *pve.Plan, out *ensured) error {
	rt := runtime.FromThread(thread)
	res := plan.Guest.Resource()
	out.pending = append(out.pending, plan.StillPending...)
	if len(plan.Changes) == 0 {
		runtime.Unchanged(thread, res)
		return nil
	}
	for _, c := range plan.Changes {
		out.diff = append(out.diff, c.String())
		if plan.PendingRestart && pve.HeldUntilRestart(plan.Guest.Kind, c.Key) {
			out.pending = append(out.pending, c.Key)
		}
	}
	pve.SortKeys(out.pending)
	out.action = "update"
	out.pendingRestart = plan.PendingRestart
	set, del := plan.Split()
	before, after := map[string]string{}, map[string]string{}
	for _, c := range plan.Changes {
		before[c.Key], after[c.Key] = c.Old, c.New
	}
	_, err := runtime.Do(thread, runtime.Change{Resource: res, Action: "update", Detail: plan.Detail(), PendingRestart: plan.PendingRestart, Before: before, After: after}, func() error {
		return be.Client.Configure(rt.Context(), plan.Guest, set, del)
	})
	return err
}

// restartIfNeeded reboots a running guest that has changes pending, when
// asked; otherwise it lists what an earlier run left pending.
func restartIfNeeded(thread *starlark.Thread, be *conn, plan *pve.Plan, restart bool, out *ensured) error {
	res := plan.Guest.Resource()
	if len(out.pending) == 0 {
		return nil
	}
	if !restart || !plan.Guest.Running() {
		if len(plan.StillPending) > 0 {
			runtime.NotePending(thread, res, strings.Join(plan.StillPending, ", "))
		}
		return nil
	}
	rt := runtime.FromThread(thread)
	detail := "apply pending " + strings.Join(out.pending, ", ")
	_, err := runtime.Do(thread, runtime.Change{Resource: res, Action: "restart", Detail: detail}, func() error {
		_, err := be.Client.Power(rt.Context(), plan.Guest, pve.Reboot, nil)
		return err
	})
	if err != nil {
		return err
	}
	out.restarted = true
	out.pending = nil
	out.pendingRestart = false
	return nil
}

// ensureTemplate downloads a container's OS template onto its node when
// the storage lacks it. Parallel converges on one node fetch it once.
func ensureTemplate(thread *starlark.Thread, be *conn, node, volid string) error {
	ctx := runtime.FromThread(thread).Context()
	m := be.Client.TemplateLock(node, volid)
	m.Lock()
	defer m.Unlock()
	have, err := be.Client.HasTemplate(ctx, node, volid)
	if err != nil {
		return err
	}
	res := "template:" + node + "/" + volid
	if _, _, planned := runtime.PlannedAs[bool](be.rt, res); have || planned {
		return nil
	}
	_, err = runtime.Do(thread, runtime.Change{Resource: res, Action: "create", Detail: "download from the appliance index (aplinfo)", Leaves: map[string]any{res: true}}, func() error {
		return be.Client.EnsureTemplate(ctx, node, volid)
	})
	return err
}

func lxcCreateDetail(s *pve.LXCSpec) string {
	cfg := s.CreateConfig()
	delete(cfg, "ostemplate")
	return fmt.Sprintf("on %s from %s: %s", s.Node, s.Template, optionList(cfg))
}

// optionList renders options as "key=value" in key order.
func optionList(cfg pve.Config) string {
	keys := make([]string, 0, len(cfg))
	for k, v := range cfg {
		if v != "" {
			keys = append(keys, k)
		}
	}
	pve.SortKeys(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + cfg[k]
	}
	return strings.Join(parts, " ")
}

// prepareMounts converges the host side of every bind mount with
// host.prepare_mount, which knows datasets, owners and the unprivileged
// id map; data is the site's zfs.persistent_data or None.
func prepareMounts(thread *starlark.Thread, fn string, guest *site.LXC, data starlark.Value) error {
	for i := range guest.MountPoints {
		if _, err := host.PrepareMount(thread, guest.Unprivileged, &guest.MountPoints[i], data); err != nil {
			return fmt.Errorf("%s: mount_points[%d]: %w", fn, i, err)
		}
	}
	return nil
}
