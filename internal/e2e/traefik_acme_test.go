package e2e

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-acme/lego/v4/certcrypto"
	"github.com/go-acme/lego/v4/certificate"
	"github.com/go-acme/lego/v4/challenge/http01"
	"github.com/go-acme/lego/v4/lego"
	"github.com/go-acme/lego/v4/registration"
	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
	"go.yaml.in/yaml/v2"

	"phoenix/builtins"
	"phoenix/internal/netns"
	"phoenix/internal/site"
	"phoenix/internal/testkit"
	"phoenix/runtime"
)

// legoRequestEnv carries an ACME request to TestTraefikACMEClient, which
// runs only as the child TestTraefikACME starts inside 102's namespaces.
const legoRequestEnv = "PHOENIX_E2E_LEGO_REQUEST"

// legoRequest is what Traefik's resolver would do, from lxc_102's files.
type legoRequest struct {
	CAServer  string        // certificatesResolvers.*.acme.caServer
	KeyType   string        // certificatesResolvers.*.acme.keyType
	Challenge string        // the address of httpChallenge's entry point, e.g. ":80"
	Orders    [][]string    // the Host() names of each router using the resolver
	Out       string        // where the child writes its legoResult
	Within    time.Duration // give up after this long (0: lego's own timeouts)
}

type legoResult struct {
	Error  string
	Chains [][]byte // PEM, one per order
	Keys   [][]byte // their keys, PEM
}

// traefikFiles is what the test reads back from lxc_102's rendered files.
type traefikFiles struct {
	static struct {
		EntryPoints map[string]struct {
			Address string `yaml:"address"`
		} `yaml:"entryPoints"`
		CertificatesResolvers map[string]struct {
			ACME struct {
				CAServer      string `yaml:"caServer"`
				KeyType       string `yaml:"keyType"`
				Storage       string `yaml:"storage"`
				HTTPChallenge struct {
					EntryPoint string `yaml:"entryPoint"`
				} `yaml:"httpChallenge"`
			} `yaml:"acme"`
		} `yaml:"certificatesResolvers"`
		Providers struct {
			File struct {
				Filename string `yaml:"filename"`
			} `yaml:"file"`
		} `yaml:"providers"`
	}
	dynamic struct {
		HTTP struct {
			Routers map[string]struct {
				EntryPoints []string `yaml:"entryPoints"`
				Rule        string   `yaml:"rule"`
				TLS         struct {
					CertResolver string `yaml:"certResolver"`
				} `yaml:"tls"`
			} `yaml:"routers"`
		} `yaml:"http"`
	}
	env map[string]string // the unit's Environment=
}

// readTraefik parses the files lxc_102.star staged under the root (the
// copies it pushed into the container).
func readTraefik(t *testing.T, staged string) traefikFiles {
	t.Helper()
	var f traefikFiles
	read := func(p string, into any) {
		b, err := os.ReadFile(filepath.Join(staged, p))
		if err != nil {
			t.Fatal(err)
		}
		if into != nil {
			if err := yaml.Unmarshal(b, into); err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			return
		}
		f.env = map[string]string{}
		for _, l := range strings.Split(string(b), "\n") {
			if kv, ok := strings.CutPrefix(l, "Environment="); ok {
				k, v, _ := strings.Cut(kv, "=")
				f.env[k] = v
			}
		}
	}
	read("etc/traefik/traefik.yml", &f.static)
	if f.static.Providers.File.Filename == "" {
		t.Fatal("traefik.yml: no providers.file.filename")
	}
	read(f.static.Providers.File.Filename, &f.dynamic)
	read("etc/systemd/system/traefik.service", nil)
	return f
}

var hostRule = regexp.MustCompile("Host\\(`([^`]+)`\\)")

