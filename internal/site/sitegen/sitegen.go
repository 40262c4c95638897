// Package sitegen writes large valid sites for measurements: n guests
// (half containers, half VMs) with their DNS records, flows and bind
// mounts, on top of an example hypervisor file.
package sitegen

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"

	"phoenix/internal/site"
)

// Write writes the three site files into dir: n guests from VMID 200,
// records DNS records in all, and the example's hypervisor file (its
// bridge, DNS zones and CA rewritten to fit). A /20 bridge holds 4,094
// hosts, so n is at most 4,000.
func Write(dir string, example []byte, n, records int) error {
	if n < 1 || n > 4000 {
		return fmt.Errorf("sitegen: %d guests; want 1 to 4000", n)
	}
	var h map[string]any
	if err := json.Unmarshal(example, &h); err != nil {
		return fmt.Errorf("sitegen: example hypervisor file: %w", err)
	}
	delete(h, "$schema")
	h["bridges"] = map[string]any{"vmbr0": map[string]any{"cidr": "10.16.0.0/20", "gateway": "10.16.0.1"}}
	dns := h["dns"].(map[string]any)
	dns["listen_address"] = "10.16.0.1"
	dns["zones"] = map[string]any{"site.internal": map[string]any{
		"internal": []any{map[string]any{"name": "host.site.internal", "address": "10.16.0.1"}}}}
	ca := h["ca"].(map[string]any)
	ca["vmid"] = 200
	ca["dns_names"] = []any{"ca.site.internal"}
	exports := map[string]any{"trust": map[string]any{"path": "export/trust", "consumers": []any{}}}
	if n > 2 {
		exports["trust"] = map[string]any{"path": "export/trust", "consumers": []any{202}}
	}
	ca["exports"] = exports
	var flows []any
	lxcs, vms := map[string]any{}, map[string]any{}
	ip := netip.MustParseAddr("10.16.0.10")
	perGuest := records / n
	for i := 0; i < n; i++ {
		vmid := 200 + i
		ipp := netip.PrefixFrom(ip, 20).String()
		ip = ip.Next()
		recs := []any{}
		for r := 0; r < perGuest; r++ {
			recs = append(recs, map[string]any{"name": fmt.Sprintf("svc%d.g%d.site.internal", r, vmid)})
		}
		flows = append(flows, map[string]any{"source": "guests", "destination": vmid, "proto": "tcp",
			"port": 1024 + i, "comment": fmt.Sprintf("service of guest %d", vmid)})
		if i%2 == 0 {
			data := fmt.Sprintf("/mnt/pve/quickOS/lxc-persistent-data/%d", vmid)
			mounts := []any{map[string]any{"host_path": data + "/data", "container_path": "/srv/data",
				"owner_uid": 0, "owner_gid": 0, "mode": "0750", "read_only": false}}
			switch vmid {
			case 200:
				mounts = append(mounts, map[string]any{"host_path": data + "/ssl", "container_path": "/etc/step-ca/ssl",
					"owner_uid": 0, "owner_gid": 0, "mode": "0700"})
			case 202:
				mounts = append(mounts, map[string]any{"host_path": "/mnt/pve/quickOS/lxc-persistent-data/200/export/trust",
					"container_path": "/etc/ssl/phoenix", "owner_uid": 0, "owner_gid": 0, "mode": "0755", "read_only": true})
			}
			lxcs[fmt.Sprint(vmid)] = map[string]any{
				"node": "pve", "hostname": fmt.Sprintf("lxc-%d", vmid),
				"template":  "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
				"rootfs":    map[string]any{"storage": "local-zfs", "size_gb": 8},
				"memory_mb": 512, "swap_mb": 512, "cores": 1,
				"network":    map[string]any{"name": "eth0", "bridge": "vmbr0", "ip": ipp, "gateway": "10.16.0.1", "firewall": true},
				"nameserver": "10.16.0.1", "searchdomain": "site.internal",
				"features": map[string]any{"nesting": true}, "unprivileged": true, "onboot": true,
				"mount_points": mounts, "dns_records": recs,
			}
		} else {
			vms[fmt.Sprint(vmid)] = map[string]any{
				"node": "pve", "name": fmt.Sprintf("vm-%d", vmid), "clone_from": 9000,
				"memory_mb": 2048, "cores": 2,
				"network":    map[string]any{"bridge": "vmbr0", "model": "virtio", "ip": ipp, "gateway": "10.16.0.1", "firewall": true},
				"nameserver": "10.16.0.1", "searchdomain": "site.internal", "onboot": true,
				"dns_records": recs,
			}
		}
	}
	h["firewall"] = map[string]any{"flows": flows}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, v := range map[string]any{site.HypervisorFile: h, site.LXCFile: lxcs, site.VMFile: vms} {
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}
