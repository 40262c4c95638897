package ca

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smallstep/certificates/authority/config"
	"github.com/smallstep/certificates/cas/apiv1"
	"github.com/smallstep/certificates/pki"
)

// signLeaf signs a leaf with the CA's intermediate key straight from disk,
// standing in for a certificate issued before some change to the CA.
func signLeaf(t *testing.T, dir, name string) []*x509.Certificate {
	t.Helper()
	inter, err := readCert(nil, hostPath(dir, IntermediateCertFile), IntermediateCertFile)
	if err != nil {
		t.Fatal(err)
	}
	key, err := readKey(nil, hostPath(dir, IntermediateKeyFile), IntermediateKeyFile, []byte(testPW))
	if err != nil {
		t.Fatal(err)
	}
	leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: name},
		DNSNames:     []string{name},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, inter, leafKey.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, _ := x509.ParseCertificate(der)
	return []*x509.Certificate{leaf, inter}
}

// verifies checks chain (leaf first, then intermediates) against the
// root certificate file.
func verifies(t *testing.T, chain []*x509.Certificate, rootFile string) error {
	t.Helper()
	roots, err := rootPool(nil, rootFile)
	if err != nil {
		t.Fatal(err)
	}
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		inter.AddCert(c)
	}
	_, err = chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter})
	return err
}

func TestReissueNearExpiry(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ssl")
	o := testOptions(dir)
	o.IntermediateLifetime = 10 * 24 * time.Hour
	res, err := Create(o)
	if err != nil {
		t.Fatal(err)
	}
	st, err := Inspect(dir, o.Password)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != NeedsReissue {
		t.Fatalf("intermediate for 10 days: %s (%s), want needs-reissue", st.Status, st.Reason)
	}
	mustContain(t, "reason", st.Reason, "certs/intermediate_ca.crt expires at", "within 30 days")
	oldLeaf := signLeaf(t, dir, "old.test.internal")
	oldInterKey := mustRead(t, hostPath(dir, IntermediateKeyFile))

	o.IntermediateLifetime = 0
	r, err := Reissue(o)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Reissued || r.Finished || r.Fingerprint != res.Fingerprint {
		t.Errorf("result %+v, want reissued under root %s", r, res.Fingerprint)
	}
	st, err = Inspect(dir, o.Password)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != Valid || st.Fingerprint != res.Fingerprint {
		t.Fatalf("after re-issue: %s (%s), root %s", st.Status, st.Reason, st.Fingerprint)
	}
	if time.Until(st.IntermediateNotAfter) < 9*365*24*time.Hour {
		t.Errorf("new intermediate expires %s", st.IntermediateNotAfter)
	}
	if string(oldInterKey) == string(mustRead(t, hostPath(dir, IntermediateKeyFile))) {
		t.Error("re-issue kept the old intermediate key")
	}
	checkMode(t, hostPath(dir, IntermediateKeyFile), 0o600)
	checkMode(t, hostPath(dir, IntermediateCertFile), 0o644)
	// The leaf issued before (served with its own chain) still verifies.
	if err := verifies(t, oldLeaf, hostPath(dir, RootCertFile)); err != nil {
		t.Errorf("old leaf after re-issue: %v", err)
	}
	newLeaf := signLeaf(t, dir, "new.test.internal")
	if err := verifies(t, newLeaf, hostPath(dir, RootCertFile)); err != nil {
		t.Errorf("new leaf: %v", err)
	}
	if newLeaf[1].Subject.String() != oldLeaf[1].Subject.String() {
		t.Errorf("intermediate subject changed: %s -> %s", oldLeaf[1].Subject, newLeaf[1].Subject)
	}
}

func TestReissueInterrupted(t *testing.T) {
	for _, stop := range []string{"reissue-staged", "reissue-key"} {
		t.Run(stop, func(t *testing.T) {
			dir := copyCA(t)
			o := testOptions(dir)
			err := stoppedAfterMove(stop, func() error { _, err := Reissue(o); return err })
			if err != errStop {
				t.Fatalf("Reissue: %v, want the hook's stop", err)
			}
			staged := mustRead(t, hostPath(dir, IntermediateCertFile+nextSuffix))
			st, err := Inspect(dir, o.Password)
			if err != nil {
				t.Fatal(err)
			}
			if st.Status != NeedsReissue {
				t.Fatalf("interrupted: %s (%s), want needs-reissue", st.Status, st.Reason)
			}
			mustContain(t, "reason", st.Reason, "interrupted re-issue")
			r, err := Reissue(o)
			if err != nil {
				t.Fatal(err)
			}
			if !r.Finished {
				t.Error("the staged pair was not finished")
			}
			if string(staged) != string(mustRead(t, hostPath(dir, IntermediateCertFile))) {
				t.Error("the finished intermediate is not the staged one")
			}
			st, _ = Inspect(dir, o.Password)
			if st.Status != Valid || exists(nil, hostPath(dir, IntermediateCertFile+nextSuffix)) || exists(nil, hostPath(dir, IntermediateKeyFile+nextSuffix)) {
				t.Errorf("after finishing: %s (%s)", st.Status, st.Reason)
			}
		})
	}
}

