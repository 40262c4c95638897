package testkit

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"sync"
	"syscall"
	"testing"
	"time"
)

// SyncBuffer is a bytes.Buffer that a server's goroutines (or a command's
// output copiers) and the test can use at once.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func (s *SyncBuffer) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b.Reset()
}

// FreeAddr returns a loopback address with a port nobody listens on.
func FreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// AcceptAll accepts and closes every connection to l, in the background,
// until l is closed: a port that is open and nothing more.
func AcceptAll(l net.Listener) {
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
}

// Daemon is a command that runs beside the test, as a server does.
type Daemon struct {
	cmd    *exec.Cmd
	exited chan error
}

// StartDaemon starts cmd and reads its standard output until ready
// accepts a line, for at most timeout. The rest of the output is read
// and dropped, so that the daemon never blocks on a full pipe. If the
// daemon exits first or the time runs out, the error says so and the
// daemon is stopped.
func StartDaemon(cmd *exec.Cmd, timeout time.Duration, ready func(line string) bool) (*Daemon, error) {
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	d := &Daemon{cmd: cmd, exited: make(chan error, 1)}
	go func() { d.exited <- cmd.Wait() }()
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	drain := func() {
		go func() {
			for range lines {
			}
		}()
	}
	deadline := time.After(timeout)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				return nil, fmt.Errorf("exited before it was ready: %v", d.Stop())
			}
			if ready(l) {
				drain()
				return d, nil
			}
		case <-deadline:
			drain()
			d.Stop()
			return nil, fmt.Errorf("not ready after %v", timeout)
		}
	}
}

// Stop stops the daemon with SIGTERM, or kills it 15 s later, and
// returns how it exited; a second Stop returns nil.
func (d *Daemon) Stop() error {
	if d.exited == nil {
		return nil
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	var err error
	select {
	case err = <-d.exited:
	case <-time.After(15 * time.Second):
		d.cmd.Process.Kill()
		<-d.exited
		err = errors.New("did not stop within 15s of SIGTERM")
	}
	d.exited = nil
	return err
}
