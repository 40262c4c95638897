package e2e

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"phoenix/builtins"
	"phoenix/builtins/proxmox"
	"phoenix/internal/ca"
	"phoenix/internal/machine"
	"phoenix/internal/testkit"
	"phoenix/runtime"
)

// The site as config/ declares it: what lxc_101.star renders names these.
const (
	gwSitePath  = "/etc/nginx/conf.d/phoenix-gateway.conf"
	gwCerts     = "mnt/pve/quickOS/lxc-persistent-data/101/certs"
	gwExport    = "mnt/pve/quickOS/lxc-persistent-data/103/export/gateway"
	gwSSL       = "mnt/pve/quickOS/lxc-persistent-data/103/ssl"
	gwName      = "gateway.phoenix.internal"
	gwAltName   = "www.example.com"
	gwPortainer = "portainer.example.com"
	gwUpstream  = "traefik.phoenix.internal"
	gwAddr      = "10.0.0.101:443"
	gwBackend   = "10.0.0.102:8443"
	gwNetnsEnv  = "PHOENIX_E2E_GW_NETNS"
	gwRenewCmd  = "run cmd:pct exec 101 -- systemctl reload nginx"
	gwCertTrack = "cert:/" + gwCerts + "/gateway.crt"
)

// gwNames are the gateway's server_names in the example site.
var gwNames = []string{gwName, gwAltName, gwPortainer}

// capturePushes keeps what scripts push into lxc:101 (path -> content),
// exactly as pct push got it, following the rename in the container
// that puts it in place; the simulated pct does the rest.
func capturePushes(into map[string][]byte, mu *sync.Mutex) func(*runtime.Runtime, *machine.SimRunner) error {
	return func(rt *runtime.Runtime, sr *machine.SimRunner) error {
		pct := machine.NewSimRunner()
		if err := proxmox.SimSetup(rt, pct); err != nil {
			return err
		}
		sr.Handle("pct", func(ctx context.Context, c machine.Cmd) (machine.Result, error) {
			if len(c.Argv) >= 5 && c.Argv[1] == "push" && c.Argv[2] == "101" {
				b, err := os.ReadFile(c.Argv[3])
				if err != nil {
					return machine.Result{}, err
				}
				mu.Lock()
				into[c.Argv[4]] = b
				mu.Unlock()
			}
			// pct exec 101 -- mv -f TMP DST
			if a := c.Argv; len(a) == 8 && a[1] == "exec" && a[2] == "101" && a[4] == "mv" && a[5] == "-f" {
				mu.Lock()
				if b, ok := into[a[6]]; ok {
					into[a[7]] = b
					delete(into, a[6])
				}
				mu.Unlock()
			}
			return pct.Run(ctx, c)
		})
		return nil
	}
}

