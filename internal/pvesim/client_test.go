package pvesim

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	proxmox "github.com/luthermonson/go-proxmox"
)

var hwaddrRE = regexp.MustCompile(`hwaddr=(BC:24:11:[0-9A-F]{2}:[0-9A-F]{2}:[0-9A-F]{2})`)

// createCT makes container 103 with a storage mount point, features and a
// NIC through go-proxmox with a token, as phoenix does.
func createCT(t *testing.T, c *proxmox.Client, vmid int, extra ...proxmox.ContainerOption) {
	t.Helper()
	opts := append([]proxmox.ContainerOption{
		{Name: "ostemplate", Value: testTemplate},
		{Name: "hostname", Value: "ca"},
		{Name: "rootfs", Value: "local-zfs:8"},
		{Name: "mp0", Value: "local-zfs:4,mp=/var/lib/data,backup=1"},
		{Name: "features", Value: "nesting=1"},
		{Name: "unprivileged", Value: 1},
		{Name: "memory", Value: 1024},
		{Name: "net0", Value: "name=eth0,bridge=vmbr0,ip=dhcp,firewall=1"},
	}, extra...)
	task, err := node(t, c, "pve").NewContainer(context.Background(), vmid, opts...)
	if err != nil {
		t.Fatalf("create %d: %v", vmid, err)
	}
	wait(t, task)
}

func TestCreateContainerReadBack(t *testing.T) {
	s := startSim(t, Options{TaskDuration: 20 * time.Millisecond})
	c := s.tokenClient()
	createCT(t, c, 103)

	ct, err := node(t, c, "pve").Container(context.Background(), 103)
	if err != nil {
		t.Fatal(err)
	}
	cfg := ct.ContainerConfig
	if got, want := cfg.Mps["mp0"], "local-zfs:subvol-103-disk-1,mp=/var/lib/data,backup=1,size=4G"; got != want {
		t.Errorf("mp0 = %q, want %q", got, want)
	}
	if got, want := cfg.RootFS, "local-zfs:subvol-103-disk-0,size=8G"; got != want {
		t.Errorf("rootfs = %q, want %q", got, want)
	}
	if cfg.Features != "nesting=1" || !bool(cfg.Unprivileged) || cfg.Hostname != "ca" || cfg.Memory == nil || *cfg.Memory != 1024 {
		t.Errorf("config read back wrong: %+v", cfg)
	}
	net0 := cfg.Nets["net0"]
	m := hwaddrRE.FindStringSubmatch(net0)
	if m == nil || !strings.HasPrefix(net0, "name=eth0,bridge=vmbr0,firewall=1,hwaddr=") || !strings.HasSuffix(net0, ",ip=dhcp,type=veth") {
		t.Fatalf("net0 = %q: want PVE's canonical form with an assigned hwaddr", net0)
	}
	if ct.Status != "stopped" || ct.Name != "ca" || ct.MaxMem != 1024<<20 {
		t.Errorf("status read back wrong: %+v", ct)
	}

	// The address stays through restarts and unrelated changes.
	wait(t, must(ct.Start(context.Background())))
	if _, err := ct.Config(context.Background(), proxmox.ContainerOption{Name: "cores", Value: 2}); err != nil {
		t.Fatal(err)
	}
	wait(t, must(ct.Reboot(context.Background())))
	again, err := node(t, c, "pve").Container(context.Background(), 103)
	if err != nil {
		t.Fatal(err)
	}
	if again.ContainerConfig.Nets["net0"] != net0 {
		t.Errorf("net0 changed: %q -> %q", net0, again.ContainerConfig.Nets["net0"])
	}
	if again.Status != "running" || again.CPUs != 2 {
		t.Errorf("after reboot: status %q cpus %d", again.Status, again.CPUs)
	}
	// As on PVE, writing a NIC without hwaddr draws a new address.
	if _, err := again.Config(context.Background(), proxmox.ContainerOption{Name: "net0", Value: "name=eth0,bridge=vmbr1"}); err != nil {
		t.Fatal(err)
	}
	third, _ := node(t, c, "pve").Container(context.Background(), 103)
	if n := hwaddrRE.FindStringSubmatch(third.ContainerConfig.Nets["net0"]); n == nil || n[1] == m[1] {
		t.Errorf("net0 rewritten without hwaddr: got %q, want a new address", third.ContainerConfig.Nets["net0"])
	}
}

