package proxmox

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"

	"phoenix/internal/machine"
	"phoenix/internal/pve"
	"phoenix/runtime"
)

// SimSetup installs the simulated pct under --sim: `pct push` records the
// pushed file's hash in the simulator, `pct exec ... sha256sum FILE`
// answers from those hashes (so a rerun of lxc_push is unchanged), and
// any other `pct exec` succeeds with no output unless a test scripts its
// result. Commands on a missing or stopped container fail as pct does.
func SimSetup(rt *runtime.Runtime, sr *machine.SimRunner) error {
	sr.Handle("pct", func(ctx context.Context, c machine.Cmd) (machine.Result, error) {
		b, err := runBackend(rt)
		if err != nil {
			return machine.Result{}, err
		}
		return b.simPct(ctx, c.Argv)
	})
	return nil
}

func failed(code int, format string, args ...any) (machine.Result, error) {
	return machine.Result{ExitCode: code, Stderr: []byte(fmt.Sprintf(format, args...) + "\n")}, nil
}

func (be *Backend) simPct(ctx context.Context, argv []string) (machine.Result, error) {
	if len(argv) < 3 {
		return failed(255, "400 not enough arguments\npct <command> <vmid> ...")
	}
	sub := argv[1]
	vmid, err := strconv.Atoi(argv[2])
	if err != nil {
		return failed(255, "400 Parameter verification failed.\nvmid: type check ('integer') failed - got '%s'", argv[2])
	}
	if sub != "push" && sub != "exec" {
		return failed(255, "simulated pct: '%s' is not simulated (only push and exec)", sub)
	}
	g, ok, err := be.Client.Guest(ctx, vmid)
	if err != nil {
		return machine.Result{}, err
	}
	if !ok || g.Kind != pve.LXC {
		return failed(2, "Configuration file 'nodes/%s/lxc/%d.conf' does not exist", "localhost", vmid)
	}
	if !g.Running() {
		return failed(2, "CT %d not running", vmid)
	}
	switch sub {
	case "push":
		// pct push VMID SRC DST [--perms MODE] [--user U] [--group G]
		if len(argv) < 5 {
			return failed(255, "400 not enough arguments\npct push <vmid> <file> <destination> [OPTIONS]")
		}
		data, err := os.ReadFile(argv[3])
		if err != nil {
			return failed(2, "unable to open file '%s' - %v", argv[3], err)
		}
		sum := sha256.Sum256(data)
		return be.simPush(g, argv[4], hex.EncodeToString(sum[:]))
	default:
		// pct exec VMID -- ARGV...
		rest := argv[3:]
		if len(rest) > 0 && rest[0] == "--" {
			rest = rest[1:]
		}
		if len(rest) == 2 && rest[0] == "sha256sum" {
			if h, ok := be.simHash(vmid, rest[1]); ok {
				return machine.Result{Stdout: []byte(h + "  " + rest[1] + "\n")}, nil
			}
			return failed(1, "sha256sum: %s: No such file or directory", rest[1])
		}
		return machine.Result{}, nil
	}
}

// simPush records a pushed file in the in-process simulator, or for an
// external one (which has no API for it) in this run.
func (be *Backend) simPush(g pve.Guest, dst, hash string) (machine.Result, error) {
	if be.Sim != nil {
		if err := be.Sim.PushFile(g.Node, g.VMID, dst, hash); err != nil {
			return failed(2, "%s", strings.TrimPrefix(err.Error(), "pvesim: "))
		}
		return machine.Result{}, nil
	}
	be.pushMu.Lock()
	defer be.pushMu.Unlock()
	if be.pushed == nil {
		be.pushed = map[string]string{}
	}
	be.pushed[fmt.Sprintf("%d:%s", g.VMID, dst)] = hash
	return machine.Result{}, nil
}

func (be *Backend) simHash(vmid int, p string) (string, bool) {
	if be.Sim != nil {
		return be.Sim.FileHash(vmid, p)
	}
	be.pushMu.Lock()
	defer be.pushMu.Unlock()
	h, ok := be.pushed[fmt.Sprintf("%d:%s", vmid, p)]
	return h, ok
}
