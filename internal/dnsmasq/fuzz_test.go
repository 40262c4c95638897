package dnsmasq

import (
	"net/netip"
	"strings"
	"testing"
)

// FuzzRender: whatever the config's names and values, a rendered file
// holds only the lines phoenix means to write. A hosts line is one
// address and one checked name; a conf line is one of the directives the
// renderer writes, with the name it was given. Nothing a record carries
// can start a directive of its own (conf-file=, dhcp-script=, ...).
func FuzzRender(f *testing.F) {
	f.Add("gateway.internal.example", "A", "10.0.0.101", "internal.example", "internal")
	f.Add("www.example", "CNAME", "gateway.internal.example", "example", "external")
	f.Add("x\nconf-file=/etc/shadow", "A", "10.0.0.9", "internal.example", "internal")
	f.Add("v6.internal.example", "AAAA", "fd00::1", "internal.example", "internal")
	f.Add("a b", "A", "10.0.0.1#x", "z=one", "internal")
	f.Fuzz(func(t *testing.T, name, typ, value, zone, view string) {
		recs, err := Check([]Record{{View: view, Name: name, Type: typ, Value: value, Source: "fuzz"}})
		if err != nil {
			return
		}
		c := Config{
			Listen:         netip.MustParseAddr("10.0.0.1"),
			ExternalListen: netip.MustParseAddr("203.0.113.2"),
			Zones:          []string{zone},
		}
		files, err := Render(c, recs)
		if err != nil {
			return
		}
		directives := []string{"listen-address=", "bind-interfaces", "no-hosts", "no-resolv", "domain-needed", "local=/", "hostsdir=", "addn-hosts=", "cname=", "server=", "CONFIG_DIR="}
		for _, file := range files {
			for _, line := range strings.Split(strings.TrimSuffix(string(file.Data), "\n"), "\n") {
				if line == "" || strings.HasPrefix(line, "#") {
					continue
				}
				if file.Kind != Conf {
					addr, host, ok := strings.Cut(line, " ")
					if _, err := netip.ParseAddr(addr); !ok || err != nil || host != recs[0].Name || strings.ContainsAny(host, " \t#=/") {
						t.Fatalf("%s: hosts line %q is not one address and the record's name", file.Path, line)
					}
					continue
				}
				known := false
				for _, d := range directives {
					known = known || strings.HasPrefix(line, d)
				}
				if !known {
					t.Fatalf("%s: line %q is not a directive phoenix writes (name %q, zone %q)", file.Path, line, name, zone)
				}
				if strings.HasPrefix(line, "cname=") && strings.Count(line, ",") != 1 {
					t.Fatalf("%s: %q is not one alias and one target", file.Path, line)
				}
			}
		}
	})
}
