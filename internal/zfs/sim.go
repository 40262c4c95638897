package zfs

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"path/filepath"
	"phoenix/internal/machine"
	"sort"
	"strings"
	"sync"
	"time"
)

// Sim simulates the OpenZFS 2.x zfs command for --sim and tests. Install
// it with (*machine.SimRunner).Handle("zfs", sim.Handler()).
//
// It implements list, get, set, create, destroy, snapshot and rollback
// with OpenZFS semantics and libzfs's exact error messages and exit codes
// (1 for a failed operation, 2 for a usage error): the dataset hierarchy,
// property inheritance and sources, the mountpoint default (the parent's
// mountpoint plus the child's name), "-p" for missing parents, destroy
// refusing children without "-r", and rollback refusing newer snapshots
// without "-r".
//
// The directory at a mounted dataset's mountpoint, under the runtime
// root, stands for the dataset's content (minus other datasets mounted
// inside it): create makes it (mode 0755), destroy removes it, a
// mountpoint change moves it, and used/referenced count its files. A
// snapshot captures that tree (files, directories, symlinks with mode and
// owner, up to 256 MiB) into the simulator's state, and rollback restores
// it. As in OpenZFS, rollback does not revert properties.
//
// Not simulated: volumes, clones, bookmarks, encryption, zfs mount and
// unmount (a dataset is mounted exactly when canmount=on and its
// mountpoint is a path), space held by snapshots, reservations in space
// accounting, and the other subcommands; those answer exit 2 with a
// message saying so. Usage messages give the synopsis only.
//
// State lives in <root>/var/lib/phoenix-sim/zfs.json (written atomically
// after every change, read by NewSim); captured snapshot trees beside it
// in zfs-snapshots/. A new state holds the pools quickOS (mounted at
// /mnt/pve/quickOS) and rpool with rpool/data, as on a PVE host.
type Sim struct {
	mu       sync.Mutex
	root     *machine.Root
	file     string // host path of the state file
	stateDir string // host path of the state directory
	snapDir  string // host path of captured snapshot trees
	now      func() time.Time
	st       *simState
}

const (
	stateSitePath = "/var/lib/phoenix-sim/zfs.json"
	snapSiteDir   = "/var/lib/phoenix-sim/zfs-snapshots"
	stateVersion  = 1
	// baseRefer is what an empty OpenZFS 2.x filesystem refers to (96K).
	baseRefer = 98304
	// simEpoch is the logical clock's zero: creation = simEpoch + txg.
	simEpoch = 1704067200 // 2024-01-01T00:00:00Z
	poolSize = 1 << 40
)

type simState struct {
	Version  int               `json:"version"`
	TXG      uint64            `json:"txg"`
	Pools    map[string]uint64 `json:"pools"` // name -> size in bytes
	Datasets map[string]*simDS `json:"datasets"`
}

type simDS struct {
	CreateTXG uint64            `json:"createtxg"`
	Creation  int64             `json:"creation"`
	GUID      uint64            `json:"guid"`
	Props     map[string]string `json:"props,omitempty"`   // local values, literal form
	Refer     uint64            `json:"refer,omitempty"`   // snapshots: referenced when taken
	Content   string            `json:"content,omitempty"` // snapshots: captured tree file
}

// Option configures a Sim.
type Option func(*Sim)

// WithClock sets the clock for creation times. Without it the clock is
// logical (a fixed epoch plus the transaction count), so runs are
// reproducible.
func WithClock(now func() time.Time) Option { return func(s *Sim) { s.now = now } }

