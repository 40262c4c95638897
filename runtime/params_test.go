package runtime

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A param.path value is checked before the script runs: a relative or
// unclean path, one crossing a link in a guest's directory, or a missing
// one where it must exist, is a usage error and nothing runs.
func TestPathParamsCheckedBeforeTheRun(t *testing.T) {
	rt := newSim(t, false)
	root := rt.Root.Dir()
	if err := os.MkdirAll(filepath.Join(root, "srv/old/config"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "guest"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("/srv", filepath.Join(root, "guest/link")); err != nil {
		t.Fatal(err)
	}
	rt.Root.Guard("/guest", "lxc:103")
	decls := []Param{
		{Name: "adopt_from", Type: "path", Exists: true},
		{Name: "out", Type: "path"},
	}
	for _, c := range []struct {
		args []string
		want string // "" when accepted
	}{
		{[]string{"--adopt-from=/srv/old"}, ""},
		{[]string{"--out=/not/yet"}, ""},
		{[]string{"--adopt-from=../../../../../etc"}, `--adopt-from: "../../../../../etc": want a clean absolute path`},
		{[]string{"--adopt-from=/srv/../etc"}, "want a clean absolute path"},
		{[]string{"--adopt-from=/srv/none"}, "--adopt-from: /srv/none does not exist"},
		{[]string{"--out=/guest/link/x"}, "refusing /guest/link: a symbolic link inside /guest, which lxc:103 can write"},
	} {
		_, err := rt.SetParams(decls, c.args, nil)
		var ue *UsageError
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%v: %v", c.args, err)
		case c.want != "" && (!errors.As(err, &ue) || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%v: got %v, want a usage error containing %q", c.args, err, c.want)
		}
	}
}
