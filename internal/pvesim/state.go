package pvesim

import (
	"crypto/sha1"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strings"
	"time"
)

// stateFormat is bumped when the persisted layout changes incompatibly.
const stateFormat = 1

// world is the simulated cluster. Everything in it is persisted.
type world struct {
	Format  int               `json:"format"`
	Nodes   []string          `json:"nodes"`
	Guests  map[int]*guest    `json:"guests"`
	Volumes []*volume         `json:"volumes"`
	Tasks   []*task           `json:"tasks"`
	Files   map[string]string `json:"files"` // "vmid:path" -> sha256 hex
	Pools   map[string]*pool  `json:"pools,omitempty"`
	MACSeq  uint64            `json:"mac_seq"`
	PIDSeq  uint32            `json:"pid_seq"`
}

// guest is one container or VM.
type guest struct {
	VMID     int               `json:"vmid"`
	Type     string            `json:"type"` // "lxc" or "qemu"
	Node     string            `json:"node"`
	Running  bool              `json:"running"`
	Started  int64             `json:"started,omitempty"` // unix seconds, for uptime
	PID      uint32            `json:"pid,omitempty"`
	Conf     map[string]string `json:"conf"`
	Pending  map[string]string `json:"pending,omitempty"`
	Deletes  []string          `json:"deletes,omitempty"` // pending deletions, sorted
	LockTask string            `json:"lock_task,omitempty"`
	Pool     string            `json:"pool,omitempty"` // the resource pool it is a member of
}

// pool is a resource pool (/pools): a name for a set of guests.
type pool struct {
	Comment string `json:"comment,omitempty"`
}

// volume is an allocated guest volume or a template/ISO on a storage.
type volume struct {
	Node    string `json:"node"`
	Storage string `json:"storage"`
	Name    string `json:"name"` // "subvol-103-disk-0", "vztmpl/x.tar.zst"
	Content string `json:"content"`
	Format  string `json:"format"`
	Size    int64  `json:"size"`
	VMID    int    `json:"vmid,omitempty"`
	CTime   int64  `json:"ctime"`
}

func (v *volume) volid() string { return v.Storage + ":" + v.Name }

// storageDef describes the seed storages; both are local to every node.
type storageDef struct {
	name, typ, content string
	total              int64
}

var storages = []storageDef{
	{"local", "dir", "vztmpl,iso,backup", 100 << 30},
	{"local-zfs", "zfspool", "rootdir,images", 400 << 30},
}

func findStorage(name string) *storageDef {
	for i := range storages {
		if storages[i].name == name {
			return &storages[i]
		}
	}
	return nil
}

func (s *storageDef) supports(content string) bool {
	for _, c := range strings.Split(s.content, ",") {
		if c == content {
			return true
		}
	}
	return false
}

// appliance is one entry of the aplinfo index.
type appliance struct {
	template, os, version, headline string
	size                            int64
}

const seedTemplate = "debian-12-standard_12.7-1_amd64.tar.zst"

var appliances = []appliance{
	{"alpine-3.22-default_20250617_amd64.tar.xz", "alpine", "3.22-1", "Alpine Linux 3.22", 3 << 20},
	{seedTemplate, "debian-12", "12.7-1", "Debian 12 Bookworm (standard)", 120 << 20},
	{"debian-13-standard_13.1-2_amd64.tar.zst", "debian-13", "13.1-2", "Debian 13 Trixie (standard)", 125 << 20},
	{"ubuntu-24.04-standard_24.04-2_amd64.tar.zst", "ubuntu-24.04", "24.04-2", "Ubuntu 24.04 Noble (standard)", 140 << 20},
}

func findAppliance(template string) *appliance {
	for i := range appliances {
		if appliances[i].template == template {
			return &appliances[i]
		}
	}
	return nil
}

func nodeNames(n int) []string {
	names := []string{"pve"}
	for i := 2; i <= n; i++ {
		names = append(names, fmt.Sprintf("pve%d", i))
	}
	return names
}

func seedWorld(nodes int, now time.Time) *world {
	w := &world{
		Format: stateFormat,
		Nodes:  nodeNames(nodes),
		Guests: map[int]*guest{},
		Files:  map[string]string{},
		PIDSeq: 0x1000,
	}
	for _, n := range w.Nodes {
		a := findAppliance(seedTemplate)
		w.Volumes = append(w.Volumes, &volume{
			Node: n, Storage: "local", Name: "vztmpl/" + a.template,
			Content: "vztmpl", Format: templateFormat(a.template), Size: a.size, CTime: now.Unix(),
		})
	}
	seedVMTemplate(w, now)
	return w
}

// SeedTemplateVMID is the cloud-init VM template a fresh simulator has on
// the local node, as a real site has the templates its VMs are cloned
// from.
const SeedTemplateVMID = 9000

func seedVMTemplate(w *world, now time.Time) {
	node := w.Nodes[0]
	disk := w.allocVolume(node, "local-zfs", SeedTemplateVMID, "qemu", 8, now)
	disk.Name = strings.Replace(disk.Name, "vm-", "base-", 1)
	w.Guests[SeedTemplateVMID] = &guest{
		VMID: SeedTemplateVMID, Type: "qemu", Node: node,
		Conf: map[string]string{
			"name":     "debian-12-cloud",
			"template": "1",
			"memory":   "2048",
			"cores":    "2",
			"scsihw":   "virtio-scsi-pci",
			"scsi0":    disk.volid() + ",size=8G",
			"ide2":     "local-zfs:vm-9000-cloudinit,media=cdrom",
			"net0":     "virtio=" + w.nextMAC(SeedTemplateVMID, "net0") + ",bridge=vmbr0",
			"ostype":   "l26",
		},
	}
}

