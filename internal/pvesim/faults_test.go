package pvesim

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	proxmox "github.com/luthermonson/go-proxmox"
)

func TestFaultHTTPError(t *testing.T) {
	s := startSim(t, Options{})
	c := s.tokenClient()
	createCT(t, c, 103)
	s.Faults().HTTPError("GET", "/nodes/{node}/lxc/{vmid}/config", 0, 1)
	_, err := node(t, c, "pve").Container(context.Background(), 103)
	errContains(t, err, "500 simulated failure")
	if _, err := node(t, c, "pve").Container(context.Background(), 103); err != nil {
		t.Fatalf("fault fired more than once: %v", err)
	}
	// A glob over the concrete path, with a chosen status and message.
	s.Faults().Add(Fault{Kind: FaultHTTP, Path: "/nodes/*/lxc/103/status/*", Status: 503, Message: "proxy gone"})
	for i := 0; i < 2; i++ {
		r := s.raw(t, "POST", "/nodes/pve/lxc/103/status/start", nil, nil, tokenAuth)
		if r.status != 503 || r.reason != "proxy gone" {
			t.Fatalf("glob fault: %d %q", r.status, r.reason)
		}
	}
	if r := s.get(t, "/nodes/pve/lxc/103/config"); r.status != 200 {
		t.Errorf("unrelated path hit: %d", r.status)
	}
	s.Faults().Clear()
	if r := s.raw(t, "POST", "/nodes/pve/lxc/103/status/start", nil, nil, tokenAuth); r.status != 200 {
		t.Errorf("after Clear: %d %s", r.status, r.reason)
	}
}

func TestFaultDelay(t *testing.T) {
	s := startSim(t, Options{})
	c := s.tokenClient()
	s.Faults().Delay("", "/version", 150*time.Millisecond, 1)
	start := time.Now()
	if _, err := c.Version(context.Background()); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("delayed answer came after %s", d)
	}
	start = time.Now()
	if _, err := c.Version(context.Background()); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("second answer still delayed: %s", d)
	}
	// A client timeout shorter than the delay fails.
	s.Faults().Delay("GET", "/nodes", time.Second, 1)
	short := proxmox.NewClient(s.url, proxmox.WithHTTPClient(s.HTTPClient()), proxmox.WithAPIToken(testTokenID, testSecret),
		proxmox.WithTimeout(50*time.Millisecond))
	if _, err := short.Nodes(context.Background()); err == nil {
		t.Error("slow answer did not time out the client")
	}
}

