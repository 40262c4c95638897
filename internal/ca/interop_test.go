package ca

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	stepca "github.com/smallstep/certificates/ca"

	"phoenix/internal/testkit"
	"phoenix/internal/tlsprobe"
)

// TestInteropUpstreamStepCA builds the upstream step-ca command from the
// module in go.mod and serves the directory phoenix wrote with it, at the
// guest path ca.json names: in a private mount namespace, with /etc
// overlaid (so the host's /etc is not touched) and the CA directory
// bind-mounted at /etc/step-ca/ssl. Then it issues a certificate through
// it. The build takes a minute or more, so it runs in CI and when
// PHOENIX_INTEROP=1.
func TestInteropUpstreamStepCA(t *testing.T) {
	if !testkit.InCI() && os.Getenv("PHOENIX_INTEROP") != "1" {
		t.Skip("skipped: builds the upstream step-ca (~60 s or more); set PHOENIX_INTEROP=1 (CI=true runs it)")
	}
	if os.Getuid() != 0 {
		testkit.Need(t, "interop needs root (mount namespaces and bind mounts)")
	}
	var tools = map[string]string{}
	for _, tool := range []string{"go", "unshare", "mount", "sh"} {
		tools[tool] = testkit.Tool(t, tool)
	}

	tmp := t.TempDir()
	bin := filepath.Join(tmp, "step-ca")
	build := exec.Command(tools["go"], "build", "-o", bin, "github.com/smallstep/certificates/cmd/step-ca")
	// Without cgo: the YubiKey support would need libpcsclite headers.
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building step-ca: %v\n%s", err, out)
	}

	dir := filepath.Join(tmp, "ssl")
	o := testOptions(dir)
	addr := testkit.FreeAddr(t)
	o.Address = addr
	o.DNSNames = []string{"ca.test.internal", "127.0.0.1"}
	res, err := Create(o)
	if err != nil {
		t.Fatal(err)
	}
	pwFile := filepath.Join(tmp, "password.txt")
	os.WriteFile(pwFile, []byte(testPW+"\n"), 0o600)
	ovl := filepath.Join(tmp, "ovl")
	os.Mkdir(ovl, 0o700)

	const script = `set -e
mount -t tmpfs phoenix-interop "$1"
mkdir "$1/upper" "$1/work"
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$1/upper,workdir=$1/work" /etc
mkdir -p ` + testGuest + `
mount --bind "$2" ` + testGuest + `
exec "$3" ` + testGuest + `/config/ca.json --password-file "$4"
`
	var logs testkit.SyncBuffer
	cmd := exec.Command(tools["unshare"], "-m", "--propagation", "private", tools["sh"], "-c", script, "sh", ovl, dir, bin, pwFile)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cmd.Process.Signal(os.Interrupt)
		select {
		case <-exited:
		case <-time.After(15 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
	}()

	url := "https://" + addr
	client, err := stepca.NewClient(url, stepca.WithRootFile(res.Root))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := client.Health(); err == nil {
			break
		}
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("step-ca exited: %v\n%s", err, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("step-ca not healthy at %s within 30s:\n%s", url, logs.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	// It is the upstream binary, serving phoenix's root.
	mustContain(t, "step-ca output", logs.String(), "Serving HTTPS on "+addr, "X.509 Root Fingerprint: "+res.Fingerprint)
	// The host's /etc was overlaid, never written.
	if !existedBefore && exists(nil, "/etc/step-ca") {
		t.Errorf("/etc/step-ca appeared on the host")
	}

	out := t.TempDir()
	req := CertRequest{
		CAURL: url, Root: res.Root, Provisioner: testProv, Password: []byte(testProvPW),
		Subject: "interop.test.internal", SANs: []string{"interop.test.internal", "127.0.0.1"},
		Cert: filepath.Join(out, "interop.crt"), Key: filepath.Join(out, "interop.key"), UID: -1, GID: -1,
	}
	is := NewIssuer()
	if _, err := is.Certificate(context.Background(), req); err != nil {
		t.Fatalf("issuing through upstream step-ca: %v\n%s", err, logs.String())
	}
	addrTLS := serveTLS(t, req.Cert, req.Key)
	pr := tlsprobe.Verify(context.Background(), addrTLS, "interop.test.internal", res.Root)
	if !pr.OK || len(pr.Chain) != 3 {
		t.Errorf("certificate from upstream step-ca: %+v", pr)
	}
	req.RenewBefore = 3 * testLeafDef
	if r, err := is.Certificate(context.Background(), req); err != nil || r.Action != CertRenew {
		t.Errorf("renewal through upstream step-ca: %+v %v", r, err)
	}
}

// existedBefore records whether the host had /etc/step-ca before the
// tests, so that the interop test can tell it did not create it.
var existedBefore = func() bool { _, err := os.Stat("/etc/step-ca"); return err == nil }()
