package ca

import (
	"bytes"
	"context"
	"crypto/tls"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"phoenix/internal/testkit"
	"phoenix/internal/tlsprobe"
)

func certReq(srv *Server, dir, subject string, sans ...string) CertRequest {
	uid, gid := owner()
	return CertRequest{
		CAURL:       srv.URL(),
		Root:        srv.Root(),
		Provisioner: testProv,
		Password:    []byte(testProvPW),
		Subject:     subject,
		SANs:        sans,
		Cert:        filepath.Join(dir, subject+".crt"),
		Key:         filepath.Join(dir, subject+".key"),
		UID:         uid,
		GID:         gid,
	}
}

// serveTLS serves the cert and key on a free loopback port, as a consumer
// (the gateway) would, and returns the address.
func serveTLS(t *testing.T, certFile, keyFile string) string {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	return testkit.TLSServer(t, pair)
}

func TestServeIssueVerifyRenew(t *testing.T) {
	srv := sharedServer(t)
	dir, res := sharedCA(t)
	if srv.Fingerprint() != res.Fingerprint || srv.Root() != hostPath(dir, RootCertFile) {
		t.Fatalf("server root %s %s", srv.Root(), srv.Fingerprint())
	}
	if !strings.HasPrefix(srv.URL(), "https://127.0.0.1:") {
		t.Fatalf("URL %q", srv.URL())
	}
	out := t.TempDir()
	ctx := context.Background()
	is := NewIssuer()
	req := certReq(srv, out, "gateway.test.internal", "gateway.test.internal", "127.0.0.1")

	st, err := CertState(req, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if st.Action != CertIssue {
		t.Fatalf("no cert yet: action %s, want issue", st.Action)
	}
	r, err := is.Apply(ctx, req, st)
	if err != nil {
		t.Fatal(err)
	}
	if r.Action != CertIssue {
		t.Errorf("action %s", r.Action)
	}
	if d := r.NotAfter.Sub(time.Now()); d < testLeafDef-time.Hour || d > testLeafDef+time.Hour {
		t.Errorf("leaf lives %s, want the provisioner default %s", d, testLeafDef)
	}
	checkMode(t, req.Key, 0o600)
	checkMode(t, req.Cert, 0o644)
	chain, err := parseCerts(mustRead(t, req.Cert))
	if err != nil || len(chain) != 2 {
		t.Fatalf("cert file holds %d certificates (%v), want leaf and intermediate", len(chain), err)
	}

	// Unchanged now: chains, same SANs, outside the window.
	st, err = CertState(req, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if st.Action != CertUnchanged || st.Serial != r.Serial {
		t.Fatalf("fresh cert: %s (%s), want unchanged", st.Action, st.Reason)
	}
	// The same names in another order and case are the same set.
	req2 := req
	req2.SANs = []string{"127.0.0.1", "GATEWAY.test.internal"}
	if st, _ := CertState(req2, time.Now()); st.Action != CertUnchanged {
		t.Errorf("reordered SANs: %s (%s)", st.Action, st.Reason)
	}

	// A real TLS handshake against the root: leaf -> intermediate -> root.
	addr := serveTLS(t, req.Cert, req.Key)
	pr := tlsprobe.Verify(ctx, addr, "gateway.test.internal", srv.Root())
	if !pr.OK {
		t.Fatalf("tls verify: %s", pr.Error)
	}
	want := []string{"CN=gateway.test.internal", "CN=Phoenix Test Intermediate CA,O=Phoenix Test", "CN=Phoenix Test Root CA,O=Phoenix Test"}
	if strings.Join(pr.Chain, "|") != strings.Join(want, "|") {
		t.Errorf("chain %q, want %q", pr.Chain, want)
	}
	if strings.Join(pr.SANs, ",") != "gateway.test.internal,127.0.0.1" {
		t.Errorf("SANs %q", pr.SANs)
	}
	if pr.DaysLeft != 1 || !pr.NotAfter.Equal(r.NotAfter) {
		t.Errorf("days left %d, not after %s (cert %s)", pr.DaysLeft, pr.NotAfter, r.NotAfter)
	}

	// Inside the renew window: renewed over mTLS, same key, new serial.
	keyBefore := mustRead(t, req.Key)
	req.RenewBefore = 3 * testLeafDef
	st, err = CertState(req, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if st.Action != CertRenew {
		t.Fatalf("inside the window: %s (%s), want renew", st.Action, st.Reason)
	}
	mustContain(t, "renew reason", st.Reason, "renew window")
	r2, err := is.Certificate(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if r2.Action != CertRenew || r2.Serial == r.Serial {
		t.Errorf("renew: %+v (old serial %s)", r2, r.Serial)
	}
	if !bytes.Equal(keyBefore, mustRead(t, req.Key)) {
		t.Error("renewal changed the key")
	}
	addr = serveTLS(t, req.Cert, req.Key)
	if pr := tlsprobe.Verify(ctx, addr, "127.0.0.1", srv.Root()); !pr.OK || len(pr.Chain) != 3 {
		t.Errorf("renewed cert: %+v", pr)
	}

	// Other SANs: a new certificate.
	req.RenewBefore = 0
	req.SANs = []string{"gateway.test.internal"}
	st, _ = CertState(req, time.Now())
	if st.Action != CertIssue {
		t.Errorf("SANs changed: %s, want issue", st.Action)
	}
	mustContain(t, "SAN reason", st.Reason, "covers 127.0.0.1, gateway.test.internal, want gateway.test.internal")

	// Many certificates, one decryption.
	for i := 0; i < 3; i++ {
		q := certReq(srv, out, "svc"+string(rune('a'+i))+".test.internal")
		if _, err := is.Certificate(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	if s := is.Stats(); s.Decrypts != 1 || s.Issued != 4 || s.Renewed != 1 {
		t.Errorf("stats %+v, want 1 decrypt, 4 issued, 1 renewed", s)
	}

	// Request logs: the sign and renew requests, no token, no PEM.
	log := requestLog()
	mustContain(t, "request log", log, "POST /sign HTTP", "POST /renew HTTP", "GET /health HTTP")
	for _, bad := range []string{"ott", "eyJ", "BEGIN", testProvPW} {
		if strings.Contains(log, bad) {
			t.Errorf("request log contains %q:\n%s", bad, log)
		}
	}
}

func TestCertStateForeignAndExpired(t *testing.T) {
	srv := sharedServer(t)
	out := t.TempDir()
	req := certReq(srv, out, "foreign.test.internal")
	if _, err := NewIssuer().Issue(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	// Past its end: issue (renewal needs a valid cert).
	st, err := CertState(req, time.Now().Add(testLeafDef+time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if st.Action != CertIssue {
		t.Errorf("expired: %s, want issue", st.Action)
	}
	mustContain(t, "expired reason", st.Reason, "does not verify")

	// Against another root: issue.
	other := copyCA(t)
	b := mustRead(t, req.Cert)
	req.Root = filepath.Join(t.TempDir(), "other.crt")
	os.WriteFile(req.Root, mustRead(t, hostPath(other, RootCertFile)), 0o644)
	if st, _ := CertState(req, time.Now()); st.Action != CertUnchanged {
		// The copy has the same root: still fine.
		t.Errorf("same root copied: %s (%s)", st.Action, st.Reason)
	}
	fresh := filepath.Join(t.TempDir(), "ssl")
	o := testOptions(fresh)
	if _, err := Create(o); err != nil {
		t.Fatal(err)
	}
	req.Root = hostPath(fresh, RootCertFile)
	st, _ = CertState(req, time.Now())
	if st.Action != CertIssue {
		t.Errorf("foreign root: %s, want issue", st.Action)
	}
	mustContain(t, "foreign reason", st.Reason, "does not verify", "unknown authority")

	// Key that does not match: issue.
	req.Root = srv.Root()
	os.WriteFile(req.Key, mustRead(t, hostPath(fresh, IntermediateCertFile)), 0o600)
	st, _ = CertState(req, time.Now())
	if st.Action != CertIssue {
		t.Errorf("bad key: %s, want issue", st.Action)
	}
	if !bytes.Equal(b, mustRead(t, req.Cert)) {
		t.Error("CertState changed the cert file")
	}
}

func TestWrongProvisionerPassword(t *testing.T) {
	srv := sharedServer(t)
	out := t.TempDir()
	req := certReq(srv, out, "wrong.test.internal")
	req.Password = []byte("not the password")
	is := NewIssuer()
	_, err := is.Certificate(context.Background(), req)
	if err == nil {
		t.Fatal("issued with a wrong provisioner password")
	}
	mustContain(t, "error", err.Error(), `wrong provisioner password for provisioner "admin"`)
	if strings.Contains(err.Error(), "not the password") {
		t.Error("the error prints the password")
	}
	if exists(nil, req.Cert) || exists(nil, req.Key) {
		t.Error("files written despite the error")
	}
	req.Provisioner = "nobody"
	_, err = is.Certificate(context.Background(), req)
	if err == nil {
		t.Fatal("issued with an unknown provisioner")
	}
	mustContain(t, "error", err.Error(), `no JWK provisioner "nobody"`, "admin, acme")
	if is.Stats().Decrypts != 0 {
		t.Errorf("stats %+v", is.Stats())
	}
}

func TestServeErrors(t *testing.T) {
	dir := copyCA(t)
	cfg := hostPath(dir, ConfigFile)
	_, err := Serve(cfg, []byte("wrong"), ServeOptions{PathMap: map[string]string{testGuest: dir}, Listen: "127.0.0.1:0"})
	if err == nil {
		t.Fatal("served with a wrong CA password")
	}
	mustContain(t, "error", err.Error(), "secrets/intermediate_ca_key: does not decrypt with the given password")
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	_, err = Serve(cfg, []byte(testPW), ServeOptions{PathMap: map[string]string{testGuest: dir}, Listen: busy.Addr().String()})
	if err == nil {
		t.Fatal("served on a port in use")
	}
	mustContain(t, "error", err.Error(), "address already in use")
	_, err = Serve(cfg, []byte(testPW), ServeOptions{Listen: "127.0.0.1:0"})
	if err == nil {
		t.Fatal("served without a path map for the guest paths")
	}
	mustContain(t, "error", err.Error(), testGuest+"/certs/root_ca.crt")

	// A failed start leaves nothing locked: the right password serves.
	srv, err := Serve(cfg, []byte(testPW), ServeOptions{PathMap: map[string]string{testGuest: dir}, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Stop(); err != nil {
		t.Error(err)
	}
	if srv.Err() != nil {
		t.Errorf("Err after Stop: %v", srv.Err())
	}
}

func TestLoadConfigMapsPaths(t *testing.T) {
	dir := copyCA(t)
	cfg, err := LoadConfig(hostPath(dir, ConfigFile), map[string]string{
		"/etc/step-ca":     "/elsewhere",
		testGuest:          dir,
		"/etc/step-ca/ss":  "/not-a-path-prefix",
		"/unrelated/mount": "/x",
	})
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Root[0] != hostPath(dir, RootCertFile) || cfg.IntermediateKey != hostPath(dir, IntermediateKeyFile) ||
		cfg.IntermediateCert != hostPath(dir, IntermediateCertFile) || cfg.DB.DataSource != hostPath(dir, DBDir) {
		t.Errorf("mapped: root %s crt %s key %s db %s", cfg.Root[0], cfg.IntermediateCert, cfg.IntermediateKey, cfg.DB.DataSource)
	}
	if !strings.Contains(string(mustRead(t, hostPath(dir, ConfigFile))), testGuest) {
		t.Error("LoadConfig rewrote the file")
	}
}