func TestCorruptionIsInvalidAndUntouched(t *testing.T) {
	other := filepath.Join(t.TempDir(), "other")
	if _, err := Create(testOptions(other)); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		corrupt func(t *testing.T, dir string)
		want    string
	}{
		"ca.json syntax": {func(t *testing.T, dir string) {
			p := hostPath(dir, ConfigFile)
			b := mustRead(t, p)
			lines := strings.SplitN(string(b), "\n", 4)
			lines[2] = "\t\"crt\" \"oops\","
			os.WriteFile(p, []byte(strings.Join(lines, "\n")), 0o600)
		}, `config/ca.json: line 3, column 8: invalid character '"' after object key`},
		"ca.json truncated": {func(t *testing.T, dir string) {
			p := hostPath(dir, ConfigFile)
			b := mustRead(t, p)
			os.WriteFile(p, b[:100], 0o600)
		}, "config/ca.json: line 4, column"},
		"ca.json type": {func(t *testing.T, dir string) {
			p := hostPath(dir, ConfigFile)
			os.WriteFile(p, []byte(strings.Replace(string(mustRead(t, p)), `"address": ":9000"`, `"address": 9000`, 1)), 0o600)
		}, `config/ca.json: line 6: field "address": cannot use JSON number as string`},
		"ca.json host path": {func(t *testing.T, dir string) {
			p := hostPath(dir, ConfigFile)
			os.WriteFile(p, []byte(strings.Replace(string(mustRead(t, p)), testGuest+"/secrets/intermediate_ca_key", "/srv/key", 1)), 0o600)
		}, `config/ca.json: key is "/srv/key", outside the CA directory /etc/step-ca/ssl`},
		"foreign intermediate": {func(t *testing.T, dir string) {
			copyOver(t, other, dir, IntermediateCertFile)
		}, "certs/intermediate_ca.crt: does not chain to certs/root_ca.crt: x509: certificate signed by unknown authority"},
		"intermediate key of another CA": {func(t *testing.T, dir string) {
			copyOver(t, other, dir, IntermediateKeyFile)
		}, "secrets/intermediate_ca_key: does not match certs/intermediate_ca.crt"},
		"root key swapped": {func(t *testing.T, dir string) {
			copyOver(t, dir, dir, IntermediateKeyFile, RootKeyFile)
		}, "secrets/root_ca_key: does not match certs/root_ca.crt"},
		"root cert garbage": {func(t *testing.T, dir string) {
			os.WriteFile(hostPath(dir, RootCertFile), []byte("not pem\n"), 0o644)
		}, "certs/root_ca.crt: no PEM certificate"},
		"intermediate missing": {func(t *testing.T, dir string) {
			os.Remove(hostPath(dir, IntermediateCertFile))
		}, "certs/intermediate_ca.crt: open"},
		"key in clear text": {func(t *testing.T, dir string) {
			k, _ := readKey(nil, hostPath(dir, IntermediateKeyFile), "", []byte(testPW))
			b, _ := encryptKey(k, []byte("another password"))
			os.WriteFile(hostPath(dir, IntermediateKeyFile), b, 0o600)
		}, "secrets/intermediate_ca_key: does not decrypt with the given password"},
	} {
		t.Run(name, func(t *testing.T) {
			dir := copyCA(t)
			tc.corrupt(t, dir)
			before := snapshot(t, dir)
			st, err := Inspect(dir, []byte(testPW))
			if err != nil {
				t.Fatal(err)
			}
			if st.Status != Invalid {
				t.Fatalf("status %s (%s), want invalid", st.Status, st.Reason)
			}
			mustContain(t, "reason", st.Reason, tc.want)
			if _, err := Create(testOptions(dir)); err == nil {
				t.Error("Create over an invalid CA succeeded")
			}
			if _, err := Reissue(testOptions(dir)); err == nil {
				t.Error("Reissue of an invalid CA succeeded")
			}
			if d := diffSnapshots(before, snapshot(t, dir)); d != "" {
				t.Errorf("files changed:\n%s", d)
			}
		})
	}
	// A wrong password is also a precise Invalid.
	st, _ := Inspect(copyCA(t), []byte("wrong"))
	if st.Status != Invalid || !strings.Contains(st.Reason, "secrets/root_ca_key: does not decrypt with the given password") {
		t.Errorf("wrong password: %s (%s)", st.Status, st.Reason)
	}
}

