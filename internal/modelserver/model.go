// Package modelserver is the model server bundled with arkserve: a small feed-forward network
// format evaluated in pure Go, and an HTTP server that answers GET /health and POST /predict.
//
// A model directory holds two files:
//
//   - model.json, the manifest: format name and version, input size, the dense layers (units and
//     activation relu, softmax or identity), optional label names, and the name and optional
//     SHA-256 of the weights file;
//   - weights.bin (or the manifest's weights_file): a 16-byte header ("ARKW", uint32 format
//     version 1, uint64 number of values) followed by that many little-endian float32 values,
//     layer by layer: the weight matrix row by row (units rows of the layer's input size), then
//     the biases (units values).
//
// Load checks everything it reads (sizes, finiteness, checksum) and reports a corrupt or truncated
// model with an error; it never panics on bad input. Arkserve starts this server for models whose
// runtime is "arkserve" (arkserve model-server, with MODEL_DIR and PORT set).
package modelserver

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
)

// Format is the manifest's format name; FormatVersion the only version this package reads.
const (
	Format        = "arkserve-dense"
	FormatVersion = 1

	ManifestFile       = "model.json"
	DefaultWeightsFile = "weights.bin"

	weightsMagic   = "ARKW"
	weightsVersion = 1
	headerSize     = 16
)

// Limits on what Load accepts, so that a hostile or corrupt manifest cannot make it allocate
// without bound before the weights file has been checked.
const (
	MaxManifestBytes = 1 << 20
	MaxLayers        = 64
	MaxUnits         = 1 << 16 // per layer, and the input size
	MaxParams        = 1 << 28 // float32 values in all layers (1 GiB)
	MaxLabelLen      = 256
)

// Activation is what a dense layer applies to its outputs.
type Activation string

// Activations.
const (
	Identity Activation = "identity"
	ReLU     Activation = "relu"
	Softmax  Activation = "softmax"
)

// Layer is a dense layer: out = act(W·in + B).
type Layer struct {
	Units      int
	Activation Activation
	W          []float32 // Units rows of the layer's input size, row-major
	B          []float32 // Units
}

// Model is a loaded network. It is safe for concurrent use once built: Predict only reads it.
type Model struct {
	Name      string
	InputSize int
	Layers    []Layer
	Labels    []string // optional: one per output unit

	maxUnits int // the widest layer; the size of a Workspace's buffers
}

// manifest is model.json.
type manifest struct {
	Format        string          `json:"format"`
	FormatVersion int             `json:"format_version"`
	Name          string          `json:"name,omitempty"`
	InputSize     int             `json:"input_size"`
	Layers        []manifestLayer `json:"layers"`
	Labels        []string        `json:"labels,omitempty"`
	WeightsFile   string          `json:"weights_file,omitempty"`
	WeightsSHA256 string          `json:"weights_sha256,omitempty"`
}

type manifestLayer struct {
	Units      int        `json:"units"`
	Activation Activation `json:"activation"`
}

// Outputs is the number of values Predict returns: the units of the last layer.
func (m *Model) Outputs() int { return m.Layers[len(m.Layers)-1].Units }

// Probabilistic reports whether the outputs are probabilities (the last layer is a softmax).
func (m *Model) Probabilistic() bool { return m.Layers[len(m.Layers)-1].Activation == Softmax }

// Label is the name of output class i: Labels[i], or its number when the model has no labels.
func (m *Model) Label(i int) string {
	if i < len(m.Labels) {
		return m.Labels[i]
	}
	return fmt.Sprint(i)
}

// Params is the number of float32 values in all layers.
func (m *Model) Params() int {
	n := 0
	for _, l := range m.Layers {
		n += len(l.W) + len(l.B)
	}
	return n
}

