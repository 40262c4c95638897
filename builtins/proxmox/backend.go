package proxmox

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"go.starlark.net/starlark"
	"golang.org/x/sys/unix"

	"phoenix/internal/pve"
	"phoenix/internal/pvesim"
	"phoenix/internal/site"
	"phoenix/runtime"
)

const backendKey = "proxmox"

// SimStatePath is where --sim keeps the simulated cluster, below --root.
const SimStatePath = "/var/lib/phoenix-sim/pve.json"

// Backend is the run's connection to PVE, shared by every builtin call.
type Backend struct {
	Client *pve.Client
	// Sim is the in-process simulator under --sim without --target.
	Sim *pvesim.Server
	// simulated is true under --sim: the local node is the API's own
	// node rather than this host's name.
	simulated bool

	localOnce sync.Once
	localNode string
	localErr  error

	plan planned

	// hostMu serialises host.prepare_mount: parallel converges share
	// parent datasets, which must be created once.
	hostMu sync.Mutex

	pushMu sync.Mutex
	pushed map[string]string // "vmid:path" -> sha256, for an external simulator
}

var _ io.Closer = (*Backend)(nil)

// Close stops the in-process simulator; the run closes its backends.
func (b *Backend) Close() error {
	if b == nil {
		return nil
	}
	b.Client.Close()
	if b.Sim != nil {
		return b.Sim.Close()
	}
	return nil
}

// Use makes c (and sim, when the client talks to an in-process
// simulator) the run's PVE backend, before any builtin connects. Tests
// use it to pick the simulator's nodes, task duration and faults.
func Use(rt *runtime.Runtime, c *pve.Client, sim *pvesim.Server) (*Backend, error) {
	want := &Backend{Client: c, Sim: sim, simulated: rt.Opts.Sim}
	v, err := rt.Backend(backendKey, func() (any, error) {
		rt.OnResetPlan(want.plan.forget)
		return want, nil
	})
	if err != nil {
		return nil, err
	}
	if v != want {
		return nil, errors.New("proxmox: the run is already connected")
	}
	return want, nil
}

// backendOf returns the run's backend, connecting on first use.
func backendOf(thread *starlark.Thread, fn string) (*Backend, context.Context, error) {
	rt := runtime.FromThread(thread)
	b, err := runBackend(rt)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", fn, err)
	}
	return b, rt.Context(), nil
}

