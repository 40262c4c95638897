package zfs

import (
	"errors"
	"fmt"
	"path/filepath"
	"phoenix/internal/machine"
	"regexp"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/txtar"
)

// TestParseSamples parses each testdata/parse/*.txtar "stdout" with the
// parser its comment names and compares the result, one line per record,
// with its "want".
func TestParseSamples(t *testing.T) {
	files, err := filepath.Glob("testdata/parse/*.txtar")
	if err != nil || len(files) == 0 {
		t.Fatalf("no samples: %v", err)
	}
	parserRE := regexp.MustCompile(`(?m)^parser: (\w+)$`)
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			ar, err := txtar.ParseFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(ar.Comment), "Source:") && !strings.Contains(string(ar.Comment), "zfs_main.c") {
				t.Errorf("sample does not cite its source")
			}
			m := parserRE.FindSubmatch(ar.Comment)
			if m == nil {
				t.Fatal("comment names no parser")
			}
			stdout, want := section(t, ar, "stdout"), section(t, ar, "want")
			var got []string
			switch string(m[1]) {
			case "list":
				ds, err := ParseList(stdout)
				if err != nil {
					t.Fatal(err)
				}
				for _, d := range ds {
					got = append(got, fmt.Sprintf("name=%q used=%d avail=%d refer=%d mountpoint=%q", d.Name, d.Used, d.Avail, d.Refer, d.Mountpoint))
				}
			case "get":
				ps, err := ParseGet(stdout)
				if err != nil {
					t.Fatal(err)
				}
				for _, p := range ps {
					if p.Dataset == "" {
						t.Errorf("%s: no dataset", p.Name)
					}
					got = append(got, fmt.Sprintf("%q value=%q source=%s from=%q none=%v", p.Name, p.Value, p.Source.Kind, p.Source.From, p.None()))
				}
			case "snapshots":
				ss, err := ParseSnapshots(stdout)
				if err != nil {
					t.Fatal(err)
				}
				for _, s := range ss {
					got = append(got, fmt.Sprintf("name=%q dataset=%q snap=%q creation=%d", s.Name, s.Dataset, s.Snap, s.Creation))
				}
			default:
				t.Fatalf("unknown parser %q", m[1])
			}
			if g, w := strings.Join(got, "\n"), strings.TrimSuffix(string(want), "\n"); g != w {
				t.Errorf("parsed:\n%s\nwant:\n%s", g, w)
			}
		})
	}
}

func section(t *testing.T, ar *txtar.Archive, name string) []byte {
	t.Helper()
	for _, f := range ar.Files {
		if f.Name == name {
			return f.Data
		}
	}
	t.Fatalf("no section %q", name)
	return nil
}

func TestParseRejectsMalformed(t *testing.T) {
	for _, tc := range []struct {
		name, out string
		parse     func([]byte) error
		want      string
	}{
		{"list too few fields", "quickOS\t1\t2\t3\n", listErr, "want 5 tab-separated fields, got 4"},
		{"list space-separated", "quickOS 1 2 3 /mnt\n", listErr, "got 1"},
		{"list human numbers", "quickOS\t96K\t1T\t96K\t/x\n", listErr, "used"},
		{"list blank line", "a\t1\t2\t3\t/a\n\nb\t1\t2\t3\t/b\n", listErr, "line 2"},
		{"get three fields", "quickOS\tused\t1\n", getErr, "want 4 tab-separated fields"},
		{"get unknown source", "quickOS\tatime\toff\tinherited\n", getErr, `unknown property source "inherited"`},
		{"get empty inherited from", "quickOS\tatime\toff\tinherited from \n", getErr, "unknown property source"},
		{"snapshots not a snapshot", "quickOS\t1714521600\n", snapErr, "is not a snapshot"},
		{"snapshots human date", "quickOS@a\tWed May  1  0:00 2024\n", snapErr, "creation"},
		{"snapshots extra field", "quickOS@a\t1\t2\n", snapErr, "want 2 tab-separated fields"},
	} {
		err := tc.parse([]byte(tc.out))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: got %v, want an error containing %q", tc.name, err, tc.want)
		}
	}
}

func listErr(b []byte) error { _, err := ParseList(b); return err }
func getErr(b []byte) error  { _, err := ParseGet(b); return err }
func snapErr(b []byte) error { _, err := ParseSnapshots(b); return err }

func TestSourceRoundTrip(t *testing.T) {
	for _, s := range []string{"local", "default", "-", "temporary", "received", "inherited from quickOS/a b"} {
		src, err := ParseSource(s)
		if err != nil {
			t.Fatal(err)
		}
		if src.String() != s {
			t.Errorf("ParseSource(%q).String() = %q", s, src.String())
		}
	}
}

// TestErrorClassification checks errors.Is on the stderr samples in
// testdata/errors.txtar: each matches its sentinel and no other.
func TestErrorClassification(t *testing.T) {
	ar, err := txtar.ParseFile("testdata/errors.txtar")
	if err != nil {
		t.Fatal(err)
	}
	sentinels := map[string]error{
		"ErrNotExist": ErrNotExist, "ErrExist": ErrExist, "ErrNoParent": ErrNoParent,
		"ErrHasChildren": ErrHasChildren, "ErrNewerSnapshots": ErrNewerSnapshots,
	}
	if len(ar.Files) < 10 {
		t.Fatalf("only %d samples", len(ar.Files))
	}
	for _, f := range ar.Files {
		want, _, _ := strings.Cut(f.Name, "/")
		if _, ok := sentinels[want]; !ok && want != "none" {
			t.Fatalf("%s: unknown sentinel", f.Name)
		}
		e := &Error{&machine.CommandError{Argv: []string{"zfs"}, ExitCode: 1, Stderr: string(f.Data)}}
		for name, s := range sentinels {
			if got := errors.Is(e, s); got != (name == want) {
				t.Errorf("%s: errors.Is(%s) = %v", f.Name, name, got)
			}
		}
	}
}
