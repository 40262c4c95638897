package tls_test

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"go.starlark.net/starlark"

	"phoenix/builtins"
	"phoenix/internal/testkit"
	"phoenix/internal/tlsprobe"
	"phoenix/runtime"
	"phoenix/runtime/runtimetest"
)

// pki is a root, an intermediate and a leaf for leaf.test.internal and
// 127.0.0.1, made here so that the test needs no CA.
type pki struct {
	rootPEM []byte
	rootFP  string
	chain   tls.Certificate
}

func makePKI(t *testing.T, leafNotAfter time.Time) pki {
	t.Helper()
	day := time.Now().Add(24 * time.Hour)
	root := testkit.Issue(t, "Test Root", nil, true, day)
	inter := testkit.Issue(t, "Test Intermediate", root, true, day)
	leaf := testkit.Issue(t, "leaf.test.internal", inter, false, leafNotAfter, "leaf.test.internal", "127.0.0.1")
	return pki{rootPEM: root.PEM(), rootFP: tlsprobe.Fingerprint(root.Cert), chain: leaf.Chain(inter)}
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

// httpsServer serves, with c, /health (200) and /down (503).
func httpsServer(t *testing.T, c tls.Certificate) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"status":"ok"}`) })
	mux.HandleFunc("/down", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", http.StatusServiceUnavailable) })
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{c}})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return "https://" + l.Addr().String()
}

// silent accepts connections and never answers.
func silent(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l.Addr().String() // the kernel completes connections nobody accepts
}

// TestStar runs testdata/*.star against servers: one with a good chain
// (GOOD), one whose leaf expired (EXPIRED), one that starts listening a
// second late (LATER), an HTTPS server with the good chain (HTTPS), one
// that never answers (SILENT) and a closed port (CLOSED); /root.crt is the
// good chain's root (fingerprint GOOD_FP), /expired-root.crt the expired
// chain's (EXPIRED_FP).
func TestStar(t *testing.T) {
	good := makePKI(t, time.Now().Add(10*24*time.Hour+time.Hour))
	expired := makePKI(t, time.Now().Add(-30*time.Minute))
	d := starlark.StringDict{}
	d["GOOD"] = starlark.String(testkit.TLSServer(t, good.chain))
	d["EXPIRED"] = starlark.String(testkit.TLSServer(t, expired.chain))
	d["LATER"] = starlark.String(serveLater(t, good.chain, time.Second))
	d["HTTPS"] = starlark.String(httpsServer(t, good.chain))
	d["SILENT"] = starlark.String(silent(t))
	d["CLOSED"] = starlark.String(testkit.FreeAddr(t))
	d["GOOD_FP"] = starlark.String(good.rootFP)
	d["EXPIRED_FP"] = starlark.String(expired.rootFP)
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
