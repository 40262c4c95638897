package ca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"fmt"
	"math/big"
	"net"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"phoenix/internal/machine"

	"github.com/smallstep/certificates/authority/config"
	"github.com/smallstep/certificates/authority/provisioner"
	"github.com/smallstep/certificates/db"
	"go.step.sm/crypto/jose"
)

// Durations are the leaf certificate lifetimes the provisioners allow
// (their claims). Zero fields keep step-ca's defaults (5m, 24h, 24h).
type Durations struct {
	Min, Default, Max time.Duration
}

// Options describe the CA that Create, Adopt and Reissue converge.
type Options struct {
	// Dir is the directory the CA lives in (a bind-mount source: it is
	// never replaced, only its children), a path under Root.
	Dir string
	// Root is where every path resolves, through directory handles; nil
	// is the host's "/".
	Root *machine.Root
	// GuestDir is where Dir is seen by the step-ca that serves it; ca.json
	// names paths under it.
	GuestDir string
	// Name is the CA's name: "<Name> Root CA", "<Name> Intermediate CA".
	Name        string
	DNSNames    []string
	Address     string // ":9000"
	Provisioner string // the JWK provisioner's name
	// Password encrypts the CA keys; ProvisionerPassword the JWK
	// provisioner's key.
	Password            []byte
	ProvisionerPassword []byte
	// ACME adds an ACME provisioner named "acme".
	ACME      bool
	Durations Durations
	// UID and GID own everything written; -1 keeps the process's.
	UID, GID int
	// RootLifetime and IntermediateLifetime default to 10 years, as in
	// step ca init.
	RootLifetime, IntermediateLifetime time.Duration
	// Now is the time certificates start; zero means time.Now().
	Now time.Time
}

// Result describes what Create, Adopt or Reissue did.
type Result struct {
	Dir         string
	Fingerprint string
	Root        string // host path of the root certificate
	GuestRoot   string // the same file inside the guest
	URL         string // https://<first DNS name>:<port>
	Created     bool   // a new root was made
	Adopted     bool   // an existing root was imported
	Reissued    bool   // a new intermediate was issued
	// Finished: an interrupted earlier run was completed instead of
	// starting over.
	Finished             bool
	IntermediateNotAfter time.Time
}

const defaultCALifetime = 10 * 365 * 24 * time.Hour

// URL is the CA's address as clients inside the site reach it.
func (o *Options) URL() string {
	host := "localhost"
	if len(o.DNSNames) > 0 {
		host = o.DNSNames[0]
	}
	_, port, err := net.SplitHostPort(o.Address)
	if err != nil || port == "443" || port == "" {
		return "https://" + host
	}
	return "https://" + net.JoinHostPort(host, port)
}

func (o *Options) now() time.Time {
	if o.Now.IsZero() {
		return time.Now()
	}
	return o.Now
}

// Validate checks the options Create needs, so that a caller can refuse
// bad input before it plans anything.
func (o *Options) Validate() error { return o.validate("ca.Options", true) }

func (o *Options) validate(what string, needProvisioner bool) error {
	bad := func(f string, a ...any) error { return fmt.Errorf("%s: %s", what, fmt.Sprintf(f, a...)) }
	switch {
	case o.Dir == "" || !filepath.IsAbs(o.Dir):
		return bad("dir %q must be an absolute path", o.Dir)
	case o.GuestDir == "" || !path.IsAbs(o.GuestDir) || path.Clean(o.GuestDir) == "/":
		return bad("guest_dir %q must be an absolute path below /", o.GuestDir)
	case len(o.Password) == 0:
		return bad("empty CA password")
	}
	if !needProvisioner {
		return nil
	}
	switch {
	case strings.TrimSpace(o.Name) == "":
		return bad("empty name")
	case len(o.DNSNames) == 0:
		return bad("no dns_names")
	case o.Provisioner == "":
		return bad("empty provisioner name")
	case len(o.ProvisionerPassword) == 0:
		return bad("empty provisioner password")
	}
	if _, _, err := net.SplitHostPort(o.Address); err != nil {
		return bad("address %q: %v", o.Address, err)
	}
	d := o.Durations
	if d.Min < 0 || d.Default < 0 || d.Max < 0 {
		return bad("negative duration")
	}
	if d.Default > 0 && d.Max > 0 && d.Default > d.Max {
		return bad("default certificate duration %s exceeds the maximum %s", d.Default, d.Max)
	}
	if d.Min > 0 && d.Default > 0 && d.Min > d.Default {
		return bad("minimum certificate duration %s exceeds the default %s", d.Min, d.Default)
	}
	return nil
}

