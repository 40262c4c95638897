package machine

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"phoenix/internal/testkit"
)

// Under --sim, host commands are recorded and answered, but the pure
// validators still run for real: a broken config must fail a plan too.
func TestSimRunnerRunsValidators(t *testing.T) {
	testkit.Tool(t, "dnsmasq")
	testkit.Tool(t, "nginx")
	dir := t.TempDir()
	good := filepath.Join(dir, "good.conf")
	bad := filepath.Join(dir, "bad.conf")
	os.WriteFile(good, []byte("port=5353\nno-resolv\n"), 0o644)
	os.WriteFile(bad, []byte("port=5353\nbogus-option=1\n"), 0o644)
	ngx := filepath.Join(dir, "nginx.conf")
	os.WriteFile(ngx, []byte("events {}\nhttp { server { listen 127.0.0.1:18080; no_such_directive on; } }\n"), 0o644)

	sr := NewSimRunner()
	sr.Passthrough(Installed(map[string][]string{"dnsmasq": {"--test"}, "nginx": {"-t"}}))
	run := func(argv ...string) Result {
		t.Helper()
		res, err := sr.Run(context.Background(), Cmd{Argv: argv})
		if err != nil {
			t.Fatalf("%v: %v", argv, err)
		}
		return res
	}
	if r := run("dnsmasq", "--test", "--conf-file="+good); r.ExitCode != 0 {
		t.Errorf("dnsmasq --test on a good config: exit %d: %s", r.ExitCode, r.Stderr)
	}
	if r := run("dnsmasq", "--test", "--conf-file="+bad); r.ExitCode == 0 || !strings.Contains(string(r.Stderr), "bad option at line 2") {
		t.Errorf("dnsmasq --test on a bad config: exit %d: %s", r.ExitCode, r.Stderr)
	}
	if r := run("nginx", "-t", "-p", dir, "-c", ngx); r.ExitCode == 0 || !strings.Contains(string(r.Stderr), "no_such_directive") {
		t.Errorf("nginx -t on a bad config: exit %d: %s", r.ExitCode, r.Stderr)
	}
	// Anything else is only recorded: a real dnsmasq would fail on the
	// bad config, the simulated one answers exit 0.
	if r := run("dnsmasq", "--conf-file="+bad); r.ExitCode != 0 {
		t.Errorf("dnsmasq without --test ran for real: exit %d", r.ExitCode)
	}
	if n := len(sr.Log()); n != 4 {
		t.Errorf("recorded %d commands, want 4", n)
	}
}
