package pvesim

import (
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

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
	r := startServe(t, "--listen", "127.0.0.1:0", "--root-password", "ci-password", "--task-duration", "20ms")
	m := regexp.MustCompile(`URL:\s+(\S+)`).FindStringSubmatch(r.out.String())
	if m == nil {
		t.Fatalf("no URL in:\n%s", r.out.String())
	}
	u, err := url.Parse(m[1])
	if err != nil {
		t.Fatal(err)
	}
	host, port, _ := net.SplitHostPort(u.Host)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, r.srv.CertPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(debianPython, "testdata/proxmoxer/flow.py", host, port, ca, "ci-password")
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
	if strings.Contains(r.errb.String(), "panic") {
		t.Errorf("server: %s", r.errb.String())
	}
}
