package ca

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"

	"phoenix/internal/machine"

	"github.com/smallstep/certificates/authority/config"
)

// Source is an existing step CA found by InspectSource: a STEPPATH-style
// directory (config/ca.json, certs/, secrets/, db/) whose ca.json may name
// paths as another system sees them (say /root/.step inside a container).
type Source struct {
	Dir                  string
	Fingerprint          string
	RootSubject          string
	IntermediateNotAfter time.Time
	Provisioners         []string
	// Files are the host paths the CA's files were found at; Files.DB is
	// empty when there is no database directory to copy.
	Files Files

	raw map[string]any // ca.json, for rewriting
	r   *machine.Root
}

// InspectSource checks, without changing anything, that from holds a step
// CA whose keys decrypt with password and match their certificates.
func InspectSource(from string, password []byte) (*Source, error) {
	return inspectSource(nil, from, password, time.Now())
}

// InspectSourceIn is InspectSource with from under root.
func InspectSourceIn(root *machine.Root, from string, password []byte) (*Source, error) {
	return inspectSource(root, from, password, time.Now())
}

func inspectSource(r *machine.Root, from string, password []byte, now time.Time) (*Source, error) {
	r = rootOr(r)
	fail := func(f string, a ...any) (*Source, error) {
		return nil, fmt.Errorf("ca.Adopt: %s: "+f, append([]any{from}, a...)...)
	}
	if len(password) == 0 {
		return fail("empty CA password")
	}
	cfgPath := hostPath(from, ConfigFile)
	data, err := readFile(r, cfgPath)
	if err != nil {
		return fail("%w", err)
	}
	var cfg config.Config
	if err := jsonUnmarshal(data, &cfg); err != nil {
		return fail("%s: %w", ConfigFile, jsonError(data, err))
	}
	cfg.Init()
	if err := cfg.Validate(); err != nil {
		return fail("%s: %w", ConfigFile, err)
	}
	raw := map[string]any{}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // keep numbers as written
	if err := dec.Decode(&raw); err != nil {
		return fail("%s: %w", ConfigFile, err)
	}
	if len(cfg.FederatedRoots) > 0 {
		return fail("%s: federatedRoots are not supported for adoption", ConfigFile)
	}
	if cfg.SSH != nil {
		return fail("%s: an SSH CA is not supported for adoption", ConfigFile)
	}
	if len(cfg.Root) != 1 {
		return fail("%s: has %d roots, want 1", ConfigFile, len(cfg.Root))
	}

	src := &Source{Dir: from, raw: raw, r: r}
	src.Files.Config = cfgPath
	if src.Files.RootCert, err = locate(r, from, "root", cfg.Root[0], RootCertFile); err != nil {
		return fail("%w", err)
	}
	if src.Files.IntermediateCert, err = locate(r, from, "crt", cfg.IntermediateCert, IntermediateCertFile); err != nil {
		return fail("%w", err)
	}
	if src.Files.IntermediateKey, err = locate(r, from, "key", cfg.IntermediateKey, IntermediateKeyFile); err != nil {
		return fail("%w", err)
	}
	// ca.json does not name the root key: step keeps it in secrets/.
	src.Files.RootKey = hostPath(from, RootKeyFile)
	if !exists(r, src.Files.RootKey) {
		alt := filepath.Join(filepath.Dir(filepath.Dir(src.Files.RootCert)), filepath.FromSlash(RootKeyFile))
		if !exists(r, alt) {
			return fail("%s: missing; the root key is needed to re-issue the intermediate", RootKeyFile)
		}
		src.Files.RootKey = alt
	}
	if cfg.DB != nil && fileDB(cfg.DB.Type) {
		if p, err := locate(r, from, "db.dataSource", cfg.DB.DataSource, DBDir); err == nil {
			src.Files.DB = p
		}
	}

	root, err := readCert(r, src.Files.RootCert, src.Files.RootCert)
	if err != nil {
		return fail("%w", err)
	}
	src.Fingerprint = Fingerprint(root)
	src.RootSubject = root.Subject.String()
	if reason := checkRoot(r, root, src.Files.RootKey, src.Files.RootKey, password, now); reason != "" {
		return fail("%s", reason)
	}
	inter, reason := checkIntermediate(r, root, src.Files.IntermediateCert, src.Files.IntermediateCert,
		src.Files.IntermediateKey, src.Files.IntermediateKey, password)
	if reason != "" {
		return fail("%s", reason)
	}
	src.IntermediateNotAfter = inter.NotAfter
	for _, p := range cfg.AuthorityConfig.Provisioners {
		src.Provisioners = append(src.Provisioners, fmt.Sprintf("%s (%s)", p.GetName(), p.GetType()))
	}
	return src, nil
}

