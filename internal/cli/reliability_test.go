package cli_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"phoenix/internal/cli/clitest"
	"phoenix/internal/testkit"
)

// TestReliability runs the site lock, journal and signal scripts. Each
// phoenix there is its own process, so the lock is contended between
// real processes and signals reach a real run.
func TestReliability(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:       "testdata/reliability",
		Setup:     clitest.Setup,
		Condition: clitest.Condition,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"holdlock":    holdLock,
			"releaselock": releaseLock,
			"sigrun":      sigRun,
			"simserve":    simServe,
			"freeaddr":    freeAddr,
			"caserve":     caServe,
		},
	})
}

type holder struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	done  chan error
}

var (
	holdersMu sync.Mutex
	holders   = map[*testscript.TestScript]*holder{}
)

// holdLock starts `phoenix repl --sim --root ROOT` with its input left
// open: a session that may apply holds the site lock until it ends. It
// waits until the lock file names the session and sets HOLDER_PID.
//
//	holdlock ROOT
func holdLock(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: holdlock ROOT")
	}
	cmd := clitest.Command(ts, "repl", "--sim", "--root", args[0])
	in, err := cmd.StdinPipe()
	if err != nil {
		ts.Fatalf("holdlock: %v", err)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		ts.Fatalf("holdlock: %v", err)
	}
	h := &holder{cmd: cmd, stdin: in, done: make(chan error, 1)}
	go func() { h.done <- cmd.Wait() }()
	ts.Defer(func() {
		in.Close()
		select {
		case <-h.done:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-h.done
		}
	})
	lock := args[0] + "/run/lock/phoenix/site.lock"
	pid := strconv.Itoa(cmd.Process.Pid) + " "
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if b, _ := os.ReadFile(lock); strings.HasPrefix(string(b), pid) {
			break
		}
		select {
		case err := <-h.done:
			ts.Fatalf("holdlock: the session ended before it held the lock: %v\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			ts.Fatalf("holdlock: %s never named PID %d", lock, cmd.Process.Pid)
		}
	}
	holdersMu.Lock()
	holders[ts] = h
	holdersMu.Unlock()
	ts.Setenv("HOLDER_PID", strconv.Itoa(cmd.Process.Pid))
}

// releaseLock ends the holding session after DELAY, in the background.
//
//	releaselock DELAY
func releaseLock(ts *testscript.TestScript, neg bool, args []string) {
	holdersMu.Lock()
	h := holders[ts]
	delete(holders, ts)
	holdersMu.Unlock()
	if neg || len(args) != 1 || h == nil {
		ts.Fatalf("usage: releaselock DELAY, after holdlock")
	}
	d, err := time.ParseDuration(args[0])
	if err != nil {
		ts.Fatalf("releaselock: %v", err)
	}
	time.AfterFunc(d, func() { h.stdin.Close() })
}

// sigRun starts phoenix with ARGS, waits until FILE exists, sends SIGNAL
// (INT, TERM or KILL), and checks that phoenix exits with CODE (-1:
// killed by the signal). Its output goes
// to $WORK/sig.stdout and $WORK/sig.stderr.
//
//	sigrun SIGNAL FILE CODE ARGS...
func sigRun(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 4 {
		ts.Fatalf("usage: sigrun INT|TERM FILE CODE phoenix-args...")
	}
	sig := map[string]syscall.Signal{"INT": syscall.SIGINT, "TERM": syscall.SIGTERM, "KILL": syscall.SIGKILL}[args[0]]
	if sig == 0 {
		ts.Fatalf("sigrun: unknown signal %q", args[0])
	}
	file := ts.MkAbs(args[1])
	want, err := strconv.Atoi(args[2])
	if err != nil {
		ts.Fatalf("sigrun: CODE: %v", err)
	}
	cmd := clitest.Command(ts, args[3:]...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		ts.Fatalf("sigrun: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	var runErr error
	exited := false
wait:
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if _, err := os.Stat(file); err == nil {
			break
		}
		select {
		case runErr = <-done:
			exited = true
			break wait
		default:
		}
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			<-done
			ts.Fatalf("sigrun: %s did not appear within 60s", file)
		}
	}
	if exited {
		ts.Logf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
		ts.Fatalf("sigrun: phoenix exited (%v) before %s appeared", runErr, file)
	}
	cmd.Process.Signal(sig)
	select {
	case runErr = <-done:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		<-done
		ts.Fatalf("sigrun: phoenix did not stop within 60s of SIG%s", args[0])
	}
	ts.Check(os.WriteFile(ts.MkAbs("sig.stdout"), stdout.Bytes(), 0o644))
	ts.Check(os.WriteFile(ts.MkAbs("sig.stderr"), stderr.Bytes(), 0o644))
	code := 0
	var ee *exec.ExitError
	if errors.As(runErr, &ee) {
		code = ee.ExitCode()
	} else if runErr != nil {
		ts.Fatalf("sigrun: %v", runErr)
	}
	if code != want {
		ts.Logf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
		ts.Fatalf("sigrun: phoenix exited %d, want %d", code, want)
	}
}

// simServe starts `phoenix sim serve` on a free loopback port with root@pam
// password PASSWORD and the other flags given (--fault ...), and sets
// PVE_TARGET to its URL and PHOENIX_PVE_FINGERPRINT to its certificate's
// pin, as an operator would. The server stops when the script ends.
//
//	simserve PASSWORD [sim serve flags]
func simServe(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 {
		ts.Fatalf("usage: simserve PASSWORD [sim serve flags]")
	}
	url, fp := clitest.SimServe(ts, append([]string{"--task-duration", "5ms", "--debug-endpoint", "--root-password", args[0]}, args[1:]...)...)
	ts.Setenv("PVE_TARGET", strings.TrimSuffix(url, "/api2/json"))
	ts.Setenv("PHOENIX_PVE_FINGERPRINT", fp)
}

// freeAddr sets VAR to a loopback address nothing listens on (yet).
//
//	freeaddr VAR
func freeAddr(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: freeaddr VAR")
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		ts.Fatalf("freeaddr: %v", err)
	}
	ts.Setenv(args[0], l.Addr().String())
	l.Close()
}

// caServe starts `phoenix ca serve --listen ADDR` with the other flags
// given and waits until it serves; its output goes to $WORK/caserve.log.
// It is stopped when the script ends.
//
//	caserve ADDR [ca serve flags]
func caServe(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 1 {
		ts.Fatalf("usage: caserve ADDR [ca serve flags]")
	}
	logf, err := os.Create(ts.MkAbs("caserve.log"))
	if err != nil {
		ts.Fatalf("caserve: %v", err)
	}
	defer logf.Close()
	cmd := clitest.Command(ts, append([]string{"ca", "serve", "--listen", args[0]}, args[1:]...)...)
	cmd.Stderr = logf
	d, err := testkit.StartDaemon(cmd, 30*time.Second, func(l string) bool {
		return strings.HasPrefix(l, "phoenix ca serve: serving ")
	})
	if err != nil {
		log, _ := os.ReadFile(ts.MkAbs("caserve.log"))
		ts.Fatalf("caserve: %v\n%s", err, log)
	}
	ts.Defer(func() { d.Stop() })
}
