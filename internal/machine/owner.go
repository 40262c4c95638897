package machine

import (
	"io/fs"
	"syscall"
)

// OwnerOf returns a file's uid and gid.
func OwnerOf(st fs.FileInfo) (uid, gid int) {
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return int(s.Uid), int(s.Gid)
	}
	return -1, -1
}
