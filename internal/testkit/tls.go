package testkit

import (
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
	"testing"
	"time"
)

// Cert is a certificate and its key, made by Issue.
type Cert struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// Issue makes a certificate for cn, valid from two hours ago until
// notAfter, signed by parent (self-signed when parent is nil), so that a
// test needs no CA. A CA may sign certificates; a leaf is a TLS server
// for sans, each a DNS name or an IP address.
func Issue(t testing.TB, cn string, parent *Cert, isCA bool, notAfter time.Time, sans ...string) *Cert {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
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
		signer, parentCert = parent.Key, parent.Cert
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parentCert, key.Public(), signer)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &Cert{c, key}
}

// PEM is the certificate as a PEM file holds it.
func (c *Cert) PEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Cert.Raw})
}

// Chain is c with the intermediates after it, as a server sends it.
func (c *Cert) Chain(intermediates ...*Cert) tls.Certificate {
	chain := tls.Certificate{Certificate: [][]byte{c.Cert.Raw}, PrivateKey: c.Key}
	for _, i := range intermediates {
		chain.Certificate = append(chain.Certificate, i.Cert.Raw)
	}
	return chain
}

// ServeTLS serves cert on a free loopback port until the listener is
// closed, as a consumer of the certificate (nginx, Traefik) would: each
// connection gets a handshake, then is closed.
func ServeTLS(cert tls.Certificate) (net.Listener, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	go Handshakes(l, &tls.Config{Certificates: []tls.Certificate{cert}})
	return l, nil
}

// Handshakes answers every connection l accepts with a TLS handshake
// under cfg, then closes it, until l is closed.
func Handshakes(l net.Listener, cfg *tls.Config) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			tc := tls.Server(c, cfg)
			tc.SetDeadline(time.Now().Add(5 * time.Second))
			tc.Handshake()
		}()
	}
}

// TLSServer is ServeTLS until the test ends; it returns the address.
func TLSServer(t testing.TB, cert tls.Certificate) string {
	t.Helper()
	l, err := ServeTLS(cert)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l.Addr().String()
}
