package site

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

const (
	hyp = HypervisorFile
	lxc = LXCFile
	vm  = VMFile
)

// What the JSON Schemas make of a defect.
const (
	schemaRejects = "rejects"  // the edited file fails its schema
	schemaSyntax  = "syntax"   // not JSON at all: nothing to validate
	schemaGoOnly  = "go-only"  // every file still passes its schema: only Go sees it
	schemaCross   = "cross"    // spans files: only Go sees it (a schema sees one file)
	schemaNone    = "no error" // not a defect
)

type defect struct {
	name string
	edit func(e *siteEdit)
	want []string // every error line, in order
	// wantAt computes want from the edited files, for positions.
	wantAt func(files map[string][]byte) []string
	schema string
	why    string // for go-only: why a schema cannot say it
}

var export103 = "/mnt/pve/quickOS/lxc-persistent-data/103/"

// defects is one copy of the example per error class, each with one defect.
var defects = []defect{
	// Malformed JSON: file:line:col and the parser's message.
	{name: "syntax/trailing comma", schema: schemaSyntax,
		edit: func(e *siteEdit) { e.replace(lxc, `"cores": 1,`, `"cores": 1,,`) },
		wantAt: func(f map[string][]byte) []string {
			l, c := textPos(f[lxc], `"cores": 1,,`, 11)
			return []string{fmt.Sprintf("phoenix_lxc_configs.json:%d:%d: invalid character ',' at start of value", l, c)}
		}},
	{name: "syntax/truncated", schema: schemaSyntax,
		edit: func(e *siteEdit) { e.raw[vm] = e.raw[vm][:40] },
		want: []string{"phoenix_vm_configs.json:2:39: unexpected end of JSON input"}},
	{name: "syntax/duplicate key", schema: schemaGoOnly, why: "a schema sees the parsed document, where the second key has replaced the first",
		edit: func(e *siteEdit) {
			e.replace(hyp, `"vmid": 103,`, `"vmid": 103, "vmid": 104,`)
		},
		wantAt: func(f map[string][]byte) []string {
			l, c := textPos(f[hyp], `"vmid": 103, "vmid"`, 13)
			return []string{fmt.Sprintf(`phoenix_hypervisor_config.json:%d:%d: duplicate key "vmid" (first at %d:%d)`, l, c, l, c-13)}
		}},

	// Unknown keys, with a suggestion when one is close.
	{name: "unknown key/suggestion", schema: schemaRejects,
		edit: func(e *siteEdit) { e.rename(lxc, "ownr_uid", "103", "mount_points", "0", "owner_uid") },
		want: []string{`phoenix_lxc_configs.json: 103.mount_points[0].ownr_uid: unknown key (did you mean "owner_uid"?)`}},
	{name: "unknown key/no suggestion", schema: schemaRejects,
		edit: func(e *siteEdit) { e.set(hyp, "red", "colour") },
		want: []string{`phoenix_hypervisor_config.json: colour: unknown key`}},
	{name: "missing key", schema: schemaRejects,
		edit: func(e *siteEdit) { e.del(vm, "1002", "clone_from") },
		want: []string{`phoenix_vm_configs.json: 1002: missing required key "clone_from"`}},

	// Types and ranges.
	{name: "type/string for integer", schema: schemaRejects,
		edit: func(e *siteEdit) { e.set(lxc, "1024", "101", "memory_mb") },
		want: []string{`phoenix_lxc_configs.json: 101.memory_mb: must be an integer, not a string`}},
	{name: "type/top level", schema: schemaRejects,
		edit: func(e *siteEdit) { e.raw[vm] = []byte("[]\n") },
		want: []string{`phoenix_vm_configs.json: must be an object keyed by VMID, not an array`}},
	{name: "range/vmid key", schema: schemaRejects,
		edit: func(e *siteEdit) {
			g := e.get(vm, "1002").(map[string]any)
			g["name"] = "extra"
			e.set(vm, g, "99")
		},
		want: []string{`phoenix_vm_configs.json: 99: not a VMID (100-999999999)`}},
	{name: "range/vmid value", schema: schemaRejects,
		edit: func(e *siteEdit) { e.set(vm, 1000000000, "1001", "clone_from") },
		want: []string{`phoenix_vm_configs.json: 1001.clone_from: must be 100-999999999 (got 1000000000)`}},
	{name: "range/memory", schema: schemaRejects,
		edit: func(e *siteEdit) { e.set(lxc, 0, "102", "memory_mb") },
		want: []string{`phoenix_lxc_configs.json: 102.memory_mb: must be at least 16 (got 0)`}},
	{name: "range/cores", schema: schemaRejects,
		edit: func(e *siteEdit) { e.set(vm, -2, "1002", "cores") },
		want: []string{`phoenix_vm_configs.json: 1002.cores: must be 1-8192 (got -2)`}},
	{name: "range/port", schema: schemaRejects,
		edit: func(e *siteEdit) { e.set(hyp, 70000, "firewall", "flows", "0", "port") },
		want: []string{`phoenix_hypervisor_config.json: firewall.flows[0].port: must be 1-65535 (got 70000)`}},
	{name: "format/ip", schema: schemaRejects,
		edit: func(e *siteEdit) { e.set(lxc, "10.0.0.300", "101", "nameserver") },
		want: []string{`phoenix_lxc_configs.json: 101.nameserver: "10.0.0.300" is not an IP address`}},
	{name: "format/cidr", schema: schemaRejects,
		edit: func(e *siteEdit) { e.set(hyp, "10.0.0.0/33", "bridges", "vmbr0", "cidr") },
		want: []string{`phoenix_hypervisor_config.json: bridges.vmbr0.cidr: "10.0.0.0/33" is not an IPv4 network in CIDR notation, e.g. 10.0.0.0/24`}},
	{name: "format/cidr not a network", schema: schemaGoOnly, why: "a pattern cannot compare the host bits with the prefix length",
		edit: func(e *siteEdit) { e.set(hyp, "192.168.10.5/24", "management", "cidr") },
		want: []string{`phoenix_hypervisor_config.json: management.cidr: "192.168.10.5/24" is not a network address (did you mean "192.168.10.0/24"?)`}},
	{name: "format/hostname", schema: schemaRejects,
		edit: func(e *siteEdit) { e.set(lxc, "gate way", "101", "hostname") },
		want: []string{`phoenix_lxc_configs.json: 101.hostname: "gate way" is not a DNS name (RFC 1123): label "gate way" must be letters, digits and inner hyphens`}},
	{name: "format/dns name injection", schema: schemaRejects,
		edit: func(e *siteEdit) {
			e.set(vm, "evil.phoenix.internal\naddress=/#/1.2.3.4", "1001", "dns_records", "0", "name")
		},
		want: []string{`phoenix_vm_configs.json: 1001.dns_records[0].name: must not contain control characters`}},
	{name: "format/dns name slash", schema: schemaRejects,
		edit: func(e *siteEdit) {
			e.set(hyp, "a/b.example.com", "dns", "zones", "example.com", "external", "0", "name")
		},
		want: []string{`phoenix_hypervisor_config.json: dns.zones["example.com"].external[0].name: "a/b.example.com" is not a DNS name (RFC 1123): label "a/b" must be letters, digits and inner hyphens`}},
	{name: "format/path", schema: schemaRejects,
		edit: func(e *siteEdit) { e.set(lxc, "/etc/nginx/certs,ro=0", "101", "mount_points", "0", "container_path") },
		want: []string{`phoenix_lxc_configs.json: 101.mount_points[0].container_path: "/etc/nginx/certs,ro=0" is not an absolute, clean path of letters, digits and . _ @ + - /: only letters, digits and . _ @ + - / are allowed`}},
	{name: "format/mode", schema: schemaRejects,
		edit: func(e *siteEdit) { e.set(lxc, "0980", "103", "mount_points", "0", "mode") },
		want: []string{`phoenix_lxc_configs.json: 103.mount_points[0].mode: "0980" is not a file mode of 3 or 4 octal digits, as a string, e.g. "0750"`}},
	{name: "format/duration in days", schema: schemaRejects,
		edit: func(e *siteEdit) { e.set(hyp, "7d", "ca", "durations", "default") },
		want: []string{`phoenix_hypervisor_config.json: ca.durations.default: "7d" is not a duration such as "168h" or "90m" (units h, m, s): there is no day unit; write days as hours, e.g. 7 days = "168h"`}},
	{name: "enum/proto", schema: schemaRejects,
		edit: func(e *siteEdit) { e.set(hyp, "tpc", "firewall", "flows", "1", "proto") },
		want: []string{`phoenix_hypervisor_config.json: firewall.flows[1].proto: "tpc" is not one of tcp, udp, icmp, icmpv6 (did you mean "tcp"?)`}},
	{name: "enum/endpoint", schema: schemaRejects,
		edit: func(e *siteEdit) { e.set(hyp, "gusets", "firewall", "flows", "8", "source") },
		want: []string{`phoenix_hypervisor_config.json: firewall.flows[8].source: "gusets" is not a guest VMID, a CIDR or IP, or one of any, guests, host, management, nodes (did you mean "guests"?)`}},
	{name: "list/repeated item", schema: schemaRejects,
		edit: func(e *siteEdit) {
			e.set(hyp, []any{"rootdir", "images", "rootdir"}, "storage", "local-zfs", "content")
		},
		want: []string{`phoenix_hypervisor_config.json: storage.local-zfs.content[2]: repeats [0]`}},
	{name: "list/empty", schema: schemaRejects,
		edit: func(e *siteEdit) { e.set(hyp, []any{}, "ca", "dns_names") },
		want: []string{`phoenix_hypervisor_config.json: ca.dns_names: must not be empty`}},

	// Rules between keys of one object.
	{name: "object/tls trust twice", schema: schemaRejects,
		edit: func(e *siteEdit) {
			e.set(hyp, "AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89:AB:CD:EF:01:23:45:67:89", "pve", "fingerprint")
		},
		want: []string{`phoenix_hypervisor_config.json: pve: set only one of fingerprint, ca_file and insecure_skip_tls_verify: true`}},
	{name: "object/tls no trust", schema: schemaRejects,
		edit: func(e *siteEdit) { e.del(hyp, "pve", "ca_file") },
		want: []string{`phoenix_hypervisor_config.json: pve: set fingerprint or ca_file to verify the API's certificate, or insecure_skip_tls_verify: true to skip verification`}},
	{name: "object/keyctl privileged", schema: schemaRejects,
		edit: func(e *siteEdit) {
			e.set(lxc, true, "102", "features", "keyctl")
			e.set(lxc, false, "102", "unprivileged")
		},
		want: []string{`phoenix_lxc_configs.json: 102.features.keyctl: keyctl is for unprivileged containers only`}},
	{name: "object/icmp with port", schema: schemaRejects,
		edit: func(e *siteEdit) { e.set(hyp, 7, "firewall", "flows", "10", "port") },
		want: []string{`phoenix_hypervisor_config.json: firewall.flows[10].port: an icmp flow has no port`}},
	{name: "object/icmpv6 type on icmp", schema: schemaRejects,
		edit: func(e *siteEdit) { e.set(hyp, "packet-too-big", "firewall", "flows", "10", "icmp_types", "3") },
		want: []string{`phoenix_hypervisor_config.json: firewall.flows[10].icmp_types[3]: "packet-too-big" is not an icmp type`}},
	{name: "object/tcp without port", schema: schemaRejects,
		edit: func(e *siteEdit) { e.del(hyp, "firewall", "flows", "6", "port") },
		want: []string{`phoenix_hypervisor_config.json: firewall.flows[6]: a tcp flow needs port`}},
	{name: "object/record address and cname", schema: schemaRejects,
		edit: func(e *siteEdit) {
			e.set(hyp, "www.example.com", "dns", "zones", "example.com", "external", "1", "cname")
		},
		want: []string{`phoenix_hypervisor_config.json: dns.zones["example.com"].external[1].cname: set only one of address and cname`}},
	{name: "object/dir storage without path", schema: schemaRejects,
		edit: func(e *siteEdit) { e.del(hyp, "storage", "local", "path") },
		want: []string{`phoenix_hypervisor_config.json: storage.local: a dir storage needs path`}},
	{name: "object/durations", schema: schemaGoOnly, why: "a schema cannot compare two durations",
		edit: func(e *siteEdit) { e.set(hyp, "1000h", "ca", "durations", "default") },
		want: []string{`phoenix_hypervisor_config.json: ca.durations.default: 1000h is longer than max (720h)`}},
	{name: "object/duplicate container path", schema: schemaGoOnly, why: "uniqueItems compares whole items, not one key",
		edit: func(e *siteEdit) { e.set(lxc, "/etc/nginx/certs", "101", "mount_points", "1", "container_path") },
		want: []string{`phoenix_lxc_configs.json: 101.mount_points[1].container_path: /etc/nginx/certs is also mount_points[0]`}},

	// Rules across one file.
	{name: "file/duplicate flow", schema: schemaGoOnly, why: "uniqueItems would miss the differing comment",
		edit: func(e *siteEdit) {
			f := e.get(hyp, "firewall", "flows", "0").(map[string]any)
			f["comment"] = "again"
			e.set(hyp, f, "firewall", "flows", "14")
		},
		want: []string{`phoenix_hypervisor_config.json: firewall.flows[14]: same flow as firewall.flows[0]`}},
	{name: "file/node outside management", schema: schemaGoOnly, why: "a schema cannot test CIDR membership",
		edit: func(e *siteEdit) { e.set(hyp, "192.168.11.11", "nodes", "pve", "management_ip") },
		want: []string{`phoenix_hypervisor_config.json: nodes.pve.management_ip: 192.168.11.11 is outside management.cidr 192.168.10.0/24`}},
	{name: "file/bridge gateway is network address", schema: schemaGoOnly, why: "a schema cannot test CIDR membership",
		edit: func(e *siteEdit) { e.set(hyp, "10.0.0.0", "bridges", "vmbr0", "gateway") },
		want: []string{
			`phoenix_hypervisor_config.json: bridges.vmbr0.gateway: 10.0.0.0 is the network address of 10.0.0.0/24`,
			// The listen address was the gateway: a true consequence.
			`phoenix_hypervisor_config.json: dns.listen_address: 10.0.0.1 is not an address of the host (a bridge's gateway or a node's management_ip)`,
		}},
	{name: "file/dns listen address", schema: schemaGoOnly, why: "a schema cannot compare values in two places",
		edit: func(e *siteEdit) { e.set(hyp, "10.0.0.2", "dns", "listen_address") },
		want: []string{`phoenix_hypervisor_config.json: dns.listen_address: 10.0.0.2 is not an address of the host (a bridge's gateway or a node's management_ip)`}},
	{name: "file/dns external listen address", schema: schemaGoOnly, why: "a schema cannot compare values in two places",
		edit: func(e *siteEdit) { e.set(hyp, "10.0.0.1", "dns", "external_listen_address") },
		want: []string{`phoenix_hypervisor_config.json: dns.external_listen_address: 10.0.0.1 is the listen_address: the external view needs an address of its own, or an external client would be answered from the internal view`}},
	{name: "file/zone record outside zone", schema: schemaGoOnly, why: "a schema cannot compare a key with a value",
		edit: func(e *siteEdit) {
			e.set(hyp, "www.example.org", "dns", "zones", "example.com", "external", "0", "name")
		},
		want: []string{`phoenix_hypervisor_config.json: dns.zones["example.com"].external[0].name: www.example.org is not inside zone example.com`}},
	{name: "file/export overlaps private dir", schema: schemaGoOnly, why: "a schema cannot compare two paths",
		edit: func(e *siteEdit) { e.set(hyp, "ssl/export", "ca", "exports", "trust", "path") },
		want: []string{
			`phoenix_hypervisor_config.json: ca.exports.trust.path: ssl/export overlaps private_dir ssl: an export must not expose the CA's private files`,
			// The old export path is no export any more.
			`phoenix_lxc_configs.json: 102.mount_points[1].host_path: /mnt/pve/quickOS/lxc-persistent-data/103/export/trust is neither in guest 102's own dataset (/mnt/pve/quickOS/lxc-persistent-data/102) nor a declared export of another guest (phoenix_hypervisor_config.json: ca.exports)`,
		}},
	{name: "file/cluster without corosync", schema: schemaGoOnly, why: "a schema cannot count map entries against list contents",
		edit: func(e *siteEdit) { e.set(hyp, map[string]any{"management_ip": "192.168.10.12"}, "nodes", "pve2") },
		want: []string{`phoenix_hypervisor_config.json: firewall.flows: the cluster has 2 nodes but no corosync flow (source "nodes", destination "nodes", udp port 5405)`}},

	// Out of scope.
	{name: "scope/idmap", schema: schemaRejects,
		edit: func(e *siteEdit) { e.set(lxc, []any{"u 0 100000 65536"}, "101", "idmap") },
		want: []string{`phoenix_lxc_configs.json: 101.idmap: custom LXC idmaps are not supported yet`}},
	{name: "scope/raw lxc key", schema: schemaRejects,
		edit: func(e *siteEdit) { e.set(lxc, "unconfined", "102", "lxc.apparmor.profile") },
		want: []string{`phoenix_lxc_configs.json: 102["lxc.apparmor.profile"]: raw lxc.* keys are not supported yet`}},

	// Across files: every message names both places.
	{name: "cross/duplicate vmid", schema: schemaCross,
		edit: func(e *siteEdit) {
			g := e.get(vm, "1002").(map[string]any)
			g["name"] = "extra"
			g["network"].(map[string]any)["ip"] = "10.0.0.210/24"
			g["dns_records"] = []any{}
			e.set(vm, g, "101")
		},
		want: []string{`phoenix_vm_configs.json: 101: VMID 101 is also used by phoenix_lxc_configs.json: 101`}},
	{name: "cross/duplicate ip", schema: schemaCross,
		edit: func(e *siteEdit) { e.set(vm, "10.0.0.101/24", "1002", "network", "ip") },
		want: []string{`phoenix_vm_configs.json: 1002.network.ip: 10.0.0.101 is already used by phoenix_lxc_configs.json: 101.network.ip`}},
	{name: "cross/ip outside bridge", schema: schemaCross,
		edit: func(e *siteEdit) { e.set(lxc, "10.0.1.102/24", "102", "network", "ip") },
		want: []string{`phoenix_lxc_configs.json: 102.network.ip: 10.0.1.102 is outside 10.0.0.0/24 of bridge vmbr0 (phoenix_hypervisor_config.json: bridges.vmbr0.cidr)`}},
	{name: "cross/ip is the gateway", schema: schemaCross,
		edit: func(e *siteEdit) { e.set(vm, "10.0.0.1/24", "1001", "network", "ip") },
		want: []string{`phoenix_vm_configs.json: 1001.network.ip: 10.0.0.1 is already used by phoenix_hypervisor_config.json: bridges.vmbr0.gateway`}},
	{name: "cross/dns name twice", schema: schemaCross,
		edit: func(e *siteEdit) {
			e.set(vm, map[string]any{"name": "gateway.phoenix.internal"}, "1001", "dns_records", "1")
		},
		want: []string{`phoenix_vm_configs.json: 1001.dns_records[1]: gateway.phoenix.internal is A 10.0.0.201 in the internal view here but A 10.0.0.101 at phoenix_lxc_configs.json: 101.dns_records[0]`}},
	{name: "cross/dns name outside zones", schema: schemaCross,
		edit: func(e *siteEdit) { e.set(lxc, "gateway.example.net", "101", "dns_records", "0", "name") },
		want: []string{`phoenix_lxc_configs.json: 101.dns_records[0].name: gateway.example.net is not inside any zone of phoenix_hypervisor_config.json: dns.zones`}},
	{name: "cross/flow names missing guest", schema: schemaCross,
		edit: func(e *siteEdit) { e.set(hyp, 1003, "firewall", "flows", "2", "destination") },
		want: []string{`phoenix_hypervisor_config.json: firewall.flows[2].destination: guest 1003 does not exist (not in phoenix_lxc_configs.json or phoenix_vm_configs.json)`}},
	{name: "cross/gateway upstream missing guest", schema: schemaCross,
		edit: func(e *siteEdit) { e.set(lxc, 1009, "101", "gateway", "upstream", "vmid") },
		want: []string{`phoenix_lxc_configs.json: 101.gateway.upstream.vmid: guest 1009 does not exist (not in phoenix_lxc_configs.json or phoenix_vm_configs.json)`}},
	{name: "cross/traefik route missing guest", schema: schemaCross,
		edit: func(e *siteEdit) { e.set(lxc, 1003, "102", "traefik", "routes", "1", "vmid") },
		want: []string{`phoenix_lxc_configs.json: 102.traefik.routes[1].vmid: guest 1003 does not exist (not in phoenix_lxc_configs.json or phoenix_vm_configs.json)`}},
	{name: "lxc/traefik route scheme", schema: schemaRejects,
		edit: func(e *siteEdit) { e.set(lxc, "ftp", "102", "traefik", "routes", "0", "scheme") },
		want: []string{`phoenix_lxc_configs.json: 102.traefik.routes[0].scheme: "ftp" is not one of http, https`}},
	{name: "lxc/traefik insecure over http", schema: schemaRejects,
		edit: func(e *siteEdit) { e.set(lxc, true, "102", "traefik", "routes", "1", "insecure_skip_verify") },
		want: []string{`phoenix_lxc_configs.json: 102.traefik.routes[1].insecure_skip_verify: only for a route with scheme https`}},
	{name: "cross/missing node", schema: schemaCross,
		edit: func(e *siteEdit) { e.set(lxc, "pve2", "101", "node") },
		want: []string{`phoenix_lxc_configs.json: 101.node: node "pve2" is not in phoenix_hypervisor_config.json: nodes (did you mean "pve"?)`}},
	{name: "cross/missing bridge", schema: schemaCross,
		edit: func(e *siteEdit) { e.set(vm, "vmbr1", "1002", "network", "bridge") },
		want: []string{`phoenix_vm_configs.json: 1002.network.bridge: bridge "vmbr1" is not in phoenix_hypervisor_config.json: bridges (did you mean "vmbr0"?)`}},
	{name: "cross/storage without content", schema: schemaCross,
		edit: func(e *siteEdit) { e.set(lxc, "local", "103", "rootfs", "storage") },
		want: []string{`phoenix_lxc_configs.json: 103.rootfs.storage: storage "local" does not hold rootdir (phoenix_hypervisor_config.json: storage.local.content)`}},
	{name: "cross/template storage missing", schema: schemaCross,
		edit: func(e *siteEdit) {
			e.set(lxc, "nas:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst", "102", "template")
		},
		want: []string{`phoenix_lxc_configs.json: 102.template: storage "nas" is not in phoenix_hypervisor_config.json: storage`}},
	{name: "cross/duplicate hostname", schema: schemaCross,
		edit: func(e *siteEdit) { e.set(vm, "Traefik", "1002", "name") },
		want: []string{`phoenix_vm_configs.json: 1002.name: Traefik is also the name of phoenix_lxc_configs.json: 102.hostname`}},
	{name: "cross/clone from a guest", schema: schemaCross,
		edit: func(e *siteEdit) { e.set(vm, 1002, "1001", "clone_from") },
		want: []string{`phoenix_vm_configs.json: 1001.clone_from: 1002 is a guest of this site, not a template`}},
	{name: "cross/ca is a vm", schema: schemaCross,
		edit: func(e *siteEdit) { e.set(hyp, 1001, "ca", "vmid") },
		want: []string{
			`phoenix_hypervisor_config.json: ca.vmid: guest 1001 is not an LXC: it is a VM in phoenix_vm_configs.json`,
			`phoenix_lxc_configs.json: 101.mount_points[1].host_path: /mnt/pve/quickOS/lxc-persistent-data/103/export/gateway is neither in guest 101's own dataset (/mnt/pve/quickOS/lxc-persistent-data/101) nor a declared export of another guest (phoenix_hypervisor_config.json: ca.exports)`,
			`phoenix_lxc_configs.json: 102.mount_points[1].host_path: /mnt/pve/quickOS/lxc-persistent-data/103/export/trust is neither in guest 102's own dataset (/mnt/pve/quickOS/lxc-persistent-data/102) nor a declared export of another guest (phoenix_hypervisor_config.json: ca.exports)`,
		}},
	{name: "cross/ca does not mount its private dir", schema: schemaCross,
		edit: func(e *siteEdit) { e.set(lxc, export103+"data", "103", "mount_points", "0", "host_path") },
		want: []string{`phoenix_hypervisor_config.json: ca.private_dir: guest 103 must mount /mnt/pve/quickOS/lxc-persistent-data/103/ssl (phoenix_lxc_configs.json: 103.mount_points)`}},
	{name: "cross/export consumer is a vm", schema: schemaCross,
		edit: func(e *siteEdit) { e.set(hyp, []any{102, 1001}, "ca", "exports", "trust", "consumers") },
		want: []string{`phoenix_hypervisor_config.json: ca.exports.trust.consumers[1]: guest 1001 is a VM; only LXCs can mount host directories`}},

	// Mounts: own dataset, or a declared export, read-only.
	{name: "mount/setuid CA dir", schema: schemaCross,
		edit: func(e *siteEdit) { e.set(lxc, "4777", "103", "mount_points", "0", "mode") },
		want: []string{`phoenix_lxc_configs.json: 103.mount_points[0].mode: mode 4777 sets setuid, setgid or sticky bits on a mounted directory; use plain permissions such as 0750`}},
	{name: "mount/world-writable", schema: schemaCross,
		edit: func(e *siteEdit) { e.set(lxc, "0777", "102", "mount_points", "0", "mode") },
		want: []string{`phoenix_lxc_configs.json: 102.mount_points[0].mode: mode 0777 lets anyone write /mnt/pve/quickOS/lxc-persistent-data/102/acme; a mounted directory is never world-writable`}},
	{name: "mount/CA dir group-readable", schema: schemaCross,
		edit: func(e *siteEdit) { e.set(lxc, "0750", "103", "mount_points", "0", "mode") },
		want: []string{`phoenix_lxc_configs.json: 103.mount_points[0].mode: mode 0750 opens the CA's private directory /mnt/pve/quickOS/lxc-persistent-data/103/ssl to group or others; it holds the keys and passwords: use 0700`}},
	{name: "mount/outside own dataset", schema: schemaCross,
		edit: func(e *siteEdit) {
			e.set(lxc, "/mnt/pve/quickOS/lxc-persistent-data/101/acme", "102", "mount_points", "0", "host_path")
		},
		want: []string{`phoenix_lxc_configs.json: 102.mount_points[0].host_path: /mnt/pve/quickOS/lxc-persistent-data/101/acme is neither in guest 102's own dataset (/mnt/pve/quickOS/lxc-persistent-data/102) nor a declared export of another guest (phoenix_hypervisor_config.json: ca.exports)`}},
	{name: "mount/host root", schema: schemaCross,
		edit: func(e *siteEdit) { e.set(lxc, "/etc", "102", "mount_points", "0", "host_path") },
		want: []string{`phoenix_lxc_configs.json: 102.mount_points[0].host_path: /etc is neither in guest 102's own dataset (/mnt/pve/quickOS/lxc-persistent-data/102) nor a declared export of another guest (phoenix_hypervisor_config.json: ca.exports)`}},
	{name: "mount/export read-write", schema: schemaCross,
		edit: func(e *siteEdit) { e.set(lxc, false, "101", "mount_points", "1", "read_only") },
		want: []string{`phoenix_lxc_configs.json: 101.mount_points[1].read_only: must be true: /mnt/pve/quickOS/lxc-persistent-data/103/export/gateway is another guest's export (phoenix_hypervisor_config.json: ca.exports.gateway)`}},
	{name: "mount/export of another consumer", schema: schemaCross,
		edit: func(e *siteEdit) {
			e.set(lxc, export103+"export/gateway", "102", "mount_points", "1", "host_path")
			e.set(lxc, "0755", "102", "mount_points", "1", "mode")
		},
		want: []string{`phoenix_lxc_configs.json: 102.mount_points[1].host_path: /mnt/pve/quickOS/lxc-persistent-data/103/export/gateway is export "gateway" of guest 103, which does not list 102 in phoenix_hypervisor_config.json: ca.exports.gateway.consumers`}},
	{name: "mount/owner differs", schema: schemaCross,
		edit: func(e *siteEdit) {
			e.set(hyp, []any{101, 102}, "ca", "exports", "gateway", "consumers")
			e.set(lxc, export103+"export/gateway", "102", "mount_points", "1", "host_path")
			e.set(lxc, "0750", "102", "mount_points", "1", "mode")
		},
		want: []string{`phoenix_lxc_configs.json: 102.mount_points[1]: owner 0:0 mode 0750 of /mnt/pve/quickOS/lxc-persistent-data/103/export/gateway differs from 0:0 0755 at phoenix_lxc_configs.json: 101.mount_points[1]`}},
	{name: "mount/ca private dir", schema: schemaCross,
		edit: func(e *siteEdit) {
			e.set(lxc, export103+"ssl", "101", "mount_points", "1", "host_path")
			e.set(lxc, "0700", "101", "mount_points", "1", "mode")
		},
		want: []string{`phoenix_lxc_configs.json: 101.mount_points[1].host_path: /mnt/pve/quickOS/lxc-persistent-data/103/ssl exposes the CA's private directory /mnt/pve/quickOS/lxc-persistent-data/103/ssl (phoenix_hypervisor_config.json: ca.private_dir) to guest 101; only the CA may mount it unless ca.unsafe_private_dir_consumers lists 101`}},
	{name: "mount/ca dataset root", schema: schemaCross,
		edit: func(e *siteEdit) {
			e.set(lxc, "/mnt/pve/quickOS/lxc-persistent-data/103", "102", "mount_points", "1", "host_path")
		},
		want: []string{`phoenix_lxc_configs.json: 102.mount_points[1].host_path: /mnt/pve/quickOS/lxc-persistent-data/103 exposes the CA's private directory /mnt/pve/quickOS/lxc-persistent-data/103/ssl (phoenix_hypervisor_config.json: ca.private_dir) to guest 102; only the CA may mount it unless ca.unsafe_private_dir_consumers lists 102`}},
	{name: "mount/ca private dir with override", schema: schemaNone,
		edit: func(e *siteEdit) {
			e.set(lxc, export103+"ssl", "101", "mount_points", "1", "host_path")
			e.set(lxc, "0700", "101", "mount_points", "1", "mode")
			e.set(hyp, []any{101}, "ca", "unsafe_private_dir_consumers")
		},
		want: nil},
}

