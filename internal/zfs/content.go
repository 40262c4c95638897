package zfs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// The simulator treats the directory at a mounted dataset's mountpoint
// (under the runtime root) as that dataset's content, minus the
// mountpoints of other mounted datasets inside it. These helpers size,
// capture, restore and remove such a tree.

// maxCapture bounds what a simulated snapshot copies into its state.
const maxCapture = 256 << 20

// entry is one captured file, directory or symlink.
type entry struct {
	Path string      `json:"path"` // slash-separated, relative; "." is the top
	Type string      `json:"type"` // dir, file, symlink
	Mode fs.FileMode `json:"mode"` // permissions plus setuid, setgid, sticky
	UID  int         `json:"uid"`
	GID  int         `json:"gid"`
	Data []byte      `json:"data,omitempty"`
	Link string      `json:"link,omitempty"`
}

// walkOwn visits dir's tree in lexical order, not descending into the
// paths skip reports (other datasets' mountpoints).
func walkOwn(dir string, skip func(string) bool, fn func(path string, d fs.DirEntry) error) error {
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path == dir && errors.Is(err, fs.ErrNotExist) {
				return fs.SkipAll
			}
			return err
		}
		if path != dir && skip(path) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		return fn(path, d)
	})
	return err
}

// treeSize sums the sizes of regular files in dir's own tree.
func treeSize(dir string, skip func(string) bool) uint64 {
	var n uint64
	walkOwn(dir, skip, func(path string, d fs.DirEntry) error {
		if d.Type().IsRegular() {
			if info, err := d.Info(); err == nil {
				n += uint64(info.Size())
			}
		}
		return nil
	})
	return n
}

// capture records dir's own tree. Devices, sockets and FIFOs are not
// recorded; hard links are recorded as separate files.
func capture(dir string, skip map[string]bool) ([]entry, error) {
	var es []entry
	var total int64
	err := walkOwn(dir, func(p string) bool { return skip[p] }, func(path string, d fs.DirEntry) error {
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		e := entry{Path: filepath.ToSlash(rel), Mode: info.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)}
		if st, ok := info.Sys().(*syscall.Stat_t); ok {
			e.UID, e.GID = int(st.Uid), int(st.Gid)
		}
		switch {
		case d.IsDir():
			e.Type = "dir"
		case d.Type()&fs.ModeSymlink != 0:
			e.Type = "symlink"
			if e.Link, err = os.Readlink(path); err != nil {
				return err
			}
		case d.Type().IsRegular():
			e.Type = "file"
			total += info.Size()
			if total > maxCapture {
				return fmt.Errorf("content is larger than %d MiB, more than the simulator snapshots", maxCapture>>20)
			}
			if e.Data, err = os.ReadFile(path); err != nil {
				return err
			}
		default:
			return nil
		}
		es = append(es, e)
		return nil
	})
	return es, err
}

// restore makes dir's own tree what es recorded: everything else in it,
// except the paths in keep, is removed first.
func restore(dir string, es []entry, keep map[string]bool) error {
	if err := clearTree(dir, keep); err != nil {
		return err
	}
	var dirs []entry
	for _, e := range es {
		p := filepath.Join(dir, filepath.FromSlash(e.Path))
		var err error
		switch e.Type {
		case "dir":
			if err = os.MkdirAll(p, 0o700); err == nil {
				dirs = append(dirs, e)
			}
		case "file":
			if err = os.WriteFile(p, e.Data, 0o600); err == nil {
				err = os.Chmod(p, e.Mode)
			}
		case "symlink":
			err = os.Symlink(e.Link, p)
		}
		if err == nil && e.Type != "dir" {
			err = lchown(p, e.UID, e.GID)
		}
		if err != nil {
			return err
		}
	}
	// Directory modes last, deepest first, so a read-only directory does
	// not stop its own restore.
	sort.SliceStable(dirs, func(i, j int) bool { return dirs[i].Path > dirs[j].Path })
	for _, e := range dirs {
		p := filepath.Join(dir, filepath.FromSlash(e.Path))
		if err := os.Chmod(p, e.Mode); err != nil {
			return err
		}
		if err := lchown(p, e.UID, e.GID); err != nil {
			return err
		}
	}
	return nil
}

// lchown sets an owner; without root, a refused chown is ignored, since
// the simulator then runs as one user and cannot hold others' files.
func lchown(p string, uid, gid int) error {
	err := os.Lchown(p, uid, gid)
	if err != nil && os.Geteuid() != 0 && errors.Is(err, syscall.EPERM) {
		return nil
	}
	return err
}

// clearTree empties dir except the paths in keep and the directories on
// the way to them.
func clearTree(dir string, keep map[string]bool) error {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		switch {
		case keep[p]:
		case e.IsDir() && leadsTo(p, keep):
			if err := clearTree(p, keep); err != nil {
				return err
			}
		default:
			if err := os.RemoveAll(p); err != nil {
				return err
			}
		}
	}
	return nil
}

// removeTree removes dir's own tree and dir itself, unless something
// kept is inside it.
func removeTree(dir string, keep map[string]bool) error {
	if err := clearTree(dir, keep); err != nil {
		return err
	}
	if leadsTo(dir, keep) {
		return nil
	}
	err := os.Remove(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	return err
}

func leadsTo(p string, keep map[string]bool) bool {
	for k := range keep {
		if strings.HasPrefix(k, p+string(filepath.Separator)) {
			return true
		}
	}
	return false
}
