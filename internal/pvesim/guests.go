package pvesim

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// kindSpec is what differs between containers and VMs.
type kindSpec struct {
	typ, word, prefix string // "lxc", "CT", "vz"
	update            params
	limits            map[string]int
}

var (
	lxcKind  = &kindSpec{typ: "lxc", word: "CT", prefix: "vz", update: lxcUpdate, limits: lxcLimits}
	qemuKind = &kindSpec{typ: "qemu", word: "VM", prefix: "qm", update: qemuUpdate, limits: qemuLimits}
)

func kindOf(typ string) *kindSpec {
	if typ == "lxc" {
		return lxcKind
	}
	return qemuKind
}

var (
	lxcVolumeKeyRE  = regexp.MustCompile(`^(rootfs|mp\d+)$`)
	qemuVolumeKeyRE = regexp.MustCompile(`^(ide|sata|scsi|virtio)\d+$`)
	netKeyRE        = regexp.MustCompile(`^net\d+$`)
	unusedKeyRE     = regexp.MustCompile(`^unused\d+$`)
	allocRE         = regexp.MustCompile(`^\d+(\.\d+)?$`)
)

func isVolumeKey(typ, k string) bool {
	if typ == "lxc" {
		return lxcVolumeKeyRE.MatchString(k)
	}
	return qemuVolumeKeyRE.MatchString(k)
}

// volumePart is the leading bare value of a canonical property string:
// the volume of a mount point or disk.
func volumePart(v string) string {
	first, _, _ := strings.Cut(v, ",")
	if strings.Contains(first, "=") {
		return ""
	}
	return first
}

// guest finds the guest a /nodes/{node}/<type>/{vmid} path names.
func (c *call) guest() (*guest, error) {
	vmid := c.vmid()
	g := c.w.Guests[vmid]
	if g == nil || g.Type != c.typ || g.Node != c.node {
		path := strings.TrimPrefix(configPath(c.typ, c.node, vmid), "/etc/pve/")
		return nil, fail(http.StatusInternalServerError, "Configuration file '%s' does not exist", path)
	}
	return g, nil
}

// lock takes the guest's config lock for an operation, failing like PVE's
// flock when a task holds it or a fault says so, then refuses a guest
// whose config carries a lock (backup, migrate, ...) as PVE does.
func (s *Server) lock(g *guest) error {
	if s.faults.lockFault(g.VMID) || g.LockTask != "" {
		return fail(http.StatusInternalServerError, "can't lock file '%s' - got timeout", lockFile(g.Type, g.VMID))
	}
	l := g.Conf["lock"]
	if f, ok := s.faults.lockedFault(g.VMID); ok && l == "" {
		l = f.Message
		if l == "" {
			l = "backup"
		}
	}
	if l != "" {
		return fail(http.StatusInternalServerError, "%s %d is locked (%s)", g.typeWord(), g.VMID, l)
	}
	return nil
}

// lockedGuest is the call's guest, locked for an operation.
func (s *Server) lockedGuest(c *call) (*guest, error) {
	g, err := c.guest()
	if err != nil {
		return nil, err
	}
	return g, s.lock(g)
}

func (s *Server) vmidFree(c *call, vmid int) error {
	if g := c.w.Guests[vmid]; g != nil {
		return fail(http.StatusInternalServerError, "%s %d already exists on node '%s'", g.typeWord(), vmid, g.Node)
	}
	if s.faults.lockFault(vmid) {
		return fail(http.StatusInternalServerError, "can't lock file '%s' - got timeout", lockFile(c.typ, vmid))
	}
	return nil
}

func permDenied(what string) error {
	return fail(http.StatusForbidden, "Permission check failed (%s)", what)
}

// render turns a stored config into PVE's JSON: numbers and booleans as
// numbers, the rest as strings.
func render(typ string, conf map[string]string) map[string]any {
	k := kindOf(typ)
	out := make(map[string]any, len(conf))
	for key, v := range conf {
		out[key] = renderValue(k, key, v)
	}
	return out
}

func renderValue(k *kindSpec, key, v string) any {
	switch key {
	case "cipassword":
		return "**********"
	case "template":
		return json.Number(v)
	}
	p, _ := lookupParam(k.update, k.limits, key)
	if p == nil {
		return v
	}
	switch p.kind {
	case kInteger, kNumber, kBoolean:
		if numRE.MatchString(v) {
			return json.Number(strings.TrimPrefix(v, "+"))
		}
	}
	return v
}

func (s *Server) getConfig(c *call) (any, error) {
	g, err := c.guest()
	if err != nil {
		return nil, err
	}
	conf := g.merged()
	if c.flag("current") {
		conf = g.Conf
	}
	out := render(g.Type, conf)
	out["digest"] = g.digest()
	return out, nil
}

