package tlsprobe

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type issued struct {
	cert *x509.Certificate
	key  crypto.Signer
}

func issue(t *testing.T, cn string, parent *issued, isCA bool, notAfter time.Time, sans ...string) *issued {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: cn},
		NotBefore:             time.Now().Add(-2 * time.Hour),
		NotAfter:              notAfter,
		BasicConstraintsValid: true,
		IsCA:                  isCA,
	}
	if isCA {
		tmpl.KeyUsage = x509.KeyUsageCertSign
	} else {
		tmpl.KeyUsage = x509.KeyUsageDigitalSignature
		tmpl.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		for _, s := range sans {
			if ip := net.ParseIP(s); ip != nil {
				tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
			} else {
				tmpl.DNSNames = append(tmpl.DNSNames, s)
			}
		}
	}
	signer, parentCert := crypto.Signer(key), tmpl
	if parent != nil {
		signer, parentCert = parent.key, parent.cert
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parentCert, key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &issued{c, key}
}

func writeRoot(t *testing.T, c *x509.Certificate) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "root.crt")
	if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw}), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// serve serves leaf with its intermediate on a free loopback port.
func serve(t *testing.T, leaf, inter *issued) string {
	t.Helper()
	cert := tls.Certificate{Certificate: [][]byte{leaf.cert.Raw, inter.cert.Raw}, PrivateKey: leaf.key}
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { c.(*tls.Conn).Handshake(); c.Close() }()
		}
	}()
	return l.Addr().String()
}

func TestVerify(t *testing.T) {
	year := time.Now().Add(365 * 24 * time.Hour)
	root := issue(t, "Test Root", nil, true, year)
	inter := issue(t, "Test Intermediate", root, true, year)
	leafEnd := time.Now().Add(10*24*time.Hour + time.Hour)
	leaf := issue(t, "gateway.test", inter, false, leafEnd, "gateway.test", "127.0.0.1")
	addr := serve(t, leaf, inter)
	rootFile := writeRoot(t, root.cert)
	ctx := context.Background()

	r := Verify(ctx, addr, "gateway.test", rootFile)
	if !r.OK || r.Error != "" {
		t.Fatalf("verify: %+v", r)
	}
	if got := strings.Join(r.Chain, "|"); got != "CN=gateway.test|CN=Test Intermediate|CN=Test Root" {
		t.Errorf("chain %q", got)
	}
	if got := strings.Join(r.SANs, ","); got != "gateway.test,127.0.0.1" {
		t.Errorf("SANs %q", got)
	}
	if r.DaysLeft != 10 || !r.NotAfter.Equal(leaf.cert.NotAfter) {
		t.Errorf("days left %d, not after %s", r.DaysLeft, r.NotAfter)
	}
	// The server name defaults to the address's host (an IP SAN here).
	if r := Verify(ctx, addr, "", rootFile); !r.OK {
		t.Errorf("by IP: %+v", r)
	}

	// Another name: fails, but still shows what was served.
	r = Verify(ctx, addr, "other.test", rootFile)
	if r.OK || !strings.Contains(r.Error, "other.test") {
		t.Errorf("wrong name: %+v", r)
	}
	if len(r.Chain) != 2 || r.Chain[0] != "CN=gateway.test" || len(r.SANs) != 2 {
		t.Errorf("wrong name, served chain: %+v", r)
	}

	// Another root: unknown authority.
	other := issue(t, "Other Root", nil, true, year)
	r = Verify(ctx, addr, "gateway.test", writeRoot(t, other.cert))
	if r.OK || !strings.Contains(r.Error, "unknown authority") {
		t.Errorf("other root: %+v", r)
	}

	// An expired leaf: negative days.
	old := issue(t, "old.test", inter, false, time.Now().Add(-30*time.Minute), "old.test")
	r = Verify(ctx, serve(t, old, inter), "old.test", rootFile)
	if r.OK || !strings.Contains(r.Error, "expired") || r.DaysLeft != -1 {
		t.Errorf("expired: %+v", r)
	}

	// Nothing listening, bad root file, bad address.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	closed := l.Addr().String()
	l.Close()
	if r := Verify(ctx, closed, "x", rootFile); r.OK || !strings.Contains(r.Error, "refused") {
		t.Errorf("closed port: %+v", r)
	}
	if r := Verify(ctx, addr, "gateway.test", filepath.Join(t.TempDir(), "none.crt")); r.OK || !strings.Contains(r.Error, "root") {
		t.Errorf("missing root: %+v", r)
	}
	if r := Verify(ctx, "nocolon", "x", rootFile); r.OK || !strings.Contains(r.Error, "nocolon") {
		t.Errorf("bad address: %+v", r)
	}
}