// runBackend returns the run's backend, connecting on first use.
func runBackend(rt *runtime.Runtime) (*Backend, error) {
	v, err := rt.Backend(backendKey, func() (any, error) {
		b, err := open(rt)
		if err != nil {
			return nil, err // not a typed nil: the run closes what it holds
		}
		rt.OnResetPlan(b.plan.forget)
		return b, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(*Backend), nil
}

func open(rt *runtime.Runtime) (*Backend, error) {
	opts := clientOptions(rt)
	var b *Backend
	if rt.Opts.Sim && rt.Opts.Target == "" {
		var err error
		if b, err = startSim(rt, opts); err != nil {
			return nil, err
		}
	} else {
		conn, err := connection(rt)
		if err != nil {
			return nil, err
		}
		c, err := pve.Connect(rt.Context(), conn, opts)
		if err != nil {
			return nil, err
		}
		b = &Backend{Client: c, simulated: rt.Opts.Sim}
	}
	return b, nil
}

func clientOptions(rt *runtime.Runtime) pve.Options {
	w := rt.Opts.Stderr
	o := pve.Options{Logf: func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }}
	if isTerminal(w) {
		o.Progress = w
	}
	return o
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// connection gathers the URL, credentials and trust: --target and the
// environment first, the site config's pve section for what they leave
// out. Credentials never come from the command line.
func connection(rt *runtime.Runtime) (pve.Connection, error) {
	auth, trust, err := pve.FromEnv(os.Getenv)
	if err != nil {
		return pve.Connection{}, err
	}
	conn := pve.Connection{URL: rt.Opts.Target, Auth: auth, Trust: trust,
		Source: pve.Source{Auth: "environment", Trust: "environment"}}
	if conn.URL != "" && !conn.Auth.IsZero() && !conn.Trust.IsZero() {
		return conn, nil
	}
	cfg, err := sitePVE(rt)
	if err != nil {
		return pve.Connection{}, err
	}
	if cfg != nil {
		if conn.URL == "" && !rt.Opts.Sim {
			conn.URL = cfg.Endpoint
		}
		if conn.Auth.IsZero() && cfg.CredentialsFile != "" {
			host, err := rt.Root.Resolve(cfg.CredentialsFile)
			if err != nil {
				return pve.Connection{}, fmt.Errorf("site config pve.credentials_file: %w", err)
			}
			if conn.Auth, err = pve.ReadCredentialsFile(host); err != nil {
				return pve.Connection{}, fmt.Errorf("site config pve.credentials_file: %w", err)
			}
			conn.Source.Auth = "credentials file " + cfg.CredentialsFile
		}
		if conn.Trust.IsZero() {
			conn.Source.Trust = "site config pve section"
			switch {
			case cfg.Fingerprint != "":
				conn.Trust.Fingerprint = cfg.Fingerprint
			case cfg.CAFile != "":
				host, err := rt.Root.Resolve(cfg.CAFile)
				if err != nil {
					return pve.Connection{}, fmt.Errorf("site config pve.ca_file: %w", err)
				}
				conn.Trust.CAFile = host
			case cfg.InsecureSkipTLSVerify:
				conn.Trust.Insecure = true
			}
		}
	}
	if conn.URL == "" {
		conn.URL = pve.DefaultURL
	}
	return conn, nil
}

// sitePVE loads the site config's pve section; nil when there is no
// site config directory.
func sitePVE(rt *runtime.Runtime) (*site.PVE, error) {
	s, err := loadSite(rt)
	if err != nil || s == nil {
		return nil, err
	}
	return &s.Hypervisor.PVE, nil
}

// loadSite loads --config; nil when it holds no site.
func loadSite(rt *runtime.Runtime) (*site.Site, error) {
	dir := rt.Opts.ConfigDir
	if dir == "" {
		return nil, nil
	}
	if _, err := os.Stat(filepath.Join(dir, site.HypervisorFile)); errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	s, err := site.Load(dir)
	if err != nil {
		return nil, fmt.Errorf("site config %s: %w", dir, err)
	}
	return s, nil
}

// startSim runs the simulator in this process on a loopback port, with
// its state under --root, and connects to it over HTTPS exactly as to a
// real host: a pinned fingerprint and a root@pam login.
func startSim(rt *runtime.Runtime, opts pve.Options) (*Backend, error) {
	state, err := rt.Root.Resolve(SimStatePath)
	if err != nil {
		return nil, fmt.Errorf("simulator state: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(state), 0o755); err != nil {
		return nil, fmt.Errorf("simulator state: %w", err)
	}
	pw, err := randomHex(16)
	if err != nil {
		return nil, err
	}
	srv, err := pvesim.New(pvesim.Options{RootPassword: pw, StateFile: state})
	if err != nil {
		return nil, err
	}
	url, fp, err := srv.Start("127.0.0.1:0", "", "")
	if err != nil {
		return nil, err
	}
	conn := pve.Connection{URL: url, Auth: pve.Auth{User: pve.DefaultUser, Password: pw}, Trust: pve.Trust{Fingerprint: fp},
		Source: pve.Source{Auth: "in-process simulator", Trust: "in-process simulator"}}
	c, err := pve.Connect(rt.Context(), conn, opts)
	if err != nil {
		srv.Close()
		return nil, err
	}
	return &Backend{Client: c, Sim: srv, simulated: true}, nil
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// LocalNode is the node phoenix runs on, where pct works: this host's
// short name, or under --sim the API's own node.
func (b *Backend) LocalNode(ctx context.Context) (string, error) {
	b.localOnce.Do(func() {
		if b.simulated {
			b.localNode, b.localErr = b.Client.LocalNode(ctx)
			return
		}
		h, err := os.Hostname()
		if err != nil {
			b.localErr = fmt.Errorf("this host's name: %w", err)
			return
		}
		b.localNode, _, _ = strings.Cut(h, ".")
	})
	return b.localNode, b.localErr
}

// planned is what a dry run has declared so far, so that later calls in
// the same plan see it: a container created earlier in the plan can be
// started later in it. It is filled only through runtime.DoOrPlan, so it
// stays empty when applying.
type planned struct {
	mu        sync.Mutex
	guests    map[int]pve.Guest // created or power-changed in the plan
	gone      map[int]bool      // destroyed in the plan
	templates map[string]bool   // "node|volid" downloaded in the plan
}

// forget drops what a discarded plan declared.
func (p *planned) forget() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.guests, p.gone, p.templates = nil, nil, nil
}

func (p *planned) setGuest(g pve.Guest) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.guests == nil {
		p.guests = map[int]pve.Guest{}
	}
	p.guests[g.VMID] = g
	delete(p.gone, g.VMID)
}

func (p *planned) destroy(vmid int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.gone == nil {
		p.gone = map[int]bool{}
	}
	p.gone[vmid] = true
	delete(p.guests, vmid)
}

func (p *planned) template(key string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.templates[key]
}

func (p *planned) addTemplate(key string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.templates == nil {
		p.templates = map[string]bool{}
	}
	p.templates[key] = true
}

// guest finds a guest, seeing what a dry run declared before (only a dry
// run records planned state). onlyPlanned is true for a guest that exists
// only in the plan.
func (b *Backend) guest(ctx context.Context, vmid int) (g pve.Guest, ok, onlyPlanned bool, err error) {
	b.plan.mu.Lock()
	pg, isPlanned := b.plan.guests[vmid]
	gone := b.plan.gone[vmid]
	b.plan.mu.Unlock()
	if gone {
		return pve.Guest{}, false, false, nil
	}
	if isPlanned {
		real, exists, err := b.Client.Guest(ctx, vmid)
		if err != nil {
			return pve.Guest{}, false, false, err
		}
		return pg, true, !exists || real.Kind != pg.Kind, nil
	}
	g, ok, err = b.Client.Guest(ctx, vmid)
	return g, ok, false, err
}
