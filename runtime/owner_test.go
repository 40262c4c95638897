package runtime

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"phoenix/internal/testkit"
)

// A write that leaves the owner as is keeps the file's owner: the plan
// shows only the content change, and the apply does only that.
func TestEnsureFileKeepsOwner(t *testing.T) {
	testkit.NeedRoot(t, "the test file must belong to another user")
	for _, dry := range []bool{false, true} {
		t.Run(fmt.Sprintf("dry-run=%v", dry), func(t *testing.T) {
			rt := newSim(t, dry)
			host := filepath.Join(rt.Root.Dir(), "app.conf")
			if err := os.WriteFile(host, []byte("x=1\n"), 0o640); err != nil {
				t.Fatal(err)
			}
			if err := os.Chown(host, 1234, 1234); err != nil {
				t.Fatal(err)
			}
			th := rt.NewThread("t", rt.Report(), io.Discard)
			defer rt.Release(th)
			spec := FileSpec{Path: "/app.conf", Data: []byte("x=2\n"), Mode: 0o640, UID: -1, GID: -1}
			if _, err := rt.EnsureFile(th, spec); err != nil {
				t.Fatal(err)
			}
			cs := rt.Report().Changes
			if len(cs) != 1 || cs[0].Detail != "content: 4 -> 4 bytes" {
				t.Fatalf("changes %+v, want one with detail %q", cs, "content: 4 -> 4 bytes")
			}
			if f, _, ok := PlannedAs[PlannedFile](rt, "file:/app.conf"); dry && (!ok || f.UID != 1234 || f.GID != 1234) {
				t.Errorf("planned state %+v, %v: want owner 1234:1234 in a plan", f, ok)
			}
			st, err := os.Stat(host)
			if err != nil {
				t.Fatal(err)
			}
			if s := st.Sys().(*syscall.Stat_t); s.Uid != 1234 || s.Gid != 1234 {
				t.Errorf("owner %d:%d after the run, want 1234:1234", s.Uid, s.Gid)
			}
			// A second write of the same is no change, in either mode.
			if changed, err := rt.EnsureFile(th, spec); err != nil || changed {
				t.Errorf("second write: changed %v, %v", changed, err)
			}
		})
	}
}
