package pve

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	proxmox "github.com/luthermonson/go-proxmox"
)

// Guest is a container or VM as the cluster lists it.
type Guest struct {
	VMID     int
	Kind     Kind
	Node     string
	Name     string
	Status   string // "running", "stopped", ...
	Template bool
}

// Running reports whether the guest runs.
func (g Guest) Running() bool { return g.Status == "running" }

// Resource is the guest's name in plans: "lxc:103" or "vm:1001".
func (g Guest) Resource() string { return Resource(g.Kind, g.VMID) }

// Resource names a guest in plans: "lxc:103" or "vm:1001".
func Resource(kind Kind, vmid int) string { return kind.Word() + ":" + strconv.Itoa(vmid) }

func (g Guest) path() string { return fmt.Sprintf("/nodes/%s/%s/%d", g.Node, g.Kind, g.VMID) }

// inventory caches the cluster's guest list for one run: one
// cluster-resources call, then kept current by this client's own changes.
type inventory struct {
	mu     sync.Mutex
	loaded bool
	guests map[int]Guest
}

// Guests lists every guest, sorted by VMID. The first call of a run asks
// the cluster; later calls use what this client knows.
func (c *Client) Guests(ctx context.Context) ([]Guest, error) {
	c.inv.mu.Lock()
	defer c.inv.mu.Unlock()
	if err := c.loadLocked(ctx); err != nil {
		return nil, err
	}
	return c.sortedLocked(), nil
}

// Guest finds one guest; ok is false when the cluster has no such VMID.
func (c *Client) Guest(ctx context.Context, vmid int) (g Guest, ok bool, err error) {
	c.inv.mu.Lock()
	defer c.inv.mu.Unlock()
	if err := c.loadLocked(ctx); err != nil {
		return Guest{}, false, err
	}
	g, ok = c.inv.guests[vmid]
	return g, ok, nil
}

// RefreshGuests asks the cluster again.
func (c *Client) RefreshGuests(ctx context.Context) ([]Guest, error) {
	c.inv.mu.Lock()
	defer c.inv.mu.Unlock()
	c.inv.loaded = false
	if err := c.loadLocked(ctx); err != nil {
		return nil, err
	}
	return c.sortedLocked(), nil
}

func (c *Client) loadLocked(ctx context.Context) error {
	if c.inv.loaded {
		return nil
	}
	rs, err := c.Resources(ctx, "vm")
	if err != nil {
		return err
	}
	c.inv.guests = map[int]Guest{}
	for _, r := range rs {
		if r.Type != "lxc" && r.Type != "qemu" {
			continue
		}
		c.inv.guests[int(r.VMID)] = Guest{
			VMID: int(r.VMID), Kind: Kind(r.Type), Node: r.Node, Name: r.Name,
			Status: r.Status, Template: r.Template != 0,
		}
	}
	c.inv.loaded = true
	return nil
}

func (c *Client) sortedLocked() []Guest {
	out := make([]Guest, 0, len(c.inv.guests))
	for _, g := range c.inv.guests {
		out = append(out, g)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].VMID < out[j].VMID })
	return out
}

func (c *Client) remember(g Guest) {
	c.inv.mu.Lock()
	defer c.inv.mu.Unlock()
	if c.inv.loaded {
		c.inv.guests[g.VMID] = g
	}
}

func (c *Client) forget(vmid int) {
	c.inv.mu.Lock()
	defer c.inv.mu.Unlock()
	if c.inv.loaded {
		delete(c.inv.guests, vmid)
	}
}

func (c *Client) setStatus(g Guest, status string) Guest {
	g.Status = status
	c.remember(g)
	return g
}

// Resources is GET /cluster/resources, optionally filtered by type
// ("vm", "storage", "node", "sdn").
func (c *Client) Resources(ctx context.Context, typ string) (proxmox.ClusterResources, error) {
	cl := (&proxmox.Cluster{}).New(c.api)
	var rs proxmox.ClusterResources
	err := c.read(ctx, func(ctx context.Context) error {
		var err error
		if typ == "" {
			rs, err = cl.Resources(ctx)
		} else {
			rs, err = cl.Resources(ctx, typ)
		}
		return err
	})
	return rs, err
}

