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
	"time"

	"go.starlark.net/starlark"
	"golang.org/x/sys/unix"

	"phoenix/builtins/config"
	"phoenix/internal/pve"
	"phoenix/internal/pvesim"
	"phoenix/internal/site"
	"phoenix/runtime"
)

// SimStatePath is where --sim keeps the simulated cluster, below --root.
const SimStatePath = "/var/lib/phoenix-sim/pve.json"

// Backend is a PVE as the proxmox builtins use it: its API, and the node
// phoenix runs on, where pct reaches containers. Real talks to a PVE host;
// Sim to the simulator of internal/pvesim, with its simulated pct.
type Backend interface {
	API() *pve.Client
	LocalNode(ctx context.Context) (string, error)
	io.Closer
}

var (
	_ Backend = (*Real)(nil)
	_ Backend = (*Sim)(nil)
)

// Real is a PVE host: the node phoenix runs on is this host.
type Real struct {
	client *pve.Client

	once sync.Once
	node string
	err  error
}

func (r *Real) API() *pve.Client { return r.client }

// LocalNode is this host's short name, as PVE names its node.
func (r *Real) LocalNode(ctx context.Context) (string, error) {
	r.once.Do(func() {
		h, err := os.Hostname()
		if err != nil {
			r.err = fmt.Errorf("this host's name: %w", err)
			return
		}
		r.node, _, _ = strings.Cut(h, ".")
	})
	return r.node, r.err
}

func (r *Real) Close() error {
	r.client.Close()
	return nil
}

// Sim is the simulator: in this process (Server set) or an external
// "phoenix sim serve" given with --target. Its pct answers for the
// simulated containers.
type Sim struct {
	client *pve.Client
	Server *pvesim.Server
	Pct    *pvesim.Pct

	once sync.Once
	node string
	err  error
}

func newSim(c *pve.Client, srv *pvesim.Server) *Sim {
	s := &Sim{client: c, Server: srv}
	s.Pct = &pvesim.Pct{Server: srv, Guest: func(ctx context.Context, vmid int) (pvesim.PctGuest, bool, error) {
		g, ok, err := c.Guest(ctx, vmid)
		return pvesim.PctGuest{Node: g.Node, Container: g.Kind == pve.LXC, Running: g.Running()}, ok, err
	}}
	return s
}

func (s *Sim) API() *pve.Client { return s.client }

// LocalNode is the simulator's own node.
func (s *Sim) LocalNode(ctx context.Context) (string, error) {
	s.once.Do(func() { s.node, s.err = s.client.LocalNode(ctx) })
	return s.node, s.err
}

// Close stops the in-process simulator; the run closes its backends.
func (s *Sim) Close() error {
	s.client.Close()
	if s.Server != nil {
		return s.Server.Close()
	}
	return nil
}

// Use makes c, a client of the simulator srv, the run's PVE backend,
// before any builtin connects. Tests use it to pick the simulator's
// nodes, task duration and faults.
func Use(rt *runtime.Runtime, c *pve.Client, srv *pvesim.Server) (*Sim, error) {
	want := newSim(c, srv)
	got, err := runtime.UseBackend(rt, "proxmox",
		func(*runtime.Runtime) (Backend, error) { return want, nil },
		func(*runtime.Runtime) (Backend, error) { return want, nil })
	if err != nil {
		return nil, err
	}
	if got != Backend(want) {
		return nil, errors.New("proxmox: the run is already connected")
	}
	return want, nil
}

// conn is what a builtin call works with: the run's backend and its API.
type conn struct {
	Backend
	Client *pve.Client
	rt     *runtime.Runtime
}

// backendOf returns the run's backend, connecting on first use.
func backendOf(thread *starlark.Thread, fn string) (*conn, context.Context, error) {
	rt := runtime.FromThread(thread)
	b, err := runBackend(rt)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", fn, err)
	}
	return &conn{Backend: b, Client: b.API(), rt: rt}, rt.Context(), nil
}

// runBackend returns the run's backend, connecting on first use.
func runBackend(rt *runtime.Runtime) (Backend, error) {
	return runtime.UseBackend(rt, "proxmox", openReal, openSim)
}

func openReal(rt *runtime.Runtime) (Backend, error) {
	c, err := connect(rt)
	if err != nil {
		return nil, err
	}
	return &Real{client: c}, nil
}

// openSim starts the simulator in this process, or connects to the
// external one --target names.
func openSim(rt *runtime.Runtime) (Backend, error) {
	if rt.Opts.Target == "" {
		return startSim(rt, clientOptions(rt))
	}
	c, err := connect(rt)
	if err != nil {
		return nil, err
	}
	return newSim(c, nil), nil
}

