package agent

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"strings"
)

// The agent runs its own copy of each model, downloaded from the server (GET
// .../nodes/{node_id}/models/{model_id}/content, a gzip-compressed tar of the model's directory):
// the model need not be on the node beforehand. Each version of a model's content (the server's
// ETag) is a directory of its own, ModelDir/<model id>/<digest of the ETag>, so that an instance
// keeps its files while a newer version is downloaded for another; versions no instance uses are
// removed whenever a model is fetched.

// fetchModel makes sure the agent has the current copy of the model of in and records its
// directory in in.modelDir. Downloads are one at a time (fetchMu), which also keeps pruning from
// removing a copy that an instance is about to start in.
func (a *Agent) fetchModel(ctx context.Context, in *instance) error {
	spec := in.a.Instance
	a.fetchMu.Lock()
	defer a.fetchMu.Unlock()
	root := filepath.Join(a.ModelDir, spec.ModelID)
	current, _ := os.ReadFile(filepath.Join(root, "current"))
	etag := strings.TrimSpace(string(current))
	if _, err := os.Stat(versionDir(root, etag)); etag == "" || err != nil {
		etag = ""
	}
	ctx, cancel := context.WithTimeout(ctx, deployTimeout(spec))
	defer cancel()
	req, err := a.newRequest(ctx, "GET", "models/"+spec.ModelID+"/content", nil)
	if err != nil {
		return err
	}
	if etag != "" {
		req.Header.Set("If-None-Match", etag)
	}
	// Not a.HTTP itself: its timeout is for API calls, a model may take longer (ctx bounds it).
	resp, err := (&http.Client{Transport: a.HTTP.Transport}).Do(req)
	if err != nil {
		return fmt.Errorf("download of the model: %w", err)
	}
	defer resp.Body.Close()
	switch resp.StatusCode {
	case http.StatusNotModified:
	case http.StatusOK:
		etag = resp.Header.Get("ETag")
		if etag == "" {
			return errors.New("download of the model: the server sent no ETag")
		}
		if err := unpackModel(resp.Body, root, etag); err != nil {
			return fmt.Errorf("download of the model: %w", err)
		}
	default:
		raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return fmt.Errorf("download of the model: %w", apiError(resp.StatusCode, raw))
	}
	a.mu.Lock()
	in.modelDir = versionDir(root, etag)
	// Kept: the copies instances run (or are about to), and the current copy of every model
	// the node is to run (an instance that restarts needs it again).
	keep := map[string]bool{}
	for _, r := range a.running {
		if r.modelDir != "" {
			keep[r.modelDir] = true
		}
	}
	placed := map[string]bool{}
	for _, d := range a.desired {
		placed[d.Instance.ModelID] = true
	}
	a.mu.Unlock()
	a.pruneModels(keep, placed)
	return nil
}

// versionDir is the directory of one version of a model's content.
func versionDir(root, etag string) string {
	sum := sha256.Sum256([]byte(etag))
	return filepath.Join(root, hex.EncodeToString(sum[:12]))
}

// unpackModel extracts a model's tar into its version directory (through a temporary one, so that
// a broken download leaves nothing behind) and makes it the model's current version.
func unpackModel(body io.Reader, root, etag string) error {
	// Instances run as another user (the process runtime): they must reach and read the copy
	// as they could the original.
	if err := os.MkdirAll(root, 0o711); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(root, ".download-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	zr, err := gzip.NewReader(body)
	if err != nil {
		return err
	}
	if err := untar(tar.NewReader(zr), tmp); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	dst := versionDir(root, etag)
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	if err := os.Rename(tmp, dst); err != nil {
		return err
	}
	f, err := os.CreateTemp(root, ".current-")
	if err != nil {
		return err
	}
	_, err = f.WriteString(etag + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), filepath.Join(root, "current"))
	}
	if err != nil {
		os.Remove(f.Name())
	}
	return err
}

// untar extracts directories and regular files under dir. Any other kind of entry, and any name
// that is absolute or leaves dir, is an error: the server never sends them.
func untar(tr *tar.Reader, dir string) error {
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		name := path.Clean(hdr.Name)
		if !filepath.IsLocal(name) || strings.Contains(hdr.Name, `\`) {
			return fmt.Errorf("model archive: entry %q leaves the model directory", hdr.Name)
		}
		target := filepath.Join(dir, filepath.FromSlash(name))
		// The original's permissions, with the owner's read and write: the agent replaces and
		// removes its copies.
		mode := os.FileMode(hdr.Mode).Perm() | 0o600
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o700); err != nil {
				return err
			}
			if err := os.Chmod(target, mode|0o700); err != nil {
				return err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o700); err != nil {
				return err
			}
			f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
			if err != nil {
				return err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return err
			}
		default:
			return fmt.Errorf("model archive: entry %q is neither a directory nor a regular file", hdr.Name)
		}
	}
}

// pruneModels removes the model copies that are not in keep, except the current copy of the
// models in placed, and downloads that a killed agent left. Call it with fetchMu held.
func (a *Agent) pruneModels(keep, placed map[string]bool) {
	roots, _ := os.ReadDir(a.ModelDir)
	for _, r := range roots {
		root := filepath.Join(a.ModelDir, r.Name())
		if placed[r.Name()] {
			if current, err := os.ReadFile(filepath.Join(root, "current")); err == nil {
				keep[versionDir(root, strings.TrimSpace(string(current)))] = true
			}
		}
		versions, _ := os.ReadDir(root)
		left := 0
		for _, v := range versions {
			p := filepath.Join(root, v.Name())
			if !v.IsDir() || keep[p] {
				left++
				continue
			}
			if err := os.RemoveAll(p); err != nil {
				a.log().Warn("remove an unused model copy", "dir", p, "err", err)
				left++
			}
		}
		if left <= 1 && !placed[r.Name()] { // at most its "current" file: nothing of it is used
			if err := os.RemoveAll(root); err != nil {
				a.log().Warn("remove an unused model copy", "dir", root, "err", err)
			}
		}
	}
}
