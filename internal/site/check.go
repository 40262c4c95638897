package site

import (
	"encoding/json"
	"fmt"
	"io/fs"
	"net/netip"
	"path"
	"slices"
	"strings"
	"time"
)

// Rules within one object run as the object is decoded (the check
// methods); rules that look across objects and files run in checkSite.

func (p *PVE) check(c *structCtx) {
	n := 0
	for _, k := range []string{"fingerprint", "ca_file"} {
		if c.has(k) {
			n++
		}
	}
	if p.InsecureSkipTLSVerify {
		n++
	}
	switch {
	case n == 0:
		c.err("", "set fingerprint or ca_file to verify the API's certificate, or insecure_skip_tls_verify: true to skip verification")
	case n > 1:
		c.err("", "set only one of fingerprint, ca_file and insecure_skip_tls_verify: true")
	}
}

// schemaRule is the JSON Schema form of check, merged into the generated
// schema of the type so the two stay side by side.
func (PVE) schemaRule() string {
	return `{"oneOf": [
		{"required": ["fingerprint"]},
		{"required": ["ca_file"]},
		{"required": ["insecure_skip_tls_verify"], "properties": {"insecure_skip_tls_verify": {"const": true}}}]}`
}

func (st *Storage) check(c *structCtx) {
	switch st.Type {
	case "dir":
		if !c.has("path") {
			c.err("", "a dir storage needs path")
		}
		if c.has("pool") {
			c.err("pool", "only a zfspool storage has pool")
		}
	case "zfspool":
		if !c.has("pool") {
			c.err("", "a zfspool storage needs pool")
		}
		if c.has("path") {
			c.err("path", "only a dir storage has path")
		}
	}
}

func (Storage) schemaRule() string {
	return `{"allOf": [
		{"if": {"properties": {"type": {"const": "dir"}}, "required": ["type"]},
		 "then": {"required": ["path"], "not": {"required": ["pool"]}}},
		{"if": {"properties": {"type": {"const": "zfspool"}}, "required": ["type"]},
		 "then": {"required": ["pool"], "not": {"required": ["path"]}}}]}`
}

func (r *ZoneRecord) check(c *structCtx) {
	a, cn := c.has("address"), c.has("cname")
	switch {
	case a && cn:
		c.err("cname", "set only one of address and cname")
	case !a && !cn:
		c.err("", "set address or cname")
	}
}

func (ZoneRecord) schemaRule() string {
	return `{"oneOf": [{"required": ["address"]}, {"required": ["cname"]}]}`
}

func (r *GuestRecord) check(c *structCtx) {
	if c.has("address") && c.has("cname") {
		c.err("cname", "set only one of address and cname")
	}
}

func (GuestRecord) schemaRule() string {
	return `{"not": {"required": ["address", "cname"]}}`
}

func (r *Route) check(c *structCtx) {
	if r.InsecureSkipVerify && r.Scheme != "https" {
		c.err("insecure_skip_verify", "only for a route with scheme https")
	}
}

func (Route) schemaRule() string {
	return `{"if": {"properties": {"insecure_skip_verify": {"const": true}}, "required": ["insecure_skip_verify"]},
		"then": {"properties": {"scheme": {"const": "https"}}}}`
}

var icmpTypes = map[string][]string{
	"icmp":   {"destination-unreachable", "time-exceeded", "parameter-problem", "echo-request", "echo-reply"},
	"icmpv6": {"destination-unreachable", "time-exceeded", "parameter-problem", "echo-request", "echo-reply", "packet-too-big", "nd-router-solicit", "nd-router-advert", "nd-neighbor-solicit", "nd-neighbor-advert"},
}

