package pvesim

// The simulator's own parameter table: what it accepts, written by hand
// for the endpoints it serves. It is a subset of PVE's API; the tests check
// it against the official schema in both directions.

// params maps a parameter name ("cores", or "mp[n]" for mp0..mpN) to its
// definition.
type params map[string]*param

func merge(ps ...params) params {
	out := params{}
	for _, p := range ps {
		for k, v := range p {
			out[k] = v
		}
	}
	return out
}

// Index limits for indexed keys such as mp[n].
var (
	lxcLimits  = map[string]int{"mp": 256, "net": 32, "dev": 256, "unused": 256}
	qemuLimits = map[string]int{"net": 32, "ide": 4, "sata": 6, "scsi": 31, "virtio": 16, "ipconfig": 32, "unused": 256, "serial": 4}
)

const mountOptionsRE = `(discard|lazytime|noatime|nodev|noexec|nosuid)(;(discard|lazytime|noatime|nodev|noexec|nosuid))*`

func mustVolume() *param { return strf("pve-lxc-mp-string").req() }

var (
	// A mount point is rootfs plus its path and flags, as PVE's mp_desc
	// extends rootfs_desc.
	lxcRootfsFormat = &propFormat{defaultKey: "volume", keys: params{
		"volume":       mustVolume(),
		"acl":          boolean(),
		"mountoptions": strp(mountOptionsRE),
		"quota":        boolean(),
		"replicate":    boolean(),
		"ro":           boolean(),
		"shared":       boolean(),
		"size":         strf("disk-size"),
	}}
	lxcMPFormat = &propFormat{defaultKey: "volume", keys: merge(lxcRootfsFormat.keys, params{
		"mp":        mustVolume(),
		"backup":    boolean(),
		"keepattrs": boolean(),
	})}
	lxcNetFormat = &propFormat{keys: params{
		"name":         strp(`[-_.\w\d]+`).req(),
		"bridge":       strp(`[-_.\w\d]+`),
		"firewall":     boolean(),
		"gw":           strf("ipv4"),
		"gw6":          strf("ipv6"),
		"host-managed": boolean(),
		"hwaddr":       strf("mac-addr"),
		"ip":           strf("pve-ipv4-config"),
		"ip6":          strf("pve-ipv6-config"),
		"link_down":    boolean(),
		"mtu":          intRange(64, 65535),
		"rate":         number(),
		"tag":          intRange(1, 4094),
		"trunks":       strp(`\d+(?:;\d+)*`),
		"type":         enum("veth"),
	}}
	lxcFeaturesFormat = &propFormat{keys: params{
		"force_rw_sys": boolean(),
		"fuse":         boolean(),
		"keyctl":       boolean(),
		"mknod":        boolean(),
		"mount":        strp(`[a-zA-Z0-9_; ]+`),
		"nesting":      boolean(),
	}}
	lxcDevFormat = &propFormat{defaultKey: "path", keys: params{
		"path":       strf("pve-lxc-dev-string"),
		"deny-write": boolean(),
		"gid":        intMin(0),
		"uid":        intMin(0),
		"mode":       strp(`0[0-7]{3}`),
	}}
	lxcUnusedFormat = &propFormat{defaultKey: "volume", keys: params{
		"volume": strf("pve-volume-id").req(),
	}}
)

