// Package e2e holds phoenix's end-to-end tests of the private CA:
// scripts/lxc_103.star under --sim, `phoenix ca serve` as its own process,
// consumers issuing and verifying certificates over real TLS on loopback.
package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"phoenix/internal/ca"
	"phoenix/internal/cli/clitest"
	"phoenix/internal/testkit"
)

func TestMain(m *testing.M) {
	// stepinit makes a CA with the pki package, as the old script did.
	clitest.Main(m, func() func() {
		_, remove := testkit.StepPath("phoenix-e2e-")
		return remove
	})
}

// lxc103 is the repository, its example site and scripts/lxc_103.star,
// which these tests run.
func lxc103(t *testing.T) (repo, config, script string) {
	t.Helper()
	repo = testkit.RepoDir(t)
	return repo, filepath.Join(repo, "config"), filepath.Join(repo, "scripts", "lxc_103.star")
}

// TestScripts runs the CA's acceptance scripts in testdata/script. $REPO
// is the repository (scripts/ and config/ are used from it).
func TestScripts(t *testing.T) {
	needRoot(t)
	testscript.Run(t, testscript.Params{
		Dir: "testdata/script",
		Setup: func(env *testscript.Env) error {
			if err := clitest.Setup(env); err != nil {
				return err
			}
			env.Setenv("TESTDATA", filepath.Join(env.Getenv("REPO"), "internal", "e2e", "testdata", "star"))
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
type procs struct{ cur *testkit.Daemon }

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
		err := p.cur.Stop()
		p.cur = nil
		if err != nil {
			ts.Fatalf("caserve stop: phoenix ca serve: %v", err)
		}
		return
	}
	if p.cur != nil {
		ts.Fatalf("caserve: a CA is already running; caserve stop first")
	}
	logPath := ts.MkAbs("caserve.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		ts.Fatalf("caserve: %v", err)
	}
	cmd := clitest.Command(ts, append([]string{"ca", "serve", "--listen", "127.0.0.1:0"}, args...)...)
	cmd.Stderr = logf
	d, url, err := startCA(cmd)
	logf.Close()
	if err != nil {
		log, _ := os.ReadFile(logPath)
		ts.Fatalf("caserve: phoenix ca serve: %v:\n%s", err, log)
	}
	p.cur = d
	ts.Defer(func() {
		if p.cur == d {
			d.Stop()
			p.cur = nil
		}
	})
	ts.Setenv("CA_URL", url)
}

// startCA starts cmd, a phoenix ca serve, and returns it once it serves,
// with its URL.
func startCA(cmd *exec.Cmd) (*testkit.Daemon, string, error) {
	var url string
	d, err := testkit.StartDaemon(cmd, 30*time.Second, func(l string) bool {
		rest, ok := strings.CutPrefix(l, "phoenix ca serve: serving ")
		url, _, _ = strings.Cut(rest, " ")
		return ok
	})
	return d, url, err
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
	l, err := testkit.ServeTLS(pair)
	if err != nil {
		ts.Fatalf("tlsserve: %v", err)
	}
	ts.Defer(func() { l.Close() })
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
	tree, err := testkit.Tree(ts.MkAbs(args[0]))
	if err != nil {
		ts.Fatalf("treehash: %v", err)
	}
	if err := os.WriteFile(ts.MkAbs(args[1]), []byte(strings.Join(testkit.TreeLines(tree), "\n")+"\n"), 0o644); err != nil {
		ts.Fatalf("treehash: %v", err)
	}
}

// needRoot: lxc_103.star chowns the CA to the container's mapped root
// (100000), which only root may do.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Getuid() != 0 {
		testkit.Need(t, "lxc_103.star chowns the CA to uid 100000, which only root may do")
	}
}
