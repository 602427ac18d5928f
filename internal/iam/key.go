package iam

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// LoadOrCreateKey returns the token key stored at path, creating it (KeySize random bytes, mode
// 0600) when the file does not exist. The new file appears atomically and complete: it is written
// to a temporary file in the same directory, synced, then linked into place, so that two servers
// starting at once end up with the same key. An existing file is refused when its size is not
// KeySize or when group or others have any permission on it.
func LoadOrCreateKey(path string) ([]byte, error) {
	key, err := readKey(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return key, err
	}
	key = make([]byte, KeySize)
	_, _ = rand.Read(key)
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, ".tmp-"+filepath.Base(path)+"-*") // mode 0600
	if err != nil {
		return nil, fmt.Errorf("iam: create token key: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	if _, err := f.Write(key); err != nil {
		f.Close()
		return nil, fmt.Errorf("iam: write token key: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return nil, fmt.Errorf("iam: write token key: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("iam: write token key: %w", err)
	}
	// Link refuses to replace a key another process created meanwhile; where hard links are not
	// supported, fall back to rename.
	if err := os.Link(tmp, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return readKey(path)
		}
		if err := os.Rename(tmp, path); err != nil {
			return nil, fmt.Errorf("iam: install token key: %w", err)
		}
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // make the new name durable
		d.Close()
	}
	return key, nil
}

// LoadKey returns the key stored at path (a master key file made by LoadOrCreateKey or with
// `head -c 32 /dev/urandom`), refusing it as LoadOrCreateKey does; it never creates one.
func LoadKey(path string) ([]byte, error) {
	key, err := readKey(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("iam: master key %s: %w", path, err)
	}
	return key, err
}

func readKey(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		return nil, fmt.Errorf("iam: token key: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("iam: token key: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("iam: token key %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("iam: token key %s has mode %04o: group and others must have no access (chmod 600 %s)", path, perm, path)
	}
	if fi.Size() != KeySize {
		return nil, fmt.Errorf("iam: token key %s has %d bytes, want %d (remove it to create a new key; existing tokens become invalid)", path, fi.Size(), KeySize)
	}
	key := make([]byte, KeySize)
	if _, err := io.ReadFull(f, key); err != nil {
		return nil, fmt.Errorf("iam: token key %s: %w", path, err)
	}
	return key, nil
}
