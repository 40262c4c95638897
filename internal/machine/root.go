package machine

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/sys/unix"
)

// Root confines host paths to a directory the way openat2(RESOLVE_IN_ROOT)
// does: ".." never climbs above it and absolute symlinks resolve inside it,
// as in a chroot. os.Root cannot be used: it refuses absolute symlinks, and
// every Debian or PVE host has them (/var/lock -> /run/lock).
//
// Every file operation goes through directory handles: the root is held
// open, a path is resolved to an open parent directory (openat2 where the
// kernel has it, else a walk of openat(O_NOFOLLOW) calls), and the last
// step acts on a name in that handle (openat, mkdirat, renameat, fchmod
// and fchown on what was opened). No path string is looked up again after
// the check that decided a change, so a directory swapped for a symlink
// mid-run cannot steer a write outside the root.
//
// Guarded directories are writable by a guest (bind-mount sources): in
// them no symlink is followed and no file with more than one hard link is
// read, rewritten, chmodded or chowned; each is refused with an
// *UnsafeError naming the guest.
type Root struct {
	dir string // absolute, symlink-free
	fd  int    // O_PATH handle of dir

	mu     sync.RWMutex
	guards []Guard
}

// Guard is a directory a guest can write, at a site path.
type Guard struct {
	Path  string // clean site path
	Owner string // who can write it, e.g. "lxc:103"
}

// UnsafeError is a refusal to follow a link in a guarded directory.
type UnsafeError struct {
	Path  string // site path refused
	Guard Guard
	Why   string
}

func (e *UnsafeError) Error() string {
	if e.Path == e.Guard.Path {
		return fmt.Sprintf("refusing %s: the directory %s can write is %s; phoenix follows no link there and changed nothing",
			e.Path, e.Guard.Owner, e.Why)
	}
	return fmt.Sprintf("refusing %s: %s inside %s, which %s can write; phoenix follows no link there and changed nothing",
		e.Path, e.Why, e.Guard.Path, e.Guard.Owner)
}

const maxSymlinks = 40

// noOpenat2 is set when the kernel lacks openat2 (before 5.6), and by
// tests of the fallback walk.
var noOpenat2 atomic.Bool

// NewRoot confines paths to dir, which must exist.
func NewRoot(dir string) (*Root, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		return nil, fmt.Errorf("root %s: %w", dir, err)
	}
	fd, err := unix.Open(real, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("root %s: %w", dir, err)
	}
	return &Root{dir: real, fd: fd}, nil
}

// Close releases the root's handle.
func (r *Root) Close() error {
	if r.fd < 0 {
		return nil
	}
	err := unix.Close(r.fd)
	r.fd = -1
	return err
}

// Dir is the host directory that stands for "/".
func (r *Root) Dir() string { return r.dir }

// Guard declares the site directory p writable by owner (a guest). It may
// not exist yet. Declaring it again is harmless.
func (r *Root) Guard(p, owner string) {
	p = path.Clean("/" + p)
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, g := range r.guards {
		if g.Path == p {
			return
		}
	}
	r.guards = append(r.guards, Guard{Path: p, Owner: owner})
}

// Guards lists the guarded directories.
func (r *Root) Guards() []Guard {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return append([]Guard(nil), r.guards...)
}

// GuardOf returns the guard covering the site path p: p is the guarded
// directory or inside it.
func (r *Root) GuardOf(p string) (Guard, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	best := -1
	for i, g := range r.guards {
		if within(p, g.Path) && (best < 0 || len(g.Path) > len(r.guards[best].Path)) {
			best = i
		}
	}
	if best < 0 {
		return Guard{}, false
	}
	return r.guards[best], true
}

func within(p, dir string) bool {
	return p == dir || dir == "/" || strings.HasPrefix(p, dir+"/")
}

// Resolve maps a site path to the host path it names, following every
// symlink inside the root, for naming (plans, messages): file operations
// go through Open, OpenParent and the other handle methods. Past a missing
// component the rest resolves lexically.
func (r *Root) Resolve(p string) (string, error) { return r.resolve(p, true) }

// ResolveNoFollow is Resolve without following a symlink in the last
// component, for naming the link itself.
func (r *Root) ResolveNoFollow(p string) (string, error) { return r.resolve(p, false) }

// Site is the clean site path p names, following symlinks as Resolve does.
func (r *Root) Site(p string) (string, error) {
	h, err := r.Resolve(p)
	if err != nil {
		return "", err
	}
	return r.Rel(h), nil
}

// Rel gives the site path of a host path inside the root.
func (r *Root) Rel(host string) string {
	rel, err := filepath.Rel(r.dir, host)
	if err != nil || rel == "." {
		return "/"
	}
	return "/" + filepath.ToSlash(rel)
}

