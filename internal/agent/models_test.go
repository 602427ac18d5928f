package agent

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// archive is a gzip-compressed tar of the headers (with body for regular files).
func archive(t *testing.T, entries ...*tar.Header) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, h := range entries {
		body := ""
		if h.Typeflag == tar.TypeReg {
			body = "content of " + h.Name
			h.Size = int64(len(body))
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf
}

// TestUnpackModel: a model's archive becomes its current version directory, readable as the
// original was; an entry that would leave the directory, or is neither a directory nor a regular
// file, fails the whole download and leaves nothing behind.
func TestUnpackModel(t *testing.T) {
	root := filepath.Join(t.TempDir(), "m")
	good := archive(t, &tar.Header{Name: "sub/", Typeflag: tar.TypeDir, Mode: 0o755},
		&tar.Header{Name: "sub/model.bin", Typeflag: tar.TypeReg, Mode: 0o644},
		&tar.Header{Name: "run.sh", Typeflag: tar.TypeReg, Mode: 0o755})
	if err := unpackModel(good, root, `"v1"`); err != nil {
		t.Fatal(err)
	}
	dir := versionDir(root, `"v1"`)
	if b, err := os.ReadFile(filepath.Join(dir, "sub", "model.bin")); err != nil || string(b) != "content of sub/model.bin" {
		t.Fatalf("sub/model.bin = %q, %v", b, err)
	}
	if st, err := os.Stat(filepath.Join(dir, "run.sh")); err != nil || st.Mode().Perm() != 0o755 {
		t.Fatalf("run.sh: %v, %v; want mode 0755", st, err)
	}
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o755 {
		t.Fatalf("version directory: %v, %v; want mode 0755 (instances run as another user)", st, err)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "current")); strings.TrimSpace(string(b)) != `"v1"` {
		t.Fatalf("current = %q", b)
	}

	for name, h := range map[string]*tar.Header{
		"parent":   {Name: "../evil", Typeflag: tar.TypeReg, Mode: 0o644},
		"nested":   {Name: "sub/../../evil", Typeflag: tar.TypeReg, Mode: 0o644},
		"absolute": {Name: "/tmp/evil", Typeflag: tar.TypeReg, Mode: 0o644},
		"symlink":  {Name: "link", Typeflag: tar.TypeSymlink, Linkname: "/etc/passwd", Mode: 0o777},
		"device":   {Name: "dev", Typeflag: tar.TypeChar, Mode: 0o644},
	} {
		bad := archive(t, &tar.Header{Name: "ok", Typeflag: tar.TypeReg, Mode: 0o644}, h)
		if err := unpackModel(bad, root, `"v2"`); err == nil {
			t.Errorf("%s: an archive with %q was unpacked", name, h.Name)
		}
		if _, err := os.Stat(versionDir(root, `"v2"`)); !os.IsNotExist(err) {
			t.Errorf("%s: a version directory was left: %v", name, err)
		}
		entries, _ := os.ReadDir(root)
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), ".download-") {
				t.Errorf("%s: download directory %s left", name, e.Name())
			}
		}
		if b, _ := os.ReadFile(filepath.Join(root, "current")); strings.TrimSpace(string(b)) != `"v1"` {
			t.Errorf("%s: current = %q; want v1 still", name, b)
		}
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(root), "evil")); !os.IsNotExist(err) {
		t.Fatalf("a file was written outside the model directory: %v", err)
	}
}

// TestPruneModels: copies that no instance uses go, except the current copy of a model the node
// is to run; a model that is not placed goes entirely.
func TestPruneModels(t *testing.T) {
	a := &Agent{ModelDir: t.TempDir()}
	unpack := func(model, etag string) string {
		root := filepath.Join(a.ModelDir, model)
		if err := unpackModel(archive(t, &tar.Header{Name: "f", Typeflag: tar.TypeReg, Mode: 0o644}), root, etag); err != nil {
			t.Fatal(err)
		}
		return versionDir(root, etag)
	}
	old, inUse := unpack("m1", `"a"`), unpack("m1", `"b"`)
	current := unpack("m1", `"c"`)
	gone := unpack("m2", `"a"`)
	a.pruneModels(map[string]bool{inUse: true}, map[string]bool{"m1": true})
	for dir, want := range map[string]bool{old: false, inUse: true, current: true, gone: false,
		filepath.Join(a.ModelDir, "m2"): false} {
		if _, err := os.Stat(dir); (err == nil) != want {
			t.Errorf("%s exists: %v; want %v", dir, err == nil, want)
		}
	}
}
