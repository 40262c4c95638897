package pvesim

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The simulated pct answers from the simulator's guests through its API:
// pushes into running containers are remembered (by the server, or by
// Pct for an external one) and read back by sha256sum; a stopped or
// missing container fails as pct does.
func TestPct(t *testing.T) {
	for _, inProcess := range []bool{true, false} {
		s := startSim(t, Options{})
		c := s.tokenClient()
		createCT(t, c, 103)
		p := &Pct{Guest: func(ctx context.Context, vmid int) (PctGuest, bool, error) {
			ct, err := node(t, c, "pve").Container(ctx, vmid)
			if err != nil {
				return PctGuest{}, false, nil
			}
			return PctGuest{Node: "pve", Container: true, Running: ct.Status == "running"}, true, nil
		}}
		if inProcess {
			p.Server = s.Server
		}
		ctx := context.Background()
		src := filepath.Join(t.TempDir(), "unit")
		os.WriteFile(src, []byte("[Unit]\n"), 0o644)
		sum := sha256.Sum256([]byte("[Unit]\n"))

		if r, _ := p.Run(ctx, []string{"pct", "push", "103", src, "/etc/unit"}); r.ExitCode != 2 || !strings.Contains(string(r.Stderr), "not running") {
			t.Errorf("push into a stopped container: exit %d, %q", r.ExitCode, r.Stderr)
		}
		if r, _ := p.Run(ctx, []string{"pct", "exec", "104", "--", "true"}); r.ExitCode != 2 {
			t.Errorf("exec in a missing container: exit %d", r.ExitCode)
		}
		ct, _ := node(t, c, "pve").Container(ctx, 103)
		wait(t, must(ct.Start(ctx)))
		if r, err := p.Run(ctx, []string{"pct", "push", "103", src, "/etc/unit", "--perms", "0644"}); err != nil || r.ExitCode != 0 {
			t.Fatalf("push: exit %d, %q, %v", r.ExitCode, r.Stderr, err)
		}
		r, _ := p.Run(ctx, []string{"pct", "exec", "103", "--", "sha256sum", "/etc/unit"})
		if want := hex.EncodeToString(sum[:]) + "  /etc/unit\n"; r.ExitCode != 0 || string(r.Stdout) != want {
			t.Errorf("in process %v: sha256sum: exit %d, %q, want %q", inProcess, r.ExitCode, r.Stdout, want)
		}
		if r, _ := p.Run(ctx, []string{"pct", "exec", "103", "--", "sha256sum", "/etc/other"}); r.ExitCode != 1 {
			t.Errorf("sha256sum of a file never pushed: exit %d", r.ExitCode)
		}
		// mv -f inside the container moves a pushed file (how lxc_push
		// puts one in place); a missing source fails as mv does.
		if r, _ := p.Run(ctx, []string{"pct", "exec", "103", "--", "mv", "-f", "/etc/unit", "/etc/unit2"}); r.ExitCode != 0 {
			t.Errorf("mv: exit %d, %q", r.ExitCode, r.Stderr)
		}
		if r, _ := p.Run(ctx, []string{"pct", "exec", "103", "--", "sha256sum", "/etc/unit2"}); r.ExitCode != 0 || !strings.HasPrefix(string(r.Stdout), hex.EncodeToString(sum[:])) {
			t.Errorf("sha256sum after mv: exit %d, %q", r.ExitCode, r.Stdout)
		}
		if r, _ := p.Run(ctx, []string{"pct", "exec", "103", "--", "mv", "-f", "/etc/unit", "/etc/unit3"}); r.ExitCode != 1 || !strings.Contains(string(r.Stderr), "cannot stat") {
			t.Errorf("mv of a moved file: exit %d, %q", r.ExitCode, r.Stderr)
		}
		p.Run(ctx, []string{"pct", "exec", "103", "--", "mv", "-f", "/etc/unit2", "/etc/unit"})
		if r, _ := p.Run(ctx, []string{"pct", "enter", "103"}); r.ExitCode != 255 {
			t.Errorf("pct enter: exit %d, want 255 (not simulated)", r.ExitCode)
		}
		if _, ok := s.FileHash(103, "/etc/unit"); ok != inProcess {
			t.Errorf("in process %v: the server holds the push: %v", inProcess, ok)
		}
	}
}