// TestGateway proves lxc_101.star's nginx site with the real nginx, in
// a network namespace (pgw-...) whose loopback holds 101's, 102's and
// 103's addresses, so the rendered addresses work unchanged:
// lxc_103.star and lxc_101.star converge under --sim; `phoenix ca serve`
// serves the CA; nginx runs the pushed site configuration and the
// certificate, bind-mounted where the configuration names them; a Go
// TLS server stands in for Traefik at 102's address and refuses any SNI
// but its own. The checks pass; then one fault at a time, each check
// that fails must name the cause.
func TestGateway(t *testing.T) {
	if os.Getenv(gwNetnsEnv) == "" {
		needRoot(t)
		ip := testkit.Tool(t, "ip")
		testkit.Tool(t, "unshare")
		testkit.Tool(t, "nginx")
		ns := fmt.Sprintf("pgw-e2e-%d", os.Getpid())
		if out, err := exec.Command(ip, "netns", "add", ns).CombinedOutput(); err != nil {
			t.Fatalf("ip netns add %s: %v\n%s", ns, err, out)
		}
		t.Cleanup(func() { exec.Command(ip, "netns", "del", ns).Run() })
		setup := [][]string{{"link", "set", "lo", "up"}}
		for _, a := range []string{"10.0.0.101/32", "10.0.0.102/32", "10.0.0.103/32"} {
			setup = append(setup, []string{"addr", "add", a, "dev", "lo"})
		}
		for _, args := range setup {
			if out, err := exec.Command(ip, append([]string{"-n", ns}, args...)...).CombinedOutput(); err != nil {
				t.Fatalf("ip -n %s %s: %v\n%s", ns, strings.Join(args, " "), err, out)
			}
		}
		cmd := exec.Command(ip, "netns", "exec", ns, os.Args[0], "-test.run=^TestGateway$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), gwNetnsEnv+"="+ns)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestGateway") {
			t.Fatalf("in network namespace %s: %v\n%s", ns, err, out)
		}
		t.Logf("in network namespace %s:\n%s", ns, out)
		return
	}

	l := newGatewayLab(t)
	l.startCA()
	l.startBackend()
	l.startNginx(l.rendered)

	// Through nginx to the backend: nginx sent the SNI the backend
	// requires, and passed the client's Host on.
	for _, name := range gwNames {
		status, body := l.get(name)
		if want := "backend: sni=" + gwUpstream + " host=" + name + "\n"; status != 200 || body != want {
			t.Errorf("GET https://%s/ as %s: %d %q, want 200 %q", gwAddr, name, status, body, want)
		}
	}

	// Another name never reaches Traefik: not in the handshake, and not
	// as a Host header after a handshake for a gateway name (Traefik's
	// dashboard has a name of its own).
	if status, body := l.getAs(gwName, gwUpstream); status != http.StatusMisdirectedRequest || strings.Contains(body, "backend:") {
		t.Errorf("GET as %s with Host %s: %d %q, want 421 from nginx", gwName, gwUpstream, status, body)
	}
	if c, err := tls.Dial("tcp", gwAddr, &tls.Config{ServerName: gwUpstream, InsecureSkipVerify: true}); err == nil {
		c.Close()
		t.Errorf("a handshake for %s on the gateway succeeded; nginx must refuse names it does not serve", gwUpstream)
	}

	all := l.checks()
	for _, c := range all {
		if c.Status != "ok" {
			t.Errorf("converged site: check %s %s: %s %s", c.Name, c.Target, c.Status, c.Detail)
		}
	}
	if len(all) < 5 {
		t.Errorf("converged site: %d checks, want at least 5: %+v", len(all), all)
	}

	certFile := filepath.Join(l.root, gwCerts, "gateway.crt")
	keyFile := filepath.Join(l.root, gwCerts, "gateway.key")
	goodCert, goodKey := mustReadFile(t, certFile), mustReadFile(t, keyFile)
	restore := func() {
		writeFile(t, certFile, goodCert, 0o644)
		writeFile(t, keyFile, goodKey, 0o600)
		l.reloadNginx(goodCert)
	}

	t.Run("the served CA issues and renews at the URL the host uses", func(t *testing.T) {
		defer restore()
		// A renew window longer than the lifetime: renewed over mTLS.
		if got := l.issueReal(t, "1000h"); got != "gateway renew https://10.0.0.103:9000" {
			t.Errorf("renewing: %q", got)
		}
		other := testkit.Issue(t, "Other CA", nil, true, time.Now().Add(time.Hour*24*365))
		leaf := testkit.Issue(t, gwName, other, false, time.Now().Add(7*24*time.Hour), gwNames...)
		writeFile(t, certFile, leaf.PEM(), 0o644)
		writeFile(t, keyFile, leafKeyPEM(t, leaf), 0o600)
		// A foreign certificate: issued anew with the JWK provisioner.
		if got := l.issueReal(t, ""); got != "gateway issue https://10.0.0.103:9000" {
			t.Errorf("issuing: %q", got)
		}
		l.reloadNginx(mustReadFile(t, certFile))
		for _, c := range l.checks() {
			if c.Status != "ok" {
				t.Errorf("with the certificate the served CA issued: %s %s: %s", c.Name, c.Status, c.Detail)
			}
		}
	})
	t.Run("certificate from another CA", func(t *testing.T) {
		other := testkit.Issue(t, "Other CA", nil, true, time.Now().Add(time.Hour*24*365))
		leaf := testkit.Issue(t, gwName, other, false, time.Now().Add(7*24*time.Hour), gwNames...)
		l.serveCert(leaf.PEM(), leafKeyPEM(t, leaf))
		defer restore()
		l.wantFail(t, "gateway tls "+gwName, "certificate signed by unknown authority")
	})
	t.Run("expired certificate", func(t *testing.T) {
		l.serveCert(l.sign(t, gwNames, 24*time.Hour, time.Now().Add(-72*time.Hour)))
		defer restore()
		l.wantFail(t, "gateway tls "+gwName, "expired 2 days ago")
	})
	t.Run("missing SAN", func(t *testing.T) {
		l.serveCert(l.sign(t, []string{gwName}, 168*time.Hour, time.Now()))
		defer restore()
		l.wantFail(t, "gateway tls "+gwName, "SAN "+gwAltName+" missing")
	})
	t.Run("CA stopped", func(t *testing.T) {
		l.stopCA()
		defer l.startCA()
		cs := l.wantFail(t, "ca health", "connection refused")
		for _, c := range cs {
			if strings.HasPrefix(c.Name, "gateway") && c.Status != "ok" {
				t.Errorf("the CA is not on the gateway's path, but %s: %s", c.Name, c.Detail)
			}
		}
	})
	t.Run("backend stopped", func(t *testing.T) {
		l.stopBackend()
		defer l.startBackend()
		l.wantFail(t, "gateway upstream", "connection refused")
		l.wantFail(t, "gateway proxy "+gwName, "HTTP 502: nginx got no answer from the upstream "+gwBackend+" (")
	})
	t.Run("nginx sends no SNI upstream", func(t *testing.T) {
		// The fault injected is the configuration itself: a copy of the
		// rendered site with proxy_ssl_server_name turned off.
		const on = "proxy_ssl_server_name on;"
		if strings.Count(string(l.rendered), on) != 1 {
			t.Fatalf("the rendered site has no single %q:\n%s", on, l.rendered)
		}
		l.stopNginx()
		l.startNginx(bytes.Replace(l.rendered, []byte(on), []byte("proxy_ssl_server_name off;"), 1))
		defer func() {
			l.stopNginx()
			l.startNginx(l.rendered)
		}()
		cs := l.wantFail(t, "gateway proxy "+gwName, "does it send "+gwUpstream+" as SNI?")
		for _, c := range cs {
			if c.Name == "gateway upstream" && c.Status != "ok" {
				t.Errorf("the upstream itself is fine, but: %s", c.Detail)
			}
		}
	})

	// Every fault undone: all pass again.
	for _, c := range l.checks() {
		if c.Status != "ok" {
			t.Errorf("restored site: check %s %s: %s %s", c.Name, c.Target, c.Status, c.Detail)
		}
	}
}

