package machine

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestRootConfinement(t *testing.T) {
	r, dir, outside := linkTree(t)
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
	must(t, err)
	if got != filepath.Join(real, "var/lock") {
		t.Errorf("ResolveNoFollow = %q", got)
	}
	must(t, os.Symlink("loop", filepath.Join(dir, "loop")))
	if _, err := r.Resolve("/loop/x"); err == nil {
		t.Error("symlink loop resolved")
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// linkTree is a root whose symlinks point inside it, out of it and up
// past it, with the directory outside that one of them names.
func linkTree(t *testing.T) (r *Root, dir, outside string) {
	t.Helper()
	dir, outside = t.TempDir(), t.TempDir()
	must(t, os.MkdirAll(filepath.Join(dir, "run/lock"), 0o755))
	must(t, os.MkdirAll(filepath.Join(dir, "var"), 0o755))
	must(t, os.Symlink("/run/lock", filepath.Join(dir, "var/lock")))        // absolute, inside
	must(t, os.Symlink(outside, filepath.Join(dir, "escape")))              // absolute, pointing out
	must(t, os.Symlink("../../../../..", filepath.Join(dir, "var/updots"))) // relative climb
	r, err := NewRoot(dir)
	must(t, err)
	t.Cleanup(func() { r.Close() })
	return r, dir, outside
}

func filepathHasPrefix(p, prefix string) bool {
	rel, err := filepath.Rel(prefix, p)
	return err == nil && rel != ".." && !filepathIsUp(rel)
}

func filepathIsUp(rel string) bool { return len(rel) >= 3 && rel[:3] == "../" }

// eachWalk runs f with openat2 and with the fallback walk.
func eachWalk(t *testing.T, f func(t *testing.T)) {
	for _, fast := range []bool{true, false} {
		name := "openat2"
		if !fast {
			name = "walk"
		}
		t.Run(name, func(t *testing.T) {
			old := noOpenat2.Load()
			noOpenat2.Store(!fast)
			t.Cleanup(func() { noOpenat2.Store(old) })
			f(t)
		})
	}
}

func TestRootHandlesStayInside(t *testing.T) {
	eachWalk(t, func(t *testing.T) {
		r, _, outside := linkTree(t)
		writes := map[string]string{
			"/var/lock/a":         "run/lock/a",
			"/../../b":            "b",
			"/escape/c":           filepath.Join(outside[1:], "c"),
			"/var/updots/d":       "d",
			"/var/lock/../lock/e": "run/lock/e",
		}
		for in, want := range writes {
			must(t, r.MkdirAll(filepath.Dir(want), 0o755))
			if err := r.WriteFile(in, []byte(in), 0o640, -1, -1); err != nil {
				t.Errorf("WriteFile(%q): %v", in, err)
				continue
			}
			b, err := os.ReadFile(filepath.Join(r.Dir(), want))
			if err != nil || string(b) != in {
				t.Errorf("WriteFile(%q) did not land at %s: %q %v", in, want, b, err)
			}
			st, _ := os.Stat(filepath.Join(r.Dir(), want))
			if st != nil && st.Mode().Perm() != 0o640 {
				t.Errorf("WriteFile(%q) mode %v", in, st.Mode())
			}
			got, err := r.ReadFile(in)
			if err != nil || string(got) != in {
				t.Errorf("ReadFile(%q) = %q, %v", in, got, err)
			}
		}
		if ents, _ := os.ReadDir(outside); len(ents) != 0 {
			t.Errorf("something was written outside the root: %v", ents)
		}
	})
}

func TestGuardRefusesLinks(t *testing.T) {
	eachWalk(t, func(t *testing.T) {
		dir, outside := t.TempDir(), t.TempDir()
		secret := filepath.Join(outside, "shadow")
		if err := os.WriteFile(secret, []byte("root:x\n"), 0o640); err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(dir, "data/103/ssl/sub"), 0o700); err != nil {
			t.Fatal(err)
		}
		// Same filesystem as the guarded directory, as a hard link needs.
		host := filepath.Join(dir, "etc-shadow")
		if err := os.WriteFile(host, []byte("root:x\n"), 0o640); err != nil {
			t.Fatal(err)
		}
		r, err := NewRoot(dir)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		r.Guard("/data/103/ssl", "lxc:103")
		ssl := filepath.Join(r.Dir(), "data/103/ssl")
		if err := os.Symlink(secret, filepath.Join(ssl, "abs")); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("../../../../etc-shadow", filepath.Join(ssl, "rel")); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("sub", filepath.Join(ssl, "inside")); err != nil {
			t.Fatal(err)
		}
		if err := os.Link(filepath.Join(r.Dir(), "etc-shadow"), filepath.Join(ssl, "hard")); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"abs", "rel", "inside/x", "hard"} {
			p := "/data/103/ssl/" + name
			var ue *UnsafeError
			if _, err := r.ReadFile(p); !errors.As(err, &ue) || ue.Guard.Owner != "lxc:103" {
				t.Errorf("ReadFile(%s) = %v, want a refusal naming lxc:103", p, err)
			}
			if err := r.WriteFile(p, []byte("x"), 0o600, -1, -1); !errors.As(err, &ue) {
				t.Errorf("WriteFile(%s) = %v, want a refusal", p, err)
			}
		}
		if f, err := r.Open("/data/103/ssl/hard"); err == nil {
			f.Close()
			t.Error("a hard-linked file in a guarded directory was opened")
		}
		for _, f := range []string{secret, host} {
			b, _ := os.ReadFile(f)
			st, _ := os.Stat(f)
			if string(b) != "root:x\n" || st.Mode().Perm() != 0o640 {
				t.Errorf("%s changed: %q %v", f, b, st.Mode())
			}
		}
		// The guarded directory itself swapped for a symlink.
		if err := os.Rename(ssl, ssl+".real"); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(outside, ssl); err != nil {
			t.Fatal(err)
		}
		var ue *UnsafeError
		if err := r.WriteFile("/data/103/ssl/new", nil, 0o600, -1, -1); !errors.As(err, &ue) {
			t.Errorf("write through a swapped guarded directory: %v", err)
		}
		if _, err := os.Stat(filepath.Join(outside, "new")); err == nil {
			t.Error("written outside the root")
		}
	})
}