// TestTraefikACME: lxc_102's ACME settings work with a real ACME client.
// lxc_103 and lxc_102 converge under --sim in a temp root; `phoenix ca
// serve` serves the CA from 103's files in a network namespace holding
// 103's address, inside a private mount namespace where 103's mounts are
// bind-mounted at their container paths. go-acme/lego (Traefik's ACME
// library) then runs in a namespace holding 102's address, with 102's
// mounts in place, the unit's environment (LEGO_CA_CERTIFICATES) and the
// CA URL, key type, challenge port and names of lxc_102's rendered
// files; the CA validates each http-01 challenge by connecting to the
// address the name resolves to. Every router's certificate must come
// back, chain to the exported root and cover exactly its Host names, and
// served by SNI they pass check_traefik_proxy.star. With a foreign root in
// LEGO_CA_CERTIFICATES, or with the names leading the CA to an address
// where lego does not answer, no certificate comes back.
func TestTraefikACME(t *testing.T) {
	needRoot(t)
	tools := map[string]string{}
	for _, name := range []string{"ip", "unshare", "sh", "mount", "mkdir"} {
		tools[name] = testkit.Tool(t, name)
	}
	repo, config, script103 := lxc103(t)
	s, err := site.Load(config)
	if err != nil {
		t.Fatal(err)
	}
	var mesh *site.LXC
	for _, g := range s.Guests() {
		if g.LXC != nil && g.LXC.Traefik != nil {
			mesh = g.LXC
		}
	}
	if mesh == nil {
		t.Fatal("the example site has no traefik section")
	}
	caGuest := s.LXC(s.Hypervisor.CA.VMID)

	work := t.TempDir()
	root := filepath.Join(work, "root")
	runSim(t, config, root, script103)
	runSim(t, config, root, filepath.Join(repo, "scripts", "lxc_102.star"))
	f := readTraefik(t, filepath.Join(root, "var/lib/phoenix/lxc", fmt.Sprint(mesh.VMID)))

	// The request, from the rendered files only.
	if len(f.static.CertificatesResolvers) != 1 {
		t.Fatalf("traefik.yml: want one certificate resolver, got %d", len(f.static.CertificatesResolvers))
	}
	var req legoRequest
	var resolver, storage string
	for name, r := range f.static.CertificatesResolvers {
		resolver, storage = name, r.ACME.Storage
		req.CAServer, req.KeyType = r.ACME.CAServer, r.ACME.KeyType
		req.Challenge = f.static.EntryPoints[r.ACME.HTTPChallenge.EntryPoint].Address
	}
	if req.Challenge == "" {
		t.Fatalf("traefik.yml: the http challenge's entry point has no address: %+v", f.static)
	}
	var entryPoint string // where the routers serve: one for all
	for _, name := range slices.Sorted(maps.Keys(f.dynamic.HTTP.Routers)) {
		r := f.dynamic.HTTP.Routers[name]
		if len(r.EntryPoints) != 1 || (entryPoint != "" && r.EntryPoints[0] != entryPoint) {
			t.Fatalf("router %s: entry points %v, want one, the same for every router", name, r.EntryPoints)
		}
		entryPoint = r.EntryPoints[0]
		if r.TLS.CertResolver != resolver {
			t.Errorf("router %s: certResolver %q, want %q", name, r.TLS.CertResolver, resolver)
			continue
		}
		var hosts []string
		for _, m := range hostRule.FindAllStringSubmatch(r.Rule, -1) {
			hosts = append(hosts, m[1])
		}
		if len(hosts) == 0 {
			t.Fatalf("router %s: no Host() in rule %q", name, r.Rule)
		}
		req.Orders = append(req.Orders, hosts)
	}
	trust := f.env["LEGO_CA_CERTIFICATES"]
	if trust == "" {
		t.Fatalf("traefik.service: no Environment=LEGO_CA_CERTIFICATES: %v", f.env)
	}
	// Where Traefik keeps its account and certificates must be writable.
	if m := mountAt(mesh, path.Dir(storage)); m == nil || m.ReadOnly {
		t.Errorf("ACME storage %s: not in a writable mount of lxc:%d", storage, mesh.VMID)
	}

	// Two namespaces on one link: 103's and 102's addresses.
	tag := fmt.Sprint(os.Getpid() % 100000)
	nsCA, nsMesh := "pms"+tag+"c", "pms"+tag+"t"
	caIP, meshIP := caGuest.Network.IP, mesh.Network.IP
	run := func(args ...string) {
		t.Helper()
		if out, err := exec.Command(tools["ip"], args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	for _, ns := range []string{nsCA, nsMesh} {
		run("netns", "add", ns)
		t.Cleanup(func() { exec.Command(tools["ip"], "netns", "del", ns).Run() })
		run("-n", ns, "link", "set", "lo", "up")
	}
	run("link", "add", "pms"+tag+"a", "netns", nsCA, "type", "veth", "peer", "name", "pms"+tag+"b", "netns", nsMesh)
	run("-n", nsCA, "addr", "add", caIP.String(), "dev", "pms"+tag+"a")
	run("-n", nsCA, "link", "set", "pms"+tag+"a", "up")
	run("-n", nsMesh, "addr", "add", meshIP.String(), "dev", "pms"+tag+"b")
	run("-n", nsMesh, "link", "set", "pms"+tag+"b", "up")

	// The site's names as its internal DNS view answers them (the CA's
	// name and the names Traefik serves among them); astray, the names on
	// 102's address lead to 103's instead.
	writeHosts := func(name string, astray bool) string {
		t.Helper()
		b := "127.0.0.1 localhost\n"
		for _, r := range s.Records() {
			if r.View == "internal" && r.Type == "A" {
				addr := r.Value
				if astray && addr == meshIP.Addr().String() {
					addr = caIP.Addr().String()
				}
				b += addr + " " + r.Name + "\n"
			}
		}
		p := filepath.Join(work, name)
		if err := os.WriteFile(p, []byte(b), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	hostsFile := writeHosts("hosts", false)

	// The CA, as 103's unit runs it, resolving names with hosts.
	ssl := s.Hypervisor.CA.PrivateContainerPath
	phoenix := testkit.Phoenix(t)
	serveCA := func(hosts string) *testkit.Daemon {
		t.Helper()
		cmd := exec.Command(tools["ip"], "netns", "exec", nsCA, tools["unshare"], "-m", "--propagation", "private",
			tools["sh"], "-c", guestMounts(t, root, work, "ca", caGuest, hosts)+`exec "$@"`, "sh",
			phoenix, "ca", "serve", "--ca-config", ssl+"/config/ca.json", "--password-file", ssl+"/password.txt")
		d, url, err := startCA(cmd)
		if err != nil {
			t.Fatalf("phoenix ca serve in %s: %v", nsCA, err)
		}
		t.Cleanup(func() { d.Stop() })
		t.Logf("CA serving at %s in %s", url, nsCA)
		return d
	}
	ca := serveCA(hostsFile)

	// lego as Traefik runs it: in 102's namespaces, with the unit's
	// environment.
	obtain := func(env map[string]string, within time.Duration) legoResult {
		t.Helper()
		r := req
		r.Within = within
		r.Out = filepath.Join(t.TempDir(), "result.json")
		b, _ := json.Marshal(r)
		cmd := exec.Command(tools["ip"], "netns", "exec", nsMesh, tools["unshare"], "-m", "--propagation", "private",
			tools["sh"], "-c", guestMounts(t, root, work, "mesh", mesh, hostsFile)+`exec "$@"`, "sh",
			os.Args[0], "-test.run=^TestTraefikACMEClient$", "-test.v", "-test.count=1")
		cmd.Env = append(os.Environ(), legoRequestEnv+"="+string(b))
		for k, v := range env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS: TestTraefikACMEClient") {
			t.Fatalf("lego in %s: %v\n%s", nsMesh, err, out)
		}
		var res legoResult
		data, err := os.ReadFile(r.Out)
		if err == nil {
			err = json.Unmarshal(data, &res)
		}
		if err != nil {
			t.Fatalf("lego's result: %v\n%s", err, out)
		}
		return res
	}

	res := obtain(f.env, 0)
	if res.Error != "" {
		t.Fatalf("lego with lxc_102's settings: %s", res.Error)
	}
	rootPEM, err := os.ReadFile(filepath.Join(root, hostPathOf(t, mesh, trust)))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(rootPEM) {
		t.Fatal("the trust export holds no certificate")
	}
	for i, o := range req.Orders {
		chain := parseChain(t, res.Chains[i])
		inter := x509.NewCertPool()
		for _, c := range chain[1:] {
			inter.AddCert(c)
		}
		for _, name := range o {
			if _, err := chain[0].Verify(x509.VerifyOptions{DNSName: name, Roots: pool, Intermediates: inter}); err != nil {
				t.Errorf("certificate for %v: %s: %v", o, name, err)
			}
		}
		if got := slices.Sorted(slices.Values(chain[0].DNSNames)); !slices.Equal(got, slices.Sorted(slices.Values(o))) {
			t.Errorf("certificate for %v has SANs %v", o, got)
		}
		t.Logf("%v: issued by %s, until %s", o, chain[0].Issuer, chain[0].NotAfter.Format(time.RFC3339))
	}

	// Served as Traefik serves them, strict about SNI, they pass
	// check_traefik_proxy.star, run for real from 103's namespace.
	serveSNI(t, nsMesh, meshIP.Addr().String()+f.static.EntryPoints[entryPoint].Address, res)
	checks := runCheck(t, config, root, nsCA)
	if len(checks) != len(slices.Concat(req.Orders...)) {
		t.Errorf("check_traefik_proxy.star: %d checks for %d names: %+v", len(checks), len(slices.Concat(req.Orders...)), checks)
	}
	for _, c := range checks {
		if c.Status != "ok" || !strings.Contains(c.Detail, "<- CN=Phoenix Internal CA Root CA") {
			t.Errorf("check %s %s: %s %s", c.Name, c.Target, c.Status, c.Detail)
		}
	}
	// ... and fail, naming why, where they do not hold.
	for args, want := range map[string]string{
		"--names=other.phoenix.internal": "traefik other.phoenix.internal fail",
		"--min-days=30":                  "traefik portainer.phoenix.internal fail only 6 days left (want at least 30)",
	} {
		checks := runCheck(t, config, root, nsCA, args)
		got := fmt.Sprintf("%s %s %s", checks[0].Name, checks[0].Status, checks[0].Detail)
		if !strings.HasPrefix(got, want) {
			t.Errorf("check_traefik_proxy.star %s: %q, want %q", args, got, want)
		}
		t.Logf("check_traefik_proxy.star %s: %s", args, got)
	}

	// The same client trusting another root: the CA is refused.
	other := testkit.Issue(t, "Other Root", nil, true, time.Now().Add(time.Hour))
	otherFile := filepath.Join(work, "other_root.crt")
	if err := os.WriteFile(otherFile, other.PEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	if res := obtain(map[string]string{"LEGO_CA_CERTIFICATES": otherFile}, 0); !strings.Contains(res.Error, "certificate signed by unknown authority") {
		t.Errorf("lego trusting another root: error %q, want an unknown authority", res.Error)
	}

	// The CA validates where the names lead: resolved to its own address,
	// where nothing answers on port 80, no certificate is issued (step-ca
	// keeps such a challenge pending, and lego would wait for minutes).
	if err := ca.Stop(); err != nil {
		t.Logf("phoenix ca serve: %v", err)
	}
	astray := writeHosts("hosts-astray", true)
	serveCA(astray)
	if res := obtain(f.env, 5*time.Second); res.Error != "no certificate within 5s" || len(res.Chains) != 0 {
		t.Errorf("names leading the CA astray: error %q, %d certificates", res.Error, len(res.Chains))
	} else {
		t.Logf("names leading the CA astray: %s", res.Error)
	}
}

// serveSNI serves the certificates lego obtained on addr inside network
// namespace ns, choosing by SNI and refusing a name it has none for, as
// Traefik does with sniStrict.
func serveSNI(t *testing.T, ns, addr string, res legoResult) {
	t.Helper()
	byName := map[string]*tls.Certificate{}
	for i := range res.Chains {
		pair, err := tls.X509KeyPair(res.Chains[i], res.Keys[i])
		if err != nil {
			t.Fatal(err)
		}
		leaf, err := x509.ParseCertificate(pair.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range leaf.DNSNames {
			byName[name] = &pair
		}
	}
	var l net.Listener
	if err := netns.Do(ns, func() (err error) {
		l, err = net.Listen("tcp", addr)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
		if c, ok := byName[h.ServerName]; ok {
			return c, nil
		}
		return nil, fmt.Errorf("no certificate for %q", h.ServerName)
	}}
	go testkit.Handshakes(l, cfg)
}

// runCheck runs scripts/checks/check_traefik_proxy.star with args as if
// not under --sim: its probes connect for real, from network namespace
// ns (--netns).
func runCheck(t *testing.T, config, root, ns string, args ...string) []runtime.CheckResult {
	t.Helper()
	real := starlark.StringDict{"phoenix": starlarkstruct.FromStringDict(starlark.String("phoenix"),
		starlark.StringDict{"sim": starlark.False, "target": starlark.String("")})}
	rt, err := runtime.New(context.Background(), runtime.Options{
		Sim: true, RootDir: root, ConfigDir: config, Stderr: testLog{t},
		Families: builtins.All(), Globals: real, Flags: map[string]string{"netns": ns},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	script := filepath.Join(testkit.RepoDir(t), "scripts", "checks", "check_traefik_proxy.star")
	decls, err := runtime.DeclaredParams(script)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := rt.SetParams(decls, args, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := rt.ExecScript(script); err != nil {
		t.Fatalf("check_traefik_proxy.star %v: %v", args, err)
	}
	return rt.Report().Checks
}

// guestMounts is the shell that gives a process g's view of its mounts:
// /etc overlaid with a private tmpfs layer (so that mount points can be
// made without touching the host's /etc), each bind mount of g at its
// container path, and the site's names in /etc/hosts.
func guestMounts(t *testing.T, root, work, name string, g *site.LXC, hostsFile string) string {
	t.Helper()
	ovl, err := os.MkdirTemp(work, "ovl-"+name+"-")
	if err != nil {
		t.Fatal(err)
	}
	sh := fmt.Sprintf("set -e\nmount -t tmpfs phoenix-e2e %s\nmkdir %s/upper %s/work\n"+
		"mount -t overlay overlay -o lowerdir=/etc,upperdir=%s/upper,workdir=%s/work /etc\n", ovl, ovl, ovl, ovl, ovl)
	for _, m := range g.MountPoints {
		if !strings.HasPrefix(m.ContainerPath, "/etc/") {
			t.Fatalf("lxc:%d mounts %s, outside /etc, where this test cannot make a mount point", g.VMID, m.ContainerPath)
		}
		opt := ""
		if m.ReadOnly {
			opt = " -o ro"
		}
		sh += fmt.Sprintf("mkdir -p %s\nmount --bind%s %s %s\n", m.ContainerPath, opt, filepath.Join(root, m.HostPath), m.ContainerPath)
	}
	return sh + fmt.Sprintf("mount --bind %s /etc/hosts\n", hostsFile)
}

// mountAt is g's mount holding the container path p.
func mountAt(g *site.LXC, p string) *site.MountPoint {
	for i, m := range g.MountPoints {
		if p == m.ContainerPath || strings.HasPrefix(p, m.ContainerPath+"/") {
			return &g.MountPoints[i]
		}
	}
	return nil
}

// hostPathOf is the site path behind container path p of g.
func hostPathOf(t *testing.T, g *site.LXC, p string) string {
	t.Helper()
	m := mountAt(g, p)
	if m == nil {
		t.Fatalf("%s is in no mount of lxc:%d", p, g.VMID)
	}
	return m.HostPath + strings.TrimPrefix(p, m.ContainerPath)
}

func parseChain(t *testing.T, data []byte) []*x509.Certificate {
	t.Helper()
	var out []*x509.Certificate
	for {
		var b *pem.Block
		b, data = pem.Decode(data)
		if b == nil {
			break
		}
		c, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, c)
	}
	if len(out) < 2 {
		t.Fatalf("chain of %d certificates, want leaf and intermediate", len(out))
	}
	return out
}

// TestTraefikACMEClient is the ACME client TestTraefikACME starts in 102's
// namespaces; on its own it does nothing.
func TestTraefikACMEClient(t *testing.T) {
	spec := os.Getenv(legoRequestEnv)
	if spec == "" {
		t.Skip("run by TestTraefikACME")
	}
	var req legoRequest
	if err := json.Unmarshal([]byte(spec), &req); err != nil {
		t.Fatal(err)
	}
	done := make(chan legoResult, 1)
	go func() {
		var res legoResult
		if err := legoObtain(req, &res); err != nil {
			res.Error = err.Error()
		}
		done <- res
	}()
	var expired <-chan time.Time
	if req.Within > 0 {
		expired = time.After(req.Within)
	}
	var res legoResult
	select {
	case res = <-done:
	case <-expired:
		res.Error = fmt.Sprintf("no certificate within %s", req.Within)
	}
	b, _ := json.Marshal(res)
	if err := os.WriteFile(req.Out, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

type legoUser struct {
	key crypto.PrivateKey
	reg *registration.Resource
}

func (u *legoUser) GetEmail() string                        { return "" }
func (u *legoUser) GetRegistration() *registration.Resource { return u.reg }
func (u *legoUser) GetPrivateKey() crypto.PrivateKey        { return u.key }

// legoObtain registers an account and obtains one certificate per order,
// answering http-01 on req.Challenge, as Traefik's resolver does.
func legoObtain(req legoRequest, res *legoResult) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	user := &legoUser{key: key}
	cfg := lego.NewConfig(user) // its HTTP client trusts LEGO_CA_CERTIFICATES
	cfg.CADirURL = req.CAServer
	// Traefik's names for lego's key types; RSA4096 is its default.
	types := map[string]certcrypto.KeyType{"": certcrypto.RSA4096, "EC256": certcrypto.EC256, "EC384": certcrypto.EC384,
		"RSA2048": certcrypto.RSA2048, "RSA3072": certcrypto.RSA3072, "RSA4096": certcrypto.RSA4096, "RSA8192": certcrypto.RSA8192}
	kt, ok := types[req.KeyType]
	if !ok {
		return fmt.Errorf("keyType %q is not one Traefik knows", req.KeyType)
	}
	cfg.Certificate.KeyType = kt
	client, err := lego.NewClient(cfg)
	if err != nil {
		return fmt.Errorf("lego.NewClient(%s): %w", req.CAServer, err)
	}
	iface, port, _ := strings.Cut(req.Challenge, ":")
	if err := client.Challenge.SetHTTP01Provider(http01.NewProviderServer(iface, port)); err != nil {
		return err
	}
	if user.reg, err = client.Registration.Register(registration.RegisterOptions{TermsOfServiceAgreed: true}); err != nil {
		return fmt.Errorf("register: %w", err)
	}
	for _, o := range req.Orders {
		c, err := client.Certificate.Obtain(certificate.ObtainRequest{Domains: o, Bundle: true})
		if err != nil {
			return fmt.Errorf("obtain %v: %w", o, err)
		}
		res.Chains = append(res.Chains, c.Certificate)
		res.Keys = append(res.Keys, c.PrivateKey)
	}
	return nil
}

// TestMeshRefusals: lxc_102.star refuses, before any change, a site that
// gives Traefik the provisioner password or has no ACME at the CA.
func TestMeshRefusals(t *testing.T) {
	repo := testkit.RepoDir(t)
	script := filepath.Join(repo, "scripts", "lxc_102.star")
	for _, c := range []struct {
		name, file string
		edit       func(map[string]any)
		want       string
	}{
		{"provisioner password", "phoenix_hypervisor_config.json", func(m map[string]any) {
			m["ca"].(map[string]any)["exports"].(map[string]any)["trust"].(map[string]any)["provisioner_password"] = true
		}, "site config: lxc:102 mounts the CA export trust, which holds the provisioner password: Traefik needs the root only"},
		{"no acme", "phoenix_hypervisor_config.json", func(m map[string]any) {
			m["ca"].(map[string]any)["acme"] = false
		}, "site config: ca.acme is false, but lxc:102's Traefik obtains its certificates from the CA over ACME"},
	} {
		t.Run(c.name, func(t *testing.T) {
			config := editedConfig(t, repo, c.file, c.edit)
			r, err := runHostile(t, config, filepath.Join(t.TempDir(), "root"), script)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("error %v, want %q", err, c.want)
			}
			if len(r.Changes) != 0 {
				t.Errorf("%d changes before the refusal", len(r.Changes))
			}
		})
	}
}

// editedConfig copies the example site with one file edited through its
// decoded form.
func editedConfig(t *testing.T, repo, file string, edit func(map[string]any)) string {
	t.Helper()
	dir := testkit.SiteConfig(t)
	testkit.EditJSON(t, filepath.Join(dir, file), edit)
	return dir
}

// TestMeshBackendTrust: an https route's backend is verified against the
// site's root unless its route says insecure_skip_verify (Portainer's
// self-signed certificate), which gives that route alone a transport
// that accepts any certificate.
func TestMeshBackendTrust(t *testing.T) {
	repo := testkit.RepoDir(t)
	script := filepath.Join(repo, "scripts", "lxc_102.star")
	transport := func(config string) string {
		root := filepath.Join(t.TempDir(), "root")
		if _, err := runHostile(t, config, root, script); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(root, "var/lib/phoenix/lxc/102/etc/traefik/dynamic.yml"))
		if err != nil {
			t.Fatal(err)
		}
		s := string(b)
		i := strings.Index(s, "  serversTransports:\n    portainer:\n")
		if i < 0 {
			t.Fatalf("no transport for portainer in:\n%s", s)
		}
		s = s[i+len("  serversTransports:\n    portainer:\n"):]
		return s[:strings.Index(s, "  services:")]
	}
	if got := transport(filepath.Join(repo, "config")); !strings.Contains(got, "rootCAs:\n        - \"/etc/traefik/ca/root_ca.crt\"") || strings.Contains(got, "insecureSkipVerify") {
		t.Errorf("verified transport:\n%s", got)
	}
	insecure := editedConfig(t, repo, "phoenix_lxc_configs.json", func(m map[string]any) {
		m["102"].(map[string]any)["traefik"].(map[string]any)["routes"].([]any)[0].(map[string]any)["insecure_skip_verify"] = true
	})
	if got := transport(insecure); got != "      insecureSkipVerify: true\n" {
		t.Errorf("insecure transport:\n%q", got)
	}
}
