package netns_test

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"phoenix/internal/netns"
	"phoenix/internal/testkit"
)

// TestInNamespace: sockets and sysctls reach the named namespace and
// leave the caller's own alone.
func TestInNamespace(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("skipped: network namespaces need root")
	}
	testkit.Tool(t, "ip")
	ns := "pxf-nt"
	exec.Command("ip", "netns", "del", ns).Run()
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "del", ns).Run() })
	if out, err := exec.Command("ip", "-n", ns, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("%v %s", err, out)
	}

	l, err := netns.Listen(ns, "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	testkit.AcceptAll(l)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := netns.Dial(ctx, ns, "tcp", l.Addr().String())
	if err != nil {
		t.Fatalf("dial inside the namespace: %v", err)
	}
	c.Close()
	// The same address from here reaches our own loopback, where nobody
	// listens on that port.
	if c, err := netns.Dial(ctx, "", "tcp", l.Addr().String()); err == nil {
		c.Close()
		t.Fatalf("%s answered outside the namespace", l.Addr())
	}

	const key = "net.ipv4.ip_forward"
	own, err := netns.ReadSysctl("", key)
	if err != nil {
		t.Fatal(err)
	}
	want := "1"
	if own == "1" {
		want = "0"
	}
	if err := netns.WriteSysctl(ns, key, want); err != nil {
		t.Fatal(err)
	}
	if got, _ := netns.ReadSysctl(ns, key); got != want {
		t.Errorf("namespace's %s = %q, want %q", key, got, want)
	}
	if got, _ := netns.ReadSysctl("", key); got != own {
		t.Fatalf("writing the namespace's %s changed our own: %q -> %q", key, own, got)
	}
	if _, err := netns.Open("pxf-missing"); err == nil {
		t.Error("a missing namespace opened")
	}
}
