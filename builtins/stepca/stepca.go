// Package stepca is the Starlark `stepca` module: the site's private CA and the certificates it issues.
package stepca

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"path"
	"strings"
	"sync"
	"time"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"phoenix/builtins/config"
	"phoenix/internal/ca"
	"phoenix/internal/machine"
	"phoenix/internal/site"
	"phoenix/runtime"
)

// Family registers stepca with the runtime.
var Family = runtime.Family{Name: "stepca", Module: Module}

// Module is the stepca module. Every path is a site path (under --root);
// secrets are secret values (secret.read, secret.ensure).
//
//	init(dir: str, name: str, dns_names: list, provisioner: str, password: secret, provisioner_password: secret, guest_dir: str = "/etc/step-ca/ssl", address: str = ":9000", acme: bool = True, durations: struct|dict|None = None, adopt_from: str|list|None = None, force: bool = False, reinit: bool = False, owner: str|int|tuple|None = None) - struct(changed, action, created, adopted, reissued, dir, root, fingerprint, url, backup, snapshot)
//	status(dir: str, password: secret) - struct(status, reason, fingerprint, root_subject, intermediate_not_after, provisioners, guest_dir, dns_names, address)
//	confirm_replace(dir: str, password: secret, reinit: bool = False, force: bool = False) - bool
//	export(dir: str, to: str, provisioner_password: secret|None = None, owner: str|int|tuple|None = None, ca_url: str = "", provisioner: str = "", mounted_at: str = "") - struct(changed, fingerprint, path, root, defaults)
//	certificate(ca_url: str, root: str, provisioner: str, provisioner_password: secret, subject: str, cert: str, key: str, sans: list|None = None, renew_before: str|None = None, owner: str|int|tuple|None = None) - struct(changed, action, reason, serial, not_after, sans, cert, key)
//	serve(dir: str, password: secret, listen: str = "127.0.0.1:0") - struct(url, root, fingerprint)
//
// init converges a CA in dir (certs/, secrets/, config/ca.json, db/), so
// that the upstream step CLI and step-ca can use it; ca.json names the
// paths as guest_dir (where the container sees dir), the files are written
// at dir, owned by owner (None, uid, "uid:gid" or (uid, gid)). By state:
//
//   - valid (config parses, root -> intermediate verifies, keys decrypt
//     with password and match): nothing is touched, unchanged;
//   - the intermediate expires within 30 days: a new intermediate under
//     the same root (action "reissue"), so issued leaves stay trusted;
//   - missing, and adopt_from holds a step CA: it is imported with its
//     root, provisioners and database, ca.json rewritten for guest_dir
//     (action "adopt"). adopt_from is a path that must hold a CA, or a
//     list of candidate paths of which the first holding a config/ca.json
//     is adopted (the others may be missing). The CA must have a JWK
//     provisioner named provisioner;
//   - missing, nothing to adopt: a new CA (action "create"), its
//     provisioner claims from durations (struct or dict of Go durations:
//     default, max, min);
//   - exists but invalid: an error saying which file and what is wrong,
//     and nothing is touched.
//
// force=True repairs instead of failing: for an invalid CA (or CA files
// that no run of phoenix staged), a ZFS snapshot of the dataset holding
// dir (@phoenix-<backup name>), then the CA's entries are moved to
// <dir>.bak-<12 hex of the old root's fingerprint> beside dir, then the
// CA is adopted from adopt_from or created. A valid CA is kept.
// reinit=True is the explicit clean slate: the same snapshot and backup
// even of a valid CA, then always a new CA (adopt_from must be None or a
// candidate list, which is ignored). Nothing is ever deleted.
//
// A new or adopted CA is staged inside dir and moved into place with
// renames, a completion marker last: a run killed at any point leaves
// either no CA or a complete one, and the next run finishes it. In a plan
// the fingerprint of a CA to be created is unknown; its directories and
// files count as existing for later reads, their content unknown.
//
// export writes root_ca.crt (0644) into the directory to (0755), and
// provisioner_password.txt (0600) when given, each atomically and only
// when it differs. With ca_url it also writes the CA's coordinates as
// step's config/defaults.json (0644; "ca-url", "fingerprint", "root" and,
// when given, "provisioner"), so that a consumer runs `STEPPATH=<export>
// step ca certificate NAME CRT KEY --password-file <export>/
// provisioner_password.txt` with no other flag and no prompt. step does not
// resolve a relative path against STEPPATH, so "root" is absolute:
// mounted_at is where consumers see the export (default: to). Only the
// root and the provisioner password ever go into an export, never a key
// of the CA.
//
// certificate keeps a leaf certificate: unchanged while it chains to root,
// covers exactly sans (default: subject) and is outside the renew window
// (renew_before, a Go duration; default a third of its lifetime). Inside
// the window it renews over mTLS; a missing, foreign, expired or
// different certificate is issued anew with a JWK one-time token. The
// provisioner key is decrypted once per run. cert holds the chain; the
// directories of cert and key must exist. Under --sim, where no CA daemon
// runs in the simulated guest, a ca_url that is the url of a CA this run
// converged, or of the site's CA (its dns_names or its guest's IP, with
// the port of its address; a later run than the one that converged it),
// is answered by that CA in process.
//
// serve runs the CA in dir in this process until the run ends (tests,
// demos); its ca.json's guest paths are mapped to dir. status only reads.
// confirm_replace asks, at the start of a run, the question init with the
// same reinit and force would ask before it moves the CA aside (when it
// would), so that "no" leaves the run's other changes undone too; init
// does not ask again. It returns whether init will replace the CA.
var Module = &starlarkstruct.Module{
	Name: "stepca",
	Members: starlark.StringDict{
		"init":            starlark.NewBuiltin("stepca.init", initCA),
		"status":          starlark.NewBuiltin("stepca.status", status),
		"confirm_replace": starlark.NewBuiltin("stepca.confirm_replace", confirmReplace),
		"export":          starlark.NewBuiltin("stepca.export", export),
		"certificate":     starlark.NewBuiltin("stepca.certificate", certificate),
		"serve":           starlark.NewBuiltin("stepca.serve", serve),
	},
}

