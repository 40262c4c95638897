package proxmox

import (
	"context"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"phoenix/internal/pve"
	"phoenix/runtime"
)

// preflight connects before the script runs (so a bad URL, missing
// credentials or a refused login stop the run first) and, with a site
// config, checks every guest of the site against PVE: what converging it
// would need that PVE will certainly refuse. The checks follow PVE's own
// rules: bind mounts, and container features other than nesting, only
// for root@pam logged in with a password (never a token); a new guest's
// node, storages (holding rootdir, vztmpl) and template (present, or
// downloadable through aplinfo); a VM's clone source. Every cause is
// reported, guests that fail the same way together.
func preflight(rt *runtime.Runtime) error {
	be, err := runBackend(rt)
	if err != nil {
		return fmt.Errorf("proxmox: %w", err)
	}
	s, err := loadSite(rt)
	if err != nil || s == nil {
		return err
	}
	ctx := rt.Context()
	pf := &preflightRun{c: be.API(), ctx: ctx, storages: map[string][]pve.Storage{}, appliances: map[string][]string{}, perms: map[string]map[string]bool{}}
	ns, err := pf.c.Nodes(ctx)
	if err != nil {
		return fmt.Errorf("proxmox: reading the nodes: %w", err)
	}
	for _, n := range ns {
		pf.nodes = append(pf.nodes, n.Node)
	}
	for _, l := range s.LXCs {
		spec, err := lxcSpecOf("proxmox preflight", l)
		if err != nil {
			return err
		}
		pf.lxc(spec)
	}
	for _, v := range s.VMs {
		spec, err := vmSpecOf("proxmox preflight", v)
		if err != nil {
			return err
		}
		pf.vm(spec)
	}
	if len(pf.causes) == 0 {
		return nil
	}
	return &runtime.PreflightError{Family: "proxmox", Causes: groupCauses(pf.causes)}
}

// cause is one certain failure: what it concerns (lxc:101) and why.
type cause struct{ what, msg string }

// groupCauses joins the guests that fail for the same reason, in the
// order first seen: "lxc:101, lxc:102: why". Messages that differ only
// in the guest's own VMID are the same reason, told with VMID in its
// place.
func groupCauses(cs []cause) []string {
	var order []string
	by := map[string][]cause{}
	for _, c := range cs {
		key := c.msg
		if _, id, ok := strings.Cut(c.what, ":"); ok {
			key = regexp.MustCompile(`\b`+regexp.QuoteMeta(id)+`\b`).ReplaceAllString(c.msg, "VMID")
		}
		if _, ok := by[key]; !ok {
			order = append(order, key)
		}
		if !slices.ContainsFunc(by[key], func(o cause) bool { return o.what == c.what }) {
			by[key] = append(by[key], c)
		}
	}
	out := make([]string, len(order))
	for i, k := range order {
		g := by[k]
		if len(g) == 1 {
			out[i] = g[0].what + ": " + g[0].msg
			continue
		}
		whats := make([]string, len(g))
		for j, c := range g {
			whats[j] = c.what
		}
		out[i] = strings.Join(whats, ", ") + ": " + k
	}
	return out
}

type preflightRun struct {
	c          *pve.Client
	ctx        context.Context
	perms      map[string]map[string]bool // ACL path -> privileges; nil entry: unknown
	nodes      []string
	storages   map[string][]pve.Storage // by node
	appliances map[string][]string      // by node
	causes     []cause
}

func (pf *preflightRun) add(what, format string, args ...any) {
	pf.causes = append(pf.causes, cause{what, fmt.Sprintf(format, args...)})
}

// root reports whether PVE treats the run's login as root@pam: a
// password login as root@pam, never a token (even root@pam's own).
func (pf *preflightRun) root() bool {
	a := pf.c.Auth()
	return !a.IsToken() && a.User == pve.DefaultUser
}

func (pf *preflightRun) login() string {
	a := pf.c.Auth()
	if a.IsToken() {
		return fmt.Sprintf("this run uses the API token %s: set %s for root@pam instead of %s", a.TokenID, pve.EnvPassword, pve.EnvToken)
	}
	return fmt.Sprintf("this run logs in as %s: log in as root@pam (%s)", a.User, pve.EnvUser)
}

