package site

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarktest"
)

func loadExample(t *testing.T) *Site {
	t.Helper()
	s, err := Load(exampleDir)
	if err != nil {
		t.Fatalf("example site: %v", err)
	}
	return s
}

func TestGoAPI(t *testing.T) {
	s := loadExample(t)
	var ids []string
	for _, g := range s.Guests() {
		ids = append(ids, fmt.Sprintf("%s/%d/%s", g.Kind, g.VMID, g.Name))
	}
	if got, want := strings.Join(ids, " "), "lxc/101/gateway lxc/102/traefik lxc/103/step-ca vm/1001/portainer vm/1002/docker-agent"; got != want {
		t.Errorf("Guests() = %s, want %s", got, want)
	}
	if s.LXC(1001) != nil || s.VM(101) != nil || s.LXC(999) != nil {
		t.Error("lookup of the wrong kind or a missing VMID returned a guest")
	}
	ca := s.LXC(103)
	if ca == nil {
		t.Fatal("LXC(103) is nil")
	}
	mp := ca.MountPoints[0]
	if mp.HostPath != "/mnt/pve/quickOS/lxc-persistent-data/103/ssl" || mp.ContainerPath != "/etc/step-ca/ssl" ||
		mp.OwnerUID != 0 || mp.OwnerGID != 0 || mp.Mode != 0o700 || mp.ReadOnly {
		t.Errorf("103 mount point = %+v", mp)
	}
	checks := []struct{ got, want string }{
		{s.LXC(101).Network.Net0(), "name=eth0,bridge=vmbr0,ip=10.0.0.101/24,gw=10.0.0.1,firewall=1"},
		{s.VM(1001).Network.IPConfig0(), "ip=10.0.0.201/24,gw=10.0.0.1"},
		{s.LXC(101).Features.PVE(), "nesting=1"},
		{(Features{Keyctl: true, Nesting: true, Mount: []string{"nfs", "cifs"}}).PVE(), "keyctl=1,nesting=1,mount=nfs;cifs"},
		{s.Dataset(103), "quickOS/lxc-persistent-data/103"},
		{s.DataDir(103), "/mnt/pve/quickOS/lxc-persistent-data/103"},
		{s.Hypervisor.CA.PrivateHostPath, "/mnt/pve/quickOS/lxc-persistent-data/103/ssl"},
		{s.Hypervisor.CA.PrivateContainerPath, "/etc/step-ca/ssl"},
		{s.Hypervisor.CA.Exports["gateway"].HostPath, "/mnt/pve/quickOS/lxc-persistent-data/103/export/gateway"},
		{s.Hypervisor.CA.Exports["gateway"].Name, "gateway"},
		{s.Hypervisor.CA.Durations.Default.String(), "168h"},
		{ModeString(s.LXC(101).MountPoints[1].Mode), "0755"},
		{strings.Join(s.NodeNames(), ","), "pve"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
	if d := s.Hypervisor.CA.Durations.Max.Duration; d != 30*24*time.Hour {
		t.Errorf("max duration = %v", d)
	}
	flows := s.Flows()
	if len(flows) != 14 || flows[0].Destination.VMID != 101 || flows[0].Source.Keyword != "any" || flows[0].Port != 443 {
		t.Errorf("flows[0] = %+v (of %d)", flows[0], len(flows))
	}
	flows[0].Port = 1 // a copy: the site must not change
	if s.Flows()[0].Port != 443 {
		t.Error("Flows() exposes the site's own slice")
	}
	recs := s.Records()
	if len(recs) != 14 {
		t.Errorf("%d records, want 14: %v", len(recs), recs)
	}
	var found bool
	for _, r := range recs {
		if r.View == "internal" && r.Name == "www.example.com" {
			found = true
			if r.Type != "A" || r.Value != "10.0.0.101" || r.VMID != 101 || r.Source != "phoenix_lxc_configs.json: 101.dns_records[1]" {
				t.Errorf("internal www.example.com = %+v", r)
			}
		}
	}
	if !found {
		t.Error("no internal record for www.example.com")
	}
}

func TestDefaultsAreFilled(t *testing.T) {
	e := newSiteEdit(t)
	e.del(vm, "1001", "network", "gateway")
	e.del(vm, "1001", "network", "model")
	e.del(lxc, "101", "swap_mb")
	e.del(lxc, "102", "unprivileged")
	e.del(lxc, "102", "network", "name")
	e.del(lxc, "102", "network", "firewall")
	e.set(lxc, map[string]any{"name": "extra.phoenix.internal", "view": "both"}, "103", "dns_records", "1")
	s, err := LoadFS(mapFS(e.files()))
	if err != nil {
		t.Fatal(err)
	}
	n := s.VM(1001).Network
	if n.Gateway != netip.MustParseAddr("10.0.0.1") || n.Model != "virtio" {
		t.Errorf("VM network defaults: %+v", n)
	}
	l := s.LXC(102)
	if !l.Unprivileged || l.Network.Name != "eth0" || !l.Network.Firewall || s.LXC(101).SwapMB != 512 {
		t.Errorf("LXC defaults: unprivileged=%v name=%q firewall=%v swap=%d", l.Unprivileged, l.Network.Name, l.Network.Firewall, s.LXC(101).SwapMB)
	}
	var views []string
	for _, r := range s.Records() {
		if r.Name == "extra.phoenix.internal" {
			views = append(views, r.View+"="+r.Value)
		}
	}
	if strings.Join(views, " ") != "external=10.0.0.103 internal=10.0.0.103" {
		t.Errorf("view both gave %v", views)
	}
}

// TestEveryErrorInOneRun puts defects in all three files, in reverse file
// order, and expects all of them back, sorted by file and position.
func TestEveryErrorInOneRun(t *testing.T) {
	e := newSiteEdit(t)
	e.set(vm, 0, "1002", "cores")
	e.set(vm, "10.0.0.102/24", "1001", "network", "ip")
	e.set(lxc, "bad name", "103", "hostname")
	e.set(lxc, 1, "101", "memory_mb")
	e.set(hyp, 0, "firewall", "flows", "3", "port")
	e.set(hyp, "x", "pve", "endpoint")
	// Structured edits rewrite a file with its keys sorted, so "firewall"
	// now comes before "pve".
	want := []string{
		`phoenix_hypervisor_config.json: firewall.flows[3].port: must be 1-65535 (got 0)`,
		`phoenix_hypervisor_config.json: pve.endpoint: "x" is not an https URL with a host: must be https`,
		`phoenix_lxc_configs.json: 101.memory_mb: must be at least 16 (got 1)`,
		`phoenix_lxc_configs.json: 103.hostname: "bad name" is not a DNS name (RFC 1123): label "bad name" must be letters, digits and inner hyphens`,
		`phoenix_vm_configs.json: 1001.network.ip: 10.0.0.102 is already used by phoenix_lxc_configs.json: 102.network.ip`,
		`phoenix_vm_configs.json: 1002.cores: must be 1-8192 (got 0)`,
	}
	files := e.files()
	var first string
	for i := 0; i < 3; i++ {
		_, err := LoadFS(mapFS(files))
		got := err.Error()
		if got != strings.Join(want, "\n") {
			t.Fatalf("got:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
		}
		if i == 0 {
			first = got
		} else if got != first {
			t.Fatal("two runs on the same input disagree")
		}
	}
	var es Errors
	_, err := LoadFS(mapFS(files))
	if !errors.As(err, &es) || len(es) != len(want) {
		t.Fatalf("want Errors of %d, got %T %v", len(want), err, err)
	}
	if es[0].Line == 0 || es[0].Path != "firewall.flows[3].port" || es[0].File != HypervisorFile {
		t.Errorf("error fields: %+v", es[0])
	}
}

// A broken file is reported, the others are still checked on their own,
// and nothing is reported about guests the broken file would have held.
func TestBrokenFileDoesNotCascade(t *testing.T) {
	e := newSiteEdit(t)
	e.raw[vm] = []byte("{\n  \"1001\": {\n    \"name\": \"portainer\",\n    \"memory_mb\": 40 96\n")
	e.replace(hyp, `"interface": "eno1",`, `"interface": "eno1", "gatway": "192.168.10.1",`)
	_, err := LoadFS(mapFS(e.files()))
	want := "phoenix_hypervisor_config.json: management.gatway: unknown key\n" +
		"phoenix_vm_configs.json:4:21: invalid character '9' after object value (expecting ',' or '}')"
	if err == nil || err.Error() != want {
		t.Errorf("got:\n%v\nwant:\n%s", err, want)
	}
}

func TestFileProblems(t *testing.T) {
	dir := t.TempDir()
	ex := readExample(t)
	for _, name := range []string{HypervisorFile, LXCFile} {
		if err := os.WriteFile(filepath.Join(dir, name), ex[name], 0o644); err != nil {
			t.Fatal(err)
		}
	}
	err := Validate(dir)
	if err == nil || err.Error() != "phoenix_vm_configs.json: missing from "+dir {
		t.Errorf("missing file: %v", err)
	}

	cases := []struct{ name, text, want string }{
		{"bom", "\ufeff{\"1001\": 5, \"1002\": {}}", `phoenix_vm_configs.json: 1001: must be an object, not a number`},
		{"column counts characters", "{\"$schema\": \"é\", \"1001\": x}", `phoenix_vm_configs.json:1:26: invalid character 'x' at start of value`},
		{"invalid utf-8", "{\"$schema\": \"\xff\"}", `phoenix_vm_configs.json:1:14: invalid UTF-8`},
		{"empty", "", `phoenix_vm_configs.json:1:1: unexpected end of JSON input`},
		{"deep", strings.Repeat("[", 100), `phoenix_vm_configs.json:1:65: nesting deeper than 64 levels`},
		{"after value", "{} {}", `phoenix_vm_configs.json:1:4: invalid character '{' after top-level value`},
		{"null", `{"1001": null, "1002": {}}`, `phoenix_vm_configs.json: 1001: must be an object, not null`},
		{"schema key type", `{"$schema": 1, "1001": {}, "1002": {}}`, `phoenix_vm_configs.json: $schema: must be a string, not a number`},
		{"escapes", `{"\u0031\u0030\u0030\u0031": {}}`, ``},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			files := readExample(t)
			files[vm] = []byte(c.text)
			_, err := LoadFS(mapFS(files))
			if c.want == "" {
				// The escaped key is 1001: decoding reaches the guest.
				if err == nil || !strings.Contains(err.Error(), `phoenix_vm_configs.json: 1001: missing required keys "node", "name"`) {
					t.Errorf("got %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %s", c.want)
			}
			if lines := errorLines(err); lines[0] != c.want {
				t.Errorf("got:\n%v\nwant first line:\n%s", err, c.want)
			}
		})
	}
}

func TestErrorForms(t *testing.T) {
	for _, c := range []struct {
		e    Error
		want string
	}{
		{Error{File: "f.json", Line: 3, Col: 7, Msg: "bad", Syntax: true}, "f.json:3:7: bad"},
		{Error{File: "f.json", Line: 3, Col: 7, Path: "a.b[2]", Msg: "bad"}, "f.json: a.b[2]: bad"},
		{Error{File: "f.json", Msg: "missing"}, "f.json: missing"},
	} {
		if got := c.e.Error(); got != c.want {
			t.Errorf("got %q, want %q", got, c.want)
		}
	}
	p := (*jpath)(nil).Key("dns").Key("zones").Key("example.com").Key("internal").Index(0).Key("name")
	if got := p.String(); got != `dns.zones["example.com"].internal[0].name` {
		t.Errorf("path = %s", got)
	}
}

func TestStarlark(t *testing.T) {
	s := loadExample(t)
	thread := &starlark.Thread{Name: "site.star", Load: func(_ *starlark.Thread, module string) (starlark.StringDict, error) {
		if module == "assert.star" {
			return starlarktest.LoadAssertModule()
		}
		return nil, fmt.Errorf("no module %s", module)
	}}
	starlarktest.SetReporter(thread, t)
	src, err := os.ReadFile("testdata/site.star")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := starlark.ExecFile(thread, "testdata/site.star", src, starlark.StringDict{"site": s.Starlark()}); err != nil {
		var ee *starlark.EvalError
		if errors.As(err, &ee) {
			t.Fatal(ee.Backtrace())
		}
		t.Fatal(err)
	}
}