// guest returns the guest path of a file in the layout.
func (o *Options) guest(rel string) string { return path.Join(path.Clean(o.GuestDir), rel) }

// testHookAfterMove, when set, runs after each child is moved into place;
// an error stops the install there, as a kill would.
var testHookAfterMove func(child string) error

// Create builds a new CA in opts.Dir. It refuses when a CA (valid or
// not) is there; a half-built one left by an interrupted run is finished
// (when its staging is complete) or restarted.
func Create(opts Options) (*Result, error) {
	const what = "ca.Create"
	if err := opts.validate(what, true); err != nil {
		return nil, err
	}
	st, err := prepare(what, opts)
	if err != nil {
		return nil, err
	}
	if st.StagingReady {
		return finish(what, opts, "")
	}
	staging := hostPath(opts.Dir, StagingDir)
	if err := rootOr(opts.Root).RemoveAll(staging); err != nil {
		return nil, fmt.Errorf("%s: removing the unfinished staging directory: %w", what, err)
	}
	if err := buildNew(staging, opts); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if err := markReady(staging, "create", opts); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	res, err := finish(what, opts, "create")
	if err != nil {
		return nil, err
	}
	res.Finished = false
	return res, nil
}

// prepare makes sure opts.Dir exists and holds no CA.
func prepare(what string, opts Options) (*State, error) {
	r := rootOr(opts.Root)
	if err := r.MkdirAll(filepath.Dir(opts.Dir), 0o755); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	there, err := present(r, opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if !there {
		if err := mkdirMode(r, opts.Dir, modePrivateDir, opts.UID, opts.GID); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
	}
	st, err := inspectAt(r, opts.Dir, opts.Password, opts.now())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if st.Exists() {
		return nil, fmt.Errorf("%s: %s already holds a CA (%s, root %s); refusing to replace it", what, opts.Dir, st.Status, ShortFingerprint(st.Fingerprint))
	}
	if len(st.Leftovers) > 0 {
		return nil, fmt.Errorf("%s: %s holds CA leftovers that phoenix did not stage (%s); back them up first (force)",
			what, opts.Dir, strings.Join(st.Leftovers, ", "))
	}
	return st, nil
}

// mkStaging creates the staging directory and the layout's directories.
func mkStaging(staging string, opts Options) error {
	r := rootOr(opts.Root)
	if err := mkdirMode(r, staging, modePrivateDir, opts.UID, opts.GID); err != nil {
		return err
	}
	for _, c := range children {
		if err := mkdirMode(r, filepath.Join(staging, c), childMode[c], opts.UID, opts.GID); err != nil {
			return err
		}
	}
	return nil
}

// buildNew generates a new root, intermediate and provisioner into staging.
func buildNew(staging string, opts Options) error {
	if err := mkStaging(staging, opts); err != nil {
		return err
	}
	now := opts.now()
	rootLife, interLife := opts.RootLifetime, opts.IntermediateLifetime
	if rootLife <= 0 {
		rootLife = defaultCALifetime
	}
	if interLife <= 0 {
		interLife = defaultCALifetime
	}
	rootKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	root, err := signCA(caSubject(opts.Name, "Root CA"), rootKey, nil, nil, now, rootLife, 1)
	if err != nil {
		return fmt.Errorf("root certificate: %w", err)
	}
	interKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	inter, err := signCA(caSubject(opts.Name, "Intermediate CA"), interKey, root, rootKey, now, interLife, 0)
	if err != nil {
		return fmt.Errorf("intermediate certificate: %w", err)
	}

	pub, priv, err := jose.GenerateDefaultKeyPair(opts.ProvisionerPassword)
	if err != nil {
		return fmt.Errorf("provisioner key: %w", err)
	}
	encrypted, err := priv.CompactSerialize()
	if err != nil {
		return fmt.Errorf("provisioner key: %w", err)
	}
	claims := opts.Durations.claims()
	provs := provisioner.List{&provisioner.JWK{
		Type: "JWK", Name: opts.Provisioner, Key: pub, EncryptedKey: encrypted, Claims: claims,
	}}
	if opts.ACME {
		name := "acme"
		if opts.Provisioner == name {
			name = "acme-1" // as step ca init avoids the clash
		}
		provs = append(provs, &provisioner.ACME{Type: "ACME", Name: name, Claims: claims})
	}
	cfg := &config.Config{
		Root:             []string{opts.guest(RootCertFile)},
		IntermediateCert: opts.guest(IntermediateCertFile),
		IntermediateKey:  opts.guest(IntermediateKeyFile),
		Address:          opts.Address,
		DNSNames:         opts.DNSNames,
		DB:               &db.Config{Type: "badgerv2", DataSource: opts.guest(DBDir)},
		AuthorityConfig:  &config.AuthConfig{Provisioners: provs},
		TLS:              &config.DefaultTLSOptions,
	}
	cfgJSON, err := json.MarshalIndent(cfg, "", "\t")
	if err != nil {
		return fmt.Errorf("%s: %w", ConfigFile, err)
	}

	rootPEM, err := encryptKey(rootKey, opts.Password)
	if err != nil {
		return err
	}
	interPEM, err := encryptKey(interKey, opts.Password)
	if err != nil {
		return err
	}
	files := []stagedFile{
		{RootCertFile, encodeCert(root), modeCert},
		{IntermediateCertFile, encodeCert(inter), modeCert},
		{RootKeyFile, rootPEM, modeKey},
		{IntermediateKeyFile, interPEM, modeKey},
		{ConfigFile, append(cfgJSON, '\n'), modeKey},
		{DefaultsFile, defaultsJSON(opts, Fingerprint(root)), modeCert},
	}
	return writeStaged(staging, files, opts)
}

type stagedFile struct {
	rel  string
	data []byte
	mode os.FileMode
}

func writeStaged(staging string, files []stagedFile, opts Options) error {
	r := rootOr(opts.Root)
	for _, f := range files {
		if err := writeFileAtomic(r, hostPath(staging, f.rel), f.data, f.mode, opts.UID, opts.GID); err != nil {
			return err
		}
	}
	return syncTree(r, staging)
}

// defaultsJSON is step's config/defaults.json, so that the step CLI run
// with STEPPATH=<guest dir> finds the CA.
func defaultsJSON(opts Options, fingerprint string) []byte {
	b, _ := json.MarshalIndent(map[string]string{
		"ca-url":      opts.URL(),
		"ca-config":   opts.guest(ConfigFile),
		"fingerprint": fingerprint,
		"root":        opts.guest(RootCertFile),
	}, "", "\t")
	return append(b, '\n')
}

func (d Durations) claims() *provisioner.Claims {
	if d == (Durations{}) {
		return nil
	}
	c := &provisioner.Claims{}
	if d.Min > 0 {
		c.MinTLSDur = &provisioner.Duration{Duration: d.Min}
	}
	if d.Default > 0 {
		c.DefaultTLSDur = &provisioner.Duration{Duration: d.Default}
	}
	if d.Max > 0 {
		c.MaxTLSDur = &provisioner.Duration{Duration: d.Max}
	}
	return c
}

func caSubject(name, what string) pkix.Name {
	return pkix.Name{CommonName: name + " " + what, Organization: []string{name}}
}

// signCA makes a CA certificate for key, self-signed when parent is nil.
// Its lifetime never outlasts the parent's.
func signCA(subject pkix.Name, key crypto.Signer, parent *x509.Certificate, parentKey crypto.Signer, now time.Time, life time.Duration, maxPathLen int) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, err
	}
	notBefore := now.Add(-time.Minute).Truncate(time.Second) // clock skew
	notAfter := now.Add(life).Truncate(time.Second)
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               subject,
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            maxPathLen,
		MaxPathLenZero:        maxPathLen == 0,
	}
	signer := key
	if parent == nil {
		parent = tmpl
	} else {
		signer = parentKey
		if tmpl.NotAfter.After(parent.NotAfter) {
			tmpl.NotAfter = parent.NotAfter
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, key.Public(), signer)
	if err != nil {
		return nil, err
	}
	return x509.ParseCertificate(der)
}

