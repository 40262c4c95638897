package e2e

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"phoenix/internal/ca"
	"phoenix/internal/testkit"
	"phoenix/internal/tlsprobe"
)

// stepCLI is the upstream step CLI the consumer test runs: the version
// the CA was tried with. It has its own go.mod (it needs an older
// certificates module than phoenix's), so it is built from the module
// proxy with go install, not through go.mod.
const stepCLI = "github.com/smallstep/cli/cmd/step@v0.29.0"

// stepEnv hands the step binary to the test in its network namespace.
const stepEnv = "PHOENIX_E2E_STEP"

// TestCAConsumers converges 103 under --sim, serves the rendered ca.json
// with `phoenix ca serve` as 103 would (in a private mount namespace with
// the CA directory bind-mounted at /etc/step-ca/ssl, the path ca.json
// names), at 103's address from the site config (10.0.0.103:9000, on the
// loopback of a fresh network namespace), and checks it as consumers do:
//   - curl verifies https://10.0.0.103:9000/health against each export's
//     root: the CA's certificate names the guest's IP;
//   - scripts/checks/check_step_ca.star passes; with the CA stopped it
//     fails with "connection refused"; with another root in an export it
//     fails naming both fingerprints;
//   - the upstream step CLI, given only 101's export as 101 mounts it
//     (/etc/nginx/ca), gets a certificate with no flag but the password
//     file, and no terminal (in CI and with PHOENIX_INTEROP=1: it builds
//     step, a minute or more the first time).
func TestCAConsumers(t *testing.T) {
	var env []string
	if os.Getenv(netnsEnv) != "1" {
		needRoot(t)
		if testkit.InCI() || os.Getenv("PHOENIX_INTEROP") == "1" {
			// Built out here: the module proxy is not reachable from the
			// new network namespace.
			env = append(env, stepEnv+"="+buildStep(t))
		}
	}
	if !inCANetns(t, env...) {
		return
	}
	tools := map[string]string{}
	for _, tool := range []string{"unshare", "mount", "sh", "curl"} {
		tools[tool] = testkit.Tool(t, tool)
	}
	phoenix := testkit.Phoenix(t)
	repo, config, script := lxc103(t)
	tmp := t.TempDir()
	root := filepath.Join(tmp, "root")
	run := func(args ...string) (int, string) {
		t.Helper()
		cmd := exec.Command(phoenix, append([]string{"exec", "--root", root, "--config", config}, args...)...)
		cmd.Dir = repo
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode(), string(out)
		} else if err != nil {
			t.Fatal(err)
		}
		return 0, string(out)
	}
	if code, out := run("--sim", script); code != 0 {
		t.Fatalf("lxc_103.star --sim: exit %d\n%s", code, out)
	}
	data := filepath.Join(root, "mnt/pve/quickOS/lxc-persistent-data/103")
	ssl := filepath.Join(data, "ssl")
	gateway, trust := filepath.Join(data, "export/gateway"), filepath.Join(data, "export/trust")
	caFP := fingerprintOf(t, filepath.Join(ssl, ca.RootCertFile))

	// The CA as 103 runs it: ca.json unchanged, at the paths it names.
	ovl := filepath.Join(tmp, "ovl")
	if err := os.Mkdir(ovl, 0o700); err != nil {
		t.Fatal(err)
	}
	const serveScript = `set -e
mount -t tmpfs phoenix-e2e "$1"
mkdir "$1/upper" "$1/work"
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$1/upper,workdir=$1/work" /etc
mkdir -p /etc/step-ca/ssl
mount --bind "$2" /etc/step-ca/ssl
exec "$3" ca serve --ca-config /etc/step-ca/ssl/config/ca.json --password-file /etc/step-ca/ssl/password.txt
`
	serve := func() *testkit.Daemon {
		t.Helper()
		cmd := exec.Command(tools["unshare"], "-m", "--propagation", "private", tools["sh"], "-c", serveScript, "sh", ovl, ssl, phoenix)
		var logs testkit.SyncBuffer
		cmd.Stderr = &logs
		d, _, err := startCA(cmd)
		if err != nil {
			t.Fatalf("phoenix ca serve: %v\n%s", err, logs.String())
		}
		t.Cleanup(func() { d.Stop() })
		return d
	}
	srv := serve()

	// The address consumers dial verifies with curl and either export.
	for _, export := range []string{gateway, trust} {
		for _, args := range [][]string{
			{"https://10.0.0.103:9000/health"},
			{"--resolve", "ca.phoenix.internal:9000:10.0.0.103", "https://ca.phoenix.internal:9000/health"},
		} {
			argv := append([]string{"-sS", "--fail", "--max-time", "10", "--cacert", filepath.Join(export, ca.ExportRootFile)}, args...)
			out, err := exec.Command(tools["curl"], argv...).CombinedOutput()
			if err != nil || !strings.Contains(string(out), `"status":"ok"`) {
				t.Errorf("curl %s: %v\n%s", strings.Join(argv, " "), err, out)
			}
		}
	}

	// The check, as on the host (not --sim): all ok, also pointed elsewhere.
	check := "scripts/checks/check_step_ca.star"
	for _, args := range [][]string{{check}, {check, "--ca-addr=127.0.0.1:9000"}} {
		code, out := run(args...)
		if code != 0 || strings.Contains(out, " fail ") {
			t.Errorf("%s: exit %d\n%s", strings.Join(args, " "), code, out)
		}
		for _, want := range []string{
			`(?m)^ca health +\S+ +ok +/health ok$`,
			`(?m)^ca root gateway +\S+/export/gateway/root_ca.crt +ok +fingerprint ` + caFP + `, as served$`,
			`(?m)^ca root trust +\S+ +ok `,
			`(?m)^ca tls ca.phoenix.internal +\S+ +ok +CN=Step Online CA <- CN=Phoenix Internal CA Intermediate CA`,
			`(?m)^ca tls 10.0.0.103 +\S+ +ok `,
		} {
			if !regexp.MustCompile(want).MatchString(out) {
				t.Errorf("%s: no line matching %s in\n%s", strings.Join(args, " "), want, out)
			}
		}
	}

	if step := os.Getenv(stepEnv); step != "" {
		stepConsumer(t, tools, step, gateway)
	} else {
		t.Log("upstream step not run: set PHOENIX_INTEROP=1 (CI=true runs it); it builds step (~60 s or more)")
	}

	// The CA stopped: the check fails and says why.
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	code, out := run(check)
	if code != 3 || !regexp.MustCompile(`(?m)^ca health +10.0.0.103:9000 +fail +connection refused$`).MatchString(out) {
		t.Errorf("CA stopped: exit %d\n%s", code, out)
	}

	// Another root in 101's export: that check fails naming both.
	serve()
	other := testkit.Issue(t, "Other Root", nil, true, time.Now().Add(time.Hour))
	if err := os.WriteFile(filepath.Join(gateway, ca.ExportRootFile), other.PEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out = run(check)
	want := fmt.Sprintf(`(?m)^ca root gateway +\S+ +fail +the CA serves root fingerprint %s, the export holds %s$`, caFP, tlsprobe.Fingerprint(other.Cert))
	if code != 3 || !regexp.MustCompile(want).MatchString(out) || !regexp.MustCompile(`(?m)^ca root trust +\S+ +ok `).MatchString(out) {
		t.Errorf("another root exported: exit %d, want a line matching %s in\n%s", code, want, out)
	}
}

