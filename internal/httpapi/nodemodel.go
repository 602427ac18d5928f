package httpapi

import (
	"archive/tar"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/arkserve/arkserve/internal/ark"
)

// MaxModelFiles bounds the files and directories of a model directory that agents download.
const MaxModelFiles = 100_000

// FileUser is a user and group whose file access the server checks (Server.ModelReader).
type FileUser struct {
	UID, GID uint32
}

// modelFile is one entry of a model directory as agents receive it.
type modelFile struct {
	rel  string // slash-separated, relative to the model directory
	info fs.FileInfo
}

// scanModelDir lists the directories and regular files under dir that user u can read (other
// kinds, symbolic links among them, are not shipped; a directory u cannot list is left out whole)
// and returns them with an entity tag: a digest of their names, kinds, sizes, modes and
// modification times, which changes whenever their content may have. A dir that u cannot reach
// and list is an error: a model is never a way to read what its instances could not.
func scanModelDir(dir string, u *FileUser) ([]modelFile, string, error) {
	for p := dir; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return nil, "", err
		}
		want := uint32(permExec) // every directory above: traverse it
		if p == dir {
			want |= permRead // the model directory: list it too
		}
		if !canAccess(u, fi, want) {
			return nil, "", fmt.Errorf("the instance user cannot reach or list %s", p)
		}
		if p == filepath.Dir(p) {
			break
		}
	}
	var files []modelFile
	h := sha256.New()
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if path == dir || !(d.IsDir() || d.Type().IsRegular()) {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if d.IsDir() && !canAccess(u, info, permRead|permExec) {
			return filepath.SkipDir
		}
		if !d.IsDir() && !canAccess(u, info, permRead) {
			return nil
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		if len(files) == MaxModelFiles {
			return fmt.Errorf("more than %d files", MaxModelFiles)
		}
		f := modelFile{rel: filepath.ToSlash(rel), info: info}
		files = append(files, f)
		fmt.Fprintf(h, "%q %v %d %d\n", f.rel, info.Mode(), info.Size(), info.ModTime().UnixNano())
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return files, `"` + hex.EncodeToString(h.Sum(nil)[:16]) + `"`, nil
}

// handleNodeModel sends an agent the directory of a model that one of its node's placements runs,
// as a gzip-compressed tar: the agent runs its own copy, so the model need not be on the node
// beforehand (docs/edge.md). Only the node's own models are served. The ETag lets the agent keep
// its copy: If-None-Match with it answers 304.
func (s *Server) handleNodeModel(w http.ResponseWriter, r *http.Request, c *ark.NodeCredential) {
	nodeID, modelID := r.PathValue("node_id"), r.PathValue("model_id")
	if !ark.IsUUID(modelID) {
		s.writeError(w, r, ark.Errorf(ark.EInvalidParam, "Parameter (model_id) is invalid: use a lower-case UUID."))
		return
	}
	if _, err := s.Store.FindNode(r.Context(), c.ProjectID, nodeID); err != nil {
		s.writeError(w, r, err)
		return
	}
	ps, err := s.Store.NodePlacements(r.Context(), nodeID)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	dir := ""
	for _, p := range ps {
		if p.Config.ModelID != modelID || s.Edge == nil {
			continue
		}
		// Only this model's placement is resolved: the others need no model lookup.
		in, err := s.Edge.EdgeInstance(r.Context(), p.Config)
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if dir = in.ModelDir; dir != "" {
			break
		}
	}
	// A model of the project that the node does not run is none of its business: the same
	// answer as for a model that does not exist.
	notPlaced := ark.Errorf(ark.EModelNotFound, "Model (%s) does not exist on node %s.", modelID, nodeID)
	if dir == "" {
		s.writeError(w, r, notPlaced)
		return
	}
	files, etag, err := scanModelDir(dir, s.ModelReader)
	if err != nil {
		s.Logger.Warn("model directory for an agent", "model", modelID, "dir", dir, "err", err)
		s.writeError(w, r, notPlaced)
		return
	}
	w.Header().Set("ETag", etag)
	if strings.Contains(r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	// A large model takes longer than the API's write timeout to send.
	_ = http.NewResponseController(w).SetWriteDeadline(time.Time{})
	w.Header().Set("Content-Type", "application/gzip")
	// Files are opened through an os.Root of the model directory: a file swapped for a symbolic
	// link after the scan cannot lead outside it.
	root, err := os.OpenRoot(dir)
	if err != nil {
		s.writeError(w, r, notPlaced)
		return
	}
	defer root.Close()
	gz, _ := gzip.NewWriterLevel(w, gzip.BestSpeed)
	tw := tar.NewWriter(gz)
	for _, f := range files {
		if err := writeModelFile(tw, root, f, s.ModelReader); err != nil {
			// The status is sent: breaking off the body is how the agent learns it is incomplete.
			s.Logger.Warn("sending a model to an agent", "model", modelID, "node", nodeID, "err", err)
			panic(http.ErrAbortHandler)
		}
	}
	if err := tw.Close(); err != nil {
		panic(http.ErrAbortHandler)
	}
	if err := gz.Close(); err != nil {
		panic(http.ErrAbortHandler)
	}
}

// writeModelFile writes one entry. A file that is no longer what the scan found (another kind
// or size, or not readable by u) is an error.
func writeModelFile(tw *tar.Writer, root *os.Root, f modelFile, u *FileUser) error {
	hdr := &tar.Header{Name: f.rel, Mode: int64(f.info.Mode().Perm()), ModTime: f.info.ModTime(), Format: tar.FormatPAX}
	if f.info.IsDir() {
		hdr.Typeflag, hdr.Name = tar.TypeDir, f.rel+"/"
		return tw.WriteHeader(hdr)
	}
	file, err := root.Open(filepath.FromSlash(f.rel))
	if err != nil {
		return err
	}
	defer file.Close()
	fi, err := file.Stat() // of what was opened, not of the name
	if err != nil {
		return err
	}
	if !fi.Mode().IsRegular() || fi.Size() != f.info.Size() || !canAccess(u, fi, permRead) {
		return fmt.Errorf("%s changed while it was sent", f.rel)
	}
	hdr.Typeflag, hdr.Size = tar.TypeReg, f.info.Size()
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	_, err = io.CopyN(tw, file, f.info.Size())
	return err
}

// Access a FileUser needs (canAccess).
const (
	permRead = 4
	permExec = 1
)
