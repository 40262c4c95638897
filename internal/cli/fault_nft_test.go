package cli_test

import (
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"phoenix/internal/testkit"
	"phoenix/runtime"
)

// nftFixture is a network namespace of its own, a copy of the site
// config, and the phoenix binary, for scripts/firewall.star against the
// real kernel (--sim --netns).
type nftFixture struct {
	t                *testing.T
	ns, bin, nft, ip string
	root, cfg, work  string
}

func newNftFixture(t *testing.T, ns string) *nftFixture {
	testkit.NeedRoot(t, "the test creates a network namespace and loads nftables rulesets")
	f := &nftFixture{t: t, ns: ns, ip: testkit.Tool(t, "ip"), nft: testkit.Tool(t, "nft")}
	f.bin = testkit.Phoenix(t)
	f.work = t.TempDir()
	f.root = filepath.Join(f.work, "root")
	f.cfg = filepath.Join(f.work, "config")
	exec.Command(f.ip, "netns", "del", ns).Run()
	if out, err := exec.Command(f.ip, "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v\n%s", ns, err, out)
	}
	t.Cleanup(func() { exec.Command(f.ip, "netns", "del", ns).Run() })
	repo, err := testkit.Repo()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(f.cfg, 0o755); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(filepath.Join(repo, "config"))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(repo, "config", e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(f.cfg, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return f
}

// editConfig replaces old with new in the hypervisor config, once.
func (f *nftFixture) editConfig(old, new string) {
	f.t.Helper()
	p := filepath.Join(f.cfg, "phoenix_hypervisor_config.json")
	b, err := os.ReadFile(p)
	if err != nil {
		f.t.Fatal(err)
	}
	if strings.Count(string(b), old) != 1 {
		f.t.Fatalf("%s holds %q %d times, want once", p, old, strings.Count(string(b), old))
	}
	if err := os.WriteFile(p, bytes.Replace(b, []byte(old), []byte(new), 1), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

// firewall runs scripts/firewall.star in the namespace; prefix (unshare
// and its arguments) runs phoenix under another command.
func (f *nftFixture) firewall(prefix ...string) (stdout, stderr string, code int) {
	f.t.Helper()
	repo, _ := testkit.Repo()
	argv := append(prefix, f.bin, "exec", "--sim", "--netns", f.ns, "--root", f.root, "--config", f.cfg, filepath.Join(repo, "scripts", "firewall.star"))
	cmd := exec.Command(argv[0], argv[1:]...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		f.t.Fatalf("%v: %v", argv, err)
	}
	return o.String(), e.String(), code
}

// table lists phoenix's live table in the namespace, "" when none.
func (f *nftFixture) table() string {
	f.t.Helper()
	out, err := exec.Command(f.ip, "netns", "exec", f.ns, f.nft, "list", "tables", "inet").CombinedOutput()
	if err != nil {
		f.t.Fatalf("nft list tables: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "table inet phoenix") {
		return ""
	}
	out, err = exec.Command(f.ip, "netns", "exec", f.ns, f.nft, "list", "table", "inet", "phoenix").CombinedOutput()
	if err != nil {
		f.t.Fatalf("nft list table inet phoenix: %v\n%s", err, out)
	}
	return string(out)
}

func (f *nftFixture) journal() string {
	f.t.Helper()
	b, err := os.ReadFile(filepath.Join(f.root, runtime.JournalPath))
	if err != nil {
		f.t.Fatal(err)
	}
	return string(b)
}

func mustContain(t *testing.T, what, text string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(text, w) {
			t.Errorf("%s lacks %q:\n%s", what, w, text)
		}
	}
}

// TestKernelRefusesRuleset has the kernel refuse phoenix's new table:
// the table phoenix applied is taken over by another process with
// nftables' owner flag (as a daemon that manages its own table does), and
// the kernel lets no other process replace an owned table. The run fails
// naming the table and the kernel's answer, the table in force stays
// whole (rule for rule what it was), the summary and the journal say what
// failed; once the owner is gone (the kernel drops an owned table with
// its owner) the rerun installs the new table and the run after it
// reports 0 changed.
func TestKernelRefusesRuleset(t *testing.T) {
	f := newNftFixture(t, "pf2-nftrefuse")
	if out, e, code := f.firewall(); code != 0 {
		t.Fatalf("first run exited %d:\n%s%s", code, out, e)
	}
	applied := f.table()
	if !strings.Contains(applied, `tcp dport 443 accept comment "flow 1: any -> 101 gateway tcp/443"`) {
		t.Fatalf("the applied table lacks flow 1:\n%s", applied)
	}

	// Another process takes the table over, rule for rule, in one batch.
	owned := strings.Replace(applied, "table inet phoenix {\n", "table inet phoenix {\n\tflags owner\n", 1)
	batch := filepath.Join(f.work, "owned.nft")
	if err := os.WriteFile(batch, []byte("delete table inet phoenix\n"+owned), 0o644); err != nil {
		t.Fatal(err)
	}
	holder := exec.Command(f.ip, "netns", "exec", f.ns, f.nft, "-i")
	in, err := holder.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var hout bytes.Buffer
	holder.Stdout, holder.Stderr = &hout, &hout
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { holder.Wait(); close(done) }()
	release := func() {
		in.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			holder.Process.Kill()
			<-done
		}
	}
	t.Cleanup(release)
	io.WriteString(in, `include "`+batch+`"`+"\n")
	var held string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if held = f.table(); strings.Contains(held, "flags owner") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the owner never held the table:\n%s\n%s", held, hout.String())
		}
	}

	// The site changes flow 1's port: phoenix would replace the table.
	f.editConfig(`"destination": 101, "proto": "tcp", "port": 443,`, `"destination": 101, "proto": "tcp", "port": 4443,`)
	out, errText, code := f.firewall()
	if code != 1 {
		t.Fatalf("the refused run exited %d:\n%s%s", code, out, errText)
	}
	mustContain(t, "stderr", errText,
		"nft.apply: the kernel refused the new table inet phoenix (19 rules): operation not permitted",
		"table inet phoenix is owned by another process (nftables' owner flag): only that process can change it, and the table goes when it ends",
		"the batch is all or nothing: the table in force was left as it was",
		"scripts/firewall.star:")
	if now := f.table(); now != held {
		t.Errorf("the table in force changed although the kernel refused the new one:\nbefore:\n%s\nafter:\n%s", held, now)
	}
	mustContain(t, "summary", out, "failed  update  nft:inet phoenix", "0 changed, 2 unchanged, 1 failed")
	mustContain(t, "journal", f.journal(), `"event":"failed",`, `"resource":"nft:inet phoenix","action":"update","error":"the kernel refused the new table inet phoenix (19 rules): operation not permitted`, `"event":"run-end"`)

	// The owner ends: the kernel drops its table; the rerun converges.
	release()
	if now := f.table(); now != "" {
		t.Fatalf("the owned table outlived its owner:\n%s", now)
	}
	out, errText, code = f.firewall()
	if code != 0 {
		t.Fatalf("the rerun exited %d:\n%s%s", code, out, errText)
	}
	if strings.Contains(errText, "interrupted") {
		t.Errorf("the rerun reports an unfinished change:\n%s", errText)
	}
	mustContain(t, "rerun summary", out, "applied  create  nft:inet phoenix", "1 changed, 2 unchanged")
	mustContain(t, "table after the rerun", f.table(), `tcp dport 4443 accept comment "flow 1: any -> 101 gateway tcp/4443"`)
	if out, _, _ := f.firewall(); !strings.Contains(out, "0 changed, 3 unchanged") {
		t.Errorf("the run after the rerun:\n%s", out)
	}
}

