package nft

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"phoenix/internal/machine"
)

// PendingFile is where a commit-confirmed apply keeps what it would roll
// back to, under the run's root.
const PendingFile = "/var/lib/phoenix/fw-pending.json"

// Pending is an armed rollback: the table to restore, where, and when.
type Pending struct {
	// Backend is "netlink" (in NS) or "sim" (the file SimPath).
	Backend  string    `json:"backend"`
	NS       string    `json:"netns,omitempty"`
	SimPath  string    `json:"sim_path,omitempty"`
	Previous *Ruleset  `json:"previous"` // nil: there was no table
	Deadline time.Time `json:"deadline"`
	PID      int       `json:"pid"`
}

func (p *Pending) backend() Backend {
	if p.Backend == "sim" {
		return &Sim{path: p.SimPath}
	}
	return &Netlink{NS: p.NS}
}

// ReadPending returns the armed rollback at path, or nil.
func ReadPending(path string) (*Pending, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var p Pending
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &p, nil
}

func writePending(path string, p *Pending) error {
	b, err := json.MarshalIndent(p, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return machine.WriteFileAtomic(path, append(b, '\n'), 0o600, -1, -1)
}

// Armed is what the rollback process prints once it handles signals.
const Armed = "armed"

// Arm records p at path and starts the process that restores p.Previous
// at p.Deadline: exe with args, in its own session, detached from the
// terminal, so that it fires even when the session that applied the
// change is gone.
func Arm(path string, p *Pending, exe string, args ...string) error {
	if old, err := ReadPending(path); err != nil {
		return err
	} else if old != nil {
		return fmt.Errorf("a rollback is already pending until %s (pid %d): run phoenix fw confirm first", old.Deadline.UTC().Format(time.RFC3339), old.PID)
	}
	if err := writePending(path, p); err != nil {
		return err
	}
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer null.Close()
	ready, readyW, err := os.Pipe()
	if err != nil {
		return err
	}
	defer ready.Close()
	cmd := exec.Command(exe, args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = null, readyW, null
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	readyW.Close()
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("start the rollback process: %w", err)
	}
	// Wait until it handles its signals: a SIGHUP or SIGTERM that came
	// earlier would kill it without rolling back.
	ready.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, _ := bufio.NewReader(ready).ReadString('\n')
	if line != Armed+"\n" {
		cmd.Process.Kill()
		cmd.Wait()
		os.Remove(path)
		return fmt.Errorf("the rollback process did not start (said %q)", line)
	}
	p.PID = cmd.Process.Pid
	// The child reads the file only when it fires; the pid is for confirm.
	if err := writePending(path, p); err != nil {
		cmd.Process.Signal(syscall.SIGTERM)
		return err
	}
	go cmd.Wait()
	return nil
}

// claim takes the pending file for whoever renames it first: the
// rollback or confirm, never both.
func claim(path, who string) (string, bool) {
	to := path + "." + who
	if err := os.Rename(path, to); err != nil {
		return "", false
	}
	return to, true
}

// Confirm keeps the applied ruleset: it cancels the pending rollback and
// stops its process. It returns the rollback it cancelled, or nil when
// none was pending (never armed, or already rolled back).
func Confirm(path string) (*Pending, error) {
	p, err := ReadPending(path)
	if err != nil || p == nil {
		return nil, err
	}
	claimed, ok := claim(path, "confirmed")
	if !ok {
		return nil, nil // the rollback fired first
	}
	defer os.Remove(claimed)
	if p.PID > 0 {
		if proc, err := os.FindProcess(p.PID); err == nil {
			proc.Signal(syscall.SIGUSR1)
		}
	}
	return p, nil
}

// Wait is the rollback process: it restores the previous table at the
// deadline, or at once on SIGTERM, unless confirm claimed the pending
// file first (SIGUSR1 tells it so). SIGHUP is ignored. Progress is
// appended to path.log.
func Wait(path string) error {
	signal.Ignore(syscall.SIGHUP, syscall.SIGINT)
	sig := make(chan os.Signal, 2)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGUSR1)
	// Tell Arm the signals are handled; nothing else goes to stdout.
	fmt.Fprintln(os.Stdout, Armed)
	os.Stdout.Close()
	logf := func(format string, a ...any) {
		f, err := os.OpenFile(path+".log", os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		if err == nil {
			fmt.Fprintf(f, time.Now().UTC().Format(time.RFC3339)+" pid %d: "+format+"\n", append([]any{os.Getpid()}, a...)...)
			f.Close()
		}
	}
	p, err := ReadPending(path)
	if err != nil {
		logf("%v", err)
		return err
	}
	if p == nil {
		return nil
	}
	timer := time.NewTimer(time.Until(p.Deadline))
	defer timer.Stop()
	reason := "the confirm timeout expired"
	for waiting := true; waiting; {
		select {
		case <-timer.C:
			waiting = false
		case s := <-sig:
			if s == syscall.SIGTERM {
				reason, waiting = "SIGTERM", false
				break
			}
			if cur, _ := ReadPending(path); cur == nil {
				logf("confirmed; the applied ruleset stays")
				return nil
			}
		}
	}
	claimed, ok := claim(path, "rolling-back")
	if !ok {
		logf("confirmed; the applied ruleset stays")
		return nil
	}
	defer os.Remove(claimed)
	if err := p.backend().Apply(p.Previous); err != nil {
		logf("rollback (%s) failed: %v", reason, err)
		return err
	}
	logf("rolled back (%s)", reason)
	return nil
}

// StatusText describes the pending rollback at path for phoenix fw status.
func StatusText(path string, now time.Time) (string, error) {
	p, err := ReadPending(path)
	if err != nil {
		return "", err
	}
	if p == nil {
		return "no rollback pending\n", nil
	}
	where := "the host's network namespace"
	switch {
	case p.Backend == "sim":
		where = "the simulated host " + p.SimPath
	case p.NS != "":
		where = "network namespace " + p.NS
	}
	prev := "delete phoenix's table (there was none)"
	if p.Previous != nil {
		prev = fmt.Sprintf("restore the previous table (%d rules)", p.Previous.Rules())
	}
	alive := "running"
	if proc, err := os.FindProcess(p.PID); err != nil || proc.Signal(syscall.Signal(0)) != nil {
		alive = "NOT running: the rollback will not fire"
	}
	return fmt.Sprintf("rollback pending in %s\n  deadline: %s (in %s)\n  will:     %s\n  process:  pid %d, %s\n  keep the new ruleset with: phoenix fw confirm\n",
		where, p.Deadline.UTC().Format(time.RFC3339), p.Deadline.Sub(now).Round(time.Second), prev, p.PID, alive), nil
}
