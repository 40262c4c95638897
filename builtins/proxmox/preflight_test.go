package proxmox_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"phoenix/internal/cli"
	"phoenix/internal/pve"
	"phoenix/internal/pvesim"
	"phoenix/internal/pvesim/pvesimtest"
	"phoenix/internal/testkit"
)

// TestPreflightNamesEveryCause: a site naming a storage, a template, a
// node and a clone source PVE lacks stops both plan and exec before the
// first change (the host-side datasets come first in guests.star), with
// every cause listed.
func TestPreflightNamesEveryCause(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "config")
	if err := simConfig(cfg); err != nil {
		t.Fatal(err)
	}
	testkit.EditJSON(t, filepath.Join(cfg, "phoenix_hypervisor_config.json"), func(m map[string]any) {
		m["nodes"].(map[string]any)["pve9"] = map[string]any{"management_ip": "192.168.10.19"}
		fw := m["firewall"].(map[string]any)
		fw["flows"] = append(fw["flows"].([]any), map[string]any{"source": "nodes", "destination": "nodes", "proto": "udp", "port": 5405.0, "comment": "corosync"})
		m["storage"].(map[string]any)["tank"] = map[string]any{"type": "zfspool", "pool": "tank/data", "content": []any{"rootdir", "images"}}
	})
	testkit.EditJSON(t, filepath.Join(cfg, "phoenix_lxc_configs.json"), func(m map[string]any) {
		m["101"].(map[string]any)["rootfs"].(map[string]any)["storage"] = "tank"
		m["102"].(map[string]any)["template"] = "local:vztmpl/nosuch-os_1.0_amd64.tar.zst"
		m["103"].(map[string]any)["node"] = "pve9"
	})
	testkit.EditJSON(t, filepath.Join(cfg, "phoenix_vm_configs.json"), func(m map[string]any) {
		m["1001"].(map[string]any)["clone_from"] = 9999.0
		m["1002"].(map[string]any)["clone_from"] = 9999.0
	})
	root := filepath.Join(t.TempDir(), "root")
	script, err := filepath.Abs("../../scripts/guests.star")
	if err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"plan", "exec"} {
		var out, errb bytes.Buffer
		code := cli.Run([]string{cmd, "--sim", "--root", root, "--config", cfg, script}, nil, &out, &errb)
		if code != cli.ExitError {
			t.Fatalf("%s exited %d, want 1\n%s%s", cmd, code, out.String(), errb.String())
		}
		for _, want := range []string{
			"stopped before any change",
			"lxc:101: storage tank, for its root disk, does not exist on node pve (it has local, local-zfs)",
			"lxc:102: the template local:vztmpl/nosuch-os_1.0_amd64.tar.zst is not on node pve and PVE cannot download it",
			"lxc:103: node pve9 does not exist (the cluster has pve)",
			"vm:1001, vm:1002: its clone source vm:9999 (clone_from) does not exist in PVE",
		} {
			if !strings.Contains(errb.String(), want) {
				t.Errorf("%s: stderr lacks %q:\n%s", cmd, want, errb.String())
			}
		}
		if !strings.HasPrefix(out.String(), "0 changed, 0 unchanged") {
			t.Errorf("%s reported changes:\n%s", cmd, out.String())
		}
	}
	if _, err := os.Stat(filepath.Join(root, "mnt/pve/quickOS/lxc-persistent-data")); err == nil {
		t.Error("exec made the persistent-data directory before stopping")
	}
}

// A privilege-separated token that may only read: the preflight names
// the privileges it lacks for every guest, as PVE's /access/permissions
// tells, and nothing is created. Without the preflight PVE refuses the
// first create with its 403.
func TestPreflightPrivileges(t *testing.T) {
	ro := "root@pam!ro"
	h := startSim(t, pvesim.Options{Tokens: []string{ro + "=s3cret"}, TaskDuration: time.Millisecond,
		TokenPrivileges: map[string][]string{ro: {"VM.Audit", "Sys.Audit", "Datastore.Audit"}}}, pve.Auth{}, pvesimtest.Fast)
	roAuth, err := pve.ParseToken(ro + "=s3cret")
	if err != nil {
		t.Fatal(err)
	}
	c := h.Connect(t, roAuth, pvesimtest.Fast)
	cfg := filepath.Join(t.TempDir(), "config")
	if err := simConfig(cfg); err != nil {
		t.Fatal(err)
	}
	script, err := filepath.Abs("../../scripts/guests.star")
	if err != nil {
		t.Fatal(err)
	}
	rt := newRun(t, filepath.Join(t.TempDir(), "root"), cfg, false, h, c)
	err = rt.Preflight(script)
	for _, want := range []string{
		"  - lxc:101, lxc:102, lxc:103, vm:1001, vm:1002: creating it needs VM.Allocate on /vms/VMID, which the API token root@pam!ro lacks\n",
		"its root disk needs Datastore.AllocateSpace on /storage/local-zfs, which the API token root@pam!ro lacks",
		"vm:1001, vm:1002: cloning vm:9000 needs VM.Clone on /vms/9000",
	} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("preflight: %v\nwant %q", err, want)
		}
	}
	_, err = c.CreateLXC(context.Background(), "pve", 150, pve.Config{"ostemplate": "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst", "rootfs": "local-zfs:1"})
	if err == nil || !strings.Contains(err.Error(), "403 Permission check failed (/vms/150, VM.Allocate)") {
		t.Errorf("create with a read-only token: %v", err)
	}
}
