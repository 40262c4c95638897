// Package tlsprobe checks a TLS endpoint with a real handshake against a
// given root, for health checks (the engine of tls.verify and tls.get).
// A failure is a Result whose Error names one precise cause, in the order
// a person would fix them: reaching the server, the chain of trust, the
// validity dates, the name, required SANs, days left.
package tlsprobe

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"syscall"
	"time"

	"phoenix/internal/netns"
)

// DefaultTimeout bounds a probe when Options.Timeout is zero: a health
// check must not hang on a peer that accepts and never answers.
const DefaultTimeout = 2 * time.Second

const day = 24 * time.Hour

// Options say where to probe from and what the endpoint must satisfy.
type Options struct {
	NetNS      string        // network namespace to connect from ("" for phoenix's own)
	ServerName string        // name sent as SNI and verified; the address's host when empty
	Root       string        // PEM file with the trusted root certificates
	SANs       []string      // DNS names or IPs that must all be SANs of the leaf
	MinDays    int           // fail when fewer whole days are left (0: any valid certificate)
	Timeout    time.Duration // connect and handshake (for Get: the whole request); DefaultTimeout when 0

	now func() time.Time // tests move the clock
}

// Result is what a probe saw. On failure OK is false and Error says why;
// Chain, SANs and NotAfter are still filled when the server sent a
// certificate, so that a health check can show what is wrong with it.
type Result struct {
	OK          bool
	Chain       []string // subjects, leaf first, up to the root when verified
	SANs        []string // the leaf's DNS names, IPs, emails and URIs
	NotAfter    time.Time
	DaysLeft    int    // whole days until NotAfter; once expired, minus whole days since (at least 1)
	Fingerprint string // SHA-256 of the root the chain verified to, lowercase hex (as `step certificate fingerprint`)
	Error       string
}

// Probe connects to addr ("host:port"), does a TLS handshake with o's
// server name, verifies what the server sent against o.Root and o's
// requirements, and reports what it saw.
func Probe(ctx context.Context, addr string, o Options) Result {
	conn, r := dial(ctx, addr, &o)
	if conn != nil {
		conn.Close()
	}
	return r
}

// Verify is Probe for serverName against rootPEMFile with no further
// requirement, from phoenix's own network namespace.
func Verify(ctx context.Context, addr, serverName, rootPEMFile string) Result {
	return Probe(ctx, addr, Options{ServerName: serverName, Root: rootPEMFile})
}

// VerifyIn is Verify from inside network namespace ns ("" for phoenix's
// own), where --netns puts the host side of a test replica.
func VerifyIn(ctx context.Context, ns, addr, serverName, rootPEMFile string) Result {
	return Probe(ctx, addr, Options{NetNS: ns, ServerName: serverName, Root: rootPEMFile})
}

// probeError carries a probe's Result through net/http's error wrapping.
type probeError struct{ r Result }

func (e *probeError) Error() string { return e.r.Error }

