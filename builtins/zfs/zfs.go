// Package zfs is the Starlark `zfs` module: OpenZFS filesystems and snapshots.
package zfs

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"phoenix/internal/machine"
	zfscli "phoenix/internal/zfs"
	"phoenix/runtime"
)

// Family registers zfs with the runtime.
var Family = runtime.Family{Name: "zfs", Module: Module, Sim: SimSetup}

// Module is the zfs module. It runs the zfs command (OpenZFS 2.x, its
// machine-readable forms) through the run's command runner; under --sim
// that command is the simulator of internal/zfs, with its state under
// --root. Names are dataset names ("quickOS/lxc-persistent-data/103");
// changes are declared as resources "zfs:NAME".
//
//	dataset_ensure(name: str, properties: dict = {}, mountpoint: str|None = None) - struct(name, changed, created, updated, mountpoint)
//	get(name: str) - struct(name, used, available, referenced, mountpoint, properties, sources), or None
//	list(prefix: str|None = None) - list of struct(name, used, available, referenced, mountpoint): prefix and the filesystems below it, or all
//	set(name: str, properties: dict) - struct(name, changed, updated)
//	snapshot(name: str, snap: str) - struct(name, dataset, snap, changed)
//	snapshots(name: str) - list of struct(name, dataset, snap, creation), oldest first
//	rollback(name: str, snap: str, confirm: str, destroy_newer: bool = False) - struct(name, snap, changed, destroyed)
//	destroy(name: str, confirm: str, recursive: bool = False) - struct(name, changed, destroyed)
//
// dataset_ensure creates missing parents, each its own change, and sets
// only the properties whose values differ (compared in zfs's literal form,
// so "1G" equals 1073741824 and posixacl equals posix). destroy and
// rollback refuse to run unless confirm repeats the dataset name. A
// snapshot that already exists is unchanged. In a plan, sizes and
// creation times of what would be created are unknown.
var Module = &starlarkstruct.Module{
	Name: "zfs",
	Members: starlark.StringDict{
		"dataset_ensure": starlark.NewBuiltin("zfs.dataset_ensure", datasetEnsure),
		"get":            starlark.NewBuiltin("zfs.get", get),
		"list":           starlark.NewBuiltin("zfs.list", list),
		"set":            starlark.NewBuiltin("zfs.set", set),
		"snapshot":       starlark.NewBuiltin("zfs.snapshot", snapshot),
		"snapshots":      starlark.NewBuiltin("zfs.snapshots", snapshots),
		"rollback":       starlark.NewBuiltin("zfs.rollback", rollback),
		"destroy":        starlark.NewBuiltin("zfs.destroy", destroy),
	},
}

// SimSetup installs the simulated zfs command into a --sim run, once per
// run, with its state under the run's root.
func SimSetup(rt *runtime.Runtime, sr *machine.SimRunner) error {
	sim, err := simOf(rt)
	if err != nil {
		return err
	}
	sr.Handle("zfs", sim.Handler())
	return nil
}

func simOf(rt *runtime.Runtime) (*zfscli.Sim, error) {
	v, err := rt.Backend("zfs-sim", func() (any, error) { return zfscli.NewSim(rt.Root) })
	if err != nil {
		return nil, err
	}
	return v.(*zfscli.Sim), nil
}

// Backend is ZFS as the module uses it: the zfs command's reads and
// changes. Real runs this host's zfs; Sim the same command line answered
// by internal/zfs's simulator, its state under --root.
type Backend interface {
	List(ctx context.Context, name string, recursive bool) ([]zfscli.Dataset, error)
	Lookup(ctx context.Context, name string) (zfscli.Dataset, bool, error)
	Mounts(ctx context.Context, name string, recursive bool) ([]zfscli.Mount, error)
	LookupMount(ctx context.Context, name string) (zfscli.Mount, bool, error)
	Get(ctx context.Context, name string, props ...string) ([]zfscli.Property, error)
	Snapshots(ctx context.Context, name string) ([]zfscli.Snapshot, error)
	Create(ctx context.Context, name string, props map[string]string, parents bool) error
	Set(ctx context.Context, name string, props map[string]string) error
	Snapshot(ctx context.Context, name, snap string) error
	Rollback(ctx context.Context, name, snap string, destroyNewer bool) error
	Destroy(ctx context.Context, name string, recursive bool) error
}

var (
	_ Backend = (*Real)(nil)
	_ Backend = (*Sim)(nil)
)

// Real is this host's zfs command.
type Real struct{ *zfscli.Client }

// Sim is the simulated zfs command of a --sim run.
type Sim struct {
	*zfscli.Client
	Sim *zfscli.Sim
}

func openReal(rt *runtime.Runtime) (Backend, error) {
	return &Real{zfscli.New(rt.Runner)}, nil
}

