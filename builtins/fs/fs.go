// Package fs is the Starlark `fs` module: files under the run's --root.
package fs

import (
	"errors"
	"fmt"
	iofs "io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"

	"phoenix/internal/machine"
	"phoenix/runtime"
)

// Family registers fs with the runtime.
var Family = runtime.Family{Name: "fs", Module: Module}

// Module is the fs module. Every path is a site path, resolved under
// --root. Writes are atomic and declared to the plan.
//
//	read(path: str) - the file's content as a string
//	    Reads a file under --root; an error when it is missing.
//	write(path: str, content: str, mode: int|None = None, owner: str|int|tuple|None = None, readable: bool = False) - struct(changed, path)
//	    Converges a file: missing parent directories are created (mode 0755), then content, mode and owner are written in one atomic step (temp file, fsync, rename). Nothing is written when all three already match. owner is "uid:gid", (uid, gid) or one uid for both, or names resolved in the root's /etc/passwd and /etc/group ("www-data" for the user and its primary group, "www-data:adm"); None keeps the current owner (root for a new file). mode defaults to 0o644, and to 0o600 when content is a secret; a secret in a file that group or others may read (mode 0o640, say) is refused unless readable=True.
//	mkdir(path: str, mode: int = 0o755, owner: str|int|tuple|None = None) - struct(changed, path)
//	    Converges a directory and its parents, with mode and owner on the last one.
//	exists(path: str) - bool
//	stat(path: str) - struct(mode, uid, gid, size, is_dir, is_link), or None
//	list(path: str) - sorted names in a directory
//	glob(pattern: str) - sorted matching paths
//	    Wildcards (*, ?, [...]) in the last path element only; the paths returned are site paths.
//	chmod(path: str, mode: int) - struct(changed, path)
//	chown(path: str, owner: str|int|tuple) - struct(changed, path)
//	move(src: str, dst: str) - struct(changed, path)
//	    Renames src to dst; an error when src is missing or dst already exists.
//	remove(path: str, recursive: bool = False) - struct(changed, path); never the root itself
//
// In a directory a guest can write (a bind-mount source of the site) no
// symlink is followed and no hard-linked file is read or changed: the call
// fails naming the path and the guest.
var Module = &starlarkstruct.Module{
	Name: "fs",
	Members: starlark.StringDict{
		"read":   starlark.NewBuiltin("fs.read", read),
		"write":  starlark.NewBuiltin("fs.write", write),
		"mkdir":  starlark.NewBuiltin("fs.mkdir", mkdir),
		"exists": starlark.NewBuiltin("fs.exists", exists),
		"stat":   starlark.NewBuiltin("fs.stat", stat),
		"list":   starlark.NewBuiltin("fs.list", list),
		"glob":   starlark.NewBuiltin("fs.glob", glob),
		"chmod":  starlark.NewBuiltin("fs.chmod", chmod),
		"chown":  starlark.NewBuiltin("fs.chown", chown),
		"move":   starlark.NewBuiltin("fs.move", move),
		"remove": starlark.NewBuiltin("fs.remove", remove),
	},
}

func result(changed bool, path string) starlark.Value {
	return starlarkstruct.FromStringDict(starlarkstruct.Default, starlark.StringDict{
		"changed": starlark.Bool(changed),
		"path":    starlark.String(path),
	})
}

func wrap(b *starlark.Builtin, err error) error {
	if err == nil {
		return nil
	}
	return fmt.Errorf("%s: %w", b.Name(), err)
}

func read(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var path string
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "path", &path); err != nil {
		return nil, err
	}
	data, err := runtime.FromThread(thread).ReadFile(path)
	if errors.Is(err, runtime.ErrKnownAfterApply) {
		return runtime.NewUnknown(thread, b.Name()+"("+path+")"), nil
	}
	if err != nil {
		return nil, wrap(b, err)
	}
	return starlark.String(data), nil
}

