package machine

import (
	"os"
	"path/filepath"
	"testing"
)

func TestRootConfinement(t *testing.T) {
	dir := t.TempDir()
	outside := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(dir, "run/lock"), 0o755))
	must(os.MkdirAll(filepath.Join(dir, "var"), 0o755))
	must(os.Symlink("/run/lock", filepath.Join(dir, "var/lock")))        // absolute, inside
	must(os.Symlink(outside, filepath.Join(dir, "escape")))              // absolute, pointing out
	must(os.Symlink("../../../../..", filepath.Join(dir, "var/updots"))) // relative climb
	r, err := NewRoot(dir)
	must(err)
	real := r.Dir()
	cases := map[string]string{
		"/var/lock/x":         "run/lock/x",
		"/../../etc/passwd":   "etc/passwd",
		"var/../../..":        "",
		"/escape/secret":      outside[1:] + "/secret",
		"/var/updots/etc":     "etc",
		"/var/lock/../lock/y": "run/lock/y",
		"/missing/../var":     "var",
	}
	for in, want := range cases {
		got, err := r.Resolve(in)
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		if w := filepath.Join(real, want); got != w {
			t.Errorf("Resolve(%q) = %q, want %q", in, got, w)
		}
		if got != real && !filepathHasPrefix(got, real) {
			t.Errorf("Resolve(%q) escaped the root: %q", in, got)
		}
	}
	// The link itself, not its target.
	got, err := r.ResolveNoFollow("/var/lock")
	must(err)
	if got != filepath.Join(real, "var/lock") {
		t.Errorf("ResolveNoFollow = %q", got)
	}
	must(os.Symlink("loop", filepath.Join(dir, "loop")))
	if _, err := r.Resolve("/loop/x"); err == nil {
		t.Error("symlink loop resolved")
	}
}

func filepathHasPrefix(p, prefix string) bool {
	rel, err := filepath.Rel(prefix, p)
	return err == nil && rel != ".." && !filepathIsUp(rel)
}

func filepathIsUp(rel string) bool { return len(rel) >= 3 && rel[:3] == "../" }
