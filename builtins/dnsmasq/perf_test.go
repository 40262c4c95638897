package dnsmasq_test

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"phoenix/internal/dnsmasq"
	"phoenix/internal/site"
	"phoenix/internal/testkit"
)

// The figures in docs/performance.md. Wall-clock ratios stay out of the
// default test run:
//
//	PHOENIX_TIMING=1 go test ./builtins/dnsmasq -run 'TestPerf' -v -count=1

// The old approach, as a jq pipeline over the same three files: the
// records of both views, A and AAAA, as "address name" lines, internal
// view first, each sorted by name, duplicates dropped.
const jqProgram = `
.[0] as $h
| ([$h.dns.zones[] | (.internal // [])[] | {v: "internal", n: .name, a: .address}]
 + [$h.dns.zones[] | (.external // [])[] | {v: "external", n: .name, a: .address}]
 + [.[1], .[2] | .[] | .network.ip as $ip | (.dns_records // [])[]
    | {n: .name, a: (.address // (if .cname then null else ($ip | sub("/.*$"; "")) end))} as $r
    | ((.view // "internal") | if . == "both" then "internal", "external" else . end) as $v
    | $r + {v: $v}])
| map(select(.a != null))
| unique_by([.v, (.n | ascii_downcase), .a])
| sort_by((.v != "internal"), (.n | ascii_downcase), .a)
| .[] | "\(.a) \(.n)"`

// generate writes a valid site with about n DNS records (100 per guest,
// guests alternating LXC and VM), on the example's hypervisor file.
func generate(t testing.TB, dir string, n int) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testkit.RepoDir(t), "config", site.HypervisorFile))
	if err != nil {
		t.Fatal(err)
	}
	var h map[string]any
	if err := json.Unmarshal(b, &h); err != nil {
		t.Fatal(err)
	}
	h["bridges"] = map[string]any{"vmbr0": map[string]any{"cidr": "10.16.0.0/20", "gateway": "10.16.0.1"}}
	dns := h["dns"].(map[string]any)
	dns["listen_address"] = "10.16.0.1"
	zones := dns["zones"].(map[string]any)
	delete(zones, "phoenix.internal")
	zones["site.internal"] = map[string]any{"internal": []any{map[string]any{"name": "host.site.internal", "address": "10.16.0.1"}}}
	ca := h["ca"].(map[string]any)
	ca["vmid"] = 200
	ca["dns_names"] = []any{"ca.site.internal"}
	ca["exports"] = map[string]any{}
	h["firewall"] = map[string]any{"flows": []any{}}
	perGuest := min(n, 100)
	guests := max(1, n/perGuest)
	lxcs, vms := map[string]any{}, map[string]any{}
	ip := netip.MustParseAddr("10.16.0.10")
	for i := 0; i < guests; i++ {
		vmid := 200 + i
		ipp := netip.PrefixFrom(ip, 20).String()
		ip = ip.Next()
		recs := make([]any, perGuest)
		for r := range recs {
			recs[r] = map[string]any{"name": fmt.Sprintf("svc%d.g%d.site.internal", r, vmid)}
		}
		if i%2 == 0 {
			data := fmt.Sprintf("/mnt/pve/quickOS/lxc-persistent-data/%d", vmid)
			mounts := []any{map[string]any{"host_path": data + "/data", "container_path": "/srv/data",
				"owner_uid": 0, "owner_gid": 0, "mode": "0750"}}
			if vmid == 200 {
				mounts = append(mounts, map[string]any{"host_path": data + "/ssl", "container_path": "/etc/step-ca/ssl",
					"owner_uid": 0, "owner_gid": 0, "mode": "0700"})
			}
			lxcs[fmt.Sprint(vmid)] = map[string]any{
				"node": "pve", "hostname": fmt.Sprintf("lxc-%d", vmid),
				"template":  "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst",
				"rootfs":    map[string]any{"storage": "local-zfs", "size_gb": 8},
				"memory_mb": 512, "cores": 1,
				"network":    map[string]any{"bridge": "vmbr0", "ip": ipp},
				"nameserver": "10.16.0.1", "mount_points": mounts, "dns_records": recs,
			}
		} else {
			vms[fmt.Sprint(vmid)] = map[string]any{
				"node": "pve", "name": fmt.Sprintf("vm-%d", vmid), "clone_from": 9000,
				"memory_mb": 2048, "cores": 2,
				"network":    map[string]any{"bridge": "vmbr0", "ip": ipp},
				"nameserver": "10.16.0.1", "dns_records": recs,
			}
		}
	}
	for name, v := range map[string]any{site.HypervisorFile: h, site.LXCFile: lxcs, site.VMFile: vms} {
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

// cpu is the user and system time of a finished command and its children.
func cpu(cmd *exec.Cmd) time.Duration {
	return cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
}

// recordLines are the records of the rendered hosts files, internal view
// first.
func recordLines(t testing.TB, root string) string {
	var out []string
	for _, view := range dnsmasq.Views {
		b, err := os.ReadFile(filepath.Join(root, dnsmasq.HostsPath(view, dnsmasq.HostsDir)))
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			if !strings.HasPrefix(l, "#") {
				out = append(out, l)
			}
		}
	}
	return strings.Join(out, "\n") + "\n"
}