func openSim(rt *runtime.Runtime) (Backend, error) {
	sim, err := simOf(rt)
	if err != nil {
		return nil, err
	}
	// The simulator must answer; install it if the runtime's hooks have not.
	if sr, ok := rt.Runner.(*machine.SimRunner); ok {
		sr.Handle("zfs", sim.Handler())
	}
	return &Sim{Client: zfscli.New(rt.Runner), Sim: sim}, nil
}

// backend is the run's zfs backend with what its calls share.
type backend struct {
	c     Backend
	rt    *runtime.Runtime
	locks *machine.Locks // per filesystem or snapshot name
}

// planned is a filesystem as a plan leaves it (resource "zfs:NAME").
type planned struct {
	created    bool   // exists only through the plan
	mountpoint string // as it will be: a path, "none", "legacy"; "" if unknown
	// props are the declared properties: all a created filesystem has,
	// those set on an existing one.
	props map[string]string
}

// plannedSnap is a snapshot a plan takes ("zfs:NAME@SNAP"); order keeps
// the plan's snapshots in the order they were taken.
type plannedSnap struct{ order int64 }

var snapOrder atomic.Int64

func backendOf(thread *starlark.Thread) (*backend, error) {
	rt := runtime.FromThread(thread)
	c, err := runtime.UseBackend(rt, "zfs", openReal, openSim)
	if err != nil {
		return nil, err
	}
	v, _ := rt.Backend("zfs:locks", func() (any, error) { return &machine.Locks{}, nil })
	return &backend{c: c, rt: rt, locks: v.(*machine.Locks)}, nil
}

// view is a filesystem as this run sees it.
type view struct {
	exists     bool
	planned    bool // exists only through this run's declared changes
	mountpoint string
}

// lookup reads a filesystem from zfs, then as the plan leaves it.
func (b *backend) lookup(ctx context.Context, name string) (view, error) {
	// Name and mountpoint only: used, avail and refer make zfs account
	// for the space of the whole pool.
	d, ok, err := b.c.LookupMount(ctx, name)
	if err != nil {
		return view{}, err
	}
	p, gone, isPlanned := runtime.PlannedAs[planned](b.rt, "zfs:"+name)
	switch {
	case isPlanned && (p.created || !ok):
		return view{exists: true, planned: true, mountpoint: p.mountpoint}, nil
	case isPlanned:
		return view{exists: true, mountpoint: p.mountpoint}, nil
	case gone || !ok:
		return view{}, nil
	}
	return view{exists: true, mountpoint: d.Mountpoint}, nil
}

// plannedOf is what the plan declared for an existing or planned
// filesystem (an empty record when nothing).
func (b *backend) plannedOf(name string, v view) planned {
	p, _, ok := runtime.PlannedAs[planned](b.rt, "zfs:"+name)
	if !ok {
		p = planned{created: v.planned, mountpoint: v.mountpoint}
	}
	if p.props == nil {
		p.props = map[string]string{}
	}
	return p
}

// current reads the literal values of props, then the plan's; a planned
// filesystem knows only what was declared for it.
func (b *backend) current(ctx context.Context, name string, v view, props []string) (map[string]string, error) {
	cur := map[string]string{}
	if !v.planned {
		ps, err := b.c.Get(ctx, name, props...)
		if err != nil {
			return nil, err
		}
		for _, p := range ps {
			if !p.None() {
				cur[p.Name] = p.Value
			}
		}
	}
	for k, x := range b.plannedOf(name, v).props {
		cur[k] = x
	}
	return cur, nil
}

// snapshotsOf lists a filesystem's snapshots as this run sees them:
// names (without the dataset) and creation times (-1 if planned).
func (b *backend) snapshotsOf(ctx context.Context, name string, v view) ([]zfscli.Snapshot, error) {
	var out []zfscli.Snapshot
	if !v.planned {
		ss, err := b.c.Snapshots(ctx, name)
		if err != nil {
			return nil, err
		}
		out = ss
	}
	keys, states := b.rt.PlannedUnder("zfs:" + name + "@")
	have := map[string]bool{}
	for _, s := range out {
		have[s.Snap] = true
	}
	var added []zfscli.Snapshot
	order := map[string]int64{}
	for _, k := range keys {
		if ps, ok := states[k].(plannedSnap); ok {
			full := strings.TrimPrefix(k, "zfs:")
			snap := strings.TrimPrefix(full, name+"@")
			order[full] = ps.order
			if !have[snap] {
				added = append(added, zfscli.Snapshot{Name: full, Dataset: name, Snap: snap, Creation: -1})
			}
		}
	}
	sort.SliceStable(added, func(i, j int) bool { return order[added[i].Name] < order[added[j].Name] })
	out = append(out, added...)
	kept := out[:0]
	for _, s := range out {
		if states["zfs:"+s.Name] != runtime.Gone {
			kept = append(kept, s)
		}
	}
	return kept, nil
}

