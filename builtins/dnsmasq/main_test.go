package dnsmasq_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"phoenix/internal/testkit"
)

var bin struct {
	once sync.Once
	dir  string
	path string
	err  string
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bin.dir != "" {
		os.RemoveAll(bin.dir)
	}
	os.Exit(code)
}

// phoenixBinary is the phoenix command, built once for the package's
// tests (they drive it as an operator would).
func phoenixBinary(t *testing.T) string {
	t.Helper()
	goTool := testkit.Tool(t, "go")
	bin.once.Do(func() {
		dir, err := os.MkdirTemp("", "phoenix-dnsmasq-test-")
		if err != nil {
			bin.err = err.Error()
			return
		}
		bin.dir = dir
		cmd := exec.Command(goTool, "build", "-o", filepath.Join(dir, "phoenix"), ".")
		cmd.Dir = testkit.RepoDir(t)
		if out, err := cmd.CombinedOutput(); err != nil {
			bin.err = err.Error() + "\n" + string(out)
			return
		}
		bin.path = filepath.Join(dir, "phoenix")
	})
	if bin.err != "" {
		t.Fatalf("go build: %s", bin.err)
	}
	return bin.path
}
