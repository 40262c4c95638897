package machine

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"

	"golang.org/x/sys/unix"
)

// Dir is an open directory under a Root. Its methods act on names in it
// with the *at system calls, never on a path string.
type Dir struct {
	r    *Root
	fd   int
	site string // the site path it was opened as
}

// Info is what fstat said about an opened or named file.
type Info struct {
	Mode     fs.FileMode
	UID, GID int
	Nlink    uint64
	Size     int64
	Dev, Ino uint64
}

func (i Info) IsDir() bool     { return i.Mode.IsDir() }
func (i Info) IsRegular() bool { return i.Mode.IsRegular() }
func (i Info) IsSymlink() bool { return i.Mode&fs.ModeSymlink != 0 }

func infoOf(st *unix.Stat_t) Info {
	m := fs.FileMode(st.Mode & 0o777)
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		m |= fs.ModeDir
	case unix.S_IFLNK:
		m |= fs.ModeSymlink
	case unix.S_IFIFO:
		m |= fs.ModeNamedPipe
	case unix.S_IFSOCK:
		m |= fs.ModeSocket
	case unix.S_IFCHR:
		m |= fs.ModeDevice | fs.ModeCharDevice
	case unix.S_IFBLK:
		m |= fs.ModeDevice
	}
	if st.Mode&unix.S_ISUID != 0 {
		m |= fs.ModeSetuid
	}
	if st.Mode&unix.S_ISGID != 0 {
		m |= fs.ModeSetgid
	}
	if st.Mode&unix.S_ISVTX != 0 {
		m |= fs.ModeSticky
	}
	return Info{Mode: m, UID: int(st.Uid), GID: int(st.Gid), Nlink: uint64(st.Nlink), Size: st.Size, Dev: uint64(st.Dev), Ino: st.Ino}
}

// unixMode is the chmod argument for m, special bits included.
func unixMode(m fs.FileMode) uint32 {
	u := uint32(m.Perm())
	if m&fs.ModeSetuid != 0 {
		u |= unix.S_ISUID
	}
	if m&fs.ModeSetgid != 0 {
		u |= unix.S_ISGID
	}
	if m&fs.ModeSticky != 0 {
		u |= unix.S_ISVTX
	}
	return u
}

// Site is the site path the directory was opened as.
func (d *Dir) Site() string { return d.site }

// Path is the site path of name in d.
func (d *Dir) Path(name string) string { return path.Join(d.site, name) }

// Close releases the handle.
func (d *Dir) Close() error {
	if d == nil || d.fd < 0 {
		return nil
	}
	err := unix.Close(d.fd)
	d.fd = -1
	return err
}

func (d *Dir) err(op, name string, err error) error {
	return &fs.PathError{Op: op, Path: d.Path(name), Err: err}
}

// refuseLink is the error for a symlink met at name: an UnsafeError in a
// guarded directory.
func (d *Dir) refuseLink(op, name string) error {
	if g, ok := d.r.GuardOf(d.Path(name)); ok {
		return &UnsafeError{Path: d.Path(name), Guard: g, Why: "a symbolic link"}
	}
	return d.err(op, name, errors.New("is a symbolic link"))
}

// refuseLinks refuses a non-directory with more than one hard link in a
// guarded directory: it may be a host file a guest linked in.
func (d *Dir) refuseLinks(name string, i Info) error {
	if i.IsDir() || i.Nlink <= 1 {
		return nil
	}
	if g, ok := d.r.GuardOf(d.Path(name)); ok {
		return &UnsafeError{Path: d.Path(name), Guard: g, Why: fmt.Sprintf("a file with %d hard links", i.Nlink)}
	}
	return nil
}

// Lstat describes name without following a symlink.
func (d *Dir) Lstat(name string) (Info, error) {
	var st unix.Stat_t
	if err := unix.Fstatat(d.fd, nameOrDot(name), &st, unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return Info{}, d.err("lstat", name, err)
	}
	return infoOf(&st), nil
}

func nameOrDot(name string) string {
	if name == "" {
		return "."
	}
	return name
}

// Open opens name for reading (a file or a directory), never through a
// symlink. In a guarded directory a file with several links is refused.
func (d *Dir) Open(name string) (*File, error) {
	fd, err := unix.Openat(d.fd, nameOrDot(name), unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_NONBLOCK|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ELOOP) {
		return nil, d.refuseLink("open", name)
	}
	if err != nil {
		return nil, d.err("open", name, err)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return nil, d.err("stat", name, err)
	}
	i := infoOf(&st)
	if err := d.refuseLinks(name, i); err != nil {
		unix.Close(fd)
		return nil, err
	}
	if !i.IsDir() && !i.IsRegular() {
		unix.Close(fd)
		return nil, d.err("open", name, errors.New("not a regular file or directory"))
	}
	return &File{f: os.NewFile(uintptr(fd), d.Path(name)), site: d.Path(name), info: i}, nil
}