// buildStep builds the upstream step CLI into a temporary directory.
func buildStep(t *testing.T) string {
	t.Helper()
	bin := t.TempDir()
	cmd := exec.Command(testkit.Tool(t, "go"), "install", stepCLI)
	cmd.Dir = bin // outside phoenix's module: step's own go.mod decides
	// Without cgo: the YubiKey and TPM support would need C headers.
	cmd.Env = append(os.Environ(), "GOBIN="+bin, "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go install %s: %v\n%s", stepCLI, err, out)
	}
	return filepath.Join(bin, "step")
}

// stepConsumer runs upstream step as 101 would, holding only its export
// (mounted read-only at /etc/nginx/ca) and no terminal, with the CA's
// name resolving to 103's address. Two controls show what makes it work:
// without defaults.json step cannot find the CA, and a relative "root" is
// taken relative to the working directory, not to STEPPATH.
func stepConsumer(t *testing.T, tools map[string]string, step, export string) {
	t.Helper()
	tmp := t.TempDir()
	const script = `set -e
mount -t tmpfs phoenix-e2e "$1"
mkdir "$1/upper" "$1/work"
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$1/upper,workdir=$1/work" /etc
echo "10.0.0.103 ca.phoenix.internal" > /etc/hosts
mkdir -p /etc/nginx/ca
mount --bind "$2" /etc/nginx/ca
mount -o remount,bind,ro /etc/nginx/ca
cd /
export STEPPATH=/etc/nginx/ca HOME="$1"
exec "$3" ca certificate gateway.phoenix.internal "$4/gw.crt" "$4/gw.key" --password-file /etc/nginx/ca/provisioner_password.txt
`
	n := 0
	runStep := func(dir string) (string, string, error) {
		n++
		ovl, out := filepath.Join(tmp, fmt.Sprintf("ovl%d", n)), filepath.Join(tmp, fmt.Sprintf("out%d", n))
		for _, d := range []string{ovl, out} {
			if err := os.Mkdir(d, 0o700); err != nil {
				t.Fatal(err)
			}
		}
		cmd := exec.Command(tools["unshare"], "-m", "--propagation", "private", tools["sh"], "-c", script, "sh", ovl, dir, step, out)
		cmd.Stdin = nil // no terminal: a prompt fails
		b, err := cmd.CombinedOutput()
		return out, string(b), err
	}

	out, logs, err := runStep(export)
	if err != nil {
		t.Fatalf("step ca certificate with only the export: %v\n%s", err, logs)
	}
	crtPEM, err := os.ReadFile(filepath.Join(out, "gw.crt"))
	if err != nil {
		t.Fatal(err)
	}
	var certs []*x509.Certificate
	for b, rest := pem.Decode(crtPEM); b != nil; b, rest = pem.Decode(rest) {
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		certs = append(certs, c)
	}
	rootPEM, err := os.ReadFile(filepath.Join(export, ca.ExportRootFile))
	if err != nil {
		t.Fatal(err)
	}
	pool, inter := x509.NewCertPool(), x509.NewCertPool()
	pool.AppendCertsFromPEM(rootPEM)
	for _, c := range certs[1:] {
		inter.AddCert(c)
	}
	if _, err := certs[0].Verify(x509.VerifyOptions{DNSName: "gateway.phoenix.internal", Roots: pool, Intermediates: inter}); err != nil {
		t.Errorf("step's certificate: %v", err)
	}

	// Controls, on copies of the export.
	copyExport := func(defaults []byte) string {
		dir := t.TempDir()
		for _, f := range []string{ca.ExportRootFile, ca.ExportPasswordFile} {
			b, err := os.ReadFile(filepath.Join(export, f))
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		if defaults != nil {
			os.Mkdir(filepath.Join(dir, "config"), 0o755)
			if err := os.WriteFile(filepath.Join(dir, ca.ExportDefaultsFile), defaults, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return dir
	}
	if _, logs, err := runStep(copyExport(nil)); err == nil || !strings.Contains(logs, "ca-url") {
		t.Errorf("without defaults.json: %v, want a failure asking for the CA URL\n%s", err, logs)
	}
	defaults, err := os.ReadFile(filepath.Join(export, ca.ExportDefaultsFile))
	if err != nil {
		t.Fatal(err)
	}
	relative := strings.Replace(string(defaults), `"/etc/nginx/ca/root_ca.crt"`, `"root_ca.crt"`, 1)
	if relative == string(defaults) {
		t.Fatalf("defaults.json does not name /etc/nginx/ca/root_ca.crt:\n%s", defaults)
	}
	if _, logs, err := runStep(copyExport([]byte(relative))); err == nil || !strings.Contains(logs, "root_ca.crt") {
		t.Errorf("a relative root: %v, want step to miss root_ca.crt from /\n%s", err, logs)
	}
}

func fingerprintOf(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		t.Fatalf("%s: no PEM", file)
	}
	c, err := x509.ParseCertificate(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return tlsprobe.Fingerprint(c)
}
