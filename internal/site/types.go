package site

import (
	"io/fs"
	"net/netip"
	"strings"
)

// Struct tags drive decoding, the JSON Schemas and the reference in
// docs/config.md, so the three cannot disagree:
//
//	json:"key[,required]"  the key as the file spells it
//	doc:"..."              one sentence for the schema and the reference
//	default:"v"            value when the key is absent
//	min:"n" max:"n"        integer range
//	format:"name"          a rule from formats.go
//	enum:"a|b|c"           allowed strings
//	key:"format"           rule for the keys of a map
//	nonempty:"true"        a list or map that must not be empty
//	star:"name"            derived field (json:"-") shown to Starlark

// Hypervisor is phoenix_hypervisor_config.json: the host, its networks and
// storage, DNS, the CA and the firewall.
type Hypervisor struct {
	Nodes      map[string]*Node    `json:"nodes,required" nonempty:"true" key:"label" doc:"The Proxmox VE nodes, by node name. More than one node makes a cluster."`
	PVE        PVE                 `json:"pve,required" doc:"How phoenix reaches the Proxmox VE API."`
	Management Management          `json:"management,required" doc:"The management network: where operators reach the host."`
	Bridges    map[string]*Bridge  `json:"bridges,required" nonempty:"true" key:"ifname" doc:"The guest bridges, by interface name (e.g. vmbr0)."`
	Storage    map[string]*Storage `json:"storage,required" nonempty:"true" key:"storage-id" doc:"Proxmox storages, by storage ID."`
	ZFS        ZFS                 `json:"zfs,required" doc:"The ZFS pool and the datasets that hold guests' persistent data."`
	DNS        DNS                 `json:"dns,required" doc:"The authoritative DNS served by the host to guests."`
	CA         CA                  `json:"ca,required" doc:"The private certificate authority."`
	Firewall   Firewall            `json:"firewall,required" doc:"The firewall. Everything not listed as a flow is dropped."`
}

// Node is one Proxmox VE node.
type Node struct {
	Name         string     `json:"-" star:"name"`
	ManagementIP netip.Addr `json:"management_ip,required" format:"ip" doc:"The node's address on the management network; also its corosync address."`
}

// PVE is how phoenix reaches the Proxmox VE API. Exactly one of
// Fingerprint, CAFile and InsecureSkipTLSVerify establishes trust.
type PVE struct {
	Endpoint              string `json:"endpoint,required" format:"https-url" doc:"The API's URL, e.g. https://192.168.10.11:8006/api2/json."`
	CredentialsFile       string `json:"credentials_file,required" format:"abs-path" doc:"Host path of the file holding the API credentials. The Proxmox module refuses it unless its mode is 0600."`
	Fingerprint           string `json:"fingerprint" format:"fingerprint" doc:"SHA-256 fingerprint of the API's certificate, to pin it."`
	CAFile                string `json:"ca_file" format:"abs-path" doc:"Host path of a PEM file with the CA that signed the API's certificate (on a PVE host: /etc/pve/pve-root-ca.pem)."`
	InsecureSkipTLSVerify bool   `json:"insecure_skip_tls_verify" default:"false" doc:"Accept any certificate. Only allowed when neither fingerprint nor ca_file is set, and then it must be set to true explicitly."`
}

// Management is the management network.
type Management struct {
	Interface string       `json:"interface,required" format:"ifname" doc:"The host's interface on the management network."`
	CIDR      netip.Prefix `json:"cidr,required" format:"cidr" doc:"The management network; the source of operator access (flows from \"management\")."`
}

// Bridge is a Linux bridge that guests attach to.
type Bridge struct {
	Name    string       `json:"-" star:"name"`
	CIDR    netip.Prefix `json:"cidr,required" format:"ipv4-cidr" doc:"The bridge's IPv4 network. Every guest on the bridge has its address in it."`
	Gateway netip.Addr   `json:"gateway,required" format:"ipv4" doc:"The host's address on the bridge, which routes and filters guest traffic; guests' default gateway."`
}

