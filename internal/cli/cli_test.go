package cli_test

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"phoenix/internal/cli"
	"phoenix/internal/cli/clitest"
	"phoenix/internal/testkit"
)

func TestMain(m *testing.M) { clitest.Main(m, nil) }

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{Dir: "testdata/script", Setup: clitest.Setup, Condition: clitest.Condition,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){"simpaste": simPaste}})
}

// simPaste starts `phoenix sim serve` with the given flags on a free
// loopback port, writes the block it prints for pasting into a shell to
// $WORK/paste.sh (the lines after the blank line that ends the
// introduction), and sets PVE_BASE to the URL without the API path. The
// server is stopped when the script ends.
//
//	simpaste [sim serve flags]
func simPaste(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("simpaste does not support !")
	}
	cmd := clitest.Command(ts, append([]string{"sim", "serve", "--listen", "127.0.0.1:0", "--task-duration", "5ms"}, args...)...)
	cmd.Stderr = os.Stderr
	var block []string
	var url string
	inBlock := false
	d, err := testkit.StartDaemon(cmd, 20*time.Second, func(l string) bool {
		if v, ok := strings.CutPrefix(l, "URL:"); ok {
			url = strings.TrimSpace(v)
		}
		if strings.HasPrefix(l, "To run phoenix") {
			inBlock = true
		}
		if inBlock {
			block = append(block, l)
		}
		return strings.HasPrefix(l, "phoenix ")
	})
	if err != nil {
		ts.Fatalf("simpaste: phoenix sim serve printed no block ending in a phoenix command: %v", err)
	}
	ts.Defer(func() { d.Stop() })
	i := 0
	for i < len(block) && block[i] != "" {
		i++
	}
	ts.Check(os.WriteFile(filepath.Join(ts.Getenv("WORK"), "paste.sh"), []byte(strings.Join(block[i:], "\n")+"\n"), 0o644))
	ts.Setenv("PVE_BASE", strings.TrimSuffix(url, "/api2/json"))
}

// A malformed --target is a usage error found before the script runs.
func TestTargetUsageError(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "s.star")
	if err := os.WriteFile(script, []byte("print('ran')\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, target := range []string{"http://pve:8006", "pve:8006", "https://pve:8006/api", "https://pve:70000"} {
		var out, errb bytes.Buffer
		code := cli.Run([]string{"exec", "--sim", "--root", filepath.Join(dir, "root"), "--target", target, script}, nil, &out, &errb)
		if code != cli.ExitUsage {
			t.Errorf("--target %s: exit %d, want %d", target, code, cli.ExitUsage)
		}
		if !strings.Contains(errb.String(), "want https://HOST:8006") || strings.Contains(errb.String(), "ran") || out.Len() > 0 {
			t.Errorf("--target %s: stdout %q stderr %q", target, out.String(), errb.String())
		}
	}
}
