// Package site loads and validates the site's declarative configuration:
// three JSON files in one directory that describe the hypervisor, its LXC
// containers and its VMs.
//
// Loading is strict. Malformed JSON, unknown keys, wrong types, values out
// of range and contradictions between the files are all collected in one
// run and returned together as Errors, sorted by file and position. A
// *Site is returned only when there is no error at all, so code that holds
// one may rely on every rule in docs/config.md. A Site is shared by
// everything in a run: treat it, and what its methods return, as
// read-only.
package site

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"net/netip"
	"os"
	"path"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"sync"
)

// The three files of a site, in the order errors are reported.
const (
	HypervisorFile = "phoenix_hypervisor_config.json"
	LXCFile        = "phoenix_lxc_configs.json"
	VMFile         = "phoenix_vm_configs.json"
)

// Files lists the three files in report order.
var Files = [...]string{HypervisorFile, LXCFile, VMFile}

// maxFileSize bounds what is read: a site of thousands of guests is a few
// megabytes.
const maxFileSize = 64 << 20

// Site is a validated site.
type Site struct {
	Hypervisor Hypervisor
	LXCs       []*LXC // sorted by VMID
	VMs        []*VM  // sorted by VMID

	lxc      map[int]*LXC
	vm       map[int]*VM
	records  []Record // unsorted, without Source, until sortOnce
	guests   []Guest  // sorted by VMID
	sortOnce sync.Once
	// broken holds VMIDs whose entry is not even an object: they exist
	// for the rules across files, which then say nothing more about them.
	broken map[int]bool
	// spec is the guest a script wrote, when this is the copy of a site
	// that CheckLXC or CheckVM checks it in.
	spec *specGuest
}

func (s *Site) setBroken(vmids []int) {
	for _, v := range vmids {
		if s.broken == nil {
			s.broken = map[int]bool{}
		}
		s.broken[v] = true
	}
}

// Guest is what LXC containers and VMs have in common.
type Guest struct {
	Kind         string // "lxc" or "vm"
	VMID         int
	Node         string
	Name         string // an LXC's hostname, a VM's name
	Bridge       string
	IP           netip.Prefix
	Gateway      netip.Addr
	Nameserver   netip.Addr
	Searchdomain string
	DNSRecords   []GuestRecord
	LXC          *LXC // when Kind is "lxc"
	VM           *VM  // when Kind is "vm"
}

// Record is one DNS record the site serves, from a zone or a guest.
type Record struct {
	View   string // "internal" or "external"
	Name   string
	Type   string // "A", "AAAA" or "CNAME"
	Value  string // the address or the alias target
	Source string // where it is declared, e.g. "phoenix_lxc_configs.json: 101.dns_records[0]"
	VMID   int    // the guest that declared it; 0 for a zone's record

	at   place      // Source before it is rendered
	addr netip.Addr // Value of an A or AAAA record before it is rendered
}

// Load reads and validates the site in dir. When anything is wrong the
// error is Errors, listing every problem.
func Load(dir string) (*Site, error) {
	return load(os.DirFS(dir), dir)
}

// LoadFS is Load on a file system holding the three files at its root.
func LoadFS(fsys fs.FS) (*Site, error) {
	return load(fsys, "")
}

// Validate is Load for callers that want only the verdict.
func Validate(dir string) error {
	_, err := Load(dir)
	return err
}