// Backend is the CA engine as the stepca builtins use it: CA
// directories under --root (inspect, create, adopt, reissue, back up; dir
// and from are site paths, acted on through the run's root),
// certificates from a running CA, and CAs served in this process. Real
// asks the CA at ca_url over the network; Sim answers a ca_url that
// names a CA this run converged (stepca.init's url) or the site's CA by
// signing with that CA's intermediate in process, since under --sim no
// daemon runs inside the simulated guest. Other URLs (a CA stepca.serve
// runs) it asks as Real does.
type Backend interface {
	Inspect(dir string, password []byte) (*ca.State, error)
	InspectSource(dir string, password []byte) (*ca.Source, error)
	Create(o ca.Options) (*ca.Result, error)
	Adopt(o ca.Options, from string) (*ca.Result, error)
	Reissue(o ca.Options) (*ca.Result, error)
	Backup(dir, tag string) (string, error)
	// Converged tells the backend of a CA this run made or found valid.
	Converged(o ca.Options)
	Certificate(ctx context.Context, req ca.CertRequest, st *ca.CertStatus) (*ca.CertResult, error)
	Serve(configPath string, password []byte, o ca.ServeOptions) (*ca.Server, error)
	// Stats counts what certificate requests did (tests).
	Stats() ca.IssuerStats
	io.Closer
}

var (
	_ Backend = (*Real)(nil)
	_ Backend = (*Sim)(nil)
)

// Real is the CA engine on this host and the issuer that decrypts each
// provisioner key once per run; it stops the servers Serve started.
type Real struct {
	issuer *ca.Issuer
	root   *machine.Root // the run's: every CA path is a site path under it

	mu      sync.Mutex
	servers []*ca.Server
}

func (r *Real) Inspect(dir string, password []byte) (*ca.State, error) {
	return ca.InspectIn(r.root, dir, password)
}

func (r *Real) InspectSource(dir string, password []byte) (*ca.Source, error) {
	return ca.InspectSourceIn(r.root, dir, password)
}

func (r *Real) Create(o ca.Options) (*ca.Result, error)             { return ca.Create(o) }
func (r *Real) Adopt(o ca.Options, from string) (*ca.Result, error) { return ca.Adopt(o, from) }
func (r *Real) Reissue(o ca.Options) (*ca.Result, error)            { return ca.Reissue(o) }
func (r *Real) Backup(dir, tag string) (string, error)              { return ca.BackupIn(r.root, dir, tag) }
func (r *Real) Converged(ca.Options)                                {}

func (r *Real) Certificate(ctx context.Context, req ca.CertRequest, st *ca.CertStatus) (*ca.CertResult, error) {
	return r.issuer.Apply(ctx, req, st)
}

func (r *Real) Serve(configPath string, password []byte, o ca.ServeOptions) (*ca.Server, error) {
	srv, err := ca.Serve(configPath, password, o)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.servers = append(r.servers, srv)
	r.mu.Unlock()
	return srv, nil
}

func (r *Real) Stats() ca.IssuerStats { return r.issuer.Stats() }

// Close stops the servers Serve started.
func (r *Real) Close() error {
	r.mu.Lock()
	srvs := r.servers
	r.servers = nil
	r.mu.Unlock()
	var errs []error
	for _, s := range srvs {
		errs = append(errs, s.Stop())
	}
	return errors.Join(errs...)
}

