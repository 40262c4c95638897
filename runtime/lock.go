package runtime

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// LockPath is the site lock, a site path: on Debian and PVE /var/lock is
// a symlink to /run/lock, so both name it.
const LockPath = "/run/lock/phoenix/site.lock"

// SiteLock is the exclusive lock an applying run holds on its root, so
// that two runs never interleave their changes.
type SiteLock struct {
	f *os.File
}

// LockHeldError says who holds the site lock.
type LockHeldError struct {
	Path  string // host path of the lock file
	PID   int    // 0 when the holder wrote nothing yet
	Since time.Time
	Cmd   string
	Wait  time.Duration
}

func (e *LockHeldError) Error() string {
	who := "another phoenix run"
	if e.PID > 0 {
		who = fmt.Sprintf("phoenix PID %d", e.PID)
		if e.Cmd != "" {
			who += " (" + e.Cmd + ")"
		}
		if !e.Since.IsZero() {
			who += fmt.Sprintf(", since %s", e.Since.UTC().Format(time.RFC3339))
		}
	}
	waited := "did not wait (--lock-timeout 0)"
	if e.Wait > 0 {
		waited = "waited " + e.Wait.String()
	}
	return fmt.Sprintf("site lock %s is held by %s; %s: let that run finish, or raise --lock-timeout", e.Path, who, waited)
}

// LockSite takes the site lock of the run's root, waiting up to timeout
// (0: fail at once) or until ctx ends. The lock file then names this
// process and when it took the lock, for the error a waiting run prints.
func (rt *Runtime) LockSite(ctx context.Context, timeout time.Duration, cmd string) (*SiteLock, error) {
	host, err := rt.Root.Resolve(LockPath)
	if err != nil {
		return nil, fmt.Errorf("site lock: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(host), 0o755); err != nil {
		return nil, fmt.Errorf("site lock: %w", err)
	}
	f, err := os.OpenFile(host, os.O_RDWR|os.O_CREATE|syscall.O_CLOEXEC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("site lock: %w", err)
	}
	deadline := time.Now().Add(timeout)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("site lock %s: %w", host, err)
		}
		if !time.Now().Before(deadline) {
			held := readHolder(host)
			held.Path, held.Wait = host, timeout
			f.Close()
			return nil, held
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("site lock %s: gave up waiting: %w", host, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
	// Only the holder writes, so a reader sees the holder's line or, for
	// an instant, nothing.
	line := fmt.Sprintf("%d %s %s\n", os.Getpid(), time.Now().UTC().Format(time.RFC3339Nano), cmd)
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(line), 0)
	}
	return &SiteLock{f: f}, nil
}

func readHolder(host string) *LockHeldError {
	e := &LockHeldError{}
	b, err := os.ReadFile(host)
	if err != nil {
		return e
	}
	fields := strings.SplitN(strings.TrimSpace(string(b)), " ", 3)
	if len(fields) >= 2 {
		e.PID, _ = strconv.Atoi(fields[0])
		e.Since, _ = time.Parse(time.RFC3339Nano, fields[1])
	}
	if len(fields) == 3 {
		e.Cmd = fields[2]
	}
	return e
}

// Unlock releases the lock. The file stays, naming the last holder (a
// waiter reads it only while the lock is held, so then it names the live
// holder): removing it would let a waiter lock an unlinked inode while a
// third run creates a new one.
func (l *SiteLock) Unlock() {
	if l == nil || l.f == nil {
		return
	}
	l.f.Close()
	l.f = nil
}