// gatewayLab is the site of TestGateway, inside its network namespace.
type gatewayLab struct {
	t                 *testing.T
	repo, config      string
	root, tmp         string
	phoenix           string // the test binary as phoenix
	rendered          []byte // the site lxc_101.star pushed into 101
	caPW              []byte
	ca, nginx         *testkit.Daemon
	backendCert       tls.Certificate
	backend           *http.Server
	nginxN            int
	nginxMain, nginxP string
}

func newGatewayLab(t *testing.T) *gatewayLab {
	t.Helper()
	repo := testkit.RepoDir(t)
	l := &gatewayLab{t: t, repo: repo, config: filepath.Join(repo, "config"), tmp: t.TempDir()}
	l.root = filepath.Join(l.tmp, "root")

	runSim(t, l.config, l.root, filepath.Join(repo, "scripts", "lxc_103.star"))
	pushed, mu := map[string][]byte{}, &sync.Mutex{}
	runSim(t, l.config, l.root, filepath.Join(repo, "scripts", "lxc_101.star"), capturePushes(pushed, mu))
	if l.rendered = pushed[gwSitePath]; len(l.rendered) == 0 {
		t.Fatalf("lxc_101.star pushed no %s into 101 (pushed: %v)", gwSitePath, keys(pushed))
	}

	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	l.phoenix = filepath.Join(l.tmp, "bin", "phoenix")
	if err := os.MkdirAll(filepath.Dir(l.phoenix), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(exe, l.phoenix); err != nil {
		t.Fatal(err)
	}

	pw := mustReadFile(t, filepath.Join(l.root, gwSSL, "password.txt"))
	l.caPW = bytes.TrimSpace(pw)
	// Traefik's stand-in gets its certificate from the same CA.
	crt, key := l.sign(t, []string{gwUpstream}, 24*time.Hour, time.Now())
	pair, err := tls.X509KeyPair(crt, key)
	if err != nil {
		t.Fatal(err)
	}
	l.backendCert = pair
	t.Cleanup(func() {
		l.stopNginx()
		l.stopBackend()
		l.stopCA()
	})
	return l
}

// sign issues a certificate from the site's CA, as the CA would, valid
// for life from now; it returns the chain and the key, PEM.
func (l *gatewayLab) sign(t *testing.T, sans []string, life time.Duration, now time.Time) (crt, key []byte) {
	t.Helper()
	dir := t.TempDir()
	req := ca.CertRequest{
		CAURL: "https://10.0.0.103:9000", Root: filepath.Join(l.root, gwExport, "root_ca.crt"), Provisioner: "test",
		Subject: sans[0], SANs: sans, Cert: filepath.Join(dir, "c.crt"), Key: filepath.Join(dir, "c.key"), UID: -1, GID: -1,
	}
	if _, err := ca.SignLocal(filepath.Join(l.root, gwSSL), l.caPW, req, life, ca.CertIssue, now); err != nil {
		t.Fatal(err)
	}
	return mustReadFile(t, req.Cert), mustReadFile(t, req.Key)
}

// mountEtc is the start of a shell script that gives a private mount
// namespace a writable /etc (an overlay on a tmpfs): the daemons' paths
// are made there, never on the host. $1 is a directory for the tmpfs.
const mountEtc = `set -e
mount -t tmpfs phoenix-e2e "$1"
mkdir "$1/upper" "$1/work"
mount -t overlay overlay -o "lowerdir=/etc,upperdir=$1/upper,workdir=$1/work" /etc
`

// startCA runs `phoenix ca serve` on the CA lxc_103.star made, at the
// paths its ca.json names (/etc/step-ca/ssl), on ca.json's address.
func (l *gatewayLab) startCA() {
	t := l.t
	script := mountEtc + `mkdir -p /etc/step-ca/ssl
mount --bind "$2" /etc/step-ca/ssl
exec "$3" ca serve --ca-config /etc/step-ca/ssl/config/ca.json --password-file /etc/step-ca/ssl/password.txt
`
	ovl := mkdirTemp(t, l.tmp, "ovl-ca-")
	cmd := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh", ovl, filepath.Join(l.root, gwSSL), l.phoenix)
	var logs testkit.SyncBuffer
	cmd.Stderr = &logs
	d, url, err := startCA(cmd)
	if err != nil {
		t.Fatalf("phoenix ca serve: %v\n%s", err, logs.String())
	}
	t.Logf("phoenix ca serve: %s", url)
	l.ca = d
}

func (l *gatewayLab) stopCA() {
	if l.ca != nil {
		l.ca.Stop()
		l.ca = nil
	}
}

// startBackend serves HTTPS at 102's address as Traefik would for the
// name it routes: a handshake naming anything else is refused.
func (l *gatewayLab) startBackend() {
	t := l.t
	ln, err := net.Listen("tcp", gwBackend)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "backend: sni=%s host=%s\n", r.TLS.ServerName, r.Host)
		}),
		TLSConfig: &tls.Config{
			MinVersion: tls.VersionTLS12,
			GetCertificate: func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
				if h.ServerName != gwUpstream {
					return nil, fmt.Errorf("no route for SNI %q", h.ServerName)
				}
				return &l.backendCert, nil
			},
		},
	}
	go srv.ServeTLS(ln, "", "")
	l.backend = srv
}

