// Package testkit holds what phoenix's tests share across packages: the
// repository and the binary built from it, tools that CI must have,
// daemons a test starts and stops, and a throwaway PKI served over TLS.
//
// It imports no phoenix package, so that any package's internal tests
// can use it without an import cycle.
package testkit

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// InCI reports whether tests run in CI, where a missing tool is a failure.
func InCI() bool { return os.Getenv("CI") == "true" }

// Need fails the test in CI, or skips it elsewhere, saying why it cannot
// run.
func Need(t testing.TB, why string) {
	t.Helper()
	if InCI() {
		t.Fatalf("%s, and CI must run this test", why)
	}
	t.Skipf("skipped: %s", why)
}

// TimingEnv, set to 1, turns on the wall-clock ratio checks. They fail
// under -race or on a loaded machine, so `go test ./...` does not make
// them: it runs what they count, and logs the times.
const TimingEnv = "PHOENIX_TIMING"

// Timing reports whether wall-clock ratios are measured and checked.
func Timing() bool { return os.Getenv(TimingEnv) == "1" }

// NeedTiming skips a test that only measures time unless Timing.
func NeedTiming(t testing.TB) {
	t.Helper()
	if !Timing() {
		t.Skipf("skipped: a wall-clock measurement; run with %s=1", TimingEnv)
	}
}

// NeedRoot Needs root for a test that does what only root may (chown to
// another user, mount): why says what that is.
func NeedRoot(t testing.TB, why string) {
	t.Helper()
	if os.Geteuid() != 0 {
		Need(t, "not root, and "+why)
	}
}

// Tool returns the path of the command name, or Needs it.
func Tool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		Need(t, name+" is missing")
	}
	return p
}

// Repo returns the repository's root: the nearest directory above the
// working directory (a package's, under go test) that holds go.mod.
func Repo() (string, error) { return findRepo() }

var findRepo = sync.OnceValues(func() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("go.mod not found above the working directory")
		}
		dir = parent
	}
})

// RepoDir is Repo for a test.
func RepoDir(t testing.TB) string {
	t.Helper()
	dir, err := Repo()
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// Reference reads name from the shared directory beside the repository,
// where reference data too large to vendor is kept (Proxmox VE's API
// schema); without it the test is Needed.
func Reference(t testing.TB, name string) []byte {
	t.Helper()
	p := filepath.Join(RepoDir(t), "..", "shared", filepath.FromSlash(name))
	data, err := os.ReadFile(p)
	if err != nil {
		Need(t, fmt.Sprintf("no ../shared/%s beside the repository (%v)", name, err))
	}
	return data
}

// Phoenix builds the phoenix binary, for tests that time it or drive it
// on a terminal as an operator would.
func Phoenix(t testing.TB) string {
	t.Helper()
	return Build(t, ".", "phoenix")
}

// Build builds the module's package pkg (a path from the repository's
// root) as name in the test's temporary directory and returns the
// binary; without the go command the test is Needed. The go build cache
// makes building again cheap.
func Build(t testing.TB, pkg, name string) string {
	t.Helper()
	goTool := Tool(t, "go")
	bin := filepath.Join(t.TempDir(), name)
	cmd := exec.Command(goTool, "build", "-o", bin, pkg)
	cmd.Dir = RepoDir(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// StepPath makes a scratch directory for the test binary and points
// $STEPPATH into it: smallstep's pki package reads $STEPPATH once per
// process and would otherwise write under $HOME. It is for TestMain, so
// a failure exits; remove deletes the directory.
func StepPath(prefix string) (scratch string, remove func()) {
	scratch, err := os.MkdirTemp("", prefix)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("STEPPATH", filepath.Join(scratch, "steppath"))
	return scratch, func() { os.RemoveAll(scratch) }
}

// Prerequisites are, for a site script (by its path from the
// repository's root), the scripts that must have converged on the same
// root before it runs: a consumer of the CA needs lxc_103.star's export.
// Tests that run every script of scripts/ on a fresh root apply these
// first.
var Prerequisites = map[string][]string{
	"scripts/lxc_101.star": {"scripts/lxc_103.star"},
	"scripts/renew.star":   {"scripts/lxc_103.star", "scripts/lxc_101.star"},
}
