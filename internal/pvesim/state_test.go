package pvesim

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	proxmox "github.com/luthermonson/go-proxmox"
)

func TestPersistence(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "sim.json")
	s := startSim(t, Options{StateFile: state, Nodes: 2, TaskDuration: 5 * time.Millisecond})
	c := s.tokenClient()
	createCT(t, c, 103)
	ct, _ := node(t, c, "pve").Container(context.Background(), 103)
	wait(t, must(ct.Start(context.Background())))
	if _, err := ct.Config(context.Background(), proxmox.ContainerOption{Name: "mp1", Value: "local-zfs:1,mp=/later"}); err != nil {
		t.Fatal(err)
	}
	sum := strings.Repeat("ab", 32)
	if err := s.PushFile("pve", 103, "/etc/step-ca/ca.json", sum); err != nil {
		t.Fatal(err)
	}
	// A task still running when the simulator stops finishes after reload.
	s.Faults().HangTask("vzreboot", 103, 1)
	hung := must(ct.Reboot(context.Background()))
	before := s.get(t, "/nodes/pve/lxc/103/config").data().(map[string]any)
	s.Close()

	info, err := os.Stat(state)
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("state file: %v %v", info, err)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, ".*tmp*")); len(m) != 0 {
		t.Errorf("temporary files left: %v", m)
	}

	if _, err := New(Options{StateFile: state, Nodes: 3}); err == nil || !strings.Contains(err.Error(), "has 2 nodes") {
		t.Errorf("node count mismatch: %v", err)
	}
	s2 := startSim(t, Options{StateFile: state})
	c2 := s2.tokenClient()
	after := s2.get(t, "/nodes/pve/lxc/103/config").data().(map[string]any)
	for _, k := range []string{"digest", "mp0", "mp1", "net0", "rootfs"} {
		if before[k] != after[k] {
			t.Errorf("%s: %v before, %v after reload", k, before[k], after[k])
		}
	}
	if h, ok := s2.FileHash(103, "/etc/step-ca/ca.json"); !ok || h != sum {
		t.Errorf("pushed file hash after reload: %q %v", h, ok)
	}
	if got := s2.Nodes(); len(got) != 2 {
		t.Errorf("nodes after reload: %v", got)
	}
	// The hung reboot still holds the lock; stopping it releases it.
	ct2, _ := node(t, c2, "pve").Container(context.Background(), 103)
	_, err = ct2.Config(context.Background(), proxmox.ContainerOption{Name: "cores", Value: 1})
	errContains(t, err, "got timeout")
	task := proxmox.NewTask(hung.UPID, c2)
	if err := task.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := ct2.Config(context.Background(), proxmox.ContainerOption{Name: "cores", Value: 1}); err != nil {
		t.Fatal(err)
	}
	// New MACs do not repeat ones handed out before the restart.
	createCT(t, c2, 104)
	ct4, _ := node(t, c2, "pve").Container(context.Background(), 104)
	if ct4.ContainerConfig.Nets["net0"] == before["net0"] {
		t.Error("MAC reused after reload")
	}
}

func TestPushFile(t *testing.T) {
	s := startSim(t, Options{})
	c := s.tokenClient()
	createCT(t, c, 103)
	sum := strings.Repeat("0f", 32)
	if err := s.PushFile("pve", 103, "/x", sum); err == nil || !strings.Contains(err.Error(), "not running") {
		t.Errorf("push into a stopped container: %v", err)
	}
	ct, _ := node(t, c, "pve").Container(context.Background(), 103)
	wait(t, must(ct.Start(context.Background())))
	for _, bad := range []struct{ node, path, sum string }{
		{"pve2", "/x", sum}, {"pve", "relative", sum}, {"pve", "/x", "nothex"},
	} {
		if err := s.PushFile(bad.node, 103, bad.path, bad.sum); err == nil {
			t.Errorf("PushFile(%q, %q, %q) accepted", bad.node, bad.path, bad.sum)
		}
	}
	if err := s.PushFile("pve", 103, "/x", strings.ToUpper(sum)); err != nil {
		t.Fatal(err)
	}
	if h, ok := s.FileHash(103, "/x"); !ok || h != sum {
		t.Errorf("FileHash = %q, %v", h, ok)
	}
	if _, ok := s.FileHash(103, "/y"); ok {
		t.Error("hash of a file never pushed")
	}
	wait(t, must(ct.Delete(context.Background(), &proxmox.ContainerDeleteOptions{Force: true})))
	if _, ok := s.FileHash(103, "/x"); ok {
		t.Error("file hash survives the container")
	}
}