// Storage is a Proxmox storage.
type Storage struct {
	ID      string   `json:"-" star:"id"`
	Type    string   `json:"type,required" enum:"dir|zfspool" doc:"Storage type."`
	Path    string   `json:"path" format:"abs-path" doc:"Directory of a dir storage (dir only)."`
	Pool    string   `json:"pool" format:"zfs-name" doc:"ZFS pool or dataset of a zfspool storage (zfspool only)."`
	Content []string `json:"content,required" nonempty:"true" enum:"rootdir|images|vztmpl|iso|backup|snippets" doc:"What the storage holds: rootdir for container root disks, vztmpl for container templates."`
}

// ZFS is the pool and the persistent-data datasets.
type ZFS struct {
	Pool           string         `json:"pool,required" format:"zfs-pool" doc:"The ZFS pool, e.g. quickOS."`
	PersistentData PersistentData `json:"persistent_data,required" doc:"Where guests keep data that outlives the guest: one dataset per LXC, DATASET/VMID, mounted at MOUNTPOINT/VMID."`
}

// PersistentData is the root of the per-guest datasets.
type PersistentData struct {
	Dataset    string            `json:"dataset,required" format:"zfs-dataset" doc:"The parent dataset, inside the pool, e.g. quickOS/lxc-persistent-data."`
	Mountpoint string            `json:"mountpoint,required" format:"abs-path" doc:"Where the parent dataset is mounted on the host, e.g. /mnt/pve/quickOS/lxc-persistent-data."`
	Properties map[string]string `json:"properties" key:"zfs-property" format:"zfs-value" doc:"ZFS properties set on the parent dataset and inherited by every guest's dataset, e.g. {\"compression\": \"lz4\"}."`
}

// DNS is the host's DNS service.
type DNS struct {
	ListenAddress         netip.Addr       `json:"listen_address,required" format:"ip" doc:"Where the host's DNS server listens: a bridge gateway or a node's management_ip."`
	ExternalListenAddress netip.Addr       `json:"external_listen_address" format:"ip" doc:"Where the external view is answered (zones' external records and guests' records with view external or both), by a second dnsmasq instance; unset, the external view is not served. Never the listen_address."`
	Upstream              []netip.Addr     `json:"upstream" format:"ip" doc:"Resolvers the internal view asks for names outside the zones; the external view answers only its zones."`
	Zones                 map[string]*Zone `json:"zones,required" key:"dns-name" doc:"Authoritative zones, by zone name. Guests add their own records in their dns_records."`
}

// Zone is an authoritative zone with split views.
type Zone struct {
	Name     string       `json:"-" star:"name"`
	Internal []ZoneRecord `json:"internal" doc:"Records that internal clients (guests, the management network) see."`
	External []ZoneRecord `json:"external" doc:"Records that external clients see."`
}

// ZoneRecord is a record declared in a zone: an address or an alias.
type ZoneRecord struct {
	Name    string     `json:"name,required" format:"dns-name" doc:"Fully qualified name, inside the zone."`
	Address netip.Addr `json:"address" format:"ip" doc:"IPv4 (A) or IPv6 (AAAA) address. Exactly one of address and cname."`
	CNAME   string     `json:"cname" format:"dns-name" doc:"Alias target (CNAME). Exactly one of address and cname."`
}

