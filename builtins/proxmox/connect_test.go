package proxmox_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"phoenix/builtins"
	"phoenix/internal/machine"
	"phoenix/internal/pve"
	"phoenix/internal/pvesim"
	"phoenix/internal/pvesim/pvesimtest"
	"phoenix/internal/testkit"
	"phoenix/runtime"
)

func clearPVEEnv(t *testing.T) {
	for _, k := range []string{pve.EnvToken, pve.EnvPassword, pve.EnvUser, pve.EnvFingerprint, pve.EnvCAFile, pve.EnvInsecure} {
		t.Setenv(k, "")
	}
}

// siteWithPVE writes the simulator-ready example site with its pve
// section pointing at url.
func siteWithPVE(t *testing.T, dir string, pveSection map[string]any) {
	t.Helper()
	if err := simConfig(dir); err != nil {
		t.Fatal(err)
	}
	testkit.EditJSON(t, filepath.Join(dir, "phoenix_hypervisor_config.json"), func(h map[string]any) {
		h["pve"] = pveSection
	})
}

// TestConnectionFromSiteConfig is a run without --sim: the endpoint, a
// 0600 credentials file and the CA come from the site config's pve
// section, with site paths under --root.
func TestConnectionFromSiteConfig(t *testing.T) {
	clearPVEEnv(t)
	h := startSim(t, pvesim.Options{}, pve.Auth{}, pvesimtest.Fast)
	root := t.TempDir()
	cfg := filepath.Join(t.TempDir(), "config")
	siteWithPVE(t, cfg, map[string]any{
		"endpoint":         h.URL,
		"credentials_file": "/etc/phoenix/pve-credentials",
		"ca_file":          "/etc/pve/pve-root-ca.pem",
	})
	for p, data := range map[string]string{
		"etc/phoenix/pve-credentials": pve.EnvPassword + "=" + rootPassword + "\n",
		"etc/pve/pve-root-ca.pem":     string(h.Server.CertPEM()),
	} {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	runNodes := func() error {
		rt, err := runtime.New(context.Background(), runtime.Options{
			RootDir: root, ConfigDir: cfg, Stderr: testLog{t}, Families: builtins.All(),
			Runner: machine.NewSimRunner(),
		})
		if err != nil {
			t.Fatal(err)
		}
		defer rt.Close()
		p := filepath.Join(t.TempDir(), "nodes.star")
		os.WriteFile(p, []byte(`print([n.name for n in proxmox.nodes()])`), 0o644)
		_, err = rt.ExecScript(p)
		return err
	}
	if err := runNodes(); err != nil {
		t.Fatal(err)
	}
	// A credentials file others can read is refused, and says so.
	if err := os.Chmod(filepath.Join(root, "etc/phoenix/pve-credentials"), 0o644); err != nil {
		t.Fatal(err)
	}
	err := runNodes()
	if err == nil || !strings.Contains(err.Error(), "PVE credentials file /etc/phoenix/pve-credentials") || !strings.Contains(err.Error(), "has mode 0644: group or others can read it") {
		t.Fatalf("err = %v", err)
	}
	// The environment wins over the file.
	t.Setenv(pve.EnvPassword, rootPassword)
	if err := runNodes(); err != nil {
		t.Fatal(err)
	}
	t.Setenv(pve.EnvPassword, "wrong")
	if err := runNodes(); err == nil || !strings.Contains(err.Error(), "refused (environment)") {
		t.Fatalf("err = %v", err)
	}
}

// TestExecRouting: --guest-netns runs commands in the guest's namespace
// instead of through pct, and pct results can be scripted under --sim.
func TestExecRouting(t *testing.T) {
	h := startSim(t, pvesim.Options{}, pve.Auth{}, pvesimtest.Fast)
	root := filepath.Join(t.TempDir(), "root")
	rt := newRun(t, root, "", false, h, nil)
	sr := rt.Runner.(*machine.SimRunner)
	sr.Script([]string{"pct", "exec", "190", "--", "cat", "/etc/hostname"}, machine.Result{Stdout: []byte("ct190\n")})
	run(t, rt, ctSpec+`
load("@stdlib//assert.star", "assert")
proxmox.lxc_ensure(ct(190))
proxmox.lxc_start(190)
assert.eq(proxmox.lxc_exec(190, ["cat", "/etc/hostname"], read_only = True).stdout, "ct190\n")
`)
	var pct []string
	for _, c := range sr.Log() {
		if c.Argv[0] == "pct" {
			pct = append(pct, c.String())
		}
	}
	if got := strings.Join(pct, "\n"); got != "pct exec 190 -- cat /etc/hostname" {
		t.Fatalf("pct commands:\n%s", got)
	}

	rt2, err := runtime.New(context.Background(), runtime.Options{
		Sim: true, RootDir: filepath.Join(t.TempDir(), "root2"), Stderr: testLog{t},
		Families: builtins.All(), Flags: map[string]string{"guest-netns": "phx-{vmid}"},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer rt2.Close()
	rep := run(t, rt2, `
r = proxmox.lxc_exec(101, ["curl", "-sf", "https://ca.phoenix.internal:9000/health"], read_only = True)
proxmox.lxc_exec(103, ["systemctl", "reload", "step-ca"])
`)
	var cmds []string
	for _, c := range rt2.Runner.(*machine.SimRunner).Log() {
		cmds = append(cmds, c.String())
	}
	want := "ip netns exec phx-101 curl -sf https://ca.phoenix.internal:9000/health\nip netns exec phx-103 systemctl reload step-ca"
	if got := strings.Join(cmds, "\n"); got != want {
		t.Fatalf("commands:\n%s\nwant\n%s", got, want)
	}
	if got := changes(rep); got != "run cmd:ip netns exec phx-103 systemctl reload step-ca" {
		t.Fatalf("changes: %s", got)
	}
}