// need reports a privilege the login lacks on an ACL path, as PVE's
// /access/permissions tells; root@pam has them all. When PVE does not
// answer, nothing is reported: the check is not certain then.
func (pf *preflightRun) need(what, path, priv, why string) {
	if pf.root() {
		return
	}
	privs, ok := pf.perms[path]
	if !ok {
		privs, _ = pf.c.Permissions(pf.ctx, path)
		pf.perms[path] = privs
	}
	if privs != nil && !privs[priv] {
		a := pf.c.Auth()
		who := a.User
		if a.IsToken() {
			who = "the API token " + a.TokenID
		}
		pf.add(what, "%s needs %s on %s, which %s lacks", why, priv, path, who)
	}
}

// configPriv is the privilege PVE checks to change a guest option.
func configPriv(kind pve.Kind, key string) string {
	k := strings.TrimRight(key, "0123456789")
	switch {
	case k == "memory" || k == "swap" || k == "balloon":
		return "VM.Config.Memory"
	case k == "cores" || k == "cpulimit" || k == "cpuunits" || k == "sockets" || k == "vcpus":
		return "VM.Config.CPU"
	case k == "net" || kind == pve.LXC && (k == "nameserver" || k == "searchdomain"):
		return "VM.Config.Network"
	case k == "rootfs" || k == "mp" || k == "scsi" || k == "virtio" || k == "sata" || k == "ide":
		return "VM.Config.Disk"
	case kind == pve.QEMU && (k == "ipconfig" || k == "nameserver" || k == "searchdomain" || k == "ciuser" || k == "sshkeys"):
		return "VM.Config.Cloudinit"
	}
	return "VM.Config.Options"
}

func (pf *preflightRun) lxc(s *pve.LXCSpec) {
	what := pve.Resource(pve.LXC, s.VMID)
	plan, err := pf.c.PlanLXC(pf.ctx, s)
	if err != nil {
		pf.add(what, "%s", strings.TrimPrefix(err.Error(), what+" "))
		return
	}
	if !plan.Exists {
		if !pf.node(what, s.Node) {
			return
		}
		if s.RootFSStorage != "" {
			pf.storage(what, s.Node, s.RootFSStorage, "rootdir", "its root disk")
		}
		pf.template(what, s.Node, s.Template)
		pf.need(what, fmt.Sprintf("/vms/%d", s.VMID), "VM.Allocate", "creating it")
		if s.RootFSStorage != "" {
			pf.need(what, "/storage/"+s.RootFSStorage, "Datastore.AllocateSpace", "its root disk")
		}
		if len(s.MountPoints) > 0 && !pf.root() {
			pf.add(what, "PVE allows bind mount points only to root@pam logged in with a password; %s", pf.login())
		}
		if msg := featureProblem("", s.Features, s.Unprivileged); msg != "" && !pf.root() {
			pf.add(what, "%s; %s", msg, pf.login())
		}
		return
	}
	if pf.root() {
		return
	}
	for _, c := range plan.Changes {
		pf.need(what, fmt.Sprintf("/vms/%d", s.VMID), configPriv(pve.LXC, c.Key), "changing "+c.Key)
		switch {
		case isBindMP(c.Key, c.Old) || isBindMP(c.Key, c.New):
			pf.add(what, "changing bind mount points (%s) is allowed only to root@pam logged in with a password; %s", c.Key, pf.login())
		case c.Key == "features":
			if msg := featureProblem(c.Old, c.New, s.Unprivileged); msg != "" {
				pf.add(what, "%s; %s", msg, pf.login())
			}
		}
	}
}

// isBindMP reports an mpN value that is a host path.
func isBindMP(key, v string) bool {
	if !strings.HasPrefix(key, "mp") || v == "" {
		return false
	}
	vol, _, _ := strings.Cut(v, ",")
	return strings.HasPrefix(vol, "/")
}