func (s *Server) getPending(c *call) (any, error) {
	g, err := c.guest()
	if err != nil {
		return nil, err
	}
	k := kindOf(g.Type)
	keys := map[string]bool{}
	for key := range g.Conf {
		keys[key] = true
	}
	for key := range g.Pending {
		keys[key] = true
	}
	for _, key := range g.Deletes {
		keys[key] = true
	}
	out := []map[string]any{}
	for _, key := range sortedKeys(keys) {
		e := map[string]any{"key": key}
		if v, ok := g.Conf[key]; ok {
			e["value"] = renderValue(k, key, v)
		}
		if v, ok := g.Pending[key]; ok {
			e["pending"] = renderValue(k, key, v)
		}
		if g.hasPendingDelete(key) {
			e["delete"] = 1
		}
		out = append(out, e)
	}
	return out, nil
}

// configChange splits a config PUT/POST into keys to set, delete and revert.
func configChange(c *call) (set map[string]string, del, revert []string, err error) {
	set = map[string]string{}
	for k, v := range c.p {
		switch k {
		case "delete", "revert", "digest":
		default:
			set[k] = v
		}
	}
	del = splitList(c.p["delete"])
	revert = splitList(c.p["revert"])
	errs := map[string]string{}
	for _, k := range del {
		if _, ok := set[k]; ok {
			errs["delete"] = fmt.Sprintf("cannot set and delete option '%s' at the same time", k)
		}
	}
	for _, k := range revert {
		if _, ok := set[k]; ok {
			errs["revert"] = fmt.Sprintf("cannot set and revert option '%s' at the same time", k)
		}
	}
	if len(errs) > 0 {
		return nil, nil, nil, paramFail(errs)
	}
	if len(set) == 0 && len(del) == 0 && len(revert) == 0 {
		return nil, nil, nil, paramFail(map[string]string{"": "no options specified"})
	}
	return set, del, revert, nil
}

// beginUpdate does the checks every config change shares and prepares the
// new values (allocating volumes and addresses).
func (s *Server) beginUpdate(c *call, g *guest) (set map[string]string, del, revert []string, err error) {
	if set, del, revert, err = configChange(c); err != nil {
		return
	}
	if err = s.lock(g); err != nil {
		return
	}
	if d := c.p["digest"]; d != "" && d != g.digest() {
		err = fail(http.StatusInternalServerError, "detected modified configuration - file changed by other user? Try again.")
		return
	}
	k := kindOf(g.Type)
	for _, key := range del {
		if p, _ := lookupParam(k.update, k.limits, key); p == nil || key == "delete" || key == "revert" || key == "digest" {
			err = paramFail(map[string]string{"delete": fmt.Sprintf("invalid configuration ID '%s'", key)})
			return
		}
	}
	if g.Type == "lxc" {
		for _, key := range del {
			switch key {
			case "rootfs":
				err = fail(http.StatusInternalServerError, "unable to delete required option '%s'", key)
			case "unprivileged":
				err = fail(http.StatusInternalServerError, "unable to delete read-only option: '%s'", key)
			}
			if err != nil {
				return
			}
		}
		if _, ok := set["unprivileged"]; ok {
			err = fail(http.StatusInternalServerError, "unable to modify read-only option: 'unprivileged'")
			return
		}
		err = s.prepareLXC(c, g, set, del, g.merged()["unprivileged"] == "1")
	} else {
		err = s.prepareQEMU(c, g, set)
	}
	return
}

func (s *Server) putConfig(c *call) (any, error) {
	g, err := c.guest()
	if err != nil {
		return nil, err
	}
	set, del, revert, err := s.beginUpdate(c, g)
	if err != nil {
		return nil, err
	}
	s.applyConfig(g, set, del, revert)
	c.dirty = true
	return nil, nil
}

// postConfig is QEMU's asynchronous config update: the change lands when
// its task ends.
func (s *Server) postConfig(c *call) (any, error) {
	g, err := c.guest()
	if err != nil {
		return nil, err
	}
	set, del, revert, err := s.beginUpdate(c, g)
	if err != nil {
		return nil, err
	}
	t := s.startTask(c, "qmconfig", strconv.Itoa(g.VMID), g.VMID, "config")
	t.Set, t.Del, t.Revert = set, del, revert
	return t.UPID, nil
}

// applyConfig writes a change: at once on a stopped guest, and on a
// running one only for what can be hot-plugged; the rest becomes pending.
func (s *Server) applyConfig(g *guest, set map[string]string, del, revert []string) {
	for _, k := range revert {
		delete(g.Pending, k)
		g.dropPendingDelete(k)
	}
	if !g.Running {
		s.applyPending(g)
	}
	for _, k := range sortedKeys(set) {
		v := set[k]
		if !g.Running || s.hotplug(g, k, false) {
			s.replaceKey(g, k, v)
			delete(g.Pending, k)
			g.dropPendingDelete(k)
			continue
		}
		if g.Pending == nil {
			g.Pending = map[string]string{}
		}
		g.Pending[k] = v
		g.dropPendingDelete(k)
	}
	for _, k := range del {
		delete(g.Pending, k)
		if !g.Running || s.hotplug(g, k, true) {
			s.removeKey(g, k)
			g.dropPendingDelete(k)
			continue
		}
		if _, ok := g.Conf[k]; ok {
			g.addPendingDelete(k)
		}
	}
	if len(g.Pending) == 0 {
		g.Pending = nil
	}
}

