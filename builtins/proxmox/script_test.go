package proxmox_test

import (
	"bufio"
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"phoenix/internal/cli"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"phoenix": func() { os.Exit(cli.Run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
	})
}

// TestScripts runs the CLI acceptance scripts: scripts/guests.star under
// phoenix exec --sim, and against a separate phoenix sim serve process.
// $REPO is the repository; $WORK/config the example site renamed for the
// simulator (simConfig).
func TestScripts(t *testing.T) {
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			env.Setenv("CI", os.Getenv("CI"))
			env.Setenv("REPO", repo)
			return simConfig(filepath.Join(env.WorkDir, "config"))
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){"simserve": simServe},
	})
}

// simServe starts `phoenix sim serve` as its own process on a free
// loopback port, with a fresh root password, and exports what a client
// needs: PVE_URL, PHOENIX_PVE_FINGERPRINT and PHOENIX_PVE_PASSWORD. The
// process is stopped with SIGTERM when the script ends.
//
//	simserve [sim serve flags]
func simServe(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("simserve does not support !")
	}
	bin := ""
	for _, dir := range filepath.SplitList(ts.Getenv("PATH")) {
		if p := filepath.Join(dir, "phoenix"); fileExists(p) {
			bin = p
			break
		}
	}
	if bin == "" {
		ts.Fatalf("simserve: no phoenix command on PATH")
	}
	pwb := make([]byte, 12)
	if _, err := rand.Read(pwb); err != nil {
		ts.Fatalf("simserve: %v", err)
	}
	pw := hex.EncodeToString(pwb)
	cmd := exec.Command(bin, append([]string{"sim", "serve", "--listen", "127.0.0.1:0", "--root-password", pw}, args...)...)
	cmd.Dir = ts.Getenv("WORK")
	cmd.Env = os.Environ()
	for _, k := range []string{"PATH", "HOME", "TMPDIR"} {
		cmd.Env = append(cmd.Env, k+"="+ts.Getenv(k))
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		ts.Fatalf("simserve: %v", err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		ts.Fatalf("simserve: %v", err)
	}
	ts.Defer(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var url, fp string
	timeout := time.After(20 * time.Second)
	for url == "" || fp == "" {
		select {
		case l, ok := <-lines:
			if !ok {
				ts.Fatalf("simserve: phoenix sim serve exited before printing its URL and fingerprint")
			}
			if v, ok := strings.CutPrefix(l, "URL:"); ok {
				url = strings.TrimSpace(v)
			}
			if v, ok := strings.CutPrefix(l, "Fingerprint:"); ok {
				fp = strings.TrimSpace(v)
			}
		case <-timeout:
			ts.Fatalf("simserve: no URL and fingerprint after 20s")
		}
	}
	go func() {
		for range lines {
		}
	}()
	ts.Setenv("PVE_URL", url)
	ts.Setenv("PHOENIX_PVE_FINGERPRINT", fp)
	ts.Setenv("PHOENIX_PVE_PASSWORD", pw)
}

func fileExists(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir()
}