// featureProblem follows PVE: anyone but root@pam may only toggle
// nesting, and only on an unprivileged container.
func featureProblem(oldV, newV string, unprivileged bool) string {
	if oldV == newV {
		return ""
	}
	if !unprivileged {
		return "PVE allows feature flags on a privileged container only to root@pam"
	}
	o, n := pve.ParseProp(pve.LXC, "features", oldV), pve.ParseProp(pve.LXC, "features", newV)
	for _, m := range []map[string]string{o, n} {
		for k := range m {
			if k != "nesting" && o[k] != n[k] {
				return "PVE allows container features other than nesting (" + k + ") only to root@pam"
			}
		}
	}
	return ""
}

func (pf *preflightRun) vm(s *pve.VMSpec) {
	what := pve.Resource(pve.QEMU, s.VMID)
	plan, err := pf.c.PlanVM(pf.ctx, s)
	if err != nil {
		pf.add(what, "%s", strings.TrimPrefix(err.Error(), what+" "))
		return
	}
	if plan.Exists {
		for _, c := range plan.Changes {
			pf.need(what, fmt.Sprintf("/vms/%d", s.VMID), configPriv(pve.QEMU, c.Key), "changing "+c.Key)
		}
		return
	}
	if !pf.node(what, s.Node) {
		return
	}
	pf.need(what, fmt.Sprintf("/vms/%d", s.VMID), "VM.Allocate", "creating it")
	pf.need(what, fmt.Sprintf("/vms/%d", s.CloneFrom), "VM.Clone", "cloning vm:"+strconv.Itoa(s.CloneFrom))
	src, ok, err := pf.c.Guest(pf.ctx, s.CloneFrom)
	switch {
	case err != nil:
		pf.add(what, "reading its clone source vm:%d: %v", s.CloneFrom, err)
	case !ok:
		pf.add(what, "its clone source vm:%d (clone_from) does not exist in PVE; create or restore that template first", s.CloneFrom)
	case src.Kind != pve.QEMU:
		pf.add(what, "its clone source %d (clone_from) is a container, not a VM", s.CloneFrom)
	case src.Node != s.Node && !src.Template:
		pf.add(what, "its clone source vm:%d is on node %s and not a template; PVE clones a plain VM only onto its own node", s.CloneFrom, src.Node)
	}
}

func (pf *preflightRun) node(what, node string) bool {
	if slices.Contains(pf.nodes, node) {
		return true
	}
	pf.add(what, "node %s does not exist (the cluster has %s)", node, strings.Join(pf.nodes, ", "))
	return false
}

// storage checks that node has storage and that it holds ct.
func (pf *preflightRun) storage(what, node, name, ct, forWhat string) bool {
	list, ok := pf.storages[node]
	if !ok {
		var err error
		if list, err = pf.c.Storages(pf.ctx, node); err != nil {
			pf.add(what, "reading the storages of node %s: %v", node, err)
			return false
		}
		pf.storages[node] = list
	}
	var names []string
	for _, st := range list {
		names = append(names, st.Name)
		if st.Name != name {
			continue
		}
		if !st.Holds(ct) {
			pf.add(what, "storage %s on node %s, for %s, does not hold %s (it holds %s)", name, node, forWhat, ct, strings.Join(st.Content, ", "))
			return false
		}
		return true
	}
	pf.add(what, "storage %s, for %s, does not exist on node %s (it has %s)", name, forWhat, node, strings.Join(names, ", "))
	return false
}

// template checks that the OS template is on its storage or downloadable.
func (pf *preflightRun) template(what, node, volid string) {
	storage, rest, _ := strings.Cut(volid, ":")
	if !pf.storage(what, node, storage, "vztmpl", "the template "+volid) {
		return
	}
	have, err := pf.c.HasTemplate(pf.ctx, node, volid)
	if err != nil {
		pf.add(what, "listing the templates on %s of node %s: %v", storage, node, err)
		return
	}
	if have {
		return
	}
	list, ok := pf.appliances[node]
	if !ok {
		if list, err = pf.c.Appliances(pf.ctx, node); err != nil {
			pf.add(what, "listing the downloadable templates of node %s: %v", node, err)
			return
		}
		pf.appliances[node] = list
	}
	if !slices.Contains(list, strings.TrimPrefix(rest, "vztmpl/")) {
		pf.add(what, "the template %s is not on node %s and PVE cannot download it (not in `pveam available`)", volid, node)
	}
}
