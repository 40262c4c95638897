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

// ErrKnownAfterApply is ReadFile's error for a file a plan creates with
// content only the apply will know (a certificate the CA issues).
var ErrKnownAfterApply = errors.New("content known only after apply")

// ReadFile reads a site path, then sees a dry run's planned writes.
func (rt *Runtime) ReadFile(path string) ([]byte, error) {
	host, err := rt.Root.Resolve(path)
	if err != nil {
		return nil, err
	}
	b, err := rt.Root.ReadFile(path)
	var ue *machine.UnsafeError
	if errors.As(err, &ue) {
		return nil, err
	}
	f, _, gone := rt.plannedPath(rt.Root.Rel(host))
	switch {
	case f != nil && f.Unknown:
		return nil, &fs.PathError{Op: "read", Path: path, Err: ErrKnownAfterApply}
	case f != nil:
		return f.Data, nil
	case gone:
		return nil, &fs.PathError{Op: "read", Path: path, Err: fs.ErrNotExist}
	case err != nil:
		var pe *fs.PathError
		if errors.As(err, &pe) {
			return nil, &fs.PathError{Op: "read", Path: path, Err: pe.Err}
		}
		return nil, err
	}
	return b, nil
}

// Exists reports whether a site path exists, then whether a dry run
// planned it.
func (rt *Runtime) Exists(path string) (bool, error) {
	host, err := rt.Root.Resolve(path)
	if err != nil {
		return false, err
	}
	_, err = rt.Root.Stat(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	f, d, gone := rt.plannedPath(rt.Root.Rel(host))
	switch {
	case f != nil || d != nil:
		return true, nil
	case gone:
		return false, nil
	}
	return err == nil, nil
}

// dirState is a directory as the run sees it: on disk, then as planned.
func (rt *Runtime) dirState(host string) (d PlannedDir, isDir, exists bool, err error) {
	st, err := rt.Root.Stat(rt.Root.Rel(host))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return d, false, false, err
	}
	var sp *machine.Info
	if err == nil {
		sp = &st
	}
	d, isDir, exists = rt.dirStateOf(host, sp)
	return d, isDir, exists, nil
}

