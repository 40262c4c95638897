// Package clitest runs testscript scripts against the phoenix CLI: in a
// script, phoenix is the test binary running cli.Run, so a script tests
// the command an operator types without building it.
package clitest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"phoenix/internal/cli"
	"phoenix/internal/testkit"
)

// Main is TestMain for a package whose scripts run phoenix. setup, if not
// nil, runs before the tests (not in each phoenix a script runs) and
// returns what undoes it.
func Main(m *testing.M, setup func() (undo func())) {
	testscript.Main(tests{m, setup}, map[string]func(){
		"phoenix": func() { os.Exit(cli.Run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
	})
}

// tests runs setup and its undo around the tests: testscript.Main exits
// the process, so nothing after it would run.
type tests struct {
	m     *testing.M
	setup func() func()
}

func (t tests) Run() int {
	if t.setup != nil {
		defer t.setup()()
	}
	return t.m.Run()
}

// Setup sets $REPO to the repository (scripts use its config/ and
// scripts/) and passes $CI on, so that a script fails rather than skips
// where CI must run it.
func Setup(env *testscript.Env) error {
	repo, err := testkit.Repo()
	if err != nil {
		return err
	}
	env.Setenv("REPO", repo)
	env.Setenv("CI", os.Getenv("CI"))
	return nil
}

// Command is the phoenix on the script's PATH, to run in $WORK with the
// script's PATH, HOME and TMPDIR: for a daemon that the script starts and
// stops itself, which exec would wait for.
func Command(ts *testscript.TestScript, args ...string) *exec.Cmd {
	bin := ""
	for _, dir := range filepath.SplitList(ts.Getenv("PATH")) {
		p := filepath.Join(dir, "phoenix")
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			bin = p
			break
		}
	}
	if bin == "" {
		ts.Fatalf("no phoenix command on PATH")
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = ts.Getenv("WORK")
	cmd.Env = os.Environ()
	for _, k := range []string{"PATH", "HOME", "TMPDIR"} {
		cmd.Env = append(cmd.Env, k+"="+ts.Getenv(k))
	}
	return cmd
}

// Condition adds [ci] to scripts: true under CI=true, where a tool a
// script needs must be installed rather than skipped; and [root]: true
// when the tests run as root, for scripts that chown to other users to
// skip otherwise, saying why.
func Condition(cond string) (bool, error) {
	switch cond {
	case "ci":
		return os.Getenv("CI") == "true", nil
	case "root":
		return os.Geteuid() == 0, nil
	}
	return false, fmt.Errorf("unknown condition %q", cond)
}

// SimServe starts `phoenix sim serve` on a free loopback port with the
// flags given, until the script ends, and returns the URL and the
// certificate pin it prints for the operator.
func SimServe(ts *testscript.TestScript, args ...string) (url, fingerprint string) {
	cmd := Command(ts, append([]string{"sim", "serve", "--listen", "127.0.0.1:0"}, args...)...)
	cmd.Stderr = os.Stderr
	d, err := testkit.StartDaemon(cmd, 20*time.Second, func(l string) bool {
		if v, ok := strings.CutPrefix(l, "URL:"); ok {
			url = strings.TrimSpace(v)
		}
		if v, ok := strings.CutPrefix(l, "Fingerprint:"); ok {
			fingerprint = strings.TrimSpace(v)
		}
		return url != "" && fingerprint != ""
	})
	if err != nil {
		ts.Fatalf("simserve: phoenix sim serve printed no URL and fingerprint: %v", err)
	}
	ts.Defer(func() { d.Stop() })
	return url, fingerprint
}
