package dnsmasq

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"phoenix/internal/machine"
	"phoenix/runtime"
)

// Backend is what acts on the running daemons.
type Backend interface {
	// Test runs `dnsmasq --test` on a candidate conf file.
	Test(ctx context.Context, conf []byte) error
	// Reload makes a unit re-read its addn-hosts files (SIGHUP).
	Reload(ctx context.Context, unit string) error
	// Restart makes a unit read its conf files again.
	Restart(ctx context.Context, unit string) error
	// Stop stops a unit and keeps it from starting at boot.
	Stop(ctx context.Context, unit string) error
	// Started is when the unit's running daemon started; ok is false
	// when none runs (or none can be known, under --sim).
	Started(unit string) (t time.Time, ok bool)
}

var (
	_ Backend = (*Host)(nil)
	_ Backend = (*Sim)(nil)
)

// Host is the real backend: SIGHUP to the PID in the unit's pidfile (as
// Debian's unit writes it, under the root), restarts through systemctl.
type Host struct{ rt *runtime.Runtime }

// Sim records reloads and restarts in the --sim command runner; Test still
// runs the real dnsmasq --test when it is installed.
type Sim struct{ rt *runtime.Runtime }

func newHost(rt *runtime.Runtime) (Backend, error) { return &Host{rt}, nil }
func newSim(rt *runtime.Runtime) (Backend, error)  { return &Sim{rt}, nil }

func (h *Host) Test(ctx context.Context, conf []byte) error { return test(ctx, h.rt.Runner, conf) }
func (s *Sim) Test(ctx context.Context, conf []byte) error  { return test(ctx, s.rt.Runner, conf) }

// test checks the candidate outside the conf-dir, where no running
// dnsmasq can read it.
func test(ctx context.Context, r machine.Runner, conf []byte) error {
	dir, err := os.MkdirTemp("", "phoenix-dnsmasq-test-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	p := filepath.Join(dir, "candidate.conf")
	if err := os.WriteFile(p, conf, 0o644); err != nil {
		return err
	}
	cmd := machine.Cmd{Argv: []string{"dnsmasq", "--test", "--conf-file=" + p}}
	res, err := r.Run(ctx, cmd)
	if err != nil {
		return fmt.Errorf("dnsmasq --test: %w", err)
	}
	if res.ExitCode != 0 {
		msg := strings.TrimSpace(strings.ReplaceAll(string(res.Stderr), p, "the new file"))
		return fmt.Errorf("dnsmasq --test rejects it: %s", msg)
	}
	return nil
}

// PIDFile is where Debian's unit keeps a unit's PID.
func PIDFile(unit string) string {
	if i := strings.IndexByte(unit, '@'); i >= 0 {
		return "/run/dnsmasq/dnsmasq." + unit[i+1:] + ".pid"
	}
	return "/run/dnsmasq/dnsmasq.pid"
}

func (h *Host) Reload(ctx context.Context, unit string) error {
	b, err := h.rt.Root.ReadFile(PIDFile(unit))
	if errors.Is(err, fs.ErrNotExist) {
		// Not running: it reads the files when it starts.
		return nil
	}
	if err != nil {
		return err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		return fmt.Errorf("%s: no PID in %q", PIDFile(unit), b)
	}
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("SIGHUP to %s (PID %d): %w", unit, pid, err)
	}
	return nil
}

// Started is the mtime of the unit's pidfile, which the daemon writes
// when it starts, if that PID is alive.
func (h *Host) Started(unit string) (time.Time, bool) {
	p, err := h.rt.Root.Resolve(PIDFile(unit))
	if err != nil {
		return time.Time{}, false
	}
	st, err := os.Stat(p)
	if err != nil {
		return time.Time{}, false
	}
	b, err := os.ReadFile(p)
	if err != nil {
		return time.Time{}, false
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 || syscall.Kill(pid, 0) != nil {
		return time.Time{}, false
	}
	return st.ModTime(), true
}

// Started is never known: no daemon runs under --sim.
func (s *Sim) Started(string) (time.Time, bool) { return time.Time{}, false }

func (h *Host) Restart(ctx context.Context, unit string) error {
	return restart(ctx, h.rt.Runner, unit)
}
func (s *Sim) Restart(ctx context.Context, unit string) error { return restart(ctx, s.rt.Runner, unit) }

// Reload is recorded as the unit's reload, which is its SIGHUP.
func (s *Sim) Reload(ctx context.Context, unit string) error {
	return systemctl(ctx, s.rt.Runner, "reload", unit)
}

func (h *Host) Stop(ctx context.Context, unit string) error { return stop(ctx, h.rt.Runner, unit) }
func (s *Sim) Stop(ctx context.Context, unit string) error  { return stop(ctx, s.rt.Runner, unit) }

func stop(ctx context.Context, r machine.Runner, unit string) error {
	return systemctl(ctx, r, "disable", "--now", unit)
}

func restart(ctx context.Context, r machine.Runner, unit string) error {
	return systemctl(ctx, r, "restart", unit)
}

func systemctl(ctx context.Context, r machine.Runner, args ...string) error {
	cmd := machine.Cmd{Argv: append([]string{"systemctl"}, args...)}
	res, err := r.Run(ctx, cmd)
	_, err = machine.Check(cmd, res, err)
	return err
}