func (r *Root) resolve(p string, followLast bool) (string, error) {
	if err := checkPath(p); err != nil {
		return "", err
	}
	var cur []string
	err := walkPath(p, pathWalk{
		up: func() {
			if len(cur) > 0 {
				cur = cur[:len(cur)-1]
			}
		},
		root: func() { cur = nil },
		loop: func() error { return fmt.Errorf("%s: too many levels of symbolic links", p) },
		step: func(c string, last bool) (string, bool, error) {
			next := append(append([]string(nil), cur...), c)
			if last && !followLast {
				cur = next
				return "", false, nil
			}
			host := filepath.Join(r.dir, filepath.Join(next...))
			st, err := os.Lstat(host)
			if err != nil {
				if errors.Is(err, fs.ErrNotExist) || errors.Is(err, unix.ENOTDIR) {
					// Nothing further can be a symlink; resolve the rest lexically.
					cur = next
					return "", false, nil
				}
				return "", false, err
			}
			if st.Mode()&fs.ModeSymlink == 0 {
				cur = next
				return "", false, nil
			}
			site := "/" + strings.Join(next, "/")
			if g, ok := r.GuardOf(site); ok {
				return "", false, &UnsafeError{Path: site, Guard: g, Why: "a symbolic link"}
			}
			target, err := os.Readlink(host)
			return target, err == nil, err
		},
	})
	if err != nil {
		return "", err
	}
	return filepath.Join(r.dir, filepath.Join(cur...)), nil
}

// pathWalk is what one walk of a path does at each step; walkPath does
// the walking itself.
type pathWalk struct {
	up   func()       // a ".." component
	root func()       // an absolute symlink target: start again at the root
	loop func() error // the error for more than maxSymlinks links
	// step takes component c (last: nothing follows it) and returns a
	// symlink's target with link true to follow it.
	step func(c string, last bool) (target string, link bool, err error)
}

// walkPath feeds p's components to w one at a time, skipping ".", and
// splices each symlink w follows in front of what remains, at most
// maxSymlinks times.
func walkPath(p string, w pathWalk) error {
	todo := splitPath(p)
	links := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case ".":
			continue
		case "..":
			w.up()
			continue
		}
		target, link, err := w.step(c, len(todo) == 0)
		if err != nil {
			return err
		}
		if !link {
			continue
		}
		if links++; links > maxSymlinks {
			return w.loop()
		}
		if strings.HasPrefix(target, "/") {
			w.root()
		}
		todo = append(splitPath(target), todo...)
	}
	return nil
}

func checkPath(p string) error {
	if p == "" {
		return errors.New("empty path")
	}
	if strings.ContainsRune(p, 0) {
		return fmt.Errorf("path %q contains NUL", p)
	}
	return nil
}

func splitPath(p string) []string {
	var out []string
	for _, c := range strings.Split(filepath.ToSlash(p), "/") {
		if c != "" {
			out = append(out, c)
		}
	}
	return out
}

// OpenParent resolves p to an open handle of the directory holding its
// last component, and that component's name. With followLast a symlink in
// the last component is followed (outside guarded directories), so the
// name is never a symlink when it returns. The name is "" only for the
// root itself. A missing directory on the way is fs.ErrNotExist.
func (r *Root) OpenParent(p string, followLast bool) (*Dir, string, error) {
	if err := checkPath(p); err != nil {
		return nil, "", err
	}
	if r.fd < 0 {
		return nil, "", errors.New("root is closed")
	}
	if !noOpenat2.Load() && !hasDots(p) {
		d, name, err := r.fastParent(p, followLast)
		if err == nil || !(errors.Is(err, unix.ELOOP) || errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EXDEV) || errors.Is(err, unix.EAGAIN)) {
			return d, name, err
		}
		if errors.Is(err, unix.ENOSYS) {
			noOpenat2.Store(true)
		}
	}
	return r.walk(p, followLast)
}

func hasDots(p string) bool {
	for _, c := range strings.Split(p, "/") {
		if c == "." || c == ".." {
			return true
		}
	}
	return false
}