// gone is what a plan leaves of destroyed filesystems and snapshots.
func gone(names ...string) map[string]any {
	out := map[string]any{}
	for _, n := range names {
		out["zfs:"+n] = runtime.Gone
	}
	return out
}

// EnsureResult is what Ensure did.
type EnsureResult struct {
	Name       string
	Changed    bool
	Created    bool
	Updated    []string // properties set, sorted
	Mountpoint string   // as it is or will be; "" if unknown
}

// Ensure converges one filesystem: it creates it (and missing parents,
// each its own change) with props, or sets the props whose values differ.
// It is dataset_ensure for Go callers such as host.prepare_mount. Parallel
// steps may ensure one dataset: one creates it, the others find it made.
func Ensure(thread *starlark.Thread, name string, props map[string]string) (*EnsureResult, error) {
	if err := zfscli.CheckName(name, false); err != nil {
		return nil, err
	}
	want, err := normalize(props)
	if err != nil {
		return nil, err
	}
	b, err := backendOf(thread)
	if err != nil {
		return nil, err
	}
	defer b.locks.Hold(name)()
	ctx := runtime.FromThread(thread).Context()
	v, err := b.lookup(ctx, name)
	if err != nil {
		return nil, err
	}
	if v.exists {
		return b.update(thread, name, v, want)
	}
	pool := strings.SplitN(name, "/", 2)[0]
	if pool == name {
		return nil, fmt.Errorf("%s is a pool: zpool creates pools, not zfs", name)
	}
	if pv, err := b.lookup(ctx, pool); err != nil {
		return nil, err
	} else if !pv.exists {
		return nil, fmt.Errorf("pool %s does not exist", pool)
	}
	var missing []string
	parentMP := ""
	for a := path.Dir(name); ; a = path.Dir(a) {
		av, err := b.lookup(ctx, a)
		if err != nil {
			return nil, err
		}
		if av.exists {
			// a and what is above it, top down, as met: see runtime.Touched.
			for i, c := range a {
				if c == '/' {
					runtime.Touched(thread, "zfs:"+a[:i])
				}
			}
			runtime.Touched(thread, "zfs:"+a)
			parentMP = av.mountpoint
			break
		}
		missing = append([]string{a}, missing...)
	}
	for _, a := range missing {
		if parentMP, err = b.createParent(thread, a, parentMP); err != nil {
			return nil, err
		}
	}
	detail := "filesystem"
	for _, k := range sortedKeys(want) {
		detail += ", " + k + "=" + zfscli.HumanValue(k, want[k])
	}
	mp, err := b.create(thread, name, parentMP, want, detail)
	if err != nil {
		return nil, err
	}
	return &EnsureResult{Name: name, Changed: true, Created: true, Updated: sortedKeys(want), Mountpoint: mp}, nil
}

// create declares and makes one filesystem under a parent mounted at
// parentMP; it returns the new filesystem's mountpoint.
func (b *backend) create(thread *starlark.Thread, name, parentMP string, props map[string]string, detail string) (string, error) {
	rt := runtime.FromThread(thread)
	mp, ok := props["mountpoint"]
	if !ok {
		mp = inherit(parentMP, path.Base(name))
	}
	leaves := map[string]any{"zfs:" + name: planned{created: true, mountpoint: mp, props: copyMap(props)}}
	if cm, ok := props["canmount"]; !ok || cm == "on" {
		planDir(rt, leaves, mp)
	}
	_, err := runtime.Do(thread, runtime.Change{Resource: "zfs:" + name, Action: "create", Detail: detail, Leaves: leaves, After: props}, func() error {
		return b.c.Create(rt.Context(), name, props, false)
	})
	if err != nil {
		return "", err
	}
	return mp, nil
}

// createParent creates a missing parent a, unless a parallel
// step has made it since it was looked up; it returns a's mountpoint.
// Locks are taken child before parent, so two steps cannot deadlock.
func (b *backend) createParent(thread *starlark.Thread, a, parentMP string) (string, error) {
	defer b.locks.Hold(a)()
	v, err := b.lookup(runtime.FromThread(thread).Context(), a)
	if err != nil {
		return "", err
	}
	if v.exists {
		runtime.Touched(thread, "zfs:"+a)
		return v.mountpoint, nil
	}
	// The detail does not name the child: in parallel steps, which one
	// creates a shared parent is a race, and the plan must not show it.
	return b.create(thread, a, parentMP, nil, "filesystem (missing parent)")
}

// inherit is the mountpoint a child named comp inherits.
func inherit(parentMP, comp string) string {
	switch parentMP {
	case "", "none", "legacy":
		return parentMP
	}
	return path.Join(parentMP, comp)
}

// planDir adds to a change's planned state the mountpoint directory zfs
// makes (0755, root's), so that later reads in the plan see it.
func planDir(rt *runtime.Runtime, leaves map[string]any, mp string) {
	if !strings.HasPrefix(mp, "/") {
		return
	}
	h, err := rt.Root.Resolve(mp)
	if err != nil {
		return
	}
	if f, d, err := rt.Current(mp); err == nil && (f != nil || d != nil) {
		return // already there: zfs mounts over it
	}
	leaves["dir:"+rt.Root.Rel(h)] = runtime.PlannedDir{Mode: 0o755}
}

