package main

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/arkserve/arkserve/internal/ark"
)

// lockDataDir takes an exclusive lock on DATA/server.lock for the life of the process: the data
// dir holds the replica's identity and its instances, which two servers must never share. The
// kernel releases the lock when the process dies, however it dies.
func lockDataDir(dir string) (*os.File, error) {
	f, err := os.OpenFile(filepath.Join(dir, "server.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("data dir: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("data dir %s is in use by another arkserve server", dir)
		}
		return nil, fmt.Errorf("data dir: lock: %w", err)
	}
	return f, nil
}

// replicaID returns the server's identity among the servers of one database, kept in
// DATA/replica-id: a server that restarts on the same data dir is the same replica and takes its
// services back at once instead of waiting for their leases to expire.
func replicaID(dir string) (string, error) {
	p := filepath.Join(dir, "replica-id")
	b, err := os.ReadFile(p)
	if err == nil {
		id := strings.TrimSpace(string(b))
		if id == "" || len(id) > 64 {
			return "", fmt.Errorf("%s: not a replica id", p)
		}
		return id, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	host, _ := os.Hostname()
	id := ark.NewHexID()[:16]
	if h := strings.Split(host, ".")[0]; h != "" && len(h) <= 40 {
		id = h + "-" + id // readable in logs and in the database
	}
	if err := os.WriteFile(p, []byte(id+"\n"), 0o600); err != nil {
		return "", err
	}
	return id, nil
}

// advertiseURL is where the other replicas reach this one: the configured URL, else the listen
// address, with the host name for an unspecified address (0.0.0.0, ::).
func advertiseURL(configured, listen string) string {
	if configured != "" {
		return strings.TrimRight(configured, "/")
	}
	host, port, err := net.SplitHostPort(listen)
	if err != nil {
		return "http://" + listen
	}
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		if h, err := os.Hostname(); err == nil {
			host = h
		}
	}
	return "http://" + net.JoinHostPort(host, port)
}