// TestPerfVersusJQ renders and applies the records of generated sites
// with `phoenix exec --sim scripts/dns_server.star` into a fresh root (so
// every file is written, dnsmasq --test runs for real and the restarts
// are recorded), against the jq pipeline writing the same lines to a
// file. Alternating runs, medians; the target is 5x at 100,000 records.
func TestPerfVersusJQ(t *testing.T) {
	testkit.NeedTiming(t)
	jq := testkit.Tool(t, "jq")
	testkit.Tool(t, "dnsmasq")
	phoenix := phoenixBinary(t)
	repo := testkit.RepoDir(t)
	for _, n := range []int{10, 100, 1000, 10000, 100000} {
		dir := t.TempDir()
		cfg := filepath.Join(dir, "config")
		os.Mkdir(cfg, 0o755)
		generate(t, cfg, n)
		s, err := site.Load(cfg)
		if err != nil {
			t.Fatalf("the generated site is invalid: %v", err)
		}
		runs := 11
		if n >= 100000 {
			runs = 5
		}
		// Wall time, and CPU time (user + system), which the machine's
		// load does not inflate.
		var pT, jT, pC, jC []time.Duration
		for i := 0; i < runs; i++ {
			root := filepath.Join(dir, fmt.Sprint("root", i))
			cmd := exec.Command(phoenix, "exec", "--sim", "--root", root, "--config", cfg, "scripts/dns_server.star")
			cmd.Dir = repo
			start := time.Now()
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("phoenix: %v\n%s", err, out)
			}
			pT = append(pT, time.Since(start))
			pC = append(pC, cpu(cmd))

			out := filepath.Join(dir, fmt.Sprint("jq", i))
			cmd = exec.Command("sh", "-c", `"$0" -r -s "$1" "$2" "$3" "$4" > "$5"`, jq, jqProgram,
				filepath.Join(cfg, site.HypervisorFile), filepath.Join(cfg, site.LXCFile), filepath.Join(cfg, site.VMFile), out)
			start = time.Now()
			if b, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("jq: %v\n%s", err, b)
			}
			jT = append(jT, time.Since(start))
			jC = append(jC, cpu(cmd))
			if i == 0 {
				want, err := os.ReadFile(out)
				if err != nil {
					t.Fatal(err)
				}
				if got := recordLines(t, root); got != string(want) {
					t.Fatalf("%d records: phoenix and jq disagree (%d vs %d bytes)", n, len(got), len(want))
				}
			}
			os.RemoveAll(root)
		}
		p, j := median(pT), median(jT)
		pc, jc := median(pC), median(jC)
		t.Logf("%7d records: wall phoenix %8v  jq %8v  jq/phoenix %.1fx;  cpu phoenix %8v  jq %8v  jq/phoenix %.1fx  (medians of %d)",
			len(s.Records()), p.Round(100*time.Microsecond), j.Round(100*time.Microsecond), float64(j)/float64(p),
			pc.Round(100*time.Microsecond), jc.Round(100*time.Microsecond), float64(jc)/float64(pc), runs)
		if n == 100000 && float64(j) < 5*float64(p) {
			t.Errorf("at %d records phoenix is only %.1fx faster than jq (target 5x)", n, float64(j)/float64(p))
		}
	}
}

// TestPerfFirstAnswer: a running dnsmasq answers a 10,000-record apply
// (a new hostsdir file, no restart) this long after the apply started,
// and a restarted one this long after it was started.
func TestPerfFirstAnswer(t *testing.T) {
	testkit.NeedTiming(t)
	l := newLab(t)
	l.converge("--sim")
	l.start("dnsmasq")
	// answered asks, without a pause, until name is answered, and gives
	// the time since start.
	answered := func(name string, start time.Time, failure string) time.Duration {
		for {
			if r := query(t, nsGuest, internalListen, name, "A"); answers(r, "10.0.0.101") {
				return time.Since(start)
			}
			if time.Since(start) > 10*time.Second {
				t.Fatalf("%s not answered %s", name, failure)
			}
		}
	}
	var applyT, answerT, startT []time.Duration
	for i := 0; i < 5; i++ {
		// 10,000 new names on guest 101, none of them known yet.
		l.editJSON("phoenix_lxc_configs.json", func(m map[string]any) {
			g := m["101"].(map[string]any)
			recs := []any{map[string]any{"name": "gateway.phoenix.internal"}, map[string]any{"name": "www.example.com"}}
			for r := 0; r < 10000; r++ {
				recs = append(recs, map[string]any{"name": fmt.Sprintf("r%d-%d.phoenix.internal", i, r)})
			}
			g["dns_records"] = recs
		})
		last := fmt.Sprintf("r%d-9999.phoenix.internal", i)
		start := time.Now()
		l.converge()
		applyT = append(applyT, time.Since(start))
		answerT = append(answerT, answered(last, start, "after 10 s"))

		l.stop("dnsmasq")
		start = time.Now()
		l.start("dnsmasq")
		startT = append(startT, answered(last, start, "after a restart"))
	}
	t.Logf("10,000-record apply (phoenix exec, process): %v; first answer after the apply started: %v; after a dnsmasq start: %v (medians of 5)",
		median(applyT).Round(time.Millisecond), median(answerT).Round(time.Millisecond), median(startT).Round(time.Millisecond))
}
