package repl_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"phoenix/internal/cli"
	"phoenix/internal/testkit"
)

// TestPreflightBeforeStatement: a statement that would certainly fail
// (a template PVE lacks) stops before its first change, as a script
// does, naming the cause; the session goes on, and statements that do not
// touch the family are not held up by it.
func TestPreflightBeforeStatement(t *testing.T) {
	cfg := testkit.SiteConfig(t)
	testkit.EditJSON(t, filepath.Join(cfg, "phoenix_lxc_configs.json"), func(m map[string]any) {
		m["103"].(map[string]any)["template"] = "local:vztmpl/nosuch-os_1.0_amd64.tar.zst"
	})
	root := filepath.Join(t.TempDir(), "root")
	in := strings.NewReader("x = 41\nproxmox.lxc_ensure(site.lxc(103), data = site.hypervisor.zfs.persistent_data)\nx + 1\n")
	var out, errb bytes.Buffer
	code := cli.Run([]string{"repl", "--sim", "--yes", "--root", root, "--config", cfg}, in, &out, &errb)
	if code != cli.ExitError {
		t.Errorf("exit %d, want %d (a statement failed)", code, cli.ExitError)
	}
	for _, want := range []string{
		"proxmox: the run would fail; stopped before any change:",
		"lxc:103: the template local:vztmpl/nosuch-os_1.0_amd64.tar.zst is not on node pve",
	} {
		if !strings.Contains(errb.String(), want) {
			t.Errorf("stderr lacks %q:\n%s", want, errb.String())
		}
	}
	if strings.Contains(out.String(), "create") {
		t.Errorf("the statement planned or applied changes:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "42") {
		t.Errorf("the session did not go on:\n%s", out.String())
	}
	if _, err := os.Stat(filepath.Join(root, "mnt/pve/quickOS/lxc-persistent-data/103")); err == nil {
		t.Error("the persistent-data directory was made before the preflight stopped the statement")
	}
}