// update sets the properties whose values differ.
func (b *backend) update(thread *starlark.Thread, name string, v view, want map[string]string) (*EnsureResult, error) {
	rt := runtime.FromThread(thread)
	keys := sortedKeys(want)
	res := &EnsureResult{Name: name, Mountpoint: v.mountpoint}
	if len(keys) == 0 {
		runtime.Unchanged(thread, "zfs:"+name)
		return res, nil
	}
	cur, err := b.current(rt.Context(), name, v, keys)
	if err != nil {
		return nil, err
	}
	diff := map[string]string{}
	var details []string
	for _, k := range keys {
		c, ok := cur[k]
		if ok && c == want[k] {
			continue
		}
		if !ok {
			c = "(unset)"
		}
		diff[k] = want[k]
		details = append(details, fmt.Sprintf("%s: %s -> %s", k, zfscli.HumanValue(k, c), zfscli.HumanValue(k, want[k])))
	}
	if len(diff) == 0 {
		runtime.Unchanged(thread, "zfs:"+name)
		return res, nil
	}
	before, afterProps := map[string]string{}, map[string]string{}
	for k := range diff {
		before[k], afterProps[k] = cur[k], want[k]
	}
	after := b.plannedOf(name, v)
	after.props = copyMap(after.props)
	for k, x := range diff {
		after.props[k] = x
	}
	leaves := map[string]any{}
	if mp, ok := diff["mountpoint"]; ok {
		after.mountpoint = mp
		planDir(rt, leaves, mp)
	}
	leaves["zfs:"+name] = after
	_, err = runtime.Do(thread, runtime.Change{Resource: "zfs:" + name, Action: "update", Detail: strings.Join(details, ", "), Leaves: leaves, Before: before, After: afterProps}, func() error {
		return b.c.Set(rt.Context(), name, diff)
	})
	if err != nil {
		return nil, err
	}
	if mp, ok := diff["mountpoint"]; ok {
		res.Mountpoint = mp
	}
	res.Changed, res.Updated = true, sortedKeys(diff)
	return res, nil
}

func normalize(props map[string]string) (map[string]string, error) {
	out := map[string]string{}
	for k, v := range props {
		name, val, err := zfscli.NormalizeProperty(k, v)
		if err != nil {
			return nil, fmt.Errorf("properties: %w", err)
		}
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("properties: %s given twice (under two names)", name)
		}
		out[name] = val
	}
	return out, nil
}

func sortedKeys[V any](m map[string]V) []string { return slices.Sorted(maps.Keys(m)) }

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// Properties reads a properties dict: string keys; string, int or bool
// values (a bool is on/off). None is no properties.
func Properties(v starlark.Value) (map[string]string, error) {
	out := map[string]string{}
	if v == nil || v == starlark.None {
		return out, nil
	}
	d, ok := v.(*starlark.Dict)
	if !ok {
		return nil, fmt.Errorf("properties: want dict, got %s", v.Type())
	}
	for _, kv := range d.Items() {
		k, ok := kv[0].(starlark.String)
		if !ok {
			return nil, fmt.Errorf("properties: key %s is not a string", kv[0])
		}
		if err := runtime.Known(kv[1], "properties["+string(k)+"]"); err != nil {
			return nil, err
		}
		switch x := kv[1].(type) {
		case starlark.String:
			out[string(k)] = string(x)
		case starlark.Int:
			out[string(k)] = x.String()
		case starlark.Bool:
			out[string(k)] = map[bool]string{true: "on", false: "off"}[bool(x)]
		default:
			return nil, fmt.Errorf("properties[%q]: want string, int or bool, got %s", string(k), x.Type())
		}
	}
	return out, nil
}

func wrap(b *starlark.Builtin, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", b.Name(), err)
}

// mpValue is a mountpoint for Starlark; unknown when a plan cannot know it.
func mpValue(thread *starlark.Thread, name, mp string) starlark.Value {
	if mp == "" {
		return runtime.NewUnknown(thread, "zfs mountpoint of "+name)
	}
	return starlark.String(mp)
}

