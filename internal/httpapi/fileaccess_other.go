//go:build !unix

package httpapi

import "io/fs"

// canAccess cannot tell another user's access here: only the server's own user (nil) reads.
func canAccess(u *FileUser, fi fs.FileInfo, want uint32) bool { return u == nil }