// checkShape checks the sizes of the manifest (or of a Model built in code) and returns the number
// of float32 values the layers need. It guards every multiplication, so it is safe on hostile input.
func checkShape(inputSize int, layers []manifestLayer, labels []string) (int, error) {
	if inputSize < 1 || inputSize > MaxUnits {
		return 0, fmt.Errorf("input_size %d: must be between 1 and %d", inputSize, MaxUnits)
	}
	if len(layers) == 0 || len(layers) > MaxLayers {
		return 0, fmt.Errorf("%d layers: must be between 1 and %d", len(layers), MaxLayers)
	}
	in, total := inputSize, 0
	for i, l := range layers {
		if l.Units < 1 || l.Units > MaxUnits {
			return 0, fmt.Errorf("layer %d: units %d: must be between 1 and %d", i, l.Units, MaxUnits)
		}
		switch l.Activation {
		case Identity, ReLU, Softmax:
		default:
			return 0, fmt.Errorf("layer %d: activation %q: use relu, softmax or identity", i, l.Activation)
		}
		total += l.Units*in + l.Units // at most 2^32+2^16 per layer: no overflow on 64-bit ints
		if total > MaxParams {
			return 0, fmt.Errorf("more than %d parameters", MaxParams)
		}
		in = l.Units
	}
	if len(labels) != 0 && len(labels) != in {
		return 0, fmt.Errorf("%d labels for %d outputs", len(labels), in)
	}
	for i, s := range labels {
		if len(s) > MaxLabelLen {
			return 0, fmt.Errorf("label %d: longer than %d bytes", i, MaxLabelLen)
		}
	}
	return total, nil
}

// Validate checks a Model built in code (for example by a trainer) before Save: sizes consistent
// with the layer shapes and every value finite.
func (m *Model) Validate() error {
	ml := make([]manifestLayer, len(m.Layers))
	for i, l := range m.Layers {
		ml[i] = manifestLayer{Units: l.Units, Activation: l.Activation}
	}
	if _, err := checkShape(m.InputSize, ml, m.Labels); err != nil {
		return err
	}
	in := m.InputSize
	for i, l := range m.Layers {
		if len(l.W) != l.Units*in || len(l.B) != l.Units {
			return fmt.Errorf("layer %d: %d weights and %d biases; want %d and %d", i, len(l.W), len(l.B), l.Units*in, l.Units)
		}
		if j := nonFinite(l.W); j >= 0 {
			return fmt.Errorf("layer %d: weight %d is %v", i, j, l.W[j])
		}
		if j := nonFinite(l.B); j >= 0 {
			return fmt.Errorf("layer %d: bias %d is %v", i, j, l.B[j])
		}
		in = l.Units
	}
	m.maxUnits = 0
	for _, l := range m.Layers {
		m.maxUnits = max(m.maxUnits, l.Units)
	}
	return nil
}

// nonFinite returns the index of the first NaN or infinite value, or -1.
func nonFinite(v []float32) int {
	for i, x := range v {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return i
		}
	}
	return -1
}

// Load reads the model in dir. Every error names the file and what is wrong with it.
func Load(dir string) (*Model, error) {
	mpath := filepath.Join(dir, ManifestFile)
	b, err := readFileLimited(mpath, MaxManifestBytes)
	if err != nil {
		return nil, err
	}
	var man manifest
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&man); err != nil {
		return nil, fmt.Errorf("%s: %w", mpath, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("%s: data after the JSON object", mpath)
	}
	if man.Format != Format {
		return nil, fmt.Errorf("%s: format %q; this server reads %q", mpath, man.Format, Format)
	}
	if man.FormatVersion != FormatVersion {
		return nil, fmt.Errorf("%s: format_version %d; this server reads version %d", mpath, man.FormatVersion, FormatVersion)
	}
	total, err := checkShape(man.InputSize, man.Layers, man.Labels)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", mpath, err)
	}
	wname := man.WeightsFile
	if wname == "" {
		wname = DefaultWeightsFile
	}
	if wname != filepath.Base(wname) || wname == "." || wname == ".." || strings.ContainsRune(wname, '\\') {
		return nil, fmt.Errorf("%s: weights_file %q: must be a file name in the model directory", mpath, wname)
	}
	wpath := filepath.Join(dir, wname)
	values, sum, err := readWeights(wpath, total)
	if err != nil {
		return nil, err
	}
	if man.WeightsSHA256 != "" && !strings.EqualFold(man.WeightsSHA256, hex.EncodeToString(sum)) {
		return nil, fmt.Errorf("%s: SHA-256 %x does not match weights_sha256 in %s: the file is corrupt or not this model's", wpath, sum, ManifestFile)
	}
	m := &Model{Name: man.Name, InputSize: man.InputSize, Labels: man.Labels}
	in := man.InputSize
	for _, l := range man.Layers {
		w := values[: l.Units*in : l.Units*in]
		values = values[l.Units*in:]
		bias := values[:l.Units:l.Units]
		values = values[l.Units:]
		m.Layers = append(m.Layers, Layer{Units: l.Units, Activation: l.Activation, W: w, B: bias})
		in = l.Units
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", wpath, err)
	}
	return m, nil
}

