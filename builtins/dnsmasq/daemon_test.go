package dnsmasq_test

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"phoenix/builtins/dns"
	"phoenix/internal/dnsmasq"
	"phoenix/internal/site"
	"phoenix/internal/testkit"
)

// The namespaces of the real-dnsmasq tests: the host (both views' listen
// addresses), guest 101 on the internal side, a client on the external
// side. Each is joined to the host by a veth pair.
const (
	nsHost  = "pxd-hv"
	nsGuest = "pxd-g101"
	nsExt   = "pxd-ext"

	internalListen = "10.0.0.1"
	externalListen = "203.0.113.2"
)

// lab is one real-dnsmasq setup: namespaces, a copy of the example site,
// the root the scripts converge, and the daemons serving it.
type lab struct {
	t       *testing.T
	phoenix string
	repo    string
	config  string
	root    string
	daemons map[string]*testkit.Daemon // by unit
	inNetns bool                       // phoenix runs in the host's namespace
}

func newLab(t *testing.T) *lab {
	t.Helper()
	testkit.NeedRoot(t, "network namespaces and the mount namespace dnsmasq runs in need root")
	for _, tool := range []string{"dnsmasq", "ip", "unshare", "getent"} {
		testkit.Tool(t, tool)
	}
	l := &lab{t: t, repo: testkit.RepoDir(t), daemons: map[string]*testkit.Daemon{}, inNetns: true}
	l.phoenix = phoenixBinary(t)
	dir := t.TempDir()
	l.config = filepath.Join(dir, "config")
	l.root = filepath.Join(dir, "root")
	if err := os.CopyFS(l.config, os.DirFS(filepath.Join(l.repo, "config"))); err != nil {
		t.Fatal(err)
	}
	l.netns()
	// The run directory Debian's units keep their pidfiles in.
	if err := os.MkdirAll(filepath.Join(l.root, "run/dnsmasq"), 0o755); err != nil {
		t.Fatal(err)
	}
	return l
}

