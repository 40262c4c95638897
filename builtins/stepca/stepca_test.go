package stepca_test

import (
	"context"
	"io"
	"os"
	"strings"
	"testing"

	"phoenix/builtins"
	"phoenix/builtins/stepca"
	"phoenix/runtime"
	"phoenix/runtime/runtimetest"
)

func TestStar(t *testing.T) {
	runtimetest.Run(t, "testdata/*.star", runtimetest.Options{Families: builtins.All()})
}

func TestStarDryRun(t *testing.T) {
	runtimetest.Run(t, "testdata/dryrun/*.star", runtimetest.Options{Families: builtins.All(), DryRun: true})
}

// TestDecryptOncePerRun: the provisioner key (a 600,000-round KDF) is
// decrypted once per run, however many certificates the run issues.
func TestDecryptOncePerRun(t *testing.T) {
	rt := runtimetest.New(t, runtimetest.Options{Families: builtins.All()})
	src := `
pw = secret.generate()
prov = secret.generate()
ca = stepca.init(dir = "/ca", name = "Once", dns_names = ["ca.test.internal"], provisioner = "admin", password = pw, provisioner_password = prov)
srv = stepca.serve("/ca", password = pw)
fs.mkdir("/leaf")
for i in range(5):
    stepca.certificate(ca_url = srv.url, root = ca.root, provisioner = "admin", provisioner_password = prov,
                       subject = "h%d.test.internal" % i, cert = "/leaf/%d.crt" % i, key = "/leaf/%d.key" % i)
`
	run(t, rt, src)
	be, err := stepca.BackendOf(rt)
	if err != nil {
		t.Fatal(err)
	}
	if s := be.Stats(); s.Decrypts != 1 || s.Issued != 5 {
		t.Fatalf("stats %+v, want 1 decrypt for 5 issued", s)
	}
	changed, _, _ := rt.Report().Counts()
	if changed != 1+1+5 { // ca, dir, 5 certs
		t.Errorf("changed = %d, want 7", changed)
	}
}

func run(t *testing.T, rt *runtime.Runtime, src string) {
	t.Helper()
	f := t.TempDir() + "/test.star"
	if err := writeFile(f, src); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.ExecScript(f); err != nil {
		t.Fatal(strings.TrimSpace(err.Error()))
	}
}

func writeFile(p, s string) error { return os.WriteFile(p, []byte(s), 0o644) }

// A plan that adopts a CA knows the adopted root: a later export in the
// same plan reports its fingerprint, not an unknown.
func TestPlanAdoptionIsSeenLater(t *testing.T) {
	root := t.TempDir()
	newRT := func(dry bool) *runtime.Runtime {
		rt, err := runtime.New(context.Background(), runtime.Options{
			Sim: true, DryRun: dry, RootDir: root, Stderr: io.Discard,
			Families: builtins.All(),
		})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(rt.Close)
		return rt
	}
	run(t, newRT(false), `
pw = secret.generate()
secret.write("/pw", pw)
old = stepca.init(dir = "/old", name = "Old", dns_names = ["ca.test.internal"], provisioner = "admin", password = pw, provisioner_password = secret.generate())
fs.write("/old-fingerprint", old.fingerprint)
`)
	run(t, newRT(true), `
load("@stdlib//assert.star", "assert")
pw = secret.read("/pw")
r = stepca.init(dir = "/ca", name = "Old", dns_names = ["ca.test.internal"], provisioner = "admin", password = pw,
                provisioner_password = secret.generate(), adopt_from = "/old")
want = fs.read("/old-fingerprint")
assert.eq((r.adopted, r.fingerprint), (True, want))
assert.eq(stepca.export("/ca", to = "/export").fingerprint, want)
`)
}