func load(fsys fs.FS, dir string) (*Site, error) {
	ps := &problems{}
	files := map[string]*parsedFile{}
	for _, name := range Files {
		data, err := readFile(fsys, name)
		if err != nil {
			msg := "cannot read: " + errMsg(err)
			if errors.Is(err, fs.ErrNotExist) {
				msg = "missing"
				if dir != "" {
					msg = "missing from " + dir
				}
			}
			ps.add(name, nil, "%s", msg)
			continue
		}
		pf := &parsedFile{name: name, data: data}
		files[name] = pf
		t, err := parseJSON(data)
		if err != nil {
			se := err.(*syntaxError)
			ps.list = append(ps.list, problem{file: name, off: se.off, msg: se.msg, syntax: true})
			continue
		}
		pf.tree = t
	}

	s := &Site{lxc: map[int]*LXC{}, vm: map[int]*VM{}}
	hypOK := false
	if pf := files[HypervisorFile]; pf != nil && pf.tree != nil {
		d := newDecoder(HypervisorFile, pf.tree, ps)
		hypOK = d.object(pf.tree.root(), reflect.ValueOf(&s.Hypervisor).Elem(), true)
	}
	lxcOK := decodeGuests(s, files[LXCFile], ps, s.lxc, func(vmid int) *LXC { return &LXC{VMID: vmid} })
	vmOK := decodeGuests(s, files[VMFile], ps, s.vm, func(vmid int) *VM { return &VM{VMID: vmid} })
	// Rules across files only make sense when every file could be read
	// and its guests told apart: otherwise each guest of a broken file
	// would show up again as "missing".
	complete := len(files) == len(Files) && hypOK && lxcOK && vmOK
	s.LXCs = byVMID(s.lxc)
	s.VMs = byVMID(s.vm)
	s.nameMapEntries()
	s.makeGuests()

	if complete {
		checkSite(s, ps)
	}
	if errs := ps.resolve(files); len(errs) > 0 {
		return nil, errs
	}
	return s, nil
}

// decodeGuests decodes a guest file into m, each guest made by newGuest;
// it reports whether the file's guests could all be told apart.
func decodeGuests[G any](s *Site, pf *parsedFile, ps *problems, m map[int]*G, newGuest func(vmid int) *G) bool {
	if pf == nil || pf.tree == nil {
		return false
	}
	d := newDecoder(pf.name, pf.tree, ps)
	bad, ok := guests(d, pf.tree, func(vmid int, n *node) {
		g := newGuest(vmid)
		d.object(n, reflect.ValueOf(g).Elem(), false)
		m[vmid] = g
	})
	s.setBroken(bad)
	return ok
}

// byVMID lists m's guests in VMID order.
func byVMID[G any](m map[int]*G) []*G {
	var out []*G
	for _, vmid := range slices.Sorted(maps.Keys(m)) {
		out = append(out, m[vmid])
	}
	return out
}

func readFile(fsys fs.FS, name string) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	size := 0
	if st, err := f.Stat(); err == nil && st.Size() <= maxFileSize {
		size = int(st.Size())
	}
	// Reading into a buffer of the file's size avoids regrowing it.
	data := make([]byte, 0, size+1)
	for {
		n, err := f.Read(data[len(data):cap(data)])
		data = data[:len(data)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if len(data) > maxFileSize {
			break
		}
		if len(data) == cap(data) {
			data = append(data, 0)[:len(data)]
		}
	}
	if len(data) > maxFileSize {
		return nil, fmt.Errorf("larger than %d MiB", maxFileSize>>20)
	}
	return data, nil
}