func (f *Flow) check(c *structCtx) {
	switch f.Proto {
	case "tcp", "udp":
		if !c.has("port") {
			c.err("", "a %s flow needs port", f.Proto)
		}
		if c.has("icmp_types") {
			c.err("icmp_types", "only icmp and icmpv6 flows have icmp_types")
		}
	case "icmp", "icmpv6":
		if c.has("port") {
			c.err("port", "an %s flow has no port", f.Proto)
		}
		if !c.has("icmp_types") {
			c.err("", "an %s flow needs icmp_types", f.Proto)
		}
		for i, t := range f.ICMPTypes {
			if t != "" && !slices.Contains(icmpTypes[f.Proto], t) {
				c.d.err(c.path().Key("icmp_types").Index(i), "%q is not an %s type", t, f.Proto)
			}
		}
	}
}

func (Flow) schemaRule() string {
	icmp, _ := json.Marshal(icmpTypes["icmp"])
	return `{"allOf": [
		{"if": {"properties": {"proto": {"enum": ["tcp", "udp"]}}, "required": ["proto"]},
		 "then": {"required": ["port"], "not": {"required": ["icmp_types"]}}},
		{"if": {"properties": {"proto": {"enum": ["icmp", "icmpv6"]}}, "required": ["proto"]},
		 "then": {"required": ["icmp_types"], "not": {"required": ["port"]}}},
		{"if": {"properties": {"proto": {"const": "icmp"}}, "required": ["proto"]},
		 "then": {"properties": {"icmp_types": {"items": {"enum": ` + string(icmp) + `}}}}}]}`
}

func (l *LXC) check(c *structCtx) {
	if l.Features.Keyctl && !l.Unprivileged {
		c.d.err(c.path().Key("features").Key("keyctl"), "keyctl is for unprivileged containers only")
	}
	if len(l.MountPoints) > 256 {
		c.err("mount_points", "at most 256 mount points (mp0-mp255)")
	}
	// Containers have a handful of mount points: a map would cost more.
	for i, m := range l.MountPoints {
		for j := 0; j < i && m.ContainerPath != ""; j++ {
			if l.MountPoints[j].ContainerPath == m.ContainerPath {
				c.d.err(c.path().Key("mount_points").Index(i).Key("container_path"), "%s is also mount_points[%d]", m.ContainerPath, j)
				break
			}
		}
	}
}

func (LXC) schemaRule() string {
	return `{"if": {"properties": {"features": {"properties": {"keyctl": {"const": true}}, "required": ["keyctl"]}}, "required": ["features"]},
		"then": {"not": {"properties": {"unprivileged": {"const": false}}, "required": ["unprivileged"]}}}`
}

func (l *LXC) unsupportedKey(k string) string {
	switch {
	case k == "idmap":
		return "custom LXC idmaps are not supported yet"
	case k == "lxc" || strings.HasPrefix(k, "lxc."):
		return "raw lxc.* keys are not supported yet"
	}
	return ""
}

// minDuration is step-ca's shortest allowed certificate lifetime.
const minDuration = 5 * time.Minute

func (d *CADurations) check(c *structCtx) {
	for _, x := range []struct {
		k string
		v Duration
	}{{"default", d.Default}, {"max", d.Max}} {
		if c.has(x.k) && x.v.Duration != 0 && x.v.Duration < minDuration {
			c.err(x.k, "must be at least %s", minDuration)
		}
	}
	if d.Default.Duration != 0 && d.Max.Duration != 0 && d.Default.Duration > d.Max.Duration {
		c.err("default", "%s is longer than max (%s)", d.Default, d.Max)
	}
}

func (ca *CA) check(c *structCtx) {
	names := sortedKeys(ca.Exports)
	for _, name := range names {
		e := ca.Exports[name]
		ep := c.path().Key("exports").Key(name).Key("path")
		if e.Path == "" {
			continue
		}
		if ca.PrivateDir != "" && (within(e.Path, ca.PrivateDir) || within(ca.PrivateDir, e.Path)) {
			c.d.err(ep, "%s overlaps private_dir %s: an export must not expose the CA's private files", e.Path, ca.PrivateDir)
		}
	}
	for i, a := range names {
		for _, b := range names[i+1:] {
			pa, pb := ca.Exports[a].Path, ca.Exports[b].Path
			if pa != "" && pb != "" && (within(pa, pb) || within(pb, pa)) {
				c.d.err(c.path().Key("exports").Key(b).Key("path"), "%s overlaps export %q (%s)", pb, a, pa)
			}
		}
	}
}

