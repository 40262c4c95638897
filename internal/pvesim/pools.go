package pvesim

import (
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// Resource pools, as PVE keeps them in user.cfg: a name, a comment and
// member guests. Storage members are not simulated.

func (s *Server) poolOf(c *call, id string) (*pool, error) {
	p := c.w.Pools[id]
	if p == nil {
		return nil, fail(http.StatusInternalServerError, "pool '%s' does not exist", id)
	}
	return p, nil
}

func (s *Server) poolMembers(c *call, id, typ string) []map[string]any {
	out := []map[string]any{}
	for _, g := range c2guests(c.w, "") {
		if g.Pool != id || typ != "" && typ != g.Type {
			continue
		}
		e := map[string]any{
			"id": g.Type + "/" + strconv.Itoa(g.VMID), "type": g.Type, "node": g.Node, "vmid": g.VMID,
			"name": s.guestStatus(g, c)["name"], "status": s.guestStatus(g, c)["status"], "template": 0,
		}
		if g.Conf["template"] == "1" {
			e["template"] = 1
		}
		out = append(out, e)
	}
	return out
}

func (s *Server) listPools(c *call) (any, error) {
	out := []map[string]any{}
	ids := make([]string, 0, len(c.w.Pools))
	for id := range c.w.Pools {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if want := c.p["poolid"]; want != "" && want != id {
			continue
		}
		e := map[string]any{"poolid": id}
		if cm := c.w.Pools[id].Comment; cm != "" {
			e["comment"] = cm
		}
		if c.p["poolid"] != "" {
			e["members"] = s.poolMembers(c, id, "")
		}
		out = append(out, e)
	}
	return out, nil
}

func (s *Server) createPool(c *call) (any, error) {
	id := c.p["poolid"]
	if c.w.Pools[id] != nil {
		return nil, fail(http.StatusInternalServerError, "create pool failed: pool '%s' already exists", id)
	}
	if c.w.Pools == nil {
		c.w.Pools = map[string]*pool{}
	}
	c.w.Pools[id] = &pool{Comment: c.p["comment"]}
	c.dirty = true
	return nil, nil
}

func (s *Server) getPool(c *call) (any, error) {
	p, err := s.poolOf(c, c.vars["poolid"])
	if err != nil {
		return nil, err
	}
	out := map[string]any{"members": s.poolMembers(c, c.vars["poolid"], c.p["type"])}
	if p.Comment != "" {
		out["comment"] = p.Comment
	}
	return out, nil
}

// updatePool sets the comment and adds (or, with delete=1, removes) the
// guests in vms. A guest in another pool moves only with allow-move.
func (s *Server) updatePool(c *call) (any, error) {
	id := c.vars["poolid"]
	p, err := s.poolOf(c, id)
	if err != nil {
		return nil, err
	}
	var gs []*guest
	for _, v := range strings.FieldsFunc(c.p["vms"], func(r rune) bool { return r == ',' || r == ';' || r == ' ' }) {
		vmid, _ := strconv.Atoi(v)
		g := c.w.Guests[vmid]
		if g == nil {
			return nil, fail(http.StatusInternalServerError, "VM %d does not exist", vmid)
		}
		switch {
		case c.flag("delete"):
			if g.Pool != id {
				return nil, fail(http.StatusInternalServerError, "VM %d is not a pool member", vmid)
			}
		case g.Pool != "" && g.Pool != id && !c.flag("allow-move"):
			return nil, fail(http.StatusInternalServerError, "VM %d belongs already to pool '%s' and 'allow-move' is not set", vmid, g.Pool)
		}
		gs = append(gs, g)
	}
	for _, g := range gs {
		if c.flag("delete") {
			g.Pool = ""
		} else {
			g.Pool = id
		}
	}
	if v, ok := c.p["comment"]; ok {
		p.Comment = v
	}
	c.dirty = true
	return nil, nil
}

func (s *Server) deletePool(c *call) (any, error) {
	id := c.vars["poolid"]
	if _, err := s.poolOf(c, id); err != nil {
		return nil, err
	}
	for _, g := range c.w.Guests {
		if g.Pool == id {
			return nil, fail(http.StatusInternalServerError, "delete pool failed: pool '%s' is not empty", id)
		}
	}
	delete(c.w.Pools, id)
	c.dirty = true
	return nil, nil
}

// joinPool checks the pool parameter of a create or clone before the
// guest exists; the guest joins it when made.
func (s *Server) joinPool(c *call) (string, error) {
	id := c.p["pool"]
	if id == "" {
		return "", nil
	}
	if _, err := s.poolOf(c, id); err != nil {
		return "", err
	}
	return id, nil
}

// requiresMissing answers PVE's schema error for a parameter that needs
// one the simulator does not take (unique needs restore or archive).
func requiresMissing(c *call, param, needs string) error {
	if _, ok := c.p[param]; !ok {
		return nil
	}
	return paramFail(map[string]string{needs: "missing property - '" + param + "' requires this property"})
}

// templateLXC converts a stopped container to a template, at once as
// PVE does (the answer is null, not a task).
func (s *Server) templateLXC(c *call) (any, error) {
	g, err := s.templatable(c)
	if err != nil {
		return nil, err
	}
	g.Conf["template"] = "1"
	c.dirty = true
	return nil, nil
}

// templateQEMU converts a stopped VM to a template in a task (qmtemplate).
func (s *Server) templateQEMU(c *call) (any, error) {
	g, err := s.templatable(c)
	if err != nil {
		return nil, err
	}
	t := s.startTask(c, "qmtemplate", strconv.Itoa(g.VMID), g.VMID, "template")
	return t.UPID, nil
}

func (s *Server) templatable(c *call) (*guest, error) {
	g, err := s.lockedGuest(c)
	if err != nil {
		return nil, err
	}
	word := "VM"
	if g.Type == "lxc" {
		word = "CT"
	}
	switch {
	case g.Conf["template"] == "1":
		return nil, fail(http.StatusInternalServerError, "you can't convert a template to a template")
	case g.Running:
		return nil, fail(http.StatusInternalServerError, "you can't convert a %s to template if %s is running", word, word)
	}
	return g, nil
}

// privileges are the PVE privileges the simulator grants: it models no
// ACLs, so root@pam and every token may do what a privileged user may
// (PVE's own root-only checks, such as bind mounts, still apply).
var privileges = []string{
	"Datastore.Allocate", "Datastore.AllocateSpace", "Datastore.AllocateTemplate", "Datastore.Audit",
	"Pool.Allocate", "Pool.Audit", "SDN.Use", "Sys.Audit", "Sys.Modify",
	"VM.Allocate", "VM.Audit", "VM.Clone", "VM.Config.CDROM", "VM.Config.CPU", "VM.Config.Cloudinit",
	"VM.Config.Disk", "VM.Config.HWType", "VM.Config.Memory", "VM.Config.Network", "VM.Config.Options",
	"VM.Console", "VM.PowerMgmt", "VM.Snapshot",
}

// getPermissions answers GET /access/permissions: the caller's effective
// privileges, on path when given ("/" otherwise), as PVE maps them.
func (s *Server) getPermissions(c *call) (any, error) {
	if u := c.p["userid"]; u != "" && u != c.id.user && !c.isRoot() {
		return nil, fail(http.StatusForbidden, "Permission check failed")
	}
	privs := map[string]int{}
	for _, p := range s.privilegesOf(c) {
		privs[p] = 1
	}
	path := c.p["path"]
	if path == "" {
		path = "/"
	}
	return map[string]any{path: privs}, nil
}

// privilegesOf is what the caller may do, on any path.
func (s *Server) privilegesOf(c *call) []string {
	if c.id.token {
		if ps, ok := s.opts.TokenPrivileges[c.id.user]; ok {
			return ps
		}
	}
	return privileges
}

// checkPrivileges refuses a guest write the caller's privileges do not
// cover, as PVE's permission check does: creating and deleting need
// VM.Allocate, cloning VM.Clone, power VM.PowerMgmt, config changes a
// VM.Config privilege per option.
func (s *Server) checkPrivileges(c *call, rt *route) error {
	if rt.method == "GET" || !c.id.token {
		return nil
	}
	have := map[string]bool{}
	for _, p := range s.privilegesOf(c) {
		have[p] = true
	}
	vmid := c.vars["vmid"]
	if vmid == "" {
		vmid = c.p["vmid"]
	}
	need := func(priv string) error {
		if have[priv] {
			return nil
		}
		return permDenied("/vms/" + vmid + ", " + priv)
	}
	switch {
	case rt.guestType == "":
		return nil
	case strings.HasSuffix(rt.pattern, "/clone"):
		if err := need("VM.Clone"); err != nil {
			return err
		}
		vmid = c.p["newid"]
		return need("VM.Allocate")
	case strings.Contains(rt.pattern, "/status/"):
		return need("VM.PowerMgmt")
	case strings.HasSuffix(rt.pattern, "/config"):
		for k := range c.p {
			if k == "digest" || k == "delete" || k == "revert" {
				continue
			}
			if err := need(configPrivilege(rt.guestType, k)); err != nil {
				return err
			}
		}
		return nil
	}
	return need("VM.Allocate") // create, delete, template
}

// configPrivilege is the privilege PVE checks to set an option.
func configPrivilege(guestType, key string) string {
	k := strings.TrimRight(key, "0123456789")
	if guestType == "lxc" && (k == "nameserver" || k == "searchdomain") {
		return "VM.Config.Network"
	}
	switch k {
	case "memory", "swap", "balloon":
		return "VM.Config.Memory"
	case "cores", "cpulimit", "cpuunits", "sockets", "vcpus":
		return "VM.Config.CPU"
	case "net":
		return "VM.Config.Network"
	case "rootfs", "mp", "scsi", "virtio", "sata", "ide", "unused":
		return "VM.Config.Disk"
	case "ipconfig", "nameserver", "searchdomain", "ciuser", "cipassword", "sshkeys":
		return "VM.Config.Cloudinit"
	}
	return "VM.Config.Options"
}