// dirStateOf is dirState from what fstat said of an open handle (nil when
// the directory is missing on disk).
func (rt *Runtime) dirStateOf(host string, st *machine.Info) (d PlannedDir, isDir, exists bool) {
	if st != nil {
		d, isDir, exists = PlannedDir{Mode: st.Mode.Perm(), UID: st.UID, GID: st.GID}, st.IsDir(), true
	}
	f, pd, gone := rt.plannedPath(rt.Root.Rel(host))
	switch {
	case pd != nil:
		return *pd, true, true
	case f != nil:
		return PlannedDir{}, false, true
	case gone:
		return PlannedDir{}, false, false
	}
	return d, isDir, exists
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
	defer rt.locks.Hold(host)()
	resource := "file:" + rt.Root.Rel(host)
	// The parent stays open from the check to the write: nothing is
	// looked up by name again. It is missing only in a plan.
	dir, name, err := rt.Root.OpenParent(f.Path, true)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	defer dir.Close()
	var detail string
	cur, have, err := rt.currentFileAt(host, dir, name)
	if err != nil {
		return false, err
	}
	switch {
	case !have:
		detail = fmt.Sprintf("new, %s, mode %04o%s", size(f), f.Mode, ownerDetail(f.UID, f.GID))
	default:
		var diffs []string
		if cur.Unknown {
			diffs = append(diffs, "content: known after apply")
		} else if !bytes.Equal(cur.Data, f.Data) {
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
	uid, gid := f.UID, f.GID
	if have {
		action = "update"
		// The rename replaces the inode: an owner left as is must be
		// carried over, or the file would become the writer's.
		uid, gid = pick(uid, cur.UID), pick(gid, cur.GID)
	}
	leaves := PlannedFile{Data: f.Data, Mode: f.Mode, UID: pick(uid, 0), GID: pick(gid, 0)}
	_, err = Do(thread, Change{Resource: resource, Action: action, Detail: detail, Leaves: map[string]any{resource: leaves}}, func() error {
		if dir == nil {
			d, n, err := rt.Root.OpenParent(f.Path, true)
			if err != nil {
				return err
			}
			defer d.Close()
			dir, name = d, n
		}
		return dir.WriteFile(name, f.Data, f.Mode, uid, gid)
	})
	if err != nil {
		return false, err
	}
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
		if _, _, exists, err := rt.dirState(d); err == nil && exists {
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
	defer rt.locks.Hold(host)()
	site := rt.Root.Rel(host)
	resource := "dir:" + site
	// What is checked is what is changed: the parent's handle for a
	// mkdir, the directory's own for chmod and chown.
	dir, name, err := rt.Root.OpenParent(site, true)
	var open *machine.File
	if err == nil {
		defer dir.Close()
		open, err = dir.Open(name)
		if err == nil {
			defer open.Close()
		}
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	var st *machine.Info
	if open != nil {
		i := open.Info()
		st = &i
	}
	cur, isDir, exists := rt.dirStateOf(host, st)
	if parent && exists && isDir {
		Touched(thread, resource)
		return false, nil
	}
	if !exists {
		leaves := map[string]any{resource: PlannedDir{Mode: mode, UID: pick(uid, 0), GID: pick(gid, 0)}}
		_, err := Do(thread, Change{Resource: resource, Action: "create", Detail: fmt.Sprintf("directory, mode %04o%s", mode, ownerDetail(uid, gid)), Leaves: leaves}, func() error {
			if dir == nil {
				d, n, err := rt.Root.OpenParent(site, true)
				if err != nil {
					return err
				}
				defer d.Close()
				dir, name = d, n
			}
			return dir.Mkdir(name, mode, uid, gid)
		})
		return err == nil, err
	}
	if !isDir {
		return false, fmt.Errorf("%s exists and is not a directory", site)
	}
	var diffs []string
	if cur.Mode.Perm() != mode.Perm() {
		diffs = append(diffs, fmt.Sprintf("mode: %04o -> %04o", cur.Mode.Perm(), mode.Perm()))
	}
	if uid >= 0 && cur.UID != uid || gid >= 0 && cur.GID != gid {
		diffs = append(diffs, fmt.Sprintf("owner: %d:%d -> %d:%d", cur.UID, cur.GID, pick(uid, cur.UID), pick(gid, cur.GID)))
	}
	if len(diffs) == 0 {
		Unchanged(thread, resource)
		return false, nil
	}
	leaves := map[string]any{resource: PlannedDir{Mode: mode, UID: pick(uid, cur.UID), GID: pick(gid, cur.GID)}}
	_, err = Do(thread, Change{Resource: resource, Action: "update", Detail: join(diffs), Leaves: leaves}, func() error {
		if open == nil {
			f, err := rt.Root.Open(site)
			if err != nil {
				return err
			}
			defer f.Close()
			open = f
		}
		if err := open.Chmod(mode); err != nil {
			return err
		}
		return open.Chown(uid, gid)
	})
	return err == nil, err
}

// currentFile is a file as the run sees it: on disk, then as planned.
func (rt *Runtime) currentFile(host string) (PlannedFile, bool) {
	dir, name, err := rt.Root.OpenParent(rt.Root.Rel(host), true)
	if err != nil {
		dir = nil
	}
	defer dir.Close()
	f, ok, err := rt.currentFileAt(host, dir, name)
	return f, ok && err == nil
}

// currentFileAt is currentFile read through the parent's handle (nil in a
// plan whose parent is not made yet).
func (rt *Runtime) currentFileAt(host string, dir *machine.Dir, name string) (PlannedFile, bool, error) {
	f, _, gone := rt.plannedPath(rt.Root.Rel(host))
	if f != nil {
		return *f, true, nil
	}
	if gone || dir == nil {
		return PlannedFile{}, false, nil
	}
	h, err := dir.Open(name)
	if errors.Is(err, fs.ErrNotExist) {
		return PlannedFile{}, false, nil
	}
	if err != nil {
		return PlannedFile{}, false, err
	}
	defer h.Close()
	st := h.Info()
	if !st.IsRegular() {
		return PlannedFile{}, false, nil
	}
	b, err := h.ReadAll()
	if err != nil {
		return PlannedFile{}, false, err
	}
	return PlannedFile{Data: b, Mode: st.Mode.Perm(), UID: st.UID, GID: st.GID}, true, nil
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

// RemoveFile converges a file at a site path to absent: a declared delete
// when it exists (or is planned), nothing when it does not. It refuses a
// directory.
func (rt *Runtime) RemoveFile(thread *starlark.Thread, path string) (changed bool, err error) {
	host, err := rt.Root.ResolveNoFollow(path)
	if err != nil {
		return false, err
	}
	defer rt.locks.Hold(host)()
	resource := "file:" + rt.Root.Rel(host)
	st, err := rt.Root.Lstat(path)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return false, err
	}
	f, d, gone, perr := rt.PlannedPath(path)
	switch {
	case perr != nil:
		return false, perr
	case d != nil || f == nil && err == nil && st.IsDir():
		return false, fmt.Errorf("%s is a directory", rt.Root.Rel(host))
	case gone || f == nil && err != nil:
		Unchanged(thread, resource)
		return false, nil
	}
	_, err = Do(thread, Change{Resource: resource, Action: "delete", Leaves: map[string]any{resource: Gone}}, func() error {
		return rt.Root.Remove(path)
	})
	return err == nil, err
}
