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
	"strings"
	"sync"

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
	v, err := rt.Backend("zfs-sim", func() (any, error) { return zfscli.NewSim(rt.Root) })
	if err != nil {
		return err
	}
	sr.Handle("zfs", v.(*zfscli.Sim).Handler())
	return nil
}

// backend is the run's zfs client plus what this run has declared, so
// later reads in a plan see it (the runtime's rule for planned state).
type backend struct {
	c     *zfscli.Client
	mu    sync.Mutex
	made  map[string]*made             // filesystems declared created
	set   map[string]map[string]string // properties declared set on existing filesystems
	snap  map[string][]string          // snapshots declared, by filesystem
	gone  map[string]bool              // filesystems and snapshots declared destroyed
	locks machine.Locks                // per filesystem or snapshot name
}

type made struct {
	mountpoint string // as it will be: a path, "none", "legacy"; "" if unknown
	props      map[string]string
}

// forget drops what a discarded plan declared.
func (b *backend) forgetPlan() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.made = map[string]*made{}
	b.set = map[string]map[string]string{}
	b.snap = map[string][]string{}
	b.gone = map[string]bool{}
}

func backendOf(thread *starlark.Thread) (*backend, error) {
	rt := runtime.FromThread(thread)
	v, err := rt.Backend("zfs", func() (any, error) {
		// Under --sim the simulator must answer; install it if the
		// runtime's hooks have not.
		if sr, ok := rt.Runner.(*machine.SimRunner); ok && rt.Opts.Sim {
			if err := SimSetup(rt, sr); err != nil {
				return nil, err
			}
		}
		b := &backend{c: zfscli.New(rt.Runner)}
		b.forgetPlan()
		rt.OnResetPlan(b.forgetPlan)
		return b, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*backend), nil
}

// view is a filesystem as this run sees it.
type view struct {
	exists     bool
	planned    bool // exists only through this run's declared changes
	ds         zfscli.Dataset
	mountpoint string
}

func (b *backend) lookup(ctx context.Context, name string) (view, error) {
	b.mu.Lock()
	gone, m, set := b.gone[name], b.made[name], b.set[name]
	b.mu.Unlock()
	if gone {
		return view{}, nil
	}
	d, ok, err := b.c.Lookup(ctx, name)
	switch {
	case err != nil:
		return view{}, err
	case ok:
		mp := d.Mountpoint
		if v, ok := set["mountpoint"]; ok {
			mp = v
		}
		return view{exists: true, ds: d, mountpoint: mp}, nil
	case m != nil:
		return view{exists: true, planned: true, mountpoint: m.mountpoint}, nil
	}
	return view{}, nil
}

// current reads the literal values of props; a planned filesystem knows
// only what was declared for it.
func (b *backend) current(ctx context.Context, name string, v view, props []string) (map[string]string, error) {
	cur := map[string]string{}
	if v.planned {
		b.mu.Lock()
		for k, x := range b.made[name].props {
			cur[k] = x
		}
		b.mu.Unlock()
		return cur, nil
	}
	ps, err := b.c.Get(ctx, name, props...)
	if err != nil {
		return nil, err
	}
	for _, p := range ps {
		if !p.None() {
			cur[p.Name] = p.Value
		}
	}
	b.mu.Lock()
	for k, x := range b.set[name] {
		cur[k] = x
	}
	b.mu.Unlock()
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
	b.mu.Lock()
	defer b.mu.Unlock()
	have := map[string]bool{}
	for _, s := range out {
		have[s.Snap] = true
	}
	for _, s := range b.snap[name] {
		if !have[s] {
			out = append(out, zfscli.Snapshot{Name: name + "@" + s, Dataset: name, Snap: s, Creation: -1})
		}
	}
	kept := out[:0]
	for _, s := range out {
		if !b.gone[s.Name] {
			kept = append(kept, s)
		}
	}
	return kept, nil
}

func (b *backend) forget(names ...string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, n := range names {
		b.gone[n] = true
		delete(b.made, n)
		delete(b.set, n)
		delete(b.snap, n)
		if ds, s, ok := strings.Cut(n, "@"); ok {
			b.snap[ds] = remove(b.snap[ds], s)
		}
	}
}

func remove(l []string, x string) []string {
	out := l[:0]
	for _, s := range l {
		if s != x {
			out = append(out, s)
		}
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
		detail += ", " + k + "=" + want[k]
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
	err := runtime.Do(thread, runtime.Change{Resource: "zfs:" + name, Action: "create", Detail: detail}, func() error {
		return b.c.Create(rt.Context(), name, props, false)
	})
	if err != nil {
		return "", err
	}
	b.mu.Lock()
	b.made[name] = &made{mountpoint: mp, props: copyMap(props)}
	delete(b.gone, name)
	b.mu.Unlock()
	if cm, ok := props["canmount"]; !ok || cm == "on" {
		planDir(rt, mp)
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

// planDir tells a plan that a mountpoint directory will exist, so that
// directories planned inside it are not planned twice.
func planDir(rt *runtime.Runtime, mp string) {
	if !strings.HasPrefix(mp, "/") {
		return
	}
	if h, err := rt.Root.Resolve(mp); err == nil {
		rt.PlanDir(h)
	}
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
		details = append(details, fmt.Sprintf("%s: %s -> %s", k, c, want[k]))
	}
	if len(diff) == 0 {
		runtime.Unchanged(thread, "zfs:"+name)
		return res, nil
	}
	err = runtime.Do(thread, runtime.Change{Resource: "zfs:" + name, Action: "update", Detail: strings.Join(details, ", ")}, func() error {
		return b.c.Set(rt.Context(), name, diff)
	})
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	if m := b.made[name]; v.planned && m != nil {
		for k, x := range diff {
			m.props[k] = x
		}
	} else {
		if b.set[name] == nil {
			b.set[name] = map[string]string{}
		}
		for k, x := range diff {
			b.set[name][k] = x
		}
	}
	b.mu.Unlock()
	if mp, ok := diff["mountpoint"]; ok {
		res.Mountpoint = mp
		planDir(rt, mp)
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
		cur, _ := be.current(ctx, name, v, nil)
		for _, k := range sortedKeys(cur) {
			props.SetKey(starlark.String(k), starlark.String(cur[k]))
			sources.SetKey(starlark.String(k), starlark.String("local"))
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
	be.mu.Lock()
	declared := copyMap(be.set[name])
	be.mu.Unlock()
	for _, p := range ps {
		val, src := p.Value, p.Source.String()
		if x, ok := declared[p.Name]; ok {
			val, src = x, "local"
		}
		props.SetKey(starlark.String(p.Name), starlark.String(val))
		sources.SetKey(starlark.String(p.Name), starlark.String(src))
	}
	return runtime.Struct(starlark.StringDict{
		"name":       starlark.String(name),
		"used":       starlark.MakeUint64(v.ds.Used),
		"available":  starlark.MakeUint64(v.ds.Avail),
		"referenced": starlark.MakeUint64(v.ds.Refer),
		"mountpoint": starlark.String(v.mountpoint),
		"properties": props,
		"sources":    sources,
	}), nil
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
	be.mu.Lock()
	for _, d := range ds {
		if be.gone[d.Name] {
			continue
		}
		mp := d.Mountpoint
		if x, ok := be.set[d.Name]["mountpoint"]; ok {
			mp = x
		}
		rows[d.Name] = runtime.Struct(starlark.StringDict{
			"name": starlark.String(d.Name), "used": starlark.MakeUint64(d.Used),
			"available": starlark.MakeUint64(d.Avail), "referenced": starlark.MakeUint64(d.Refer),
			"mountpoint": starlark.String(mp),
		})
	}
	for n, m := range be.made {
		if _, real := rows[n]; real || !under(n) {
			continue
		}
		unknown := func(what string) starlark.Value { return runtime.NewUnknown(thread, "zfs.list: "+what+" of "+n) }
		rows[n] = runtime.Struct(starlark.StringDict{
			"name": starlark.String(n), "used": unknown("used"), "available": unknown("available"),
			"referenced": unknown("referenced"), "mountpoint": mpValue(thread, n, m.mountpoint),
		})
	}
	be.mu.Unlock()
	names := sortedKeys(rows)
	out := make([]starlark.Value, len(names))
	for i, n := range names {
		out[i] = rows[n]
	}
	return starlark.NewList(out), nil
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
	err = runtime.Do(thread, runtime.Change{Resource: "zfs:" + full, Action: "create", Detail: "snapshot of " + name}, func() error {
		return be.c.Snapshot(rt.Context(), name, snap)
	})
	if err != nil {
		return false, err
	}
	be.mu.Lock()
	be.snap[name] = append(be.snap[name], snap)
	delete(be.gone, full)
	be.mu.Unlock()
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
	err = runtime.Do(thread, runtime.Change{Resource: "zfs:" + name, Action: "update", Detail: detail}, func() error {
		return be.c.Rollback(rt.Context(), name, snap, len(newer) > 0)
	})
	if err != nil {
		return nil, wrap(b, err)
	}
	be.forget(newer...)
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
	err = runtime.Do(thread, runtime.Change{Resource: "zfs:" + name, Action: "delete", Detail: detail}, func() error {
		return be.c.Destroy(ctx, name, recursive && len(deps) > 0)
	})
	if err != nil {
		return nil, wrap(b, err)
	}
	destroyed := append(deps, name)
	be.forget(destroyed...)
	return result(true, destroyed), nil
}

// dependents are what destroy -r would remove before name: descendants
// and every snapshot of name or of them, children first.
func (b *backend) dependents(ctx context.Context, name string) ([]string, error) {
	var fss []string
	ds, err := b.c.List(ctx, name, true)
	if err != nil && !errors.Is(err, zfscli.ErrNotExist) {
		return nil, err
	}
	seen := map[string]bool{}
	for _, d := range ds {
		fss, seen[d.Name] = append(fss, d.Name), true
	}
	b.mu.Lock()
	for n := range b.made {
		if !seen[n] && (n == name || strings.HasPrefix(n, name+"/")) {
			fss = append(fss, n)
		}
	}
	b.mu.Unlock()
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
	ds, err := be.c.List(runtime.FromThread(thread).Context(), "", false)
	if err != nil {
		return "", "", err
	}
	mps := map[string]string{}
	be.mu.Lock()
	for _, d := range ds {
		if !be.gone[d.Name] {
			mps[d.Name] = d.Mountpoint
			if x, ok := be.set[d.Name]["mountpoint"]; ok {
				mps[d.Name] = x
			}
		}
	}
	for n, m := range be.made {
		mps[n] = m.mountpoint
	}
	be.mu.Unlock()
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
