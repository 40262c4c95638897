package pve

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// MountPoint is a bind mount of a host directory into a container.
type MountPoint struct {
	HostPath, ContainerPath string
	ReadOnly                bool
}

// Value is the mpN value PVE stores for it.
func (m MountPoint) Value() string {
	v := m.HostPath + ",mp=" + m.ContainerPath
	if m.ReadOnly {
		v += ",ro=1"
	}
	return v
}

// LXCSpec is a container as the site declares it.
type LXCSpec struct {
	VMID          int
	Node          string
	Hostname      string
	Template      string // volume ID, e.g. local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst
	RootFSStorage string
	RootFSSizeGB  int
	MemoryMB      int
	SwapMB        int
	Cores         int
	Net0          string // PVE form: name=eth0,bridge=vmbr0,ip=...,gw=...,firewall=1
	Nameserver    string
	Searchdomain  string
	Features      string // PVE form: nesting=1,keyctl=1
	Unprivileged  bool
	OnBoot        bool
	MountPoints   []MountPoint
}

// Validate checks what PVE would refuse late, naming the field.
func (s *LXCSpec) Validate() error {
	switch {
	case s.VMID < 100 || s.VMID > 999999999:
		return fmt.Errorf("vmid %d: want 100..999999999", s.VMID)
	case s.Node == "":
		return fmt.Errorf("lxc %d: node is empty", s.VMID)
	case s.Hostname == "":
		return fmt.Errorf("lxc %d: hostname is empty", s.VMID)
	case s.MemoryMB < 16:
		return fmt.Errorf("lxc %d: memory_mb %d: want at least 16", s.VMID, s.MemoryMB)
	case s.Cores < 0 || s.SwapMB < 0 || s.RootFSSizeGB < 0:
		return fmt.Errorf("lxc %d: cores, swap_mb and rootfs size must not be negative", s.VMID)
	}
	if st, _, ok := strings.Cut(s.Template, ":"); !ok || st == "" {
		return fmt.Errorf("lxc %d: template %q: want STORAGE:vztmpl/NAME", s.VMID, s.Template)
	}
	seen := map[string]bool{}
	for i, m := range s.MountPoints {
		if !strings.HasPrefix(m.HostPath, "/") || !strings.HasPrefix(m.ContainerPath, "/") {
			return fmt.Errorf("lxc %d: mount_points[%d]: host_path and container_path must be absolute", s.VMID, i)
		}
		if strings.Contains(m.HostPath+m.ContainerPath, ",") {
			return fmt.Errorf("lxc %d: mount_points[%d]: paths must not contain commas", s.VMID, i)
		}
		if seen[m.ContainerPath] {
			return fmt.Errorf("lxc %d: mount_points[%d]: %s is mounted twice", s.VMID, i, m.ContainerPath)
		}
		seen[m.ContainerPath] = true
	}
	return nil
}

// Options is the config phoenix manages on an existing container; an
// empty value means the option should be absent.
func (s *LXCSpec) Options() Config {
	c := Config{
		"hostname":     s.Hostname,
		"memory":       strconv.Itoa(s.MemoryMB),
		"swap":         strconv.Itoa(s.SwapMB),
		"net0":         s.Net0,
		"nameserver":   s.Nameserver,
		"searchdomain": s.Searchdomain,
		"features":     s.Features,
		"onboot":       boolDigit(s.OnBoot),
	}
	if s.Cores > 0 {
		c["cores"] = strconv.Itoa(s.Cores)
	} else {
		c["cores"] = ""
	}
	for i, m := range s.MountPoints {
		c["mp"+strconv.Itoa(i)] = m.Value()
	}
	return c
}

// CreateConfig is the whole create request's config.
func (s *LXCSpec) CreateConfig() Config {
	c := Config{}
	for k, v := range s.Options() {
		if v != "" {
			c[k] = v
		}
	}
	c["ostemplate"] = s.Template
	if s.RootFSStorage != "" {
		size := s.RootFSSizeGB
		if size == 0 {
			size = 4
		}
		c["rootfs"] = s.RootFSStorage + ":" + strconv.Itoa(size)
	}
	c["unprivileged"] = boolDigit(s.Unprivileged)
	return c
}

