package tls_test

import (
	"crypto/tls"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.starlark.net/starlark"

	"phoenix/builtins"
	"phoenix/internal/testkit"
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
	day := time.Now().Add(24 * time.Hour)
	root := testkit.Issue(t, "Test Root", nil, true, day)
	inter := testkit.Issue(t, "Test Intermediate", root, true, day)
	leaf := testkit.Issue(t, "leaf.test.internal", inter, false, leafNotAfter, "leaf.test.internal", "127.0.0.1")
	return pki{rootPEM: root.PEM(), chain: leaf.Chain(inter)}
}

// serveLater reserves a loopback port and starts serving on it after
// delay, as a daemon that was just restarted would.
func serveLater(t *testing.T, c tls.Certificate, delay time.Duration) string {
	t.Helper()
	addr := testkit.FreeAddr(t)
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
	d := starlark.StringDict{}
	d["GOOD"] = starlark.String(testkit.TLSServer(t, good.chain))
	d["EXPIRED"] = starlark.String(testkit.TLSServer(t, expired.chain))
	d["LATER"] = starlark.String(serveLater(t, good.chain, time.Second))
	runtimetest.Run(t, "testdata/*.star", runtimetest.Options{
		Families: builtins.All(),
		Globals:  d,
		Setup: func(t *testing.T, rt *runtime.Runtime) {
			for name, data := range map[string][]byte{"root.crt": good.rootPEM, "expired-root.crt": expired.rootPEM} {
				if err := os.WriteFile(filepath.Join(rt.Root.Dir(), name), data, 0o644); err != nil {
					t.Fatal(err)
				}
			}
		},
	})
}
