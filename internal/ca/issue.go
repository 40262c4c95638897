package ca

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"phoenix/internal/machine"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/smallstep/certificates/api"
	stepca "github.com/smallstep/certificates/ca"
	"go.step.sm/crypto/pemutil"
)

func init() {
	// Never read $STEPPATH/config/identity.json: phoenix passes
	// everything a client needs explicitly.
	stepca.DisableIdentity = true
}

// CertRequest asks for a leaf certificate from a step CA.
type CertRequest struct {
	CAURL       string
	Root        string // root certificate file the CA is trusted by
	Provisioner string // JWK provisioner name
	Password    []byte // the provisioner's password
	Subject     string
	SANs        []string // empty: just the subject
	Cert, Key   string   // files to write (the cert file holds the chain)
	// RenewBefore is how long before expiry a certificate is renewed;
	// zero means a third of its lifetime.
	RenewBefore time.Duration
	// UID and GID own the files written; -1 keeps the process's.
	UID, GID int
	// Under is where Root, Cert and Key resolve, through directory
	// handles; nil is the host's "/".
	Under *machine.Root
}

// sans returns the requested SANs, normalised and sorted.
func (r *CertRequest) sans() []string {
	s := r.SANs
	if len(s) == 0 {
		s = []string{r.Subject}
	}
	return normSANs(s)
}

