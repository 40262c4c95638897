package pvesim

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	proxmox "github.com/luthermonson/go-proxmox"
)

func TestContainerCloneAndPower(t *testing.T) {
	s := startSim(t, Options{TaskDuration: 5 * time.Millisecond})
	c := s.tokenClient()
	n := node(t, c, "pve")
	createCT(t, c, 103)
	ct, _ := n.Container(context.Background(), 103)

	// Power preconditions, as PVE checks them before forking a task.
	_, err := ct.Shutdown(context.Background(), false, 0)
	errContains(t, err, "500 CT 103 not running")
	_, err = ct.Reboot(context.Background())
	errContains(t, err, "500 CT 103 not running")
	wait(t, must(ct.Start(context.Background())))
	_, err = ct.Start(context.Background())
	errContains(t, err, "500 CT 103 already running")
	// go-proxmox sends JSON booleans here.
	wait(t, must(ct.Shutdown(context.Background(), true, 30)))
	if ct.Ping(context.Background()); ct.Status != "stopped" {
		t.Fatalf("after shutdown: %s", ct.Status)
	}

	newid, task, err := ct.Clone(context.Background(), &proxmox.ContainerCloneOptions{Hostname: "ca2"})
	if err != nil {
		t.Fatal(err)
	}
	if newid != 100 {
		t.Errorf("clone id %d, want next free 100", newid)
	}
	wait(t, task)
	clone, err := n.Container(context.Background(), newid)
	if err != nil {
		t.Fatal(err)
	}
	cc, oc := clone.ContainerConfig, ct.ContainerConfig
	if cc.Hostname != "ca2" || cc.RootFS != "local-zfs:subvol-100-disk-0,size=8G" ||
		cc.Mps["mp0"] != "local-zfs:subvol-100-disk-1,mp=/var/lib/data,backup=1,size=4G" {
		t.Errorf("clone config: %+v", cc)
	}
	if cc.Nets["net0"] == oc.Nets["net0"] || hwaddrRE.FindString(cc.Nets["net0"]) == "" {
		t.Errorf("clone NIC %q should get a new address (source %q)", cc.Nets["net0"], oc.Nets["net0"])
	}
	_, _, err = ct.Clone(context.Background(), &proxmox.ContainerCloneOptions{NewID: 100})
	errContains(t, err, "CT 100 already exists")
	_, _, err = ct.Clone(context.Background(), &proxmox.ContainerCloneOptions{NewID: 101, Target: "pve9"})
	errContains(t, err, "no such cluster node 'pve9'")

	// Protection blocks destroy.
	if _, err := clone.Config(context.Background(), proxmox.ContainerOption{Name: "protection", Value: 1}); err != nil {
		t.Fatal(err)
	}
	_, err = clone.Delete(context.Background(), nil)
	errContains(t, err, "can't remove CT 100 - protection mode enabled")
}

