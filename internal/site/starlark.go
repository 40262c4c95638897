package site

import (
	"fmt"
	"io/fs"
	"net/netip"
	"reflect"
	"sort"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

// Starlark returns the site as one frozen Starlark struct, for config.site():
//
//	hypervisor  - struct: the hypervisor file, keys as the file spells them
//	lxcs, vms   - lists of guest structs, sorted by VMID
//	guests()    - every guest (LXCs and VMs), sorted by VMID
//	lxc(vmid)   - the LXC with that VMID; an error if there is none
//	vm(vmid)    - the VM with that VMID; an error if there is none
//	flows()     - the firewall flows in file order
//	records()   - every DNS record (struct view, name, type, value, source, vmid)
//
// A guest struct has the keys of its file plus vmid and kind ("lxc" or
// "vm"). Addresses, CIDRs, modes and durations are strings as written in
// the files; defaults are filled in (a guest's gateway included). A flow's
// source or destination is an int for a guest and a string otherwise.
func (s *Site) Starlark() *starlarkstruct.Struct {
	byVMID := map[int]starlark.Value{}
	lxcs := make([]starlark.Value, 0, len(s.LXCs))
	for _, l := range s.LXCs {
		v := guestStruct(reflect.ValueOf(l).Elem(), "lxc")
		lxcs = append(lxcs, v)
		byVMID[l.VMID] = v
	}
	vms := make([]starlark.Value, 0, len(s.VMs))
	for _, m := range s.VMs {
		v := guestStruct(reflect.ValueOf(m).Elem(), "vm")
		vms = append(vms, v)
		byVMID[m.VMID] = v
	}
	var guests []starlark.Value
	for _, g := range s.Guests() {
		guests = append(guests, byVMID[g.VMID])
	}
	var flows []starlark.Value
	for _, f := range s.Hypervisor.Firewall.Flows {
		flows = append(flows, toStarlark(reflect.ValueOf(f)))
	}
	var records []starlark.Value
	for _, r := range s.Records() {
		records = append(records, starlarkstruct.FromStringDict(starlarkstruct.Default, starlark.StringDict{
			"view": starlark.String(r.View), "name": starlark.String(r.Name), "type": starlark.String(r.Type),
			"value": starlark.String(r.Value), "source": starlark.String(r.Source), "vmid": starlark.MakeInt(r.VMID),
		}))
	}
	guestList, flowList, recordList := starlark.NewList(guests), starlark.NewList(flows), starlark.NewList(records)

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
	st := starlarkstruct.FromStringDict(starlarkstruct.Default, starlark.StringDict{
		"hypervisor": toStarlark(reflect.ValueOf(s.Hypervisor)),
		"lxcs":       starlark.NewList(lxcs),
		"vms":        starlark.NewList(vms),
		"guests":     list("guests", guestList),
		"lxc":        lookup("lxc", LXCFile),
		"vm":         lookup("vm", VMFile),
		"flows":      list("flows", flowList),
		"records":    list("records", recordList),
	})
	st.Freeze()
	guestList.Freeze()
	flowList.Freeze()
	recordList.Freeze()
	return st
}

func guestStruct(v reflect.Value, kind string) starlark.Value {
	d := structDict(v)
	d["kind"] = starlark.String(kind)
	return starlarkstruct.FromStringDict(starlarkstruct.Default, d)
}

func structDict(v reflect.Value) starlark.StringDict {
	si := infoOf(v.Type())
	d := make(starlark.StringDict, len(si.fields)+len(si.derived))
	for _, f := range si.fields {
		d[f.name] = toStarlark(v.Field(f.index))
	}
	for _, f := range si.derived {
		d[f.name] = toStarlark(v.Field(f.index))
	}
	return d
}

func toStarlark(v reflect.Value) starlark.Value {
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
			elems[i] = toStarlark(v.Index(i))
		}
		return starlark.NewList(elems)
	case reflect.Map:
		keys := make([]string, 0, v.Len())
		for _, k := range v.MapKeys() {
			keys = append(keys, k.String())
		}
		sort.Strings(keys)
		d := starlark.NewDict(len(keys))
		for _, k := range keys {
			_ = d.SetKey(starlark.String(k), toStarlark(v.MapIndex(reflect.ValueOf(k))))
		}
		return d
	case reflect.Pointer:
		if v.IsNil() {
			return starlark.None
		}
		return toStarlark(v.Elem())
	case reflect.Struct:
		return starlarkstruct.FromStringDict(starlarkstruct.Default, structDict(v))
	}
	panic("site: no Starlark form for " + v.Type().String())
}