func copyOver(t *testing.T, fromDir, toDir string, rels ...string) {
	t.Helper()
	src, dst := rels[0], rels[0]
	if len(rels) > 1 {
		dst = rels[1]
	}
	if err := os.WriteFile(hostPath(toDir, dst), mustRead(t, hostPath(fromDir, src)), 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestBackupThenCreate(t *testing.T) {
	dir := copyCA(t)
	os.WriteFile(filepath.Join(dir, "password.txt"), []byte(testPW), 0o600)
	p := hostPath(dir, ConfigFile)
	os.WriteFile(p, []byte("{broken"), 0o600)
	st, _ := Inspect(dir, []byte(testPW))
	if st.Status != Invalid || len(st.Fingerprint) != 64 {
		t.Fatalf("broken CA: %s, fingerprint %q (a backup is named from it)", st.Status, st.Fingerprint)
	}
	before := snapshot(t, dir)
	bak, err := Backup(dir, st.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(filepath.Dir(dir), "ssl.bak-"+st.Fingerprint[:12]); bak != want {
		t.Errorf("backup %s, want %s", bak, want)
	}
	// Everything moved, nothing lost: the backup holds the old entries.
	after := snapshot(t, bak)
	for rel, v := range before {
		if rel == "." || rel == "password.txt" {
			continue
		}
		if after[rel] != v {
			t.Errorf("%s: %q in the CA, %q in the backup", rel, v, after[rel])
		}
	}
	left, _ := os.ReadDir(dir)
	if len(left) != 1 || left[0].Name() != "password.txt" {
		t.Errorf("left in %s: %v, want only password.txt", dir, left)
	}
	if exists(nil, filepath.Join(bak, backupIncomplete)) {
		t.Error("backup still marked incomplete")
	}
	checkMode(t, bak, 0o700)
	res, err := Create(testOptions(dir))
	if err != nil {
		t.Fatal(err)
	}
	if res.Fingerprint == st.Fingerprint {
		t.Error("the new CA has the old root")
	}
	// A second backup of the same root gets a deterministic suffix.
	os.WriteFile(p, []byte("{broken"), 0o600)
	// (the new CA has another root; name it as if it were the old one)
	bak2, err := Backup(dir, st.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	if bak2 != bak+"-2" {
		t.Errorf("second backup %s, want %s-2", bak2, bak)
	}
	if BackupName("/x/ssl/", "") != "/x/ssl.bak-unknown" {
		t.Errorf("BackupName without fingerprint: %s", BackupName("/x/ssl/", ""))
	}
}

func TestBackupResumes(t *testing.T) {
	dir := copyCA(t)
	st, _ := Inspect(dir, []byte(testPW))
	bak := BackupName(dir, st.Fingerprint)
	// A Backup killed after moving config/: the marker file is in the
	// backup, config/ too, the rest is still in dir.
	os.Mkdir(bak, 0o700)
	os.WriteFile(filepath.Join(bak, backupIncomplete), nil, 0o600)
	for _, e := range []string{MarkerFile, "config"} {
		if err := os.Rename(filepath.Join(dir, e), filepath.Join(bak, e)); err != nil {
			t.Fatal(err)
		}
	}
	st, _ = Inspect(dir, []byte(testPW))
	if st.Status != Incomplete || st.Fingerprint == "" {
		t.Fatalf("half backed up: %s (%s), fingerprint %q", st.Status, st.Reason, st.Fingerprint)
	}
	if _, err := Create(testOptions(dir)); err == nil || !strings.Contains(err.Error(), "leftovers") {
		t.Errorf("Create over leftovers: %v", err)
	}
	got, err := Backup(dir, st.Fingerprint)
	if err != nil {
		t.Fatal(err)
	}
	if got != bak {
		t.Errorf("resumed into %s, want %s", got, bak)
	}
	for _, e := range []string{"certs", "secrets", "config", DBDir, MarkerFile} {
		if !exists(nil, filepath.Join(bak, e)) || exists(nil, filepath.Join(dir, e)) {
			t.Errorf("%s not moved", e)
		}
	}
}

func TestCrashDuringCreate(t *testing.T) {
	t.Run("unfinished staging", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "ssl")
		os.MkdirAll(filepath.Join(dir, StagingDir, "certs"), 0o700)
		os.WriteFile(filepath.Join(dir, StagingDir, RootCertFile), []byte("half"), 0o644)
		st, err := Inspect(dir, []byte(testPW))
		if err != nil {
			t.Fatal(err)
		}
		if st.Status != Incomplete || st.Exists() {
			t.Fatalf("status %s (%s), want incomplete", st.Status, st.Reason)
		}
		res, err := Create(testOptions(dir))
		if err != nil {
			t.Fatal(err)
		}
		if !res.Created || res.Finished {
			t.Errorf("result %+v: want a fresh create", res)
		}
		if st, _ := Inspect(dir, []byte(testPW)); st.Status != Valid {
			t.Errorf("after create: %s (%s)", st.Status, st.Reason)
		}
	})
	for _, after := range children[:len(children)-1] {
		t.Run("killed after moving "+after, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "ssl")
			err := stoppedAfterMove(after, func() error { _, err := Create(testOptions(dir)); return err })
			if err != errStop {
				t.Fatalf("Create: %v, want the hook's stop", err)
			}
			st, err := Inspect(dir, []byte(testPW))
			if err != nil {
				t.Fatal(err)
			}
			if st.Status != Incomplete || !st.StagingReady || len(st.Leftovers) != 0 {
				t.Fatalf("status %s (%s), ready %v, leftovers %v: want incomplete, ready", st.Status, st.Reason, st.StagingReady, st.Leftovers)
			}
			staged, err := readCert(nil, firstExisting(hostPath(dir, RootCertFile), hostPath(dir, StagingDir+"/"+RootCertFile)), "root")
			if err != nil {
				t.Fatal(err)
			}
			res, err := Create(testOptions(dir))
			if err != nil {
				t.Fatal(err)
			}
			if !res.Finished || !res.Created || res.Fingerprint != Fingerprint(staged) {
				t.Errorf("result %+v: want the staged CA %s finished", res, Fingerprint(staged))
			}
			st, _ = Inspect(dir, []byte(testPW))
			if st.Status != Valid || !st.Complete || exists(nil, hostPath(dir, StagingDir)) {
				t.Errorf("after finishing: %s (%s), complete %v", st.Status, st.Reason, st.Complete)
			}
		})
	}
	t.Run("killed after moving config", func(t *testing.T) {
		// Everything is in place, only the marker is missing: a valid CA.
		dir := filepath.Join(t.TempDir(), "ssl")
		err := stoppedAfterMove("config", func() error { _, err := Create(testOptions(dir)); return err })
		if err != errStop {
			t.Fatalf("Create: %v", err)
		}
		st, _ := Inspect(dir, []byte(testPW))
		if st.Status != Valid || st.Complete {
			t.Errorf("status %s (%s), complete %v", st.Status, st.Reason, st.Complete)
		}
	})
}

