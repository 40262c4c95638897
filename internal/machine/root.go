package machine

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// Root confines host paths to a directory the way openat2(RESOLVE_IN_ROOT)
// does: ".." never climbs above it and absolute symlinks resolve inside it,
// as in a chroot. os.Root cannot be used: it refuses absolute symlinks, and
// every Debian or PVE host has them (/var/lock -> /run/lock).
type Root struct {
	dir string // absolute, symlink-free
}

const maxSymlinks = 40

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
	st, err := os.Stat(real)
	if err != nil {
		return nil, err
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("root %s: not a directory", dir)
	}
	return &Root{dir: real}, nil
}

// Dir is the host directory that stands for "/".
func (r *Root) Dir() string { return r.dir }

// Resolve maps a site path to the host path it names, following every
// symlink inside the root.
func (r *Root) Resolve(p string) (string, error) { return r.resolve(p, true) }

// ResolveNoFollow is Resolve without following a symlink in the last
// component, for operations on the link itself (remove, rename, lstat).
func (r *Root) ResolveNoFollow(p string) (string, error) { return r.resolve(p, false) }

// Rel gives the site path of a host path inside the root.
func (r *Root) Rel(host string) string {
	rel, err := filepath.Rel(r.dir, host)
	if err != nil || rel == "." {
		return "/"
	}
	return "/" + filepath.ToSlash(rel)
}

func (r *Root) resolve(p string, followLast bool) (string, error) {
	if p == "" {
		return "", errors.New("empty path")
	}
	if strings.ContainsRune(p, 0) {
		return "", fmt.Errorf("path %q contains NUL", p)
	}
	todo := splitPath(p)
	var cur []string
	links := 0
	for len(todo) > 0 {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case ".":
			continue
		case "..":
			if len(cur) > 0 {
				cur = cur[:len(cur)-1]
			}
			continue
		}
		next := append(append([]string(nil), cur...), c)
		if len(todo) == 0 && !followLast {
			cur = next
			break
		}
		host := filepath.Join(r.dir, filepath.Join(next...))
		st, err := os.Lstat(host)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				// Nothing further can be a symlink; resolve the rest lexically.
				cur = next
				continue
			}
			return "", err
		}
		if st.Mode()&fs.ModeSymlink == 0 {
			cur = next
			continue
		}
		links++
		if links > maxSymlinks {
			return "", fmt.Errorf("%s: too many levels of symbolic links", p)
		}
		target, err := os.Readlink(host)
		if err != nil {
			return "", err
		}
		if filepath.IsAbs(target) {
			cur = nil
		}
		todo = append(splitPath(target), todo...)
	}
	return filepath.Join(r.dir, filepath.Join(cur...)), nil
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
