package pve_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"phoenix/internal/pve"
	"phoenix/internal/pvesim"
	"phoenix/internal/pvesim/pvesimtest"
	"phoenix/internal/testkit"
)

const (
	testToken    = "root@pam!phoenix=5c1d2a6e-0d63-4f7c-9a51-3f0f3c8b9b11"
	testPassword = "sim-root-password"
	template     = "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"
)

type simEnv struct {
	*pvesimtest.Sim
	certPEMPath string
}

func startSim(t *testing.T, o pvesim.Options) *simEnv {
	t.Helper()
	if o.Tokens == nil {
		o.Tokens = []string{testToken}
	}
	if o.RootPassword == "" {
		o.RootPassword = testPassword
	}
	s := pvesimtest.Start(t, o)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, s.CertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	return &simEnv{Sim: s, certPEMPath: ca}
}

func rootLogin() pve.Auth { return pve.Auth{User: "root@pam", Password: testPassword} }

func tokenAuth(t *testing.T) pve.Auth {
	a, err := pve.ParseToken(testToken)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func lxcSpec(vmid int) *pve.LXCSpec {
	return &pve.LXCSpec{
		VMID: vmid, Node: "pve", Hostname: "ct" + itoa(vmid), Template: template,
		RootFSStorage: "local-zfs", RootFSSizeGB: 4, MemoryMB: 512, SwapMB: 256, Cores: 1,
		Net0:       "name=eth0,bridge=vmbr0,ip=10.0.0." + itoa(vmid%200) + "/24,gw=10.0.0.1,firewall=1",
		Nameserver: "10.0.0.1", Searchdomain: "phoenix.internal", Features: "nesting=1",
		Unprivileged: true, OnBoot: true,
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func create(t *testing.T, c *pve.Client, s *pve.LXCSpec) pve.Guest {
	t.Helper()
	g, err := c.CreateLXC(context.Background(), s.Node, s.VMID, s.CreateConfig())
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func plan(t *testing.T, c *pve.Client, s *pve.LXCSpec) *pve.Plan {
	t.Helper()
	p, err := c.PlanLXC(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func apply(t *testing.T, c *pve.Client, p *pve.Plan) {
	t.Helper()
	set, del := p.Split()
	if err := c.Configure(context.Background(), p.Guest, set, del); err != nil {
		t.Fatal(err)
	}
}

func TestCreateThenConvergedAndSingleKeyUpdate(t *testing.T) {
	e := startSim(t, pvesim.Options{})
	c := e.Connect(t, rootLogin(), pvesimtest.Fast)
	s := lxcSpec(101)
	s.MountPoints = []pve.MountPoint{{HostPath: "/mnt/pve/data/101/certs", ContainerPath: "/etc/nginx/certs"},
		{HostPath: "/mnt/pve/data/103/export", ContainerPath: "/etc/nginx/ca", ReadOnly: true}}
	if p := plan(t, c, s); p.Exists {
		t.Fatalf("plan of a missing container says it exists: %+v", p)
	}
	create(t, c, s)

	p := plan(t, c, s)
	if !p.Exists || len(p.Changes) != 0 {
		t.Fatalf("after create, plan = %+v, changes %v; want converged", p, p.Changes)
	}

	s.MemoryMB = 1024
	p = plan(t, c, s)
	if got := p.Detail(); got != "memory: 512 -> 1024" {
		t.Fatalf("detail = %q, want only memory", got)
	}
	apply(t, c, p)
	if p := plan(t, c, s); len(p.Changes) != 0 {
		t.Fatalf("after update, changes %v", p.Changes)
	}
	e.Server.ResetRequests()
	plan(t, c, s)
	if n := pvesimtest.Writes(e.Server.Requests()); n != 0 {
		t.Fatalf("a converged plan made %d writes: %v", n, e.Server.Requests())
	}
}

func TestNetworkUpdateKeepsMAC(t *testing.T) {
	e := startSim(t, pvesim.Options{})
	c := e.Connect(t, rootLogin(), pvesimtest.Fast)
	s := lxcSpec(110)
	g := create(t, c, s)
	st, err := c.ReadState(context.Background(), g)
	if err != nil {
		t.Fatal(err)
	}
	mac := pve.ParseProp(pve.LXC, "net0", st.Current["net0"])["hwaddr"]
	if mac == "" {
		t.Fatalf("no hwaddr in %q", st.Current["net0"])
	}
	s.Net0 = strings.Replace(s.Net0, "ip=10.0.0.110/24", "ip=10.0.0.210/24", 1)
	p := plan(t, c, s)
	if len(p.Changes) != 1 || p.Changes[0].Key != "net0" || !strings.Contains(p.Changes[0].New, "hwaddr="+mac) {
		t.Fatalf("changes = %v; want net0 keeping hwaddr=%s", p.Changes, mac)
	}
	apply(t, c, p)
	st, err = c.ReadState(context.Background(), g)
	if err != nil {
		t.Fatal(err)
	}
	if got := pve.ParseProp(pve.LXC, "net0", st.Current["net0"])["hwaddr"]; got != mac {
		t.Fatalf("hwaddr changed: %s -> %s", mac, got)
	}
}

func TestMountPointOnRunningContainerIsPending(t *testing.T) {
	e := startSim(t, pvesim.Options{})
	c := e.Connect(t, rootLogin(), pvesimtest.Fast)
	ctx := context.Background()
	s := lxcSpec(103)
	g := create(t, c, s)
	if _, err := c.Power(ctx, g, pve.Start, nil); err != nil {
		t.Fatal(err)
	}
	s.MountPoints = []pve.MountPoint{{HostPath: "/mnt/pve/data/103/ssl", ContainerPath: "/etc/step-ca/ssl"}}
	p := plan(t, c, s)
	if !p.PendingRestart || p.Detail() != "mp0: (unset) -> /mnt/pve/data/103/ssl,mp=/etc/step-ca/ssl" {
		t.Fatalf("plan = %q pending %v; want mp0 added, pending restart", p.Detail(), p.PendingRestart)
	}
	apply(t, c, p)

	p = plan(t, c, s)
	if len(p.Changes) != 0 || strings.Join(p.StillPending, ",") != "mp0" {
		t.Fatalf("next plan: changes %v, still pending %v; want none and mp0", p.Changes, p.StillPending)
	}
	// A hot option changes at once, even while mp0 waits.
	s.MemoryMB = 768
	p = plan(t, c, s)
	if p.PendingRestart || p.Detail() != "memory: 512 -> 768" {
		t.Fatalf("memory plan = %q pending %v", p.Detail(), p.PendingRestart)
	}
	apply(t, c, p)

	if _, err := c.Power(ctx, p.Guest, pve.Reboot, nil); err != nil {
		t.Fatal(err)
	}
	p = plan(t, c, s)
	if len(p.Changes) != 0 || len(p.StillPending) != 0 {
		t.Fatalf("after reboot: changes %v, pending %v", p.Changes, p.StillPending)
	}
	// Removing the mount point on the running container is pending too.
	s.MountPoints = nil
	p = plan(t, c, s)
	if !p.PendingRestart || len(p.Changes) != 1 || p.Changes[0].New != "" {
		t.Fatalf("removal plan = %q pending %v", p.Detail(), p.PendingRestart)
	}
}

func TestFailedTaskSurfacesLog(t *testing.T) {
	e := startSim(t, pvesim.Options{})
	e.Server.Faults().FailTask("vzcreate", 104, "unable to unpack archive: exit code 2",
		[]string{"tar: ./usr/bin/perl: Cannot write: No space left on device"}, 1)
	c := e.Connect(t, rootLogin(), pvesimtest.Fast)
	s := lxcSpec(104)
	_, err := c.CreateLXC(context.Background(), s.Node, s.VMID, s.CreateConfig())
	var te *pve.TaskError
	if !errors.As(err, &te) {
		t.Fatalf("err = %v (%T), want a *pve.TaskError", err, err)
	}
	msg := err.Error()
	for _, want := range []string{"create lxc:104", "unable to unpack archive: exit code 2", "No space left on device", "TASK ERROR"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error lacks %q:\n%s", want, msg)
		}
	}
	// The failed create left nothing behind; a retry works.
	if _, ok, _ := c.Guest(context.Background(), 104); ok {
		t.Fatal("failed create is in the inventory")
	}
	create(t, c, s)
}

func TestLockTimeoutsAreRetried(t *testing.T) {
	e := startSim(t, pvesim.Options{})
	c := e.Connect(t, rootLogin(), pvesimtest.Fast)
	s := lxcSpec(105)
	create(t, c, s)
	e.Server.Faults().LockTimeout(105, 3)
	e.Server.ResetRequests()
	s.Cores = 2
	apply(t, c, plan(t, c, s))
	if n := e.Server.Requests()["PUT /nodes/{node}/lxc/{vmid}/config"]; n != 4 {
		t.Fatalf("PUT config requests = %d, want 3 refused + 1", n)
	}
	if p := plan(t, c, s); len(p.Changes) != 0 {
		t.Fatalf("cores not applied: %v", p.Changes)
	}

	// More lock timeouts than attempts: the error is PVE's.
	e.Server.Faults().LockTimeout(105, 100)
	s.Cores = 3
	set, del := plan(t, c, s).Split()
	err := c.Configure(context.Background(), plan(t, c, s).Guest, set, del)
	if !pve.IsLockTimeout(err) {
		t.Fatalf("err = %v, want the lock timeout after %d attempts", err, pvesimtest.Fast.LockRetry.Attempts)
	}
}

func TestServerErrorOnReadIsRetried(t *testing.T) {
	e := startSim(t, pvesim.Options{})
	e.Server.Faults().HTTPError("GET", "/cluster/resources", 500, 2)
	c := e.Connect(t, rootLogin(), pvesimtest.Fast)
	if _, err := c.Guests(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := e.Server.Requests()["GET /cluster/resources"]; n != 3 {
		t.Fatalf("GET /cluster/resources = %d requests, want 2 failed + 1", n)
	}
	// A read that keeps failing gives up with PVE's message.
	e.Server.Faults().Add(pvesim.Fault{Kind: pvesim.FaultHTTP, Method: "GET", Path: "/nodes", Status: 503, Message: "service unavailable for maintenance"})
	_, err := c.Nodes(context.Background())
	if err == nil || !strings.Contains(err.Error(), "503 service unavailable for maintenance") {
		t.Fatalf("err = %v", err)
	}
	if n := e.Server.Requests()["GET /nodes"]; n != pvesimtest.Fast.Retry.Attempts {
		t.Fatalf("GET /nodes = %d requests, want %d", n, pvesimtest.Fast.Retry.Attempts)
	}
}

func TestNonIdempotentWriteIsNotRetried(t *testing.T) {
	e := startSim(t, pvesim.Options{})
	c := e.Connect(t, rootLogin(), pvesimtest.Fast)
	ctx := context.Background()
	g := create(t, c, lxcSpec(106))
	e.Server.Faults().HTTPError("POST", "/nodes/{node}/lxc/{vmid}/status/start", 500, 1)
	if _, err := c.Power(ctx, g, pve.Start, nil); err == nil {
		t.Fatal("start succeeded through an injected 500")
	}
	if n := e.Server.Requests()["POST /nodes/{node}/lxc/{vmid}/status/start"]; n != 1 {
		t.Fatalf("start was sent %d times; a start must not be repeated blindly", n)
	}
	// A config PUT is idempotent: repeated.
	e.Server.Faults().HTTPError("PUT", "/nodes/{node}/lxc/{vmid}/config", 502, 1)
	if err := c.Configure(ctx, g, pve.Config{"cores": "2"}, nil); err != nil {
		t.Fatal(err)
	}
	if n := e.Server.Requests()["PUT /nodes/{node}/lxc/{vmid}/config"]; n != 2 {
		t.Fatalf("PUT config sent %d times, want 2", n)
	}
}

func TestCancellationStopsWait(t *testing.T) {
	e := startSim(t, pvesim.Options{})
	c := e.Connect(t, rootLogin(), pvesimtest.Fast)
	g := create(t, c, lxcSpec(107))
	e.Server.Faults().HangTask("vzstart", 107, 1)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(150*time.Millisecond, cancel)
	start := time.Now()
	_, err := c.Power(ctx, g, pve.Start, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("wait took %s after cancellation", d)
	}
	if !strings.Contains(err.Error(), "stopped waiting for task UPID:pve:") {
		t.Fatalf("err = %v; want the task named", err)
	}
}

func TestWaitTimeout(t *testing.T) {
	e := startSim(t, pvesim.Options{})
	o := pvesimtest.Fast
	o.TaskTimeout = 100 * time.Millisecond
	c := e.Connect(t, rootLogin(), o)
	g := create(t, c, lxcSpec(108))
	e.Server.Faults().HangTask("vzstart", 108, 1)
	_, err := c.Power(context.Background(), g, pve.Start, nil)
	if !errors.Is(err, pve.ErrTaskTimeout) {
		t.Fatalf("err = %v, want ErrTaskTimeout", err)
	}
}

func TestBindMountWithTokenNamesRemedy(t *testing.T) {
	e := startSim(t, pvesim.Options{})
	c := e.Connect(t, tokenAuth(t), pvesimtest.Fast)
	s := lxcSpec(109)
	s.MountPoints = []pve.MountPoint{{HostPath: "/mnt/pve/data/109/x", ContainerPath: "/x"}}
	_, err := c.CreateLXC(context.Background(), s.Node, s.VMID, s.CreateConfig())
	if err == nil {
		t.Fatal("a token created a bind mount")
	}
	var ae *pve.APIError
	if !errors.As(err, &ae) || ae.Status != 403 {
		t.Fatalf("err = %v, want a 403 APIError", err)
	}
	for _, want := range []string{"mount point type bind is only allowed for root@pam", "root@pam login", pve.EnvPassword} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestCreatesSerialisedPerNode(t *testing.T) {
	const d = 100 * time.Millisecond
	e := startSim(t, pvesim.Options{Nodes: 2, TaskDuration: d})
	c := e.Connect(t, rootLogin(), pvesimtest.Fast)
	run := func(specs []*pve.LXCSpec) time.Duration {
		start := time.Now()
		errs := make(chan error, len(specs))
		for _, s := range specs {
			go func(s *pve.LXCSpec) {
				_, err := c.CreateLXC(context.Background(), s.Node, s.VMID, s.CreateConfig())
				errs <- err
			}(s)
		}
		for range specs {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		return time.Since(start)
	}
	var same []*pve.LXCSpec
	for i := 0; i < 3; i++ {
		same = append(same, lxcSpec(200+i))
	}
	if got := run(same); got < 3*d {
		t.Fatalf("3 creates on one node took %s; serialised they take at least %s", got, 3*d)
	}
	a, b := lxcSpec(300), lxcSpec(301)
	b.Node = "pve2"
	// One after the other they would take 2d; overlapping, d and a poll.
	if got := run([]*pve.LXCSpec{a, b}); got >= 2*d-d/5 {
		t.Fatalf("creates on two nodes took %s; they should overlap", got)
	}
}

func TestTemplateDownload(t *testing.T) {
	e := startSim(t, pvesim.Options{})
	c := e.Connect(t, rootLogin(), pvesimtest.Fast)
	ctx := context.Background()
	const alpine = "local:vztmpl/alpine-3.22-default_20250617_amd64.tar.xz"
	if ok, err := c.HasTemplate(ctx, "pve", template); err != nil || !ok {
		t.Fatalf("seeded template: %v %v", ok, err)
	}
	if ok, err := c.HasTemplate(ctx, "pve", alpine); err != nil || ok {
		t.Fatalf("alpine before download: %v %v", ok, err)
	}
	if err := c.EnsureTemplate(ctx, "pve", alpine); err != nil {
		t.Fatal(err)
	}
	if ok, err := c.HasTemplate(ctx, "pve", alpine); err != nil || !ok {
		t.Fatalf("alpine after download: %v %v", ok, err)
	}
	s := lxcSpec(111)
	s.Template = alpine
	create(t, c, s)
}

func TestProgressOnLongWaits(t *testing.T) {
	e := startSim(t, pvesim.Options{TaskDuration: 400 * time.Millisecond})
	var buf testkit.SyncBuffer
	o := pvesimtest.Fast
	o.Progress = &buf
	o.ProgressAfter = 100 * time.Millisecond
	c := e.Connect(t, rootLogin(), o)
	create(t, c, lxcSpec(112))
	out := buf.String()
	if !strings.Contains(out, "\r\x1b[Kcreate lxc:112: 0s: ") {
		t.Fatalf("progress = %q; want the task, its last log line and the time elapsed", out)
	}
	if !strings.HasSuffix(out, "\r\x1b[K") {
		t.Fatalf("progress line not cleared at the end: %q", out)
	}
	// Short waits show nothing.
	buf.Reset()
	o.ProgressAfter = time.Hour
	c = e.Connect(t, rootLogin(), o)
	create(t, c, lxcSpec(113))
	if buf.String() != "" {
		t.Fatalf("short wait printed %q", buf.String())
	}
}

// A read that gets no answer within the request timeout is retried like a
// 5xx; one that never answers names the endpoint, the timeout and the
// attempts.
func TestReadTimeoutIsRetried(t *testing.T) {
	e := startSim(t, pvesim.Options{})
	o := pvesimtest.Fast
	o.RequestTimeout = 100 * time.Millisecond
	c := e.Connect(t, rootLogin(), o)
	e.Server.Faults().Delay("GET", "/cluster/resources", time.Second, 2)
	e.Server.ResetRequests()
	if _, err := c.Guests(context.Background()); err != nil {
		t.Fatalf("a read that timed out twice was not retried: %v", err)
	}
	if n := e.Server.Requests()["GET /cluster/resources"]; n != 3 {
		t.Fatalf("GET /cluster/resources = %d requests, want 2 timed out + 1", n)
	}
	e.Server.Faults().Delay("GET", "/nodes", time.Second, 0)
	_, err := c.Nodes(context.Background())
	for _, want := range []string{"GET /nodes: ", "no answer within 100ms", fmt.Sprintf("gave up after %d attempts", o.Retry.Attempts)} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want %q in it", err, want)
		}
	}
	if err != nil && strings.Contains(err.Error(), "outcome unknown") {
		t.Errorf("a read says its outcome is unknown: %v", err)
	}
}

// A change that gets a 5xx or no answer is not repeated, and the error
// says that its outcome is unknown and the next run reconciles it.
func TestWriteFailureOutcomeUnknown(t *testing.T) {
	e := startSim(t, pvesim.Options{})
	o := pvesimtest.Fast
	o.RequestTimeout = 100 * time.Millisecond
	c := e.Connect(t, rootLogin(), o)
	ctx := context.Background()
	g := create(t, c, lxcSpec(111))
	for name, inject := range map[string]func(){
		"500":     func() { e.Server.Faults().HTTPError("POST", "/nodes/{node}/lxc/{vmid}/status/start", 500, 1) },
		"timeout": func() { e.Server.Faults().Delay("POST", "/nodes/{node}/lxc/{vmid}/status/start", time.Second, 1) },
	} {
		e.Server.ResetRequests()
		inject()
		_, err := c.Power(ctx, g, pve.Start, nil)
		if err == nil {
			t.Fatalf("%s: start succeeded through the fault", name)
		}
		for _, want := range []string{"start lxc:111", "POST /nodes/pve/lxc/111/status/start", "outcome unknown", "did not repeat it", "next run"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%s: error lacks %q:\n%v", name, want, err)
			}
		}
		if n := e.Server.Requests()["POST /nodes/{node}/lxc/{vmid}/status/start"]; n != 1 {
			t.Errorf("%s: start sent %d times, want once", name, n)
		}
	}
	// With the fault gone, the next attempt converges.
	if _, err := c.Power(ctx, g, pve.Start, nil); err != nil {
		t.Fatal(err)
	}
}

// A guest another operation holds locked is refused with PVE's words, the
// lock's name and the way out; phoenix does not wait for it, and a later
// run goes through.
func TestLockedGuestIsNamed(t *testing.T) {
	e := startSim(t, pvesim.Options{})
	c := e.Connect(t, rootLogin(), pvesimtest.Fast)
	ctx := context.Background()
	s := lxcSpec(112)
	create(t, c, s)
	e.Server.Faults().Locked(112, "backup", 1)
	e.Server.ResetRequests()
	s.Cores = 2
	p := plan(t, c, s)
	set, del := p.Split()
	err := c.Configure(ctx, p.Guest, set, del)
	if !pve.IsLocked(err) {
		t.Fatalf("err = %v, want PVE's lock refusal (set %v, del %v, requests %v)", err, set, del, e.Server.Requests())
	}
	for _, want := range []string{"CT 112 is locked (backup)", "another operation (backup)", "pct unlock 112", "nothing changed"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "outcome unknown") {
		t.Errorf("a refused change says its outcome is unknown: %v", err)
	}
	if n := e.Server.Requests()["PUT /nodes/{node}/lxc/{vmid}/config"]; n != 1 {
		t.Fatalf("PUT config sent %d times; a held lock is not waited for", n)
	}
	apply(t, c, plan(t, c, s))
	if p := plan(t, c, s); len(p.Changes) != 0 {
		t.Fatalf("after the lock is gone: %v", p.Changes)
	}
}
