package pvesim

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"

	"phoenix/internal/machine"
)

// Pct is the pct command of a simulated node: `pct push` records the
// pushed file's hash in the simulator, `pct exec ... sha256sum FILE`
// answers from those hashes (so a rerun of a push is unchanged), `pct
// exec ... mv -f SRC DST` moves a pushed file's hash, and any other `pct
// exec` succeeds with no output. Commands on a missing or
// stopped container fail as pct does.
type Pct struct {
	// Guest finds a guest through the API, as pct asks its node.
	Guest func(ctx context.Context, vmid int) (PctGuest, bool, error)
	// Server keeps pushed files when the simulator runs in this process;
	// for an external one (which has no API for them) Pct keeps them.
	Server *Server

	mu     sync.Mutex
	pushed map[string]string // "vmid:path" -> sha256
}

// PctGuest is what pct needs to know of a guest.
type PctGuest struct {
	Node      string
	Container bool
	Running   bool
}

// Handler is Pct as a simulated command of a machine.SimRunner.
func (p *Pct) Handler() machine.Handler {
	return func(ctx context.Context, c machine.Cmd) (machine.Result, error) { return p.Run(ctx, c.Argv) }
}

func failed(code int, format string, args ...any) (machine.Result, error) {
	return machine.Result{ExitCode: code, Stderr: []byte(fmt.Sprintf(format, args...) + "\n")}, nil
}

// Run runs one pct command line (argv[0] is "pct").
func (p *Pct) Run(ctx context.Context, argv []string) (machine.Result, error) {
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
	g, ok, err := p.Guest(ctx, vmid)
	if err != nil {
		return machine.Result{}, err
	}
	if !ok || !g.Container {
		return failed(2, "Configuration file 'nodes/%s/lxc/%d.conf' does not exist", "localhost", vmid)
	}
	if !g.Running {
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
		return p.push(g.Node, vmid, argv[4], hex.EncodeToString(sum[:]))
	default:
		// pct exec VMID -- ARGV...
		rest := argv[3:]
		if len(rest) > 0 && rest[0] == "--" {
			rest = rest[1:]
		}
		if len(rest) == 2 && rest[0] == "sha256sum" {
			if h, ok := p.hash(vmid, rest[1]); ok {
				return machine.Result{Stdout: []byte(h + "  " + rest[1] + "\n")}, nil
			}
			return failed(1, "sha256sum: %s: No such file or directory", rest[1])
		}
		if len(rest) == 4 && rest[0] == "mv" && rest[1] == "-f" {
			// How lxc_push puts a pushed file in place.
			if !p.move(g.Node, vmid, rest[2], rest[3]) {
				return failed(1, "mv: cannot stat '%s': No such file or directory", rest[2])
			}
		}
		return machine.Result{}, nil
	}
}

func (p *Pct) push(node string, vmid int, dst, hash string) (machine.Result, error) {
	if p.Server != nil {
		if err := p.Server.PushFile(node, vmid, dst, hash); err != nil {
			return failed(2, "%s", strings.TrimPrefix(err.Error(), "pvesim: "))
		}
		return machine.Result{}, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.pushed == nil {
		p.pushed = map[string]string{}
	}
	p.pushed[fmt.Sprintf("%d:%s", vmid, dst)] = hash
	return machine.Result{}, nil
}

func (p *Pct) hash(vmid int, path string) (string, bool) {
	if p.Server != nil {
		return p.Server.FileHash(vmid, path)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	h, ok := p.pushed[fmt.Sprintf("%d:%s", vmid, path)]
	return h, ok
}

// move renames a pushed file; false when there is none at from.
func (p *Pct) move(node string, vmid int, from, to string) bool {
	if p.Server != nil {
		return p.Server.MoveFile(node, vmid, from, to) == nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	h, ok := p.pushed[fmt.Sprintf("%d:%s", vmid, from)]
	if !ok {
		return false
	}
	delete(p.pushed, fmt.Sprintf("%d:%s", vmid, from))
	p.pushed[fmt.Sprintf("%d:%s", vmid, to)] = h
	return true
}