// applyPending makes pending changes current, as a (re)start does.
func (s *Server) applyPending(g *guest) {
	for _, k := range sortedKeys(g.Pending) {
		s.replaceKey(g, k, g.Pending[k])
	}
	for _, k := range g.Deletes {
		s.removeKey(g, k)
	}
	g.Pending, g.Deletes = nil, nil
}

// lxcFastplug are the container options PVE changes on a running
// container without a restart, with cgroup limits and NICs.
var lxcFastplug = map[string]bool{
	"description": true, "onboot": true, "startup": true, "protection": true, "hostname": true,
	"hookscript": true, "cores": true, "tags": true, "lock": true,
	"cpulimit": true, "cpuunits": true, "memory": true, "swap": true,
}

var qemuFastplug = map[string]bool{
	"name": true, "description": true, "onboot": true, "tags": true, "protection": true,
	"startup": true, "hookscript": true, "lock": true, "shares": true, "vmstatestorage": true,
	"balloon": true, "cpulimit": true, "cpuunits": true,
}

// hotplug reports whether changing (or deleting) key applies at once on
// a running guest. Mount points always wait for a restart: newer PVE can
// hot-plug some, but phoenix must not count on it.
func (s *Server) hotplug(g *guest, key string, deleting bool) bool {
	if g.Type == "lxc" {
		return lxcFastplug[key] || netKeyRE.MatchString(key) || (deleting && unusedKeyRE.MatchString(key))
	}
	if qemuFastplug[key] || (deleting && unusedKeyRE.MatchString(key)) {
		return true
	}
	hp := g.Conf["hotplug"]
	switch hp {
	case "":
		hp = "network,disk,usb"
	case "1":
		hp = "network,disk,usb"
	case "0":
		hp = ""
	}
	has := func(f string) bool {
		for _, x := range strings.Split(hp, ",") {
			if x == f {
				return true
			}
		}
		return false
	}
	switch {
	case netKeyRE.MatchString(key):
		return has("network")
	case strings.HasPrefix(key, "scsi") || strings.HasPrefix(key, "virtio"):
		return isVolumeKey("qemu", key) && has("disk") && !strings.Contains(g.Conf[key], "media=cdrom")
	case key == "memory":
		return has("memory")
	case key == "vcpus":
		return has("cpu")
	}
	return false
}

// replaceKey sets a current config value; a volume it replaces becomes an
// unused disk, as on PVE.
func (s *Server) replaceKey(g *guest, k, v string) {
	if old, ok := g.Conf[k]; ok && isVolumeKey(g.Type, k) {
		if ov := volumePart(old); ov != "" && ov != volumePart(v) {
			s.retireVolume(g, ov)
		}
	}
	g.Conf[k] = v
}

func (s *Server) removeKey(g *guest, k string) {
	old, ok := g.Conf[k]
	if !ok {
		return
	}
	delete(g.Conf, k)
	switch {
	case unusedKeyRE.MatchString(k):
		s.w.removeVolume(g.Node, volumePart(old))
	case isVolumeKey(g.Type, k):
		if ov := volumePart(old); ov != "" {
			s.retireVolume(g, ov)
		}
	}
}

// retireVolume turns an allocated volume no longer in use into unusedN;
// cloud-init drives are removed instead.
func (s *Server) retireVolume(g *guest, volid string) {
	v := s.w.findVolume(g.Node, volid)
	if v == nil || v.VMID != g.VMID {
		return
	}
	if strings.HasSuffix(v.Name, "-cloudinit") {
		s.w.removeVolume(g.Node, volid)
		return
	}
	for k, val := range g.Conf {
		if unusedKeyRE.MatchString(k) && volumePart(val) == volid {
			return
		}
	}
	for i := 0; ; i++ {
		k := "unused" + strconv.Itoa(i)
		if _, used := g.Conf[k]; !used {
			g.Conf[k] = volid
			return
		}
	}
}

// checkVolume checks a mount point or disk volume; alloc reports the
// "STORAGE:SIZE" syntax that allocates a new volume.
func (s *Server) checkVolume(c *call, vol, content string) (alloc bool, err error) {
	st, rest, _ := strings.Cut(vol, ":")
	sd := findStorage(st)
	if sd == nil {
		return false, fail(http.StatusInternalServerError, "storage '%s' does not exist", st)
	}
	if allocRE.MatchString(rest) || (content == "images" && rest == "cloudinit") {
		if !sd.supports(content) {
			what := map[string]string{"rootdir": "container directories", "images": "vm images"}[content]
			return false, fail(http.StatusInternalServerError, "storage '%s' does not support %s", st, what)
		}
		return true, nil
	}
	if c.w.findVolume(c.node, vol) == nil {
		return false, fail(http.StatusInternalServerError, "volume '%s' does not exist", vol)
	}
	return false, nil
}