func (h *Hypervisor) check(c *structCtx) {
	d := c.d
	root := c.path()
	mg := h.Management.CIDR
	for _, name := range sortedKeys(h.Nodes) {
		ip := h.Nodes[name].ManagementIP
		if mg.IsValid() && ip.IsValid() && !mg.Contains(ip) {
			d.err(root.Key("nodes").Key(name).Key("management_ip"), "%s is outside management.cidr %s", ip, mg)
		}
	}
	for _, name := range sortedKeys(h.Bridges) {
		b := h.Bridges[name]
		if !b.CIDR.IsValid() || !b.Gateway.IsValid() {
			continue
		}
		if why := hostAddrProblem(b.Gateway, b.CIDR); why != "" {
			d.err(root.Key("bridges").Key(name).Key("gateway"), "%s %s", b.Gateway, why)
		}
	}
	if z := h.ZFS; z.Pool != "" && z.PersistentData.Dataset != "" && !strings.HasPrefix(z.PersistentData.Dataset, z.Pool+"/") {
		d.err(root.Key("zfs").Key("persistent_data").Key("dataset"), "%s is not in pool %s", z.PersistentData.Dataset, z.Pool)
	}
	if la := h.DNS.ListenAddress; la.IsValid() {
		ok := false
		for _, b := range h.Bridges {
			ok = ok || b.Gateway == la
		}
		for _, n := range h.Nodes {
			ok = ok || n.ManagementIP == la
		}
		if !ok {
			d.err(root.Key("dns").Key("listen_address"), "%s is not an address of the host (a bridge's gateway or a node's management_ip)", la)
		}
	}
	if ea := h.DNS.ExternalListenAddress; ea.IsValid() && ea == h.DNS.ListenAddress {
		d.err(root.Key("dns").Key("external_listen_address"), "%s is the listen_address: the external view needs an address of its own, or an external client would be answered from the internal view", ea)
	}
	for _, zn := range sortedKeys(h.DNS.Zones) {
		z := h.DNS.Zones[zn]
		for _, v := range []struct {
			key  string
			recs []ZoneRecord
		}{{"internal", z.Internal}, {"external", z.External}} {
			for i, r := range v.recs {
				if r.Name != "" && !inZone(r.Name, zn) {
					d.err(root.Key("dns").Key("zones").Key(zn).Key(v.key).Index(i).Key("name"), "%s is not inside zone %s", r.Name, zn)
				}
			}
		}
	}
	h.checkFlows(c)
}

func (h *Hypervisor) checkFlows(c *structCtx) {
	fp := c.path().Key("firewall").Key("flows")
	seen := map[string]int{}
	corosync := false
	for i, f := range h.Firewall.Flows {
		if f.Proto == "" || f.Comment == "" {
			continue
		}
		key := fmt.Sprintf("%s>%s/%s/%d/%s", f.Source, f.Destination, f.Proto, f.Port, strings.Join(f.ICMPTypes, ","))
		if j, dup := seen[key]; dup {
			c.d.err(fp.Index(i), "same flow as firewall.flows[%d]", j)
		}
		seen[key] = i
		if f.Source.Keyword == "nodes" && f.Destination.Keyword == "nodes" && f.Proto == "udp" && f.Port == 5405 {
			corosync = true
		}
		if (f.Source.Keyword == "nodes" || f.Destination.Keyword == "nodes") && len(h.Nodes) < 2 && f.Source.Keyword == f.Destination.Keyword {
			c.d.err(fp.Index(i), "a flow between nodes needs a cluster of more than one node")
		}
	}
	if len(h.Nodes) > 1 && !corosync {
		c.d.err(fp, "the cluster has %d nodes but no corosync flow (source \"nodes\", destination \"nodes\", udp port 5405)", len(h.Nodes))
	}
}

