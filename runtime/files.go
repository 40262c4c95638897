package runtime

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"phoenix/internal/machine"

	"go.starlark.net/starlark"
)

// FileSpec is the declared state of one file, at a site path.
type FileSpec struct {
	Path     string // site path, resolved under --root
	Data     []byte
	Mode     os.FileMode
	UID, GID int  // -1: leave as is (root for a new file)
	Secret   bool // never describe the content
}

// ReadFile reads a site path, seeing a dry run's planned writes.
func (rt *Runtime) ReadFile(path string) ([]byte, error) {
	host, err := rt.Root.Resolve(path)
	if err != nil {
		return nil, err
	}
	if f, ok := rt.Planned(host); ok {
		if f.Removed {
			return nil, &fs.PathError{Op: "read", Path: path, Err: fs.ErrNotExist}
		}
		return f.Data, nil
	}
	b, err := os.ReadFile(host)
	if err != nil {
		return nil, &fs.PathError{Op: "read", Path: path, Err: errors.Unwrap(err)}
	}
	return b, nil
}

// Exists reports whether a site path exists, or is planned to.
func (rt *Runtime) Exists(path string) (bool, error) {
	host, err := rt.Root.Resolve(path)
	if err != nil {
		return false, err
	}
	if f, ok := rt.Planned(host); ok {
		return !f.Removed, nil
	}
	if rt.PlannedDir(host) {
		return true, nil
	}
	_, err = os.Lstat(host)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// EnsureFile converges one file: parent directories (each its own change,
// mode 0755), then content, mode and owner in one atomic write.
func (rt *Runtime) EnsureFile(thread *starlark.Thread, f FileSpec) (changed bool, err error) {
	host, err := rt.Root.Resolve(f.Path)
	if err != nil {
		return false, err
	}
	if err := rt.ensureParents(thread, filepath.Dir(host)); err != nil {
		return false, err
	}
	defer rt.overlay.locks.Hold(host)()
	resource := "file:" + rt.Root.Rel(host)
	var detail string
	cur, have := rt.currentFile(host)
	switch {
	case !have:
		detail = fmt.Sprintf("new, %s, mode %04o%s", size(f), f.Mode, ownerDetail(f.UID, f.GID))
	default:
		var diffs []string
		if !bytes.Equal(cur.Data, f.Data) {
			if f.Secret {
				diffs = append(diffs, "content: <secret> changed")
			} else {
				diffs = append(diffs, fmt.Sprintf("content: %d -> %d bytes", len(cur.Data), len(f.Data)))
			}
		}
		if cur.Mode.Perm() != f.Mode.Perm() {
			diffs = append(diffs, fmt.Sprintf("mode: %04o -> %04o", cur.Mode.Perm(), f.Mode.Perm()))
		}
		if f.UID >= 0 && cur.UID != f.UID || f.GID >= 0 && cur.GID != f.GID {
			diffs = append(diffs, fmt.Sprintf("owner: %d:%d -> %d:%d", cur.UID, cur.GID, pick(f.UID, cur.UID), pick(f.GID, cur.GID)))
		}
		if len(diffs) == 0 {
			Unchanged(thread, resource)
			return false, nil
		}
		detail = join(diffs)
	}
	action := "create"
	if have {
		action = "update"
	}
	err = Do(thread, Change{Resource: resource, Action: action, Detail: detail}, func() error {
		return machine.WriteFileAtomic(host, f.Data, f.Mode, f.UID, f.GID)
	})
	if err != nil {
		return false, err
	}
	rt.PlanFile(host, PlannedFile{Data: f.Data, Mode: f.Mode, UID: pick(f.UID, 0), GID: pick(f.GID, 0)})
	return true, nil
}

// EnsureDir converges a directory at a site path with mode and owner.
func (rt *Runtime) EnsureDir(thread *starlark.Thread, path string, mode os.FileMode, uid, gid int) (changed bool, err error) {
	host, err := rt.Root.Resolve(path)
	if err != nil {
		return false, err
	}
	if err := rt.ensureParents(thread, filepath.Dir(host)); err != nil {
		return false, err
	}
	return rt.ensureDir(thread, host, mode, uid, gid, false)
}

func (rt *Runtime) ensureParents(thread *starlark.Thread, hostDir string) error {
	var missing []string
	for d := hostDir; d != rt.Root.Dir() && len(d) > len(rt.Root.Dir()); d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil || rt.PlannedDir(d) {
			rt.touchAncestry(thread, d)
			break
		}
		missing = append(missing, d)
	}
	for i := len(missing) - 1; i >= 0; i-- {
		if _, err := rt.ensureDir(thread, missing[i], 0o755, -1, -1, true); err != nil {
			return err
		}
	}
	return nil
}

// touchAncestry marks d and the directories above it as met, top down,
// in the order a step that had to make them would have.
func (rt *Runtime) touchAncestry(thread *starlark.Thread, d string) {
	var up []string
	for ; d != rt.Root.Dir() && len(d) > len(rt.Root.Dir()); d = filepath.Dir(d) {
		up = append(up, d)
	}
	for i := len(up) - 1; i >= 0; i-- {
		Touched(thread, "dir:"+rt.Root.Rel(up[i]))
	}
}