// Nodes lists the cluster's nodes, sorted by name.
func (c *Client) Nodes(ctx context.Context) (proxmox.NodeStatuses, error) {
	var ns proxmox.NodeStatuses
	err := c.read(ctx, func(ctx context.Context) error {
		var err error
		ns, err = c.api.Nodes(ctx)
		return err
	})
	sort.Slice(ns, func(i, j int) bool { return ns[i].Node < ns[j].Node })
	return ns, err
}

// NextID asks the cluster for a free VMID.
func (c *Client) NextID(ctx context.Context) (int, error) {
	cl := (&proxmox.Cluster{}).New(c.api)
	var id int
	err := c.read(ctx, func(ctx context.Context) error {
		var err error
		id, err = cl.NextID(ctx)
		return err
	})
	return id, err
}

// Status reads a guest's live status (GET .../status/current).
func (c *Client) Status(ctx context.Context, g Guest) (map[string]any, error) {
	var st map[string]any
	if err := c.get(ctx, g.path()+"/status/current", &st); err != nil {
		return nil, err
	}
	if s, ok := st["status"].(string); ok && s != g.Status {
		c.setStatus(g, s)
	}
	return st, nil
}

// State is a guest's config as PVE holds it, read in one request.
type State struct {
	Guest Guest
	// Current is the config in effect now.
	Current Config
	// Effective is the config once pending changes apply: what the
	// guest will run with after its next restart.
	Effective Config
	// Pending lists options changed or removed but not yet applied,
	// sorted.
	Pending []string
}

// ReadState reads a guest's config with its pending changes
// (GET .../pending: one request gives both).
func (c *Client) ReadState(ctx context.Context, g Guest) (*State, error) {
	var items []struct {
		Key     string          `json:"key"`
		Value   json.RawMessage `json:"value"`
		Pending json.RawMessage `json:"pending"`
		Delete  json.RawMessage `json:"delete"`
	}
	if err := c.get(ctx, g.path()+"/pending", &items); err != nil {
		return nil, err
	}
	st := &State{Guest: g, Current: Config{}, Effective: Config{}}
	for _, it := range items {
		if it.Key == "digest" {
			continue
		}
		v, hasV := rawString(it.Value)
		p, hasP := rawString(it.Pending)
		del, _ := rawString(it.Delete)
		if hasV {
			st.Current[it.Key] = v
			st.Effective[it.Key] = v
		}
		switch {
		case del != "" && del != "0":
			delete(st.Effective, it.Key)
			st.Pending = append(st.Pending, it.Key)
		case hasP:
			st.Effective[it.Key] = p
			st.Pending = append(st.Pending, it.Key)
		}
	}
	SortKeys(st.Pending)
	return st, nil
}

// rawString turns a JSON scalar into PVE's text form: PVE answers numbers
// as numbers or strings, depending on the option.
func rawString(raw json.RawMessage) (string, bool) {
	if len(raw) == 0 || string(raw) == "null" {
		return "", false
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s, true
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String(), true
	}
	var b bool
	if json.Unmarshal(raw, &b) == nil {
		if b {
			return "1", true
		}
		return "0", true
	}
	return string(raw), true
}

func body(cfg Config) map[string]any {
	out := make(map[string]any, len(cfg))
	for k, v := range cfg {
		out[k] = v
	}
	return out
}

// CreateLXC creates container vmid on node from cfg (ostemplate, rootfs
// and the other options) and waits for the task. Creates on one node run
// one at a time.
func (c *Client) CreateLXC(ctx context.Context, node string, vmid int, cfg Config) (Guest, error) {
	return c.create(ctx, Guest{VMID: vmid, Kind: LXC, Node: node, Name: cfg["hostname"], Status: "stopped"}, cfg)
}

// CreateVM creates VM vmid on node from cfg and waits. Creates on one
// node run one at a time.
func (c *Client) CreateVM(ctx context.Context, node string, vmid int, cfg Config) (Guest, error) {
	return c.create(ctx, Guest{VMID: vmid, Kind: QEMU, Node: node, Name: cfg["name"], Status: "stopped"}, cfg)
}

// create is CreateLXC and CreateVM: POST /nodes/NODE/KIND, under the
// node's lock.
func (c *Client) create(ctx context.Context, g Guest, cfg Config) (Guest, error) {
	m := c.nodeLock(g.Node)
	m.Lock()
	defer m.Unlock()
	data := body(cfg)
	data["vmid"] = g.VMID
	if err := c.task(ctx, "create "+g.Resource(), http.MethodPost, fmt.Sprintf("/nodes/%s/%s", g.Node, g.Kind), data); err != nil {
		return Guest{}, err
	}
	if cfg["start"] == "1" {
		g.Status = "running"
	}
	c.remember(g)
	return g, nil
}

