package tlsprobe

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"phoenix/internal/testkit"
)

func writeRoot(t *testing.T, certs ...*testkit.Cert) string {
	t.Helper()
	var data []byte
	for _, c := range certs {
		data = append(data, c.PEM()...)
	}
	p := filepath.Join(t.TempDir(), "root.crt")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// between re-signs c with parent for the validity window [from, to], for
// certificates that are not valid yet or expired long ago.
func between(t *testing.T, c, parent *testkit.Cert, from, to time.Time) *testkit.Cert {
	t.Helper()
	tmpl := *c.Cert
	tmpl.NotBefore, tmpl.NotAfter = from, to
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl.SerialNumber = serial
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, parent.Cert, c.Key.Public(), parent.Key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return &testkit.Cert{Cert: cert, Key: c.Key}
}

// silent accepts connections and never answers, as a hung daemon does.
func silent(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var conns []net.Conn
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

type fixture struct {
	root, inter *testkit.Cert
	rootFile    string
}

func newFixture(t *testing.T) fixture {
	year := time.Now().Add(365 * day)
	root := testkit.Issue(t, "Test Root", nil, true, year)
	inter := testkit.Issue(t, "Test Intermediate", root, true, year)
	return fixture{root, inter, writeRoot(t, root)}
}

func (f fixture) serve(t *testing.T, leaf *testkit.Cert) string {
	return testkit.TLSServer(t, leaf.Chain(f.inter))
}

func TestVerify(t *testing.T) {
	f := newFixture(t)
	leafEnd := time.Now().Add(10*day + time.Hour)
	leaf := testkit.Issue(t, "gateway.test", f.inter, false, leafEnd, "gateway.test", "127.0.0.1")
	addr := f.serve(t, leaf)
	ctx := context.Background()

	r := Verify(ctx, addr, "gateway.test", f.rootFile)
	if !r.OK || r.Error != "" {
		t.Fatalf("verify: %+v", r)
	}
	if got := strings.Join(r.Chain, "|"); got != "CN=gateway.test|CN=Test Intermediate|CN=Test Root" {
		t.Errorf("chain %q", got)
	}
	if got := strings.Join(r.SANs, ","); got != "gateway.test,127.0.0.1" {
		t.Errorf("SANs %q", got)
	}
	if r.DaysLeft != 10 || !r.NotAfter.Equal(leaf.Cert.NotAfter) {
		t.Errorf("days left %d, not after %s", r.DaysLeft, r.NotAfter)
	}
	if r.Fingerprint != Fingerprint(f.root.Cert) || len(r.Fingerprint) != 64 {
		t.Errorf("fingerprint %q, want the root's %q", r.Fingerprint, Fingerprint(f.root.Cert))
	}
	// The server name defaults to the address's host (an IP SAN here).
	if r := Verify(ctx, addr, "", f.rootFile); !r.OK {
		t.Errorf("by IP: %+v", r)
	}
	// Requirements that hold.
	if r := Probe(ctx, addr, Options{ServerName: "gateway.test", Root: f.rootFile, SANs: []string{"GATEWAY.test", "127.0.0.1"}, MinDays: 10}); !r.OK {
		t.Errorf("requirements met: %+v", r)
	}
	// Bad root file, bad address.
	if r := Verify(ctx, addr, "gateway.test", filepath.Join(t.TempDir(), "none.crt")); r.OK || !strings.Contains(r.Error, "root") {
		t.Errorf("missing root: %+v", r)
	}
	if r := Verify(ctx, "nocolon", "x", f.rootFile); r.OK || !strings.Contains(r.Error, "nocolon") {
		t.Errorf("bad address: %+v", r)
	}
}

// TestCauses breaks one thing at a time; each failure names its cause
// exactly.
func TestCauses(t *testing.T) {
	f := newFixture(t)
	year := time.Now().Add(365 * day)
	now := time.Now()
	good := testkit.Issue(t, "gateway.test", f.inter, false, year, "gateway.test", "www.example.com")

	other := testkit.Issue(t, "Other Root", nil, true, year)
	otherInter := testkit.Issue(t, "Other Intermediate", other, true, year)
	fromOther := testkit.Issue(t, "gateway.test", otherInter, false, year, "gateway.test")
	second := testkit.Issue(t, "Second Root", nil, true, year)

	expired := between(t, good, f.inter, now.Add(-10*day), now.Add(-2*day))
	notYet := between(t, good, f.inter, now.Add(3*day), now.Add(30*day))
	oldInter := between(t, f.inter, f.root, now.Add(-10*day), now.Add(-day-time.Hour))
	underOld := testkit.Issue(t, "gateway.test", oldInter, false, year, "gateway.test")
	short := testkit.Issue(t, "gateway.test", f.inter, false, now.Add(3*day+time.Hour), "gateway.test")
	noSAN := testkit.Issue(t, "gateway.test", f.inter, false, year)

	cases := []struct {
		name string
		addr string
		o    Options
		want string
	}{
		{"other CA", testkit.TLSServer(t, fromOther.Chain(otherInter)), Options{ServerName: "gateway.test"},
			fmt.Sprintf("certificate signed by unknown authority (issuer CN=Other Root, expected root fingerprint %s)", Fingerprint(f.root.Cert))},
		{"other CA, two roots given", testkit.TLSServer(t, fromOther.Chain(otherInter)), Options{ServerName: "gateway.test", Root: writeRoot(t, f.root, second)},
			fmt.Sprintf("certificate signed by unknown authority (issuer CN=Other Root, expected root fingerprint %s, %s)", Fingerprint(f.root.Cert), Fingerprint(second.Cert))},
		{"intermediate not sent", testkit.TLSServer(t, good.Chain()), Options{ServerName: "gateway.test"},
			fmt.Sprintf("certificate signed by unknown authority (issuer CN=Test Intermediate, expected root fingerprint %s)", Fingerprint(f.root.Cert))},
		{"expired", f.serve(t, expired), Options{ServerName: "gateway.test"}, "expired 2 days ago"},
		{"not yet valid", f.serve(t, notYet), Options{ServerName: "gateway.test"}, "not valid for 3 more days"},
		{"expired intermediate", testkit.TLSServer(t, underOld.Chain(oldInter)), Options{ServerName: "gateway.test"}, "CA certificate CN=Test Intermediate expired 1 day ago"},
		{"wrong name", f.serve(t, good), Options{ServerName: "other.test"}, "certificate is valid for gateway.test, www.example.com, not other.test"},
		{"no SAN", f.serve(t, noSAN), Options{ServerName: "gateway.test"}, "certificate has no SAN, not valid for gateway.test"},
		{"missing SAN", f.serve(t, good), Options{ServerName: "gateway.test", SANs: []string{"gateway.test", "gateway.example"}}, "SAN gateway.example missing"},
		{"missing SANs", f.serve(t, good), Options{ServerName: "gateway.test", SANs: []string{"a.test", "10.0.0.1"}}, "SAN a.test missing, SAN 10.0.0.1 missing"},
		{"too few days", f.serve(t, short), Options{ServerName: "gateway.test", MinDays: 7}, "only 3 days left (want at least 7)"},
		{"refused", testkit.FreeAddr(t), Options{ServerName: "gateway.test"}, "connection refused"},
		{"just expired", f.serve(t, between(t, good, f.inter, now.Add(-day), now.Add(-time.Minute))), Options{ServerName: "gateway.test"}, "expired less than a day ago"},
		{"silent", silent(t), Options{ServerName: "gateway.test"}, "timeout after 2s"},
		{"silent, short timeout", silent(t), Options{ServerName: "gateway.test", Timeout: 300 * time.Millisecond}, "timeout after 300ms"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.o.Root == "" {
				c.o.Root = f.rootFile
			}
			start := time.Now()
			r := Probe(context.Background(), c.addr, c.o)
			if r.OK || r.Error != c.want {
				t.Errorf("got ok=%v error %q\nwant %q", r.OK, r.Error, c.want)
			}
			if took := time.Since(start); took > 3*time.Second {
				t.Errorf("took %s", took)
			}
		})
	}

	// A failure still shows what the server sent.
	r := Probe(context.Background(), f.serve(t, expired), Options{ServerName: "gateway.test", Root: f.rootFile})
	if r.DaysLeft != -2 || r.Chain[0] != "CN=gateway.test" || len(r.Chain) != 2 || r.Fingerprint != "" {
		t.Errorf("expired, what was served: %+v", r)
	}
	// A chain that verified keeps its root's fingerprint when a later check fails.
	r = Probe(context.Background(), f.serve(t, short), Options{ServerName: "gateway.test", Root: f.rootFile, MinDays: 7})
	if r.Fingerprint != Fingerprint(f.root.Cert) || len(r.Chain) != 3 {
		t.Errorf("too few days, verified chain: %+v", r)
	}
}

func TestGet(t *testing.T) {
	f := newFixture(t)
	year := time.Now().Add(365 * day)
	leaf := testkit.Issue(t, "ca.test", f.inter, false, year, "ca.test", "127.0.0.1")
	mux := http.NewServeMux()
	mux.HandleFunc("/health", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, `{"status":"ok"}`) })
	mux.HandleFunc("/host", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, r.Host) })
	mux.HandleFunc("/down", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", http.StatusServiceUnavailable) })
	mux.HandleFunc("/hang", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	mux.HandleFunc("/moved", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/health", http.StatusFound) })
	l, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{leaf.Chain(f.inter)}})
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	base := "https://" + l.Addr().String()
	ctx := context.Background()
	o := Options{ServerName: "ca.test", Root: f.rootFile}

	g := Get(ctx, base+"/health", o)
	if !g.OK || g.Status != 200 || string(g.Body) != `{"status":"ok"}` || g.Error != "" {
		t.Errorf("health: %+v", g)
	}
	// The name asked for in the handshake is the Host asked for.
	if g := Get(ctx, base+"/host", o); string(g.Body) != "ca.test:"+strings.Split(l.Addr().String(), ":")[1] {
		t.Errorf("Host header: %q", g.Body)
	}
	// By IP, the server name is the URL's host.
	if g := Get(ctx, base+"/health", Options{Root: f.rootFile}); !g.OK {
		t.Errorf("by IP: %+v", g)
	}
	if g := Get(ctx, base+"/down", o); g.OK || g.Status != 503 || g.Error != "status 503 Service Unavailable" || string(g.Body) != "down\n" {
		t.Errorf("down: %+v", g)
	}
	if g := Get(ctx, base+"/moved", o); g.OK || g.Status != 302 {
		t.Errorf("redirect followed: %+v", g)
	}
	if g := Get(ctx, base+"/hang", Options{ServerName: "ca.test", Root: f.rootFile, Timeout: 300 * time.Millisecond}); g.OK || g.Status != 0 || g.Error != "timeout after 300ms" {
		t.Errorf("hang: %+v", g)
	}
	other := testkit.Issue(t, "Other Root", nil, true, year)
	want := "certificate signed by unknown authority (issuer CN=Test Root, expected root fingerprint " + Fingerprint(other.Cert) + ")"
	if g := Get(ctx, base+"/health", Options{ServerName: "ca.test", Root: writeRoot(t, other)}); g.OK || g.Status != 0 || g.Error != want {
		t.Errorf("other root: %+v\nwant %q", g, want)
	}
	if g := Get(ctx, base+"/health", Options{ServerName: "nope.test", Root: f.rootFile}); g.OK || g.Error != "certificate is valid for ca.test, 127.0.0.1, not nope.test" {
		t.Errorf("wrong name: %+v", g)
	}
	if g := Get(ctx, "https://"+testkit.FreeAddr(t)+"/health", o); g.OK || g.Error != "connection refused" {
		t.Errorf("refused: %+v", g)
	}
	if g := Get(ctx, "https://"+silent(t)+"/health", o); g.OK || g.Error != "timeout after 2s" {
		t.Errorf("silent: %+v", g)
	}
	if g := Get(ctx, "http://"+l.Addr().String()+"/health", o); g.OK || !strings.Contains(g.Error, "want https://") {
		t.Errorf("plain http: %+v", g)
	}
}
