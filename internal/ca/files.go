package ca

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"phoenix/internal/machine"
	"sync"
)

// Every file of a CA is read and written through a machine.Root: paths
// are the root's site paths, and each operation acts through directory
// handles, so a guest that can write the CA directory cannot steer a
// write out of it. A nil root is the host's "/".

var hostRoot = sync.OnceValues(func() (*machine.Root, error) { return machine.NewRoot("/") })

func rootOr(r *machine.Root) *machine.Root {
	if r != nil {
		return r
	}
	h, err := hostRoot()
	if err != nil {
		panic(fmt.Sprintf("ca: opening /: %v", err)) // "/" always exists
	}
	return h
}

// writeFileAtomic writes data to path through a temporary file in the same
// directory (fsync, rename, fsync of the directory), with an explicit mode
// that the umask cannot narrow, and chowns it when uid or gid is >= 0.
func writeFileAtomic(r *machine.Root, path string, data []byte, mode os.FileMode, uid, gid int) error {
	return rootOr(r).WriteFile(path, data, mode, uid, gid)
}

// syncDir makes renames and creations in dir durable.
func syncDir(r *machine.Root, dir string) error { return rootOr(r).SyncDir(dir) }

// mkdirMode creates dir (not its parents) with exactly mode and owner, or
// gives an existing one (never through a symlink) that mode and owner.
func mkdirMode(r *machine.Root, dir string, mode os.FileMode, uid, gid int) error {
	r = rootOr(r)
	d, name, err := r.OpenParent(dir, false)
	if err != nil {
		return err
	}
	defer d.Close()
	err = d.Mkdir(name, mode, uid, gid)
	if !errors.Is(err, fs.ErrExist) {
		return err
	}
	f, err := d.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	if !f.Info().IsDir() {
		return fmt.Errorf("%s: not a directory", dir)
	}
	if err := f.Chmod(mode); err != nil {
		return err
	}
	return f.Chown(uid, gid)
}

// fileMatches reports whether path holds exactly data with mode and, when
// uid/gid are >= 0, that owner.
func fileMatches(r *machine.Root, path string, data []byte, mode os.FileMode, uid, gid int) (bool, error) {
	r = rootOr(r)
	f, err := r.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	i := f.Info()
	if !i.IsRegular() || i.Mode.Perm() != mode {
		return false, nil
	}
	if (uid >= 0 && i.UID != uid) || (gid >= 0 && i.GID != gid) {
		return false, nil
	}
	old, err := f.ReadAll()
	if err != nil {
		return false, err
	}
	return bytes.Equal(old, data), nil
}

// copyTree copies the regular files and directories under src into dst
// (which must not exist), with the given owner; modes are kept. Symlinks
// and special files are refused: a CA directory has none.
func copyTree(r *machine.Root, src, dst string, uid, gid int) error {
	r = rootOr(r)
	i, err := r.Lstat(src)
	if err != nil {
		return err
	}
	switch {
	case i.IsDir():
		if err := mkdirMode(r, dst, i.Mode.Perm(), uid, gid); err != nil {
			return err
		}
		names, err := r.Names(src)
		if err != nil {
			return err
		}
		for _, n := range names {
			if err := copyTree(r, path.Join(src, n), path.Join(dst, n), uid, gid); err != nil {
				return err
			}
		}
		return nil
	case i.IsRegular():
		return copyFile(r, src, dst, i.Mode.Perm(), uid, gid)
	default:
		return fmt.Errorf("%s: not a regular file or directory", src)
	}
}

func copyFile(r *machine.Root, src, dst string, mode os.FileMode, uid, gid int) error {
	r = rootOr(r)
	in, err := r.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	d, name, err := r.OpenParent(dst, false)
	if err != nil {
		return err
	}
	defer d.Close()
	out, err := d.Create(name, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Chown(uid, gid); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// syncTree fsyncs every directory under root, so that the files created in
// them survive a crash before they are renamed into place.
func syncTree(r *machine.Root, root string) error {
	r = rootOr(r)
	if err := syncDir(r, root); err != nil {
		return err
	}
	names, err := r.Names(root)
	if err != nil {
		return err
	}
	for _, n := range names {
		p := path.Join(root, n)
		if i, err := r.Lstat(p); err == nil && i.IsDir() {
			if err := syncTree(r, p); err != nil {
				return err
			}
		}
	}
	return nil
}

// present is exists for a step that acts on the answer: a path the root
// refuses to resolve (a link in a guest's directory) is an error, not
// "missing".
func present(r *machine.Root, path string) (bool, error) {
	_, err := rootOr(r).Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

func exists(r *machine.Root, path string) bool {
	r = rootOr(r)
	_, err := r.Lstat(path)
	return err == nil
}

// dirEmpty reports whether dir has no entries.
func dirEmpty(r *machine.Root, dir string) (bool, error) {
	r = rootOr(r)
	names, err := r.Names(dir)
	if err != nil {
		return false, err
	}
	return len(names) == 0, nil
}

// readFile reads path through the root.
func readFile(r *machine.Root, path string) ([]byte, error) { return rootOr(r).ReadFile(path) }