func (l *gatewayLab) stopBackend() {
	if l.backend != nil {
		l.backend.Close()
		l.backend = nil
	}
}

// startNginx runs nginx with site (the rendered file, or the copy a
// fault test made) at the path lxc_101.star pushes it to, 101's
// certificate directory at /etc/nginx/certs and the CA's export,
// read-only, at /etc/nginx/ca. The main configuration is the test's: it
// only includes the site, as Debian's includes conf.d/*.conf.
func (l *gatewayLab) startNginx(site []byte) {
	t := l.t
	l.nginxN++
	dir := mkdirTemp(t, l.tmp, "nginx-")
	sitePath := filepath.Join(dir, "site.conf")
	writeFile(t, sitePath, site, 0o644)
	l.nginxP = filepath.Join(dir, "nginx.pid")
	main := fmt.Sprintf(`pid %[1]s/nginx.pid;
error_log stderr notice;
worker_processes 1;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    include %[2]s;
}
`, dir, gwSitePath)
	l.nginxMain = filepath.Join(dir, "nginx.conf")
	writeFile(t, l.nginxMain, []byte(main), 0o644)
	script := mountEtc + `exec 2>&1
mkdir -p /etc/nginx/certs /etc/nginx/ca /etc/nginx/conf.d
: > ` + gwSitePath + `
mount --bind "$2" /etc/nginx/certs
mount --bind "$3" /etc/nginx/ca
mount -o remount,bind,ro /etc/nginx/ca
mount --bind "$4" ` + gwSitePath + `
nginx -t -q -e stderr -c "$5"
exec nginx -e stderr -c "$5" -g 'daemon off;'
`
	ovl := mkdirTemp(t, l.tmp, "ovl-nginx-")
	cmd := exec.Command("unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh",
		ovl, filepath.Join(l.root, gwCerts), filepath.Join(l.root, gwExport), sitePath, l.nginxMain)
	var logs testkit.SyncBuffer
	d, err := testkit.StartDaemon(cmd, 20*time.Second, func(line string) bool {
		logs.Write([]byte(line + "\n"))
		return strings.Contains(line, "start worker process")
	})
	if err != nil {
		t.Fatalf("nginx: %v\n%s", err, logs.String())
	}
	l.nginx = d
}