// CA is the private certificate authority (step-ca) running in an LXC.
type CA struct {
	VMID        int                `json:"vmid,required" min:"100" max:"999999999" doc:"The LXC that runs the CA."`
	Daemon      string             `json:"daemon,required" enum:"phoenix|step-ca" doc:"What serves the CA: phoenix's built-in server or the upstream step-ca binary. Both read the same files."`
	Name        string             `json:"name,required" format:"text" doc:"The CA's name, written into its root and intermediate certificates."`
	DNSNames    []string           `json:"dns_names,required" nonempty:"true" format:"ca-name" doc:"Names (or IPs) the CA's own certificate is valid for; clients must reach it by one of them."`
	Address     string             `json:"address,required" format:"listen-address" doc:"Where the CA listens inside its guest, e.g. \":9000\"."`
	Provisioner string             `json:"provisioner,required" format:"provisioner" doc:"Name of the JWK provisioner that consumers use to request certificates."`
	ACME        bool               `json:"acme" default:"false" doc:"Also serve ACME (used by Traefik)."`
	Durations   CADurations        `json:"durations,required" doc:"Lifetimes of leaf certificates."`
	PrivateDir  string             `json:"private_dir,required" format:"rel-path" doc:"The CA's private directory (keys, password, ca.json), relative to its persistent-data directory, e.g. ssl. The CA's LXC must mount it."`
	Exports     map[string]*Export `json:"exports" key:"name" doc:"Directories the CA publishes to other guests, next to private_dir, by export name."`
	// UnsafePrivateDirConsumers is the documented override for the rule
	// that no other guest may mount the CA's private directory.
	UnsafePrivateDirConsumers []int `json:"unsafe_private_dir_consumers" min:"100" max:"999999999" doc:"Guests allowed to mount the CA's private directory anyway. Each can read the CA's keys and the password that decrypts them, so it can become the CA. Leave empty."`

	PrivateHostPath      string `json:"-" star:"private_host_path"`
	PrivateContainerPath string `json:"-" star:"private_container_path"`
}

// CADurations are certificate lifetimes.
type CADurations struct {
	Default Duration `json:"default,required" format:"duration" doc:"Lifetime of a certificate when the client asks for none. Days, not step's 24 hours, so that one missed renewal is not an outage, e.g. \"168h\"."`
	Max     Duration `json:"max,required" format:"duration" doc:"The longest lifetime a client may ask for; at least default, e.g. \"720h\"."`
}

// Export is a directory the CA publishes to consumers.
type Export struct {
	Name                string `json:"-" star:"name"`
	Path                string `json:"path,required" format:"rel-path" doc:"Directory relative to the CA's persistent-data directory, e.g. export/gateway. Always holds the root certificate."`
	ProvisionerPassword bool   `json:"provisioner_password" default:"false" doc:"Also put the provisioner password here, so consumers can request certificates with the JWK provisioner."`
	Consumers           []int  `json:"consumers,required" nonempty:"true" min:"100" max:"999999999" doc:"LXCs that may mount this export, read-only."`

	HostPath string `json:"-" star:"host_path"`
}

// Firewall holds the allowed flows.
type Firewall struct {
	Flows []Flow `json:"flows,required" doc:"Allowed traffic. Each flow opens one port (or ICMP types) from source to destination."`
}

// Flow is one allowed flow.
type Flow struct {
	Source      Endpoint `json:"source,required" format:"endpoint" doc:"Where traffic comes from: a guest VMID, an IP or CIDR, or any, guests (every guest), host, management (the management CIDR), nodes (every node)."`
	Destination Endpoint `json:"destination,required" format:"endpoint" doc:"Where traffic goes, in the same forms as source."`
	Proto       string   `json:"proto,required" enum:"tcp|udp|icmp|icmpv6" doc:"Protocol."`
	Port        int      `json:"port" min:"1" max:"65535" doc:"Destination port (tcp and udp only, where it is required)."`
	ICMPTypes   []string `json:"icmp_types" nonempty:"true" enum:"destination-unreachable|time-exceeded|parameter-problem|echo-request|echo-reply|packet-too-big|nd-router-solicit|nd-router-advert|nd-neighbor-solicit|nd-neighbor-advert" doc:"ICMP types (icmp and icmpv6 only, where it is required). packet-too-big and nd-* are ICMPv6 only."`
	Comment     string   `json:"comment,required" format:"text" doc:"Why the flow exists."`
}