// hostAddrProblem says why a is not a usable host address in network n.
func hostAddrProblem(a netip.Addr, n netip.Prefix) string {
	if !n.Contains(a) {
		return "is outside " + n.String()
	}
	if a == n.Addr() && n.Bits() < n.Addr().BitLen()-1 {
		return "is the network address of " + n.String()
	}
	if a.Is4() && n.Bits() < 31 && a == lastAddr(n) {
		return "is the broadcast address of " + n.String()
	}
	return ""
}

func lastAddr(n netip.Prefix) netip.Addr {
	b := n.Masked().Addr().As4()
	host := uint32(1)<<(32-n.Bits()) - 1
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3]) | host
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// within reports whether p is q or lies below it (paths are clean).
func within(p, q string) bool {
	return p == q || strings.HasPrefix(p, q+"/") || q == "/"
}

// inZone reports whether name is zone or below it, ignoring case.
func inZone(name, zone string) bool {
	if len(name) == len(zone) {
		return strings.EqualFold(name, zone)
	}
	i := len(name) - len(zone)
	return i > 0 && name[i-1] == '.' && strings.EqualFold(name[i:], zone)
}

// checkSite runs the rules that span files.
func checkSite(s *Site, ps *problems) {
	h := &s.Hypervisor
	hyp := func(p *jpath) place { return place{HypervisorFile, p} }
	var root *jpath

	type gref struct {
		g   Guest
		at  place // the guest's key
		net *jpath
	}
	guests := make([]gref, 0, len(s.guests))
	for _, g := range s.guests {
		at := s.guestAt(g.Kind, g.VMID)
		guests = append(guests, gref{g, at, at.p.Key("network")})
	}
	at := func(r gref, p *jpath) place { return place{r.at.file, p} }

	// VMIDs: one guest per VMID across both files.
	for _, v := range s.VMs {
		if s.lxc[v.VMID] != nil {
			ps.at(s.guestAt("vm", v.VMID), "VMID %d is also used by %s", v.VMID, s.guestAt("lxc", v.VMID))
		}
	}

	nodeNames := sortedKeys(h.Nodes)
	ipOwner := make(map[netip.Addr]place, len(s.guests)+len(h.Nodes)+len(h.Bridges))
	for _, name := range nodeNames {
		if a := h.Nodes[name].ManagementIP; a.IsValid() {
			ipOwner[a] = hyp(root.Key("nodes").Key(name).Key("management_ip"))
		}
	}
	for _, name := range sortedKeys(h.Bridges) {
		if a := h.Bridges[name].Gateway; a.IsValid() {
			if _, taken := ipOwner[a]; !taken {
				ipOwner[a] = hyp(root.Key("bridges").Key(name).Key("gateway"))
			}
		}
	}
	nameOwner := make(map[string]place, len(s.guests))
	for _, r := range guests {
		g := r.g
		if g.Node != "" && h.Nodes[g.Node] == nil {
			ps.at(at(r, r.at.p.Key("node")), "node %q is not in %s%s", g.Node, hyp(root.Key("nodes")), didYouMean(g.Node, nodeNames))
		}
		if g.Name != "" {
			key := "name"
			if g.Kind == "lxc" {
				key = "hostname"
			}
			ln := lower(g.Name)
			if prev, dup := nameOwner[ln]; dup {
				ps.at(at(r, r.at.p.Key(key)), "%s is also the name of %s", g.Name, prev)
			} else {
				nameOwner[ln] = at(r, r.at.p.Key(key))
			}
		}
		// Network: the bridge exists and the address fits it.
		b := h.Bridges[g.Bridge]
		if g.Bridge != "" && b == nil {
			ps.at(at(r, r.net.Key("bridge")), "bridge %q is not in %s%s", g.Bridge, hyp(root.Key("bridges")), didYouMean(g.Bridge, sortedKeys(h.Bridges)))
		}
		ipAt := at(r, r.net.Key("ip"))
		if g.IP.IsValid() {
			a := g.IP.Addr()
			if b != nil && b.CIDR.IsValid() {
				cidrAt := hyp(root.Key("bridges").Key(g.Bridge).Key("cidr"))
				if why := hostAddrProblem(a, b.CIDR); why != "" {
					ps.at(ipAt, "%s %s of bridge %s (%s)", a, why, g.Bridge, cidrAt)
				} else if g.IP.Bits() != b.CIDR.Bits() {
					ps.at(ipAt, "prefix length /%d differs from bridge %s's %s (%s)", g.IP.Bits(), g.Bridge, b.CIDR, cidrAt)
				}
			}
			if prev, dup := ipOwner[a]; dup {
				ps.at(ipAt, "%s is already used by %s", a, prev)
			} else {
				ipOwner[a] = ipAt
			}
		}
		if b != nil && b.Gateway.IsValid() {
			gw := g.Gateway
			if !gw.IsValid() {
				// Fill the documented default.
				if g.LXC != nil {
					g.LXC.Network.Gateway = b.Gateway
				} else {
					g.VM.Network.Gateway = b.Gateway
				}
			} else if b.CIDR.IsValid() && !b.CIDR.Contains(gw) {
				ps.at(at(r, r.net.Key("gateway")), "%s is outside bridge %s's %s", gw, g.Bridge, b.CIDR)
			}
		}
		if l := g.LXC; l != nil {
			checkStorage(s, ps, at(r, r.at.p.Key("rootfs").Key("storage")), l.RootFS.Storage, "rootdir")
			if st, _, ok := strings.Cut(l.Template, ":"); ok {
				checkStorage(s, ps, at(r, r.at.p.Key("template")), st, "vztmpl")
			}
		}
		if v := g.VM; v != nil && v.CloneFrom != 0 {
			if _, isGuest := s.Guest(v.CloneFrom); isGuest {
				ps.at(at(r, r.at.p.Key("clone_from")), "%d is a guest of this site, not a template", v.CloneFrom)
			}
		}
	}

	checkCA(s, ps)
	checkMounts(s, ps)
	checkFlowGuests(s, ps)
	checkServices(s, ps)
	s.records = checkRecords(s, ps)
}