func TestConfigEdits(t *testing.T) {
	s := startSim(t, Options{TaskDuration: 5 * time.Millisecond})
	c := s.tokenClient()
	createCT(t, c, 103)
	put := func(vals map[string]any) reply {
		return s.raw(t, "PUT", "/nodes/pve/lxc/103/config", nil, vals, tokenAuth)
	}
	// Deleting a storage mount point on a stopped container keeps the
	// volume as unused0; deleting unused0 destroys it.
	if r := put(map[string]any{"delete": "mp0"}); r.status != 200 {
		t.Fatalf("delete mp0: %d %s", r.status, r.reason)
	}
	conf := s.get(t, "/nodes/pve/lxc/103/config").data().(map[string]any)
	if conf["mp0"] != nil || conf["unused0"] != "local-zfs:subvol-103-disk-1" {
		t.Fatalf("after delete: %v", conf)
	}
	if r := put(map[string]any{"delete": "unused0"}); r.status != 200 {
		t.Fatalf("delete unused0: %d %s", r.status, r.reason)
	}
	vols := s.get(t, "/nodes/pve/storage/local-zfs/content?vmid=103").data().([]any)
	if len(vols) != 1 {
		t.Errorf("volumes after destroying unused0: %v", vols)
	}
	for _, tc := range []struct {
		vals   map[string]any
		status int
		want   string
	}{
		{map[string]any{"unprivileged": 0}, 500, "unable to modify read-only option: 'unprivileged'"},
		{map[string]any{"delete": "rootfs"}, 500, "unable to delete required option 'rootfs'"},
		{map[string]any{"delete": "cores", "cores": 2}, 400, "Parameter verification failed."},
		{map[string]any{"delete": "bogus"}, 400, "Parameter verification failed."},
		{map[string]any{}, 400, "Parameter verification failed."},
		{map[string]any{"features": "nesting=1,fuse=1"}, 403, "changing feature flags (except nesting) is only allowed for root@pam"},
		{map[string]any{"hookscript": "local:snippets/x.sh"}, 403, "changing the hookscript is only allowed for root@pam"},
		{map[string]any{"mp4": "nowhere:1,mp=/x"}, 500, "storage 'nowhere' does not exist"},
		{map[string]any{"mp4": "local-zfs:subvol-999-disk-0,mp=/x"}, 500, "volume 'local-zfs:subvol-999-disk-0' does not exist"},
	} {
		r := put(tc.vals)
		if r.status != tc.status || !strings.Contains(r.reason, tc.want) {
			t.Errorf("PUT %v: %d %q, want %d %q", tc.vals, r.status, r.reason, tc.status, tc.want)
		}
	}
	// JSON booleans and numbers are accepted as PVE accepts them.
	if r := put(map[string]any{"onboot": true, "cpulimit": 1.5, "tags": "a;b"}); r.status != 200 {
		t.Fatalf("JSON types: %d %s", r.status, r.reason)
	}
	conf = s.get(t, "/nodes/pve/lxc/103/config").data().(map[string]any)
	if conf["onboot"] != float64(1) || conf["cpulimit"] != 1.5 || conf["tags"] != "a;b" {
		t.Errorf("stored %v %v %v", conf["onboot"], conf["cpulimit"], conf["tags"])
	}
	// revert drops a pending change.
	wait(t, proxmox.NewTask(proxmox.UPID(s.raw(t, "POST", "/nodes/pve/lxc/103/status/start", nil, nil, tokenAuth).data().(string)), c))
	put(map[string]any{"searchdomain": "example.org"})
	if r := s.get(t, "/nodes/pve/lxc/103/config"); r.data().(map[string]any)["searchdomain"] != "example.org" {
		t.Fatalf("pending searchdomain not in merged config")
	}
	put(map[string]any{"revert": "searchdomain"})
	if r := s.get(t, "/nodes/pve/lxc/103/config"); r.data().(map[string]any)["searchdomain"] != nil {
		t.Errorf("revert left searchdomain")
	}
}

func TestQEMUAsyncConfig(t *testing.T) {
	s := startSim(t, Options{TaskDuration: 300 * time.Millisecond})
	c := s.tokenClient()
	n := node(t, c, "pve")
	wait(t, must(n.NewVirtualMachine(context.Background(), 200, proxmox.VirtualMachineOption{Name: "memory", Value: "1024"})))
	vm, _ := n.VirtualMachine(context.Background(), 200)
	task, err := vm.Config(context.Background(), proxmox.VirtualMachineOption{Name: "cores", Value: 4})
	if err != nil {
		t.Fatal(err)
	}
	// POST config is a task: the change lands when it ends.
	if conf := s.get(t, "/nodes/pve/qemu/200/config").data().(map[string]any); conf["cores"] != nil {
		t.Errorf("change visible before its task ended: %v", conf["cores"])
	}
	err = vm.ConfigSync(context.Background(), proxmox.VirtualMachineOption{Name: "name", Value: "x"})
	errContains(t, err, "can't lock file '/var/lock/qemu-server/lock-200.conf' - got timeout")
	wait(t, task)
	if conf := s.get(t, "/nodes/pve/qemu/200/config").data().(map[string]any); conf["cores"] != float64(4) {
		t.Errorf("after the task: cores %v", conf["cores"])
	}
	// Stopping a stopped VM is not an error on PVE.
	wait(t, must(vm.Stop(context.Background())))
	_, err = vm.Reboot(context.Background())
	errContains(t, err, "VM 200 not running")
}