func must(task *proxmox.Task, err error) *proxmox.Task {
	if err != nil {
		panic(err)
	}
	return task
}

func TestBindMountNeedsRootPam(t *testing.T) {
	s := startSim(t, Options{})
	bind := proxmox.ContainerOption{Name: "mp1", Value: "/mnt/pve/quickOS/lxc-persistent-data/103/ssl,mp=/etc/step-ca/ssl"}

	// A token, even root@pam's, is refused with 403.
	_, err := node(t, s.tokenClient(), "pve").NewContainer(context.Background(), 103,
		proxmox.ContainerOption{Name: "ostemplate", Value: testTemplate},
		proxmox.ContainerOption{Name: "rootfs", Value: "local-zfs:8"}, bind)
	if !isNotAuthorized(err) {
		t.Fatalf("bind mount with a token: got %v, want go-proxmox's not-authorized (403)", err)
	}
	r := s.raw(t, "POST", "/nodes/pve/lxc", nil, map[string]any{"vmid": 104, "ostemplate": testTemplate,
		"rootfs": "local-zfs:8", "mp1": "/srv/x,mp=/x"}, tokenAuth)
	if r.status != 403 || !strings.Contains(r.reason, "mount point type bind is only allowed for root@pam") {
		t.Fatalf("raw bind mount with token: %d %q", r.status, r.reason)
	}
	if _, ok := s.Server.w.Guests[104]; ok {
		t.Fatal("refused create left a guest behind")
	}

	// root@pam with a ticket may.
	createCT(t, s.rootClient(), 103, bind)
	ct, err := node(t, s.rootClient(), "pve").Container(context.Background(), 103)
	if err != nil {
		t.Fatal(err)
	}
	if got := ct.ContainerConfig.Mps["mp1"]; got != "/mnt/pve/quickOS/lxc-persistent-data/103/ssl,mp=/etc/step-ca/ssl" {
		t.Errorf("mp1 = %q", got)
	}
}

func TestFeaturesPermissions(t *testing.T) {
	s := startSim(t, Options{})
	c := s.tokenClient()
	// keyctl on a token is root-only, even unprivileged.
	_, err := node(t, c, "pve").NewContainer(context.Background(), 105,
		proxmox.ContainerOption{Name: "ostemplate", Value: testTemplate},
		proxmox.ContainerOption{Name: "rootfs", Value: "local-zfs:8"},
		proxmox.ContainerOption{Name: "unprivileged", Value: 1},
		proxmox.ContainerOption{Name: "features", Value: "nesting=1,keyctl=1"})
	if !isNotAuthorized(err) {
		t.Fatalf("keyctl with a token: %v", err)
	}
	createCT(t, s.rootClient(), 105, proxmox.ContainerOption{Name: "features", Value: "keyctl=1,nesting=1"})
	ct, _ := node(t, s.rootClient(), "pve").Container(context.Background(), 105)
	if ct.ContainerConfig.Features != "keyctl=1,nesting=1" {
		t.Errorf("features = %q", ct.ContainerConfig.Features)
	}
}

