package pve

import (
	"maps"
	"testing"
)

// fuzzKeys are the options the fuzzer picks from: every schema family
// (mount points, NICs, features, disks, ...) and a plain option.
var fuzzKeys = []struct {
	kind Kind
	key  string
}{
	{LXC, "mp0"}, {LXC, "rootfs"}, {LXC, "net0"}, {LXC, "features"}, {LXC, "dev0"}, {LXC, "unused1"},
	{QEMU, "net0"}, {QEMU, "ipconfig0"}, {QEMU, "scsi0"}, {QEMU, "virtio1"}, {QEMU, "memory"},
	{QEMU, "agent"}, {QEMU, "cpu"}, {QEMU, "vga"}, {LXC, "onboot"}, {LXC, "hostname"},
}

// FuzzPropString checks the property-string parser against its
// renderer: the canonical form parses back to the same sub-keys and
// renders identically (round-trip stable), a value equals itself and its
// canonical form, and carrying over PVE-assigned sub-keys never makes a
// value differ from what was asked.
//
//	go test ./internal/pve -run '^$' -fuzz FuzzPropString -fuzztime 60s
func FuzzPropString(f *testing.F) {
	f.Add(uint8(0), "/mnt/pve/quickOS/lxc-persistent-data/103/ssl,mp=/etc/step-ca,backup=0,ro=1", "")
	f.Add(uint8(2), "name=eth0,bridge=vmbr0,ip=10.0.0.103/24,gw=10.0.0.1,hwaddr=bc:24:11:aa:bb:cc,type=veth", "name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:00:01")
	f.Add(uint8(3), "nesting=1,keyctl=0,fuse=yes", "nesting=true")
	f.Add(uint8(6), "virtio=bc:24:11:aa:bb:cc,bridge=vmbr0,firewall=1", "virtio=BC:24:11:AA:BB:CC,bridge=vmbr0")
	f.Add(uint8(8), "local-zfs:vm-1001-disk-0,size=32G,ssd=on,iothread=1", "local-zfs:vm-1001-disk-0,size=32G")
	f.Add(uint8(7), "ip=10.0.0.101/24,gw=10.0.0.1", "")
	f.Add(uint8(1), " local-zfs:subvol-103-disk-0 , size=8G ,,=x,a=b=c", "size=16G")
	f.Fuzz(func(t *testing.T, which uint8, v, have string) {
		o := fuzzKeys[int(which)%len(fuzzKeys)]
		if schemaOf(o.kind, o.key) != nil {
			m := ParseProp(o.kind, o.key, v)
			r := canonical(m)
			m2 := ParseProp(o.kind, o.key, r)
			if !maps.Equal(m, m2) {
				t.Fatalf("%s %s: %q parses to %v, its rendering %q to %v", o.kind, o.key, v, m, r, m2)
			}
			if r2 := canonical(m2); r2 != r {
				t.Fatalf("%s %s: rendering not stable: %q then %q", o.kind, o.key, r, r2)
			}
			if v != "" && r != "" && !Equal(o.kind, o.key, v, r) {
				t.Fatalf("%s %s: %q differs from its canonical form %q", o.kind, o.key, v, r)
			}
		}
		if !Equal(o.kind, o.key, v, v) {
			t.Fatalf("%s %s: %q differs from itself", o.kind, o.key, v)
		}
		if k := KeepAssigned(o.kind, o.key, v, have); !Equal(o.kind, o.key, v, k) {
			t.Fatalf("%s %s: %q with what PVE assigned in %q became %q, which differs", o.kind, o.key, v, have, k)
		}
	})
}

// TestNICModelMACCase is what FuzzPropString found first: a VM NIC
// written "virtio=mac" in lower case never equalled the upper-case MAC
// PVE prints, so every run reported a change.
func TestNICModelMACCase(t *testing.T) {
	if !Equal(QEMU, "net0", "virtio=bc:24:11:aa:bb:cc,bridge=vmbr0", "virtio=BC:24:11:AA:BB:CC,bridge=vmbr0") {
		t.Fatal("lower-case MAC in model=MAC form differs from PVE's upper-case one")
	}
}