// fileDB reports whether a db type keeps its data in a local directory.
func fileDB(typ string) bool {
	switch strings.ToLower(typ) {
	case "badger", "badgerv1", "badgerv2", "bbolt":
		return true
	}
	return false
}

// locate finds the file that ca.json's field names: the same layout path
// inside from (ca.json written for another root, e.g. a container's), or
// the path itself on this host, unless from is a guest's directory: a
// guest's ca.json may not name host files to copy.
func locate(r *machine.Root, from, field, p, layout string) (string, error) {
	var cands []string
	if strings.HasSuffix(path.Clean(p), "/"+layout) {
		cands = append(cands, hostPath(from, layout))
	}
	_, guarded := r.GuardOf(path.Clean(from))
	if filepath.IsAbs(p) && (!guarded || strings.HasPrefix(path.Clean(p), path.Clean(from)+"/")) {
		cands = append(cands, filepath.FromSlash(p))
	}
	for _, c := range cands {
		if exists(r, c) {
			return c, nil
		}
	}
	return "", fmt.Errorf("%s: %s names %q, which is neither in %s nor on this host", ConfigFile, field, p, from)
}

// Adopt imports the step CA in from into opts.Dir, keeping its root (and
// so its fingerprint), keys, provisioners and database. The files are
// copied through the staging directory, and ca.json is rewritten to name
// paths under opts.GuestDir, without a logger (it would print tokens).
// opts.Address and opts.DNSNames replace the source's when set,
// opts.ACME adds an ACME provisioner when the source has none, and
// opts.Durations become the authority's default claims unless the source
// sets its own. The source is verified with opts.Password first, and left
// untouched.
func Adopt(opts Options, from string) (*Result, error) {
	const what = "ca.Adopt"
	if err := opts.validate(what, false); err != nil {
		return nil, err
	}
	r := rootOr(opts.Root)
	src, err := inspectSource(r, from, opts.Password, opts.now())
	if err != nil {
		return nil, err
	}
	st, err := prepare(what, opts)
	if err != nil {
		return nil, err
	}
	if st.StagingReady && stagingOrigin(r, opts.Dir) == "adopt "+src.Fingerprint {
		return finish(what, opts, "adopt")
	}
	staging := hostPath(opts.Dir, StagingDir)
	if err := r.RemoveAll(staging); err != nil {
		return nil, fmt.Errorf("%s: removing the unfinished staging directory: %w", what, err)
	}
	if err := stageAdopted(staging, src, opts); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	if err := markReady(staging, "adopt "+src.Fingerprint, opts); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	res, err := finish(what, opts, "adopt")
	if err != nil {
		return nil, err
	}
	if res.Fingerprint != src.Fingerprint {
		return nil, fmt.Errorf("%s: root fingerprint changed from %s to %s", what, src.Fingerprint, res.Fingerprint)
	}
	res.Finished = false
	return res, nil
}

func stageAdopted(staging string, src *Source, opts Options) error {
	r := rootOr(opts.Root)
	if err := mkdirMode(r, staging, modePrivateDir, opts.UID, opts.GID); err != nil {
		return err
	}
	for _, c := range children {
		if c == DBDir && src.Files.DB != "" {
			continue // copied below, with its own modes
		}
		if err := mkdirMode(r, filepath.Join(staging, c), childMode[c], opts.UID, opts.GID); err != nil {
			return err
		}
	}
	if src.Files.DB != "" {
		if err := copyTree(r, src.Files.DB, filepath.Join(staging, DBDir), opts.UID, opts.GID); err != nil {
			return fmt.Errorf("copying the database: %w", err)
		}
		if err := mkdirMode(r, filepath.Join(staging, DBDir), modePrivateDir, opts.UID, opts.GID); err != nil {
			return err
		}
	}
	files := []stagedFile{}
	for _, f := range []struct {
		from, rel string
		mode      os.FileMode
	}{
		{src.Files.RootCert, RootCertFile, modeCert},
		{src.Files.IntermediateCert, IntermediateCertFile, modeCert},
		{src.Files.RootKey, RootKeyFile, modeKey},
		{src.Files.IntermediateKey, IntermediateKeyFile, modeKey},
	} {
		b, err := readFile(r, f.from)
		if err != nil {
			return err
		}
		files = append(files, stagedFile{f.rel, b, f.mode})
	}
	cfgJSON, err := rewriteConfig(src.raw, opts)
	if err != nil {
		return err
	}
	files = append(files,
		stagedFile{ConfigFile, cfgJSON, modeKey},
		stagedFile{DefaultsFile, defaultsJSON(adoptedOptions(src, opts), src.Fingerprint), modeCert})
	return writeStaged(staging, files, opts)
}

