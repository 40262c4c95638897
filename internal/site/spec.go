package site

import (
	"fmt"
	"maps"
	"strconv"
)

// A guest written (or changed) in a script is checked against the rest of
// the site with the rules phoenix validate applies to the files, so that
// a copy of another guest's address or name is refused the same way.

type specGuest struct {
	vmid int
	root *jpath
}

// guestAt is where a guest is declared: its key in its file, or the
// script's spec.
func (s *Site) guestAt(kind string, vmid int) place {
	if s.spec != nil && s.spec.vmid == vmid {
		return place{"", s.spec.root}
	}
	file := LXCFile
	if kind == "vm" {
		file = VMFile
	}
	return place{file, (*jpath)(nil).Key(strconv.Itoa(vmid))}
}

// CheckLXC checks l, a container a script declares, against the rest of
// the site; it replaces the site's container with the same VMID, if any.
// Errors are Errors whose paths start with root (e.g. "spec"). Defaults
// the site gives are filled in: the network's gateway.
func (s *Site) CheckLXC(l *LXC, root string) error {
	if s.vm[l.VMID] != nil {
		return Errors{{Path: root + ".vmid", Msg: fmt.Sprintf("%d is a VM in %s", l.VMID, VMFile)}}
	}
	t := s.withSpec(l.VMID, root)
	t.lxc[l.VMID] = l
	return t.checkSpec()
}

// CheckVM is CheckLXC for a virtual machine.
func (s *Site) CheckVM(v *VM, root string) error {
	if s.lxc[v.VMID] != nil {
		return Errors{{Path: root + ".vmid", Msg: fmt.Sprintf("%d is an LXC in %s", v.VMID, LXCFile)}}
	}
	t := s.withSpec(v.VMID, root)
	t.vm[v.VMID] = v
	return t.checkSpec()
}

// withSpec is a copy of s that the checks may write to (they fill in
// derived paths) without touching what the run shares.
func (s *Site) withSpec(vmid int, root string) *Site {
	t := &Site{Hypervisor: s.Hypervisor, lxc: maps.Clone(s.lxc), vm: maps.Clone(s.vm), broken: s.broken,
		spec: &specGuest{vmid: vmid, root: (*jpath)(nil).Key(root)}}
	exports := make(map[string]*Export, len(s.Hypervisor.CA.Exports))
	for k, e := range s.Hypervisor.CA.Exports {
		c := *e
		exports[k] = &c
	}
	t.Hypervisor.CA.Exports = exports
	return t
}

func (t *Site) checkSpec() error {
	vmid := t.spec.vmid
	// The spec goes last, so that a conflict is reported on it and names
	// the guest of the files it conflicts with.
	last := func(n int, id func(i int) int, swap func(i, j int)) {
		for i := 0; i < n-1; i++ {
			if id(i) == vmid {
				swap(i, i+1)
			}
		}
	}
	t.LXCs = byVMID(t.lxc)
	t.VMs = byVMID(t.vm)
	last(len(t.LXCs), func(i int) int { return t.LXCs[i].VMID }, func(i, j int) { t.LXCs[i], t.LXCs[j] = t.LXCs[j], t.LXCs[i] })
	t.makeGuests()
	last(len(t.guests), func(i int) int { return t.guests[i].VMID }, func(i, j int) { t.guests[i], t.guests[j] = t.guests[j], t.guests[i] })
	ps := &problems{}
	checkSite(t, ps)
	if errs := ps.resolve(nil); len(errs) > 0 {
		return errs
	}
	return nil
}