// LXC is one container of phoenix_lxc_configs.json, keyed by VMID.
type LXC struct {
	VMID         int           `json:"-" star:"vmid"`
	Node         string        `json:"node,required" format:"label" doc:"The node the container runs on."`
	Hostname     string        `json:"hostname,required" format:"dns-name" doc:"Host name, unique across guests."`
	Template     string        `json:"template,required" format:"vztmpl" doc:"The OS template volume, e.g. local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst. Its storage must hold vztmpl."`
	RootFS       RootFS        `json:"rootfs,required" doc:"The root disk."`
	MemoryMB     int           `json:"memory_mb,required" min:"16" doc:"Memory in MiB."`
	SwapMB       int           `json:"swap_mb" min:"0" default:"512" doc:"Swap in MiB."`
	Cores        int           `json:"cores,required" min:"1" max:"8192" doc:"CPU cores."`
	Network      LXCNetwork    `json:"network,required" doc:"The container's interface (net0)."`
	Nameserver   netip.Addr    `json:"nameserver,required" format:"ip" doc:"DNS server, normally the host's dns.listen_address."`
	Searchdomain string        `json:"searchdomain" format:"dns-name" doc:"DNS search domain."`
	Features     Features      `json:"features" doc:"Container features."`
	Unprivileged bool          `json:"unprivileged" default:"true" doc:"Run unprivileged (container root is host uid 100000)."`
	OnBoot       bool          `json:"onboot" default:"true" doc:"Start when the node boots."`
	MountPoints  []MountPoint  `json:"mount_points" doc:"Bind mounts from the host (mp0, mp1, ... in this order)."`
	DNSRecords   []GuestRecord `json:"dns_records" doc:"DNS records for this guest; without address or cname they point at the guest's IP."`
	Gateway      *Gateway      `json:"gateway" doc:"This container is the site's nginx gateway (scripts/lxc_101.star)."`
	Traefik      *Traefik      `json:"traefik" doc:"This container runs the site's Traefik mesh (scripts/lxc_102.star)."`
}

// Gateway is the nginx entry point: TLS for its names, proxied to the mesh.
type Gateway struct {
	ServerNames []string `json:"server_names,required" nonempty:"true" format:"dns-name" doc:"Names the gateway answers for; its certificate from the CA holds all of them."`
	ListenPort  int      `json:"listen_port" min:"1" max:"65535" default:"443" doc:"HTTPS port nginx listens on."`
	Upstream    Upstream `json:"upstream,required" doc:"Where every request is proxied, over TLS verified against the site's root."`
}

// Upstream is the TLS backend the gateway proxies to.
type Upstream struct {
	VMID       int    `json:"vmid,required" min:"100" max:"999999999" doc:"The guest that serves it (its IP is dialled)."`
	Port       int    `json:"port,required" min:"1" max:"65535" doc:"Its HTTPS port, e.g. Traefik's 8443."`
	ServerName string `json:"server_name,required" format:"dns-name" doc:"The name sent as SNI and verified in its certificate."`
}

// Traefik is the mesh's configuration: one entry point, routes by host name.
type Traefik struct {
	EntrypointPort int     `json:"entrypoint_port" min:"1" max:"65535" default:"8443" doc:"HTTPS entry point the gateway proxies to."`
	DashboardName  string  `json:"dashboard_name,required" format:"dns-name" doc:"Host name of Traefik's dashboard; its certificate comes from the CA over ACME."`
	Routes         []Route `json:"routes" doc:"Routers and services, matched by Host (and SNI for the certificate)."`
}