// prepareLXC checks a container change for what PVE refuses and then, with
// nothing left to fail, canonicalises values, allocates volumes and
// assigns NIC addresses. g is nil on create.
func (s *Server) prepareLXC(c *call, g *guest, set map[string]string, del []string, unprivileged bool) error {
	var old map[string]string
	vmid := c.vmid()
	if g != nil {
		old = g.merged()
		vmid = g.VMID
	}
	allocs := map[string]bool{}
	for _, k := range sortedKeys(set) {
		v := set[k]
		switch {
		case lxcVolumeKeyRE.MatchString(k):
			vol := volumePart(v)
			switch {
			case strings.HasPrefix(vol, "/dev/"):
				if !c.isRoot() {
					return permDenied("mount point type device is only allowed for root@pam")
				}
			case strings.HasPrefix(vol, "/"):
				if !c.isRoot() {
					return permDenied("mount point type bind is only allowed for root@pam")
				}
			default:
				alloc, err := s.checkVolume(c, vol, "rootdir")
				if err != nil {
					return err
				}
				allocs[k] = alloc
			}
		case k == "features":
			if err := checkFeatures(c, old["features"], v, unprivileged); err != nil {
				return err
			}
		case strings.HasPrefix(k, "dev"):
			if !c.isRoot() {
				return permDenied("configuring device passthrough is only allowed for root@pam")
			}
		case k == "hookscript":
			if !c.isRoot() {
				return permDenied("changing the hookscript is only allowed for root@pam")
			}
		}
	}
	for _, k := range del {
		switch {
		case lxcVolumeKeyRE.MatchString(k) && strings.HasPrefix(volumePart(old[k]), "/"):
			if !c.isRoot() {
				return permDenied("mount point type bind is only allowed for root@pam")
			}
		case k == "features":
			if err := checkFeatures(c, old["features"], "", unprivileged); err != nil {
				return err
			}
		case strings.HasPrefix(k, "dev") || k == "hookscript":
			if !c.isRoot() {
				return permDenied("changing '" + k + "' is only allowed for root@pam")
			}
		}
	}
	for _, k := range allocOrder(set) {
		v := set[k]
		switch {
		case allocs[k]:
			f := lxcMPFormat
			if k == "rootfs" {
				f = lxcRootfsFormat
			}
			m, _ := parsePropString(k, f, v)
			m["volume"], m["size"] = c.allocSized(m["volume"], vmid, "lxc")
			set[k] = printPropString(f, m)
		case netKeyRE.MatchString(k):
			m, _ := parsePropString(k, lxcNetFormat, v)
			if m["type"] == "" {
				m["type"] = "veth"
			}
			if m["hwaddr"] == "" {
				m["hwaddr"] = c.w.nextMAC(vmid, k)
			}
			set[k] = printPropString(lxcNetFormat, m)
		}
	}
	return nil
}

// allocSized allocates the volume a "STORAGE:SIZE" value (SIZE in GiB)
// asks for, returning its volume ID and size as PVE writes them back.
func (c *call) allocSized(spec string, vmid int, guestType string) (volid, size string) {
	st, gib, _ := strings.Cut(spec, ":")
	n, _ := strconv.ParseFloat(gib, 64)
	return c.w.allocVolume(c.node, st, vmid, guestType, n, c.now).volid(), fmtNum(n) + "G"
}

// allocOrder is the order PVE allocates volumes in: rootfs first, then by
// index (mp2 before mp10).
func allocOrder(set map[string]string) []string {
	keys := sortedKeys(set)
	sort.SliceStable(keys, func(i, j int) bool {
		ki, kj := keys[i], keys[j]
		if (ki == "rootfs") != (kj == "rootfs") {
			return ki == "rootfs"
		}
		bi, bj := strings.TrimRight(ki, "0123456789"), strings.TrimRight(kj, "0123456789")
		if bi != bj {
			return bi < bj
		}
		ni, _ := strconv.Atoi(ki[len(bi):])
		nj, _ := strconv.Atoi(kj[len(bj):])
		if ni != nj {
			return ni < nj
		}
		return ki < kj
	})
	return keys
}

// checkFeatures follows PVE: a token (or any user but root@pam) may only
// toggle nesting, and only on an unprivileged container.
func checkFeatures(c *call, oldV, newV string, unprivileged bool) error {
	if c.isRoot() {
		return nil
	}
	if !unprivileged {
		return permDenied("changing feature flags for privileged container is only allowed for root@pam")
	}
	oldF, _ := parsePropString("features", lxcFeaturesFormat, oldV)
	newF, _ := parsePropString("features", lxcFeaturesFormat, newV)
	keys := map[string]bool{}
	for k := range oldF {
		keys[k] = true
	}
	for k := range newF {
		keys[k] = true
	}
	for k := range keys {
		if k == "nesting" {
			continue
		}
		if normFeature(oldF[k]) != normFeature(newF[k]) {
			return permDenied("changing feature flags (except nesting) is only allowed for root@pam")
		}
	}
	return nil
}

