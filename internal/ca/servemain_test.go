package ca

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"phoenix/internal/tlsprobe"
)

func TestServeMainUsage(t *testing.T) {
	pwFile := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(pwFile, []byte("\n \n"), 0o600)
	goodPW := filepath.Join(t.TempDir(), "pw")
	os.WriteFile(goodPW, []byte("x\n"), 0o600)
	for name, tc := range map[string]struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		"help":           {[]string{"-h"}, 0, "usage: phoenix ca serve --ca-config FILE", ""},
		"long help":      {[]string{"--help"}, 0, "--map stringArray", ""},
		"nothing":        {nil, 2, "", "--ca-config is required"},
		"no password":    {[]string{"--ca-config", "x.json"}, 2, "", "--password-file is required"},
		"unknown flag":   {[]string{"--bogus"}, 2, "", "unknown flag: --bogus"},
		"stray argument": {[]string{"--ca-config", "x", "--password-file", "y", "extra"}, 2, "", `unexpected argument "extra"`},
		"bad map":        {[]string{"--ca-config", "x", "--password-file", "y", "--map", "relative=/x"}, 2, "", "want GUEST=HOST"},
		"missing pw":     {[]string{"--ca-config", "x", "--password-file", "/nonexistent/pw"}, 1, "", "no such file"},
		"empty pw":       {[]string{"--ca-config", "x", "--password-file", pwFile}, 1, "", "empty password"},
		"missing config": {[]string{"--ca-config", "/nonexistent/ca.json", "--password-file", goodPW}, 1, "", "/nonexistent/ca.json: no such file"},
	} {
		t.Run(name, func(t *testing.T) {
			var out, errb bytes.Buffer
			code := ServeMain(tc.args, &out, &errb)
			if code != tc.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tc.code, errb.String())
			}
			mustContain(t, "stdout", out.String(), tc.stdout)
			mustContain(t, "stderr", errb.String(), tc.stderr)
			if tc.code == 2 {
				mustContain(t, "stderr", errb.String(), "phoenix ca serve -h")
			}
		})
	}
}

// TestServeMainRuns runs "phoenix ca serve" on a copy of the CA with a
// path map and a free port, issues through it, and stops it with SIGTERM.
func TestServeMainRuns(t *testing.T) {
	dir := copyCA(t)
	pwFile := filepath.Join(t.TempDir(), "password.txt")
	os.WriteFile(pwFile, []byte(testPW+"\n\t \n"), 0o600) // trailing white space is trimmed
	outR, outW := io.Pipe()
	var errb bytes.Buffer
	code := make(chan int, 1)
	go func() {
		code <- ServeMain([]string{
			"--ca-config", hostPath(dir, ConfigFile), "--password-file", pwFile,
			"--map", testGuest + "=" + dir, "--listen", "127.0.0.1:0",
		}, outW, &errb)
		outW.Close()
	}()
	lines := bufio.NewScanner(outR)
	var url string
	deadline := time.AfterFunc(20*time.Second, func() { outW.CloseWithError(io.ErrUnexpectedEOF) })
	for lines.Scan() {
		if f := strings.Fields(lines.Text()); len(f) >= 5 && f[3] == "serving" {
			url = f[4]
			break
		}
	}
	deadline.Stop()
	if url == "" {
		syscall.Kill(os.Getpid(), syscall.SIGTERM) // handled by ServeMain if it still runs
		t.Fatalf("no serving line; exit %v, stderr %q", <-code, errb.String())
	}
	go io.Copy(io.Discard, outR)

	req := CertRequest{
		CAURL: url, Root: hostPath(dir, RootCertFile), Provisioner: testProv, Password: []byte(testProvPW),
		Subject: "served.test.internal", Cert: filepath.Join(t.TempDir(), "c.crt"), Key: filepath.Join(t.TempDir(), "c.key"),
		UID: -1, GID: -1,
	}
	if _, err := NewIssuer().Issue(context.Background(), req); err != nil {
		t.Errorf("issue through phoenix ca serve: %v", err)
	}
	addr := strings.TrimPrefix(url, "https://")
	if pr := tlsprobe.Verify(context.Background(), addr, "127.0.0.1", req.Root); !pr.OK || len(pr.Chain) != 3 {
		t.Errorf("the CA's own TLS: %+v", pr)
	}

	syscall.Kill(os.Getpid(), syscall.SIGTERM)
	select {
	case c := <-code:
		if c != 0 {
			t.Errorf("exit %d after SIGTERM, stderr %q", c, errb.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatal("phoenix ca serve did not stop on SIGTERM")
	}
	if strings.Contains(errb.String(), testPW) {
		t.Error("stderr shows the CA password")
	}
}