// Route sends requests for some host names to one guest's port.
type Route struct {
	Name   string   `json:"name,required" format:"label" doc:"Router and service name."`
	Hosts  []string `json:"hosts,required" nonempty:"true" format:"dns-name" doc:"Host names this route matches; Traefik obtains a certificate for them over ACME."`
	VMID   int      `json:"vmid,required" min:"100" max:"999999999" doc:"The guest that serves the route."`
	Port   int      `json:"port,required" min:"1" max:"65535" doc:"The guest's port."`
	Scheme string   `json:"scheme" enum:"http|https" default:"https" doc:"How Traefik talks to the guest."`
	// InsecureSkipVerify is the documented way out for a backend whose
	// certificate no CA of the site issued (Portainer's own, self-signed).
	InsecureSkipVerify bool `json:"insecure_skip_verify" default:"false" doc:"https only: accept any certificate from the guest (encrypted, not authenticated), for a backend whose certificate the site's CA did not issue, such as Portainer's self-signed one. Off, the certificate must chain to the site's root."`
}

// RootFS is a container's root disk.
type RootFS struct {
	Storage string `json:"storage,required" nonempty:"true" format:"storage-id" doc:"Storage for the root disk; it must hold rootdir."`
	SizeGB  int    `json:"size_gb,required" min:"1" max:"131072" doc:"Size in GiB."`
}

// LXCNetwork is a container's net0.
type LXCNetwork struct {
	Name     string       `json:"name" format:"ifname" default:"eth0" doc:"Interface name inside the container."`
	Bridge   string       `json:"bridge,required" format:"ifname" doc:"The bridge (a key of bridges)."`
	IP       netip.Prefix `json:"ip,required" format:"ipv4-prefix" doc:"Address and prefix length, inside the bridge's CIDR, e.g. 10.0.0.101/24."`
	Gateway  netip.Addr   `json:"gateway" format:"ipv4" doc:"Default gateway; defaults to the bridge's gateway."`
	Firewall bool         `json:"firewall" default:"true" doc:"Enable the Proxmox firewall on the interface."`
}

// Features are container features (PVE "features").
type Features struct {
	Nesting    bool     `json:"nesting" default:"false" doc:"Allow nesting (systemd in newer templates needs it)."`
	Keyctl     bool     `json:"keyctl" default:"false" doc:"Allow keyctl(); unprivileged containers only."`
	Fuse       bool     `json:"fuse" default:"false" doc:"Allow FUSE file systems."`
	Mknod      bool     `json:"mknod" default:"false" doc:"Allow mknod() of some device nodes (experimental)."`
	ForceRWSys bool     `json:"force_rw_sys" default:"false" doc:"Mount /sys read-write in unprivileged containers."`
	Mount      []string `json:"mount" format:"fstype" doc:"File system types the container may mount, e.g. [\"nfs\"]."`
}

// MountPoint is a bind mount of a host directory into a container.
type MountPoint struct {
	HostPath      string      `json:"host_path,required" format:"abs-path" doc:"Host directory: inside the guest's own persistent-data directory, or inside an export it consumes (then read_only)."`
	ContainerPath string      `json:"container_path,required" format:"abs-path" doc:"Where it appears in the container."`
	OwnerUID      int         `json:"owner_uid,required" min:"0" max:"65535" doc:"Owner of the directory, as a uid inside the container (phoenix maps it for unprivileged containers)."`
	OwnerGID      int         `json:"owner_gid,required" min:"0" max:"65535" doc:"Group of the directory, as a gid inside the container."`
	Mode          fs.FileMode `json:"mode,required" format:"mode" doc:"Permissions of the directory, as an octal string, e.g. \"0750\"."`
	ReadOnly      bool        `json:"read_only" default:"false" doc:"Mount read-only."`
}

// GuestRecord is a DNS record that a guest declares for itself.
type GuestRecord struct {
	Name    string     `json:"name,required" format:"dns-name" doc:"Fully qualified name, inside a declared zone."`
	Address netip.Addr `json:"address" format:"ip" doc:"Address to answer instead of the guest's IP (e.g. a public one in the external view)."`
	CNAME   string     `json:"cname" format:"dns-name" doc:"Alias target instead of an address. At most one of address and cname."`
	View    string     `json:"view" enum:"internal|external|both" default:"internal" doc:"Which clients see the record."`
}

