package pvesim

import (
	"crypto/sha512"
	"encoding/hex"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// Simulated hardware of every node.
const (
	nodeCPUs   = 8
	nodeMemory = 64 << 30
	nodeDisk   = 100 << 30
	pveVersion = "9.1.3"
)

func (s *Server) getVersion(c *call) (any, error) {
	return map[string]any{"version": pveVersion, "release": "9.1", "repoid": "5e2bd5a7c1f4d3b2"}, nil
}

func (s *Server) postTicket(c *call) (any, error) { return s.login(c) }

func (s *Server) getClusterStatus(c *call) (any, error) {
	var out []map[string]any
	if len(c.w.Nodes) > 1 {
		out = append(out, map[string]any{"type": "cluster", "id": "cluster", "name": "sim", "nodes": len(c.w.Nodes),
			"quorate": 1, "version": len(c.w.Nodes)})
	}
	for i, n := range c.w.Nodes {
		out = append(out, map[string]any{"type": "node", "id": "node/" + n, "name": n, "nodeid": i + 1,
			"ip": "127.0.0." + strconv.Itoa(i+1), "online": 1, "local": b2i(i == 0), "level": ""})
	}
	return out, nil
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (s *Server) nodeMemUsed(node string) int64 {
	used := int64(2 << 30)
	for _, g := range c2guests(s.w, node) {
		if g.Running {
			used += guestMemBytes(g) / 4
		}
	}
	return used
}

func c2guests(w *world, node string) []*guest {
	var out []*guest
	for _, id := range sortedGuestIDs(w) {
		if g := w.Guests[id]; node == "" || g.Node == node {
			out = append(out, g)
		}
	}
	return out
}

func sortedGuestIDs(w *world) []int {
	ids := make([]int, 0, len(w.Guests))
	for id := range w.Guests {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	return ids
}

func (s *Server) nodeEntry(n string) map[string]any {
	return map[string]any{
		"id": "node/" + n, "type": "node", "node": n, "status": "online", "level": "",
		"maxcpu": nodeCPUs, "cpu": 0.02, "maxmem": int64(nodeMemory), "mem": s.nodeMemUsed(n),
		"maxdisk": int64(nodeDisk), "disk": int64(nodeDisk / 10), "uptime": 86400, "cgroup-mode": 2,
	}
}

func (s *Server) getNodes(c *call) (any, error) {
	var out []map[string]any
	for _, n := range c.w.Nodes {
		e := s.nodeEntry(n)
		delete(e, "cgroup-mode")
		out = append(out, e)
	}
	return out, nil
}

func (s *Server) getNodeStatus(c *call) (any, error) {
	used := s.nodeMemUsed(c.node)
	return map[string]any{
		"cpu":        0.02,
		"wait":       0.0,
		"idle":       0,
		"uptime":     86400,
		"loadavg":    []string{"0.12", "0.08", "0.05"},
		"kversion":   "Linux 6.14.11-4-pve #1 SMP PREEMPT_DYNAMIC PMX 6.14.11-4",
		"pveversion": "pve-manager/" + pveVersion + "/sim",
		"cpuinfo": map[string]any{"cpus": nodeCPUs, "cores": nodeCPUs / 2, "sockets": 1, "model": "Simulated CPU",
			"mhz": "2400.000", "hvm": "1", "user_hz": 100, "flags": "fpu vme sse sse2 vmx"},
		"memory": map[string]any{"total": int64(nodeMemory), "used": used, "free": int64(nodeMemory) - used,
			"available": int64(nodeMemory) - used},
		"swap":   map[string]any{"total": int64(8 << 30), "used": 0, "free": int64(8 << 30)},
		"rootfs": map[string]any{"total": int64(nodeDisk), "used": int64(nodeDisk / 10), "free": int64(nodeDisk * 9 / 10), "avail": int64(nodeDisk * 9 / 10)},
		"ksm":    map[string]any{"shared": 0},
		"current-kernel": map[string]any{"sysname": "Linux", "release": "6.14.11-4-pve", "machine": "x86_64",
			"version": "#1 SMP PREEMPT_DYNAMIC PMX 6.14.11-4"},
		"boot-info": map[string]any{"mode": "efi", "secureboot": 0},
	}, nil
}

func (s *Server) getResources(c *call) (any, error) {
	typ := c.p["type"]
	out := []map[string]any{}
	if typ == "" || typ == "vm" {
		for _, g := range c2guests(c.w, "") {
			e := s.guestStatus(g, c)
			e["id"] = g.Type + "/" + strconv.Itoa(g.VMID)
			e["type"] = g.Type
			e["node"] = g.Node
			e["maxcpu"] = e["cpus"]
			delete(e, "cpus")
			delete(e, "ha")
			delete(e, "maxswap")
			delete(e, "swap")
			delete(e, "qmpstatus")
			delete(e, "pid")
			delete(e, "running-machine")
			delete(e, "running-qemu")
			delete(e, "agent")
			e["template"] = 0
			if g.Conf["template"] == "1" {
				e["template"] = 1
			}
			if g.Pool != "" {
				e["pool"] = g.Pool
			}
			out = append(out, e)
		}
	}
	if typ == "" || typ == "node" {
		for _, n := range c.w.Nodes {
			out = append(out, s.nodeEntry(n))
		}
	}
	if typ == "" || typ == "storage" {
		for _, n := range c.w.Nodes {
			for i := range storages {
				st := &storages[i]
				used := s.storageUsed(n, st.name)
				out = append(out, map[string]any{
					"id": "storage/" + n + "/" + st.name, "type": "storage", "storage": st.name, "node": n,
					"status": "available", "content": st.content, "plugintype": st.typ, "shared": 0,
					"maxdisk": st.total, "disk": used,
				})
			}
		}
	}
	return out, nil
}

func (s *Server) getNextID(c *call) (any, error) {
	if v := c.p["vmid"]; v != "" {
		id, _ := strconv.Atoi(v)
		if _, used := c.w.Guests[id]; used {
			return nil, paramFail(map[string]string{"vmid": "VM " + v + " already exists"})
		}
		return v, nil
	}
	for id := 100; ; id++ {
		if _, used := c.w.Guests[id]; !used {
			// PVE answers a string here despite its schema; clients rely on it.
			return strconv.Itoa(id), nil
		}
	}
}

func (s *Server) storageUsed(node, storage string) int64 {
	var used int64
	for _, v := range s.w.Volumes {
		if v.Node == node && v.Storage == storage {
			used += v.Size
		}
	}
	return used
}

func (s *Server) storageEntry(node string, st *storageDef) map[string]any {
	used := s.storageUsed(node, st.name)
	return map[string]any{
		"storage": st.name, "type": st.typ, "content": st.content, "active": 1, "enabled": 1, "shared": 0,
		"total": st.total, "used": used, "avail": st.total - used, "used_fraction": float64(used) / float64(st.total),
	}
}

func (s *Server) getStorages(c *call) (any, error) {
	out := []map[string]any{}
	for i := range storages {
		st := &storages[i]
		if n := c.p["storage"]; n != "" && n != st.name {
			continue
		}
		if want := c.p["content"]; want != "" {
			match := false
			for _, ct := range splitList(want) {
				match = match || st.supports(ct)
			}
			if !match {
				continue
			}
		}
		out = append(out, s.storageEntry(c.node, st))
	}
	return out, nil
}

func (s *Server) storageOf(c *call) (*storageDef, error) {
	st := findStorage(c.vars["storage"])
	if st == nil {
		return nil, fail(http.StatusInternalServerError, "storage '%s' does not exist", c.vars["storage"])
	}
	return st, nil
}

func (s *Server) getStorageStatus(c *call) (any, error) {
	st, err := s.storageOf(c)
	if err != nil {
		return nil, err
	}
	e := s.storageEntry(c.node, st)
	delete(e, "storage")
	delete(e, "used_fraction")
	return e, nil
}

func (s *Server) getStorageContent(c *call) (any, error) {
	st, err := s.storageOf(c)
	if err != nil {
		return nil, err
	}
	if ct := c.p["content"]; ct != "" && !st.supports(ct) {
		return []any{}, nil
	}
	out := []map[string]any{}
	vmid, _ := strconv.Atoi(c.p["vmid"])
	for _, v := range c.w.Volumes {
		if v.Node != c.node || v.Storage != st.name {
			continue
		}
		if ct := c.p["content"]; ct != "" && v.Content != ct {
			continue
		}
		if vmid != 0 && v.VMID != vmid {
			continue
		}
		e := map[string]any{"volid": v.volid(), "content": v.Content, "format": v.Format, "size": v.Size, "ctime": v.CTime}
		if v.VMID != 0 {
			e["vmid"] = v.VMID
			e["used"] = v.Size / 20
		}
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i]["volid"].(string) < out[j]["volid"].(string) })
	return out, nil
}

func (s *Server) getAplinfo(c *call) (any, error) {
	out := []map[string]any{}
	for _, a := range appliances {
		sum := sha512.Sum512([]byte(a.template))
		pkg, _, _ := strings.Cut(a.template, "_")
		out = append(out, map[string]any{
			"template": a.template, "package": pkg, "version": a.version, "os": a.os,
			"section": "system", "type": "lxc", "headline": a.headline,
			"description":  a.headline + " container image (simulated).",
			"source":       "http://download.proxmox.com/images/system/" + a.template,
			"location":     "http://download.proxmox.com/images/system/" + a.template,
			"infopage":     "https://pve.proxmox.com/wiki/Linux_Container#pct_supported_distributions",
			"maintainer":   "Proxmox Support Team <support@proxmox.com>",
			"architecture": "amd64",
			"sha512sum":    hex.EncodeToString(sum[:]),
		})
	}
	return out, nil
}

func (s *Server) postAplinfo(c *call) (any, error) {
	st := findStorage(c.p["storage"])
	if st == nil {
		return nil, fail(http.StatusInternalServerError, "storage '%s' does not exist", c.p["storage"])
	}
	if !st.supports("vztmpl") {
		return nil, fail(http.StatusInternalServerError, "storage '%s' does not support templates", st.name)
	}
	a := findAppliance(c.p["template"])
	if a == nil {
		return nil, fail(http.StatusInternalServerError, "no such template")
	}
	t := s.startTask(c, "download", a.template, 0, "download")
	t.Template, t.Storage = a.template, st.name
	t.Log = taskLogLines("download", nil, a.template)
	return t.UPID, nil
}

func (s *Server) taskOf(c *call) (*task, error) {
	upid := c.vars["upid"]
	node, ok := parseUPID(upid)
	if !ok {
		return nil, paramFail(map[string]string{"upid": "unable to parse worker upid '" + upid + "'"})
	}
	if node != c.node {
		return nil, fail(http.StatusBadRequest, "upid does not belong to node '%s'", c.node)
	}
	t := c.w.findTask(upid)
	if t == nil {
		return nil, fail(http.StatusInternalServerError, "unable to open file '/var/log/pve/tasks/%s' - No such file or directory", upid)
	}
	return t, nil
}

func (s *Server) getTaskStatus(c *call) (any, error) {
	t, err := s.taskOf(c)
	if err != nil {
		return nil, err
	}
	return t.status(), nil
}

func (s *Server) getTaskLog(c *call) (any, error) {
	t, err := s.taskOf(c)
	if err != nil {
		return nil, err
	}
	start, _ := strconv.Atoi(c.p["start"])
	limit := 50
	if v, ok := c.p["limit"]; ok {
		limit, _ = strconv.Atoi(v)
	}
	out := []map[string]any{}
	for i := start; i < len(t.Log) && len(out) < limit; i++ {
		out = append(out, map[string]any{"n": i + 1, "t": t.Log[i]})
	}
	return out, nil
}

func (s *Server) stopTask(c *call) (any, error) {
	t, err := s.taskOf(c)
	if err != nil {
		return nil, err
	}
	if t.Running {
		rest := s.running[:0]
		for _, x := range s.running {
			if x != t {
				rest = append(rest, x)
			}
		}
		s.running = rest
		s.finishTask(t, c.now, "received interrupt")
		c.dirty = true
	}
	return nil, nil
}