// OpenDir opens the directory name in d, never through a symlink.
func (d *Dir) OpenDir(name string) (*Dir, error) {
	if name == "" {
		return d.r.dupDir(d)
	}
	fd, err := unix.Openat(d.fd, name, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOTDIR) {
		if i, lerr := d.Lstat(name); lerr == nil && i.IsSymlink() {
			return nil, d.refuseLink("open", name)
		}
	}
	if err != nil {
		return nil, d.err("open", name, err)
	}
	return &Dir{r: d.r, fd: fd, site: d.Path(name)}, nil
}

func (r *Root) dupDir(d *Dir) (*Dir, error) {
	fd, err := unix.Dup(d.fd)
	if err != nil {
		return nil, err
	}
	unix.CloseOnExec(fd)
	return &Dir{r: r, fd: fd, site: d.site}, nil
}

// ReadFile reads name.
func (d *Dir) ReadFile(name string) ([]byte, error) {
	f, err := d.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.ReadAll()
}

// WriteFile replaces name atomically: a temp file created in d
// (O_CREAT|O_EXCL), written, chmodded, chowned (uid or gid -1 keeps it),
// fsynced, renamed over name in d, then d fsynced. In a guarded directory
// an existing symlink or hard-linked file at name is refused.
func (d *Dir) WriteFile(name string, data []byte, mode fs.FileMode, uid, gid int) error {
	if name == "" || name == "." || name == ".." {
		return d.err("write", name, errors.New("not a file name"))
	}
	if i, err := d.Lstat(name); err == nil {
		switch {
		case i.IsSymlink():
			if _, ok := d.r.GuardOf(d.Path(name)); ok {
				return d.refuseLink("write", name)
			}
		case i.IsDir():
			return d.err("write", name, errors.New("is a directory"))
		default:
			if err := d.refuseLinks(name, i); err != nil {
				return err
			}
		}
	}
	tmp, fd, err := d.createTemp(name)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), d.Path(tmp))
	ok := false
	defer func() {
		if !ok {
			f.Close()
			unix.Unlinkat(d.fd, tmp, 0)
		}
	}()
	if _, err := f.Write(data); err != nil {
		return d.unreplaced(name, err)
	}
	if err := unix.Fchmod(fd, unixMode(mode)); err != nil {
		return d.err("chmod", name, err)
	}
	if uid >= 0 || gid >= 0 {
		if err := unix.Fchown(fd, uid, gid); err != nil {
			return d.err("chown", name, err)
		}
	}
	if err := f.Sync(); err != nil {
		return d.unreplaced(name, err)
	}
	if err := f.Close(); err != nil {
		return d.unreplaced(name, err)
	}
	if err := unix.Renameat(d.fd, tmp, d.fd, name); err != nil {
		return d.err("rename", name, err)
	}
	ok = true
	return d.Sync()
}

// unreplaced is the error of a write that failed before its rename (a
// full disk): it names the file, not the temporary one, which is removed.
func (d *Dir) unreplaced(name string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return d.err("write", name, fmt.Errorf("%w; the file was left as it was and the temporary file removed", err))
}

