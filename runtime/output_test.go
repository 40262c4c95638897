package runtime

import (
	"bytes"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

func longReport() *Report {
	return &Report{
		Changes: []Change{
			{Resource: "lxc:103", Action: "create", Detail: "on pve from local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst: " + strings.Repeat("mp0=/mnt/pve/quickOS/lxc-persistent-data/103/ssl,mp=/etc/step-ca/ssl ", 6), At: "/home/op/site/scripts/lxc_103.star:91"},
			{Resource: "file:/mnt/pve/quickOS/lxc-persistent-data/103/export/gateway/provisioner_password.txt", Action: "create", Detail: "new, <secret>, mode 0600", At: "scripts/lxc_103.star:127"},
			{Resource: "lxc:101", Action: "update", Detail: "memory: 512 -> 1024", At: "scripts/guests.star:33"},
			{Resource: "cmd:pct exec 103 -- systemctl restart step-ca", Action: "run", At: "scripts/lxc_103.star:182"},
			{Resource: "lxc:102", Action: "create", Error: "boom", At: "scripts/guests.star:33"},
		},
		Checks: []CheckResult{{Name: "ca", Target: "10.0.0.103:9000", Status: "skip", Detail: strings.Repeat("under --sim no CA daemon runs ", 8)}},
	}
}

// On a terminal every line fits; the summary counts by action.
func TestWriteTextFitsWidth(t *testing.T) {
	for _, width := range []int{80, 100, 120} {
		var b bytes.Buffer
		if err := longReport().WriteTextWidth(&b, true, width); err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(b.String(), "\n") {
			if n := utf8.RuneCountInString(l); n > width {
				t.Errorf("width %d: line of %d columns: %q", width, n, l)
			}
		}
		if !strings.Contains(b.String(), "Plan: 2 to create, 1 to update, 1 to run.\n") {
			t.Errorf("no summary by action:\n%s", b.String())
		}
		if width >= 100 && !strings.Contains(b.String(), "lxc_103.star:91") || strings.Contains(b.String(), "/home/op") {
			t.Errorf("positions not shortened:\n%s", b.String())
		}
	}
	var b bytes.Buffer
	longReport().WriteTextWidth(&b, false, 0)
	if !strings.Contains(b.String(), strings.Repeat("mp0=/mnt/pve/quickOS/lxc-persistent-data/103/ssl,mp=/etc/step-ca/ssl ", 6)) || !strings.Contains(b.String(), "Applied: 2 create, 1 update, 1 run.\n") {
		t.Errorf("off a terminal the detail is whole and the summary says applied:\n%s", b.String())
	}
}

func TestWriteJSONResult(t *testing.T) {
	var b bytes.Buffer
	if err := longReport().WriteJSONResult(&b, errors.New("interrupted")); err != nil {
		t.Fatal(err)
	}
	var j struct {
		Actions map[string]int
		Error   *RunError
		Changes []Change
	}
	if err := json.Unmarshal(b.Bytes(), &j); err != nil {
		t.Fatal(err)
	}
	if j.Actions["create"] != 2 || j.Actions["update"] != 1 || j.Actions["run"] != 1 {
		t.Errorf("actions %v", j.Actions)
	}
	if j.Error == nil || j.Error.Message != "interrupted" {
		t.Errorf("error %+v", j.Error)
	}
	if !strings.HasSuffix(j.Changes[0].Detail, "mp=/etc/step-ca/ssl ") {
		t.Errorf("JSON detail cut: %q", j.Changes[0].Detail)
	}
}