// dial connects and checks; on success the connection is open and the
// caller closes it.
func dial(ctx context.Context, addr string, o *Options) (*tls.Conn, Result) {
	if o.now == nil {
		o.now = time.Now
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, Result{Error: fmt.Sprintf("address %q: %v", addr, err)}
	}
	name := o.ServerName
	if name == "" {
		name = host
	}
	roots, err := readRoots(o.Root)
	if err != nil {
		return nil, Result{Error: err.Error()}
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	raw, err := netns.Dial(ctx, o.NetNS, "tcp", addr)
	if err != nil {
		return nil, Result{Error: netCause(ctx, err, o.Timeout, "")}
	}
	// Verification is done below, to name the cause precisely; the
	// handshake only collects what the server sends.
	conn := tls.Client(raw, &tls.Config{ServerName: name, MinVersion: tls.VersionTLS12, InsecureSkipVerify: true})
	if err := conn.HandshakeContext(ctx); err != nil {
		conn.Close()
		return nil, Result{Error: netCause(ctx, err, o.Timeout, "TLS handshake: ")}
	}
	r := check(conn.ConnectionState().PeerCertificates, name, roots, o)
	if !r.OK {
		conn.Close()
		return nil, r
	}
	return conn, r
}

// check verifies a served chain for name against roots and o's
// requirements.
func check(served []*x509.Certificate, name string, roots []*x509.Certificate, o *Options) Result {
	if len(served) == 0 {
		return Result{Error: "server sent no certificate"}
	}
	now := o.now()
	leaf := served[0]
	r := describe(leaf, now)
	pool, inter := x509.NewCertPool(), x509.NewCertPool()
	for _, c := range roots {
		pool.AddCert(c)
	}
	for _, c := range served[1:] {
		inter.AddCert(c)
	}
	chains, err := leaf.Verify(x509.VerifyOptions{Roots: pool, Intermediates: inter, CurrentTime: now})
	if err != nil {
		for _, c := range served {
			r.Chain = append(r.Chain, c.Subject.String())
		}
		r.Error = chainCause(err, served, roots, now)
		return r
	}
	for _, c := range chains[0] {
		r.Chain = append(r.Chain, c.Subject.String())
	}
	r.Fingerprint = Fingerprint(chains[0][len(chains[0])-1])
	if err := leaf.VerifyHostname(name); err != nil {
		if len(r.SANs) == 0 {
			r.Error = fmt.Sprintf("certificate has no SAN, not valid for %s", name)
		} else {
			r.Error = fmt.Sprintf("certificate is valid for %s, not %s", strings.Join(r.SANs, ", "), name)
		}
		return r
	}
	var missing []string
	for _, want := range o.SANs {
		if !hasSAN(leaf, want) {
			missing = append(missing, "SAN "+want+" missing")
		}
	}
	if len(missing) > 0 {
		r.Error = strings.Join(missing, ", ")
		return r
	}
	if r.DaysLeft < o.MinDays {
		r.Error = fmt.Sprintf("only %s left (want at least %d)", days(r.DaysLeft), o.MinDays)
		return r
	}
	r.OK = true
	return r
}

// chainCause names why a served chain does not verify. Dates come
// first, as Go's verifier checks them: an expired certificate from another
// CA is reported expired.
func chainCause(err error, served, roots []*x509.Certificate, now time.Time) string {
	for i, c := range served {
		if cause := dates(c, now); cause != "" {
			if i > 0 {
				cause = "CA certificate " + c.Subject.String() + " " + cause
			}
			return cause
		}
	}
	var ua x509.UnknownAuthorityError
	if !errors.As(err, &ua) {
		return strings.TrimPrefix(err.Error(), "x509: ")
	}
	top := served[len(served)-1]
	fps := make([]string, len(roots))
	for i, c := range roots {
		if bytes.Equal(c.RawSubject, top.RawIssuer) {
			if cause := dates(c, now); cause != "" {
				return "root " + c.Subject.String() + " " + cause
			}
		}
		fps[i] = Fingerprint(c)
	}
	return fmt.Sprintf("certificate signed by unknown authority (issuer %s, expected root fingerprint %s)",
		top.Issuer.String(), strings.Join(fps, ", "))
}

// dates says why c is not valid at now, or "".
func dates(c *x509.Certificate, now time.Time) string {
	if now.After(c.NotAfter) {
		// Whole days elapsed, as days_left counts them: a certificate
		// that expired 2 days and a minute ago expired 2 days ago.
		n := int(now.Sub(c.NotAfter) / day)
		if n == 0 {
			return "expired less than a day ago"
		}
		return "expired " + days(n) + " ago"
	}
	if now.Before(c.NotBefore) {
		// Rounded up: "for 0 more days" would read as valid.
		return "not valid for " + plural(int((c.NotBefore.Sub(now)+day-1)/day), "more day")
	}
	return ""
}

// netCause names why a connection or handshake failed.
func netCause(ctx context.Context, err error, timeout time.Duration, prefix string) string {
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) ||
		(errors.As(err, &ne) && ne.Timeout()):
		return "timeout after " + timeout.String()
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET):
		return prefix + "connection reset by the server"
	case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		return prefix + "the server closed the connection"
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return prefix + errno.Error()
	}
	return prefix + err.Error()
}

