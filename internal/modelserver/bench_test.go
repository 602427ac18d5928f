package modelserver_test

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/arkserve/arkserve/internal/modelserver"
)

// mnistShaped is a 784-64-10 network (the MNIST example's v2) with random weights.
func mnistShaped(tb testing.TB) *modelserver.Model {
	r := rand.New(rand.NewPCG(1, 2))
	layer := func(in, units int, act modelserver.Activation) modelserver.Layer {
		l := modelserver.Layer{Units: units, Activation: act, W: make([]float32, in*units), B: make([]float32, units)}
		for i := range l.W {
			l.W[i] = float32(r.NormFloat64() * 0.05)
		}
		return l
	}
	return MustLoad(tb, &modelserver.Model{InputSize: 784, Layers: []modelserver.Layer{
		layer(784, 64, modelserver.ReLU), layer(64, 10, modelserver.Softmax)}})
}

// digits returns n inputs that look like MNIST digits: about a fifth of the pixels lit.
func digits(n int) [][]float32 {
	r := rand.New(rand.NewPCG(3, 4))
	out := make([][]float32, n)
	for i := range out {
		out[i] = make([]float32, 784)
		for j := range out[i] {
			if r.IntN(5) == 0 {
				out[i][j] = float32(r.IntN(256)) / 255
			}
		}
	}
	return out
}

func TestPredictAllocs(t *testing.T) {
	m := mnistShaped(t)
	ws := m.NewWorkspace()
	x := digits(1)[0]
	if n := testing.AllocsPerRun(100, func() { m.Predict(ws, x) }); n != 0 {
		t.Errorf("Predict allocates %v times per call; want 0", n)
	}
}

// BenchmarkPredict is one evaluation of a 784-64-10 network, without HTTP or JSON.
func BenchmarkPredict(b *testing.B) {
	m := mnistShaped(b)
	ws := m.NewWorkspace()
	x := digits(1)[0]
	b.ReportAllocs()
	for b.Loop() {
		if _, err := m.Predict(ws, x); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkServePredict is POST /predict through the handler (JSON decoding, evaluation, encoding)
// for batches of 1 and 32 digits; ns/op is per request.
func BenchmarkServePredict(b *testing.B) {
	s := &modelserver.Server{Model: mnistShaped(b)}
	for _, n := range []int{1, 32} {
		var body bytes.Buffer
		body.WriteString(`{"inputs":[`)
		for i, x := range digits(n) {
			if i > 0 {
				body.WriteByte(',')
			}
			body.WriteByte('[')
			for j, v := range x {
				if j > 0 {
					body.WriteByte(',')
				}
				body.WriteString(strconv.FormatFloat(float64(v), 'g', -1, 32))
			}
			body.WriteByte(']')
		}
		body.WriteString(`]}`)
		b.Run(fmt.Sprintf("batch=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(body.Len()))
			for b.Loop() {
				rec := httptest.NewRecorder()
				s.ServeHTTP(rec, httptest.NewRequest("POST", "/predict", bytes.NewReader(body.Bytes())))
				if rec.Code != http.StatusOK {
					b.Fatalf("POST /predict = %d %s", rec.Code, rec.Body)
				}
			}
		})
	}
}