// VMSpec is a virtual machine as the site declares it: a clone of a
// template, set up through cloud-init.
type VMSpec struct {
	VMID         int
	Node         string
	Name         string
	CloneFrom    int
	MemoryMB     int
	Cores        int
	Net0         string // PVE form without MAC: virtio,bridge=vmbr0,firewall=1
	IPConfig0    string // ip=10.0.0.201/24,gw=10.0.0.1
	Nameserver   string
	Searchdomain string
	OnBoot       bool
}

// Validate checks the spec, naming the field.
func (s *VMSpec) Validate() error {
	switch {
	case s.VMID < 100 || s.VMID > 999999999:
		return fmt.Errorf("vmid %d: want 100..999999999", s.VMID)
	case s.Node == "":
		return fmt.Errorf("vm %d: node is empty", s.VMID)
	case s.Name == "":
		return fmt.Errorf("vm %d: name is empty", s.VMID)
	case s.CloneFrom < 100:
		return fmt.Errorf("vm %d: clone_from %d: want the VMID of a template", s.VMID, s.CloneFrom)
	case s.CloneFrom == s.VMID:
		return fmt.Errorf("vm %d: clone_from is the VM itself", s.VMID)
	case s.MemoryMB < 16:
		return fmt.Errorf("vm %d: memory_mb %d: want at least 16", s.VMID, s.MemoryMB)
	}
	return nil
}

// Options is the config phoenix manages on the VM.
func (s *VMSpec) Options() Config {
	c := Config{
		"name":         s.Name,
		"memory":       strconv.Itoa(s.MemoryMB),
		"net0":         s.Net0,
		"ipconfig0":    s.IPConfig0,
		"nameserver":   s.Nameserver,
		"searchdomain": s.Searchdomain,
		"onboot":       boolDigit(s.OnBoot),
	}
	if s.Cores > 0 {
		c["cores"] = strconv.Itoa(s.Cores)
	}
	return c
}