func TestFaultTaskFail(t *testing.T) {
	s := startSim(t, Options{TaskDuration: 10 * time.Millisecond})
	c := s.tokenClient()
	createCT(t, c, 103)
	ct, _ := node(t, c, "pve").Container(context.Background(), 103)
	s.Faults().FailTask("vzstart", 103, "startup for container '103' failed",
		[]string{"run_buffer: 571 Script exited with status 1", "lxc_init: 845 Failed to run lxc.hook.pre-start"}, 1)
	task, err := ct.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	// go-proxmox's trap: Wait returns nil for a failed task.
	if err := task.Wait(context.Background(), 5*time.Millisecond, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	if !task.IsFailed || task.ExitStatus != "startup for container '103' failed" {
		t.Fatalf("task: failed %v exit %q", task.IsFailed, task.ExitStatus)
	}
	log, err := task.Log(context.Background(), 0, 50)
	if err != nil {
		t.Fatal(err)
	}
	want := proxmox.Log{0: "run_buffer: 571 Script exited with status 1", 1: "lxc_init: 845 Failed to run lxc.hook.pre-start",
		2: "TASK ERROR: startup for container '103' failed"}
	if !reflect.DeepEqual(log, want) {
		t.Errorf("log = %v, want %v", log, want)
	}
	if err := ct.Ping(context.Background()); err != nil || ct.Status != "stopped" {
		t.Errorf("after failed start: %q %v", ct.Status, err)
	}
	wait(t, must(ct.Start(context.Background())))

	// A failed create leaves nothing behind.
	s.Faults().FailTask("vzcreate", 0, "unable to unpack archive", nil, 1)
	task, err = node(t, c, "pve").NewContainer(context.Background(), 104,
		proxmox.ContainerOption{Name: "ostemplate", Value: testTemplate}, proxmox.ContainerOption{Name: "rootfs", Value: "local-zfs:8"})
	if err != nil {
		t.Fatal(err)
	}
	task.Wait(context.Background(), 5*time.Millisecond, 5*time.Second)
	if task.ExitStatus != "unable to unpack archive" {
		t.Fatalf("create exit %q", task.ExitStatus)
	}
	if _, err := node(t, c, "pve").Container(context.Background(), 104); err == nil {
		t.Error("failed create left the container")
	}
	if r := s.get(t, "/nodes/pve/storage/local-zfs/content?vmid=104"); len(r.data().([]any)) != 0 {
		t.Errorf("failed create left volumes: %v", r.data())
	}
}

func TestFaultLockTimeout(t *testing.T) {
	s := startSim(t, Options{})
	c := s.tokenClient()
	createCT(t, c, 103)
	ct, _ := node(t, c, "pve").Container(context.Background(), 103)
	s.Faults().LockTimeout(103, 2)
	var errs []error
	for i := 0; i < 5; i++ {
		_, err := ct.Config(context.Background(), proxmox.ContainerOption{Name: "cores", Value: 2})
		if err == nil {
			break
		}
		errs = append(errs, err)
	}
	if len(errs) != 2 {
		t.Fatalf("want 2 lock timeouts then success, got %v", errs)
	}
	for _, err := range errs {
		errContains(t, err, "500 can't lock file '/run/lock/lxc/pve-config-103.lock' - got timeout")
	}
	if err := ct.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Creates lock the new VMID too.
	s.Faults().LockTimeout(200, 1)
	_, err := node(t, c, "pve").NewVirtualMachine(context.Background(), 200)
	errContains(t, err, "can't lock file '/var/lock/qemu-server/lock-200.conf' - got timeout")
}

func TestFaultTaskHang(t *testing.T) {
	s := startSim(t, Options{TaskDuration: 5 * time.Millisecond})
	c := s.tokenClient()
	createCT(t, c, 103)
	ct, _ := node(t, c, "pve").Container(context.Background(), 103)
	s.Faults().HangTask("vzstart", 103, 1)
	task, err := ct.Start(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	err = task.Wait(context.Background(), 10*time.Millisecond, 150*time.Millisecond)
	if !errors.Is(err, proxmox.ErrTimeout) {
		t.Fatalf("hung task: %v", err)
	}
	// It keeps the guest locked.
	_, err = ct.Config(context.Background(), proxmox.ContainerOption{Name: "cores", Value: 2})
	errContains(t, err, "got timeout")
	if err := task.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := task.Ping(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !task.IsFailed || task.ExitStatus != "received interrupt" {
		t.Errorf("stopped task: %+v", task)
	}
	if _, err := ct.Config(context.Background(), proxmox.ContainerOption{Name: "cores", Value: 2}); err != nil {
		t.Errorf("lock not released: %v", err)
	}
	if ct.Ping(context.Background()); ct.Status != "stopped" {
		t.Errorf("interrupted start left status %q", ct.Status)
	}
}

func TestParseFault(t *testing.T) {
	good := map[string]Fault{
		"kind=http,method=put,path=/nodes/*/lxc/*/config,status=502,times=2,msg=bad, very bad": {
			Kind: FaultHTTP, Method: "PUT", Path: "/nodes/*/lxc/*/config", Status: 502, Times: 2, Message: "bad, very bad"},
		"kind=delay,path=/cluster/resources,delay=2s": {Kind: FaultDelay, Path: "/cluster/resources", Delay: 2 * time.Second},
		"kind=task-fail,type=vzcreate,vmid=103,log=one,log=two,msg=exit code 1": {
			Kind: FaultTaskFail, TaskType: "vzcreate", VMID: 103, Log: []string{"one", "two"}, Message: "exit code 1"},
		"kind=task-hang,type=vzstart":      {Kind: FaultTaskHang, TaskType: "vzstart"},
		"kind=lock-timeout,vmid=7,times=3": {Kind: FaultLockTimeout, VMID: 7, Times: 3},
	}
	for spec, want := range good {
		got, err := ParseFault(spec)
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("ParseFault(%q) = %+v, %v; want %+v", spec, got, err, want)
		}
	}
	bad := map[string]string{
		"":                         "missing kind",
		"kind=boom":                "unknown kind",
		"kind=delay":               "needs delay",
		"kind=http,status=200":     "not an HTTP error",
		"kind=http,colour=red":     "unknown key",
		"kind=lock-timeout,vmid=x": "vmid",
		"kind=http,times=-1":       "negative",
		"kind=http,oops":           "not key=value",
	}
	for spec, want := range bad {
		if _, err := ParseFault(spec); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseFault(%q) = %v, want error with %q", spec, err, want)
		}
	}
}