// errMsg drops the "open NAME: " prefix that repeats the file name.
func errMsg(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// guests walks a guest file: an object keyed by VMID, plus "$schema". It
// returns the VMIDs whose entry is not an object, and whether the file's
// guests could be told apart at all.
func guests(d *decoder[*node], t *tree, each func(vmid int, n *node)) (bad []int, ok bool) {
	root := t.root()
	if root.kind != kindObject {
		d.typeErr(root, "an object keyed by VMID")
		return nil, false
	}
	mems := t.kids(root)
	for i := range mems {
		m := &mems[i]
		key, val := t.key(m), t.val(m)
		d.push(key)
		switch vmid, why := parseVMIDKey(key); {
		case key == "$schema":
			if val.kind != kindString {
				d.typeErr(val, "a string")
			}
		case why != "":
			d.errAt(int(m.off), "%s", why)
		case val.kind != kindObject:
			d.typeErr(val, "an object")
			bad = append(bad, vmid)
		default:
			each(vmid, val)
		}
		d.pop()
	}
	return bad, true
}

func parseVMIDKey(k string) (int, string) {
	for i := 0; i < len(k); i++ {
		if k[i] < '0' || k[i] > '9' {
			return 0, "not a VMID (100-999999999)"
		}
	}
	n, err := strconv.Atoi(k)
	if err != nil || k == "" || k[0] == '0' || n < 100 || n > 999999999 {
		return 0, "not a VMID (100-999999999)"
	}
	return n, ""
}

// nameMapEntries copies map keys into the entries' Name fields.
func (s *Site) nameMapEntries() {
	h := &s.Hypervisor
	for k, n := range h.Nodes {
		n.Name = k
	}
	for k, b := range h.Bridges {
		b.Name = k
	}
	for k, st := range h.Storage {
		st.ID = k
	}
	for k, z := range h.DNS.Zones {
		z.Name = k
	}
	for k, e := range h.CA.Exports {
		e.Name = k
	}
}

// LXC returns the container with this VMID, or nil.
func (s *Site) LXC(vmid int) *LXC { return s.lxc[vmid] }

// VM returns the virtual machine with this VMID, or nil.
func (s *Site) VM(vmid int) *VM { return s.vm[vmid] }

// Guests returns every guest, LXCs and VMs together, sorted by VMID.
func (s *Site) Guests() []Guest {
	return append([]Guest(nil), s.guests...)
}

func (s *Site) makeGuests() {
	out := make([]Guest, 0, len(s.LXCs)+len(s.VMs))
	for _, l := range s.LXCs {
		out = append(out, l.guest())
	}
	for _, v := range s.VMs {
		out = append(out, v.guest())
	}
	sort.Slice(out, func(i, j int) bool { return out[i].VMID < out[j].VMID })
	s.guests = out
}

// Guest returns the guest with this VMID.
func (s *Site) Guest(vmid int) (Guest, bool) {
	if l := s.lxc[vmid]; l != nil {
		return l.guest(), true
	}
	if v := s.vm[vmid]; v != nil {
		return v.guest(), true
	}
	return Guest{}, false
}

func (l *LXC) guest() Guest {
	return Guest{Kind: "lxc", VMID: l.VMID, Node: l.Node, Name: l.Hostname, Bridge: l.Network.Bridge,
		IP: l.Network.IP, Gateway: l.Network.Gateway, Nameserver: l.Nameserver,
		Searchdomain: l.Searchdomain, DNSRecords: l.DNSRecords, LXC: l}
}

func (v *VM) guest() Guest {
	return Guest{Kind: "vm", VMID: v.VMID, Node: v.Node, Name: v.Name, Bridge: v.Network.Bridge,
		IP: v.Network.IP, Gateway: v.Network.Gateway, Nameserver: v.Nameserver,
		Searchdomain: v.Searchdomain, DNSRecords: v.DNSRecords, VM: v}
}

// Flows returns the firewall flows in file order.
func (s *Site) Flows() []Flow {
	return append([]Flow(nil), s.Hypervisor.Firewall.Flows...)
}

// Records returns every DNS record the site serves, from zones and from
// guests, sorted by view, name, type and value. A guest record without an
// address carries the guest's IP; a record in view "both" appears once per
// view.
func (s *Site) Records() []Record {
	// Sorting and rendering sources are left out of validation, which
	// does not need them.
	s.sortOnce.Do(func() {
		for i := range s.records {
			r := &s.records[i]
			r.Source = r.at.String()
			r.Value = r.value()
		}
		sort.Slice(s.records, func(i, j int) bool {
			a, b := s.records[i], s.records[j]
			if a.View != b.View {
				return a.View < b.View
			}
			if a.Name != b.Name {
				return a.Name < b.Name
			}
			if a.Type != b.Type {
				return a.Type < b.Type
			}
			return a.Value < b.Value
		})
	})
	return append([]Record(nil), s.records...)
}

// Dataset is the ZFS dataset holding a guest's persistent data.
func (s *Site) Dataset(vmid int) string {
	return s.Hypervisor.ZFS.PersistentData.Dataset + "/" + strconv.Itoa(vmid)
}

// DataDir is the host directory where a guest's persistent-data dataset is
// mounted; its mount points' host paths lie inside it.
func (s *Site) DataDir(vmid int) string {
	return path.Join(s.Hypervisor.ZFS.PersistentData.Mountpoint, strconv.Itoa(vmid))
}

// NodeNames returns the node names, sorted.
func (s *Site) NodeNames() []string { return sortedKeys(s.Hypervisor.Nodes) }
