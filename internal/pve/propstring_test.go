package pve

import (
	"strings"
	"testing"
)

func TestEqual(t *testing.T) {
	for _, c := range []struct {
		kind            Kind
		key, want, have string
		equal           bool
	}{
		{LXC, "features", "nesting=1,keyctl=1", "keyctl=1,nesting=1", true},
		{LXC, "features", "nesting=1", "nesting=1,fuse=0", true},
		{LXC, "features", "", "nesting=0", true},
		{LXC, "features", "nesting=1", "", false},
		{LXC, "mp0", "/a,mp=/b,ro=1", "/a,mp=/b,ro=true", true},
		{LXC, "mp0", "/a,mp=/b", "/a,mp=/b,ro=1", false},
		{LXC, "mp0", "/a,mp=/b", "mp=/b,volume=/a", true},
		{LXC, "net0", "name=eth0,bridge=vmbr0,ip=10.0.0.2/24,firewall=1",
			"name=eth0,bridge=vmbr0,firewall=1,hwaddr=BC:24:11:00:00:01,ip=10.0.0.2/24,type=veth", true},
		{LXC, "net0", "name=eth0,bridge=vmbr0,ip=10.0.0.2/24,hwaddr=bc:24:11:00:00:01",
			"name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:00:01,ip=10.0.0.2/24", true},
		{LXC, "net0", "name=eth0,bridge=vmbr0,ip=10.0.0.3/24", "name=eth0,bridge=vmbr0,ip=10.0.0.2/24,hwaddr=BC:24:11:00:00:01", false},
		{LXC, "onboot", "1", "", false},
		{LXC, "onboot", "0", "", true},
		{LXC, "swap", "512", "", true},
		{LXC, "memory", "1024", "1024", true},
		{QEMU, "net0", "virtio,bridge=vmbr0,firewall=1", "virtio=BC:24:11:AA:BB:CC,bridge=vmbr0,firewall=1", true},
		{QEMU, "net0", "e1000,bridge=vmbr0", "virtio=BC:24:11:AA:BB:CC,bridge=vmbr0", false},
		{QEMU, "memory", "2048", "current=2048", true},
		{QEMU, "ipconfig0", "ip=10.0.0.2/24,gw=10.0.0.1", "gw=10.0.0.1,ip=10.0.0.2/24", true},
		{QEMU, "nameserver", "10.0.0.1", "10.0.0.2", false},
	} {
		if got := Equal(c.kind, c.key, c.want, c.have); got != c.equal {
			t.Errorf("Equal(%s, %s, %q, %q) = %v, want %v", c.kind, c.key, c.want, c.have, got, c.equal)
		}
	}
}

func TestKeepAssigned(t *testing.T) {
	got := KeepAssigned(QEMU, "net0", "virtio,bridge=vmbr1,firewall=1", "virtio=BC:24:11:AA:BB:CC,bridge=vmbr0")
	if got != "virtio,bridge=vmbr1,firewall=1,macaddr=BC:24:11:AA:BB:CC" {
		t.Fatalf("qemu: %s", got)
	}
	got = KeepAssigned(LXC, "net0", "name=eth0,bridge=vmbr1", "name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:00:01,type=veth")
	if got != "name=eth0,bridge=vmbr1,hwaddr=BC:24:11:00:00:01" {
		t.Fatalf("lxc: %s", got)
	}
	if got := KeepAssigned(LXC, "net0", "name=eth0,hwaddr=02:00:00:00:00:01", "name=eth0,hwaddr=BC:24:11:00:00:01"); got != "name=eth0,hwaddr=02:00:00:00:00:01" {
		t.Fatalf("a MAC the spec sets wins: %s", got)
	}
}

func TestDiff(t *testing.T) {
	have := Config{"memory": "512", "mp0": "/a,mp=/a", "mp2": "/c,mp=/c", "mp10": "/k,mp=/k", "searchdomain": "x", "description": "kept"}
	want := Config{"memory": "1024", "mp0": "/a,mp=/a", "mp1": "/b,mp=/b", "searchdomain": ""}
	var got []string
	for _, c := range Diff(LXC, have, want, isMP) {
		got = append(got, c.String())
	}
	w := "memory: 512 -> 1024|mp1: (unset) -> /b,mp=/b|mp2: /c,mp=/c -> (removed)|mp10: /k,mp=/k -> (removed)|searchdomain: x -> (removed)"
	if strings.Join(got, "|") != w {
		t.Fatalf("diff:\n%s\nwant\n%s", strings.Join(got, "|"), w)
	}
}

func TestHeldUntilRestart(t *testing.T) {
	for key, held := range map[string]bool{"mp0": true, "memory": false, "net0": false, "features": true, "nameserver": true, "hostname": false} {
		if got := HeldUntilRestart(LXC, key); got != held {
			t.Errorf("lxc %s: %v, want %v", key, got, held)
		}
	}
	for key, held := range map[string]bool{"memory": true, "cores": true, "ipconfig0": true, "name": false, "net0": false, "onboot": false} {
		if got := HeldUntilRestart(QEMU, key); got != held {
			t.Errorf("qemu %s: %v, want %v", key, got, held)
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"8G": 8 << 30, "512M": 512 << 20, "1.5T": 3 << 39, "100": 100} {
		if got, err := ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	if _, err := ParseSize("lots"); err == nil {
		t.Error("ParseSize(lots) succeeded")
	}
}
