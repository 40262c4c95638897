package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"phoenix/internal/machine"
	"phoenix/runtime"
)

// changesOf lists a run's changes as "action resource".
func changesOf(r simRun) []string {
	var out []string
	for _, c := range r.report.Changes {
		out = append(out, c.Action+" "+c.Resource)
	}
	return out
}

// TestDaemonRestart: the CA daemon in 103 is restarted only when something
// it depends on changed, or when it is not running; switching the site to
// the upstream step-ca rewrites the unit and restarts it.
func TestDaemonRestart(t *testing.T) {
	needRoot(t)
	repo, config, script := lxc103(t)
	root := filepath.Join(t.TempDir(), "root")
	const restart = "run cmd:pct exec 103 -- systemctl restart step-ca.service"

	first := changesOf(runSim(t, config, root, script))
	for _, want := range []string{
		"create file:lxc:103/usr/local/bin/phoenix",
		"create file:lxc:103/etc/systemd/system/step-ca.service",
		"run cmd:pct exec 103 -- systemctl daemon-reload",
		"run cmd:pct exec 103 -- systemctl enable step-ca.service",
		restart,
	} {
		if !slices.Contains(first, want) {
			t.Errorf("first run: no %q in\n%s", want, strings.Join(first, "\n"))
		}
	}
	if got := changesOf(runSim(t, config, root, script)); len(got) != 0 {
		t.Errorf("converged run changed:\n%s", strings.Join(got, "\n"))
	}

	// The daemon died: the next run restarts it, and only that.
	inactive := func(_ *runtime.Runtime, sr *machine.SimRunner) error {
		sr.Script([]string{"pct", "exec", "103", "--", "systemctl", "is-active"}, machine.Result{ExitCode: 3})
		return nil
	}
	if got := changesOf(runSim(t, config, root, script, inactive)); strings.Join(got, "\n") != restart {
		t.Errorf("with the daemon inactive: changes\n%s\nwant only %q", strings.Join(got, "\n"), restart)
	}

	// The site switches to the upstream step-ca: the unit changes (the
	// phoenix binary is left alone), systemd reloads it, and it restarts.
	stepConfig := filepath.Join(t.TempDir(), "config")
	if err := os.MkdirAll(stepConfig, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"phoenix_hypervisor_config.json", "phoenix_lxc_configs.json", "phoenix_vm_configs.json"} {
		b, err := os.ReadFile(filepath.Join(config, f))
		if err != nil {
			t.Fatal(err)
		}
		s := strings.ReplaceAll(string(b), `"$schema": "../docs/schema/`, `"$schema": "`+filepath.Join(repo, "docs", "schema")+"/")
		if f == "phoenix_hypervisor_config.json" {
			if !strings.Contains(s, `"daemon": "phoenix"`) {
				t.Fatal(`the example site no longer says "daemon": "phoenix"`)
			}
			s = strings.Replace(s, `"daemon": "phoenix"`, `"daemon": "step-ca"`, 1)
		}
		if err := os.WriteFile(filepath.Join(stepConfig, f), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got := changesOf(runSim(t, stepConfig, root, script))
	want := []string{
		"update file:lxc:103/etc/systemd/system/step-ca.service",
		"run cmd:pct exec 103 -- systemctl daemon-reload",
		"run cmd:pct exec 103 -- systemctl enable step-ca.service",
		restart,
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("switching to step-ca: changes\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if got := changesOf(runSim(t, stepConfig, root, script)); len(got) != 0 {
		t.Errorf("converged step-ca run changed:\n%s", strings.Join(got, "\n"))
	}
}
