package tls_test

import (
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
	"testing"
	"time"

	"go.starlark.net/starlark"

	"phoenix/builtins"
	"phoenix/runtime"
	"phoenix/runtime/runtimetest"
)

// pki is a root, an intermediate and a leaf for leaf.test.internal and
// 127.0.0.1, made here so that the test needs no CA.
type pki struct {
	rootPEM []byte
	chain   tls.Certificate
}

func makePKI(t *testing.T, leafNotAfter time.Time) pki {
	t.Helper()
	key := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	sign := func(tmpl, parent *x509.Certificate, pub, priv any) *x509.Certificate {
		der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, priv)
		if err != nil {
			t.Fatal(err)
		}
		c, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	now := time.Now()
	rk, ik, lk := key(), key(), key()
	rt := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "Test Root"}, NotBefore: now.Add(-time.Hour),
		NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	root := sign(rt, rt, &rk.PublicKey, rk)
	it := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "Test Intermediate"}, NotBefore: now.Add(-time.Hour),
		NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	inter := sign(it, root, &ik.PublicKey, rk)
	lt := &x509.Certificate{SerialNumber: big.NewInt(3), Subject: pkix.Name{CommonName: "leaf.test.internal"}, NotBefore: now.Add(-time.Hour),
		NotAfter: leafNotAfter, DNSNames: []string{"leaf.test.internal"}, IPAddresses: []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	leaf := sign(lt, inter, &lk.PublicKey, ik)
	return pki{
		rootPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: root.Raw}),
		chain:   tls.Certificate{Certificate: [][]byte{leaf.Raw, inter.Raw}, PrivateKey: lk},
	}
}

func serve(t *testing.T, c tls.Certificate) string {
	t.Helper()
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{c}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				conn.(*tls.Conn).Handshake()
				conn.Close()
			}()
		}
	}()
	return l.Addr().String()
}

// serveLater reserves a loopback port and starts serving on it after
// delay, as a daemon that was just restarted would.
func serveLater(t *testing.T, c tls.Certificate, delay time.Duration) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	done := make(chan struct{})
	t.Cleanup(func() { <-done })
	go func() {
		defer close(done)
		time.Sleep(delay)
		l, err := tls.Listen("tcp", addr, &tls.Config{Certificates: []tls.Certificate{c}})
		if err != nil {
			t.Error(err)
			return
		}
		conn, err := l.Accept()
		if err == nil {
			conn.(*tls.Conn).Handshake()
			conn.Close()
		}
		l.Close()
	}()
	return addr
}

// TestStar runs testdata/verify.star against two servers: one with a
// good chain (GOOD), one whose leaf expired (EXPIRED) and one that starts
// listening a second late (LATER); /root.crt is the good chain's root.
func TestStar(t *testing.T) {
	good := makePKI(t, time.Now().Add(10*24*time.Hour+time.Hour))
	expired := makePKI(t, time.Now().Add(-30*time.Minute))
	d := builtins.Predeclared()
	d["GOOD"] = starlark.String(serve(t, good.chain))
	d["EXPIRED"] = starlark.String(serve(t, expired.chain))
	d["LATER"] = starlark.String(serveLater(t, good.chain, time.Second))
	runtimetest.Run(t, "testdata/*.star", runtimetest.Options{
		Predeclared: d,
		Setup: func(t *testing.T, rt *runtime.Runtime) {
			for name, data := range map[string][]byte{"root.crt": good.rootPEM, "expired-root.crt": expired.rootPEM} {
				if err := os.WriteFile(filepath.Join(rt.Root.Dir(), name), data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		},
	})
}