func datasetEnsure(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var name string
	var propsV, mpV starlark.Value = starlark.None, starlark.None
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "name", &name, "properties?", &propsV, "mountpoint?", &mpV); err != nil {
		return nil, err
	}
	props, err := Properties(propsV)
	if err != nil {
		return nil, wrap(b, err)
	}
	if mpV != starlark.None {
		mp, ok := mpV.(starlark.String)
		if !ok {
			return nil, wrap(b, fmt.Errorf("mountpoint: want string, got %s", mpV.Type()))
		}
		if _, dup := props["mountpoint"]; dup {
			return nil, wrap(b, errors.New("mountpoint given both as an argument and in properties"))
		}
		props["mountpoint"] = string(mp)
	}
	r, err := Ensure(thread, name, props)
	if err != nil {
		return nil, wrap(b, err)
	}
	return runtime.Struct(starlark.StringDict{
		"name":       starlark.String(r.Name),
		"changed":    starlark.Bool(r.Changed),
		"created":    starlark.Bool(r.Created),
		"updated":    runtime.Strings(r.Updated),
		"mountpoint": mpValue(thread, name, r.Mountpoint),
	}), nil
}

func set(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var name string
	var propsV starlark.Value
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "name", &name, "properties", &propsV); err != nil {
		return nil, err
	}
	props, err := Properties(propsV)
	if err != nil {
		return nil, wrap(b, err)
	}
	want, err := normalize(props)
	if err != nil {
		return nil, wrap(b, err)
	}
	be, v, err := existing(thread, name, "")
	if err != nil {
		return nil, wrap(b, err)
	}
	// Held from reading the properties to setting them.
	defer be.locks.Hold(name)()
	r, err := be.update(thread, name, v, want)
	if err != nil {
		return nil, wrap(b, err)
	}
	return runtime.Struct(starlark.StringDict{
		"name":    starlark.String(name),
		"changed": starlark.Bool(r.Changed),
		"updated": runtime.Strings(r.Updated),
	}), nil
}

func get(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var name string
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "name", &name); err != nil {
		return nil, err
	}
	if err := zfscli.CheckName(name, false); err != nil {
		return nil, wrap(b, err)
	}
	be, err := backendOf(thread)
	if err != nil {
		return nil, wrap(b, err)
	}
	ctx := runtime.FromThread(thread).Context()
	v, err := be.lookup(ctx, name)
	if err != nil || !v.exists {
		return starlark.None, wrap(b, err)
	}
	props, sources := starlark.NewDict(8), starlark.NewDict(8)
	if v.planned {
		unknown := func(what string) starlark.Value { return runtime.NewUnknown(thread, "zfs.get("+name+")."+what) }
		ps, err := be.plannedProps(ctx, name, v)
		if err != nil {
			return nil, wrap(b, err)
		}
		for _, k := range sortedKeys(ps) {
			var val starlark.Value = starlark.String(ps[k].value)
			if !ps[k].known {
				val = unknown("properties[" + k + "]")
			}
			props.SetKey(starlark.String(k), val)
			sources.SetKey(starlark.String(k), starlark.String(ps[k].source))
		}
		return runtime.Struct(starlark.StringDict{
			"name": starlark.String(name), "used": unknown("used"), "available": unknown("available"),
			"referenced": unknown("referenced"), "mountpoint": mpValue(thread, name, v.mountpoint),
			"properties": props, "sources": sources,
		}), nil
	}
	ps, err := be.c.Get(ctx, name)
	if err != nil {
		return nil, wrap(b, err)
	}
	declared := be.plannedOf(name, v).props
	space := map[string]uint64{}
	for _, p := range ps {
		val, src := p.Value, p.Source.String()
		switch p.Name {
		case "used", "available", "referenced":
			n, err := strconv.ParseUint(p.Value, 10, 64)
			if err != nil {
				return nil, wrap(b, fmt.Errorf("zfs get %s: %s: %w", name, p.Name, err))
			}
			space[p.Name] = n
		}
		if x, ok := declared[p.Name]; ok {
			val, src = x, "local"
		}
		props.SetKey(starlark.String(p.Name), starlark.String(val))
		sources.SetKey(starlark.String(p.Name), starlark.String(src))
	}
	return runtime.Struct(starlark.StringDict{
		"name":       starlark.String(name),
		"used":       starlark.MakeUint64(space["used"]),
		"available":  starlark.MakeUint64(space["available"]),
		"referenced": starlark.MakeUint64(space["referenced"]),
		"mountpoint": starlark.String(v.mountpoint),
		"properties": props,
		"sources":    sources,
	}), nil
}

type propView struct {
	value, source string
	known         bool
}

