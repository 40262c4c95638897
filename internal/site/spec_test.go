package site

import (
	"encoding/json"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"go.starlark.net/starlark"
)

// A guest written in a script is checked as the same guest in the files
// would be: the same problems, with the spec's path in place of its key.
func TestSpecCheckedAsTheFiles(t *testing.T) {
	cases := []struct {
		name string
		edit func(g map[string]any)
	}{
		{"copy of 103", func(map[string]any) {}},
		{"own name, 103's address", func(g map[string]any) {
			g["hostname"] = "other"
			g["mount_points"] = []any{}
			g["dns_records"] = []any{}
		}},
		{"unknown node and bridge", func(g map[string]any) {
			g["hostname"] = "other"
			g["node"] = "pve9"
			g["network"].(map[string]any)["bridge"] = "vmbr9"
			g["mount_points"] = []any{}
			g["dns_records"] = []any{}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := newSiteEdit(t)
			g := e.get(LXCFile, "103").(map[string]any)
			c.edit(g)
			e.set(LXCFile, g, "104")
			_, err := LoadFS(mapFS(e.files()))
			if err == nil {
				t.Fatal("the files are valid")
			}
			var want []string
			for _, l := range errorLines(err) {
				// "phoenix_lxc_configs.json:L:C: 104.x: msg" or without position.
				if i := strings.Index(l, " 104."); i >= 0 {
					want = append(want, "spec."+l[i+len(" 104."):])
				} else if i := strings.Index(l, " 104: "); i >= 0 {
					want = append(want, "spec: "+l[i+len(" 104: "):])
				} else {
					want = append(want, l)
				}
			}

			s := loadExample(t)
			g["vmid"] = json.Number("104")
			l := &LXC{}
			if err := Decode(starlarkOf(t, g), l, "spec", nil); err != nil {
				t.Fatal(err)
			}
			err = s.CheckLXC(l, "spec")
			if err == nil {
				t.Fatal("CheckLXC found nothing")
			}
			got := strings.Split(err.Error(), "\n")
			slices.Sort(got)
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("CheckLXC:\n%s\nvalidate:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

// starlarkOf is a JSON value as a script would write it: dicts and lists.
func starlarkOf(t *testing.T, v any) starlark.Value {
	switch x := v.(type) {
	case map[string]any:
		d := starlark.NewDict(len(x))
		for k, e := range x {
			d.SetKey(starlark.String(k), starlarkOf(t, e))
		}
		return d
	case []any:
		l := make([]starlark.Value, len(x))
		for i, e := range x {
			l[i] = starlarkOf(t, e)
		}
		return starlark.NewList(l)
	case string:
		return starlark.String(x)
	case bool:
		return starlark.Bool(x)
	case interface{ Int64() (int64, error) }:
		n, err := x.Int64()
		if err != nil {
			t.Fatal(err)
		}
		return starlark.MakeInt64(n)
	}
	t.Fatalf("no Starlark form for %T", v)
	return nil
}

// The site a spec is checked in is a copy: the run's site is untouched,
// and the spec gets the site's defaults.
func TestCheckLXCLeavesTheSiteAlone(t *testing.T) {
	s := loadExample(t)
	exp := s.Hypervisor.CA.Exports["gateway"]
	l := &LXC{}
	if err := Decode(s.Wrap(s.LXC(103)), l, "spec", nil); err != nil {
		t.Fatal(err)
	}
	l.MountPoints[0].ContainerPath = "/elsewhere" // a copy, not the site's
	l.VMID, l.Hostname, l.MountPoints, l.DNSRecords = 150, "spare", nil, nil
	l.Network.IP = netip.MustParsePrefix("10.0.0.150/24")
	l.Network.Gateway = netip.Addr{}
	if err := s.CheckLXC(l, "spec"); err != nil {
		t.Fatal(err)
	}
	if got := l.Network.Gateway.String(); got != "10.0.0.1" {
		t.Errorf("gateway = %s, want the bridge's 10.0.0.1", got)
	}
	ca := s.LXC(103)
	if ca.Hostname != "step-ca" || ca.MountPoints[0].ContainerPath != "/etc/step-ca/ssl" {
		t.Errorf("the site's 103 changed: %+v", ca)
	}
	if _, ok := s.Guest(150); ok || len(s.Guests()) != 5 {
		t.Errorf("the spec joined the site")
	}
	if s.Hypervisor.CA.Exports["gateway"] != exp || exp.HostPath != "/mnt/pve/quickOS/lxc-persistent-data/103/export/gateway" {
		t.Errorf("the site's exports changed")
	}
}

// A value the decoder cannot read is explained by known when it can (a
// plan's unknown values), else named with its type.
func TestDecodeKnown(t *testing.T) {
	d := starlark.NewDict(1)
	d.SetKey(starlark.String("memory_mb"), starlark.Float(1.5))
	d.SetKey(starlark.String("cores"), starlark.String("two"))
	known := func(v starlark.Value) error {
		if _, ok := v.(starlark.Float); ok {
			return errors.New("not known until apply")
		}
		return nil
	}
	err := DecodeField(&LXC{}, "memory_mb", starlark.Float(1.5), known)
	if err == nil || err.Error() != "memory_mb: not known until apply" {
		t.Errorf("err = %v", err)
	}
	err = Decode(d, &LXC{}, "spec", known)
	lines := errorLines(err)
	for _, want := range []string{"spec.memory_mb: not known until apply", "spec.cores: must be an integer, not a string"} {
		if !slices.Contains(lines, want) {
			t.Errorf("no %q in %q", want, lines)
		}
	}
}