func TestRequestParsing(t *testing.T) {
	s := startSim(t, Options{})
	if r := s.get(t, "/nodes/pve/nothing"); r.status != 501 || r.reason != "Method 'GET /nodes/pve/nothing' not implemented" {
		t.Errorf("unknown path: %d %q", r.status, r.reason)
	}
	if r := s.raw(t, "PUT", "/version", nil, nil, tokenAuth); r.status != 501 {
		t.Errorf("unknown method: %d", r.status)
	}
	if r := s.raw(t, "PUT", "/nodes/pve/lxc/100/config", nil, map[string]any{"description": []string{"x"}}, tokenAuth); r.status != 400 {
		t.Errorf("JSON array value: %d", r.status)
	}
	if r := s.raw(t, "POST", "/nodes/pve/lxc/100/status/start", url.Values{"node": {"pve2"}}, nil, tokenAuth); r.status != 400 {
		t.Errorf("body node differing from the path: %d", r.status)
	}
	if r := s.get(t, "/cluster/resources?type=vm&type=node"); r.status != 400 {
		t.Errorf("repeated parameter: %d", r.status)
	}
	if r := s.get(t, "/nodes/pve/lxc/100/config"); r.status != 500 || r.reason != "Configuration file 'nodes/pve/lxc/100.conf' does not exist" {
		t.Errorf("missing guest: %d %q", r.status, r.reason)
	}
	if r := s.get(t, "/nodes/pve/lxc/99/config"); r.status != 400 {
		t.Errorf("vmid below 100: %d", r.status)
	}
	if r := s.get(t, "/nodes/pve/tasks/nonsense/status"); r.status != 400 {
		t.Errorf("bad UPID: %d", r.status)
	}
}

func TestPropertyStrings(t *testing.T) {
	for _, tc := range []struct {
		f        *propFormat
		in, want string
	}{
		{lxcMPFormat, "mp=/data,backup=true,local-zfs:subvol-1-disk-0,size=4G", "local-zfs:subvol-1-disk-0,mp=/data,backup=1,size=4G"},
		{lxcMPFormat, "volume=local-zfs:x,mp=/d", "local-zfs:x,mp=/d"},
		{lxcNetFormat, "type=veth,ip=dhcp,bridge=vmbr0,name=eth0", "name=eth0,bridge=vmbr0,ip=dhcp,type=veth"},
		{qemuNetFormat, "bridge=vmbr0,virtio=BC:24:11:00:00:01", "virtio=BC:24:11:00:00:01,bridge=vmbr0"},
		{qemuNetFormat, "model=e1000,macaddr=BC:24:11:00:00:01", "e1000=BC:24:11:00:00:01"},
		{qemuSCSIFormat, "volume=local-zfs:vm-1-disk-0,iothread=on", "local-zfs:vm-1-disk-0,iothread=1"},
		{lxcFeaturesFormat, "nesting=1,keyctl=1", "keyctl=1,nesting=1"},
	} {
		m, msg := parsePropString("x", tc.f, tc.in)
		if msg != "" {
			t.Errorf("%q: %s", tc.in, msg)
			continue
		}
		if got := printPropString(tc.f, m); got != tc.want {
			t.Errorf("%q printed %q, want %q", tc.in, got, tc.want)
		}
	}
	for _, tc := range []struct {
		f    *propFormat
		in   string
		want string
	}{
		{lxcMPFormat, "local-zfs:1,local-zfs:2,mp=/x", "default key 'volume' was already set"},
		{lxcMPFormat, "local-zfs:1,mp=/x,mp=/y", "duplicate key"},
		{lxcMPFormat, "local-zfs:1,mp=/a/../b", "illegal character sequences"},
		{lxcNetFormat, "eth0", "value without key"},
		{lxcNetFormat, "name=eth0,hwaddr=01:00:00:00:00:00", "unicast MAC"},
		{lxcNetFormat, "name=eth0,ip=10.0.0.1", "IPv4 network configuration"},
		{qemuNetFormat, "virtio=BC:24:11:00:00:01,e1000=BC:24:11:00:00:02", "duplicate key"},
	} {
		if _, msg := parsePropString("x", tc.f, tc.in); !strings.Contains(msg, tc.want) {
			t.Errorf("%q: %q, want %q", tc.in, msg, tc.want)
		}
	}
	if p, _ := lookupParam(lxcConfig, lxcLimits, "mp255"); p == nil {
		t.Error("mp255 not found")
	}
	for _, k := range []string{"mp256", "mp01", "mp", "mpx"} {
		if p, _ := lookupParam(lxcConfig, lxcLimits, k); p != nil {
			t.Errorf("%s accepted", k)
		}
	}
	q, err := parseForm("trunks=1;2&a=b+c%2Bd")
	if err != nil || q.Get("trunks") != "1;2" || q.Get("a") != "b c+d" {
		t.Errorf("parseForm: %v %v", q, err)
	}
}