func run(t *testing.T, argv ...string) string {
	t.Helper()
	out, err := exec.Command(argv[0], argv[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	return string(out)
}

// netns makes the namespaces and links, removed again in Cleanup. The
// guest's only resolver is the host's internal address.
func (l *lab) netns() {
	t := l.t
	for _, ns := range []string{nsHost, nsGuest, nsExt} {
		exec.Command("ip", "netns", "del", ns).Run() // a crashed earlier run
		run(t, "ip", "netns", "add", ns)
		ns := ns
		t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
		run(t, "ip", "-n", ns, "link", "set", "lo", "up")
	}
	for _, link := range []struct{ host, peer, peerNS, hostAddr, peerAddr string }{
		{"pxdv0", "pxdv1", nsGuest, internalListen + "/24", "10.0.0.101/24"},
		{"pxdv2", "pxdv3", nsExt, externalListen + "/24", "203.0.113.50/24"},
	} {
		run(t, "ip", "-n", nsHost, "link", "add", link.host, "type", "veth", "peer", "name", link.peer, "netns", link.peerNS)
		run(t, "ip", "-n", nsHost, "addr", "add", link.hostAddr, "dev", link.host)
		run(t, "ip", "-n", link.peerNS, "addr", "add", link.peerAddr, "dev", link.peer)
		run(t, "ip", "-n", nsHost, "link", "set", link.host, "up")
		run(t, "ip", "-n", link.peerNS, "link", "set", link.peer, "up")
	}
	// ip netns exec bind-mounts /etc/netns/NAME/resolv.conf over
	// /etc/resolv.conf for what it runs.
	made := false
	if _, err := os.Stat("/etc/netns"); os.IsNotExist(err) {
		made = true
	}
	dir := "/etc/netns/" + nsGuest
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		os.RemoveAll(dir)
		if made {
			os.Remove("/etc/netns") // only when empty: others may use it
		}
	})
	if err := os.WriteFile(dir+"/resolv.conf", []byte("nameserver "+internalListen+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// phoenixRun runs `phoenix exec` in the host's namespace and returns its
// exit code and output.
func (l *lab) phoenixRun(args ...string) (int, string) {
	l.t.Helper()
	argv := append([]string{l.phoenix, "exec", "--root", l.root, "--config", l.config}, args...)
	if l.inNetns {
		argv = append([]string{"ip", "netns", "exec", nsHost}, argv...)
	}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Dir = l.repo
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		l.t.Fatal(err)
	}
	return code, string(out)
}

func (l *lab) converge(args ...string) string {
	l.t.Helper()
	code, out := l.phoenixRun(append(args, "scripts/dns_server.star")...)
	if code != 0 {
		l.t.Fatalf("dns_server.star exited %d:\n%s", code, out)
	}
	return out
}

// start runs a unit's dnsmasq in the foreground, as Debian's unit would
// (its conf-dir and pidfile), inside a private mount namespace where the
// root's /etc/dnsmasq.d and /run/dnsmasq are bind-mounted at the real
// paths the rendered files name.
func (l *lab) start(unit string) {
	t := l.t
	t.Helper()
	confDir := dnsmasq.Dir
	if unit == "dnsmasq@external" {
		confDir = dnsmasq.PhoenixDir + "/external"
	}
	sh := fmt.Sprintf("mount --bind %s %s && mount --bind %s /run/dnsmasq && exec dnsmasq --keep-in-foreground --log-facility=- --conf-file=/dev/null -7 %s,.dpkg-dist,.dpkg-old,.dpkg-new -x %s 2>&1",
		filepath.Join(l.root, dnsmasq.Dir), dnsmasq.Dir, filepath.Join(l.root, "run/dnsmasq"), confDir, pidFile(unit))
	cmd := exec.Command("ip", "netns", "exec", nsHost, "unshare", "-m", "sh", "-c", sh)
	var log testkit.SyncBuffer
	d, err := testkit.StartDaemon(cmd, 10*time.Second, func(line string) bool {
		log.Write([]byte(line + "\n"))
		return strings.Contains(line, "started, version")
	})
	if err != nil {
		t.Fatalf("%s: %v\n%s", unit, err, log.String())
	}
	l.daemons[unit] = d
	t.Cleanup(func() { d.Stop() })
}

func (l *lab) stop(unit string) {
	l.t.Helper()
	if err := l.daemons[unit].Stop(); err != nil {
		l.t.Logf("%s exited: %v", unit, err)
	}
}

// restart does what the --sim runs only recorded: both units restart.
func (l *lab) restart() {
	l.t.Helper()
	for _, unit := range []string{"dnsmasq", "dnsmasq@external"} {
		l.stop(unit)
		l.start(unit)
	}
}

func pidFile(unit string) string {
	if unit == "dnsmasq@external" {
		return "/run/dnsmasq/dnsmasq.external.pid"
	}
	return "/run/dnsmasq/dnsmasq.pid"
}

func (l *lab) pid(unit string) string {
	b, err := os.ReadFile(filepath.Join(l.root, pidFile(unit)))
	if err != nil {
		l.t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

var netnsMu sync.Mutex

// query asks server from inside namespace ns, with the dns module's
// network backend.
func query(t *testing.T, ns, server, name, qtype string) dns.Result {
	t.Helper()
	netnsMu.Lock()
	defer netnsMu.Unlock()
	var res dns.Result
	done := make(chan error)
	go func() {
		// The thread enters ns and is never reused: it exits with the
		// goroutine still locked.
		goruntime.LockOSThread()
		f, err := os.Open("/run/netns/" + ns)
		if err != nil {
			done <- err
			return
		}
		defer f.Close()
		if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWNET); err != nil {
			done <- err
			return
		}
		res = dns.Net{}.Query(context.Background(), dns.Query{Name: name, Type: qtype,
			Server: netip.AddrPortFrom(netip.MustParseAddr(server), 53), Timeout: 2 * time.Second})
		done <- nil
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	return res
}

// eventually retries query until want accepts the result, for 3 s.
func eventually(t *testing.T, ns, server, name string, want func(dns.Result) bool) dns.Result {
	t.Helper()
	var r dns.Result
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if r = query(t, ns, server, name, "A"); want(r) {
			break
		}
	}
	return r
}

func answers(r dns.Result, addr string) bool {
	return r.Rcode == "NOERROR" && len(r.Answers) == 1 && r.Answers[0] == addr
}

func (l *lab) records() []site.Record {
	s, err := site.Load(l.config)
	if err != nil {
		l.t.Fatal(err)
	}
	return s.Records()
}

// editJSON changes one config file through its decoded form.
func (l *lab) editJSON(file string, edit func(m map[string]any)) {
	l.t.Helper()
	testkit.EditJSON(l.t, filepath.Join(l.config, file), edit)
}

func addRecord(m map[string]any, vmid, name string) {
	g := m[vmid].(map[string]any)
	recs, _ := g["dns_records"].([]any)
	g["dns_records"] = append(recs, map[string]any{"name": name})
}

// TestDaemon serves the example site with the real dnsmasq: every record
// answers, split horizon holds, a record change is answered without a
// restart, and check_dns_resolution.star passes from host and guest, then
// fails with dnsmasq stopped.
func TestDaemon(t *testing.T) {
	l := newLab(t)
	// The first run under --sim only records the restarts, which the test
	// does itself by starting the daemons.
	out := l.converge("--sim")
	if !strings.Contains(out, "restart  dnsmasq:dnsmasq") || !strings.Contains(out, "restart  dnsmasq:dnsmasq@external") {
		t.Fatalf("the first run plans no restarts:\n%s", out)
	}
	l.start("dnsmasq")
	l.start("dnsmasq@external")

	t.Run("records", func(t *testing.T) {
		recs := l.records()
		for _, r := range recs {
			ns, server := nsGuest, internalListen
			if r.View == "external" {
				ns, server = nsExt, externalListen
			}
			if got := query(t, ns, server, r.Name, r.Type); !answers(got, r.Value) || !got.Authoritative {
				t.Errorf("%s view: %s %s: got %+v, want %s (%s)", r.View, r.Type, r.Name, got, r.Value, r.Source)
			}
		}
		for _, name := range []string{"nope.phoenix.internal", "nope.example.com"} {
			if got := query(t, nsGuest, internalListen, name, "A"); got.Rcode != "NXDOMAIN" {
				t.Errorf("%s: got %+v, want NXDOMAIN", name, got)
			}
		}
	})

	t.Run("split horizon", func(t *testing.T) {
		for _, r := range l.records() {
			if r.View != "internal" {
				continue
			}
			got := query(t, nsExt, externalListen, r.Name, r.Type)
			for _, a := range got.Answers {
				if strings.HasPrefix(a, "10.") || strings.HasPrefix(a, "192.168.") {
					t.Errorf("external client got the internal answer %s for %s", a, r.Name)
				}
			}
			if r.Name == "www.example.com" && !answers(got, "203.0.113.10") {
				t.Errorf("external www.example.com: got %+v", got)
			}
			if strings.HasSuffix(r.Name, ".phoenix.internal") && got.Rcode != "NXDOMAIN" {
				t.Errorf("external %s: got %+v, want NXDOMAIN", r.Name, got)
			}
		}
		if got := query(t, nsGuest, internalListen, "www.example.com", "A"); !answers(got, "10.0.0.101") {
			t.Errorf("internal www.example.com: got %+v", got)
		}
		// The external client cannot reach the internal view at all.
		if got := query(t, nsExt, internalListen, "ca.phoenix.internal", "A"); got.Err == "" {
			t.Errorf("the external client reached the internal address: %+v", got)
		}
	})

	t.Run("hot reload", func(t *testing.T) {
		pid := l.pid("dnsmasq")
		l.editJSON("phoenix_lxc_configs.json", func(m map[string]any) { addRecord(m, "101", "new.phoenix.internal") })
		out := l.converge()
		if strings.Contains(out, "restart") || strings.Contains(out, "reload") || !strings.Contains(out, "update  file:/etc/dnsmasq.d/phoenix/internal.hosts.d/records") {
			t.Fatalf("a record change should only rewrite the hostsdir file:\n%s", out)
		}
		if got := eventually(t, nsGuest, internalListen, "new.phoenix.internal", func(r dns.Result) bool { return answers(r, "10.0.0.101") }); !answers(got, "10.0.0.101") {
			t.Fatalf("new.phoenix.internal: got %+v", got)
		}
		if now := l.pid("dnsmasq"); now != pid {
			t.Fatalf("dnsmasq restarted: PID %s -> %s", pid, now)
		}
		if out := l.converge(); !strings.Contains(out, "0 changed") {
			t.Fatalf("second run:\n%s", out)
		}
	})

	t.Run("stale daemon", func(t *testing.T) {
		// A conf file newer than the running daemon (a restart that failed
		// after the write) is restarted by the next run, not forgotten.
		conf := filepath.Join(l.root, dnsmasq.ConfPath("internal"))
		now := time.Now()
		if err := os.Chtimes(conf, now, now.Add(time.Minute)); err != nil {
			t.Fatal(err)
		}
		code, out := l.phoenixRun("--dry-run", "scripts/dns_server.star")
		if code != 0 || !strings.Contains(out, "restart  dnsmasq:dnsmasq ") ||
			!strings.Contains(out, "systemctl restart dnsmasq: running since before /etc/dnsmasq.d/10-phoenix.conf was written") ||
			strings.Contains(out, "dnsmasq:dnsmasq@external") {
			t.Fatalf("want a restart of the internal view only (exit %d):\n%s", code, out)
		}
		if err := os.Chtimes(conf, now, now.Add(-time.Hour)); err != nil {
			t.Fatal(err)
		}
		if code, out := l.phoenixRun("--dry-run", "scripts/dns_server.star"); code != 0 || !strings.Contains(out, "0 changed") {
			t.Fatalf("exit %d:\n%s", code, out)
		}
	})

	t.Run("sighup", func(t *testing.T) {
		// addn-hosts files: the switch restarts (the test does it), a
		// record change then is a SIGHUP that the real backend sends.
		l.converge("--sim", "--var", "hosts=addn-hosts")
		l.restart()
		pid := l.pid("dnsmasq")
		l.editJSON("phoenix_lxc_configs.json", func(m map[string]any) { addRecord(m, "102", "hup.phoenix.internal") })
		if got := query(t, nsGuest, internalListen, "hup.phoenix.internal", "A"); got.Rcode != "NXDOMAIN" {
			t.Fatalf("before: %+v", got)
		}
		out := l.converge("--var", "hosts=addn-hosts")
		if !strings.Contains(out, "reload  dnsmasq:dnsmasq ") || strings.Contains(out, "restart") {
			t.Fatalf("want a reload and no restart:\n%s", out)
		}
		if got := eventually(t, nsGuest, internalListen, "hup.phoenix.internal", func(r dns.Result) bool { return answers(r, "10.0.0.102") }); !answers(got, "10.0.0.102") {
			t.Fatalf("hup.phoenix.internal: got %+v", got)
		}
		if now := l.pid("dnsmasq"); now != pid {
			t.Fatalf("dnsmasq restarted: PID %s -> %s", pid, now)
		}
		// Back to the hostsdir for the checks below.
		l.converge("--sim")
		l.restart()
	})

	t.Run("guest view", func(t *testing.T) {
		code, out := l.phoenixRun("--guest-netns", "pxd-g{vmid}", "scripts/checks/check_dns_resolution.star")
		if code != 0 {
			t.Fatalf("check exited %d:\n%s", code, out)
		}
		for _, want := range []string{"dns A ca.phoenix.internal            host     ok", "dns A ca.phoenix.internal            lxc:101  ok", "dns A new.phoenix.internal"} {
			if !strings.Contains(out, want) {
				t.Fatalf("no %q in:\n%s", want, out)
			}
		}
		if strings.Contains(out, " fail ") {
			t.Fatalf("a check failed:\n%s", out)
		}

		l.stop("dnsmasq")
		code, out = l.phoenixRun("--guest-netns", "pxd-g{vmid}", "scripts/checks/check_dns_resolution.star")
		if code != 3 {
			t.Fatalf("with dnsmasq stopped the check exited %d, want 3:\n%s", code, out)
		}
		for _, want := range []string{
			"dns A ca.phoenix.internal            host     fail    no answer from 10.0.0.1:53",
			"dns A ca.phoenix.internal            lxc:101  fail    getent hosts ca.phoenix.internal exited 2: not found",
		} {
			if !strings.Contains(out, want) {
				t.Fatalf("no %q in:\n%s", want, out)
			}
		}
	})
}

// TestInjection: a name carrying a line break and a dnsmasq directive, in
// any of the three files, stops the run naming the file, and nothing under
// the root changes.
func TestInjection(t *testing.T) {
	repo := testkit.RepoDir(t)
	phoenix := phoenixBinary(t)
	const evil = "evil.phoenix.internal\nconf-file=/etc/shadow"
	for _, c := range []struct {
		file, field string
		edit        func(m map[string]any)
	}{
		{site.HypervisorFile, `dns.zones["phoenix.internal"].internal[2].name`, func(m map[string]any) {
			z := m["dns"].(map[string]any)["zones"].(map[string]any)["phoenix.internal"].(map[string]any)
			z["internal"] = append(z["internal"].([]any), map[string]any{"name": evil, "address": "10.0.0.9"})
		}},
		{site.VMFile, "1001.dns_records[1].name", func(m map[string]any) { addRecord(m, "1001", evil) }},
		{site.LXCFile, "103.dns_records[1].name", func(m map[string]any) { addRecord(m, "103", evil) }},
	} {
		t.Run(c.file, func(t *testing.T) {
			dir := t.TempDir()
			l := &lab{t: t, repo: repo, phoenix: phoenix, config: filepath.Join(dir, "config"), root: filepath.Join(dir, "root")}
			if err := os.CopyFS(l.config, os.DirFS(filepath.Join(repo, "config"))); err != nil {
				t.Fatal(err)
			}
			l.converge("--sim")
			before, err := testkit.Tree(l.root)
			if err != nil {
				t.Fatal(err)
			}
			l.editJSON(c.file, c.edit)
			cmd := exec.Command(phoenix, "exec", "--sim", "--root", l.root, "--config", l.config, "scripts/dns_server.star")
			cmd.Dir = repo
			out, err := cmd.CombinedOutput()
			if err == nil {
				t.Fatalf("the run succeeded:\n%s", out)
			}
			if !bytes.Contains(out, []byte(c.file+": "+c.field+": must not contain control characters")) {
				t.Fatalf("the error does not name the file and the name:\n%s", out)
			}
			after, err := testkit.Tree(l.root)
			if err != nil {
				t.Fatal(err)
			}
			// The site lock records each run; it is not the run's work.
			for _, tree := range []map[string]string{before, after} {
				for k := range tree {
					if strings.HasPrefix(k, "run/lock/") {
						delete(tree, k)
					}
				}
			}
			if d := testkit.TreeDiff(before, after); d != "" {
				t.Fatalf("the root changed:\n%s", d)
			}
		})
	}
}