// lxcConfig are the container options shared by create and config PUT.
var lxcConfig = params{
	"arch":         enum("amd64", "i386", "arm64", "armhf", "riscv32", "riscv64"),
	"cmode":        enum("shell", "console", "tty"),
	"console":      boolean(),
	"cores":        intRange(1, 8192),
	"cpulimit":     numRange(0, 8192),
	"cpuunits":     intRange(0, 500000),
	"debug":        boolean(),
	"description":  str().maxlen(8192),
	"dev[n]":       propstr(lxcDevFormat),
	"features":     propstr(lxcFeaturesFormat),
	"hookscript":   strf("pve-volume-id"),
	"hostname":     strf("dns-name").maxlen(255),
	"memory":       intMin(16),
	"mp[n]":        propstr(lxcMPFormat),
	"nameserver":   strf("lxc-ip-with-ll-iface-list"),
	"net[n]":       propstr(lxcNetFormat),
	"onboot":       boolean(),
	"ostype":       enum("debian", "devuan", "ubuntu", "centos", "fedora", "opensuse", "archlinux", "alpine", "gentoo", "nixos", "unmanaged"),
	"protection":   boolean(),
	"rootfs":       propstr(lxcRootfsFormat),
	"searchdomain": strf("dns-name-list"),
	"startup":      strf("pve-startup-order"),
	"swap":         intMin(0),
	"tags":         strf("pve-tag-list"),
	"timezone":     strf("pve-ct-timezone"),
	"tty":          intRange(0, 6),
	"unprivileged": boolean(),
	"unused[n]":    propstr(lxcUnusedFormat),
}

var lxcCreate = merge(lxcConfig, params{
	"force":           boolean(),
	"pool":            strf("pve-poolid"),
	"template":        boolean(),
	"unique":          boolean(),
	"vmid":            vmidParam().req(),
	"ostemplate":      str().maxlen(255).req(),
	"password":        str().minlen(5),
	"ssh-public-keys": str(),
	"start":           boolean(),
	"storage":         strf("pve-storage-id"),
	"bwlimit":         numMin(0),
})

// configUpdate are what a config PUT or POST adds, for LXC and QEMU alike.
var configUpdate = params{
	"delete": strf("pve-configid-list"),
	"revert": strf("pve-configid-list"),
	"digest": str().maxlen(40),
}

var lxcUpdate = merge(lxcConfig, configUpdate)

const (
	lxcCreateUnsupported = "entrypoint env ha-managed ignore-unpack-errors lock restore"
	lxcUpdateUnsupported = "entrypoint env lock template"
)

// QEMU property strings.

var qemuNICModels = []string{"e1000", "e1000-82540em", "e1000-82544gc", "e1000-82545em", "e1000e", "i82551", "i82557b", "i82559er", "ne2k_isa", "ne2k_pci", "pcnet", "rtl8139", "virtio", "vmxnet3"}

var qemuNetFormat = func() *propFormat {
	f := &propFormat{defaultKey: "model", valueKey: "macaddr", keyAlias: map[string]bool{}, keys: params{
		"model":     enum(qemuNICModels...).req(),
		"macaddr":   strf("mac-addr"),
		"bridge":    strf("pve-bridge-id"),
		"firewall":  boolean(),
		"link_down": boolean(),
		"mtu":       intRange(1, 65520),
		"queues":    intRange(0, 64),
		"rate":      numMin(0),
		"tag":       intRange(1, 4094),
		"trunks":    strp(`\d+(?:-\d+)?(?:;\d+(?:-\d+)?)*`),
	}}
	for _, m := range qemuNICModels {
		f.keyAlias[m] = true
	}
	return f
}()

// driveFormat is the subset of a disk's sub-keys the simulator models.
func driveFormat(extra params) *propFormat {
	return &propFormat{defaultKey: "file", keys: merge(params{
		"file":          strf("pve-volume-id-or-qm-path").req(),
		"volume":        str().aliasOf("file"),
		"aio":           enum("native", "threads", "io_uring"),
		"backup":        boolean(),
		"cache":         enum("none", "writethrough", "writeback", "unsafe", "directsync"),
		"detect_zeroes": boolean(),
		"discard":       enum("ignore", "on"),
		"format":        enum("raw", "qcow", "qed", "qcow2", "vmdk", "cloop"),
		"media":         enum("cdrom", "disk"),
		"replicate":     boolean(),
		"shared":        boolean(),
		"size":          strf("disk-size"),
		"snapshot":      boolean(),
	}, extra)}
}

