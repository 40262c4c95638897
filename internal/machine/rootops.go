package machine

import (
	"errors"
	"io/fs"
	"path"
)

// Site-path conveniences over OpenParent and the Dir methods: each
// resolves its path once, to handles, and acts through them.

// Open opens p for reading, following symlinks outside guarded directories.
func (r *Root) Open(p string) (*File, error) {
	d, name, err := r.OpenParent(p, true)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return d.Open(name)
}

// OpenDir opens the directory p, following symlinks outside guarded
// directories.
func (r *Root) OpenDir(p string) (*Dir, error) {
	d, name, err := r.OpenParent(p, true)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return d.OpenDir(name)
}

// ReadFile reads p.
func (r *Root) ReadFile(p string) ([]byte, error) {
	f, err := r.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.ReadAll()
}

// Stat describes p, following symlinks outside guarded directories.
func (r *Root) Stat(p string) (Info, error) { return r.stat(p, true) }

// Lstat describes p itself.
func (r *Root) Lstat(p string) (Info, error) { return r.stat(p, false) }

func (r *Root) stat(p string, follow bool) (Info, error) {
	d, name, err := r.OpenParent(p, follow)
	if err != nil {
		return Info{}, err
	}
	defer d.Close()
	i, err := d.Lstat(name)
	if err == nil && follow && i.IsSymlink() {
		// OpenParent followed no link here: one was swapped in since.
		return Info{}, d.refuseLink("stat", name)
	}
	return i, err
}

// Exists reports whether p names something (a symlink itself counts).
func (r *Root) Exists(p string) (bool, error) {
	_, err := r.Lstat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// WriteFile replaces p atomically (Dir.WriteFile).
func (r *Root) WriteFile(p string, data []byte, mode fs.FileMode, uid, gid int) error {
	d, name, err := r.OpenParent(p, true)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.WriteFile(name, data, mode, uid, gid)
}

// Mkdir creates the directory p with mode and owner (Dir.Mkdir).
func (r *Root) Mkdir(p string, mode fs.FileMode, uid, gid int) error {
	d, name, err := r.OpenParent(p, false)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Mkdir(name, mode, uid, gid)
}

// MkdirAll creates p and its missing parents with mode, keeping the
// owner, each through the handle of the one above.
func (r *Root) MkdirAll(p string, mode fs.FileMode) error {
	p = path.Clean("/" + p)
	if p == "/" {
		return nil
	}
	i, err := r.Stat(p)
	if err == nil {
		if !i.IsDir() {
			return &fs.PathError{Op: "mkdir", Path: p, Err: errors.New("not a directory")}
		}
		return nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := r.MkdirAll(path.Dir(p), mode); err != nil {
		return err
	}
	err = r.Mkdir(p, mode, -1, -1)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	return err
}

// Names lists the directory p, sorted.
func (r *Root) Names(p string) ([]string, error) {
	f, err := r.Open(p)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Names()
}

// Rename moves src to dst, neither followed if a symlink; with noReplace
// an existing dst is an error.
func (r *Root) Rename(src, dst string, noReplace bool) error {
	sd, sn, err := r.OpenParent(src, false)
	if err != nil {
		return err
	}
	defer sd.Close()
	dd, dn, err := r.OpenParent(dst, false)
	if err != nil {
		return err
	}
	defer dd.Close()
	if sn == "" || dn == "" {
		return &fs.PathError{Op: "rename", Path: src, Err: errors.New("refusing to move the root")}
	}
	if noReplace {
		err = sd.RenameNoReplace(sn, dd, dn)
	} else {
		err = sd.Rename(sn, dd, dn)
	}
	if err != nil {
		return err
	}
	if err := dd.Sync(); err != nil {
		return err
	}
	return sd.Sync()
}

// Remove removes p (a file, a symlink or an empty directory).
func (r *Root) Remove(p string) error {
	d, name, err := r.OpenParent(p, false)
	if err != nil {
		return err
	}
	defer d.Close()
	if name == "" {
		return &fs.PathError{Op: "remove", Path: p, Err: errors.New("refusing to remove the root")}
	}
	return d.Remove(name)
}

// RemoveAll removes p and everything under it, following no symlink.
func (r *Root) RemoveAll(p string) error {
	d, name, err := r.OpenParent(p, false)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer d.Close()
	if name == "" {
		return &fs.PathError{Op: "remove", Path: p, Err: errors.New("refusing to remove the root")}
	}
	return d.RemoveAll(name)
}

// SyncDir makes creates and renames in the directory p durable.
func (r *Root) SyncDir(p string) error {
	d, err := r.OpenDir(p)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}
