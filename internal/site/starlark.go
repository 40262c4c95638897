package site

import (
	"fmt"
	"io/fs"
	"net/netip"
	"reflect"
	"sort"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// Starlark returns the site for config.site(), a frozen value whose
// attributes are:
//
//	hypervisor  - the hypervisor file, keys as the file spells them
//	lxcs, vms   - lists of guests, sorted by VMID
//	guests()    - every guest (LXCs and VMs), sorted by VMID
//	lxc(vmid)   - the LXC with that VMID; an error if there is none
//	vm(vmid)    - the VM with that VMID; an error if there is none
//	flows()     - the firewall flows in file order
//	records()   - every DNS record (struct view, name, type, value, source, vmid)
//
// Every record (a guest, its network, a mount point, a bridge...) is a
// Value: it wraps the typed value, so builtins that are given one read
// it directly instead of parsing it back. A guest has the keys of its
// file plus vmid and kind ("lxc" or "vm"). Addresses, CIDRs, modes and
// durations are strings as written in the files; defaults are filled in
// (a guest's gateway included). A flow's source or destination is an int
// for a guest and a string otherwise.
func (s *Site) Starlark() starlark.Value {
	byVMID := map[int]starlark.Value{}
	lxcs := make([]starlark.Value, 0, len(s.LXCs))
	for _, l := range s.LXCs {
		v := s.record(reflect.ValueOf(l).Elem(), "lxc")
		lxcs = append(lxcs, v)
		byVMID[l.VMID] = v
	}
	vms := make([]starlark.Value, 0, len(s.VMs))
	for _, m := range s.VMs {
		v := s.record(reflect.ValueOf(m).Elem(), "vm")
		vms = append(vms, v)
		byVMID[m.VMID] = v
	}
	var guests []starlark.Value
	for _, g := range s.Guests() {
		guests = append(guests, byVMID[g.VMID])
	}
	var flows []starlark.Value
	for i := range s.Hypervisor.Firewall.Flows {
		flows = append(flows, s.record(reflect.ValueOf(&s.Hypervisor.Firewall.Flows[i]).Elem(), ""))
	}
	var records []starlark.Value
	for _, r := range s.Records() {
		records = append(records, s.record(reflect.ValueOf(&recordView{
			View: r.View, Name: r.Name, Type: r.Type, Value: r.Value, Source: r.Source, VMID: r.VMID,
		}).Elem(), ""))
	}
	guestList, flowList, recordList := frozenList(guests), frozenList(flows), frozenList(records)

	lookup := func(kind, file string) *starlark.Builtin {
		return starlark.NewBuiltin(kind, func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			var vmid int
			if err := starlark.UnpackArgs(b.Name(), args, kwargs, "vmid", &vmid); err != nil {
				return nil, err
			}
			g, ok := s.Guest(vmid)
			if !ok || g.Kind != kind {
				return nil, fmt.Errorf("%s: no %s with VMID %d in %s", b.Name(), kind, vmid, file)
			}
			return byVMID[vmid], nil
		})
	}
	list := func(name string, l *starlark.List) *starlark.Builtin {
		return starlark.NewBuiltin(name, func(_ *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			if err := starlark.UnpackArgs(b.Name(), args, kwargs); err != nil {
				return nil, err
			}
			return l, nil
		})
	}
	return &siteValue{s: s, attrs: starlark.StringDict{
		"hypervisor": s.record(reflect.ValueOf(&s.Hypervisor).Elem(), ""),
		"lxcs":       frozenList(lxcs),
		"vms":        frozenList(vms),
		"guests":     list("guests", guestList),
		"lxc":        lookup("lxc", LXCFile),
		"vm":         lookup("vm", VMFile),
		"flows":      list("flows", flowList),
		"records":    list("records", recordList),
	}}
}

// recordView is a Record as records() shows it.
type recordView struct {
	View   string `json:"view"`
	Name   string `json:"name"`
	Type   string `json:"type"`
	Value  string `json:"value"`
	Source string `json:"source"`
	VMID   int    `json:"vmid"`
}

func frozenList(elems []starlark.Value) *starlark.List {
	l := starlark.NewList(elems)
	l.Freeze()
	return l
}

// siteValue is config.site()'s value.
type siteValue struct {
	s     *Site
	attrs starlark.StringDict
}

var _ starlark.HasAttrs = (*siteValue)(nil)

func (v *siteValue) String() string        { return "site(" + strings.Join(v.AttrNames(), ", ") + ")" }
func (v *siteValue) Type() string          { return "struct" }
func (v *siteValue) Freeze()               {}
func (v *siteValue) Truth() starlark.Bool  { return true }
func (v *siteValue) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable: site") }
func (v *siteValue) AttrNames() []string   { return v.attrs.Keys() }
func (v *siteValue) Attr(name string) (starlark.Value, error) {
	return v.attrs[name], nil
}

// SiteOf returns the site a config.site() value wraps.
func SiteOf(v starlark.Value) (*Site, bool) {
	sv, ok := v.(*siteValue)
	if !ok {
		return nil, false
	}
	return sv.s, true
}