// VM is one virtual machine of phoenix_vm_configs.json, keyed by VMID.
type VM struct {
	VMID         int           `json:"-" star:"vmid"`
	Node         string        `json:"node,required" format:"label" doc:"The node the VM runs on."`
	Name         string        `json:"name,required" format:"dns-name" doc:"The VM's name (and host name), unique across guests."`
	CloneFrom    int           `json:"clone_from,required" min:"100" max:"999999999" doc:"VMID of the template to clone; not a guest of this site."`
	MemoryMB     int           `json:"memory_mb,required" min:"16" doc:"Memory in MiB."`
	Cores        int           `json:"cores,required" min:"1" max:"8192" doc:"CPU cores."`
	Network      VMNetwork     `json:"network,required" doc:"The VM's first interface (net0), configured through cloud-init ipconfig0."`
	Nameserver   netip.Addr    `json:"nameserver,required" format:"ip" doc:"DNS server (cloud-init)."`
	Searchdomain string        `json:"searchdomain" format:"dns-name" doc:"DNS search domain (cloud-init)."`
	OnBoot       bool          `json:"onboot" default:"true" doc:"Start when the node boots."`
	DNSRecords   []GuestRecord `json:"dns_records" doc:"DNS records for this guest; without address or cname they point at the guest's IP."`
}

// VMNetwork is a VM's net0 and its cloud-init ipconfig0.
type VMNetwork struct {
	Bridge   string       `json:"bridge,required" format:"ifname" doc:"The bridge (a key of bridges)."`
	Model    string       `json:"model" enum:"virtio|e1000|vmxnet3|rtl8139" default:"virtio" doc:"NIC model."`
	IP       netip.Prefix `json:"ip,required" format:"ipv4-prefix" doc:"Address and prefix length for ipconfig0, inside the bridge's CIDR."`
	Gateway  netip.Addr   `json:"gateway" format:"ipv4" doc:"Gateway for ipconfig0; defaults to the bridge's gateway."`
	Firewall bool         `json:"firewall" default:"true" doc:"Enable the Proxmox firewall on the interface."`
}

// IPConfig0 is the cloud-init ipconfig0 value, e.g. "ip=10.0.0.201/24,gw=10.0.0.1".
func (n VMNetwork) IPConfig0() string {
	s := "ip=" + n.IP.String()
	if n.Gateway.IsValid() {
		s += ",gw=" + n.Gateway.String()
	}
	return s
}

// Net0 is the PVE net0 value of a container, e.g.
// "name=eth0,bridge=vmbr0,ip=10.0.0.101/24,gw=10.0.0.1,firewall=1".
func (n LXCNetwork) Net0() string {
	s := "name=" + n.Name + ",bridge=" + n.Bridge + ",ip=" + n.IP.String()
	if n.Gateway.IsValid() {
		s += ",gw=" + n.Gateway.String()
	}
	return s + ",firewall=" + boolDigit(n.Firewall)
}

// PVE is the value of the PVE "features" option, e.g. "nesting=1,keyctl=1";
// empty when no feature is on.
func (f Features) PVE() string {
	var parts []string
	for _, x := range []struct {
		k  string
		on bool
	}{{"force_rw_sys", f.ForceRWSys}, {"fuse", f.Fuse}, {"keyctl", f.Keyctl}, {"mknod", f.Mknod}, {"nesting", f.Nesting}} {
		if x.on {
			parts = append(parts, x.k+"=1")
		}
	}
	if len(f.Mount) > 0 {
		parts = append(parts, "mount="+strings.Join(f.Mount, ";"))
	}
	return strings.Join(parts, ",")
}

func boolDigit(b bool) string {
	if b {
		return "1"
	}
	return "0"
}