// markReady records that everything in staging is on disk; origin is
// "create" or "adopt <fingerprint>".
func markReady(staging, origin string, opts Options) error {
	return writeFileAtomic(rootOr(opts.Root), filepath.Join(staging, stagingReady), []byte(origin+"\n"), modeKey, opts.UID, opts.GID)
}

func stagingOrigin(r *machine.Root, dir string) string {
	b, err := readFile(r, hostPath(dir, path.Join(StagingDir, stagingReady)))
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

type marker struct {
	Fingerprint string `json:"fingerprint"`
	Origin      string `json:"origin"`
}

// finish moves a ready staging directory's children into place, then
// writes the completion marker, and checks the result.
func finish(what string, opts Options, origin string) (*Result, error) {
	dir := opts.Dir
	r := rootOr(opts.Root)
	staging := hostPath(dir, StagingDir)
	if origin == "" {
		origin = strings.Fields(stagingOrigin(r, dir) + " create")[0]
	}
	for _, c := range children {
		src, dst := filepath.Join(staging, c), filepath.Join(dir, c)
		srcThere, err := present(r, src)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		dstThere, err := present(r, dst)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		if !srcThere {
			if dstThere {
				continue // moved by the interrupted run
			}
			return nil, fmt.Errorf("%s: staging directory lost %s", what, c)
		}
		if dstThere {
			empty, err := dirEmpty(r, dst)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", what, err)
			}
			if !empty {
				return nil, fmt.Errorf("%s: %s is in the way of the staged %s", what, dst, c)
			}
			// rename refuses to replace a directory, even an empty one.
			if err := r.Remove(dst); err != nil {
				return nil, fmt.Errorf("%s: %w", what, err)
			}
		}
		if err := r.Rename(src, dst, true); err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		if testHookAfterMove != nil {
			if err := testHookAfterMove(c); err != nil {
				return nil, err
			}
		}
	}
	if err := syncDir(r, dir); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if err := r.Remove(filepath.Join(staging, stagingReady)); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if err := r.Remove(staging); err != nil {
		return nil, fmt.Errorf("%s: staging directory not empty after the install: %w", what, err)
	}
	root, err := readCert(r, hostPath(dir, RootCertFile), RootCertFile)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	m, _ := json.Marshal(marker{Fingerprint: Fingerprint(root), Origin: origin})
	if err := writeFileAtomic(r, hostPath(dir, MarkerFile), append(m, '\n'), modeCert, opts.UID, opts.GID); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	st, err := inspectAt(r, dir, opts.Password, opts.now())
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if st.Status != Valid && st.Status != NeedsReissue {
		return nil, fmt.Errorf("%s: the installed CA is %s: %s", what, st.Status, st.Reason)
	}
	return &Result{
		Dir:                  dir,
		Fingerprint:          st.Fingerprint,
		Root:                 st.Files.RootCert,
		GuestRoot:            path.Join(st.GuestDir, RootCertFile),
		URL:                  opts.URL(),
		Created:              origin == "create",
		Adopted:              origin == "adopt",
		Finished:             true,
		IntermediateNotAfter: st.IntermediateNotAfter,
	}, nil
}