func boolDigit(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// lxcHot are the container options PVE applies to a running container at
// once; every other change waits for a restart.
var lxcHot = map[string]bool{
	"description": true, "onboot": true, "startup": true, "protection": true, "hostname": true,
	"hookscript": true, "cores": true, "tags": true, "cpulimit": true, "cpuunits": true,
	"memory": true, "swap": true,
}

// qemuHot are the VM options applied at once with PVE's default hotplug
// (network, disk, usb); memory, CPUs and cloud-init wait for a restart.
var qemuHot = map[string]bool{
	"name": true, "description": true, "onboot": true, "tags": true, "protection": true,
	"startup": true, "hookscript": true, "shares": true, "balloon": true, "cpulimit": true, "cpuunits": true,
}

// HeldUntilRestart reports whether PVE keeps a change of key pending on a
// running guest of kind.
func HeldUntilRestart(kind Kind, key string) bool {
	f := family(key)
	if kind == LXC {
		return !lxcHot[key] && f != "net"
	}
	return !qemuHot[key] && f != "net"
}

// Plan is what converging one guest needs.
type Plan struct {
	Guest  Guest
	Exists bool
	// Changes are the options to set or remove on an existing guest.
	Changes []Change
	// PendingRestart: a running guest will hold some of Changes until it
	// restarts.
	PendingRestart bool
	// StillPending are options PVE holds from earlier changes, which this
	// plan does not touch.
	StillPending []string
	// State is the config read, when the guest exists.
	State *State
}

// Keys lists the changed options.
func (p *Plan) Keys() []string {
	out := make([]string, len(p.Changes))
	for i, c := range p.Changes {
		out[i] = c.Key
	}
	return out
}

// Detail is the plan's one-line diff: "memory: 512 -> 1024, mp0: ...".
func (p *Plan) Detail() string {
	parts := make([]string, len(p.Changes))
	for i, c := range p.Changes {
		parts[i] = c.String()
	}
	return strings.Join(parts, ", ")
}

// Split returns the options to set and the ones to remove.
func (p *Plan) Split() (Config, []string) {
	set := Config{}
	var del []string
	for _, c := range p.Changes {
		if c.New == "" {
			del = append(del, c.Key)
		} else {
			set[c.Key] = c.New
		}
	}
	return set, del
}

// isMP reports container mount point options, which phoenix owns: one the
// spec no longer lists is removed.
func isMP(key string) bool { return family(key) == "mp" && key != "mp" }

// PlanLXC compares a container with its spec: one cluster-resources call
// per run (shared) and one config read.
func (c *Client) PlanLXC(ctx context.Context, s *LXCSpec) (*Plan, error) {
	g, st, err := c.existing(ctx, Guest{VMID: s.VMID, Kind: LXC, Node: s.Node, Name: s.Hostname})
	if err != nil {
		return nil, err
	}
	if st == nil {
		return &Plan{Guest: g}, nil
	}
	if want := boolDigit(s.Unprivileged); norm(LXC, "unprivileged", st.Effective["unprivileged"]) != want {
		return nil, fmt.Errorf("lxc:%d is unprivileged=%s in PVE but the spec says %s; PVE cannot change this on an existing container: back up its data, destroy it (lxc_destroy) and converge again", s.VMID, norm(LXC, "unprivileged", st.Effective["unprivileged"]), want)
	}
	if err := checkRootFS(st.Effective["rootfs"], s); err != nil {
		return nil, err
	}
	return finishPlan(g, st, Diff(LXC, st.Effective, s.Options(), isMP)), nil
}

// PlanVM compares a VM with its spec.
func (c *Client) PlanVM(ctx context.Context, s *VMSpec) (*Plan, error) {
	g, st, err := c.existing(ctx, Guest{VMID: s.VMID, Kind: QEMU, Node: s.Node, Name: s.Name})
	if err != nil {
		return nil, err
	}
	if st == nil {
		return &Plan{Guest: g}, nil
	}
	return finishPlan(g, st, Diff(QEMU, st.Effective, s.Options(), nil)), nil
}

// existing reads the guest a plan compares with its spec: want itself,
// with no state, when PVE lacks it; an error when PVE's guest is of
// another kind, a template or on another node.
func (c *Client) existing(ctx context.Context, want Guest) (Guest, *State, error) {
	g, ok, err := c.Guest(ctx, want.VMID)
	if err != nil || !ok {
		return want, nil, err
	}
	if err := checkPlacement(g, want.Kind, want.Node); err != nil {
		return Guest{}, nil, err
	}
	st, err := c.ReadState(ctx, g)
	return g, st, err
}

func finishPlan(g Guest, st *State, changes []Change) *Plan {
	p := &Plan{Guest: g, Exists: true, State: st, Changes: changes}
	touched := map[string]bool{}
	for _, ch := range changes {
		touched[ch.Key] = true
		if g.Running() && HeldUntilRestart(g.Kind, ch.Key) {
			p.PendingRestart = true
		}
	}
	for _, k := range st.Pending {
		if !touched[k] {
			p.StillPending = append(p.StillPending, k)
		}
	}
	return p
}

func checkPlacement(g Guest, kind Kind, node string) error {
	if g.Kind != kind {
		return fmt.Errorf("VMID %d is a %s in PVE (%q on %s), not a %s; pick another VMID or remove that guest", g.VMID, g.Kind.Word(), g.Name, g.Node, kind.Word())
	}
	if g.Template {
		return fmt.Errorf("VMID %d is a template in PVE; pick another VMID", g.VMID)
	}
	if g.Node != node {
		return fmt.Errorf("%s is on node %s but the spec places it on %s; phoenix does not migrate guests: migrate it in PVE or change node", g.Resource(), g.Node, node)
	}
	return nil
}

// checkRootFS refuses a root disk on another storage or smaller than the
// spec: neither changes in place.
func checkRootFS(have string, s *LXCSpec) error {
	if have == "" || s.RootFSStorage == "" {
		return nil
	}
	m := ParseProp(LXC, "rootfs", have)
	st, _, _ := strings.Cut(m["volume"], ":")
	if st != s.RootFSStorage {
		return fmt.Errorf("lxc:%d has its root disk on storage %s, the spec says %s; move it with `pct move-volume %d rootfs %s`", s.VMID, st, s.RootFSStorage, s.VMID, s.RootFSStorage)
	}
	if m["size"] != "" && s.RootFSSizeGB > 0 {
		size, err := ParseSize(m["size"])
		if err == nil && size < int64(s.RootFSSizeGB)<<30 {
			return fmt.Errorf("lxc:%d has a %s root disk, the spec says %dG; grow it with `pct resize %d rootfs %dG`", s.VMID, m["size"], s.RootFSSizeGB, s.VMID, s.RootFSSizeGB)
		}
	}
	return nil
}