// TestConvergeLoad is the load the simulator must carry: 100 guests at
// concurrency 8 with 20 ms tasks, through the real client.
func TestConvergeLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("load test skipped in -short mode")
	}
	s := startSim(t, Options{TaskDuration: 20 * time.Millisecond, StateFile: filepath.Join(t.TempDir(), "state.json")})
	c := s.tokenClient()
	n := node(t, c, "pve")
	ids := make(chan int)
	errs := make(chan error, 100)
	var wg sync.WaitGroup
	start := time.Now()
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for id := range ids {
				errs <- converge(n, id)
			}
		}()
	}
	for id := 1000; id < 1100; id++ {
		ids <- id
	}
	close(ids)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	elapsed := time.Since(start)
	res, _ := c.Cluster(context.Background())
	vms, err := res.Resources(context.Background(), "vm")
	if err != nil || len(vms) != 101 { // and the seeded template
		t.Fatalf("resources: %d %v", len(vms), err)
	}
	for _, v := range vms {
		if v.Template == 1 {
			continue
		}
		if v.Status != "running" {
			t.Errorf("%s is %s", v.ID, v.Status)
		}
	}
	got := s.Requests()
	if got["POST /nodes/{node}/lxc"] != 100 || got["POST /nodes/{node}/lxc/{vmid}/status/start"] != 100 {
		t.Errorf("request counts: %v", got)
	}
	t.Logf("100 guests converged in %s", elapsed)
	if elapsed > 20*time.Second {
		t.Errorf("converge took %s", elapsed)
	}
}

func converge(n *proxmox.Node, id int) error {
	ctx := context.Background()
	task, err := n.NewContainer(ctx, id, proxmox.ContainerOption{Name: "ostemplate", Value: testTemplate},
		proxmox.ContainerOption{Name: "rootfs", Value: "local-zfs:2"},
		proxmox.ContainerOption{Name: "net0", Value: "name=eth0,bridge=vmbr0,ip=dhcp"})
	if err != nil {
		return err
	}
	if err := task.Wait(ctx, 10*time.Millisecond, 10*time.Second); err != nil {
		return err
	}
	ct, err := n.Container(ctx, id)
	if err != nil {
		return err
	}
	task, err = ct.Start(ctx)
	if err != nil {
		return err
	}
	if err := task.Wait(ctx, 10*time.Millisecond, 10*time.Second); err != nil {
		return err
	}
	if task.ExitStatus != "OK" {
		return &taskError{task.ExitStatus}
	}
	return nil
}

type taskError struct{ status string }

func (e *taskError) Error() string { return "task ended " + e.status }

// TestWriteBehind: with WriteBehind the state is written after the
// changes, not with each one, and Close writes the last of it; a write
// that fails is the error of a later request and of Close.
func TestWriteBehind(t *testing.T) {
	state := filepath.Join(t.TempDir(), "sim.json")
	s := startSim(t, Options{StateFile: state, TaskDuration: time.Millisecond, WriteBehind: time.Hour})
	createCT(t, s.tokenClient(), 103)
	w, _, err := loadWorld(state)
	if err != nil {
		t.Fatal(err)
	}
	if w.Guests[103] != nil {
		t.Fatal("the state was written with the change, not behind it")
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if w, _, err = loadWorld(state); err != nil || w.Guests[103] == nil {
		t.Fatalf("after Close the state lacks the guest: %v", err)
	}

	dir := filepath.Join(t.TempDir(), "state")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	broken := startSim(t, Options{StateFile: filepath.Join(dir, "sim.json"), TaskDuration: time.Millisecond, WriteBehind: 5 * time.Millisecond})
	c := broken.tokenClient()
	createCT(t, c, 104)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if w, _, err := loadWorld(filepath.Join(dir, "sim.json")); err == nil && w.Guests[104] != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the writer never wrote the state")
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The directory goes: the next write fails.
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	ct, err := node(t, c, "pve").Container(context.Background(), 104)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ct.Config(context.Background(), proxmox.ContainerOption{Name: "cores", Value: 2}); err != nil {
		t.Fatal(err)
	}
	for {
		_, err := c.Version(context.Background())
		if err != nil {
			errContains(t, err, "write state")
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no request reported the failed write")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := broken.Close(); err == nil || !strings.Contains(err.Error(), "write state") {
		t.Errorf("Close: %v, want the failed write", err)
	}
}
