//go:build unix

package httpapi

import (
	"io/fs"
	"syscall"
)

// canAccess reports whether user u may access the file of fi as want asks (permRead, permExec,
// or both), by its owner, group and mode as the kernel decides for a user without supplementary
// groups (instances have none). nil is the server's own user: always.
func canAccess(u *FileUser, fi fs.FileInfo, want uint32) bool {
	if u == nil || u.UID == 0 {
		return true
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return false
	}
	mode := uint32(fi.Mode().Perm())
	switch {
	case st.Uid == u.UID:
		mode >>= 6
	case st.Gid == u.GID:
		mode >>= 3
	}
	return mode&want == want
}