func checkStorage(s *Site, ps *problems, at place, id, content string) {
	if id == "" {
		return
	}
	st := s.Hypervisor.Storage[id]
	hp := place{HypervisorFile, (*jpath)(nil).Key("storage")}
	if st == nil {
		ps.at(at, "storage %q is not in %s%s", id, hp, didYouMean(id, sortedKeys(s.Hypervisor.Storage)))
		return
	}
	if !slices.Contains(st.Content, content) {
		ps.at(at, "storage %q does not hold %s (%s)", id, content, place{HypervisorFile, hp.p.Key(id).Key("content")})
	}
}

func checkCA(s *Site, ps *problems) {
	ca := &s.Hypervisor.CA
	cp := (*jpath)(nil).Key("ca")
	hyp := func(p *jpath) place { return place{HypervisorFile, p} }
	base := s.Hypervisor.ZFS.PersistentData.Mountpoint
	if ca.VMID == 0 || base == "" {
		return
	}
	caGuest := s.lxc[ca.VMID]
	if caGuest == nil && !s.broken[ca.VMID] {
		where := "in " + LXCFile
		if s.vm[ca.VMID] != nil {
			where = "an LXC: it is a VM in " + VMFile
		}
		ps.at(hyp(cp.Key("vmid")), "guest %d is not %s", ca.VMID, where)
	}
	if ca.PrivateDir != "" {
		ca.PrivateHostPath = path.Join(s.DataDir(ca.VMID), ca.PrivateDir)
		if caGuest != nil {
			for _, m := range caGuest.MountPoints {
				if m.HostPath == ca.PrivateHostPath {
					ca.PrivateContainerPath = m.ContainerPath
				}
			}
			if ca.PrivateContainerPath == "" {
				ps.at(hyp(cp.Key("private_dir")), "guest %d must mount %s (%s)", ca.VMID, ca.PrivateHostPath, s.guestAt("lxc", ca.VMID).Key("mount_points"))
			}
		}
	}
	for _, name := range sortedKeys(ca.Exports) {
		e := ca.Exports[name]
		if e.Path != "" {
			e.HostPath = path.Join(s.DataDir(ca.VMID), e.Path)
		}
		for i, v := range e.Consumers {
			checkConsumer(s, ps, hyp(cp.Key("exports").Key(name).Key("consumers").Index(i)), v)
		}
	}
	for i, v := range ca.UnsafePrivateDirConsumers {
		checkConsumer(s, ps, hyp(cp.Key("unsafe_private_dir_consumers").Index(i)), v)
	}
}