func firstExisting(paths ...string) string {
	for _, p := range paths {
		if exists(nil, p) {
			return p
		}
	}
	return paths[len(paths)-1]
}

func TestExport(t *testing.T) {
	dir, res := sharedCA(t)
	to := filepath.Join(t.TempDir(), "export", "gateway")
	uid, gid := owner()
	fp, changed, err := Export(dir, to, []byte(testProvPW), uid, gid)
	if err != nil {
		t.Fatal(err)
	}
	if fp != res.Fingerprint || !changed {
		t.Errorf("first export: %s %v", fp, changed)
	}
	checkMode(t, to, 0o755)
	checkMode(t, filepath.Join(to, ExportRootFile), 0o644)
	checkMode(t, filepath.Join(to, ExportPasswordFile), 0o600)
	if string(mustRead(t, filepath.Join(to, ExportRootFile))) != string(mustRead(t, hostPath(dir, RootCertFile))) {
		t.Error("exported root differs")
	}
	if string(mustRead(t, filepath.Join(to, ExportPasswordFile))) != testProvPW {
		t.Error("exported password differs")
	}
	before := snapshot(t, to)
	if _, changed, err := Export(dir, to, []byte(testProvPW), uid, gid); err != nil || changed {
		t.Errorf("second export: changed %v, %v", changed, err)
	}
	if d := diffSnapshots(before, snapshot(t, to)); d != "" {
		t.Errorf("an unchanged export wrote:\n%s", d)
	}
	p, err := PlanExport(dir, to, []byte("new password"), uid, gid)
	if err != nil {
		t.Fatal(err)
	}
	if !p.Changed() || p.DirChanged || p.Files[0].Changed || !p.Files[1].Changed {
		t.Errorf("plan %+v: want only the password changed", p)
	}
	if d := diffSnapshots(before, snapshot(t, to)); d != "" {
		t.Errorf("PlanExport wrote:\n%s", d)
	}
	os.Chmod(filepath.Join(to, ExportRootFile), 0o600)
	trust := filepath.Join(filepath.Dir(to), "trust")
	if _, changed, err := Export(dir, trust, nil, uid, gid); err != nil || !changed || exists(nil, filepath.Join(trust, ExportPasswordFile)) {
		t.Errorf("root-only export: changed %v, %v", changed, err)
	}
	if _, changed, _ := Export(dir, to, []byte(testProvPW), uid, gid); !changed {
		t.Error("a wrong mode was not repaired")
	}
	checkMode(t, filepath.Join(to, ExportRootFile), 0o644)
}