// fastParent: openat2 refusing every symlink. A path without one is safe
// everywhere; one with a symlink (ELOOP) takes the walk, which follows
// links outside guarded directories and refuses them inside.
func (r *Root) fastParent(p string, followLast bool) (*Dir, string, error) {
	clean := path.Clean("/" + p)
	if clean == "/" {
		return r.rootDir()
	}
	dir, name := path.Split(clean)
	dir = path.Clean(dir)
	fd, err := unix.Openat2(r.fd, "."+dir, &unix.OpenHow{
		Flags:   unix.O_PATH | unix.O_DIRECTORY | unix.O_CLOEXEC,
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS | unix.RESOLVE_NO_SYMLINKS,
	})
	if err != nil {
		return nil, "", &fs.PathError{Op: "open", Path: p, Err: err}
	}
	if followLast {
		var st unix.Stat_t
		if err := unix.Fstatat(fd, name, &st, unix.AT_SYMLINK_NOFOLLOW); err == nil && st.Mode&unix.S_IFMT == unix.S_IFLNK {
			unix.Close(fd)
			return nil, "", unix.ELOOP
		}
	}
	return &Dir{r: r, fd: fd, site: dir}, name, nil
}

func (r *Root) rootDir() (*Dir, string, error) {
	fd, err := unix.Dup(r.fd)
	if err != nil {
		return nil, "", err
	}
	unix.CloseOnExec(fd)
	return &Dir{r: r, fd: fd, site: "/"}, "", nil
}

// walk resolves p one component at a time, each opened with O_NOFOLLOW
// in the handle of the one before, reading symlinks with readlinkat.
func (r *Root) walk(p string, followLast bool) (*Dir, string, error) {
	type level struct {
		fd   int
		name string
	}
	stack := []level{{fd: r.fd}} // stack[0] is the root, not ours to close
	closeAll := func() {
		for _, l := range stack[1:] {
			unix.Close(l.fd)
		}
	}
	siteOf := func(extra string) string {
		var parts []string
		for _, l := range stack[1:] {
			parts = append(parts, l.name)
		}
		if extra != "" {
			parts = append(parts, extra)
		}
		return "/" + strings.Join(parts, "/")
	}
	result := func(name string) (*Dir, string, error) {
		top := stack[len(stack)-1]
		d := &Dir{r: r, site: siteOf("")}
		if len(stack) == 1 {
			fd, err := unix.Dup(r.fd)
			if err != nil {
				return nil, "", err
			}
			unix.CloseOnExec(fd)
			d.fd = fd
		} else {
			d.fd = top.fd
			stack = stack[:len(stack)-1]
		}
		closeAll()
		return d, name, nil
	}
	var (
		d    *Dir
		name string
		done bool // d and name are the answer
	)
	finish := func(c string) (string, bool, error) {
		var err error
		d, name, err = result(c)
		done = err == nil
		return "", false, err
	}
	err := walkPath(p, pathWalk{
		up: func() {
			if len(stack) > 1 {
				unix.Close(stack[len(stack)-1].fd)
				stack = stack[:len(stack)-1]
			}
		},
		root: func() {
			closeAll()
			stack = stack[:1]
		},
		loop: func() error {
			closeAll()
			return &fs.PathError{Op: "open", Path: p, Err: unix.ELOOP}
		},
		step: func(c string, last bool) (string, bool, error) {
			if last && !followLast {
				return finish(c)
			}
			fd, err := unix.Openat(stack[len(stack)-1].fd, c, unix.O_PATH|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
			if err != nil {
				if errors.Is(err, unix.ENOENT) && last {
					return finish(c)
				}
				closeAll()
				return "", false, &fs.PathError{Op: "open", Path: p, Err: err}
			}
			var st unix.Stat_t
			if err := unix.Fstat(fd, &st); err != nil {
				unix.Close(fd)
				closeAll()
				return "", false, err
			}
			switch st.Mode & unix.S_IFMT {
			case unix.S_IFLNK:
				site := siteOf(c)
				if g, ok := r.GuardOf(site); ok {
					unix.Close(fd)
					closeAll()
					return "", false, &UnsafeError{Path: site, Guard: g, Why: "a symbolic link"}
				}
				target, err := readlinkFd(fd)
				unix.Close(fd)
				if err != nil {
					closeAll()
					return "", false, err
				}
				return target, true, nil
			case unix.S_IFDIR:
				if last {
					unix.Close(fd)
					return finish(c)
				}
				stack = append(stack, level{fd: fd, name: c})
				return "", false, nil
			default:
				unix.Close(fd)
				if last {
					return finish(c)
				}
				closeAll()
				return "", false, &fs.PathError{Op: "open", Path: p, Err: unix.ENOTDIR}
			}
		},
	})
	if err != nil || done {
		return d, name, err
	}
	// The path ended in "/", "." or "..": the object is the open top.
	if len(stack) == 1 {
		return result("")
	}
	l := stack[len(stack)-1]
	stack = stack[:len(stack)-1]
	unix.Close(l.fd)
	return result(l.name)
}

func readlinkFd(fd int) (string, error) {
	buf := make([]byte, 4096)
	n, err := unix.Readlinkat(fd, "", buf)
	if err != nil {
		return "", err
	}
	return string(buf[:n]), nil
}