var (
	qemuIDEFormat    = driveFormat(params{"ssd": boolean()})
	qemuSATAFormat   = driveFormat(params{"ssd": boolean()})
	qemuSCSIFormat   = driveFormat(params{"ssd": boolean(), "iothread": boolean(), "ro": boolean()})
	qemuVirtIOFormat = driveFormat(params{"iothread": boolean(), "ro": boolean()})

	qemuIPConfigFormat = &propFormat{name: "pve-qm-ipconfig", keys: params{
		"ip":  strf("pve-ipv4-config"),
		"gw":  strf("ipv4"),
		"ip6": strf("pve-ipv6-config"),
		"gw6": strf("ipv6"),
	}}
	qemuAgentFormat = &propFormat{defaultKey: "enabled", keys: params{
		"enabled":             boolean().req(),
		"freeze-fs":           boolean(),
		"freeze-fs-on-backup": str().aliasOf("freeze-fs"),
		"guest-fsfreeze":      str().aliasOf("freeze-fs"),
		"fstrim_cloned_disks": boolean(),
		"type":                enum("virtio", "isa"),
	}}
	qemuVGAFormat = &propFormat{defaultKey: "type", keys: params{
		"type":      enum("cirrus", "qxl", "qxl2", "qxl3", "qxl4", "none", "serial0", "serial1", "serial2", "serial3", "std", "virtio", "virtio-gl", "vmware"),
		"memory":    intRange(4, 512),
		"clipboard": enum("vnc"),
	}}
	qemuMemoryFormat = &propFormat{defaultKey: "current", keys: params{
		"current": intMin(16).req(),
	}}
	qemuMachineFormat = &propFormat{defaultKey: "type", keys: params{
		"type":   strp(`pc|pc(-i440fx)?-\d+(\.\d+)+(\+pve\d+)?(\.pxe)?|q35|pc-q35-\d+(\.\d+)+(\+pve\d+)?(\.pxe)?|virt(?:-\d+(\.\d+)+)?(\+pve\d+)?`).maxlen(40),
		"viommu": enum("intel", "virtio"),
	}}
	qemuCPUFormat = &propFormat{name: "pve-vm-cpu-conf", defaultKey: "cputype", keys: params{
		"cputype": strf("pve-qm-vm-cpu-type"),
		"flags":   strf("pve-cpu-flag-list"),
		"hidden":  boolean(),
	}}
	qemuBootFormat = &propFormat{name: "pve-qm-boot", defaultKey: "legacy", keys: params{
		"legacy": strp(`[acdn]{1,4}`),
		"order":  strf("pve-qm-boot-order"),
	}}
	qemuUnusedFormat = &propFormat{defaultKey: "file", keys: params{
		"file":   strf("pve-volume-id").req(),
		"volume": str().aliasOf("file"),
	}}
)

