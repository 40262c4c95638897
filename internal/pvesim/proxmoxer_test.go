package pvesim

import (
	"context"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"phoenix/internal/testkit"
)

// debianPython is Debian's interpreter, which python3-proxmoxer installs
// for (a python3 earlier on PATH may not see it).
const debianPython = "/usr/bin/python3"

// TestProxmoxer drives `phoenix sim serve` with Debian's python3-proxmoxer,
// a PVE client from outside the project: pools, a container created with
// what Ansible sends (force=0, pool, tags, start=0), reconverged, started,
// stopped and deleted; a VM cloned from the template 9000 the same way;
// VMs made as and converted to templates.
func TestProxmoxer(t *testing.T) {
	if err := exec.Command(debianPython, "-c", "import proxmoxer").Run(); err != nil {
		testkit.Need(t, "python3-proxmoxer is missing (Debian's "+debianPython+" cannot import proxmoxer)")
	}
	ctx, cancel := context.WithCancel(context.Background())
	var out, errb testkit.SyncBuffer
	ready := make(chan *Server, 1)
	done := make(chan int, 1)
	go func() {
		done <- serve(ctx, []string{"--listen", "127.0.0.1:0", "--root-password", "ci-password", "--task-duration", "20ms"},
			&out, &errb, func(s *Server) { ready <- s })
	}()
	t.Cleanup(func() { cancel(); <-done })
	var srv *Server
	select {
	case srv = <-ready:
	case code := <-done:
		t.Fatalf("serve exited %d: %s", code, errb.String())
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not start")
	}
	m := regexp.MustCompile(`URL:\s+(\S+)`).FindStringSubmatch(out.String())
	if m == nil {
		t.Fatalf("no URL in:\n%s", out.String())
	}
	u, err := url.Parse(m[1])
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(u.Host)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, srv.CertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.CommandContext(ctx, debianPython, "testdata/proxmoxer/flow.py", host, port, ca, "ci-password")
	got, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("proxmoxer: %v\n%s", err, got)
	}
	want := `lxc created: pool=[150] tags=ci;proxmoxer
lxc reconverge: ['cores', 'memory']
lxc reconverge again: []
lxc start: running
lxc stop: stopped
lxc deleted: True
vm cloned: template=0
vm reconverge: ['ipconfig0', 'memory', 'tags']
vm reconverge again: []
vm start: running
vm stop: stopped
vm deleted: True
vm created as template: 1
vm converted to template: 1
pool deleted: True
`
	if string(got) != want {
		t.Errorf("proxmoxer flow:\n%s\nwant:\n%s", got, want)
	}
	if strings.Contains(errb.String(), "panic") {
		t.Errorf("server: %s", errb.String())
	}
}