func normSANs(in []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, s := range in {
		if ip := net.ParseIP(s); ip != nil {
			s = ip.String()
		} else {
			s = strings.ToLower(s)
		}
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	sort.Strings(out)
	return out
}

func certSANs(c *x509.Certificate) []string {
	var s []string
	s = append(s, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		s = append(s, ip.String())
	}
	s = append(s, c.EmailAddresses...)
	for _, u := range c.URIs {
		s = append(s, u.String())
	}
	return normSANs(s)
}

func (r *CertRequest) validate(what string) error {
	switch {
	case r.CAURL == "":
		return fmt.Errorf("%s: empty ca_url", what)
	case r.Root == "":
		return fmt.Errorf("%s: empty root", what)
	case r.Provisioner == "":
		return fmt.Errorf("%s: empty provisioner", what)
	case r.Subject == "":
		return fmt.Errorf("%s: empty subject", what)
	case r.Cert == "" || r.Key == "":
		return fmt.Errorf("%s: cert and key paths are required", what)
	case r.RenewBefore < 0:
		return fmt.Errorf("%s: negative renew_before", what)
	}
	return nil
}

// CertAction is what a certificate needs.
type CertAction int

const (
	CertUnchanged CertAction = iota
	CertRenew                // valid, inside the renew window: renew over mTLS
	CertIssue                // missing, foreign, expired or other SANs: new token
)

func (a CertAction) String() string {
	switch a {
	case CertUnchanged:
		return "unchanged"
	case CertRenew:
		return "renew"
	case CertIssue:
		return "issue"
	}
	return fmt.Sprintf("CertAction(%d)", int(a))
}

// CertStatus is what CertState found.
type CertStatus struct {
	Action    CertAction
	Reason    string // why the action (empty when unchanged)
	Serial    string
	NotBefore time.Time
	NotAfter  time.Time
	SANs      []string
	RenewAt   time.Time // when the renew window opens
}

// CertState reads the certificate and key req names and says, without
// changing anything, whether they can stay: unchanged when the cert
// chains to req.Root, its key matches, it covers exactly the requested
// SANs and it is outside the renew window.
func CertState(req CertRequest, now time.Time) (*CertStatus, error) {
	const what = "ca.CertState"
	if err := req.validate(what); err != nil {
		return nil, err
	}
	roots, err := rootPool(req.Under, req.Root)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	data, err := readFile(rootOr(req.Under), req.Cert)
	if errors.Is(err, fs.ErrNotExist) {
		return &CertStatus{Action: CertIssue, Reason: "no certificate at " + req.Cert}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	chain, err := parseCerts(data)
	if err != nil {
		return &CertStatus{Action: CertIssue, Reason: fmt.Sprintf("%s: %v", req.Cert, err)}, nil
	}
	leaf := chain[0]
	st := &CertStatus{
		Serial:    leaf.SerialNumber.String(),
		NotBefore: leaf.NotBefore,
		NotAfter:  leaf.NotAfter,
		SANs:      certSANs(leaf),
	}
	issue := func(f string, a ...any) (*CertStatus, error) {
		st.Action, st.Reason = CertIssue, fmt.Sprintf(f, a...)
		return st, nil
	}
	keyPEM, err := readFile(rootOr(req.Under), req.Key)
	if err != nil {
		return issue("%s: %v", req.Key, err)
	}
	key, err := decryptKey(keyPEM, nil)
	if err != nil {
		return issue("%s: %v", req.Key, err)
	}
	if !keyMatches(leaf, key) {
		return issue("%s does not match %s", req.Key, req.Cert)
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{
		Roots: roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	}); err != nil {
		return issue("%s does not verify against %s: %v", req.Cert, req.Root, err)
	}
	if want := req.sans(); strings.Join(want, ",") != strings.Join(st.SANs, ",") {
		return issue("%s covers %s, want %s", req.Cert, strings.Join(st.SANs, ", "), strings.Join(want, ", "))
	}
	before := req.RenewBefore
	if before == 0 {
		before = leaf.NotAfter.Sub(leaf.NotBefore) / 3
	}
	st.RenewAt = leaf.NotAfter.Add(-before)
	if !now.Before(st.RenewAt) {
		st.Action = CertRenew
		st.Reason = fmt.Sprintf("expires at %s, inside the renew window (%s before expiry)",
			leaf.NotAfter.UTC().Format(time.RFC3339), before)
	}
	return st, nil
}

func rootPool(r *machine.Root, file string) (*x509.CertPool, error) {
	data, err := readFile(rootOr(r), file)
	if err != nil {
		return nil, err
	}
	certs, err := parseCerts(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", file, err)
	}
	pool := x509.NewCertPool()
	for _, c := range certs {
		pool.AddCert(c)
	}
	return pool, nil
}

// CertResult is what Apply did.
type CertResult struct {
	Action   CertAction
	Serial   string
	NotAfter time.Time
}

// IssuerStats count what an Issuer did, for tests and measurements.
type IssuerStats struct {
	Decrypts int // provisioner keys decrypted (the slow part of issuing)
	Issued   int
	Renewed  int
}

// Issuer issues and renews certificates. It decrypts each provisioner key
// once and reuses it for every certificate of the run (decryption is a
// 600,000-round KDF, ~90 ms); it is safe for concurrent use.
type Issuer struct {
	mu      sync.Mutex
	provs   map[string]*stepca.Provisioner
	clients map[string]*stepca.Client
	stats   IssuerStats
}

// NewIssuer returns an Issuer with empty caches.
func NewIssuer() *Issuer {
	return &Issuer{provs: map[string]*stepca.Provisioner{}, clients: map[string]*stepca.Client{}}
}

// Stats returns the counters so far.
func (i *Issuer) Stats() IssuerStats {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.stats
}

// Certificate makes sure req's certificate exists and is current: it is
// CertState followed by Apply.
func (i *Issuer) Certificate(ctx context.Context, req CertRequest) (*CertResult, error) {
	st, err := CertState(req, time.Now())
	if err != nil {
		return nil, err
	}
	return i.Apply(ctx, req, st)
}

// Apply does what st says: nothing, a renewal or a new certificate.
func (i *Issuer) Apply(ctx context.Context, req CertRequest, st *CertStatus) (*CertResult, error) {
	switch st.Action {
	case CertUnchanged:
		return &CertResult{Action: CertUnchanged, Serial: st.Serial, NotAfter: st.NotAfter}, nil
	case CertRenew:
		return i.Renew(ctx, req)
	default:
		return i.Issue(ctx, req)
	}
}

// Issue gets a new key and certificate with a JWK one-time token.
func (i *Issuer) Issue(ctx context.Context, req CertRequest) (*CertResult, error) {
	const what = "ca.Issue"
	if err := req.validate(what); err != nil {
		return nil, err
	}
	prov, err := i.provisioner(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	sans := req.SANs
	if len(sans) == 0 {
		sans = []string{req.Subject}
	}
	ott, err := prov.Token(req.Subject, sans...)
	if err != nil {
		return nil, fmt.Errorf("%s: token: %w", what, err)
	}
	csr, key, err := stepca.CreateSignRequest(ott)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	resp, err := prov.SignWithContext(ctx, csr)
	if err != nil {
		return nil, fmt.Errorf("%s: %s at %s: %w", what, req.Subject, req.CAURL, err)
	}
	keyBlock, err := pemutil.Serialize(key)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	// Key first: a crash between the two leaves a mismatch that the next
	// CertState reports as "issue", never a cert without its key.
	if err := writeFileAtomic(rootOr(req.Under), req.Key, pem.EncodeToMemory(keyBlock), modeKey, req.UID, req.GID); err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	leaf, err := i.writeChain(req, resp)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	i.mu.Lock()
	i.stats.Issued++
	i.mu.Unlock()
	return &CertResult{Action: CertIssue, Serial: leaf.SerialNumber.String(), NotAfter: leaf.NotAfter}, nil
}

// Renew renews the current certificate over mTLS (it must still be
// valid); the key stays.
func (i *Issuer) Renew(ctx context.Context, req CertRequest) (*CertResult, error) {
	const what = "ca.Renew"
	if err := req.validate(what); err != nil {
		return nil, err
	}
	under := rootOr(req.Under)
	certPEM, err := readFile(under, req.Cert)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	keyPEM, err := readFile(under, req.Key)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	roots, err := rootPool(req.Under, req.Root)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	client, err := i.client(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{
			Certificates: []tls.Certificate{pair},
			RootCAs:      roots,
			MinVersion:   tls.VersionTLS12,
		},
		Proxy: nil, // the CA is on the site network
	}
	defer tr.CloseIdleConnections()
	resp, err := client.RenewWithContext(ctx, tr)
	if err != nil {
		return nil, fmt.Errorf("%s: %s at %s: %w", what, req.Cert, req.CAURL, err)
	}
	leaf, err := i.writeChain(req, resp)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	i.mu.Lock()
	i.stats.Renewed++
	i.mu.Unlock()
	return &CertResult{Action: CertRenew, Serial: leaf.SerialNumber.String(), NotAfter: leaf.NotAfter}, nil
}

// writeChain writes the leaf and its intermediates to req.Cert.
func (i *Issuer) writeChain(req CertRequest, resp *api.SignResponse) (*x509.Certificate, error) {
	chain := resp.CertChainPEM
	if len(chain) == 0 {
		chain = []api.Certificate{resp.ServerPEM, resp.CaPEM}
	}
	var out []byte
	for _, c := range chain {
		if c.Certificate == nil {
			continue
		}
		out = append(out, encodeCert(c.Certificate)...)
	}
	if len(chain) == 0 || chain[0].Certificate == nil {
		return nil, errors.New("the CA returned no certificate")
	}
	if err := writeFileAtomic(rootOr(req.Under), req.Cert, out, modeCert, req.UID, req.GID); err != nil {
		return nil, err
	}
	return chain[0].Certificate, nil
}

// rootOption trusts req.Root, read through req.Under.
func (r *CertRequest) rootOption() (stepca.ClientOption, error) {
	b, err := readFile(r.Under, r.Root)
	if err != nil {
		return nil, err
	}
	return stepca.WithCABundle(b), nil
}

func cacheKey(parts ...string) string { return strings.Join(parts, "\x00") }

func (i *Issuer) client(req CertRequest) (*stepca.Client, error) {
	k := cacheKey(req.CAURL, req.Root)
	i.mu.Lock()
	defer i.mu.Unlock()
	if c, ok := i.clients[k]; ok {
		return c, nil
	}
	opt, err := req.rootOption()
	if err != nil {
		return nil, err
	}
	c, err := stepca.NewClient(req.CAURL, opt)
	if err != nil {
		return nil, err
	}
	i.clients[k] = c
	return c, nil
}

// provisioner returns the decrypted provisioner, decrypting it on first
// use. The password is part of the cache key (as a hash) so that a wrong
// password is never served from the cache.
func (i *Issuer) provisioner(req CertRequest) (*stepca.Provisioner, error) {
	sum := sha256.Sum256(req.Password)
	k := cacheKey(req.CAURL, req.Root, req.Provisioner, hex.EncodeToString(sum[:]))
	i.mu.Lock()
	defer i.mu.Unlock()
	if p, ok := i.provs[k]; ok {
		return p, nil
	}
	if len(req.Password) == 0 {
		return nil, fmt.Errorf("provisioner %q: empty provisioner password", req.Provisioner)
	}
	opt, err := req.rootOption()
	if err != nil {
		return nil, err
	}
	p, err := stepca.NewProvisioner(req.Provisioner, "", req.CAURL, req.Password, opt)
	if err != nil {
		return nil, diagnoseProvisioner(req, err)
	}
	i.stats.Decrypts++
	i.provs[k] = p
	return p, nil
}

// diagnoseProvisioner turns step's "not found (or your password is wrong)"
// into which of the two it is.
func diagnoseProvisioner(req CertRequest, cause error) error {
	if !strings.Contains(cause.Error(), "password is wrong") {
		return fmt.Errorf("provisioner %q at %s: %w", req.Provisioner, req.CAURL, cause)
	}
	opt, err := req.rootOption()
	if err != nil {
		return fmt.Errorf("provisioner %q at %s: %w", req.Provisioner, req.CAURL, cause)
	}
	client, err := stepca.NewClient(req.CAURL, opt)
	if err != nil {
		return fmt.Errorf("provisioner %q at %s: %w", req.Provisioner, req.CAURL, cause)
	}
	resp, err := client.Provisioners()
	if err != nil {
		return fmt.Errorf("provisioner %q at %s: %w", req.Provisioner, req.CAURL, cause)
	}
	var names []string
	for _, p := range resp.Provisioners {
		if p.GetName() == req.Provisioner {
			if _, _, ok := p.GetEncryptedKey(); ok {
				return fmt.Errorf("wrong provisioner password for provisioner %q at %s: its key does not decrypt", req.Provisioner, req.CAURL)
			}
		}
		names = append(names, p.GetName())
	}
	return fmt.Errorf("no JWK provisioner %q at %s (it has: %s)", req.Provisioner, req.CAURL, strings.Join(names, ", "))
}