// qemuConfig are the VM options shared by create and config.
var qemuConfig = params{
	"acpi":         boolean(),
	"agent":        propstr(qemuAgentFormat),
	"autostart":    boolean(),
	"balloon":      intMin(0),
	"bios":         enum("seabios", "ovmf"),
	"boot":         propstr(qemuBootFormat),
	"cipassword":   str(),
	"citype":       enum("configdrive2", "nocloud", "opennebula"),
	"ciupgrade":    boolean(),
	"ciuser":       str(),
	"cores":        intMin(1),
	"cpu":          propstr(qemuCPUFormat),
	"cpulimit":     numRange(0, 128),
	"cpuunits":     intRange(1, 262144),
	"description":  str().maxlen(8192),
	"hotplug":      strf("pve-hotplug-features"),
	"ide[n]":       propstr(qemuIDEFormat),
	"ipconfig[n]":  propstr(qemuIPConfigFormat),
	"kvm":          boolean(),
	"machine":      propstr(qemuMachineFormat),
	"memory":       propstr(qemuMemoryFormat),
	"name":         strf("dns-name"),
	"nameserver":   strf("address-list"),
	"net[n]":       propstr(qemuNetFormat),
	"numa":         boolean(),
	"onboot":       boolean(),
	"ostype":       enum("other", "wxp", "w2k", "w2k3", "w2k8", "wvista", "win7", "win8", "win10", "win11", "l24", "l26", "solaris"),
	"protection":   boolean(),
	"sata[n]":      propstr(qemuSATAFormat),
	"scsi[n]":      propstr(qemuSCSIFormat),
	"scsihw":       enum("lsi", "lsi53c810", "virtio-scsi-pci", "virtio-scsi-single", "megasas", "pvscsi"),
	"searchdomain": str(),
	"serial[n]":    strp(`/dev/.+|socket`),
	"shares":       intRange(0, 50000),
	"sockets":      intMin(1),
	"sshkeys":      strf("urlencoded"),
	"startup":      strf("pve-startup-order"),
	"tablet":       boolean(),
	"tags":         strf("pve-tag-list"),
	"unused[n]":    propstr(qemuUnusedFormat),
	"vcpus":        intMin(1),
	"vga":          propstr(qemuVGAFormat),
	"virtio[n]":    propstr(qemuVirtIOFormat),
	"vmgenid":      strp(`[a-fA-F0-9]{8}(?:-[a-fA-F0-9]{4}){3}-[a-fA-F0-9]{12}|[01]`),
}

var qemuCreate = merge(qemuConfig, params{
	"vmid":     vmidParam().req(),
	"start":    boolean(),
	"force":    boolean(),
	"pool":     strf("pve-poolid"),
	"storage":  strf("pve-storage-id"),
	"template": boolean(),
	"unique":   boolean(),
})

var qemuUpdate = merge(qemuConfig, configUpdate)

const (
	qemuUnsupportedCommon = "affinity allow-ksm amd-sev arch args audio0 bootdisk cdrom cicustom efidisk0 freeze hookscript hostpci[n] hugepages intel-tdx ivshmem keephugepages keyboard localtime lock migrate_downtime migrate_speed numa[n] parallel[n] reboot rng0 smbios1 smp spice_enhancements startdate tdf tpmstate0 usb[n] virtiofs[n] vmstatestorage watchdog"
	qemuCreateUnsupported = qemuUnsupportedCommon + " archive bwlimit ha-managed import-working-storage live-restore"
	qemuPutUnsupported    = qemuUnsupportedCommon + " force skiplock template"
	qemuPostUnsupported   = qemuPutUnsupported + " background_delay import-working-storage"
)

var lxcClone = params{
	"newid":       vmidParam().req(),
	"pool":        strf("pve-poolid"),
	"hostname":    strf("dns-name"),
	"description": str(),
	"full":        boolean(),
	"storage":     strf("pve-storage-id"),
	"target":      strf("pve-node"),
	"bwlimit":     numMin(0),
}

var qemuClone = params{
	"newid":       vmidParam().req(),
	"pool":        strf("pve-poolid"),
	"name":        strf("dns-name"),
	"description": str(),
	"full":        boolean(),
	"storage":     strf("pve-storage-id"),
	"target":      strf("pve-node"),
	"format":      enum("raw", "qcow2", "vmdk"),
	"bwlimit":     intMin(0),
}

var loginParams = params{
	"username":   str().maxlen(64).req(),
	"password":   str().req(),
	"realm":      strp(`[A-Za-z][A-Za-z0-9\.\-_]+`).maxlen(32),
	"new-format": boolean(),
}

var poolParams = params{
	"poolid":  strf("pve-poolid").req(),
	"comment": str(),
}

var poolUpdate = params{
	"comment":    str(),
	"vms":        strf("pve-vmid-list"),
	"delete":     boolean(),
	"allow-move": boolean(),
}