func checkConsumer(s *Site, ps *problems, at place, vmid int) {
	ca := s.Hypervisor.CA
	switch {
	case vmid == 0 || s.broken[vmid]:
	case vmid == ca.VMID:
		ps.at(at, "%d is the CA itself", vmid)
	case s.lxc[vmid] != nil:
	case s.vm[vmid] != nil:
		ps.at(at, "guest %d is a VM; only LXCs can mount host directories", vmid)
	default:
		ps.at(at, "guest %d does not exist (not in %s or %s)", vmid, LXCFile, VMFile)
	}
}

// checkMounts enforces least privilege on bind mounts: a guest mounts its
// own persistent data, or an export it consumes read-only, and nobody but
// the CA (or a guest named in the override) sees the CA's private files.
func checkMounts(s *Site, ps *problems) {
	ca := &s.Hypervisor.CA
	base := s.Hypervisor.ZFS.PersistentData.Mountpoint
	if base == "" {
		return
	}
	caAt := place{HypervisorFile, (*jpath)(nil).Key("ca")}
	type first struct {
		at       place
		uid, gid int
		mode     string
	}
	byHostPath := map[string]first{}
	for _, l := range s.LXCs {
		own := s.DataDir(l.VMID)
		gat := s.guestAt("lxc", l.VMID)
		for i, m := range l.MountPoints {
			mp := gat.Key("mount_points").Index(i)
			at := mp.Key("host_path")
			hp := m.HostPath
			if hp == "" {
				continue
			}
			if prev, ok := byHostPath[hp]; ok {
				if prev.uid != m.OwnerUID || prev.gid != m.OwnerGID || prev.mode != ModeString(m.Mode) {
					ps.at(mp, "owner %d:%d mode %s of %s differs from %d:%d %s at %s", m.OwnerUID, m.OwnerGID, ModeString(m.Mode), hp, prev.uid, prev.gid, prev.mode, prev.at)
				}
			} else {
				byHostPath[hp] = first{mp, m.OwnerUID, m.OwnerGID, ModeString(m.Mode)}
			}
			checkMountMode(ps, mp.Key("mode"), &m, ca.PrivateHostPath)
			if within(hp, own) {
				continue
			}
			priv := ca.PrivateHostPath
			if priv != "" && l.VMID != ca.VMID && (within(hp, priv) || within(priv, hp)) {
				if within(hp, priv) && slices.Contains(ca.UnsafePrivateDirConsumers, l.VMID) {
					continue
				}
				ps.at(at, "%s exposes the CA's private directory %s (%s.private_dir) to guest %d; only the CA may mount it unless ca.unsafe_private_dir_consumers lists %d", hp, priv, caAt, l.VMID, l.VMID)
				continue
			}
			if exp := exportFor(ca, hp); exp != nil {
				ep := caAt.p.Key("exports").Key(exp.Name)
				if !slices.Contains(exp.Consumers, l.VMID) {
					ps.at(at, "%s is export %q of guest %d, which does not list %d in %s", hp, exp.Name, ca.VMID, l.VMID, place{HypervisorFile, ep.Key("consumers")})
				} else if !m.ReadOnly {
					ps.at(mp.Key("read_only"), "must be true: %s is another guest's export (%s)", hp, place{HypervisorFile, ep})
				}
				continue
			}
			ps.at(at, "%s is neither in guest %d's own dataset (%s) nor a declared export of another guest (%s.exports)", hp, l.VMID, own, caAt)
		}
	}
}

