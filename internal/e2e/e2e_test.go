// Package e2e holds phoenix's end-to-end tests of the private CA:
// scripts/lxc_103.star under --sim, `phoenix ca serve` as its own process,
// consumers issuing and verifying certificates over real TLS on loopback.
package e2e

import (
	"bufio"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"phoenix/internal/ca"
	"phoenix/internal/cli"
)

var scratch string

func TestMain(m *testing.M) {
	var err error
	scratch, err = os.MkdirTemp("", "phoenix-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// The pki package (the old script's way to make a CA) writes under
	// $STEPPATH, read once per process: keep it out of $HOME.
	os.Setenv("STEPPATH", filepath.Join(scratch, "steppath"))
	code := testscript.RunMain(m, map[string]func() int{
		"phoenix": func() int { return cli.Run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr) },
	})
	os.RemoveAll(scratch)
	os.Exit(code)
}

// TestScripts runs the CA's acceptance scripts in testdata/script. $REPO
// is the repository (scripts/ and config/ are used from it).
func TestScripts(t *testing.T) {
	needRoot(t)
	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			env.Setenv("REPO", repo)
			env.Setenv("TESTDATA", filepath.Join(repo, "internal", "e2e", "testdata", "star"))
			env.Setenv("CI", os.Getenv("CI"))
			env.Values["procs"] = &procs{}
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"caserve":     caServe,
			"tlsserve":    tlsServe,
			"stepinit":    stepInit,
			"shorten":     shortenIntermediate,
			"fingerprint": fingerprint,
			"treehash":    treeHash,
		},
	})
}

// procs are the phoenix ca serve processes a script started.
type procs struct{ cur *exec.Cmd }

// stopProc stops cmd with SIGTERM (a kill after 15 s) and returns how it
// exited.
func stopProc(cmd *exec.Cmd) error {
	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-time.After(15 * time.Second):
		cmd.Process.Kill()
		<-done
		return fmt.Errorf("did not stop within 15s of SIGTERM")
	}
}

// caServe starts `phoenix ca serve` as its own process on a free loopback
// port and exports CA_URL; its output goes to $WORK/caserve.log. The
// process is stopped with SIGTERM by `caserve stop` or when the script
// ends.
//
//	caserve [ca serve flags] | caserve stop
func caServe(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("caserve does not support !")
	}
	p := ts.Value("procs").(*procs)
	if len(args) == 1 && args[0] == "stop" {
		if p.cur == nil {
			ts.Fatalf("caserve stop: nothing is running")
		}
		err := stopProc(p.cur)
		p.cur = nil
		if err != nil {
			ts.Fatalf("caserve stop: phoenix ca serve: %v", err)
		}
		return
	}
	if p.cur != nil {
		ts.Fatalf("caserve: a CA is already running; caserve stop first")
	}
	bin := lookPath(ts, "phoenix")
	logPath := ts.MkAbs("caserve.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		ts.Fatalf("caserve: %v", err)
	}
	cmd := exec.Command(bin, append([]string{"ca", "serve", "--listen", "127.0.0.1:0"}, args...)...)
	cmd.Dir = ts.Getenv("WORK")
	cmd.Env = os.Environ()
	for _, k := range []string{"PATH", "HOME", "TMPDIR"} {
		cmd.Env = append(cmd.Env, k+"="+ts.Getenv(k))
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		ts.Fatalf("caserve: %v", err)
	}
	cmd.Stderr = logf
	if err := cmd.Start(); err != nil {
		ts.Fatalf("caserve: %v", err)
	}
	logf.Close()
	p.cur = cmd
	ts.Defer(func() {
		if p.cur == cmd {
			stopProc(cmd)
			p.cur = nil
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
	timeout := time.After(30 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				log, _ := os.ReadFile(logPath)
				ts.Fatalf("caserve: phoenix ca serve exited before serving:\n%s", log)
			}
			if rest, ok := strings.CutPrefix(l, "phoenix ca serve: serving "); ok {
				url, _, _ := strings.Cut(rest, " ")
				ts.Setenv("CA_URL", url)
				go func() {
					for range lines {
					}
				}()
				return
			}
		case <-timeout:
			ts.Fatalf("caserve: not serving after 30s")
		}
	}
}

func lookPath(ts *testscript.TestScript, name string) string {
	for _, dir := range filepath.SplitList(ts.Getenv("PATH")) {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p
		}
	}
	ts.Fatalf("no %s command on PATH", name)
	return ""
}

// tlsServe serves a certificate chain and key over TLS on a free loopback
// port, as the gateway's nginx would, and exports the address as VAR.
//
//	tlsserve VAR CERT KEY
func tlsServe(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: tlsserve VAR CERT KEY")
	}
	pair, err := tls.LoadX509KeyPair(ts.MkAbs(args[1]), ts.MkAbs(args[2]))
	if err != nil {
		ts.Fatalf("tlsserve: %v", err)
	}
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12})
	if err != nil {
		ts.Fatalf("tlsserve: %v", err)
	}
	ts.Defer(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func(c net.Conn) {
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				if err := c.(*tls.Conn).Handshake(); err == nil {
					io.WriteString(c, "HTTP/1.0 204 No Content\r\n\r\n")
				}
			}(c)
		}
	}()
	ts.Setenv(args[0], l.Addr().String())
}

// fingerprint sets VAR to the first 12 hex digits of the SHA-256
// fingerprint of the certificate in FILE (how backups are named).
//
//	fingerprint VAR FILE
func fingerprint(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: fingerprint VAR FILE")
	}
	data := ts.ReadFile(args[1])
	b, _ := pem.Decode([]byte(data))
	if b == nil {
		ts.Fatalf("fingerprint: %s: no PEM block", args[1])
	}
	c, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		ts.Fatalf("fingerprint: %v", err)
	}
	ts.Setenv(args[0], ca.Fingerprint(c)[:12])
}

// treeHash writes one line per entry under DIR (path, mode, owner, size,
// mtime, inode, content hash) to OUT, to show that a run left a
// directory untouched.
//
//	treehash DIR OUT
func treeHash(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: treehash DIR OUT")
	}
	lines, err := describeTree(ts.MkAbs(args[0]))
	if err != nil {
		ts.Fatalf("treehash: %v", err)
	}
	if err := os.WriteFile(ts.MkAbs(args[1]), []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		ts.Fatalf("treehash: %v", err)
	}
}

// describeTree lists every entry under dir with what a write would change.
func describeTree(dir string) ([]string, error) {
	var lines []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		st := fi.Sys().(*syscall.Stat_t)
		line := fmt.Sprintf("%s %v %d:%d %d %d ino=%d", rel, fi.Mode(), st.Uid, st.Gid, fi.Size(), fi.ModTime().UnixNano(), st.Ino)
		if fi.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			line += " " + hex.EncodeToString(sum[:8])
		}
		lines = append(lines, line)
		return nil
	})
	sort.Strings(lines)
	return lines, err
}

// needRoot: lxc_103.star chowns the CA to the container's mapped root
// (100000), which only root may do. In CI that is a failure, elsewhere a
// skip that says so.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Getuid() == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("these tests must run as root: lxc_103.star chowns the CA to uid 100000")
	}
	t.Skip("skipped: not root, and lxc_103.star chowns the CA to uid 100000")
}
