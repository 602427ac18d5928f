package mnist_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/arkserve/arkserve/examples/mnist"
	"github.com/arkserve/arkserve/internal/modelserver"
)

// Digits the tests read: the first trainDigits training digits and the first testDigits test
// digits, so that this package's tests stay well under a minute with -race. The full training
// (go run ./examples/mnist/train) reaches the accuracies in README.md.
const trainDigits, testDigits = 10000, 2000

// data loads the digits once for all tests.
var data = sync.OnceValues(func() ([2]*mnist.Set, error) {
	dir, err := mnist.DataDir()
	if err != nil {
		return [2]*mnist.Set{}, err
	}
	train, test, err := mnist.LoadN(dir, trainDigits, testDigits)
	return [2]*mnist.Set{train, test}, err
})

func mustData(tb testing.TB) (train, test *mnist.Set) {
	tb.Helper()
	d, err := data()
	if err != nil {
		tb.Fatal(err)
	}
	return d[0], d[1]
}

// quick trains on the subset for 2 epochs.
func quick(o mnist.Options) mnist.Options {
	o.Limit, o.Epochs = trainDigits, 2
	return o
}

func TestLoad(t *testing.T) {
	train, test := mustData(t)
	if train.N != trainDigits || test.N != testDigits || len(train.Pixels) != trainDigits*mnist.Pixels || len(test.Labels) != testDigits {
		t.Fatalf("LoadN: %d training and %d test digits; want %d and %d", train.N, test.N, trainDigits, testDigits)
	}
	// The first test digit of MNIST is a 7; the first training digit a 5.
	if test.Labels[0] != 7 || train.Labels[0] != 5 {
		t.Errorf("first labels: test %d, train %d; want 7 and 5", test.Labels[0], train.Labels[0])
	}
	for _, v := range test.Pixels {
		if v < 0 || v > 1 {
			t.Fatalf("pixel value %v; want [0, 1]", v)
		}
	}
}

// TestTrainAndServe trains both versions, checks their accuracy on held-out test digits, saves
// them and predicts real test digits through the model server over HTTP.
func TestTrainAndServe(t *testing.T) {
	train, test := mustData(t)
	accuracy := map[string]float64{}
	for _, tt := range []struct {
		version string
		opt     mnist.Options
		floor   float64 // on the test digits, after the quick training
	}{{"v1", quick(mnist.V1()), 0.85}, {"v2", quick(mnist.V2()), 0.89}} {
		t.Run(tt.version, func(t *testing.T) {
			m, err := mnist.Train(train, tt.opt)
			if err != nil {
				t.Fatal(err)
			}
			acc, err := mnist.Accuracy(m, test)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%s (%s, %d digits, %d epochs): accuracy on %d test digits %.2f%%", tt.version, tt.opt.Name, tt.opt.Limit, tt.opt.Epochs, test.N, 100*acc)
			if acc < tt.floor {
				t.Errorf("test accuracy %.4f; want at least %.2f", acc, tt.floor)
			}
			accuracy[tt.version] = acc
			dir := filepath.Join(t.TempDir(), tt.version)
			if err := m.Save(dir); err != nil {
				t.Fatal(err)
			}
			loaded, err := modelserver.Load(dir)
			if err != nil {
				t.Fatal(err)
			}
			srv := &modelserver.Server{Model: loaded, Addr: "127.0.0.1:0"}
			if err := srv.Open(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { srv.Close(context.Background()) })
			url := "http://" + srv.ListenAddr() + "/predict"

			// One digit, as the README sends it: test digit 0 is a 7.
			body, err := mnist.InputJSON(test, 0, 1)
			if err != nil {
				t.Fatal(err)
			}
			if preds := predict(t, url, body); len(preds) != 1 || preds[0].Label != "7" || preds[0].Class != 7 {
				t.Errorf("POST /predict with test digit 0 = %+v; want label 7", preds)
			}
			// A batch of 200 digits: the served classes are the in-process ones, and mostly right.
			const first, n = 1000, 200
			body, err = mnist.InputJSON(test, first, n)
			if err != nil {
				t.Fatal(err)
			}
			preds := predict(t, url, body)
			if len(preds) != n {
				t.Fatalf("POST /predict with %d digits: %d predictions", n, len(preds))
			}
			ws, correct := loaded.NewWorkspace(), 0
			for i, p := range preds {
				out, _ := loaded.Predict(ws, test.Image(first+i))
				if c := modelserver.Classify(out); p.Class != c || p.Label != mnist.Labels[c] {
					t.Errorf("digit %d: served %+v; in process class %d", first+i, p, c)
				}
				if p.Class == int(test.Labels[first+i]) {
					correct++
				}
			}
			if got := float64(correct) / n; got < tt.floor-0.05 {
				t.Errorf("served accuracy on test digits %d-%d: %.3f; want at least %.2f", first, first+n-1, got, tt.floor-0.05)
			}
		})
	}
	if accuracy["v2"] <= accuracy["v1"] {
		t.Errorf("accuracy of the MLP (v2) %.4f; want more than the logistic regression's (v1) %.4f", accuracy["v2"], accuracy["v1"])
	}
}

type prediction struct {
	Label         string    `json:"label"`
	Class         int       `json:"class"`
	Probabilities []float64 `json:"probabilities"`
}

func predict(tb testing.TB, url string, body []byte) []prediction {
	tb.Helper()
	resp, err := http.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var pr struct {
		Predictions []prediction `json:"predictions"`
		ErrorMsg    string       `json:"error_msg"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&pr); err != nil || resp.StatusCode != http.StatusOK {
		tb.Fatalf("POST %s = %d %+v (%v)", url, resp.StatusCode, pr, err)
	}
	return pr.Predictions
}

// TestTrainDeterministic: the same options give the same weights, byte for byte.
func TestTrainDeterministic(t *testing.T) {
	train, _ := mustData(t)
	opt := mnist.V2()
	opt.Limit, opt.Epochs = 2000, 1
	var sums [2][32]byte
	for i := range sums {
		m, err := mnist.Train(train, opt)
		if err != nil {
			t.Fatal(err)
		}
		dir := filepath.Join(t.TempDir(), "m")
		if err := m.Save(dir); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(dir, modelserver.DefaultWeightsFile))
		if err != nil {
			t.Fatal(err)
		}
		sums[i] = sha256.Sum256(b)
	}
	if sums[0] != sums[1] {
		t.Errorf("two trainings with the same options: weights %x and %x; want identical", sums[0], sums[1])
	}
}

func TestInputJSON(t *testing.T) {
	_, test := mustData(t)
	b, err := mnist.InputJSON(test, 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	var one struct{ Input []float32 }
	if err := json.Unmarshal(b, &one); err != nil || len(one.Input) != mnist.Pixels {
		t.Fatalf("InputJSON(0, 1) = %d values (%v)", len(one.Input), err)
	}
	for i, v := range one.Input {
		if v != test.Image(0)[i] {
			t.Fatalf("value %d = %v; want %v (exact)", i, v, test.Image(0)[i])
		}
	}
	if _, err := mnist.InputJSON(test, test.N-1, 2); err == nil {
		t.Error("InputJSON past the end: no error")
	}
}