func hasSAN(leaf *x509.Certificate, want string) bool {
	if ip := net.ParseIP(want); ip != nil {
		for _, have := range leaf.IPAddresses {
			if have.Equal(ip) {
				return true
			}
		}
		return false
	}
	for _, have := range leaf.DNSNames {
		if strings.EqualFold(strings.TrimSuffix(have, "."), strings.TrimSuffix(want, ".")) {
			return true
		}
	}
	return false
}

func days(n int) string { return plural(n, "day") }

func plural(n int, what string) string {
	if n == 1 || n == -1 {
		return fmt.Sprintf("%d %s", n, what)
	}
	return fmt.Sprintf("%d %ss", n, what)
}

// Fingerprint is the SHA-256 of a certificate's DER, in lowercase hex, as
// `step certificate fingerprint` prints it.
func Fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}

func describe(leaf *x509.Certificate, now time.Time) Result {
	r := Result{NotAfter: leaf.NotAfter}
	r.SANs = append(r.SANs, leaf.DNSNames...)
	for _, ip := range leaf.IPAddresses {
		r.SANs = append(r.SANs, ip.String())
	}
	r.SANs = append(r.SANs, leaf.EmailAddresses...)
	for _, u := range leaf.URIs {
		r.SANs = append(r.SANs, u.String())
	}
	left := leaf.NotAfter.Sub(now)
	r.DaysLeft = int(left / day)
	if left < 0 && r.DaysLeft == 0 {
		r.DaysLeft = -1 // an expired certificate never shows 0
	}
	return r
}

func readRoots(file string) ([]*x509.Certificate, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("root: %w", err)
	}
	var certs []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("root %s: %w", file, err)
		}
		certs = append(certs, c)
	}
	if len(certs) == 0 {
		return nil, fmt.Errorf("root %s: no PEM certificate", file)
	}
	return certs, nil
}

// GetResult is what an HTTPS GET saw. Status is 0 and Body empty when no
// response came back; Error then says why, as Result.Error does.
type GetResult struct {
	OK     bool // verified, and a 2xx status
	Status int
	Body   []byte
	Error  string
}

// MaxBody caps what Get reads of a response body.
const MaxBody = 1 << 20

// Get does an HTTPS GET of rawURL whose connection is verified as Probe
// verifies (o.SANs and o.MinDays included), within o.Timeout for the
// whole request. o.ServerName, when set, is the Host header as well as
// the SNI. Redirects are not followed: a health check reports what
// the URL itself answers.
func Get(ctx context.Context, rawURL string, o Options) GetResult {
	u, err := url.Parse(rawURL)
	if err != nil {
		return GetResult{Error: err.Error()}
	}
	if u.Scheme != "https" || u.Host == "" {
		return GetResult{Error: fmt.Sprintf("url %q: want https://host[:port]/path", rawURL)}
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.ServerName == "" {
		o.ServerName = u.Hostname()
	}
	tr := &http.Transport{
		DisableKeepAlives: true,
		DialTLSContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			conn, r := dial(ctx, addr, &o)
			if !r.OK {
				return nil, &probeError{r}
			}
			return conn, nil
		},
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{
		Transport:     tr,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return GetResult{Error: err.Error()}
	}
	// The name asked for in the handshake is the one asked for in the
	// request too, as a browser does: a virtual host answers by Host.
	req.Host = o.ServerName
	if p := u.Port(); p != "" && p != "443" {
		req.Host = net.JoinHostPort(o.ServerName, p)
	}
	resp, err := client.Do(req)
	if err != nil {
		var pe *probeError
		if errors.As(err, &pe) {
			return GetResult{Error: pe.r.Error}
		}
		return GetResult{Error: netCause(ctx, err, o.Timeout, "")}
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBody))
	g := GetResult{Status: resp.StatusCode, Body: body}
	switch {
	case err != nil:
		g.Error = "reading the body: " + netCause(ctx, err, o.Timeout, "")
	case resp.StatusCode < 200 || resp.StatusCode > 299:
		g.Error = "status " + resp.Status
	default:
		g.OK = true
	}
	return g
}