// Mark writes the completion marker of a CA that is in place and valid
// but unmarked: a run killed between the install and the marker leaves
// one. Whether it was created or adopted is not known any more.
func Mark(opts Options) error {
	r := rootOr(opts.Root)
	root, err := readCert(r, hostPath(opts.Dir, RootCertFile), RootCertFile)
	if err != nil {
		return fmt.Errorf("ca.Mark: %w", err)
	}
	// A kill after finish's moves, before it removed the staging
	// directory, leaves it emptied but for its ready file: finish it too.
	// One that still holds anything else is left for inspection.
	staging := hostPath(opts.Dir, StagingDir)
	if there, err := present(r, staging); err != nil {
		return fmt.Errorf("ca.Mark: %w", err)
	} else if there {
		ready := filepath.Join(staging, stagingReady)
		if has, err := present(r, ready); err != nil {
			return fmt.Errorf("ca.Mark: %w", err)
		} else if has {
			if err := r.Remove(ready); err != nil {
				return fmt.Errorf("ca.Mark: %w", err)
			}
		}
		if empty, err := dirEmpty(r, staging); err != nil {
			return fmt.Errorf("ca.Mark: %w", err)
		} else if empty {
			if err := r.Remove(staging); err != nil {
				return fmt.Errorf("ca.Mark: %w", err)
			}
		}
	}
	m, _ := json.Marshal(marker{Fingerprint: Fingerprint(root), Origin: "unknown"})
	if err := writeFileAtomic(r, hostPath(opts.Dir, MarkerFile), append(m, '\n'), modeCert, opts.UID, opts.GID); err != nil {
		return fmt.Errorf("ca.Mark: %w", err)
	}
	return nil
}