func connect(rt *runtime.Runtime) (*pve.Client, error) {
	conn, err := connection(rt)
	if err != nil {
		return nil, err
	}
	return pve.Connect(rt.Context(), conn, clientOptions(rt))
}

// hostLock serialises host.prepare_mount in one run: parallel converges
// share parent datasets, which must be created once.
func hostLock(rt *runtime.Runtime) *sync.Mutex {
	v, _ := rt.Backend("proxmox:host-lock", func() (any, error) { return &sync.Mutex{}, nil })
	return v.(*sync.Mutex)
}

func clientOptions(rt *runtime.Runtime) pve.Options {
	w := rt.Opts.Stderr
	o := pve.Options{Logf: func(format string, args ...any) { rt.Logf(runtime.LevelInfo, format, args...) }}
	if rt.Logs(runtime.LevelDebug) {
		o.Debugf = func(format string, args ...any) { rt.Logf(runtime.LevelDebug, format, args...) }
	}
	switch {
	case !rt.Logs(runtime.LevelInfo):
	case isTerminal(w):
		o.Progress = w
	default:
		o.TaskLines = w
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
			if _, err := os.Stat(host); errors.Is(err, fs.ErrNotExist) {
				return pve.Connection{}, fmt.Errorf("no PVE credentials: neither %s nor %s is set, and the site config's pve.credentials_file %s does not exist%s", pve.EnvToken, pve.EnvPassword, cfg.CredentialsFile, underRoot(rt))
			}
			checkPerm := func(perm fs.FileMode) error {
				return rt.CheckSecretPerms("PVE credentials file", cfg.CredentialsFile, perm)
			}
			if conn.Auth, err = pve.ReadCredentialsFileChecked(host, checkPerm); err != nil {
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
				if _, err := os.Stat(host); errors.Is(err, fs.ErrNotExist) {
					return pve.Connection{}, fmt.Errorf("no way to trust the PVE API's certificate: none of %s, %s and %s is set, and the site config's pve.ca_file %s does not exist%s", pve.EnvFingerprint, pve.EnvCAFile, pve.EnvInsecure, cfg.CAFile, underRoot(rt))
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

// underRoot names --root in errors about site paths when it is not /.
func underRoot(rt *runtime.Runtime) string {
	if rt.Opts.RootDir == "/" {
		return ""
	}
	return " under --root " + rt.Opts.RootDir
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

// loadSite loads --config through the run's one loader (config's); nil
// when it holds no site.
func loadSite(rt *runtime.Runtime) (*site.Site, error) {
	return config.RunSite(rt)
}

// startSim runs the simulator in this process on a loopback port, with
// its state under --root, and connects to it over HTTPS exactly as to a
// real host: a pinned fingerprint and a root@pam login.
func startSim(rt *runtime.Runtime, opts pve.Options) (*Sim, error) {
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
	// It dies with this run: written behind, and for the last time at
	// Close, so that a run creating N guests does not write the state N
	// times.
	srv, err := pvesim.New(pvesim.Options{RootPassword: pw, StateFile: state, WriteBehind: 200 * time.Millisecond})
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
	return newSim(c, srv), nil
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}

// guest finds a guest as the run sees it: PVE's answer, then what the
// plan declared for it (created, powered, destroyed). onlyPlanned is true
// for a guest that exists only in the plan.
func (be *conn) guest(ctx context.Context, vmid int) (g pve.Guest, ok, onlyPlanned bool, err error) {
	g, ok, err = be.Client.Guest(ctx, vmid)
	if err != nil {
		return pve.Guest{}, false, false, err
	}
	pg, gone, planned := plannedGuest(be.rt, vmid)
	switch {
	case planned:
		return pg, true, !ok || g.Kind != pg.Kind, nil
	case gone:
		return pve.Guest{}, false, false, nil
	}
	return g, ok, false, nil
}

// plannedGuest is what the plan declared for a VMID, of either kind.
func plannedGuest(rt *runtime.Runtime, vmid int) (g pve.Guest, gone, ok bool) {
	for _, kind := range []pve.Kind{pve.LXC, pve.QEMU} {
		pg, isGone, isPlanned := runtime.PlannedAs[pve.Guest](rt, pve.Resource(kind, vmid))
		if isPlanned {
			return pg, false, true
		}
		gone = gone || isGone
	}
	return pve.Guest{}, gone, false
}