func write(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var path string
	var content starlark.Value
	var modeV, owner starlark.Value = starlark.None, starlark.None
	readable := false
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "path", &path, "content", &content, "mode?", &modeV, "owner?", &owner, "readable?", &readable); err != nil {
		return nil, err
	}
	mode := -1
	if modeV != starlark.None {
		m, err := starlark.AsInt32(modeV)
		if err != nil || m < 0 || m > 0o7777 {
			return nil, fmt.Errorf("%s: mode: want an int such as 0o644, got %s", b.Name(), modeV)
		}
		mode = m
	}
	spec := runtime.FileSpec{Path: path, Mode: 0o644}
	switch c := content.(type) {
	case starlark.String:
		spec.Data = []byte(c)
	case starlark.Bytes:
		spec.Data = []byte(c)
	case *runtime.Secret:
		spec.Data, spec.Secret, spec.Mode = c.Reveal(), true, 0o600
		if mode >= 0 && mode&0o077 != 0 && !readable {
			return nil, fmt.Errorf("%s: %s: mode %04o lets group or others read a secret; pass readable=True if that is meant", b.Name(), path, mode)
		}
	default:
		if err := runtime.Known(content, b.Name()+": content"); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%s: content: want string, bytes or secret, got %s", b.Name(), content.Type())
	}
	if mode >= 0 {
		spec.Mode = os.FileMode(mode)
	}
	var err error
	if spec.UID, spec.GID, err = runtime.Owner(thread, owner); err != nil {
		return nil, wrap(b, err)
	}
	changed, err := runtime.FromThread(thread).EnsureFile(thread, spec)
	if err != nil {
		return nil, wrap(b, err)
	}
	return result(changed, path), nil
}

func mkdir(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var path string
	mode := 0o755
	var owner starlark.Value = starlark.None
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "path", &path, "mode?", &mode, "owner?", &owner); err != nil {
		return nil, err
	}
	uid, gid, err := runtime.Owner(thread, owner)
	if err != nil {
		return nil, wrap(b, err)
	}
	changed, err := runtime.FromThread(thread).EnsureDir(thread, path, os.FileMode(mode), uid, gid)
	if err != nil {
		return nil, wrap(b, err)
	}
	return result(changed, path), nil
}

func exists(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var path string
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "path", &path); err != nil {
		return nil, err
	}
	ok, err := runtime.FromThread(thread).Exists(path)
	return starlark.Bool(ok), wrap(b, err)
}

func stat(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var path string
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "path", &path); err != nil {
		return nil, err
	}
	rt := runtime.FromThread(thread)
	if _, err := rt.Root.ResolveNoFollow(path); err != nil {
		return nil, wrap(b, err)
	}
	st, err := rt.Root.Lstat(path)
	if err != nil && !errors.Is(err, iofs.ErrNotExist) {
		return nil, wrap(b, err)
	}
	f, d, gone, perr := rt.PlannedPath(path)
	switch {
	case perr != nil:
		return nil, wrap(b, perr)
	case f != nil && f.Unknown:
		return statStruct(int(f.Mode), f.UID, f.GID, runtime.NewUnknown(thread, b.Name()+"("+path+").size"), false, false), nil
	case f != nil:
		return statStruct(int(f.Mode), f.UID, f.GID, starlark.MakeInt(len(f.Data)), false, false), nil
	case d != nil:
		return statStruct(int(d.Mode), d.UID, d.GID, runtime.NewUnknown(thread, b.Name()+"("+path+").size"), true, false), nil
	case gone || err != nil:
		return starlark.None, nil
	}
	return statStruct(int(st.Mode.Perm()), st.UID, st.GID, starlark.MakeInt64(st.Size), st.IsDir(), st.IsSymlink()), nil
}

func statStruct(mode, uid, gid int, size starlark.Value, isDir, isLink bool) starlark.Value {
	return starlarkstruct.FromStringDict(starlarkstruct.Default, starlark.StringDict{
		"mode":    starlark.MakeInt(mode),
		"uid":     starlark.MakeInt(uid),
		"gid":     starlark.MakeInt(gid),
		"size":    size,
		"is_dir":  starlark.Bool(isDir),
		"is_link": starlark.Bool(isLink),
	})
}

func list(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var path string
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "path", &path); err != nil {
		return nil, err
	}
	names, err := runtime.FromThread(thread).ReadDir(path)
	var pe *iofs.PathError
	if errors.As(err, &pe) {
		return nil, fmt.Errorf("%s: %s: %w", b.Name(), path, pe.Err)
	}
	if err != nil {
		return nil, wrap(b, err)
	}
	out := make([]starlark.Value, len(names))
	for i, n := range names {
		out[i] = starlark.String(n)
	}
	return starlark.NewList(out), nil
}