// readFileLimited reads a file of at most limit bytes.
func readFileLimited(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, limit)
	}
	return b, nil
}

// readWeights reads a weights file that must hold exactly want values, and returns them with the
// file's SHA-256. The size is checked against the header and the manifest before anything large is
// allocated.
func readWeights(path string, want int) ([]float32, []byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	if !st.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("%s: not a regular file", path)
	}
	h := sha256.New()
	r := io.TeeReader(f, h)
	var hdr [headerSize]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, nil, fmt.Errorf("%s: truncated header (%d bytes; the header is %d)", path, st.Size(), headerSize)
	}
	if string(hdr[:4]) != weightsMagic {
		return nil, nil, fmt.Errorf("%s: not an arkserve weights file (magic %q; want %q)", path, hdr[:4], weightsMagic)
	}
	if v := binary.LittleEndian.Uint32(hdr[4:8]); v != weightsVersion {
		return nil, nil, fmt.Errorf("%s: weights format version %d; this server reads version %d", path, v, weightsVersion)
	}
	if n := binary.LittleEndian.Uint64(hdr[8:16]); n != uint64(want) {
		return nil, nil, fmt.Errorf("%s: holds %d values; the manifest's layers need %d", path, n, want)
	}
	if size, need := st.Size(), int64(headerSize)+4*int64(want); size < need {
		return nil, nil, fmt.Errorf("%s: truncated: %d bytes; %d values need %d", path, size, want, need)
	} else if size > need {
		return nil, nil, fmt.Errorf("%s: %d bytes of trailing data after %d values", path, size-need, want)
	}
	raw := make([]byte, 4*want)
	if _, err := io.ReadFull(r, raw); err != nil {
		// The file changed size since Stat.
		return nil, nil, fmt.Errorf("%s: truncated: %w", path, err)
	}
	if n, _ := io.Copy(io.Discard, io.LimitReader(r, 1)); n != 0 {
		return nil, nil, fmt.Errorf("%s: trailing data after %d values", path, want)
	}
	values := make([]float32, want)
	for i := range values {
		values[i] = math.Float32frombits(binary.LittleEndian.Uint32(raw[4*i:]))
	}
	return values, h.Sum(nil), nil
}

// Save writes the model to dir (created if needed, mode 0755) as model.json and weights.bin, both
// mode 0644 so that instances running as another user can read them. It writes each file under a
// temporary name and renames it, so a reader never sees half a model file.
func (m *Model) Save(dir string) error {
	if err := m.Validate(); err != nil {
		return fmt.Errorf("save model: %w", err)
	}
	var wbuf bytes.Buffer
	wbuf.Grow(headerSize + 4*m.Params())
	wbuf.WriteString(weightsMagic)
	wbuf.Write(binary.LittleEndian.AppendUint32(nil, weightsVersion))
	wbuf.Write(binary.LittleEndian.AppendUint64(nil, uint64(m.Params())))
	var b4 [4]byte
	for _, l := range m.Layers {
		for _, vs := range [][]float32{l.W, l.B} {
			for _, v := range vs {
				binary.LittleEndian.PutUint32(b4[:], math.Float32bits(v))
				wbuf.Write(b4[:])
			}
		}
	}
	sum := sha256.Sum256(wbuf.Bytes())
	man := manifest{Format: Format, FormatVersion: FormatVersion, Name: m.Name, InputSize: m.InputSize,
		Labels: m.Labels, WeightsFile: DefaultWeightsFile, WeightsSHA256: hex.EncodeToString(sum[:])}
	for _, l := range m.Layers {
		man.Layers = append(man.Layers, manifestLayer{Units: l.Units, Activation: l.Activation})
	}
	mb, err := json.MarshalIndent(man, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	return errors.Join(writeFileAtomic(filepath.Join(dir, DefaultWeightsFile), wbuf.Bytes()),
		writeFileAtomic(filepath.Join(dir, ManifestFile), append(mb, '\n')))
}

func writeFileAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(0o644)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}
