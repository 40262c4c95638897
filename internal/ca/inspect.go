package ca

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"sort"
	"strings"
	"time"

	"phoenix/internal/machine"

	"github.com/smallstep/certificates/authority/config"
	"github.com/smallstep/certificates/authority/provisioner"
)

// Status classifies a CA directory.
type Status int

const (
	// Missing: there is no CA. Create or Adopt makes one.
	Missing Status = iota
	// Incomplete: a half-built CA, left by an interrupted Create or Adopt
	// (or leftovers listed in State.Leftovers). It counts as Missing, never
	// as Invalid: Create and Adopt finish or restart the staging.
	Incomplete
	// Valid: the config parses, root->intermediate verifies, and both keys
	// decrypt with the password and match their certificates.
	Valid
	// NeedsReissue: valid, but the intermediate expires within
	// ReissueWithin (or has expired), or a Reissue was interrupted.
	NeedsReissue
	// Invalid: a CA is there but something is wrong; State.Reason says
	// which file and what.
	Invalid
)

func (s Status) String() string {
	switch s {
	case Missing:
		return "missing"
	case Incomplete:
		return "incomplete"
	case Valid:
		return "valid"
	case NeedsReissue:
		return "needs-reissue"
	case Invalid:
		return "invalid"
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// ReissueWithin is how close to its expiry an intermediate is re-issued.
const ReissueWithin = 30 * 24 * time.Hour

// Files are the host paths of a CA's files.
type Files struct {
	Config           string
	RootCert         string
	RootKey          string
	IntermediateCert string
	IntermediateKey  string
	DB               string // empty when ca.json has no db
}

// State is what Inspect found in a CA directory. Fields past Reason are
// filled as far as the files allowed, also for an Invalid CA.
type State struct {
	Dir    string
	Status Status
	// Reason says why the status is not Valid (file and problem), or is
	// empty.
	Reason string
	// Complete reports the completion marker.
	Complete bool
	// StagingReady: an interrupted Create/Adopt left a complete staging
	// directory that the next Create/Adopt moves into place.
	StagingReady bool
	// Leftovers are CA entries present in a directory without ca.json and
	// without a ready staging directory: not something phoenix would
	// leave. Create refuses to run over them; Backup moves them away.
	Leftovers []string

	// GuestDir is the directory that ca.json's paths are under.
	GuestDir string
	Files    Files

	Fingerprint          string // hex SHA-256 of the root certificate
	RootSubject          string
	RootNotAfter         time.Time
	IntermediateSubject  string
	IntermediateNotAfter time.Time
	Address              string
	DNSNames             []string
	Provisioners         []string // "name (TYPE)", in ca.json's order
	ACME                 bool

	r *machine.Root
}

// Exists reports whether the directory holds a CA (valid or not), as
// opposed to none or a half-built one.
func (s *State) Exists() bool { return s.Status >= Valid }

// Inspect classifies the CA in dir without changing anything. password
// decrypts the CA keys. An error means the directory could not be read at
// all; problems with the CA itself are an Invalid state.
func Inspect(dir string, password []byte) (*State, error) {
	return InspectAt(dir, password, time.Now())
}

// InspectIn is Inspect with dir under root.
func InspectIn(root *machine.Root, dir string, password []byte) (*State, error) {
	return inspectAt(root, dir, password, time.Now())
}

// InspectAt is Inspect at a given time.
func InspectAt(dir string, password []byte, now time.Time) (*State, error) {
	return inspectAt(nil, dir, password, now)
}

func inspectAt(r *machine.Root, dir string, password []byte, now time.Time) (*State, error) {
	r = rootOr(r)
	if len(password) == 0 {
		return nil, errors.New("ca.Inspect: empty CA password")
	}
	st := &State{Dir: dir, r: r, Files: Files{
		Config:           hostPath(dir, ConfigFile),
		RootCert:         hostPath(dir, RootCertFile),
		RootKey:          hostPath(dir, RootKeyFile),
		IntermediateCert: hostPath(dir, IntermediateCertFile),
		IntermediateKey:  hostPath(dir, IntermediateKeyFile),
	}}
	fi, err := r.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		st.Status, st.Reason = Missing, "directory does not exist"
		return st, nil
	case err != nil:
		return nil, fmt.Errorf("ca.Inspect: %w", err)
	case !fi.IsDir():
		return nil, fmt.Errorf("ca.Inspect: %s is not a directory", dir)
	}
	// A link a guest planted, or swapped in, is an error here, never a
	// state (missing, leftovers) that a converge would act on.
	var checkErr error
	has := func(p string) bool {
		ok, err := present(r, p)
		if err != nil && checkErr == nil {
			checkErr = err
		}
		return ok
	}
	st.Complete = has(hostPath(dir, MarkerFile))
	st.StagingReady = has(hostPath(dir, path.Join(StagingDir, stagingReady)))
	hasConfig := has(st.Files.Config)
	if checkErr != nil {
		return nil, fmt.Errorf("ca.Inspect: %w", checkErr)
	}

	if !st.Complete && !hasConfig {
		// Empty directories do not count: the install renames over them.
		var present []string
		for _, c := range append([]string{MarkerFile}, children...) {
			p := hostPath(dir, c)
			if empty, err := dirEmpty(r, p); has(p) && (err != nil || !empty) {
				present = append(present, c)
			}
		}
		switch {
		case st.StagingReady:
			st.Status = Incomplete
			st.Reason = "an interrupted run left a complete staging directory " + StagingDir + "; Create/Adopt moves it into place"
		case has(hostPath(dir, StagingDir)):
			st.Status = Incomplete
			st.Reason = "an interrupted run left an unfinished staging directory " + StagingDir + "; Create/Adopt restarts it"
			st.Leftovers = present
		case len(present) > 0:
			st.Status = Incomplete
			st.Reason = fmt.Sprintf("%s is missing but %s present", ConfigFile, strings.Join(present, ", "))
			st.Leftovers = present
		default:
			st.Status = Missing
			st.Reason = "no CA in " + dir
		}
		if checkErr != nil {
			return nil, fmt.Errorf("ca.Inspect: %w", checkErr)
		}
		// Keep what can be learnt: a fingerprint names a backup.
		if root, err := readCert(r, st.Files.RootCert, RootCertFile); err == nil {
			st.Fingerprint = Fingerprint(root)
		}
		return st, nil
	}
	if reason := check(st, password, now); reason != "" {
		// A link a guest planted is refused, not a broken CA to repair.
		if err := refusal(r, dir); err != nil {
			return nil, fmt.Errorf("ca.Inspect: %w", err)
		}
		st.Status, st.Reason = Invalid, reason
		return st, nil
	}
	if st.Status == 0 {
		st.Status = Valid
	}
	return st, nil
}

// check fills st from the files and returns why the CA is invalid, or ""
// (st.Status is then 0 or NeedsReissue).
func check(st *State, password []byte, now time.Time) string {
	// The root is read first so that even an otherwise broken CA has a
	// fingerprint (Backup names its directory from it).
	root, rootErr := readCert(st.r, st.Files.RootCert, RootCertFile)
	if rootErr == nil {
		st.Fingerprint = Fingerprint(root)
		st.RootSubject = root.Subject.String()
		st.RootNotAfter = root.NotAfter
	}
	data, err := readFile(st.r, st.Files.Config)
	if err != nil {
		return fmt.Sprintf("%s: %v", ConfigFile, err)
	}
	var cfg config.Config
	if err := jsonUnmarshal(data, &cfg); err != nil {
		return fmt.Sprintf("%s: %s", ConfigFile, jsonError(data, err))
	}
	cfg.Init()
	st.Address, st.DNSNames = cfg.Address, cfg.DNSNames
	for _, p := range cfg.AuthorityConfig.Provisioners {
		st.Provisioners = append(st.Provisioners, fmt.Sprintf("%s (%s)", p.GetName(), p.GetType()))
		if p.GetType() == provisioner.TypeACME {
			st.ACME = true
		}
	}
	if err := cfg.Validate(); err != nil {
		return fmt.Sprintf("%s: %v", ConfigFile, err)
	}
	guest, reason := guestDir(&cfg)
	if reason != "" {
		return reason
	}
	st.GuestDir = guest
	m := func(field, p string) (string, string) {
		rel, ok := under(guest, p)
		if !ok {
			return "", fmt.Sprintf("%s: %s is %q, outside the CA directory %s", ConfigFile, field, p, guest)
		}
		return hostPath(st.Dir, rel), ""
	}
	if st.Files.IntermediateCert, reason = m("crt", cfg.IntermediateCert); reason != "" {
		return reason
	}
	if st.Files.IntermediateKey, reason = m("key", cfg.IntermediateKey); reason != "" {
		return reason
	}
	if cfg.DB != nil {
		if st.Files.DB, reason = m("db.dataSource", cfg.DB.DataSource); reason != "" {
			return reason
		}
	}

	if rootErr != nil {
		return rootErr.Error()
	}
	if reason := checkRoot(st.r, root, st.Files.RootKey, RootKeyFile, password, now); reason != "" {
		return reason
	}

	// An interrupted Reissue leaves the new pair beside the old one: judge
	// the most advanced pair that is consistent.
	pair, inter, reason := pickPair(st, root, password)
	if reason != "" {
		return reason
	}
	pending := pair.pending
	st.IntermediateSubject = inter.Subject.String()
	st.IntermediateNotAfter = inter.NotAfter
	canExtend := inter.NotAfter.Before(root.NotAfter.Add(-time.Hour))
	crtName := pair.crtName
	switch {
	case pending:
		st.Status = NeedsReissue
		st.Reason = "an interrupted re-issue left " + IntermediateCertFile + nextSuffix + "; Reissue finishes it"
	case now.After(inter.NotAfter) && canExtend:
		st.Status = NeedsReissue
		st.Reason = fmt.Sprintf("%s expired at %s", crtName, inter.NotAfter.UTC().Format(time.RFC3339))
	case now.After(inter.NotAfter):
		return fmt.Sprintf("%s expired at %s and the root expires at %s: only a new CA helps", crtName,
			inter.NotAfter.UTC().Format(time.RFC3339), root.NotAfter.UTC().Format(time.RFC3339))
	case now.Add(ReissueWithin).After(inter.NotAfter) && canExtend:
		st.Status = NeedsReissue
		st.Reason = fmt.Sprintf("%s expires at %s, within %d days", crtName,
			inter.NotAfter.UTC().Format(time.RFC3339), int(ReissueWithin/(24*time.Hour)))
	case now.Add(ReissueWithin).After(inter.NotAfter):
		st.Reason = fmt.Sprintf("the root expires at %s: only a new CA extends it", root.NotAfter.UTC().Format(time.RFC3339))
	case !st.Complete:
		st.Reason = "valid, but the completion marker " + MarkerFile + " is missing"
	}
	return ""
}

// checkRoot checks the root certificate and that its key decrypts and
// matches.
func checkRoot(r *machine.Root, root *x509.Certificate, keyPath, keyName string, password []byte, now time.Time) string {
	if !root.IsCA {
		return RootCertFile + ": not a CA certificate"
	}
	if err := root.CheckSignatureFrom(root); err != nil {
		return fmt.Sprintf("%s: not self-signed: %v", RootCertFile, err)
	}
	if now.After(root.NotAfter) {
		return fmt.Sprintf("%s: expired at %s", RootCertFile, root.NotAfter.UTC().Format(time.RFC3339))
	}
	key, err := readKey(r, keyPath, keyName, password)
	if err != nil {
		return err.Error()
	}
	if !keyMatches(root, key) {
		return fmt.Sprintf("%s: does not match %s", keyName, RootCertFile)
	}
	return ""
}

// checkIntermediate checks that crt chains to root and that key decrypts
// and matches it.
func checkIntermediate(r *machine.Root, root *x509.Certificate, crtPath, crtName, keyPath, keyName string, password []byte) (*x509.Certificate, string) {
	inter, err := readCert(r, crtPath, crtName)
	if err != nil {
		return nil, err.Error()
	}
	if !inter.IsCA {
		return inter, crtName + ": not a CA certificate"
	}
	if reason := verifyIssued(inter, root); reason != "" {
		return inter, fmt.Sprintf("%s: does not chain to %s: %s", crtName, RootCertFile, reason)
	}
	key, err := readKey(r, keyPath, keyName, password)
	if err != nil {
		return inter, err.Error()
	}
	if !keyMatches(inter, key) {
		return inter, fmt.Sprintf("%s: does not match %s", keyName, crtName)
	}
	return inter, ""
}

// interPair is one intermediate certificate and key, possibly the new
// files of an interrupted Reissue.
type interPair struct {
	crtPath, crtName, keyPath, keyName string
	pending                            bool // uses a .next file
}

// pairs lists the candidate pairs, most advanced first. Without Reissue
// leftovers it is just the current pair.
func pairs(st *State) []interPair {
	crt, key := st.Files.IntermediateCert, st.Files.IntermediateKey
	crtName, keyName := relName(st, crt), relName(st, key)
	cur := interPair{crt, crtName, key, keyName, false}
	crtNext, keyNext := exists(st.r, crt+nextSuffix), exists(st.r, key+nextSuffix)
	var out []interPair
	if crtNext && keyNext {
		out = append(out, interPair{crt + nextSuffix, crtName + nextSuffix, key + nextSuffix, keyName + nextSuffix, true})
	}
	if crtNext {
		out = append(out, interPair{crt + nextSuffix, crtName + nextSuffix, key, keyName, true})
	}
	if keyNext {
		out = append(out, interPair{crt, crtName, key + nextSuffix, keyName + nextSuffix, true})
	}
	if crtNext || keyNext {
		// The old pair with leftovers beside it: still to be cleaned up.
		cur.pending = true
	}
	return append(out, cur)
}

// pickPair returns the first consistent candidate pair, or why the current
// pair is not consistent.
func pickPair(st *State, root *x509.Certificate, password []byte) (interPair, *x509.Certificate, string) {
	cands := pairs(st)
	var reason string
	for _, p := range cands {
		var inter *x509.Certificate
		inter, reason = checkIntermediate(st.r, root, p.crtPath, p.crtName, p.keyPath, p.keyName, password)
		if reason == "" {
			return p, inter, ""
		}
	}
	return interPair{}, nil, reason
}

// verifyIssued checks that c is signed by issuer, at a time when both are
// valid (expiry is judged separately), and returns why not, or "".
func verifyIssued(c, issuer *x509.Certificate) string {
	from, to := c.NotBefore, c.NotAfter
	if issuer.NotBefore.After(from) {
		from = issuer.NotBefore
	}
	if issuer.NotAfter.Before(to) {
		to = issuer.NotAfter
	}
	if from.After(to) {
		return "its validity does not overlap the issuer's"
	}
	pool := x509.NewCertPool()
	pool.AddCert(issuer)
	_, err := c.Verify(x509.VerifyOptions{
		Roots:       pool,
		CurrentTime: from.Add(to.Sub(from) / 2),
		KeyUsages:   []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		return err.Error()
	}
	return ""
}

// guestDir infers the directory ca.json's paths are under from its root.
func guestDir(cfg *config.Config) (string, string) {
	if len(cfg.Root) == 0 {
		return "", ConfigFile + ": root is empty"
	}
	r := cfg.Root[0]
	suffix := "/" + RootCertFile
	if !strings.HasSuffix(r, suffix) || !path.IsAbs(r) {
		return "", fmt.Sprintf("%s: root is %q, want an absolute path ending in %s", ConfigFile, r, suffix)
	}
	return path.Clean(strings.TrimSuffix(r, suffix)), ""
}

// under returns p relative to dir, if p is inside dir.
func under(dir, p string) (string, bool) {
	p = path.Clean(p)
	if !strings.HasPrefix(p, dir+"/") {
		return "", false
	}
	return strings.TrimPrefix(p, dir+"/"), true
}

func relName(st *State, hostP string) string {
	if rel, ok := under(path.Clean(st.Dir), hostP); ok {
		return rel
	}
	return hostP
}

// sortedCopy returns a sorted copy of s.
func sortedCopy(s []string) []string {
	c := append([]string(nil), s...)
	sort.Strings(c)
	return c
}

// refusal is the first entry of the CA in dir that the root refuses to
// open (a symlink or a hard-linked file in a guest's directory), or nil.
func refusal(r *machine.Root, dir string) error {
	for _, e := range Layout() {
		f, err := r.Open(hostPath(dir, e.Path))
		var ue *machine.UnsafeError
		if errors.As(err, &ue) {
			return err
		}
		if err == nil {
			f.Close()
		}
	}
	return nil
}