// textPos is the line and column of the byte at offset delta from where
// marker starts in data.
func textPos(data []byte, marker string, delta int) (int, int) {
	i := strings.Index(string(data), marker)
	if i < 0 {
		return 0, 0
	}
	// Counted here rather than with the package's lineCol, so that a bug
	// there cannot hide. The example is ASCII: bytes are columns.
	off := i + delta
	line := 1 + strings.Count(string(data[:off]), "\n")
	return line, off - strings.LastIndex(string(data[:off]), "\n")
}

func TestExampleSiteIsValid(t *testing.T) {
	if _, err := Load(exampleDir); err != nil {
		t.Fatalf("the example site must be valid:\n%v", err)
	}
}

func TestDefects(t *testing.T) {
	for _, d := range defects {
		t.Run(d.name, func(t *testing.T) {
			e := newSiteEdit(t)
			d.edit(e)
			files := e.files()
			s, err := LoadFS(mapFS(files))
			got := errorLines(err)
			if d.wantAt != nil {
				d.want = d.wantAt(files)
			}
			if fmt.Sprint(got) != fmt.Sprint(d.want) {
				t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(d.want, "\n"))
			}
			if err == nil {
				if s == nil {
					t.Fatal("no error and no site")
				}
				return
			}
			if s != nil {
				t.Error("a site came back with errors")
			}
			var es Errors
			if !errors.As(err, &es) {
				t.Fatalf("error is %T, want Errors", err)
			}
		})
	}
}
