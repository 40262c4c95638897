package site

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"phoenix/internal/testkit"
)

// The performance target: validating a site of 2,000 guests and 20,000
// DNS records takes at most half the time jq needs merely to parse and
// merge the same three files.
//
//	PHOENIX_TIMING=1 go test ./internal/site -run TestValidateVersusJQ -v
//
// Without PHOENIX_TIMING=1 it only checks that the generated site is valid.
const (
	perfGuests  = 2000
	perfRecords = 20000
	perfRuns    = 11
)

// generateSite writes a valid site of n guests (half LXCs, half VMs) with
// records DNS records in all, based on the example's hypervisor file.
func generateSite(t testing.TB, dir string, n, records int) {
	t.Helper()
	var h map[string]any
	if err := json.Unmarshal(readExample(t)[hyp], &h); err != nil {
		t.Fatal(err)
	}
	// A /20 bridge holds 4,094 hosts.
	h["bridges"] = map[string]any{"vmbr0": map[string]any{"cidr": "10.16.0.0/20", "gateway": "10.16.0.1"}}
	dns := h["dns"].(map[string]any)
	dns["listen_address"] = "10.16.0.1"
	dns["zones"] = map[string]any{"site.internal": map[string]any{
		"internal": []any{map[string]any{"name": "host.site.internal", "address": "10.16.0.1"}}}}
	ca := h["ca"].(map[string]any)
	ca["vmid"] = 200
	ca["dns_names"] = []any{"ca.site.internal"}
	ca["exports"] = map[string]any{"trust": map[string]any{"path": "export/trust", "consumers": []any{202}}}
	var flows []any
	lxcs, vms := map[string]any{}, map[string]any{}
	ip := netip.MustParseAddr("10.16.0.10")
	perGuest := records / n
	for i := 0; i < n; i++ {
		vmid := 200 + i
		ipp := netip.PrefixFrom(ip, 20).String()
		ip = ip.Next()
		var recs []any
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
	for name, v := range map[string]any{HypervisorFile: h, LXCFile: lxcs, VMFile: vms} {
		b, err := json.MarshalIndent(v, "", "  ")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

func timeCmd(t *testing.T, cmd *exec.Cmd) time.Duration {
	t.Helper()
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%v: %v\n%s", cmd.Args, err, out)
	}
	return time.Since(start)
}

func TestValidateVersusJQ(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the comparison with jq takes a few seconds")
	}
	jq := testkit.Tool(t, "jq")
	dir := t.TempDir()
	generateSite(t, dir, perfGuests, perfRecords)
	s, err := Load(dir)
	if err != nil {
		t.Fatalf("the generated site must be valid: %v", err)
	}
	if g, r := len(s.Guests()), len(s.Records()); g != perfGuests || r < perfRecords {
		t.Fatalf("generated %d guests and %d records", g, r)
	}
	if !testkit.Timing() {
		return
	}
	var size int64
	for _, f := range Files {
		st, err := os.Stat(filepath.Join(dir, f))
		if err != nil {
			t.Fatal(err)
		}
		size += st.Size()
	}
	// The real binary, so its start-up counts as an operator would see it.
	phoenix := testkit.Phoenix(t)
	paths := []string{filepath.Join(dir, HypervisorFile), filepath.Join(dir, LXCFile), filepath.Join(dir, VMFile)}
	var jqT, procT, inT []time.Duration
	// Interleaved, so that both see the same machine load.
	for i := 0; i < perfRuns; i++ {
		jqT = append(jqT, timeCmd(t, exec.Command(jq, append([]string{"-s", ".[0] * .[1] * .[2]"}, paths...)...)))
		procT = append(procT, timeCmd(t, exec.Command(phoenix, "validate", "--config", dir)))
		start := time.Now()
		if err := Validate(dir); err != nil {
			t.Fatal(err)
		}
		inT = append(inT, time.Since(start))
	}
	j, p, in := median(jqT), median(procT), median(inT)
	t.Logf("site: %d guests, %d DNS records, %.1f MB in 3 files; medians of %d runs", perfGuests, len(s.Records()), float64(size)/1e6, perfRuns)
	t.Logf("jq -s '.[0] * .[1] * .[2]' (parse + merge): %v", j.Round(time.Millisecond/10))
	t.Logf("phoenix validate (process):                  %v  (%.2fx jq)", p.Round(time.Millisecond/10), float64(p)/float64(j))
	t.Logf("validate, in process:                        %v  (%.2fx jq)", in.Round(time.Millisecond/10), float64(in)/float64(j))
	if float64(p) > 0.5*float64(j) {
		t.Errorf("validation as a process takes %v, more than half of jq's %v", p, j)
	}
}

func BenchmarkLoadLargeSite(b *testing.B) {
	dir := b.TempDir()
	generateSite(b, dir, perfGuests, perfRecords)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := Load(dir); err != nil {
			b.Fatal(err)
		}
	}
}