func exportFor(ca *CA, hp string) *Export {
	for _, name := range sortedKeys(ca.Exports) {
		e := ca.Exports[name]
		if e.HostPath != "" && within(hp, e.HostPath) {
			return e
		}
	}
	return nil
}

func checkFlowGuests(s *Site, ps *problems) {
	fp := (*jpath)(nil).Key("firewall").Key("flows")
	for i, f := range s.Hypervisor.Firewall.Flows {
		for _, e := range []struct {
			key string
			ep  Endpoint
		}{{"source", f.Source}, {"destination", f.Destination}} {
			if e.ep.VMID == 0 {
				continue
			}
			if _, ok := s.Guest(e.ep.VMID); !ok && !s.broken[e.ep.VMID] {
				ps.at(place{HypervisorFile, fp.Index(i).Key(e.key)}, "guest %d does not exist (not in %s or %s)", e.ep.VMID, LXCFile, VMFile)
			}
		}
	}
}

// checkServices checks that the guests the gateway and the mesh send
// traffic to exist.
func checkServices(s *Site, ps *problems) {
	ref := func(at place, vmid int) {
		if _, ok := s.Guest(vmid); !ok && vmid != 0 && !s.broken[vmid] {
			ps.at(at, "guest %d does not exist (not in %s or %s)", vmid, LXCFile, VMFile)
		}
	}
	for _, l := range s.LXCs {
		at := s.guestAt("lxc", l.VMID)
		if g := l.Gateway; g != nil {
			ref(place{at.file, at.p.Key("gateway").Key("upstream").Key("vmid")}, g.Upstream.VMID)
		}
		if t := l.Traefik; t != nil {
			for i, r := range t.Routes {
				ref(place{at.file, at.p.Key("traefik").Key("routes").Index(i).Key("vmid")}, r.VMID)
			}
		}
	}
}

