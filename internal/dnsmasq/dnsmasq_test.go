package dnsmasq

import (
	"net/netip"
	"strings"
	"testing"
)

func TestNameProblem(t *testing.T) {
	for name, want := range map[string]string{
		"a.example.com":                  "",
		"A-1.b2.c":                       "",
		"x":                              "",
		"":                               "is empty",
		"a..b":                           "has an empty label",
		".a":                             "has an empty label",
		"a.":                             "has an empty label",
		"a-.b":                           "has a label that starts or ends with a hyphen",
		"a\nb":                           "contains a line break",
		"a b":                            "contains white space",
		"a=b":                            `contains '='`,
		"a#b":                            `contains '#'`,
		"a/b":                            `contains '/'`,
		"a,b":                            `contains ','`,
		"a_b":                            `contains '_' (RFC 1123 allows letters, digits and hyphens)`,
		strings.Repeat("a", 64) + ".b":   "has a label longer than 63 characters",
		strings.Repeat("a.", 127) + "bb": "is longer than 253 characters",
	} {
		if got := NameProblem(name); got != want {
			t.Errorf("NameProblem(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestRenderDeterministic(t *testing.T) {
	recs := []Record{
		{View: "internal", Name: "b.x.test", Type: "A", Value: "10.0.0.2", Source: "s2"},
		{View: "internal", Name: "A.x.test", Type: "A", Value: "10.0.0.1", Source: "s1"},
		{View: "external", Name: "a.x.test", Type: "A", Value: "192.0.2.1", Source: "s3"},
		{View: "internal", Name: "b.x.test", Type: "A", Value: "10.0.0.2", Source: "s4"},
	}
	c := Config{Listen: netip.MustParseAddr("10.0.0.1"), Zones: []string{"x.test"}}
	var first string
	for i := 0; i < 2; i++ {
		// Reversed input, same output.
		in := append([]Record(nil), recs...)
		if i == 1 {
			for l, r := 0, len(in)-1; l < r; l, r = l+1, r-1 {
				in[l], in[r] = in[r], in[l]
			}
		}
		checked, err := Check(in)
		if err != nil {
			t.Fatal(err)
		}
		files, err := Render(c, checked)
		if err != nil {
			t.Fatal(err)
		}
		if len(files) != 2 {
			t.Fatalf("no external listen address, yet %d files", len(files))
		}
		got := string(files[0].Data)
		if !strings.HasSuffix(got, "\n10.0.0.1 A.x.test\n10.0.0.2 b.x.test\n") {
			t.Fatalf("hosts file:\n%s", got)
		}
		if i == 0 {
			first = got
		} else if got != first {
			t.Fatalf("order changed the output:\n%s\n%s", first, got)
		}
	}
}
