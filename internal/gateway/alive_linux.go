package gateway

import (
	"net"
	"syscall"
)

// idleConnAlive reports whether an idle connection can carry another request: the peer has not
// closed it (EOF or reset) and sent nothing unasked. One non-blocking peek; no data is consumed.
func idleConnAlive(nc net.Conn) bool {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	alive := false
	err = rc.Read(func(fd uintptr) bool {
		var b [1]byte
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		alive = err == syscall.EAGAIN
		return true // never wait for the socket to become readable
	})
	return err == nil && alive
}