func normFeature(v string) string {
	if v == "" {
		return "0"
	}
	return v
}

// prepareQEMU is prepareLXC for VMs.
func (s *Server) prepareQEMU(c *call, g *guest, set map[string]string) error {
	vmid := c.vmid()
	if g != nil {
		vmid = g.VMID
	}
	allocs := map[string]bool{}
	for _, k := range sortedKeys(set) {
		if !qemuVolumeKeyRE.MatchString(k) {
			continue
		}
		file := volumePart(set[k])
		switch {
		case file == "none" || file == "cdrom":
		case strings.HasPrefix(file, "/"):
			if !c.isRoot() {
				return permDenied("only root can pass arbitrary filesystem paths")
			}
		default:
			alloc, err := s.checkVolume(c, file, "images")
			if err != nil {
				return err
			}
			allocs[k] = alloc
		}
	}
	for _, k := range allocOrder(set) {
		v := set[k]
		switch {
		case allocs[k]:
			f := qemuDriveFormat(k)
			m, _ := parsePropString(k, f, v)
			st, size, _ := strings.Cut(m["file"], ":")
			if size == "cloudinit" {
				m["file"] = c.w.cloudinitVolume(c.node, st, vmid, c.now).volid()
				m["media"] = "cdrom"
			} else {
				m["file"], m["size"] = c.allocSized(m["file"], vmid, "qemu")
			}
			set[k] = printPropString(f, m)
		case netKeyRE.MatchString(k):
			m, _ := parsePropString(k, qemuNetFormat, v)
			if m["macaddr"] == "" {
				m["macaddr"] = c.w.nextMAC(vmid, k)
			}
			set[k] = printPropString(qemuNetFormat, m)
		case k == "cipassword":
			sum := sha256.Sum256([]byte(v))
			set[k] = "$5$sim$" + hex.EncodeToString(sum[:16])
		}
	}
	return nil
}

func qemuDriveFormat(k string) *propFormat {
	switch {
	case strings.HasPrefix(k, "ide"):
		return qemuIDEFormat
	case strings.HasPrefix(k, "sata"):
		return qemuSATAFormat
	case strings.HasPrefix(k, "scsi"):
		return qemuSCSIFormat
	}
	return qemuVirtIOFormat
}

func (w *world) cloudinitVolume(node, storage string, vmid int, now time.Time) *volume {
	name := fmt.Sprintf("vm-%d-cloudinit", vmid)
	if v := w.findVolume(node, storage+":"+name); v != nil {
		return v
	}
	v := &volume{Node: node, Storage: storage, Name: name, Content: "images", Format: "raw", Size: 4 << 20, VMID: vmid, CTime: now.Unix()}
	w.Volumes = append(w.Volumes, v)
	return v
}

// uuidFor derives a stable UUID for smbios1 and vmgenid.
func (w *world) uuidFor(what string, vmid int) string {
	w.MACSeq++
	sum := sha256.Sum256([]byte(fmt.Sprintf("%s/%d/%d", what, vmid, w.MACSeq)))
	h := hex.EncodeToString(sum[:16])
	return h[0:8] + "-" + h[8:12] + "-4" + h[13:16] + "-a" + h[17:20] + "-" + h[20:32]
}

// configKeys picks the parameters of a create request that are config.
func configKeys(p map[string]string, k *kindSpec) map[string]string {
	set := map[string]string{}
	for key, v := range p {
		if key == "vmid" {
			continue
		}
		if _, entry := lookupParam(k.update, k.limits, key); entry != "" && key != "delete" && key != "revert" && key != "digest" {
			set[key] = v
		}
	}
	return set
}