func TestPendingMountPoint(t *testing.T) {
	s := startSim(t, Options{TaskDuration: 10 * time.Millisecond})
	c := s.tokenClient()
	createCT(t, c, 110)
	ct, _ := node(t, c, "pve").Container(context.Background(), 110)
	wait(t, must(ct.Start(context.Background())))

	// memory is hot-plugged, a new mount point waits for the restart.
	if _, err := ct.Config(context.Background(),
		proxmox.ContainerOption{Name: "mp1", Value: "local-zfs:2,mp=/srv/new"},
		proxmox.ContainerOption{Name: "memory", Value: 2048}); err != nil {
		t.Fatal(err)
	}
	pending, err := ct.Pending(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	byKey := map[string]*proxmox.ContainerPending{}
	for _, p := range pending {
		byKey[p.Key] = p
	}
	mp1 := byKey["mp1"]
	if mp1 == nil || mp1.Value != nil || mp1.Pending != "local-zfs:subvol-110-disk-2,mp=/srv/new,size=2G" {
		t.Fatalf("pending mp1 = %+v", mp1)
	}
	if mem := byKey["memory"]; mem == nil || mem.Pending != nil || mem.Value != float64(2048) {
		t.Fatalf("memory should apply at once, got %+v", mem)
	}
	if byKey["hostname"] == nil || byKey["hostname"].Value != "ca" {
		t.Errorf("pending lists every key with its value: %+v", byKey["hostname"])
	}

	merged := s.get(t, "/nodes/pve/lxc/110/config").data().(map[string]any)
	current := s.get(t, "/nodes/pve/lxc/110/config?current=1").data().(map[string]any)
	if merged["mp1"] == nil || current["mp1"] != nil {
		t.Fatalf("config GET shows pending unless current=1: merged %v, current %v", merged["mp1"], current["mp1"])
	}
	if merged["digest"] != current["digest"] {
		t.Errorf("digest is of the whole file, pending included")
	}

	// A reboot applies it.
	wait(t, must(ct.Reboot(context.Background())))
	pending, _ = ct.Pending(context.Background())
	for _, p := range pending {
		if p.Pending != nil || p.Delete != 0 {
			t.Errorf("still pending after reboot: %+v", p)
		}
	}
	current = s.get(t, "/nodes/pve/lxc/110/config?current=1").data().(map[string]any)
	if current["mp1"] != "local-zfs:subvol-110-disk-2,mp=/srv/new,size=2G" {
		t.Errorf("mp1 after reboot = %v", current["mp1"])
	}

	// Deleting a mount point of a running container is pending too; the
	// volume becomes unused when it applies.
	if _, err := ct.Config(context.Background(), proxmox.ContainerOption{Name: "delete", Value: "mp1"}); err != nil {
		t.Fatal(err)
	}
	pending, _ = ct.Pending(context.Background())
	found := false
	for _, p := range pending {
		found = found || (p.Key == "mp1" && p.Delete == 1)
	}
	if !found {
		t.Fatalf("mp1 deletion not pending: %+v", pending)
	}
	wait(t, must(ct.Stop(context.Background())))
	wait(t, must(ct.Start(context.Background())))
	current = s.get(t, "/nodes/pve/lxc/110/config?current=1").data().(map[string]any)
	if current["mp1"] != nil || current["unused0"] != "local-zfs:subvol-110-disk-2" {
		t.Errorf("after restart: mp1 %v unused0 %v", current["mp1"], current["unused0"])
	}
}

func TestStaleDigest(t *testing.T) {
	s := startSim(t, Options{})
	c := s.tokenClient()
	createCT(t, c, 120)
	ct, _ := node(t, c, "pve").Container(context.Background(), 120)
	old := ct.ContainerConfig.Digest
	if len(old) != 40 {
		t.Fatalf("digest %q is not a SHA-1", old)
	}
	if _, err := ct.Config(context.Background(), proxmox.ContainerOption{Name: "description", Value: "first"},
		proxmox.ContainerOption{Name: "digest", Value: old}); err != nil {
		t.Fatalf("fresh digest refused: %v", err)
	}
	_, err := ct.Config(context.Background(), proxmox.ContainerOption{Name: "description", Value: "second"},
		proxmox.ContainerOption{Name: "digest", Value: old})
	errContains(t, err, "500 detected modified configuration - file changed by other user? Try again.")
	now, _ := node(t, c, "pve").Container(context.Background(), 120)
	if now.ContainerConfig.Description != "first" || now.ContainerConfig.Digest == old {
		t.Errorf("stale write changed the config: %+v", now.ContainerConfig)
	}
}

func TestRefusals(t *testing.T) {
	s := startSim(t, Options{TaskDuration: 300 * time.Millisecond})
	c := s.tokenClient()
	n := node(t, c, "pve")
	task, err := n.NewContainer(context.Background(), 130, proxmox.ContainerOption{Name: "ostemplate", Value: testTemplate},
		proxmox.ContainerOption{Name: "rootfs", Value: "local-zfs:8"})
	if err != nil {
		t.Fatal(err)
	}
	// The create task holds the lock.
	r := s.raw(t, "POST", "/nodes/pve/lxc/130/status/start", nil, nil, tokenAuth)
	if r.status != 500 || r.reason != "can't lock file '/run/lock/lxc/pve-config-130.lock' - got timeout" {
		t.Fatalf("start during create: %d %q", r.status, r.reason)
	}
	// Duplicate VMID.
	_, err = n.NewContainer(context.Background(), 130, proxmox.ContainerOption{Name: "ostemplate", Value: testTemplate},
		proxmox.ContainerOption{Name: "rootfs", Value: "local-zfs:8"})
	errContains(t, err, "500 CT 130 already exists on node 'pve'")
	_, err = n.NewVirtualMachine(context.Background(), 130)
	errContains(t, err, "CT 130 already exists on node 'pve'")
	wait(t, task)

	// Deleting a running container without force.
	got, _ := n.Container(context.Background(), 130)
	wait(t, must(got.Start(context.Background())))
	_, err = got.Delete(context.Background(), nil)
	errContains(t, err, "500 unable to destroy CT 130 - container is running")
	wait(t, must(got.Delete(context.Background(), &proxmox.ContainerDeleteOptions{Force: true, Purge: true})))
	if _, err := n.Container(context.Background(), 130); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("deleted container still there: %v", err)
	}
	if len(s.get(t, "/nodes/pve/storage/local-zfs/content?vmid=130").data().([]any)) != 0 {
		t.Error("volumes of a destroyed container remain")
	}

	// The default rootfs is on 'local', which holds no containers.
	_, err = n.NewContainer(context.Background(), 131, proxmox.ContainerOption{Name: "ostemplate", Value: testTemplate})
	errContains(t, err, "storage 'local' does not support container directories")
	_, err = n.NewContainer(context.Background(), 131, proxmox.ContainerOption{Name: "ostemplate", Value: "local:vztmpl/nope.tar.zst"},
		proxmox.ContainerOption{Name: "rootfs", Value: "local-zfs:8"})
	errContains(t, err, "volume 'local:vztmpl/nope.tar.zst' does not exist")
}