func (d *Dir) createTemp(name string) (string, int, error) {
	for range 100 {
		var b [6]byte
		rand.Read(b[:])
		tmp := "." + name + ".tmp-" + hex.EncodeToString(b[:])
		fd, err := unix.Openat(d.fd, tmp, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if errors.Is(err, unix.EEXIST) {
			continue
		}
		if err != nil {
			return "", -1, d.err("create", tmp, err)
		}
		return tmp, fd, nil
	}
	return "", -1, d.err("create", name, errors.New("no free temporary name"))
}

// Mkdir creates the directory name with exactly mode (the umask does not
// narrow it) and, when uid or gid is >= 0, that owner, set on the opened
// directory. It is made with mode's permissions at once: a run killed
// before the chmod leaves them (less the umask), not a private directory
// that a parent created in passing would keep.
func (d *Dir) Mkdir(name string, mode fs.FileMode, uid, gid int) error {
	if err := unix.Mkdirat(d.fd, name, uint32(mode.Perm())); err != nil {
		return d.err("mkdir", name, err)
	}
	f, err := d.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	if !f.info.IsDir() {
		return d.err("mkdir", name, errors.New("replaced while it was created"))
	}
	if err := f.Chmod(mode); err != nil {
		return err
	}
	if err := f.Chown(uid, gid); err != nil {
		return err
	}
	return d.Sync()
}

// Rename moves name in d to newName in to, replacing what is there.
func (d *Dir) Rename(name string, to *Dir, newName string) error {
	if err := unix.Renameat(d.fd, name, to.fd, newName); err != nil {
		return d.err("rename", name, err)
	}
	return nil
}

// RenameNoReplace is Rename failing when newName exists.
func (d *Dir) RenameNoReplace(name string, to *Dir, newName string) error {
	if err := unix.Renameat2(d.fd, name, to.fd, newName, unix.RENAME_NOREPLACE); err != nil {
		return d.err("rename", name, err)
	}
	return nil
}

// Remove removes name, a file, a symlink or an empty directory.
func (d *Dir) Remove(name string) error {
	err := unix.Unlinkat(d.fd, name, 0)
	if errors.Is(err, unix.EISDIR) {
		err = unix.Unlinkat(d.fd, name, unix.AT_REMOVEDIR)
	}
	if err != nil {
		return d.err("remove", name, err)
	}
	return nil
}

// RemoveAll removes name and everything under it, never following a
// symlink. A missing name is no error.
func (d *Dir) RemoveAll(name string) error {
	i, err := d.Lstat(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if i.IsDir() {
		sub, err := d.OpenDir(name)
		if err != nil {
			return err
		}
		names, err := sub.Names()
		if err == nil {
			for _, n := range names {
				if err = sub.RemoveAll(n); err != nil {
					break
				}
			}
		}
		sub.Close()
		if err != nil {
			return err
		}
	}
	err = d.Remove(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

// Names lists the entries of d, sorted.
func (d *Dir) Names() ([]string, error) {
	f, err := d.Open("")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return f.Names()
}

// Sync makes creates and renames in d durable.
func (d *Dir) Sync() error {
	fd, err := unix.Openat(d.fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return d.err("sync", "", err)
	}
	defer unix.Close(fd)
	if err := unix.Fsync(fd); err != nil && !errors.Is(err, unix.EINVAL) {
		return d.err("sync", "", err)
	}
	return nil
}

// File is a file or directory opened under a Root.
type File struct {
	f    *os.File
	site string
	info Info
}

// Info is what fstat said when it was opened.
func (f *File) Info() Info { return f.info }

// Site is the site path it was opened as.
func (f *File) Site() string { return f.site }

// ReadAll reads the file from the start.
func (f *File) ReadAll() ([]byte, error) {
	if _, err := f.f.Seek(0, io.SeekStart); err != nil {
		return nil, err
	}
	return io.ReadAll(f.f)
}

// Names lists a directory's entries, sorted.
func (f *File) Names() ([]string, error) {
	names, err := f.f.Readdirnames(-1)
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	return names, nil
}

// Chmod sets the mode of what was opened.
func (f *File) Chmod(mode fs.FileMode) error {
	if err := unix.Fchmod(int(f.f.Fd()), unixMode(mode)); err != nil {
		return &fs.PathError{Op: "chmod", Path: f.site, Err: err}
	}
	return nil
}

// Chown sets the owner of what was opened; -1 keeps uid or gid.
func (f *File) Chown(uid, gid int) error {
	if uid < 0 && gid < 0 {
		return nil
	}
	if err := unix.Fchown(int(f.f.Fd()), uid, gid); err != nil {
		return &fs.PathError{Op: "chown", Path: f.site, Err: err}
	}
	return nil
}

// Sync flushes the file to disk.
func (f *File) Sync() error { return f.f.Sync() }

// Close releases the handle.
func (f *File) Close() error { return f.f.Close() }

// Create makes a new file name in d (O_CREAT|O_EXCL, never through a
// symlink) with exactly mode, open for writing.
func (d *Dir) Create(name string, mode fs.FileMode) (*File, error) {
	fd, err := unix.Openat(d.fd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, d.err("create", name, err)
	}
	f := &File{f: os.NewFile(uintptr(fd), d.Path(name)), site: d.Path(name)}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err == nil {
		f.info = infoOf(&st)
	}
	return f, nil
}

// Read reads from the file (io.Reader).
func (f *File) Read(p []byte) (int, error) { return f.f.Read(p) }

// Write writes to a file opened by Create (io.Writer).
func (f *File) Write(p []byte) (int, error) { return f.f.Write(p) }