// adoptedOptions fills the address and names that defaults.json needs
// from the source when opts leaves them out.
func adoptedOptions(src *Source, opts Options) Options {
	if opts.Address == "" {
		opts.Address, _ = src.raw["address"].(string)
	}
	if len(opts.DNSNames) == 0 {
		if names, ok := src.raw["dnsNames"].([]any); ok {
			for _, n := range names {
				if s, ok := n.(string); ok {
					opts.DNSNames = append(opts.DNSNames, s)
				}
			}
		}
	}
	return opts
}

// rewriteConfig points an adopted ca.json at the guest layout. It edits
// the parsed JSON so that every field it does not know survives.
func rewriteConfig(raw map[string]any, opts Options) ([]byte, error) {
	c := make(map[string]any, len(raw))
	for k, v := range raw {
		c[k] = v
	}
	c["root"] = opts.guest(RootCertFile)
	c["crt"] = opts.guest(IntermediateCertFile)
	c["key"] = opts.guest(IntermediateKeyFile)
	delete(c, "logger")
	if opts.Address != "" {
		c["address"] = opts.Address
	}
	if len(opts.DNSNames) > 0 {
		c["dnsNames"] = opts.DNSNames
	}
	dbc, _ := c["db"].(map[string]any)
	switch {
	case dbc == nil:
		c["db"] = map[string]any{"type": "badgerv2", "dataSource": opts.guest(DBDir)}
	default:
		typ, _ := dbc["type"].(string)
		if fileDB(typ) {
			d := make(map[string]any, len(dbc))
			for k, v := range dbc {
				d[k] = v
			}
			d["dataSource"] = opts.guest(DBDir)
			delete(d, "valueDir") // it would point into the old directory
			c["db"] = d
		}
	}
	if opts.ACME {
		auth, _ := c["authority"].(map[string]any)
		if auth == nil {
			auth = map[string]any{}
		}
		provs, _ := auth["provisioners"].([]any)
		hasACME, names := false, map[string]bool{}
		for _, p := range provs {
			if m, ok := p.(map[string]any); ok {
				if t, _ := m["type"].(string); strings.EqualFold(t, "ACME") {
					hasACME = true
				}
				if n, _ := m["name"].(string); n != "" {
					names[n] = true
				}
			}
		}
		if !hasACME {
			name := "acme"
			if names[name] {
				name = "acme-1"
			}
			a := map[string]any{"type": "ACME", "name": name}
			if cl := opts.Durations.claims(); cl != nil {
				a["claims"] = cl
			}
			auth2 := make(map[string]any, len(auth))
			for k, v := range auth {
				auth2[k] = v
			}
			auth2["provisioners"] = append(append([]any(nil), provs...), a)
			c["authority"] = auth2
		}
	}
	// The site's leaf lifetimes apply to every provisioner that does not
	// set its own (step ca init sets none, so leaves would live 24 h).
	if cl := opts.Durations.claims(); cl != nil {
		auth, _ := c["authority"].(map[string]any)
		if _, set := auth["claims"]; !set {
			auth2 := make(map[string]any, len(auth)+1)
			for k, v := range auth {
				auth2[k] = v
			}
			auth2["claims"] = cl
			c["authority"] = auth2
		}
	}
	b, err := json.MarshalIndent(c, "", "\t")
	if err != nil {
		return nil, fmt.Errorf("%s: %w", ConfigFile, err)
	}
	// Check that step-ca will read what was written.
	var check config.Config
	if err := jsonUnmarshal(b, &check); err != nil {
		return nil, fmt.Errorf("%s: rewritten config does not parse: %w", ConfigFile, err)
	}
	return append(b, '\n'), nil
}
