package modelserver

import (
	"fmt"
	"math"
)

// Workspace holds the intermediate outputs of one evaluation. Reusing it makes Predict allocate
// nothing; a Workspace must not be used by two goroutines at once.
type Workspace struct {
	a, b []float32
}

// NewWorkspace returns a Workspace sized for m.
func (m *Model) NewWorkspace() *Workspace {
	return &Workspace{a: make([]float32, m.maxUnits), b: make([]float32, m.maxUnits)}
}

// Predict evaluates the network on x (InputSize values) and returns the outputs (Outputs values).
// The result lives in ws and is valid until ws is used again.
func (m *Model) Predict(ws *Workspace, x []float32) ([]float32, error) {
	if len(x) != m.InputSize {
		return nil, fmt.Errorf("%d input values; the model takes %d", len(x), m.InputSize)
	}
	if len(ws.a) < m.maxUnits || len(ws.b) < m.maxUnits {
		return nil, fmt.Errorf("workspace too small for this model")
	}
	in, out, spare := x, ws.a, ws.b
	for i := range m.Layers {
		l := &m.Layers[i]
		o := out[:l.Units]
		dense(o, l.W, l.B, in)
		activate(o, l.Activation)
		in = o
		out, spare = spare, out
	}
	return in, nil
}

// Classify returns the index of the largest output.
func Classify(out []float32) int {
	best := 0
	for i, v := range out {
		if v > out[best] {
			best = i
		}
	}
	return best
}

// dense sets out[j] = b[j] + w[j,:]·in.
func dense(out, w, b, in []float32) {
	n := len(in)
	for j := range out {
		out[j] = b[j] + dot(w[j*n:(j+1)*n], in)
	}
}

// dot is the dot product of two slices of the same length, with four accumulators so that the
// loop is not one long dependency chain.
func dot(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		aa, bb := a[i:i+4:i+4], b[i:i+4:i+4]
		s0 += aa[0] * bb[0]
		s1 += aa[1] * bb[1]
		s2 += aa[2] * bb[2]
		s3 += aa[3] * bb[3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

func activate(v []float32, act Activation) {
	switch act {
	case ReLU:
		for i, x := range v {
			if x < 0 {
				v[i] = 0
			}
		}
	case Softmax:
		softmax(v)
	}
}

// softmax replaces v by its softmax, computed in float64 after subtracting the maximum so that it
// neither overflows nor loses the small probabilities.
func softmax(v []float32) {
	m := v[0]
	for _, x := range v {
		m = max(m, x)
	}
	var sum float64
	for i, x := range v {
		e := math.Exp(float64(x - m))
		v[i] = float32(e)
		sum += e
	}
	for i := range v {
		v[i] = float32(float64(v[i]) / sum)
	}
}