// CloneVM clones template src (on srcNode) to newid on node and waits.
// Clones onto one node run one at a time.
func (c *Client) CloneVM(ctx context.Context, srcNode string, src, newid int, node, name string, full bool) (Guest, error) {
	m := c.nodeLock(node)
	m.Lock()
	defer m.Unlock()
	data := map[string]any{"newid": newid, "name": name, "full": boolInt(full)}
	if node != srcNode {
		data["target"] = node
	}
	g := Guest{VMID: newid, Kind: QEMU, Node: node, Name: name, Status: "stopped"}
	err := c.task(ctx, fmt.Sprintf("clone vm:%d to %s", src, g.Resource()), http.MethodPost, fmt.Sprintf("/nodes/%s/qemu/%d/clone", srcNode, src), data)
	if err != nil {
		return Guest{}, err
	}
	c.remember(g)
	return g, nil
}

// Configure sets options and removes others on an existing guest. The
// change is idempotent, so a failed request is repeated. PVE may apply it
// at once or keep it pending until the guest restarts.
func (c *Client) Configure(ctx context.Context, g Guest, set Config, del []string) error {
	if len(set) == 0 && len(del) == 0 {
		return nil
	}
	data := body(set)
	if len(del) > 0 {
		d := append([]string(nil), del...)
		SortKeys(d)
		data["delete"] = strings.Join(d, ",")
	}
	what := "configure " + g.Resource()
	var upid string
	err := c.write(ctx, true, func(ctx context.Context) error {
		upid = ""
		return c.api.Put(ctx, g.path()+"/config", data, &upid)
	})
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	// PUT is synchronous for both kinds; an answer with a task ID means
	// the work went to a worker.
	if upid != "" {
		return c.Wait(ctx, upid, what)
	}
	if name, ok := set["hostname"]; ok && g.Kind == LXC {
		g.Name = name
		c.remember(g)
	} else if name, ok := set["name"]; ok && g.Kind == QEMU {
		g.Name = name
		c.remember(g)
	}
	return nil
}

// Power actions a guest takes through POST .../status/ACTION.
const (
	Start    = "start"
	Stop     = "stop"
	Shutdown = "shutdown"
	Reboot   = "reboot"
)

// Power runs start, stop, shutdown or reboot and waits for the task.
// params are the action's options (shutdown timeout, forceStop).
func (c *Client) Power(ctx context.Context, g Guest, action string, params map[string]any) (Guest, error) {
	what := action + " " + g.Resource()
	if err := c.task(ctx, what, http.MethodPost, g.path()+"/status/"+action, params); err != nil {
		return g, err
	}
	switch action {
	case Start, Reboot:
		g = c.setStatus(g, "running")
	case Stop, Shutdown:
		g = c.setStatus(g, "stopped")
	}
	return g, nil
}

// Destroy deletes a stopped guest with its disks and waits.
func (c *Client) Destroy(ctx context.Context, g Guest) error {
	what := "destroy " + g.Resource()
	params := map[string]any{"purge": 1, "destroy-unreferenced-disks": 1}
	if err := c.task(ctx, what, http.MethodDelete, g.path(), params); err != nil {
		return err
	}
	c.forget(g.VMID)
	return nil
}

// Templates lists the container templates on a node's storage, as
// volume IDs ("local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst").
func (c *Client) Templates(ctx context.Context, node, storage string) ([]string, error) {
	var items []struct {
		VolID string `json:"volid"`
	}
	p := fmt.Sprintf("/nodes/%s/storage/%s/content?content=vztmpl", node, url.PathEscape(storage))
	if err := c.get(ctx, p, &items); err != nil {
		return nil, err
	}
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.VolID
	}
	sort.Strings(out)
	return out, nil
}

