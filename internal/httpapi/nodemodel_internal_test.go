package httpapi

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestScanModelDir: agents get the directories and regular files of a model that the instance
// user can read, and nothing else: not a file or directory only its owner can read, not a
// symbolic link; a model directory the user cannot reach is refused whole. A change of a file
// changes the ETag.
func TestScanModelDir(t *testing.T) {
	nobody := &FileUser{UID: 65534, GID: 65534}
	dir, err := os.MkdirTemp("", "arkserve-model-scan-") // under /tmp, which every user can traverse
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	write := func(name string, mode os.FileMode) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(name), mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Join(dir, name), mode); err != nil { // past the umask
			t.Fatal(err)
		}
	}
	for _, d := range []struct {
		name string
		mode os.FileMode
	}{{"pub", 0o755}, {"private", 0o700}} {
		if err := os.Mkdir(filepath.Join(dir, d.name), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(filepath.Join(dir, d.name), d.mode); err != nil {
			t.Fatal(err)
		}
	}
	write("model.bin", 0o644)
	write("secret.key", 0o600)
	write("pub/weights", 0o644)
	write("private/weights", 0o644)
	if err := os.Symlink("/etc/hostname", filepath.Join(dir, "link")); err != nil {
		t.Fatal(err)
	}

	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if _, _, err := scanModelDir(dir, nobody); err == nil {
		t.Fatal("a model directory the instance user cannot list was scanned")
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	files, etag, err := scanModelDir(dir, nobody)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range files {
		names = append(names, f.rel)
	}
	if want := []string{"model.bin", "pub", "pub/weights"}; !slices.Equal(names, want) {
		t.Fatalf("files for the instance user = %v; want %v", names, want)
	}
	// The server's own user (instances run as it) gets what it can read: everything but the link.
	all, _, err := scanModelDir(dir, nil)
	if err != nil || len(all) != 6 {
		t.Fatalf("files for the server's own user: %d, %v; want 6", len(all), err)
	}

	os.WriteFile(filepath.Join(dir, "model.bin"), []byte("retrained"), 0o644)
	if _, again, _ := scanModelDir(dir, nobody); again == etag {
		t.Fatal("the ETag did not change with a file")
	}
}