func (s *Server) createLXC(c *call) (any, error) {
	vmid, _ := strconv.Atoi(c.p["vmid"])
	c.vars["vmid"] = c.p["vmid"]
	if err := s.vmidFree(c, vmid); err != nil {
		return nil, err
	}
	// unique needs restore, which the simulator does not take; force
	// only matters with restore: without it an existing VMID is refused
	// whatever force says, as on PVE.
	if err := requiresMissing(c, "unique", "restore"); err != nil {
		return nil, err
	}
	poolID, err := s.joinPool(c)
	if err != nil {
		return nil, err
	}
	tmpl := c.p["ostemplate"]
	if v := c.w.findVolume(c.node, tmpl); v == nil || v.Content != "vztmpl" {
		return nil, fail(http.StatusInternalServerError, "volume '%s' does not exist", tmpl)
	}
	storage := c.p["storage"]
	if storage == "" {
		storage = "local"
	}
	if findStorage(storage) == nil {
		return nil, fail(http.StatusInternalServerError, "storage '%s' does not exist", storage)
	}
	set := configKeys(c.p, lxcKind)
	if _, ok := set["rootfs"]; !ok {
		set["rootfs"] = storage + ":4" // PVE's default: 4 GiB on the chosen storage
	}
	if err := s.prepareLXC(c, nil, set, nil, set["unprivileged"] == "1"); err != nil {
		return nil, err
	}
	if set["hostname"] == "" {
		set["hostname"] = "CT" + strconv.Itoa(vmid)
	}
	if set["arch"] == "" {
		set["arch"] = "amd64"
	}
	if set["ostype"] == "" {
		set["ostype"] = osTypeOf(tmpl)
	}
	if c.flag("template") {
		set["template"] = "1"
	}
	set["lock"] = "create"
	g := &guest{VMID: vmid, Type: "lxc", Node: c.node, Conf: set, Pool: poolID}
	c.w.Guests[vmid] = g
	t := s.startTask(c, "vzcreate", strconv.Itoa(vmid), vmid, "create")
	t.StartCT = c.flag("start") && !c.flag("template") // a template is never started
	_, name, _ := strings.Cut(tmpl, ":")
	t.Log = taskLogLines("create", g, "/var/lib/vz/template/cache/"+strings.TrimPrefix(name, "vztmpl/"))
	return t.UPID, nil
}

// osTypeOf guesses the ostype from a template name, as PVE reads it from
// the unpacked image.
func osTypeOf(tmpl string) string {
	_, name, _ := strings.Cut(tmpl, "/")
	distro, _, _ := strings.Cut(name, "-")
	for _, o := range lxcConfig["ostype"].enum {
		if o == distro {
			return o
		}
	}
	return "unmanaged"
}

func (s *Server) createQEMU(c *call) (any, error) {
	vmid, _ := strconv.Atoi(c.p["vmid"])
	c.vars["vmid"] = c.p["vmid"]
	if err := s.vmidFree(c, vmid); err != nil {
		return nil, err
	}
	// force and unique need archive (a restore), which the simulator
	// does not take.
	for _, p := range []string{"force", "unique"} {
		if err := requiresMissing(c, p, "archive"); err != nil {
			return nil, err
		}
	}
	poolID, err := s.joinPool(c)
	if err != nil {
		return nil, err
	}
	if st := c.p["storage"]; st != "" {
		if _, err := s.checkVolume(c, st+":1", "images"); err != nil {
			return nil, err
		}
	}
	set := configKeys(c.p, qemuKind)
	if err := s.prepareQEMU(c, nil, set); err != nil {
		return nil, err
	}
	if c.flag("template") {
		set["template"] = "1"
	}
	if _, ok := set["smbios1"]; !ok {
		set["smbios1"] = "uuid=" + c.w.uuidFor("smbios1", vmid)
	}
	if _, ok := set["vmgenid"]; !ok {
		set["vmgenid"] = c.w.uuidFor("vmgenid", vmid)
	}
	set["lock"] = "create"
	g := &guest{VMID: vmid, Type: "qemu", Node: c.node, Conf: set, Pool: poolID}
	c.w.Guests[vmid] = g
	t := s.startTask(c, "qmcreate", strconv.Itoa(vmid), vmid, "create")
	t.StartCT = c.flag("start") && !c.flag("template")
	for _, k := range sortedKeys(set) {
		if qemuVolumeKeyRE.MatchString(k) {
			t.Log = append(t.Log, fmt.Sprintf("%s: successfully created disk '%s'", k, set[k]))
		}
	}
	return t.UPID, nil
}