// DownloadTemplate fetches an appliance template (aplinfo) onto a node's
// storage and waits.
func (c *Client) DownloadTemplate(ctx context.Context, node, storage, template string) error {
	n := (&proxmox.Node{}).New(c.api, node)
	return c.runTask(ctx, fmt.Sprintf("download template %s to %s on %s", template, storage, node), func(ctx context.Context) (string, error) {
		var upid string
		err := c.write(ctx, false, func(ctx context.Context) error {
			var err error
			upid, err = n.DownloadAppliance(ctx, template, storage)
			return err
		})
		return upid, err
	})
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// LocalNode is the node that answers the API: the entry of
// /cluster/status marked local (the first node when none is).
func (c *Client) LocalNode(ctx context.Context) (string, error) {
	var items []struct {
		Type  string          `json:"type"`
		Name  string          `json:"name"`
		Local json.RawMessage `json:"local"`
	}
	if err := c.get(ctx, "/cluster/status", &items); err != nil {
		return "", err
	}
	first := ""
	for _, it := range items {
		if it.Type != "node" {
			continue
		}
		if first == "" {
			first = it.Name
		}
		if v, _ := rawString(it.Local); v == "1" {
			return it.Name, nil
		}
	}
	if first == "" {
		return "", fmt.Errorf("GET /cluster/status: no node listed")
	}
	return first, nil
}

// HasTemplate reports whether a node's storage holds the template volid
// (STORAGE:vztmpl/NAME). Each node's storage is listed once per run.
func (c *Client) HasTemplate(ctx context.Context, node, volid string) (bool, error) {
	storage, _, ok := strings.Cut(volid, ":")
	if !ok {
		return false, fmt.Errorf("template %q: want STORAGE:vztmpl/NAME", volid)
	}
	key := node + "|" + storage
	c.tmplMu.Lock()
	defer c.tmplMu.Unlock()
	if c.tmpl == nil {
		c.tmpl = map[string]map[string]bool{}
	}
	have, ok := c.tmpl[key]
	if !ok {
		list, err := c.Templates(ctx, node, storage)
		if err != nil {
			return false, err
		}
		have = map[string]bool{}
		for _, v := range list {
			have[v] = true
		}
		c.tmpl[key] = have
	}
	return have[volid], nil
}

// EnsureTemplate downloads the template volid onto node unless present.
func (c *Client) EnsureTemplate(ctx context.Context, node, volid string) error {
	storage, rest, _ := strings.Cut(volid, ":")
	name := strings.TrimPrefix(rest, "vztmpl/")
	if err := c.DownloadTemplate(ctx, node, storage, name); err != nil {
		return err
	}
	c.tmplMu.Lock()
	defer c.tmplMu.Unlock()
	if have := c.tmpl[node+"|"+storage]; have != nil {
		have[volid] = true
	}
	return nil
}

// TemplateLock serialises the check and download of one template on one
// node, so parallel converges fetch it once.
func (c *Client) TemplateLock(node, volid string) *sync.Mutex {
	return c.nodeLock("template|" + node + "|" + volid)
}

// Storage is one storage as a node sees it.
type Storage struct {
	Name    string
	Content []string // rootdir, images, vztmpl, ...
	Active  bool
}

// Holds reports whether the storage takes content of type ct.
func (s Storage) Holds(ct string) bool { return slices.Contains(s.Content, ct) }

// Storages lists the storages a node can use, sorted by name.
func (c *Client) Storages(ctx context.Context, node string) ([]Storage, error) {
	var items []struct {
		Storage string          `json:"storage"`
		Content string          `json:"content"`
		Active  json.RawMessage `json:"active"`
	}
	if err := c.get(ctx, fmt.Sprintf("/nodes/%s/storage", url.PathEscape(node)), &items); err != nil {
		return nil, err
	}
	out := make([]Storage, len(items))
	for i, it := range items {
		act, _ := rawString(it.Active)
		out[i] = Storage{Name: it.Storage, Content: strings.Split(it.Content, ","), Active: act == "1"}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Appliances lists the template names a node can download (aplinfo).
func (c *Client) Appliances(ctx context.Context, node string) ([]string, error) {
	var items []struct {
		Template string `json:"template"`
	}
	if err := c.get(ctx, fmt.Sprintf("/nodes/%s/aplinfo", url.PathEscape(node)), &items); err != nil {
		return nil, err
	}
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.Template
	}
	sort.Strings(out)
	return out, nil
}

// Permissions are the privileges the client's login has on an ACL path
// (/vms/103, /storage/local-zfs), as GET /access/permissions answers.
func (c *Client) Permissions(ctx context.Context, path string) (map[string]bool, error) {
	var m map[string]map[string]json.RawMessage
	if err := c.get(ctx, "/access/permissions?path="+url.QueryEscape(path), &m); err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for _, privs := range m {
		for p := range privs {
			out[p] = true
		}
	}
	return out, nil
}