// plannedProps is what zfs get would show of a filesystem the plan
// creates: what it inherits from the nearest existing ancestor and the
// planned ones between, its own declared properties as local, defaults
// for the rest; computed values (used, creation) are unknown.
func (b *backend) plannedProps(ctx context.Context, name string, v view) (map[string]propView, error) {
	var chain []string // planned ancestors, top down
	base := ""
	for a := path.Dir(name); a != "." && a != "/"; a = path.Dir(a) {
		av, err := b.lookup(ctx, a)
		if err != nil {
			return nil, err
		}
		if av.exists && !av.planned {
			base = a
			break
		}
		chain = append([]string{a}, chain...)
	}
	out := map[string]propView{}
	if base == "" {
		return out, nil
	}
	ps, err := b.c.Get(ctx, base)
	if err != nil {
		return nil, err
	}
	baseSet := b.plannedOf(base, view{exists: true}).props
	for _, p := range ps {
		switch {
		case p.Source.Kind == zfscli.SourceNone:
			out[p.Name] = propView{source: "-"}
		case zfscli.Inheritable(p.Name):
			pv := propView{value: p.Value, source: p.Source.String(), known: true}
			if x, ok := baseSet[p.Name]; ok {
				pv.value, pv.source = x, "local"
			}
			if pv.source == "local" || pv.source == string(zfscli.SourceReceived) {
				pv.source = "inherited from " + base
			}
			out[p.Name] = pv
		default:
			if d, ok := zfscli.Default(p.Name); ok {
				out[p.Name] = propView{value: d, source: "default", known: true}
			} else {
				out[p.Name] = propView{value: p.Value, source: p.Source.String()}
			}
		}
	}
	for k := range baseSet {
		if _, ok := out[k]; !ok && zfscli.Inheritable(k) {
			out[k] = propView{value: baseSet[k], source: "inherited from " + base, known: true}
		}
	}
	for _, a := range chain {
		for k, x := range b.plannedOf(a, view{planned: true}).props {
			if zfscli.Inheritable(k) {
				out[k] = propView{value: x, source: "inherited from " + a, known: true}
			}
		}
	}
	for k, x := range b.plannedOf(name, v).props {
		out[k] = propView{value: x, source: "local", known: true}
	}
	if mp, ok := out["mountpoint"]; ok {
		mp.value, mp.known = v.mountpoint, v.mountpoint != ""
		out["mountpoint"] = mp
	}
	if _, ok := out["type"]; ok {
		out["type"] = propView{value: "filesystem", source: "-", known: true}
	}
	return out, nil
}

func list(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var prefix string
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "prefix?", &prefix); err != nil {
		return nil, err
	}
	if prefix != "" {
		if err := zfscli.CheckName(prefix, false); err != nil {
			return nil, wrap(b, err)
		}
	}
	be, err := backendOf(thread)
	if err != nil {
		return nil, wrap(b, err)
	}
	ds, err := be.c.List(runtime.FromThread(thread).Context(), prefix, prefix != "")
	if errors.Is(err, zfscli.ErrNotExist) {
		ds, err = nil, nil
	}
	if err != nil {
		return nil, wrap(b, err)
	}
	under := func(n string) bool { return prefix == "" || n == prefix || strings.HasPrefix(n, prefix+"/") }
	rows := map[string]starlark.Value{}
	plan := be.plannedFilesystems()
	for _, d := range ds {
		mp := d.Mountpoint
		if p, ok := plan[d.Name]; ok {
			if p == nil || p.created {
				continue // destroyed, or made anew, by the plan
			}
			mp = p.mountpoint
		}
		rows[d.Name] = runtime.Struct(starlark.StringDict{
			"name": starlark.String(d.Name), "used": starlark.MakeUint64(d.Used),
			"available": starlark.MakeUint64(d.Avail), "referenced": starlark.MakeUint64(d.Refer),
			"mountpoint": starlark.String(mp),
		})
	}
	for n, m := range plan {
		if _, real := rows[n]; real || m == nil || !under(n) {
			continue
		}
		unknown := func(what string) starlark.Value { return runtime.NewUnknown(thread, "zfs.list: "+what+" of "+n) }
		rows[n] = runtime.Struct(starlark.StringDict{
			"name": starlark.String(n), "used": unknown("used"), "available": unknown("available"),
			"referenced": unknown("referenced"), "mountpoint": mpValue(thread, n, m.mountpoint),
		})
	}
	names := sortedKeys(rows)
	out := make([]starlark.Value, len(names))
	for i, n := range names {
		out[i] = rows[n]
	}
	return starlark.NewList(out), nil
}

// plannedFilesystems are the filesystems the plan declared, by name: nil
// for one it destroys.
func (b *backend) plannedFilesystems() map[string]*planned {
	out := map[string]*planned{}
	_, states := b.rt.PlannedUnder("zfs:")
	for k, v := range states {
		n := strings.TrimPrefix(k, "zfs:")
		if strings.Contains(n, "@") {
			continue
		}
		switch p := v.(type) {
		case planned:
			out[n] = &p
		default:
			if v == runtime.Gone {
				out[n] = nil
			}
		}
	}
	return out
}

// existing checks name (and snap, when given) and returns the run's
// backend and its view of the filesystem, which must exist.
func existing(thread *starlark.Thread, name, snap string) (*backend, view, error) {
	if err := zfscli.CheckName(name, false); err != nil {
		return nil, view{}, err
	}
	if snap != "" {
		if err := zfscli.CheckSnapName(snap); err != nil {
			return nil, view{}, err
		}
	}
	be, err := backendOf(thread)
	if err != nil {
		return nil, view{}, err
	}
	v, err := be.lookup(runtime.FromThread(thread).Context(), name)
	if err != nil {
		return nil, view{}, err
	}
	if !v.exists {
		return nil, view{}, fmt.Errorf("%s does not exist", name)
	}
	return be, v, nil
}