func TestInvalidParameters(t *testing.T) {
	s := startSim(t, Options{})
	n := node(t, s.tokenClient(), "pve")
	cases := []struct {
		opt  proxmox.ContainerOption
		want string
	}{
		{proxmox.ContainerOption{Name: "mp0", Value: "local-zfs:4"}, `"mp0":"invalid format - format error\nmp0.mp: property is missing and it is not optional\n"`},
		{proxmox.ContainerOption{Name: "net0", Value: "bridge=vmbr0"}, `net0.name: property is missing and it is not optional`},
		{proxmox.ContainerOption{Name: "features", Value: "nesting=1,bogus=1"}, `features.bogus: property is not defined in schema`},
		{proxmox.ContainerOption{Name: "cores", Value: "many"}, `"cores":"type check ('integer') failed - got 'many'"`},
		{proxmox.ContainerOption{Name: "memory", Value: 8}, `"memory":"value must have a minimum value of 16"`},
		{proxmox.ContainerOption{Name: "ostype", Value: "windows"}, `does not have a value in the enumeration`},
		{proxmox.ContainerOption{Name: "mp256", Value: "local-zfs:1,mp=/x"}, `"mp256":"property is not defined in schema`},
		{proxmox.ContainerOption{Name: "colour", Value: "blue"}, `"colour":"property is not defined in schema`},
	}
	for _, tc := range cases {
		_, err := n.NewContainer(context.Background(), 140, proxmox.ContainerOption{Name: "ostemplate", Value: testTemplate},
			proxmox.ContainerOption{Name: "rootfs", Value: "local-zfs:8"}, tc.opt)
		errContains(t, err, "bad request: 400 Parameter verification failed.")
		errContains(t, err, tc.want)
	}
	// A real PVE parameter the simulator does not model is a 501, not a 400.
	_, err := n.NewContainer(context.Background(), 140, proxmox.ContainerOption{Name: "ostemplate", Value: testTemplate},
		proxmox.ContainerOption{Name: "restore", Value: "1"})
	errContains(t, err, "501 parameter 'restore' is not supported by the simulator")
	if _, ok := s.Server.w.Guests[140]; ok || len(s.Server.w.Guests) != 1 { // the seeded template only
		t.Error("a refused create left a guest")
	}
}