func (s *Server) cloneGuest(c *call) (any, error) {
	src, err := c.guest()
	if err != nil {
		return nil, err
	}
	newid, _ := strconv.Atoi(c.p["newid"])
	if err := s.lock(src); err != nil {
		return nil, err
	}
	if err := s.vmidFree(c, newid); err != nil {
		return nil, err
	}
	if v, ok := c.p["full"]; ok && v == "0" && src.Conf["template"] != "1" {
		return nil, fail(http.StatusInternalServerError, "linked clone of %s %d is not possible: it is not a template", src.typeWord(), src.VMID)
	}
	poolID, err := s.joinPool(c)
	if err != nil {
		return nil, err
	}
	target := c.p["target"]
	if target != "" && target != src.Node {
		if !c.w.hasNode(target) {
			return nil, fail(http.StatusInternalServerError, "no such cluster node '%s'", target)
		}
		return nil, fail(http.StatusInternalServerError, "Can't clone to node '%s': %s %d uses local storage", target, src.typeWord(), src.VMID)
	}
	content := "rootdir"
	if src.Type == "qemu" {
		content = "images"
	}
	storage := c.p["storage"]
	if storage != "" {
		if _, err := s.checkVolume(c, storage+":1", content); err != nil {
			return nil, err
		}
	}
	conf := map[string]string{}
	for k, v := range src.Conf {
		if unusedKeyRE.MatchString(k) || k == "lock" || k == "template" { // a clone of a template is a VM
			continue
		}
		conf[k] = v
	}
	for _, k := range allocOrder(conf) {
		v := conf[k]
		switch {
		case isVolumeKey(src.Type, k):
			vol := c.w.findVolume(src.Node, volumePart(v))
			if vol == nil {
				continue // bind mounts, ISOs and passthrough stay as they are
			}
			st := vol.Storage
			if storage != "" {
				st = storage
			}
			var nv *volume
			if strings.HasSuffix(vol.Name, "-cloudinit") {
				nv = c.w.cloudinitVolume(src.Node, st, newid, c.now)
			} else {
				nv = c.w.allocVolume(src.Node, st, newid, src.Type, float64(vol.Size)/(1<<30), c.now)
			}
			conf[k] = nv.volid() + strings.TrimPrefix(v, volumePart(v))
		case netKeyRE.MatchString(k):
			if src.Type == "lxc" {
				m, _ := parsePropString(k, lxcNetFormat, v)
				m["hwaddr"] = c.w.nextMAC(newid, k)
				conf[k] = printPropString(lxcNetFormat, m)
			} else {
				m, _ := parsePropString(k, qemuNetFormat, v)
				m["macaddr"] = c.w.nextMAC(newid, k)
				conf[k] = printPropString(qemuNetFormat, m)
			}
		}
	}
	if src.Type == "lxc" {
		if h := c.p["hostname"]; h != "" {
			conf["hostname"] = h
		}
	} else {
		if n := c.p["name"]; n != "" {
			conf["name"] = n
		} else if n := conf["name"]; n != "" {
			conf["name"] = "Copy-of-VM-" + n
		}
		conf["smbios1"] = "uuid=" + c.w.uuidFor("smbios1", newid)
		conf["vmgenid"] = c.w.uuidFor("vmgenid", newid)
	}
	if d, ok := c.p["description"]; ok {
		conf["description"] = d
	}
	conf["lock"] = "create"
	ng := &guest{VMID: newid, Type: src.Type, Node: src.Node, Conf: conf, Pool: poolID}
	c.w.Guests[newid] = ng
	prefix := strconv.Itoa(src.VMID) + ":"
	for k, v := range c.w.Files {
		if p, ok := strings.CutPrefix(k, prefix); ok {
			c.w.Files[fileKey(newid, p)] = v
		}
	}
	t := s.startTask(c, kindOf(src.Type).prefix+"clone", strconv.Itoa(src.VMID), src.VMID, "clone")
	t.Target = newid
	ng.LockTask = t.UPID
	t.Log = append(t.Log, fmt.Sprintf("create full clone of %s %d as %d", src.typeWord(), src.VMID, newid))
	return t.UPID, nil
}