func snapshot(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var name, snap string
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "name", &name, "snap", &snap); err != nil {
		return nil, err
	}
	changed, err := Snapshot(thread, name, snap)
	if err != nil {
		return nil, wrap(b, err)
	}
	return runtime.Struct(starlark.StringDict{
		"name": starlark.String(name + "@" + snap), "dataset": starlark.String(name),
		"snap": starlark.String(snap), "changed": starlark.Bool(changed),
	}), nil
}

// Snapshot takes name@snap unless it exists (then it is unchanged): the
// Go side of zfs.snapshot, for builtins that snapshot before a risky step.
func Snapshot(thread *starlark.Thread, name, snap string) (changed bool, err error) {
	be, v, err := existing(thread, name, snap)
	if err != nil {
		return false, err
	}
	// Held from reading the snapshots to taking this one.
	full := name + "@" + snap
	defer be.locks.Hold(full)()
	rt := runtime.FromThread(thread)
	ss, err := be.snapshotsOf(rt.Context(), name, v)
	if err != nil {
		return false, err
	}
	for _, s := range ss {
		if s.Snap == snap {
			runtime.Unchanged(thread, "zfs:"+full)
			return false, nil
		}
	}
	leaves := map[string]any{"zfs:" + full: plannedSnap{order: snapOrder.Add(1)}}
	_, err = runtime.Do(thread, runtime.Change{Resource: "zfs:" + full, Action: "create", Detail: "snapshot of " + name, Leaves: leaves}, func() error {
		return be.c.Snapshot(rt.Context(), name, snap)
	})
	if err != nil {
		return false, err
	}
	return true, nil
}

func snapshots(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var name string
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "name", &name); err != nil {
		return nil, err
	}
	be, v, err := existing(thread, name, "")
	if err != nil {
		return nil, wrap(b, err)
	}
	ss, err := be.snapshotsOf(runtime.FromThread(thread).Context(), name, v)
	if err != nil {
		return nil, wrap(b, err)
	}
	out := make([]starlark.Value, len(ss))
	for i, s := range ss {
		var created starlark.Value = starlark.MakeInt64(s.Creation)
		if s.Creation < 0 {
			created = runtime.NewUnknown(thread, "zfs creation of "+s.Name)
		}
		out[i] = runtime.Struct(starlark.StringDict{
			"name": starlark.String(s.Name), "dataset": starlark.String(s.Dataset),
			"snap": starlark.String(s.Snap), "creation": created,
		})
	}
	return starlark.NewList(out), nil
}

func rollback(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var name, snap, confirm string
	destroyNewer := false
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "name", &name, "snap", &snap, "confirm?", &confirm, "destroy_newer?", &destroyNewer); err != nil {
		return nil, err
	}
	if confirm != name {
		return nil, wrap(b, fmt.Errorf("rolling back discards every change to %s since @%s: confirm with confirm = %q", name, snap, name))
	}
	be, v, err := existing(thread, name, snap)
	if err != nil {
		return nil, wrap(b, err)
	}
	rt := runtime.FromThread(thread)
	ss, err := be.snapshotsOf(rt.Context(), name, v)
	if err != nil {
		return nil, wrap(b, err)
	}
	at := -1
	for i, s := range ss {
		if s.Snap == snap {
			at = i
		}
	}
	if at < 0 {
		return nil, wrap(b, fmt.Errorf("snapshot %s@%s does not exist", name, snap))
	}
	var newer []string
	for _, s := range ss[at+1:] {
		newer = append(newer, s.Name)
	}
	if len(newer) > 0 && !destroyNewer {
		return nil, wrap(b, fmt.Errorf("%s has snapshots newer than @%s (%s): pass destroy_newer = True to destroy them", name, snap, strings.Join(newer, ", ")))
	}
	detail := "rollback to @" + snap
	if len(newer) > 0 {
		detail += "; destroys newer snapshots " + strings.Join(newer, ", ")
	}
	_, err = runtime.Do(thread, runtime.Change{Resource: "zfs:" + name, Action: "update", Detail: detail, Leaves: gone(newer...)}, func() error {
		return be.c.Rollback(rt.Context(), name, snap, len(newer) > 0)
	})
	if err != nil {
		return nil, wrap(b, err)
	}
	return runtime.Struct(starlark.StringDict{
		"name": starlark.String(name), "snap": starlark.String(snap),
		"changed": starlark.True, "destroyed": runtime.Strings(newer),
	}), nil
}