func (l *gatewayLab) stopNginx() {
	if l.nginx != nil {
		l.nginx.Stop()
		l.nginx = nil
	}
}

// serveCert puts a certificate and key where lxc_101.star keeps them
// and has nginx reload them (SIGHUP, what systemctl reload sends).
func (l *gatewayLab) serveCert(crt, key []byte) {
	l.t.Helper()
	writeFile(l.t, filepath.Join(l.root, gwCerts, "gateway.crt"), crt, 0o644)
	writeFile(l.t, filepath.Join(l.root, gwCerts, "gateway.key"), key, 0o600)
	l.reloadNginx(crt)
}

// reloadNginx signals nginx to reload and waits until it serves crt.
func (l *gatewayLab) reloadNginx(crt []byte) {
	t := l.t
	t.Helper()
	pid, err := strconv.Atoi(strings.TrimSpace(string(mustReadFile(t, l.nginxP))))
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	b, _ := pem.Decode(crt)
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := tls.DialWithDialer(&net.Dialer{Timeout: time.Second}, "tcp", gwAddr, &tls.Config{ServerName: gwName, InsecureSkipVerify: true})
		if err == nil {
			got := c.ConnectionState().PeerCertificates[0].Raw
			c.Close()
			if b != nil && bytes.Equal(got, b.Bytes) {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx does not serve the new certificate 15s after SIGHUP (%v)", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// issueReal converges the site's certificates for real (no --sim)
// against the served CA, with renew_before ("" for the site's window),
// and returns what the script printed.
func (l *gatewayLab) issueReal(t *testing.T, renewBefore string) string {
	t.Helper()
	var out bytes.Buffer
	rt, err := runtime.New(context.Background(), runtime.Options{
		RootDir: l.root, ConfigDir: l.config, Stderr: io.MultiWriter(&out, testLog{t}), Families: builtins.All(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	script := filepath.Join(l.repo, "internal", "e2e", "testdata", "star", "certs_real.star")
	decls, err := runtime.DeclaredParams(script)
	if err != nil {
		t.Fatal(err)
	}
	var args []string
	if renewBefore != "" {
		args = append(args, "--renew-before="+renewBefore)
	}
	if _, err := rt.SetParams(decls, args, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.ExecScript(script); err != nil {
		t.Fatalf("%s: %v", filepath.Base(script), err)
	}
	for _, line := range strings.Split(out.String(), "\n") {
		if strings.HasPrefix(line, "gateway ") {
			return line
		}
	}
	return out.String()
}

// get GETs / from the gateway as name, verified against the site's root.
func (l *gatewayLab) get(name string) (int, string) { return l.getAs(name, name) }

// getAs is get with the handshake for sni and the Host header host.
func (l *gatewayLab) getAs(sni, host string) (int, string) {
	name := host
	t := l.t
	t.Helper()
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(mustReadFile(t, filepath.Join(l.root, gwExport, "root_ca.crt"))) {
		t.Fatal("no root certificate in the export")
	}
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: sni},
	}}
	req, err := http.NewRequest("GET", "https://"+gwAddr+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = name
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET https://%s/ as %s: %v", gwAddr, name, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if hsts := resp.Header.Get("Strict-Transport-Security"); sni == host && !strings.HasPrefix(hsts, "max-age=") {
		t.Errorf("GET as %s: no HSTS header (%q)", name, hsts)
	}
	return resp.StatusCode, string(b)
}

// checks runs the check scripts as an operator would, for real (no
// --sim), on the temp root, and returns their results.
func (l *gatewayLab) checks() []runtime.CheckResult {
	t := l.t
	t.Helper()
	scripts := []string{
		filepath.Join(l.repo, "scripts", "checks", "check_nginx_gateway.star"),
		filepath.Join(l.repo, "scripts", "checks", "check_step_ca.star"),
	}
	var all []runtime.CheckResult
	for _, s := range scripts {
		cmd := exec.Command(l.phoenix, "exec", "--root", l.root, "--config", l.config, "--output", "json", s)
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var rep struct {
			Checks []runtime.CheckResult `json:"checks"`
		}
		if jerr := json.Unmarshal(stdout.Bytes(), &rep); jerr != nil || len(rep.Checks) == 0 {
			t.Fatalf("%s: %v (%v)\nstdout:\n%s\nstderr:\n%s", filepath.Base(s), err, jerr, stdout.String(), stderr.String())
		}
		failed := false
		for _, c := range rep.Checks {
			failed = failed || c.Status == "fail"
		}
		if code := cmd.ProcessState.ExitCode(); failed != (code == 3) {
			t.Errorf("%s exited %d with checks %+v", filepath.Base(s), code, rep.Checks)
		}
		all = append(all, rep.Checks...)
	}
	return all
}

// wantFail runs the checks and wants the check name (any, when "") to
// fail with a detail holding cause; it returns every result.
func (l *gatewayLab) wantFail(t *testing.T, name, cause string) []runtime.CheckResult {
	t.Helper()
	cs := l.checks()
	var lines []string
	for _, c := range cs {
		if (name == "" || c.Name == name) && c.Status == "fail" && strings.Contains(c.Detail, cause) {
			return cs
		}
		lines = append(lines, fmt.Sprintf("%s %s: %s %s", c.Name, c.Target, c.Status, c.Detail))
	}
	t.Errorf("want check %q to fail naming %q; got:\n%s", name, cause, strings.Join(lines, "\n"))
	return cs
}

// TestRenewal: with a short lifetime (3h, so a window of 1h),
// renew.star renews a certificate inside the window, reloads nginx,
// and leaves one outside it byte for byte as it was.
func TestRenewal(t *testing.T) {
	needRoot(t)
	repo := testkit.RepoDir(t)
	config := siteCopy(t, repo, `"default": "168h"`, `"default": "3h"`)
	root := filepath.Join(t.TempDir(), "root")
	runSim(t, config, root, filepath.Join(repo, "scripts", "lxc_103.star"))
	runSim(t, config, root, filepath.Join(repo, "scripts", "lxc_101.star"))
	renew := filepath.Join(repo, "scripts", "renew.star")
	certFile := filepath.Join(root, gwCerts, "gateway.crt")
	keyFile := filepath.Join(root, gwCerts, "gateway.key")
	leaf := func() *x509.Certificate {
		b, _ := pem.Decode(mustReadFile(t, certFile))
		if b == nil {
			t.Fatalf("%s: no PEM", certFile)
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	if life := leaf().NotAfter.Sub(leaf().NotBefore); life < 3*time.Hour || life > 3*time.Hour+2*time.Minute {
		t.Fatalf("lxc_101.star issued a certificate for %v, want the site's 3h", life)
	}
	pw := bytes.TrimSpace(mustReadFile(t, filepath.Join(root, gwSSL, "password.txt")))
	signed := func(life time.Duration) {
		t.Helper()
		req := ca.CertRequest{
			CAURL: "https://10.0.0.103:9000", Root: filepath.Join(root, gwExport, "root_ca.crt"), Provisioner: "test",
			Subject: gwName, SANs: gwNames, Cert: certFile, Key: keyFile, UID: 100000, GID: 100000,
		}
		if _, err := ca.SignLocal(filepath.Join(root, gwSSL), pw, req, life, ca.CertIssue, time.Now()); err != nil {
			t.Fatal(err)
		}
	}
	unchanged := func(what string) {
		t.Helper()
		crt, key := mustReadFile(t, certFile), mustReadFile(t, keyFile)
		if got := changesOf(runSim(t, config, root, renew)); len(got) != 0 {
			t.Errorf("%s: renew.star changed %v", what, got)
		}
		if !bytes.Equal(crt, mustReadFile(t, certFile)) || !bytes.Equal(key, mustReadFile(t, keyFile)) {
			t.Errorf("%s: renew.star rewrote the certificate or key", what)
		}
	}

	unchanged("just issued (3h left)")
	signed(2 * time.Hour)
	unchanged("2h left, outside the 1h window")

	signed(50 * time.Minute)
	old := leaf()
	got := changesOf(runSim(t, config, root, renew))
	want := []string{"update " + gwCertTrack, gwRenewCmd}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("50m left, inside the window: changes\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	now := leaf()
	if now.SerialNumber.Cmp(old.SerialNumber) == 0 || time.Until(now.NotAfter) < 2*time.Hour {
		t.Errorf("renewed: serial %v -> %v, %v left", old.SerialNumber, now.SerialNumber, time.Until(now.NotAfter))
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(mustReadFile(t, filepath.Join(root, gwExport, "root_ca.crt")))
	inter := x509.NewCertPool()
	inter.AppendCertsFromPEM(mustReadFile(t, certFile))
	if _, err := now.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, DNSName: gwAltName}); err != nil {
		t.Errorf("the renewed certificate does not verify to the exported root: %v", err)
	}
	unchanged("renewed")
}

// siteCopy copies config/ to a temp directory with old replaced by new
// in the hypervisor file.
func siteCopy(t *testing.T, repo, old, new string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "config")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"phoenix_hypervisor_config.json", "phoenix_lxc_configs.json", "phoenix_vm_configs.json"} {
		s := string(mustReadFile(t, filepath.Join(repo, "config", f)))
		s = strings.ReplaceAll(s, `"$schema": "../docs/schema/`, `"$schema": "`+filepath.Join(repo, "docs", "schema")+"/")
		if f == "phoenix_hypervisor_config.json" {
			if !strings.Contains(s, old) {
				t.Fatalf("%s no longer says %s", f, old)
			}
			s = strings.Replace(s, old, new, 1)
		}
		writeFile(t, filepath.Join(dir, f), []byte(s), 0o644)
	}
	return dir
}

func leafKeyPEM(t *testing.T, c *testkit.Cert) []byte {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(c.Key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

func mustReadFile(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func writeFile(t *testing.T, p string, b []byte, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(p, b, mode); err != nil {
		t.Fatal(err)
	}
}

func mkdirTemp(t *testing.T, dir, pattern string) string {
	t.Helper()
	d, err := os.MkdirTemp(dir, pattern)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func keys(m map[string][]byte) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