// NewSim loads the simulator's state from under root, or seeds a new one,
// and makes the mountpoint directories of mounted datasets (zfs mount -a).
func NewSim(root *machine.Root, opts ...Option) (*Sim, error) {
	s := &Sim{root: root}
	for _, o := range opts {
		o(s)
	}
	var err error
	if s.file, err = root.Resolve(stateSitePath); err != nil {
		return nil, fmt.Errorf("zfs simulator: %w", err)
	}
	if s.snapDir, err = root.Resolve(snapSiteDir); err != nil {
		return nil, fmt.Errorf("zfs simulator: %w", err)
	}
	s.stateDir = filepath.Dir(s.file)
	b, err := os.ReadFile(s.file)
	switch {
	case err == nil:
		st := &simState{}
		if err := json.Unmarshal(b, st); err != nil {
			return nil, fmt.Errorf("zfs simulator: %s: %w", stateSitePath, err)
		}
		if st.Version != stateVersion {
			return nil, fmt.Errorf("zfs simulator: %s: version %d, want %d", stateSitePath, st.Version, stateVersion)
		}
		if st.Datasets == nil {
			st.Datasets = map[string]*simDS{}
		}
		s.st = st
	case errors.Is(err, fs.ErrNotExist):
		s.st = &simState{Version: stateVersion, Pools: map[string]uint64{}, Datasets: map[string]*simDS{}}
		p := &proc{s: s}
		for _, pool := range []string{"quickOS", "rpool"} {
			s.st.Pools[pool] = poolSize
		}
		p.create("quickOS", map[string]string{"mountpoint": "/mnt/pve/quickOS"})
		p.create("rpool", nil)
		p.create("rpool/data", nil)
		if err := s.save(); err != nil {
			return nil, err
		}
	default:
		return nil, fmt.Errorf("zfs simulator: %w", err)
	}
	p := &proc{s: s}
	for _, name := range p.sortedNames() {
		if err := p.mount(name); err != nil {
			return nil, fmt.Errorf("zfs simulator: mounting %s: %w", name, err)
		}
	}
	return s, nil
}

