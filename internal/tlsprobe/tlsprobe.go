// Package tlsprobe checks a TLS endpoint with a real handshake against a
// given root, for health checks (the engine of tls.verify).
package tlsprobe

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"phoenix/internal/netns"
)

// Result is what a probe saw. On failure OK is false and Error says why;
// Chain, SANs and NotAfter are still filled when the server sent a
// certificate, so that a health check can show what is wrong with it.
type Result struct {
	OK       bool
	Chain    []string // subjects, leaf first, up to the root when verified
	SANs     []string // the leaf's DNS names, IPs, emails and URIs
	NotAfter time.Time
	DaysLeft int // whole days until NotAfter (negative once expired)
	Error    string
}

// Verify connects to addr, does a TLS handshake that verifies the server
// certificate for serverName (addr's host when empty) against the root
// certificates in rootPEMFile, and reports what it saw.
func Verify(ctx context.Context, addr, serverName, rootPEMFile string) Result {
	return verifyAt(ctx, addr, serverName, rootPEMFile, time.Now)
}

// VerifyIn is Verify from inside network namespace ns ("" for phoenix's
// own), where --netns puts the host side of a test replica.
func VerifyIn(ctx context.Context, ns, addr, serverName, rootPEMFile string) Result {
	return verifyIn(ctx, ns, addr, serverName, rootPEMFile, time.Now)
}

func verifyAt(ctx context.Context, addr, serverName, rootPEMFile string, now func() time.Time) Result {
	return verifyIn(ctx, "", addr, serverName, rootPEMFile, now)
}

func verifyIn(ctx context.Context, ns, addr, serverName, rootPEMFile string, now func() time.Time) Result {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return Result{Error: fmt.Sprintf("address %q: %v", addr, err)}
	}
	if serverName == "" {
		serverName = host
	}
	pool, err := readRoots(rootPEMFile)
	if err != nil {
		return Result{Error: err.Error()}
	}
	cfg := &tls.Config{RootCAs: pool, ServerName: serverName, MinVersion: tls.VersionTLS12, Time: now}
	state, err := handshake(ctx, ns, addr, cfg)
	if err == nil {
		r := describe(state.PeerCertificates[0], now())
		r.OK = true
		for _, c := range state.VerifiedChains[0] {
			r.Chain = append(r.Chain, c.Subject.String())
		}
		return r
	}
	r := Result{Error: err.Error()}
	var verr *tls.CertificateVerificationError
	if !errors.As(err, &verr) || len(verr.UnverifiedCertificates) == 0 {
		return r
	}
	// Show what the server sent, unverified, next to the error.
	d := describe(verr.UnverifiedCertificates[0], now())
	d.Error = r.Error
	for _, c := range verr.UnverifiedCertificates {
		d.Chain = append(d.Chain, c.Subject.String())
	}
	return d
}

func handshake(ctx context.Context, ns, addr string, cfg *tls.Config) (tls.ConnectionState, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
	}
	raw, err := netns.Dial(ctx, ns, "tcp", addr)
	if err != nil {
		return tls.ConnectionState{}, err
	}
	conn := tls.Client(raw, cfg)
	defer conn.Close()
	if err := conn.HandshakeContext(ctx); err != nil {
		return tls.ConnectionState{}, err
	}
	return conn.ConnectionState(), nil
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
	r.DaysLeft = int(left / (24 * time.Hour))
	if left < 0 && left%(24*time.Hour) != 0 {
		r.DaysLeft-- // floor, so that an expired cert never shows 0
	}
	return r
}

func readRoots(file string) (*x509.CertPool, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("root: %w", err)
	}
	pool := x509.NewCertPool()
	n := 0
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
		pool.AddCert(c)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("root %s: no PEM certificate", file)
	}
	return pool, nil
}