// memMiB is the guest's configured memory in MiB.
func memMiB(g *guest) int64 {
	v := g.Conf["memory"]
	if g.Type == "qemu" {
		if m, _ := parsePropString("memory", qemuMemoryFormat, v); m != nil {
			v = m["current"]
		}
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n == 0 {
		return 512
	}
	return n
}

func guestMemBytes(g *guest) int64 { return memMiB(g) << 20 }

func parseSize(v string) int64 {
	m := regexp.MustCompile(`(?:^|,)size=(\d+(?:\.\d+)?)([KMGT]?)`).FindStringSubmatch(v)
	if m == nil {
		return 0
	}
	f, _ := strconv.ParseFloat(m[1], 64)
	mult := map[string]float64{"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}[m[2]]
	return int64(f * mult)
}

func guestCPUs(g *guest) int {
	atoi := func(k string, def int) int {
		if n, err := strconv.Atoi(g.Conf[k]); err == nil && n > 0 {
			return n
		}
		return def
	}
	if g.Type == "lxc" {
		return atoi("cores", nodeCPUs)
	}
	if v := atoi("vcpus", 0); v > 0 {
		return v
	}
	return atoi("sockets", 1) * atoi("cores", 1)
}

// guestStatus is the status/current answer.
func (s *Server) guestStatus(g *guest, c *call) map[string]any {
	status := "stopped"
	var uptime, mem int64
	if g.Running {
		status = "running"
		uptime = c.now.Unix() - g.Started
		if uptime < 0 {
			uptime = 0
		}
		mem = guestMemBytes(g) / 4
	}
	var maxdisk int64
	if g.Type == "lxc" {
		maxdisk = parseSize(g.Conf["rootfs"])
	} else {
		for _, k := range sortedKeys(g.Conf) {
			if qemuVolumeKeyRE.MatchString(k) && !strings.Contains(g.Conf[k], "media=cdrom") {
				maxdisk = parseSize(g.Conf[k])
				break
			}
		}
	}
	e := map[string]any{
		"vmid": g.VMID, "status": status, "uptime": uptime, "cpus": guestCPUs(g), "cpu": 0,
		"maxmem": guestMemBytes(g), "mem": mem, "maxdisk": maxdisk, "disk": 0,
		"netin": 0, "netout": 0, "diskread": 0, "diskwrite": 0, "ha": map[string]any{"managed": 0},
	}
	if g.Type == "lxc" {
		e["name"] = g.Conf["hostname"]
		e["type"] = "lxc"
		swap := int64(512)
		if n, err := strconv.ParseInt(g.Conf["swap"], 10, 64); err == nil {
			swap = n
		}
		e["maxswap"] = swap << 20
		e["swap"] = 0
		if g.Running {
			e["disk"] = maxdisk / 20
		}
	} else {
		name := g.Conf["name"]
		if name == "" {
			name = "VM " + strconv.Itoa(g.VMID)
		}
		e["name"] = name
		e["qmpstatus"] = status
		if g.Running {
			e["running-machine"] = "pc-i440fx-10.0+pve0"
			e["running-qemu"] = "10.0.2"
		}
		if m, _ := parsePropString("agent", qemuAgentFormat, g.Conf["agent"]); m["enabled"] == "1" {
			e["agent"] = 1
		}
	}
	if g.Running {
		e["pid"] = g.PID
	}
	if l := g.Conf["lock"]; l != "" {
		e["lock"] = l
	}
	if t := g.Conf["tags"]; t != "" {
		e["tags"] = t
	}
	return e
}

func (s *Server) getGuestStatus(c *call) (any, error) {
	g, err := c.guest()
	if err != nil {
		return nil, err
	}
	return s.guestStatus(g, c), nil
}

func (s *Server) listGuests(c *call) []map[string]any {
	out := []map[string]any{}
	for _, g := range c2guests(c.w, c.node) {
		if g.Type != c.typ {
			continue
		}
		e := s.guestStatus(g, c)
		delete(e, "ha")
		out = append(out, e)
	}
	return out
}

func (s *Server) listLXC(c *call) (any, error)  { return s.listGuests(c), nil }
func (s *Server) listQEMU(c *call) (any, error) { return s.listGuests(c), nil }

// powerOp starts the task of a power action after PVE's preconditions.
func (s *Server) powerOp(c *call, action string) (any, error) {
	g, err := c.guest()
	if err != nil {
		return nil, err
	}
	if g.Conf["template"] == "1" {
		return nil, fail(http.StatusInternalServerError, "you can't start a vm if it's a template")
	}
	if err := s.lock(g); err != nil {
		return nil, err
	}
	switch action {
	case "start":
		if g.Running {
			return nil, fail(http.StatusInternalServerError, "%s %d already running", g.typeWord(), g.VMID)
		}
	case "stop", "shutdown":
		if !g.Running && g.Type == "lxc" {
			return nil, fail(http.StatusInternalServerError, "CT %d not running", g.VMID)
		}
	case "reboot":
		if !g.Running {
			return nil, fail(http.StatusInternalServerError, "%s %d not running", g.typeWord(), g.VMID)
		}
	}
	t := s.startTask(c, kindOf(g.Type).prefix+action, strconv.Itoa(g.VMID), g.VMID, action)
	if !g.Running && action != "start" {
		t.Log = append(t.Log, fmt.Sprintf("VM %d not running", g.VMID))
	}
	return t.UPID, nil
}

func (s *Server) powerStart(c *call) (any, error)    { return s.powerOp(c, "start") }
func (s *Server) powerStop(c *call) (any, error)     { return s.powerOp(c, "stop") }
func (s *Server) powerShutdown(c *call) (any, error) { return s.powerOp(c, "shutdown") }
func (s *Server) powerReboot(c *call) (any, error)   { return s.powerOp(c, "reboot") }

func (s *Server) deleteGuest(c *call) (any, error) {
	g, err := s.lockedGuest(c)
	if err != nil {
		return nil, err
	}
	if g.Conf["protection"] == "1" {
		return nil, fail(http.StatusInternalServerError, "can't remove %s %d - protection mode enabled", g.typeWord(), g.VMID)
	}
	if g.Running {
		if g.Type == "qemu" {
			return nil, fail(http.StatusInternalServerError, "VM %d is running - destroy failed", g.VMID)
		}
		if !c.flag("force") {
			return nil, fail(http.StatusInternalServerError, "unable to destroy CT %d - container is running", g.VMID)
		}
	}
	t := s.startTask(c, kindOf(g.Type).prefix+"destroy", strconv.Itoa(g.VMID), g.VMID, "destroy")
	for _, k := range sortedKeys(g.Conf) {
		if v := volumePart(g.Conf[k]); (isVolumeKey(g.Type, k) || unusedKeyRE.MatchString(k)) && c.w.findVolume(g.Node, v) != nil {
			t.Log = append(t.Log, fmt.Sprintf("Removing image: %s", v))
		}
	}
	sort.Strings(t.Log)
	return t.UPID, nil
}