// Handler answers zfs command lines.
func (s *Sim) Handler() machine.Handler {
	return func(ctx context.Context, c machine.Cmd) (machine.Result, error) {
		if err := ctx.Err(); err != nil {
			return machine.Result{}, err
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		p := &proc{s: s}
		code := p.main(c.Argv[1:])
		if p.dirty {
			if err := s.save(); err != nil {
				return machine.Result{}, err
			}
		}
		return machine.Result{Stdout: p.out.Bytes(), Stderr: p.errb.Bytes(), ExitCode: code}, nil
	}
}

func (s *Sim) save() error {
	b, err := json.MarshalIndent(s.st, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(s.stateDir, 0o755); err != nil {
		return fmt.Errorf("zfs simulator: %w", err)
	}
	if err := machine.WriteFileAtomic(s.file, append(b, '\n'), 0o644, -1, -1); err != nil {
		return fmt.Errorf("zfs simulator: saving %s: %w", stateSitePath, err)
	}
	return nil
}

// proc is one zfs invocation.
type proc struct {
	s         *Sim
	out, errb bytes.Buffer
	dirty     bool
	used      map[string]uint64   // memo, cleared on change
	mounts    map[string]string   // host dir -> mounted dataset, cleared on change
	kids      map[string][]string // filesystem -> child filesystems, cleared on change
}

func (p *proc) errf(format string, a ...any) { fmt.Fprintf(&p.errb, format+"\n", a...) }

func (p *proc) changed() {
	p.dirty = true
	p.used = nil
	p.mounts = nil
	p.kids = nil
}

const (
	typeFS   = 1
	typeSnap = 2
)

func typeOf(name string) int {
	if strings.Contains(name, "@") {
		return typeSnap
	}
	return typeFS
}

func (p *proc) ds(name string) *simDS { return p.s.st.Datasets[name] }

func (p *proc) sortedNames() []string {
	names := make([]string, 0, len(p.s.st.Datasets))
	for n := range p.s.st.Datasets {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool { return p.compare(names[i], names[j]) < 0 })
	return names
}

// compare is zfs list's default order: by filesystem name (strcmp), a
// filesystem before its snapshots, snapshots by creation txg.
func (p *proc) compare(a, b string) int {
	af, _, aSnap := strings.Cut(a, "@")
	bf, _, bSnap := strings.Cut(b, "@")
	if c := strings.Compare(af, bf); c != 0 {
		return c
	}
	switch {
	case aSnap && bSnap:
		ta, tb := p.ds(a).CreateTXG, p.ds(b).CreateTXG
		if ta != tb {
			if ta < tb {
				return -1
			}
			return 1
		}
		return strings.Compare(a, b)
	case aSnap:
		return 1
	case bSnap:
		return -1
	}
	return 0
}

// children are the direct child filesystems, by name.
func (p *proc) children(name string) []string {
	if p.kids == nil {
		// Indexed once per command: space accounting asks for every
		// dataset's children.
		p.kids = map[string][]string{}
		for n := range p.s.st.Datasets {
			if typeOf(n) == typeFS && parentName(n) != "" {
				p.kids[parentName(n)] = append(p.kids[parentName(n)], n)
			}
		}
		for _, c := range p.kids {
			sort.Strings(c)
		}
	}
	return p.kids[name]
}

// snapshots are a filesystem's snapshots, oldest first.
func (p *proc) snapshots(name string) []string {
	var out []string
	for n := range p.s.st.Datasets {
		if fsName, _, ok := strings.Cut(n, "@"); ok && fsName == name {
			out = append(out, n)
		}
	}
	sort.Slice(out, func(i, j int) bool { return p.compare(out[i], out[j]) < 0 })
	return out
}

// dependents lists what destroy -r removes before name, in libzfs's
// zfs_iter_dependents order: each child filesystem's dependents then the
// child, then name's snapshots.
func (p *proc) dependents(name string) []string {
	var out []string
	for _, c := range p.children(name) {
		out = append(out, p.dependents(c)...)
		out = append(out, c)
	}
	return append(out, p.snapshots(name)...)
}

// descendants are name's filesystems below it, parents first.
func (p *proc) descendants(name string) []string {
	var out []string
	for _, c := range p.children(name) {
		out = append(out, c)
		out = append(out, p.descendants(c)...)
	}
	return out
}

func (p *proc) now() int64 {
	if p.s.now != nil {
		return p.s.now().Unix()
	}
	return simEpoch + int64(p.s.st.TXG)
}

func guid(name string, txg uint64) uint64 {
	h := fnv.New64a()
	fmt.Fprintf(h, "%s\x00%d", name, txg)
	return h.Sum64()
}

// create adds a filesystem with already-validated literal properties.
func (p *proc) create(name string, props map[string]string) {
	p.s.st.TXG++
	d := &simDS{CreateTXG: p.s.st.TXG, Creation: p.now(), GUID: guid(name, p.s.st.TXG)}
	if len(props) > 0 {
		d.Props = map[string]string{}
		for k, v := range props {
			d.Props[k] = v
		}
	}
	p.s.st.Datasets[name] = d
	p.changed()
}

// local is a property's locally set value.
func (p *proc) local(name, prop string) (string, bool) {
	d := p.ds(name)
	if d == nil {
		return "", false
	}
	v, ok := d.Props[prop]
	return v, ok
}

// inherited resolves an inheritable property for a filesystem, or for a
// snapshot through its filesystem: value and source.
func (p *proc) inherited(name string, def *propDef) (string, Source) {
	if v, ok := p.local(name, def.name); ok {
		return v, Source{Kind: SourceLocal}
	}
	fsName, _, _ := strings.Cut(name, "@")
	for a := fsName; a != ""; a = parentName(a) {
		v, ok := p.local(a, def.name)
		if !ok {
			continue
		}
		if def.kind == kindPath && v != "none" && v != "legacy" {
			rel := strings.TrimPrefix(fsName, a)
			v = strings.TrimSuffix(v, "/") + rel
			if v == "" {
				v = "/"
			}
		}
		return v, Source{Kind: SourceInherited, From: a}
	}
	if def.kind == kindPath {
		return "/" + fsName, Source{Kind: SourceDefault}
	}
	return def.def, Source{Kind: SourceDefault}
}

// prop is a property's literal value and source; ok is false when it has
// none for this dataset (zfs prints "-" and "-").
func (p *proc) prop(name, prop string) (value string, src Source, ok bool) {
	def := lookupProp(prop)
	if def == nil {
		if !isUserProp(prop) {
			return "", Source{}, false
		}
		// User properties are inherited like inheritable native ones.
		v, src := p.inherited(name, &propDef{name: prop, inherit: true})
		if src.Kind == SourceDefault {
			return "", Source{}, false
		}
		return v, src, true
	}
	t := typeOf(name)
	if t == typeFS && !def.fs || t == typeSnap && !def.snap {
		return "", Source{}, false
	}
	if def.kind == kindRO {
		v, ok := p.computed(name, def.name)
		return v, Source{Kind: SourceNone}, ok
	}
	if def.inherit {
		v, src := p.inherited(name, def)
		return v, src, true
	}
	if v, ok := p.local(name, def.name); ok {
		return v, Source{Kind: SourceLocal}, true
	}
	return def.def, Source{Kind: SourceDefault}, true
}

func u64(n uint64) string { return fmt.Sprint(n) }

func (p *proc) computed(name, prop string) (string, bool) {
	d := p.ds(name)
	snap := typeOf(name) == typeSnap
	switch prop {
	case "type":
		if snap {
			return "snapshot", true
		}
		return "filesystem", true
	case "creation":
		return fmt.Sprint(d.Creation), true
	case "used", "logicalused":
		if snap {
			return "0", true
		}
		return u64(p.usedOf(name)), true
	case "available":
		return u64(p.avail(name)), true
	case "referenced", "logicalreferenced", "usedbydataset":
		if snap {
			return u64(d.Refer), true
		}
		return u64(p.refer(name)), true
	case "usedbychildren":
		var n uint64
		for _, c := range p.children(name) {
			n += p.usedOf(c)
		}
		return u64(n), true
	case "usedbysnapshots", "usedbyrefreservation", "userrefs":
		return "0", true
	case "compressratio", "refcompressratio":
		return "1.00", true
	case "mounted":
		if _, ok := p.mountPath(name); ok {
			return "yes", true
		}
		return "no", true
	case "createtxg":
		return u64(d.CreateTXG), true
	case "guid":
		return u64(d.GUID), true
	case "objsetid":
		return u64(d.CreateTXG + 256), true
	case "version":
		return "5", true
	case "utf8only", "defer_destroy":
		return "off", true
	case "normalization":
		return "none", true
	case "casesensitivity":
		return "sensitive", true
	}
	return "", false // origin: nothing is a clone
}

// mountPath is a filesystem's mountpoint when it is mounted.
func (p *proc) mountPath(name string) (string, bool) {
	if typeOf(name) != typeFS {
		return "", false
	}
	if cm, _, _ := p.prop(name, "canmount"); cm != "on" {
		return "", false
	}
	mp, _, _ := p.prop(name, "mountpoint")
	if !strings.HasPrefix(mp, "/") {
		return "", false
	}
	return mp, true
}

// mountHost is the host directory of a mounted filesystem.
func (p *proc) mountHost(name string) (string, bool) {
	mp, ok := p.mountPath(name)
	if !ok {
		return "", false
	}
	h, err := p.s.root.Resolve(mp)
	if err != nil {
		return "", false
	}
	return h, true
}

// mountDirs maps the host directories of mounted filesystems, and the
// simulator's own state directory, to their owner.
func (p *proc) mountDirs() map[string]string {
	if p.mounts == nil {
		p.mounts = map[string]string{p.s.stateDir: ""}
		for n := range p.s.st.Datasets {
			if h, ok := p.mountHost(n); ok {
				p.mounts[h] = n
			}
		}
	}
	return p.mounts
}

// others are the mount directories that are not name's own.
func (p *proc) others(name string) map[string]bool {
	m := map[string]bool{}
	for h, n := range p.mountDirs() {
		if n != name {
			m[h] = true
		}
	}
	return m
}

// isOther reports whether a host directory is another dataset's mount,
// without building others' set: refer runs for every dataset.
func (p *proc) isOther(name string) func(string) bool {
	dirs := p.mountDirs()
	return func(h string) bool {
		n, ok := dirs[h]
		return ok && n != name
	}
}

func (p *proc) refer(name string) uint64 {
	h, ok := p.mountHost(name)
	if !ok {
		return baseRefer
	}
	return baseRefer + treeSize(h, p.isOther(name))
}

func (p *proc) usedOf(name string) uint64 {
	if p.used == nil {
		p.used = map[string]uint64{}
	}
	if n, ok := p.used[name]; ok {
		return n
	}
	n := p.refer(name)
	for _, c := range p.children(name) {
		n += p.usedOf(c)
	}
	p.used[name] = n
	return n
}

func (p *proc) avail(name string) uint64 {
	pool := poolName(name)
	avail := sub(p.s.st.Pools[pool], p.usedOf(pool))
	for a := name; a != ""; a = parentName(a) {
		if q, _, _ := p.prop(a, "quota"); q != "0" {
			avail = min(avail, sub(parseU(q), p.usedOf(a)))
		}
	}
	if q, _, _ := p.prop(name, "refquota"); q != "0" {
		avail = min(avail, sub(parseU(q), p.refer(name)))
	}
	return avail
}

func sub(a, b uint64) uint64 {
	if b > a {
		return 0
	}
	return a - b
}

func parseU(s string) uint64 {
	var n uint64
	fmt.Sscan(s, &n)
	return n
}

// mount makes a mounted filesystem's directory.
func (p *proc) mount(name string) error {
	h, ok := p.mountHost(name)
	if !ok {
		return nil
	}
	return os.MkdirAll(h, 0o755)
}

// snapFile is where a snapshot's captured tree is kept.
func (p *proc) snapFile(d *simDS) string { return filepath.Join(p.s.snapDir, d.Content) }

// takeSnapshots creates snapshots atomically in one transaction.
func (p *proc) takeSnapshots(names []string, props map[string]string) error {
	type taken struct {
		name string
		d    *simDS
		es   []entry
	}
	var ts []taken
	txg := p.s.st.TXG + 1
	for _, n := range names {
		fsName, _, _ := strings.Cut(n, "@")
		d := &simDS{CreateTXG: txg, GUID: guid(n, txg), Refer: p.refer(fsName)}
		for k, v := range props {
			if d.Props == nil {
				d.Props = map[string]string{}
			}
			d.Props[k] = v
		}
		var es []entry
		if h, ok := p.mountHost(fsName); ok {
			var err error
			if es, err = capture(h, p.others(fsName)); err != nil {
				return fmt.Errorf("cannot capture %s: %w", h, err)
			}
			d.Content = fmt.Sprintf("%016x.json", d.GUID)
		}
		ts = append(ts, taken{n, d, es})
	}
	for _, t := range ts {
		if t.d.Content == "" {
			continue
		}
		b, err := json.Marshal(t.es)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(p.s.snapDir, 0o700); err != nil {
			return err
		}
		if err := machine.WriteFileAtomic(p.snapFile(t.d), b, 0o600, -1, -1); err != nil {
			return err
		}
	}
	p.s.st.TXG = txg
	for _, t := range ts {
		t.d.Creation = p.now()
		p.s.st.Datasets[t.name] = t.d
	}
	p.changed()
	return nil
}

// destroyOne removes a filesystem (and its directory) or a snapshot (and
// its captured tree).
func (p *proc) destroyOne(name string) error {
	d := p.ds(name)
	if typeOf(name) == typeSnap {
		if d.Content != "" {
			if err := os.Remove(p.snapFile(d)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	} else if h, ok := p.mountHost(name); ok && h != p.s.root.Dir() {
		if err := removeTree(h, p.others(name)); err != nil {
			return err
		}
	}
	delete(p.s.st.Datasets, name)
	p.changed()
	return nil
}

// rollbackTo restores a filesystem's tree from a snapshot.
func (p *proc) rollbackTo(snap string) error {
	d := p.ds(snap)
	fsName, _, _ := strings.Cut(snap, "@")
	h, ok := p.mountHost(fsName)
	if d.Content == "" || !ok {
		return nil
	}
	b, err := os.ReadFile(p.snapFile(d))
	if err != nil {
		return err
	}
	var es []entry
	if err := json.Unmarshal(b, &es); err != nil {
		return fmt.Errorf("%s: %w", p.snapFile(d), err)
	}
	p.changed()
	return restore(h, es, p.others(fsName))
}

// setProps applies validated literal properties and keeps the mount
// directories in step: a changed mountpoint moves the tree, like the
// remount zfs does.
func (p *proc) setProps(name string, props map[string]string) error {
	affected := append([]string{name}, p.descendants(name)...)
	before := map[string]string{}
	for _, n := range affected {
		if h, ok := p.mountHost(n); ok {
			before[n] = h
		}
	}
	d := p.ds(name)
	if d.Props == nil {
		d.Props = map[string]string{}
	}
	for k, v := range props {
		d.Props[k] = v
	}
	p.changed()
	if typeOf(name) == typeSnap {
		return nil
	}
	for _, n := range affected {
		if err := p.remount(n, before[n]); err != nil {
			return err
		}
	}
	return nil
}

// remount moves a filesystem's tree from its old directory to its new
// one when the new one is missing or empty and the old one holds no other
// dataset's mount; then it makes sure the new directory exists.
func (p *proc) remount(name, old string) error {
	h, ok := p.mountHost(name)
	if !ok {
		return nil
	}
	if old != "" && old != h && !leadsTo(old, p.others(name)) && !strings.HasPrefix(h, old+string(filepath.Separator)) {
		if _, err := os.Lstat(old); err == nil && emptyOrMissing(h) {
			if err := os.MkdirAll(filepath.Dir(h), 0o755); err != nil {
				return err
			}
			os.Remove(h)
			if err := os.Rename(old, h); err != nil {
				return err
			}
		}
	}
	return os.MkdirAll(h, 0o755)
}

func emptyOrMissing(dir string) bool {
	ents, err := os.ReadDir(dir)
	return errors.Is(err, fs.ErrNotExist) || err == nil && len(ents) == 0
}