// checkRecords gathers every DNS record, reports names outside the zones
// and names that mean two different things in one view, and returns the
// records sorted.
func checkRecords(s *Site, ps *problems) []Record {
	zones := sortedKeys(s.Hypervisor.DNS.Zones)
	n := 0
	for _, z := range s.Hypervisor.DNS.Zones {
		n += len(z.Internal) + len(z.External)
	}
	for _, l := range s.LXCs {
		n += len(l.DNSRecords)
	}
	for _, v := range s.VMs {
		n += len(v.DNSRecords)
	}
	out := make([]Record, 0, n)
	// Per view, a lower-cased name leads to its first record in out.
	first := map[string]map[string]int{"internal": make(map[string]int, n), "external": make(map[string]int, n/4)}
	add := func(r Record) {
		k := lower(r.Name)
		if i, ok := first[r.View][k]; ok {
			prev := out[i]
			if prev.Type != r.Type || prev.addr != r.addr || prev.Value != r.Value {
				ps.at(r.at, "%s is %s %s in the %s view here but %s %s at %s", r.Name, r.Type, r.value(), r.View, prev.Type, prev.value(), prev.at)
			}
			return
		}
		first[r.View][k] = len(out)
		out = append(out, r)
	}
	hyp := (*jpath)(nil).Key("dns").Key("zones")
	for _, zn := range zones {
		z := s.Hypervisor.DNS.Zones[zn]
		zp := hyp.Key(zn)
		for _, v := range []struct {
			view string
			recs []ZoneRecord
		}{{"internal", z.Internal}, {"external", z.External}} {
			vp := zp.Key(v.view)
			for i, zr := range v.recs {
				if r, ok := makeRecord(v.view, zr.Name, zr.Address, zr.CNAME, place{HypervisorFile, vp.Index(i)}, 0); ok {
					add(r)
				}
			}
		}
	}
	for _, g := range s.guests {
		if len(g.DNSRecords) == 0 {
			continue
		}
		gat := s.guestAt(g.Kind, g.VMID)
		file := gat.file
		gp := gat.p.Key("dns_records")
		kids := make([]jpath, len(g.DNSRecords))
		for i, gr := range g.DNSRecords {
			kids[i] = jpath{parent: gp, idx: i}
			at := place{file, &kids[i]}
			if gr.Name == "" {
				continue
			}
			inSome := false
			for _, zn := range zones {
				if inZone(gr.Name, zn) {
					inSome = true
					break
				}
			}
			if !inSome {
				ps.at(place{file, at.p.Key("name")}, "%s is not inside any zone of %s", gr.Name, place{HypervisorFile, hyp})
				continue
			}
			addr := gr.Address
			if !addr.IsValid() && gr.CNAME == "" {
				if !g.IP.IsValid() {
					continue
				}
				addr = g.IP.Addr()
			}
			switch gr.View {
			case "both":
				for _, view := range []string{"internal", "external"} {
					if r, ok := makeRecord(view, gr.Name, addr, gr.CNAME, at, g.VMID); ok {
						add(r)
					}
				}
			default:
				if r, ok := makeRecord(gr.View, gr.Name, addr, gr.CNAME, at, g.VMID); ok {
					add(r)
				}
			}
		}
	}
	// A CA name that resolves internally must lead to the CA.
	ca := s.Hypervisor.CA
	if caGuest := s.lxc[ca.VMID]; caGuest != nil && caGuest.Network.IP.IsValid() {
		want := caGuest.Network.IP.Addr()
		for i, n := range ca.DNSNames {
			if j, ok := first["internal"][lower(n)]; ok && out[j].addr.IsValid() && out[j].addr != want {
				ps.at(place{HypervisorFile, (*jpath)(nil).Key("ca").Key("dns_names").Index(i)}, "%s resolves to %s (%s), not to the CA's guest %d at %s", n, out[j].addr, out[j].at, ca.VMID, want)
			}
		}
	}
	return out
}

// lower is strings.ToLower without the allocation for names that are
// already lower case, as nearly all are.
func lower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' || c >= 0x80 {
			return strings.ToLower(s)
		}
	}
	return s
}

// makeRecord leaves an address's Value to be rendered by Records.
func makeRecord(view, name string, addr netip.Addr, cname string, at place, vmid int) (Record, bool) {
	r := Record{View: view, Name: name, VMID: vmid, at: at}
	switch {
	case cname != "":
		r.Type, r.Value = "CNAME", cname
	case addr.Is4():
		r.Type, r.addr = "A", addr
	case addr.IsValid():
		r.Type, r.addr = "AAAA", addr
	default:
		return r, false
	}
	return r, name != "" && (view == "internal" || view == "external")
}

func (r Record) value() string {
	if r.addr.IsValid() {
		return r.addr.String()
	}
	return r.Value
}

// checkMountMode refuses modes that hand a bind mount's directory to
// others: a guest's root owns it, so setuid, setgid or sticky bits and
// world write are never meant, and the CA's private directory (keys and
// passwords) is for its owner alone.
func checkMountMode(ps *problems, at place, m *MountPoint, priv string) {
	switch {
	case m.Mode&(fs.ModeSetuid|fs.ModeSetgid|fs.ModeSticky) != 0:
		ps.at(at, "mode %s sets setuid, setgid or sticky bits on a mounted directory; use plain permissions such as 0750", ModeString(m.Mode))
	case m.Mode.Perm()&0o002 != 0:
		ps.at(at, "mode %s lets anyone write %s; a mounted directory is never world-writable", ModeString(m.Mode), m.HostPath)
	case priv != "" && within(m.HostPath, priv) && m.Mode.Perm()&0o077 != 0:
		ps.at(at, "mode %s opens the CA's private directory %s to group or others; it holds the keys and passwords: use 0700", ModeString(m.Mode), m.HostPath)
	}
}