// Sim is Real with the CAs this run converged answering at their URLs,
// and the site's CA (config's ca section) answering at its URL or at its
// guest's IP: a run that converges a consumer of the CA (lxc_101.star)
// comes after the run that converged the CA.
type Sim struct {
	*Real
	// site is the run's site config, nil without one.
	site func() (*site.Site, error)

	mu     sync.Mutex
	cas    map[string]ca.Options // by URL
	signed int
}

// Converged remembers a CA so that requests to its URL are answered.
func (s *Sim) Converged(o ca.Options) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cas[o.URL()] = o
}

// Certificate signs with a converged CA's intermediate, as that CA would;
// a renewal is a new certificate for the same request.
func (s *Sim) Certificate(ctx context.Context, req ca.CertRequest, st *ca.CertStatus) (*ca.CertResult, error) {
	s.mu.Lock()
	o, ok := s.cas[req.CAURL]
	s.mu.Unlock()
	if !ok && st.Action != ca.CertUnchanged {
		var err error
		if o, ok, err = s.siteCA(req.CAURL); err != nil {
			return nil, err
		}
	}
	if !ok || st.Action == ca.CertUnchanged {
		return s.Real.Certificate(ctx, req, st)
	}
	res, err := ca.SignLocal(o.Dir, o.Password, req, o.Durations.Default, st.Action, time.Now())
	if err == nil {
		s.mu.Lock()
		s.signed++
		s.mu.Unlock()
	}
	return res, err
}

// Stats counts the certificates signed in process as issued.
func (s *Sim) Stats() ca.IssuerStats {
	st := s.Real.Stats()
	s.mu.Lock()
	st.Issued += s.signed
	s.mu.Unlock()
	return st
}

// siteCA is the site's CA when url names it: https://NAME:PORT for one
// of its dns_names, or its guest's IP, with the port of its address. Its
// password is read from password.txt in its private directory, where
// lxc_103.star keeps it for the daemon.
func (s *Sim) siteCA(url string) (ca.Options, bool, error) {
	if s.site == nil {
		return ca.Options{}, false, nil
	}
	st, err := s.site()
	if err != nil || st == nil {
		return ca.Options{}, false, err
	}
	c := st.Hypervisor.CA
	_, port, err := net.SplitHostPort(c.Address)
	if err != nil || c.PrivateHostPath == "" {
		return ca.Options{}, false, nil
	}
	hosts := append([]string(nil), c.DNSNames...)
	for _, g := range st.LXCs {
		if g.VMID == c.VMID && g.Network.IP.IsValid() {
			hosts = append(hosts, g.Network.IP.Addr().String())
		}
	}
	named := false
	for _, h := range hosts {
		named = named || url == "https://"+net.JoinHostPort(h, port)
	}
	if !named {
		return ca.Options{}, false, nil
	}
	pwFile := path.Join(c.PrivateHostPath, "password.txt")
	pw, err := s.root.ReadFile(pwFile)
	if err != nil {
		return ca.Options{}, false, fmt.Errorf("the site's CA at %s (simulated): its password: %w", url, err)
	}
	return ca.Options{
		Dir: c.PrivateHostPath, Password: []byte(strings.TrimSpace(string(pw))),
		DNSNames: c.DNSNames, Address: c.Address,
		Durations: ca.Durations{Default: c.Durations.Default.Duration, Max: c.Durations.Max.Duration},
	}, true, nil
}

func newReal(rt *runtime.Runtime) (Backend, error) {
	return &Real{issuer: ca.NewIssuer(), root: rt.Root}, nil
}

func newSim(rt *runtime.Runtime) (Backend, error) {
	return &Sim{
		Real: &Real{issuer: ca.NewIssuer(), root: rt.Root},
		site: func() (*site.Site, error) { return config.RunSite(rt) },
		cas:  map[string]ca.Options{},
	}, nil
}

// plannedCA is a CA a plan declares (resource "ca:DIR"): its fingerprint
// and root are known when it is adopted, unknown when it is created.
type plannedCA struct {
	fingerprint string
	rootPEM     []byte
}

// BackendOf returns the run's stepca backend, made on first use.
func BackendOf(rt *runtime.Runtime) (Backend, error) {
	return runtime.UseBackend(rt, "stepca", newReal, newSim)
}

// sitePath checks that p is a clean absolute site path and resolves it
// under --root.
func sitePath(rt *runtime.Runtime, fn, arg, p string) (string, error) {
	if !path.IsAbs(p) || path.Clean(p) != p {
		return "", fmt.Errorf("%s: %s %q: want a clean absolute site path", fn, arg, p)
	}
	h, err := rt.Root.Resolve(p)
	if err != nil {
		return "", fmt.Errorf("%s: %s: %w", fn, arg, err)
	}
	return h, nil
}