// TestSysctlWriteFails has the br_netfilter sysctl write fail for real:
// phoenix runs in a private mount namespace whose /proc/sys is a
// read-only bind mount. The run fails naming the sysctl and the cause
// before it touches the table, so the table in force stays what it was;
// the summary and the journal say what failed; the rerun, with /proc/sys
// writable again, sets the sysctls and replaces the table, and the run
// after it reports 0 changed.
func TestSysctlWriteFails(t *testing.T) {
	f := newNftFixture(t, "pf2-nftsysctl")
	unshare := testkit.Tool(t, "unshare")
	testkit.Tool(t, "mount")
	sysctl := testkit.Tool(t, "sysctl")
	if out, e, code := f.firewall(); code != 0 {
		t.Fatalf("first run exited %d:\n%s%s", code, out, e)
	}
	before := f.table()
	// br_netfilter's switches are off again, as after a reboot, and the
	// site changes a flow.
	if out, err := exec.Command(f.ip, "netns", "exec", f.ns, sysctl, "-w", "net.bridge.bridge-nf-call-iptables=0", "net.bridge.bridge-nf-call-ip6tables=0").CombinedOutput(); err != nil {
		t.Fatalf("sysctl -w: %v\n%s", err, out)
	}
	f.editConfig(`"destination": 101, "proto": "tcp", "port": 443,`, `"destination": 101, "proto": "tcp", "port": 4443,`)

	out, errText, code := f.firewall(unshare, "-m", "--propagation", "private", "sh", "-c", `mount --bind -o ro /proc/sys /proc/sys && exec "$@"`, "sh")
	if code != 1 {
		t.Fatalf("the run with a read-only /proc/sys exited %d:\n%s%s", code, out, errText)
	}
	mustContain(t, "stderr", errText,
		"nft.apply: set net.bridge.bridge-nf-call-iptables to 1: open /proc/sys/net/bridge/bridge-nf-call-iptables: read-only file system (without it the forward chain filters nothing between guests on a bridge; the table was not replaced)",
		"scripts/firewall.star:")
	mustContain(t, "summary", out, "failed  update  sysctl:net.bridge.bridge-nf-call-iptables  0 -> 1", "0 changed, 0 unchanged, 1 failed")
	if strings.Contains(out, "nft:inet phoenix") || strings.Contains(out, "ip6tables") {
		t.Errorf("the summary lists a change after the failure:\n%s", out)
	}
	if now := f.table(); now != before {
		t.Errorf("the table changed although the run stopped before it:\nbefore:\n%s\nafter:\n%s", before, now)
	}
	mustContain(t, "journal", f.journal(), `"event":"failed",`, `"resource":"sysctl:net.bridge.bridge-nf-call-iptables","action":"update","error":"set net.bridge.bridge-nf-call-iptables to 1: open /proc/sys/net/bridge/bridge-nf-call-iptables: read-only file system`)

	out, errText, code = f.firewall()
	if code != 0 {
		t.Fatalf("the rerun exited %d:\n%s%s", code, out, errText)
	}
	if strings.Contains(errText, "interrupted") {
		t.Errorf("the rerun reports an unfinished change:\n%s", errText)
	}
	mustContain(t, "rerun summary", out, "sysctl:net.bridge.bridge-nf-call-iptables", "sysctl:net.bridge.bridge-nf-call-ip6tables", "applied  update  nft:inet phoenix", "3 changed, 0 unchanged")
	mustContain(t, "table after the rerun", f.table(), `tcp dport 4443 accept`)
	for _, k := range []string{"net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-ip6tables"} {
		if b, err := exec.Command(f.ip, "netns", "exec", f.ns, sysctl, "-n", k).Output(); err != nil || strings.TrimSpace(string(b)) != "1" {
			t.Errorf("%s after the rerun: %q %v", k, b, err)
		}
	}
	if out, _, _ := f.firewall(); !strings.Contains(out, "0 changed, 3 unchanged") {
		t.Errorf("the run after the rerun:\n%s", out)
	}
}