func templateFormat(name string) string {
	switch {
	case strings.HasSuffix(name, ".tar.zst"):
		return "tzst"
	case strings.HasSuffix(name, ".tar.xz"):
		return "txz"
	case strings.HasSuffix(name, ".tar.gz"):
		return "tgz"
	}
	return "raw"
}

func (w *world) hasNode(n string) bool {
	for _, x := range w.Nodes {
		if x == n {
			return true
		}
	}
	return false
}

func (w *world) findVolume(node, volid string) *volume {
	for _, v := range w.Volumes {
		if v.Node == node && v.volid() == volid {
			return v
		}
	}
	return nil
}

func (w *world) removeVolume(node, volid string) {
	out := w.Volumes[:0]
	for _, v := range w.Volumes {
		if !(v.Node == node && v.volid() == volid) {
			out = append(out, v)
		}
	}
	w.Volumes = out
}

// allocVolume creates the next free disk volume for vmid, named like PVE's
// zfspool plugin does.
func (w *world) allocVolume(node, storage string, vmid int, guestType string, sizeGiB float64, now time.Time) *volume {
	prefix, content, format := "vm", "images", "raw"
	if guestType == "lxc" {
		prefix, content, format = "subvol", "rootdir", "subvol"
	}
	for i := 0; ; i++ {
		name := fmt.Sprintf("%s-%d-disk-%d", prefix, vmid, i)
		if w.findVolume(node, storage+":"+name) == nil {
			v := &volume{Node: node, Storage: storage, Name: name, Content: content, Format: format,
				Size: int64(sizeGiB * (1 << 30)), VMID: vmid, CTime: now.Unix()}
			w.Volumes = append(w.Volumes, v)
			return v
		}
	}
}

// nextMAC returns a new address in Proxmox's BC:24:11 range. It is derived
// from a persisted counter, so runs are repeatable and no address repeats.
func (w *world) nextMAC(vmid int, key string) string {
	w.MACSeq++
	sum := sha256.Sum256([]byte(fmt.Sprintf("%d/%s/%d", vmid, key, w.MACSeq)))
	return fmt.Sprintf("BC:24:11:%02X:%02X:%02X", sum[0], sum[1], sum[2])
}

func (w *world) nextPID() uint32 {
	w.PIDSeq++
	return w.PIDSeq
}

// digest is the SHA-1 of the guest's config, pending section included,
// as PVE hashes the config file.
func (g *guest) digest() string {
	var b strings.Builder
	for _, k := range sortedKeys(g.Conf) {
		fmt.Fprintf(&b, "%s: %s\n", k, g.Conf[k])
	}
	if len(g.Pending) > 0 || len(g.Deletes) > 0 {
		b.WriteString("\n[pve:pending]\n")
		for _, k := range sortedKeys(g.Pending) {
			fmt.Fprintf(&b, "%s: %s\n", k, g.Pending[k])
		}
		if len(g.Deletes) > 0 {
			fmt.Fprintf(&b, "delete: %s\n", strings.Join(g.Deletes, ","))
		}
	}
	sum := sha1.Sum([]byte(b.String()))
	return hex.EncodeToString(sum[:])
}

// merged is the config with pending changes applied.
func (g *guest) merged() map[string]string {
	out := make(map[string]string, len(g.Conf)+len(g.Pending))
	for k, v := range g.Conf {
		out[k] = v
	}
	for k, v := range g.Pending {
		out[k] = v
	}
	for _, k := range g.Deletes {
		delete(out, k)
	}
	return out
}

func (g *guest) hasPendingDelete(k string) bool {
	i := sort.SearchStrings(g.Deletes, k)
	return i < len(g.Deletes) && g.Deletes[i] == k
}

func (g *guest) addPendingDelete(k string) {
	if !g.hasPendingDelete(k) {
		g.Deletes = append(g.Deletes, k)
		sort.Strings(g.Deletes)
	}
}

func (g *guest) dropPendingDelete(k string) {
	out := g.Deletes[:0]
	for _, d := range g.Deletes {
		if d != k {
			out = append(out, d)
		}
	}
	g.Deletes = out
	if len(g.Deletes) == 0 {
		g.Deletes = nil
	}
}

// typeWord is how PVE names the guest type in messages.
func (g *guest) typeWord() string {
	if g.Type == "lxc" {
		return "CT"
	}
	return "VM"
}

// lockFile is the path PVE's flock-based config lock uses.
func lockFile(guestType string, vmid int) string {
	if guestType == "lxc" {
		return fmt.Sprintf("/run/lock/lxc/pve-config-%d.lock", vmid)
	}
	return fmt.Sprintf("/var/lock/qemu-server/lock-%d.conf", vmid)
}

func configPath(guestType, node string, vmid int) string {
	if guestType == "lxc" {
		return fmt.Sprintf("/etc/pve/nodes/%s/lxc/%d.conf", node, vmid)
	}
	return fmt.Sprintf("/etc/pve/nodes/%s/qemu-server/%d.conf", node, vmid)
}

// loadWorld reads a persisted state file; ok is false when it does not exist.
func loadWorld(path string) (*world, bool, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("pvesim: read state %s: %w", path, err)
	}
	var w world
	if err := json.Unmarshal(data, &w); err != nil {
		return nil, false, fmt.Errorf("pvesim: state %s: %w", path, err)
	}
	if w.Format != stateFormat {
		return nil, false, fmt.Errorf("pvesim: state %s: format %d, want %d", path, w.Format, stateFormat)
	}
	if len(w.Nodes) == 0 {
		return nil, false, fmt.Errorf("pvesim: state %s: no nodes", path)
	}
	if w.Guests == nil {
		w.Guests = map[int]*guest{}
	}
	if w.Files == nil {
		w.Files = map[string]string{}
	}
	return &w, true, nil
}