// ensureDir converges one directory. A missing parent (parent=true) that
// a parallel step has made meanwhile is only touched, as if it had been
// found in place, not counted as unchanged.
func (rt *Runtime) ensureDir(thread *starlark.Thread, host string, mode os.FileMode, uid, gid int, parent bool) (bool, error) {
	defer rt.overlay.locks.Hold(host)()
	resource := "dir:" + rt.Root.Rel(host)
	st, err := os.Stat(host)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	if parent && (err == nil && st.IsDir() || err != nil && rt.PlannedDir(host)) {
		Touched(thread, resource)
		return false, nil
	}
	if err != nil {
		if rt.PlannedDir(host) {
			Unchanged(thread, resource)
			return false, nil
		}
		err := Do(thread, Change{Resource: resource, Action: "create", Detail: fmt.Sprintf("directory, mode %04o%s", mode, ownerDetail(uid, gid))}, func() error {
			if err := os.Mkdir(host, mode); err != nil {
				return err
			}
			// Mkdir applies the umask; the declared mode is the truth.
			if err := os.Chmod(host, mode); err != nil {
				return err
			}
			if uid >= 0 || gid >= 0 {
				if err := os.Chown(host, uid, gid); err != nil {
					return err
				}
			}
			return machine.SyncDir(filepath.Dir(host))
		})
		if err == nil {
			rt.PlanDir(host)
		}
		return err == nil, err
	}
	if !st.IsDir() {
		return false, fmt.Errorf("%s exists and is not a directory", rt.Root.Rel(host))
	}
	var diffs []string
	if st.Mode().Perm() != mode.Perm() {
		diffs = append(diffs, fmt.Sprintf("mode: %04o -> %04o", st.Mode().Perm(), mode.Perm()))
	}
	cuid, cgid := machine.OwnerOf(st)
	if uid >= 0 && cuid != uid || gid >= 0 && cgid != gid {
		diffs = append(diffs, fmt.Sprintf("owner: %d:%d -> %d:%d", cuid, cgid, pick(uid, cuid), pick(gid, cgid)))
	}
	if len(diffs) == 0 {
		Unchanged(thread, resource)
		return false, nil
	}
	err = Do(thread, Change{Resource: resource, Action: "update", Detail: join(diffs)}, func() error {
		if err := os.Chmod(host, mode); err != nil {
			return err
		}
		return os.Chown(host, uid, gid)
	})
	return err == nil, err
}

func (rt *Runtime) currentFile(host string) (PlannedFile, bool) {
	if f, ok := rt.Planned(host); ok {
		return f, !f.Removed
	}
	st, err := os.Stat(host)
	if err != nil || !st.Mode().IsRegular() {
		return PlannedFile{}, false
	}
	b, err := os.ReadFile(host)
	if err != nil {
		return PlannedFile{}, false
	}
	uid, gid := machine.OwnerOf(st)
	return PlannedFile{Data: b, Mode: st.Mode().Perm(), UID: uid, GID: gid}, true
}

func pick(want, cur int) int {
	if want < 0 {
		return cur
	}
	return want
}

func size(f FileSpec) string {
	if f.Secret {
		return "<secret>"
	}
	return fmt.Sprintf("%d bytes", len(f.Data))
}

func ownerDetail(uid, gid int) string {
	if uid < 0 && gid < 0 {
		return ""
	}
	return fmt.Sprintf(", owner %d:%d", pick(uid, 0), pick(gid, 0))
}

func join(s []string) string {
	out := ""
	for i, x := range s {
		if i > 0 {
			out += ", "
		}
		out += x
	}
	return out
}

// ParseOwner reads an owner argument: None, "uid:gid", an int uid (gid the
// same) or a (uid, gid) tuple.
func ParseOwner(v starlark.Value) (uid, gid int, err error) {
	switch v := v.(type) {
	case nil, starlark.NoneType:
		return -1, -1, nil
	case starlark.Int:
		n, ok := v.Int64()
		if !ok || n < 0 {
			return 0, 0, fmt.Errorf("owner: bad uid %s", v)
		}
		return int(n), int(n), nil
	case starlark.String:
		var u, g int
		if _, err := fmt.Sscanf(string(v), "%d:%d", &u, &g); err != nil || u < 0 || g < 0 {
			return 0, 0, fmt.Errorf("owner: want \"uid:gid\", got %q", string(v))
		}
		return u, g, nil
	case starlark.Tuple:
		if len(v) == 2 {
			u, ok1 := v[0].(starlark.Int)
			g, ok2 := v[1].(starlark.Int)
			if ok1 && ok2 {
				ui, _ := u.Int64()
				gi, _ := g.Int64()
				if ui >= 0 && gi >= 0 {
					return int(ui), int(gi), nil
				}
			}
		}
	}
	return 0, 0, fmt.Errorf("owner: want None, uid, \"uid:gid\" or (uid, gid), got %s", v.Type())
}