func TestQEMU(t *testing.T) {
	s := startSim(t, Options{TaskDuration: 10 * time.Millisecond})
	c := s.rootClient()
	n := node(t, c, "pve")
	task, err := n.NewVirtualMachine(context.Background(), 200,
		proxmox.VirtualMachineOption{Name: "name", Value: "web"},
		proxmox.VirtualMachineOption{Name: "memory", Value: 2048},
		proxmox.VirtualMachineOption{Name: "cores", Value: 2},
		proxmox.VirtualMachineOption{Name: "scsihw", Value: "virtio-scsi-single"},
		proxmox.VirtualMachineOption{Name: "scsi0", Value: "local-zfs:32,iothread=1"},
		proxmox.VirtualMachineOption{Name: "ide2", Value: "local-zfs:cloudinit"},
		proxmox.VirtualMachineOption{Name: "net0", Value: "virtio,bridge=vmbr0"},
		proxmox.VirtualMachineOption{Name: "ipconfig0", Value: "ip=10.0.0.5/24,gw=10.0.0.1"},
		proxmox.VirtualMachineOption{Name: "ciuser", Value: "admin"},
		proxmox.VirtualMachineOption{Name: "sshkeys", Value: proxmox.EncodeSSHKeys("ssh-ed25519 AAAAC3Nza admin@x")},
		proxmox.VirtualMachineOption{Name: "agent", Value: "1"},
	)
	if err != nil {
		t.Fatal(err)
	}
	wait(t, task)
	vm, err := n.VirtualMachine(context.Background(), 200)
	if err != nil {
		t.Fatal(err)
	}
	cfg := vm.VirtualMachineConfig
	net0 := cfg.Nets["net0"]
	if !regexp.MustCompile(`^virtio=BC:24:11:[0-9A-F:]{8},bridge=vmbr0$`).MatchString(net0) {
		t.Fatalf("net0 = %q", net0)
	}
	if cfg.SCSIs["scsi0"] != "local-zfs:vm-200-disk-0,iothread=1,size=32G" || cfg.IDEs["ide2"] != "local-zfs:vm-200-cloudinit,media=cdrom" {
		t.Errorf("disks: %v %v", cfg.SCSIs, cfg.IDEs)
	}
	if cfg.IPConfigs["ipconfig0"] != "gw=10.0.0.1,ip=10.0.0.5/24" || cfg.CIUser != "admin" || !strings.HasPrefix(cfg.SSHKeys, "ssh-ed25519%20") {
		t.Errorf("cloud-init: %v %q %q", cfg.IPConfigs, cfg.CIUser, cfg.SSHKeys)
	}
	if int(cfg.Memory) != 2048 || vm.Name != "web" || vm.CPUs != 2 || bool(vm.Template) {
		t.Errorf("vm: %+v cfg memory %d", vm, cfg.Memory)
	}
	// A bad sshkeys encoding ('+' for spaces) is refused like PVE does.
	err = vm.ConfigSync(context.Background(), proxmox.VirtualMachineOption{Name: "sshkeys", Value: "ssh-ed25519+AAAA"})
	errContains(t, err, "invalid urlencoded string")

	wait(t, must(vm.Start(context.Background())))
	// Cloud-init changes on a running VM are pending; the name is not.
	task, err = vm.Config(context.Background(), proxmox.VirtualMachineOption{Name: "ciuser", Value: "ops"},
		proxmox.VirtualMachineOption{Name: "name", Value: "web2"})
	if err != nil {
		t.Fatal(err)
	}
	wait(t, task)
	r := s.get(t, "/nodes/pve/qemu/200/pending").data().([]any)
	var ciuser map[string]any
	for _, e := range r {
		if e.(map[string]any)["key"] == "ciuser" {
			ciuser = e.(map[string]any)
		}
	}
	if ciuser == nil || ciuser["pending"] != "ops" || ciuser["value"] != "admin" {
		t.Errorf("ciuser pending: %v", ciuser)
	}
	if err := vm.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	if vm.Name != "web2" || vm.VirtualMachineConfig.Nets["net0"] != net0 {
		t.Errorf("after config: name %q net0 %q (MAC must stay)", vm.Name, vm.VirtualMachineConfig.Nets["net0"])
	}

	// Clone: new id, new MAC and disks.
	newid, task, err := vm.Clone(context.Background(), &proxmox.VirtualMachineCloneOptions{Name: "web-clone", Full: true})
	if err != nil {
		t.Fatal(err)
	}
	if newid != 100 {
		t.Errorf("clone took id %d, want the next free one (100)", newid)
	}
	wait(t, task)
	clone, err := n.VirtualMachine(context.Background(), newid)
	if err != nil {
		t.Fatal(err)
	}
	cn := clone.VirtualMachineConfig.Nets["net0"]
	if cn == net0 || !strings.HasSuffix(cn, ",bridge=vmbr0") || clone.VirtualMachineConfig.SCSIs["scsi0"] != "local-zfs:vm-100-disk-0,iothread=1,size=32G" {
		t.Errorf("clone config: %v %v", cn, clone.VirtualMachineConfig.SCSIs)
	}
	if clone.Status != "stopped" || clone.Name != "web-clone" {
		t.Errorf("clone status %q name %q", clone.Status, clone.Name)
	}

	// Destroy needs the VM stopped.
	_, err = vm.Delete(context.Background(), nil)
	errContains(t, err, "500 VM 200 is running - destroy failed")
	wait(t, must(vm.Stop(context.Background())))
	wait(t, must(vm.Delete(context.Background(), nil)))
}