// makeStepCA makes a CA with the pki package the way `step ca init` does,
// in a STEPPATH-style directory from whose ca.json names paths under
// /root/.step (as inside the old container).
func makeStepCA(t *testing.T, from string) {
	t.Helper()
	const old = "/root/.step"
	p, err := pki.New(apiv1.Options{Type: apiv1.SoftCAS, IsCreator: true},
		pki.WithAddress(":9000"), pki.WithDNSNames([]string{"oldca.test.internal", "localhost"}),
		pki.WithProvisioner("old-admin"), pki.WithDeploymentType(pki.StandaloneDeployment))
	if err != nil {
		t.Fatal(err)
	}
	p.Root = []string{old + "/certs/root_ca.crt"}
	p.RootKey = []string{old + "/secrets/root_ca_key"}
	p.Intermediate = old + "/certs/intermediate_ca.crt"
	p.IntermediateKey = old + "/secrets/intermediate_ca_key"
	if err := p.GenerateKeyPairs([]byte(testProvPW)); err != nil {
		t.Fatal(err)
	}
	root, err := p.GenerateRootCertificate("Old Site", "Old Site", "Old Site", []byte(testPW))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.GenerateIntermediateCertificate("Old Site", "Old Site", "Old Site", root, []byte(testPW)); err != nil {
		t.Fatal(err)
	}
	for name, data := range p.Files {
		host := filepath.Join(from, strings.TrimPrefix(name, old))
		os.MkdirAll(filepath.Dir(host), 0o700)
		if err := os.WriteFile(host, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfg, err := p.GenerateConfig(func(c *config.Config) error {
		c.DB.DataSource = old + "/db"
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(from, "config"), 0o700)
	if err := cfg.Save(filepath.Join(from, ConfigFile)); err != nil {
		t.Fatal(err)
	}
}

func TestAdoptStepCA(t *testing.T) {
	from := filepath.Join(t.TempDir(), "old-steppath")
	makeStepCA(t, from)
	if !strings.Contains(string(mustRead(t, filepath.Join(from, ConfigFile))), `"logger"`) {
		t.Fatal("the step-made ca.json has no logger: the test would not show that adoption drops it")
	}

	// Issue a certificate from the old CA, served where it lies.
	oldSrv, err := Serve(filepath.Join(from, ConfigFile), []byte(testPW), ServeOptions{
		PathMap: map[string]string{"/root/.step": from}, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	req := certReq(oldSrv, out, "before.test.internal")
	req.Provisioner = "old-admin"
	if _, err := NewIssuer().Issue(context.Background(), req); err != nil {
		oldSrv.Stop()
		t.Fatal(err)
	}
	if err := oldSrv.Stop(); err != nil {
		t.Fatal(err)
	}
	src, err := InspectSource(from, []byte(testPW))
	if err != nil {
		t.Fatal(err)
	}
	srcBefore := snapshot(t, from)

	// A wrong password is refused before anything is written.
	dir := filepath.Join(t.TempDir(), "ssl")
	o := testOptions(dir)
	o.Password = []byte("wrong")
	if _, err := Adopt(o, from); err == nil || !strings.Contains(err.Error(), "does not decrypt with the given password") {
		t.Fatalf("adopt with a wrong password: %v", err)
	}
	if exists(nil, dir) {
		if st, _ := Inspect(dir, []byte(testPW)); st.Status != Missing {
			t.Errorf("after a refused adoption: %s", st.Status)
		}
	}

	o = testOptions(dir)
	res, err := Adopt(o, from)
	if err != nil {
		t.Fatal(err)
	}
	if !res.Adopted || res.Created || res.Fingerprint != src.Fingerprint {
		t.Errorf("result %+v, want adopted with root %s", res, src.Fingerprint)
	}
	if d := diffSnapshots(srcBefore, snapshot(t, from)); d != "" {
		t.Errorf("adoption changed the source:\n%s", d)
	}
	st, err := Inspect(dir, o.Password)
	if err != nil {
		t.Fatal(err)
	}
	if st.Status != Valid || st.Fingerprint != src.Fingerprint || st.GuestDir != testGuest {
		t.Fatalf("adopted: %s (%s), root %s, guest %s", st.Status, st.Reason, st.Fingerprint, st.GuestDir)
	}
	if strings.Join(st.Provisioners, ",") != "old-admin (JWK),acme (ACME)" {
		t.Errorf("provisioners %v: want the old one kept and ACME added", st.Provisioners)
	}
	body := string(mustRead(t, hostPath(dir, ConfigFile)))
	if strings.Contains(body, "/root/.step") || strings.Contains(body, `"logger"`) {
		t.Errorf("adopted ca.json still names the old paths or a logger:\n%s", body)
	}
	for rel, mode := range map[string]os.FileMode{
		RootCertFile: 0o644, IntermediateCertFile: 0o644, RootKeyFile: 0o600, IntermediateKeyFile: 0o600,
		ConfigFile: 0o600, "secrets": 0o700, DBDir: 0o700,
	} {
		checkMode(t, hostPath(dir, rel), mode)
	}

	// The certificate issued before still verifies against the new root
	// file, and the adopted CA issues with the old provisioner.
	chain, err := parseCerts(mustRead(t, req.Cert))
	if err != nil {
		t.Fatal(err)
	}
	if err := verifies(t, chain, hostPath(dir, RootCertFile)); err != nil {
		t.Errorf("pre-adoption cert: %v", err)
	}
	srv, err := Serve(hostPath(dir, ConfigFile), o.Password, ServeOptions{PathMap: map[string]string{testGuest: dir}, Listen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	req2 := certReq(srv, out, "after.test.internal")
	req2.Provisioner = "old-admin"
	if _, err := NewIssuer().Issue(context.Background(), req2); err != nil {
		t.Fatal(err)
	}
	// Renewal of the pre-adoption cert works against the adopted CA.
	req.CAURL, req.Root, req.RenewBefore = srv.URL(), srv.Root(), 100*time.Hour
	if r, err := NewIssuer().Certificate(context.Background(), req); err != nil || r.Action != CertRenew {
		t.Errorf("renewing the pre-adoption cert: %+v %v", r, err)
	}

	// Adopting again finds a CA there and refuses.
	if _, err := Adopt(o, from); err == nil || !strings.Contains(err.Error(), "already holds a CA") {
		t.Errorf("second adoption: %v", err)
	}
}

func TestCreateOverEmptyDirectories(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ssl")
	for _, c := range children {
		os.MkdirAll(filepath.Join(dir, c), 0o755)
	}
	os.WriteFile(filepath.Join(dir, "password.txt"), []byte(testPW), 0o600)
	st, _ := Inspect(dir, []byte(testPW))
	if st.Status != Missing {
		t.Fatalf("empty layout directories: %s (%s), want missing", st.Status, st.Reason)
	}
	if _, err := Create(testOptions(dir)); err != nil {
		t.Fatal(err)
	}
	checkMode(t, hostPath(dir, "secrets"), 0o700)
	if string(mustRead(t, filepath.Join(dir, "password.txt"))) != testPW {
		t.Error("Create touched password.txt")
	}
}

// stoppedAfterMove runs f with the hook returning errStop once child is
// moved into place, as a kill there would stop it, and returns f's error.
func stoppedAfterMove(child string, f func() error) error {
	testHookAfterMove = func(c string) error {
		if c == child {
			return errStop
		}
		return nil
	}
	defer func() { testHookAfterMove = nil }()
	return f()
}
