package testkit

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
)

// Tree describes every entry under dir by what a write would change
// (mode, owner, size, mtime, inode and content hash), keyed by its path
// relative to dir. Two equal Trees show that nothing touched dir between
// them: not even a rewrite with the same content.
func Tree(dir string) (map[string]string, error) {
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		v := fmt.Sprintf("%v %d %d", fi.Mode(), fi.Size(), fi.ModTime().UnixNano())
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			v += fmt.Sprintf(" %d:%d ino=%d", st.Uid, st.Gid, st.Ino)
		}
		if fi.Mode().IsRegular() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(b)
			v += " " + hex.EncodeToString(sum[:])
		}
		out[rel] = v
		return nil
	})
	return out, err
}

// TreeLines is a Tree as sorted "path description" lines.
func TreeLines(tree map[string]string) []string {
	var lines []string
	for k, v := range tree {
		lines = append(lines, k+" "+v)
	}
	sort.Strings(lines)
	return lines
}

// TreeDiff lists, one per line, the entries that differ between two
// Trees; it is empty when they are equal.
func TreeDiff(a, b map[string]string) string {
	var keys []string
	for k := range a {
		keys = append(keys, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var d []string
	for _, k := range keys {
		if a[k] != b[k] {
			d = append(d, fmt.Sprintf("%s: %q -> %q", k, a[k], b[k]))
		}
	}
	return strings.Join(d, "\n")
}