func destroy(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var name, confirm string
	recursive := false
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "name", &name, "confirm?", &confirm, "recursive?", &recursive); err != nil {
		return nil, err
	}
	if confirm != name {
		return nil, wrap(b, fmt.Errorf("destroying %s needs the name spelled out: confirm = %q", name, name))
	}
	rt := runtime.FromThread(thread)
	ctx := rt.Context()
	result := func(changed bool, destroyed []string) starlark.Value {
		return runtime.Struct(starlark.StringDict{
			"name": starlark.String(name), "changed": starlark.Bool(changed), "destroyed": runtime.Strings(destroyed),
		})
	}
	fsName, snap, isSnap := strings.Cut(name, "@")
	if err := zfscli.CheckName(name, true); err != nil {
		return nil, wrap(b, err)
	}
	be, err := backendOf(thread)
	if err != nil {
		return nil, wrap(b, err)
	}
	defer be.locks.Hold(name)()
	v, err := be.lookup(ctx, fsName)
	if err != nil {
		return nil, wrap(b, err)
	}
	if !v.exists {
		runtime.Unchanged(thread, "zfs:"+name)
		return result(false, nil), nil
	}
	var deps []string
	if isSnap {
		ss, err := be.snapshotsOf(ctx, fsName, v)
		if err != nil {
			return nil, wrap(b, err)
		}
		found := false
		for _, s := range ss {
			found = found || s.Snap == snap
		}
		if !found {
			runtime.Unchanged(thread, "zfs:"+name)
			return result(false, nil), nil
		}
	} else {
		if !strings.Contains(name, "/") {
			return nil, wrap(b, fmt.Errorf("%s is a pool's root filesystem, which zfs cannot destroy", name))
		}
		if deps, err = be.dependents(ctx, name); err != nil {
			return nil, wrap(b, err)
		}
		if len(deps) > 0 && !recursive {
			return nil, wrap(b, fmt.Errorf("%s has children (%s): pass recursive = True to destroy them too", name, strings.Join(deps, ", ")))
		}
	}
	detail := "filesystem"
	if isSnap {
		detail = "snapshot"
	}
	if len(deps) > 0 {
		detail += " and " + strings.Join(deps, ", ")
	}
	destroyed := append(deps, name)
	_, err = runtime.Do(thread, runtime.Change{Resource: "zfs:" + name, Action: "delete", Detail: detail, Leaves: gone(destroyed...)}, func() error {
		return be.c.Destroy(ctx, name, recursive && len(deps) > 0)
	})
	if err != nil {
		return nil, wrap(b, err)
	}
	return result(true, destroyed), nil
}

// dependents are what destroy -r would remove before name: descendants
// and every snapshot of name or of them, children first.
func (b *backend) dependents(ctx context.Context, name string) ([]string, error) {
	var fss []string
	ds, err := b.c.Mounts(ctx, name, true)
	if err != nil && !errors.Is(err, zfscli.ErrNotExist) {
		return nil, err
	}
	seen := map[string]bool{}
	for _, d := range ds {
		fss, seen[d.Name] = append(fss, d.Name), true
	}
	for n, p := range b.plannedFilesystems() {
		if p != nil && !seen[n] && (n == name || strings.HasPrefix(n, name+"/")) {
			fss = append(fss, n)
		}
	}
	// Deepest first, as zfs reports them.
	sort.Slice(fss, func(i, j int) bool { return fss[i] > fss[j] })
	var out []string
	for _, f := range fss {
		v, err := b.lookup(ctx, f)
		if err != nil {
			return nil, err
		}
		if !v.exists {
			continue
		}
		ss, err := b.snapshotsOf(ctx, f, v)
		if err != nil {
			return nil, err
		}
		for _, s := range ss {
			out = append(out, s.Name)
		}
		if f != name {
			out = append(out, f)
		}
	}
	return out, nil
}

// Containing returns the deepest filesystem, existing or declared in this
// run, whose mountpoint is the site path p or a directory above it.
func Containing(thread *starlark.Thread, p string) (name, mountpoint string, err error) {
	be, err := backendOf(thread)
	if err != nil {
		return "", "", err
	}
	ds, err := be.c.Mounts(runtime.FromThread(thread).Context(), "", false)
	if err != nil {
		return "", "", err
	}
	mps := map[string]string{}
	for _, d := range ds {
		mps[d.Name] = d.Mountpoint
	}
	for n, p := range be.plannedFilesystems() {
		if p == nil {
			delete(mps, n)
		} else {
			mps[n] = p.mountpoint
		}
	}
	for _, n := range sortedKeys(mps) {
		mp := mps[n]
		if !strings.HasPrefix(mp, "/") || !(p == mp || mp == "/" || strings.HasPrefix(p, mp+"/")) {
			continue
		}
		if len(mp) > len(mountpoint) || len(mp) == len(mountpoint) && len(n) > len(name) {
			name, mountpoint = n, mp
		}
	}
	if name == "" {
		return "", "", fmt.Errorf("no ZFS filesystem is mounted at %s or above it", p)
	}
	return name, mountpoint, nil
}