// secretArg insists on a secret value: a password given as a plain string
// would print in plans and errors.
func secretArg(fn, arg string, v starlark.Value) ([]byte, error) {
	s, ok := v.(*runtime.Secret)
	if !ok {
		if err := runtime.Known(v, fn+": "+arg); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%s: %s: want a secret (secret.read, secret.ensure), got %s", fn, arg, v.Type())
	}
	if len(s.Reveal()) == 0 {
		return nil, fmt.Errorf("%s: %s is empty", fn, arg)
	}
	return s.Reveal(), nil
}

// optSecret is secretArg for an argument that may be None.
func optSecret(fn, arg string, v starlark.Value) ([]byte, error) {
	if v == nil || v == starlark.None {
		return nil, nil
	}
	return secretArg(fn, arg, v)
}

// duration parses a Go duration string ("168h"); "" and None are zero.
func duration(fn, arg string, v starlark.Value) (time.Duration, error) {
	if v == nil || v == starlark.None {
		return 0, nil
	}
	s, ok := starlark.AsString(v)
	if !ok {
		return 0, fmt.Errorf("%s: %s: want a duration string such as \"168h\", got %s", fn, arg, v.Type())
	}
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%s: %s: %w", fn, arg, err)
	}
	if d < 0 {
		return 0, fmt.Errorf("%s: %s: negative duration %s", fn, arg, s)
	}
	return d, nil
}

// durations reads init's durations: a struct or dict with default, max
// and min, each a duration string or None.
func durations(fn string, v starlark.Value) (ca.Durations, error) {
	var d ca.Durations
	if v == nil || v == starlark.None {
		return d, nil
	}
	if rec, _, ok := site.RecordOf(v); ok {
		if sd, ok := rec.(*site.CADurations); ok { // the site's ca.durations, as they are
			return ca.Durations{Default: sd.Default.Duration, Max: sd.Max.Duration}, nil
		}
	}
	get := func(k string) (starlark.Value, error) {
		switch x := v.(type) {
		case *starlark.Dict:
			val, found, err := x.Get(starlark.String(k))
			if err != nil || !found {
				return nil, err
			}
			return val, nil
		case starlark.HasAttrs:
			val, err := x.Attr(k)
			if err != nil {
				return nil, nil // no such field
			}
			return val, nil
		}
		return nil, fmt.Errorf("%s: durations: want a struct or dict with default, max and min, got %s", fn, v.Type())
	}
	if d2, ok := v.(*starlark.Dict); ok {
		for _, k := range d2.Keys() {
			ks, _ := starlark.AsString(k)
			if ks != "default" && ks != "max" && ks != "min" {
				return d, fmt.Errorf("%s: durations: unknown key %s (want default, max, min)", fn, k)
			}
		}
	}
	for _, f := range []struct {
		key string
		dst *time.Duration
	}{{"default", &d.Default}, {"max", &d.Max}, {"min", &d.Min}} {
		val, err := get(f.key)
		if err != nil {
			return d, err
		}
		if *f.dst, err = duration(fn, "durations."+f.key, val); err != nil {
			return d, err
		}
	}
	return d, nil
}

func orNone(s string) starlark.Value {
	if s == "" {
		return starlark.None
	}
	return starlark.String(s)
}

// joinSite joins a site path and a layout path.
func joinSite(dir, rel string) string { return path.Join(dir, rel) }

func timeString(t time.Time) starlark.Value {
	if t.IsZero() {
		return starlark.None
	}
	return starlark.String(t.UTC().Format(time.RFC3339))
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func commaList(ss []string) string { return strings.Join(ss, ", ") }

// siteText rewrites the host paths in an engine's message to the site
// paths scripts use, so that messages do not depend on --root.
func siteText(rt *runtime.Runtime, s string) string {
	if d := rt.Root.Dir(); d != "/" {
		s = strings.ReplaceAll(s, d+"/", "/")
	}
	return s
}

// siteErr is siteText for an error, prefixed with the builtin's name.
// The cause stays reachable through errors.Is and errors.As.
func siteErr(rt *runtime.Runtime, fn string, err error) error {
	return &siteError{msg: fn + ": " + siteText(rt, err.Error()), err: err}
}

type siteError struct {
	msg string
	err error
}

func (e *siteError) Error() string { return e.msg }
func (e *siteError) Unwrap() error { return e.err }

// fmtDur prints a duration as a site config writes it: 168h, not 168h0m0s.
func fmtDur(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}