func glob(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var pattern string
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "pattern", &pattern); err != nil {
		return nil, err
	}
	rt := runtime.FromThread(thread)
	dir, base := filepath.Split(pattern)
	if strings.ContainsAny(dir, "*?[") {
		return nil, fmt.Errorf("%s: wildcards are supported in the last path element only", b.Name())
	}
	names, err := rt.ReadDir(dir)
	if errors.Is(err, iofs.ErrNotExist) {
		return starlark.NewList(nil), nil
	}
	if err != nil {
		return nil, wrap(b, err)
	}
	var out []string
	for _, n := range names {
		ok, err := filepath.Match(base, n)
		if err != nil {
			return nil, wrap(b, err)
		}
		if ok {
			out = append(out, filepath.Join(dir, n))
		}
	}
	sort.Strings(out)
	vals := make([]starlark.Value, len(out))
	for i, s := range out {
		vals[i] = starlark.String(s)
	}
	return starlark.NewList(vals), nil
}

func chmod(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var path string
	var mode int
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "path", &path, "mode", &mode); err != nil {
		return nil, err
	}
	return attr(thread, b, path, func(cur attrs) (string, attrs, func(*machine.File) error) {
		if cur.mode.Perm() == os.FileMode(mode).Perm() {
			return "", cur, nil
		}
		next := cur
		next.mode = os.FileMode(mode).Perm()
		return fmt.Sprintf("mode: %04o -> %04o", cur.mode.Perm(), mode), next, func(f *machine.File) error { return f.Chmod(os.FileMode(mode)) }
	})
}

func chown(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var path string
	var owner starlark.Value
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "path", &path, "owner", &owner); err != nil {
		return nil, err
	}
	uid, gid, err := runtime.Owner(thread, owner)
	if err != nil {
		return nil, wrap(b, err)
	}
	return attr(thread, b, path, func(cur attrs) (string, attrs, func(*machine.File) error) {
		if (uid < 0 || cur.uid == uid) && (gid < 0 || cur.gid == gid) {
			return "", cur, nil
		}
		next := cur
		if uid >= 0 {
			next.uid = uid
		}
		if gid >= 0 {
			next.gid = gid
		}
		return fmt.Sprintf("owner: %d:%d -> %d:%d", cur.uid, cur.gid, uid, gid), next, func(f *machine.File) error { return f.Chown(uid, gid) }
	})
}

// attrs are the attributes chmod and chown converge.
type attrs struct {
	mode     os.FileMode
	uid, gid int
}

// attr converges one attribute of an existing file or directory, as the
// run sees it (on disk, then as planned), on the handle that was checked.
func attr(thread *starlark.Thread, b *starlark.Builtin, path string, diff func(attrs) (string, attrs, func(*machine.File) error)) (starlark.Value, error) {
	rt := runtime.FromThread(thread)
	host, err := rt.Root.Resolve(path)
	if err != nil {
		return nil, wrap(b, err)
	}
	h, err := rt.Root.Open(path)
	if err != nil && !errors.Is(err, iofs.ErrNotExist) {
		return nil, wrap(b, err)
	}
	if h != nil {
		defer h.Close()
	}
	f, d, err := rt.Current(path)
	if err != nil {
		return nil, wrap(b, err)
	}
	var cur attrs
	switch {
	case f != nil:
		cur = attrs{f.Mode, f.UID, f.GID}
	case d != nil:
		cur = attrs{d.Mode, d.UID, d.GID}
	default:
		return nil, fmt.Errorf("%s: %s: %w", b.Name(), path, iofs.ErrNotExist)
	}
	detail, next, change := diff(cur)
	site := rt.Root.Rel(host)
	resource := "file:" + site
	if change == nil {
		runtime.Unchanged(thread, resource)
		return result(false, path), nil
	}
	leaves := map[string]any{}
	if f != nil {
		nf := *f
		nf.Mode, nf.UID, nf.GID = next.mode, next.uid, next.gid
		leaves[resource] = nf
	} else {
		leaves["dir:"+site] = runtime.PlannedDir{Mode: next.mode, UID: next.uid, GID: next.gid}
	}
	apply := func() error {
		if h == nil {
			// Planned when checked, made since.
			o, err := rt.Root.Open(path)
			if err != nil {
				return err
			}
			defer o.Close()
			h = o
		}
		return change(h)
	}
	if _, err := runtime.Do(thread, runtime.Change{Resource: resource, Action: "update", Detail: detail, Leaves: leaves}, apply); err != nil {
		return nil, wrap(b, err)
	}
	return result(true, path), nil
}