func TestCluster(t *testing.T) {
	s := startSim(t, Options{Nodes: 3, TaskDuration: 5 * time.Millisecond})
	c := s.tokenClient()
	nodes, err := c.Nodes(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(nodes) != 3 || nodes[0].Node != "pve" || nodes[2].Node != "pve3" || nodes[1].Status != "online" {
		t.Fatalf("nodes: %+v", nodes)
	}
	cl, err := c.Cluster(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(cl.Nodes) != 3 || cl.Nodes[0].Local != 1 || cl.Nodes[1].Local != 0 {
		t.Errorf("cluster status: %+v", cl.Nodes)
	}
	// Placement on a second node.
	task, err := node(t, c, "pve2").NewContainer(context.Background(), 0,
		proxmox.ContainerOption{Name: "ostemplate", Value: testTemplate},
		proxmox.ContainerOption{Name: "rootfs", Value: "local-zfs:2"})
	if err != nil {
		t.Fatal(err)
	}
	wait(t, task)
	if task.Node != "pve2" || task.ID != "100" || !regexp.MustCompile(`^UPID:pve2:[0-9A-F]{8}:[0-9A-F]{8}:[0-9A-F]{8}:vzcreate:100:root@pam!phoenix:$`).MatchString(string(task.UPID)) {
		t.Errorf("task %s", task.UPID)
	}
	id, err := cl.NextID(context.Background())
	if err != nil || id != 101 {
		t.Errorf("nextid = %d, %v", id, err)
	}
	if ok, err := cl.CheckID(context.Background(), 100); ok || err != nil {
		t.Errorf("CheckID(100) = %v, %v; want taken", ok, err)
	}
	res, err := cl.Resources(context.Background(), "vm")
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != 2 || res[1].VMID != SeedTemplateVMID || res[1].Template != 1 || res[0].ID != "lxc/100" || res[0].Type != "lxc" || res[0].VMID != 100 || res[0].Node != "pve2" ||
		res[0].Status != "stopped" || res[0].Name != "CT100" || res[0].MaxMem != 512<<20 {
		t.Errorf("resources: %+v", res[0])
	}
	all, _ := cl.Resources(context.Background())
	kinds := map[string]int{}
	for _, r := range all {
		kinds[r.Type]++
	}
	if kinds["node"] != 3 || kinds["storage"] != 6 || kinds["lxc"] != 1 {
		t.Errorf("resource kinds %v", kinds)
	}
	// The container is on pve2, not pve.
	if _, err := node(t, c, "pve").Container(context.Background(), 100); err == nil {
		t.Error("container found on the wrong node")
	}
	if _, err := c.Node(context.Background(), "nope"); err == nil || !strings.Contains(err.Error(), "no such cluster node 'nope'") {
		t.Errorf("unknown node: %v", err)
	}
}

func TestStorageAndTemplates(t *testing.T) {
	s := startSim(t, Options{TaskDuration: 5 * time.Millisecond})
	c := s.tokenClient()
	n := node(t, c, "pve")
	st, err := n.StorageVZTmpl(context.Background())
	if err != nil || st.Name != "local" {
		t.Fatalf("vztmpl storage: %+v %v", st, err)
	}
	if st, err := n.StorageRootDir(context.Background()); err != nil || st.Name != "local-zfs" {
		t.Fatalf("rootdir storage: %+v %v", st, err)
	}
	tmpls, err := n.VzTmpls(context.Background(), "local")
	if err != nil || len(tmpls) != 1 || tmpls[0].VolID != testTemplate {
		t.Fatalf("templates: %v %v", tmpls, err)
	}
	apls, err := n.Appliances(context.Background())
	if err != nil || len(apls) < 3 {
		t.Fatalf("aplinfo: %v %v", apls, err)
	}
	upid, err := n.DownloadAppliance(context.Background(), "debian-13-standard_13.1-2_amd64.tar.zst", "local")
	if err != nil {
		t.Fatal(err)
	}
	wait(t, proxmox.NewTask(proxmox.UPID(upid), c))
	if _, err := n.VzTmpl(context.Background(), "debian-13-standard_13.1-2_amd64.tar.zst", "local"); err != nil {
		t.Fatal(err)
	}
	_, err = n.DownloadAppliance(context.Background(), "debian-13-standard_13.1-2_amd64.tar.zst", "local-zfs")
	errContains(t, err, "storage 'local-zfs' does not support templates")
	log, err := proxmox.NewTask(proxmox.UPID(upid), c).Log(context.Background(), 0, 50)
	if err != nil || !strings.HasPrefix(log[0], "starting template download") || log[len(log)-1] != "TASK OK" {
		t.Errorf("download log %v %v", log, err)
	}
}

func TestAuth(t *testing.T) {
	s := startSim(t, Options{})
	if r := s.raw(t, "GET", "/version", nil, nil, nil); r.status != 401 || r.reason != "No ticket" {
		t.Errorf("no credentials: %d %q", r.status, r.reason)
	}
	bad := map[string]string{"Authorization": "PVEAPIToken=" + testTokenID + "=wrong"}
	if r := s.raw(t, "GET", "/version", nil, nil, bad); r.status != 401 {
		t.Errorf("bad token: %d", r.status)
	}
	v, err := s.tokenClient().Version(context.Background())
	if err != nil || v.Version != pveVersion {
		t.Fatalf("version: %+v %v", v, err)
	}
	badPW := proxmox.NewClient(s.url, proxmox.WithHTTPClient(s.HTTPClient()),
		proxmox.WithCredentials(&proxmox.Credentials{Username: "root@pam", Password: "nope"}))
	if _, err := badPW.Version(context.Background()); !isNotAuthorized(err) {
		t.Errorf("bad password: %v", err)
	}
	// Ticket login: a write without the CSRF header is refused.
	r := s.raw(t, "POST", "/access/ticket", map[string][]string{"username": {"root"}, "realm": {"pam"}, "password": {testPassword}}, nil, nil)
	d := r.data().(map[string]any)
	ticket, csrf := d["ticket"].(string), d["CSRFPreventionToken"].(string)
	if d["username"] != "root@pam" || !strings.HasPrefix(ticket, "PVE:root@pam:") {
		t.Fatalf("ticket answer %v", d)
	}
	cookie := map[string]string{"Cookie": "PVEAuthCookie=" + ticket}
	if r := s.raw(t, "GET", "/nodes", nil, nil, cookie); r.status != 200 {
		t.Errorf("GET with ticket: %d %s", r.status, r.reason)
	}
	body := map[string][]string{"vmid": {"150"}, "ostemplate": {testTemplate}, "rootfs": {"local-zfs:1"}}
	if r := s.raw(t, "POST", "/nodes/pve/lxc", body, nil, cookie); r.status != 401 || !strings.Contains(r.reason, "invalid csrf token") {
		t.Errorf("write without CSRF: %d %q", r.status, r.reason)
	}
	cookie["CSRFPreventionToken"] = csrf
	if r := s.raw(t, "POST", "/nodes/pve/lxc", body, nil, cookie); r.status != 200 || !strings.HasPrefix(r.data().(string), "UPID:pve:") {
		t.Errorf("write with CSRF: %d %q", r.status, r.reason)
	}
	// A ticket renews with itself as the password.
	r = s.raw(t, "POST", "/access/ticket", map[string][]string{"username": {"root@pam"}, "password": {ticket}}, nil, nil)
	if r.status != 200 {
		t.Errorf("renewal: %d %s", r.status, r.reason)
	}
}

func TestRequestCounter(t *testing.T) {
	s := startSim(t, Options{DebugEndpoint: true, TaskDuration: 5 * time.Millisecond})
	c := s.tokenClient()
	createCT(t, c, 160)
	s.ResetRequests()
	for i := 0; i < 3; i++ {
		if _, err := node(t, c, "pve").Container(context.Background(), 160); err != nil {
			t.Fatal(err)
		}
	}
	got := s.Requests()
	want := map[string]int{
		"GET /nodes/{node}/status":                    3,
		"GET /nodes/{node}/lxc/{vmid}/status/current": 3,
		"GET /nodes/{node}/lxc/{vmid}/config":         3,
	}
	if len(got) != len(want) {
		t.Errorf("requests = %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("requests[%q] = %d, want %d", k, got[k], v)
		}
	}
	// The debug endpoint (authenticated) shows the same, and resets.
	dbg := strings.TrimSuffix(s.url, apiPrefix) + "/debug/requests"
	if r := s.rawURL(t, "GET", dbg, nil, nil, nil); r.status != 401 {
		t.Errorf("debug endpoint without credentials: %d", r.status)
	}
	r := s.rawURL(t, "GET", dbg, nil, nil, tokenAuth)
	counts, _ := r.data().(map[string]any)
	if counts["GET /nodes/{node}/lxc/{vmid}/config"] != float64(3) {
		t.Errorf("debug endpoint: %d %v", r.status, r.body)
	}
	s.rawURL(t, "DELETE", dbg, nil, nil, tokenAuth)
	if got := s.Requests(); len(got) != 0 {
		t.Errorf("after DELETE /debug/requests: %v", got)
	}
}

func TestDebugEndpointOffByDefault(t *testing.T) {
	s := startSim(t, Options{})
	r := s.rawURL(t, "GET", strings.TrimSuffix(s.url, apiPrefix)+"/debug/requests", nil, nil, tokenAuth)
	if r.status != 404 {
		t.Errorf("debug endpoint off: got %d, want 404", r.status)
	}
}
