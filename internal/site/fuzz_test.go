package site

import (
	"errors"
	"strings"
	"testing"
	"unicode"
)

// FuzzLoad feeds arbitrary bytes as the three files. The loader must not
// panic, must give the same answer twice, and must reject with clean
// Errors only: each one line, printable, naming one of the files.
//
//	go test ./internal/site -run '^$' -fuzz FuzzLoad -fuzztime 30s
func FuzzLoad(f *testing.F) {
	ex := readExample(f)
	f.Add(ex[hyp], ex[lxc], ex[vm])
	f.Add([]byte(`{}`), []byte(`{}`), []byte(`{}`))
	f.Add(ex[hyp], []byte(`{"101": {"idmap": [], "lxc.cap.drop": ""}}`), []byte(`{"1001": null}`))
	f.Add(ex[hyp], []byte("{\"101\": {\"hostname\": \"a\\nb\", \"memory_mb\": 1e400}}"), []byte(`[{"\ud800": -0.0}]`))
	f.Add([]byte(`{"nodes": {"pve": {"management_ip": "fe80::1%eth0"}}, "firewall": {"flows": [{"source": 1e3}]}}`), ex[lxc], ex[vm])
	f.Fuzz(func(t *testing.T, h, l, v []byte) {
		files := mapFS(map[string][]byte{hyp: h, lxc: l, vm: v})
		s, err := LoadFS(files)
		_, err2 := LoadFS(files)
		if (err == nil) != (err2 == nil) || (err != nil && err.Error() != err2.Error()) {
			t.Fatalf("two runs disagree:\n%v\n---\n%v", err, err2)
		}
		if err == nil {
			if s == nil {
				t.Fatal("nil site without error")
			}
			// A valid site must convert for scripts and keep its promises.
			_ = s.Starlark()
			for _, g := range s.Guests() {
				b := s.Hypervisor.Bridges[g.Bridge]
				if b == nil || !b.CIDR.Contains(g.IP.Addr()) || !g.Gateway.IsValid() {
					t.Fatalf("accepted guest %d with bridge %q ip %v gateway %v", g.VMID, g.Bridge, g.IP, g.Gateway)
				}
			}
			return
		}
		if s != nil {
			t.Fatal("site returned with errors")
		}
		var es Errors
		if !errors.As(err, &es) {
			t.Fatalf("error is %T, not Errors: %v", err, err)
		}
		if len(es) == 0 {
			t.Fatal("empty Errors")
		}
		for _, e := range es {
			if _, ok := fileOrder[e.File]; !ok {
				t.Fatalf("error names file %q", e.File)
			}
			if e.Msg == "" {
				t.Fatalf("empty message: %+v", e)
			}
			if e.Syntax && (e.Line < 1 || e.Col < 1) {
				t.Fatalf("syntax error without position: %+v", e)
			}
			for _, r := range e.Error() {
				if !unicode.IsPrint(r) {
					t.Fatalf("unprintable %U in error %q", r, e.Error())
				}
			}
		}
		if n := strings.Count(err.Error(), "\n") + 1; n != len(es) {
			t.Fatalf("%d errors print as %d lines", len(es), n)
		}
	})
}