func move(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var src, dst string
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "src", &src, "dst", &dst); err != nil {
		return nil, err
	}
	rt := runtime.FromThread(thread)
	hs, err := rt.Root.ResolveNoFollow(src)
	if err != nil {
		return nil, wrap(b, err)
	}
	hd, err := rt.Root.ResolveNoFollow(dst)
	if err != nil {
		return nil, wrap(b, err)
	}
	if hs == rt.Root.Dir() || hd == rt.Root.Dir() {
		return nil, fmt.Errorf("%s: refusing to move the root itself", b.Name())
	}
	if ok, err := lexists(rt, src, hs); err != nil || !ok {
		if err == nil {
			err = iofs.ErrNotExist
		}
		return nil, fmt.Errorf("%s: %s: %w", b.Name(), src, err)
	}
	if ok, _ := lexists(rt, dst, hd); ok {
		return nil, fmt.Errorf("%s: %s already exists; refusing to replace it", b.Name(), dst)
	}
	// What moves is what dst then holds; a directory's content is not
	// followed into the plan.
	from, to := rt.Root.Rel(hs), rt.Root.Rel(hd)
	leaves := map[string]any{"file:" + from: runtime.Gone}
	if f, d, err := rt.Current(src); err == nil && f != nil {
		leaves["file:"+to] = *f
	} else if err == nil && d != nil {
		leaves["dir:"+to] = *d
	}
	_, err = runtime.Do(thread, runtime.Change{Resource: "file:" + from, Action: "update", Detail: "move to " + to, Leaves: leaves}, func() error {
		return rt.Root.Rename(src, dst, true)
	})
	if err != nil {
		return nil, wrap(b, err)
	}
	return result(true, dst), nil
}

func remove(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var path string
	recursive := false
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "path", &path, "recursive?", &recursive); err != nil {
		return nil, err
	}
	rt := runtime.FromThread(thread)
	host, err := rt.Root.ResolveNoFollow(path)
	if err != nil {
		return nil, wrap(b, err)
	}
	if host == rt.Root.Dir() {
		return nil, fmt.Errorf("%s: refusing to remove the root itself", b.Name())
	}
	resource := "file:" + rt.Root.Rel(host)
	ok, err := lexists(rt, path, host)
	if err != nil {
		return nil, wrap(b, err)
	}
	if !ok {
		runtime.Unchanged(thread, resource)
		return result(false, path), nil
	}
	if !recursive {
		if ents, err := rt.ReadDir(path); err == nil && len(ents) > 0 {
			return nil, fmt.Errorf("%s: %s is a non-empty directory; pass recursive=True", b.Name(), path)
		}
	}
	_, err = runtime.Do(thread, runtime.Change{Resource: resource, Action: "delete", Leaves: map[string]any{resource: runtime.Gone}}, func() error {
		if recursive {
			return rt.Root.RemoveAll(path)
		}
		return rt.Root.Remove(path)
	})
	if err != nil {
		return nil, wrap(b, err)
	}
	return result(true, path), nil
}

// lexists reports whether a site path (a symlink itself, not followed)
// exists on disk, then as planned.
func lexists(rt *runtime.Runtime, p, host string) (bool, error) {
	_, err := rt.Root.Lstat(p)
	if err != nil && !errors.Is(err, iofs.ErrNotExist) {
		return false, err
	}
	f, d, gone, perr := rt.PlannedPath(p)
	switch {
	case perr != nil:
		return false, perr
	case f != nil || d != nil:
		return true, nil
	case gone:
		return false, nil
	}
	return err == nil, nil
}
