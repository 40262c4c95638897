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
//	write(path: str, content: str, mode: int = 0o644, owner: str|int|tuple|None = None) - struct(changed, path)
//	    Converges a file: missing parent directories are created (mode 0755), then content, mode and owner are written in one atomic step (temp file, fsync, rename). Nothing is written when all three already match. owner is "uid:gid", (uid, gid) or one uid for both; None keeps the current owner (root for a new file). For a secret use secret.write.
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
	if err != nil {
		return nil, wrap(b, err)
	}
	return starlark.String(data), nil
}

func write(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var path string
	var content starlark.Value
	mode := 0o644
	var owner starlark.Value = starlark.None
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "path", &path, "content", &content, "mode?", &mode, "owner?", &owner); err != nil {
		return nil, err
	}
	spec := runtime.FileSpec{Path: path, Mode: os.FileMode(mode)}
	switch c := content.(type) {
	case starlark.String:
		spec.Data = []byte(c)
	case starlark.Bytes:
		spec.Data = []byte(c)
	case *runtime.Secret:
		spec.Data, spec.Secret = c.Reveal(), true
	default:
		if err := runtime.Known(content, b.Name()+": content"); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("%s: content: want string, bytes or secret, got %s", b.Name(), content.Type())
	}
	var err error
	if spec.UID, spec.GID, err = runtime.ParseOwner(owner); err != nil {
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
	uid, gid, err := runtime.ParseOwner(owner)
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
	host, err := rt.Root.ResolveNoFollow(path)
	if err != nil {
		return nil, wrap(b, err)
	}
	st, err := os.Lstat(host)
	if errors.Is(err, iofs.ErrNotExist) {
		if f, ok := rt.Planned(host); ok && !f.Removed {
			return statStruct(int(f.Mode), f.UID, f.GID, len(f.Data), false, false), nil
		}
		return starlark.None, nil
	}
	if err != nil {
		return nil, wrap(b, err)
	}
	uid, gid := machine.OwnerOf(st)
	return statStruct(int(st.Mode().Perm()), uid, gid, int(st.Size()), st.IsDir(), st.Mode()&iofs.ModeSymlink != 0), nil
}

func statStruct(mode, uid, gid, size int, isDir, isLink bool) starlark.Value {
	return starlarkstruct.FromStringDict(starlarkstruct.Default, starlark.StringDict{
		"mode":    starlark.MakeInt(mode),
		"uid":     starlark.MakeInt(uid),
		"gid":     starlark.MakeInt(gid),
		"size":    starlark.MakeInt(size),
		"is_dir":  starlark.Bool(isDir),
		"is_link": starlark.Bool(isLink),
	})
}

func list(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var path string
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "path", &path); err != nil {
		return nil, err
	}
	host, err := runtime.FromThread(thread).Root.Resolve(path)
	if err != nil {
		return nil, wrap(b, err)
	}
	ents, err := os.ReadDir(host)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", b.Name(), path, errors.Unwrap(err))
	}
	out := make([]starlark.Value, len(ents))
	for i, e := range ents {
		out[i] = starlark.String(e.Name())
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
	host, err := rt.Root.Resolve(dir)
	if err != nil {
		return nil, wrap(b, err)
	}
	ents, err := os.ReadDir(host)
	if errors.Is(err, iofs.ErrNotExist) {
		return starlark.NewList(nil), nil
	}
	if err != nil {
		return nil, wrap(b, err)
	}
	var out []string
	for _, e := range ents {
		ok, err := filepath.Match(base, e.Name())
		if err != nil {
			return nil, wrap(b, err)
		}
		if ok {
			out = append(out, filepath.Join(dir, e.Name()))
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
	return attr(thread, b, path, func(st iofs.FileInfo, host string) (string, func() error) {
		if st.Mode().Perm() == os.FileMode(mode).Perm() {
			return "", nil
		}
		return fmt.Sprintf("mode: %04o -> %04o", st.Mode().Perm(), mode), func() error { return os.Chmod(host, os.FileMode(mode)) }
	})
}

func chown(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var path string
	var owner starlark.Value
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "path", &path, "owner", &owner); err != nil {
		return nil, err
	}
	uid, gid, err := runtime.ParseOwner(owner)
	if err != nil {
		return nil, wrap(b, err)
	}
	return attr(thread, b, path, func(st iofs.FileInfo, host string) (string, func() error) {
		cu, cg := machine.OwnerOf(st)
		if (uid < 0 || cu == uid) && (gid < 0 || cg == gid) {
			return "", nil
		}
		return fmt.Sprintf("owner: %d:%d -> %d:%d", cu, cg, uid, gid), func() error { return os.Lchown(host, uid, gid) }
	})
}

// attr converges one attribute of an existing file.
func attr(thread *starlark.Thread, b *starlark.Builtin, path string, diff func(iofs.FileInfo, string) (string, func() error)) (starlark.Value, error) {
	rt := runtime.FromThread(thread)
	host, err := rt.Root.Resolve(path)
	if err != nil {
		return nil, wrap(b, err)
	}
	st, err := os.Stat(host)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", b.Name(), path, errors.Unwrap(err))
	}
	detail, apply := diff(st, host)
	resource := "file:" + rt.Root.Rel(host)
	if apply == nil {
		runtime.Unchanged(thread, resource)
		return result(false, path), nil
	}
	if err := runtime.Do(thread, runtime.Change{Resource: resource, Action: "update", Detail: detail}, apply); err != nil {
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
	if _, err := os.Lstat(hs); err != nil {
		return nil, fmt.Errorf("%s: %s: %w", b.Name(), src, errors.Unwrap(err))
	}
	if _, err := os.Lstat(hd); err == nil {
		return nil, fmt.Errorf("%s: %s already exists; refusing to replace it", b.Name(), dst)
	}
	err = runtime.Do(thread, runtime.Change{Resource: "file:" + rt.Root.Rel(hs), Action: "update", Detail: "move to " + rt.Root.Rel(hd)}, func() error {
		if err := os.Rename(hs, hd); err != nil {
			return err
		}
		return machine.SyncDir(filepath.Dir(hd))
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
	st, err := os.Lstat(host)
	if errors.Is(err, iofs.ErrNotExist) {
		runtime.Unchanged(thread, resource)
		return result(false, path), nil
	}
	if err != nil {
		return nil, wrap(b, err)
	}
	if st.IsDir() && !recursive {
		if ents, _ := os.ReadDir(host); len(ents) > 0 {
			return nil, fmt.Errorf("%s: %s is a non-empty directory; pass recursive=True", b.Name(), path)
		}
	}
	err = runtime.Do(thread, runtime.Change{Resource: resource, Action: "delete"}, func() error {
		if recursive {
			return os.RemoveAll(host)
		}
		return os.Remove(host)
	})
	if err != nil {
		return nil, wrap(b, err)
	}
	rt.PlanFile(host, runtime.PlannedFile{Removed: true})
	return result(true, path), nil
}