// Value is a typed site record (a guest, a network, a mount point, a
// bridge...) as Starlark sees it: read-only attributes named as the files
// name the keys, converted when they are read.
type Value struct {
	site *Site         // the validated site it belongs to
	v    reflect.Value // an addressable struct
	kind string        // "lxc" or "vm" for a guest
}

var (
	_ starlark.HasAttrs   = (*Value)(nil)
	_ starlark.Comparable = (*Value)(nil)
)

func (s *Site) record(v reflect.Value, kind string) *Value {
	return &Value{site: s, v: v, kind: kind}
}

// Wrap is rec (a pointer to a record, such as a *LXC that CheckLXC
// checked against s) as Starlark sees the site's records; s may be nil.
func (s *Site) Wrap(rec any) starlark.Value {
	kind := ""
	if g, ok := rec.(guestKinder); ok {
		kind = g.guestKind()
	}
	return s.record(reflect.ValueOf(rec).Elem(), kind)
}

// RecordOf returns the typed record v wraps (a *LXC, *VM, *MountPoint,
// *PersistentData...) and the site it belongs to. The record is shared:
// read it, copy it before changing it.
func RecordOf(v starlark.Value) (rec any, s *Site, ok bool) {
	r, ok := v.(*Value)
	if !ok {
		return nil, nil, false
	}
	return r.v.Addr().Interface(), r.site, true
}

func (r *Value) Type() string          { return "struct" }
func (r *Value) Freeze()               {}
func (r *Value) Truth() starlark.Bool  { return true }
func (r *Value) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable: struct") }

// String is what a struct with the same fields would print.
func (r *Value) String() string {
	var b strings.Builder
	b.WriteString("struct(")
	for i, name := range r.AttrNames() {
		if i > 0 {
			b.WriteString(", ")
		}
		v, _ := r.Attr(name)
		b.WriteString(name)
		b.WriteString(" = ")
		b.WriteString(v.String())
	}
	b.WriteString(")")
	return b.String()
}

func (r *Value) AttrNames() []string {
	si := infoOf(r.v.Type())
	names := make([]string, 0, len(si.fields)+len(si.derived)+1)
	for _, f := range si.fields {
		names = append(names, f.name)
	}
	for _, f := range si.derived {
		names = append(names, f.name)
	}
	if r.kind != "" {
		names = append(names, "kind")
	}
	sort.Strings(names)
	return names
}

func (r *Value) Attr(name string) (starlark.Value, error) {
	if name == "kind" && r.kind != "" {
		return starlark.String(r.kind), nil
	}
	si := infoOf(r.v.Type())
	f := si.byKey[name]
	if f == nil {
		for _, d := range si.derived {
			if d.name == name {
				f = d
			}
		}
	}
	if f == nil {
		return nil, nil // no such attribute
	}
	return r.site.toStarlark(r.v.Field(f.index)), nil
}

// CompareSameType compares the typed values: two records are equal when
// their fields are.
func (r *Value) CompareSameType(op syntax.Token, y starlark.Value, depth int) (bool, error) {
	o := y.(*Value)
	eq := r.kind == o.kind && r.v.Type() == o.v.Type() && reflect.DeepEqual(r.v.Interface(), o.v.Interface())
	switch op {
	case syntax.EQL:
		return eq, nil
	case syntax.NEQ:
		return !eq, nil
	}
	return false, fmt.Errorf("%s %s %s not implemented", r.Type(), op, y.Type())
}

func (s *Site) toStarlark(v reflect.Value) starlark.Value {
	switch x := v.Interface().(type) {
	case netip.Addr:
		if !x.IsValid() {
			return starlark.None
		}
		return starlark.String(x.String())
	case netip.Prefix:
		if !x.IsValid() {
			return starlark.None
		}
		return starlark.String(x.String())
	case fs.FileMode:
		return starlark.String(ModeString(x))
	case Duration:
		return starlark.String(x.String())
	case Endpoint:
		if x.VMID != 0 {
			return starlark.MakeInt(x.VMID)
		}
		return starlark.String(x.String())
	}
	switch v.Kind() {
	case reflect.String:
		return starlark.String(v.String())
	case reflect.Int:
		return starlark.MakeInt64(v.Int())
	case reflect.Bool:
		return starlark.Bool(v.Bool())
	case reflect.Slice:
		elems := make([]starlark.Value, v.Len())
		for i := range elems {
			elems[i] = s.toStarlark(v.Index(i))
		}
		return frozenList(elems)
	case reflect.Map:
		keys := make([]string, 0, v.Len())
		for _, k := range v.MapKeys() {
			keys = append(keys, k.String())
		}
		sort.Strings(keys)
		d := starlark.NewDict(len(keys))
		for _, k := range keys {
			_ = d.SetKey(starlark.String(k), s.toStarlark(v.MapIndex(reflect.ValueOf(k))))
		}
		d.Freeze()
		return d
	case reflect.Pointer:
		if v.IsNil() {
			return starlark.None
		}
		return s.toStarlark(v.Elem())
	case reflect.Struct:
		if !v.CanAddr() {
			c := reflect.New(v.Type()).Elem()
			c.Set(v)
			v = c
		}
		return s.record(v, "")
	}
	panic("site: no Starlark form for " + v.Type().String())
}
