package modelserver_test

import (
	"encoding/binary"
	"encoding/json"
	"go/build"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/arkserve/arkserve/internal/modelserver"
)

// tinyModel is a network small enough to evaluate by hand:
//
//	x = [1 2 3]
//	h = relu([[1 0 -1] [.5 .5 .5]]·x + [0 -1]) = relu([-2 2]) = [0 2]
//	z = [[1 0] [0 1] [0 -1]]·h + [0 0 1] = [0 2 -1]
//	p = softmax(z)
func tinyModel(last modelserver.Activation) *modelserver.Model {
	return &modelserver.Model{Name: "tiny", InputSize: 3, Labels: []string{"cat", "dog", "fish"}, Layers: []modelserver.Layer{
		{Units: 2, Activation: modelserver.ReLU, W: []float32{1, 0, -1, 0.5, 0.5, 0.5}, B: []float32{0, -1}},
		{Units: 3, Activation: last, W: []float32{1, 0, 0, 1, 0, -1}, B: []float32{0, 0, 1}},
	}}
}

// tinySoftmax is softmax([0 2 -1]), computed here in float64.
func tinySoftmax() []float64 {
	e := []float64{1, math.Exp(2), math.Exp(-1)}
	s := e[0] + e[1] + e[2]
	return []float64{e[0] / s, e[1] / s, e[2] / s}
}

// MustSave saves m to a new directory and returns it.
func MustSave(tb testing.TB, m *modelserver.Model) string {
	tb.Helper()
	dir := filepath.Join(tb.TempDir(), "model")
	if err := m.Save(dir); err != nil {
		tb.Fatal(err)
	}
	return dir
}

func TestSaveLoad(t *testing.T) {
	want := tinyModel(modelserver.Softmax)
	dir := MustSave(t, want)
	got, err := modelserver.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != want.Name || got.InputSize != want.InputSize || !reflect.DeepEqual(got.Labels, want.Labels) || len(got.Layers) != len(want.Layers) {
		t.Fatalf("Load = %+v; want %+v", got, want)
	}
	for i := range want.Layers {
		if !reflect.DeepEqual(got.Layers[i], want.Layers[i]) {
			t.Errorf("layer %d = %+v; want %+v", i, got.Layers[i], want.Layers[i])
		}
	}
	if got.Params() != 6+2+6+3 {
		t.Errorf("Params() = %d; want 17", got.Params())
	}
	for _, name := range []string{modelserver.ManifestFile, modelserver.DefaultWeightsFile} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o644 {
			t.Errorf("%s: mode %v; want 0644 (readable by instances running as another user)", name, fi.Mode().Perm())
		}
		if fi.Name() == modelserver.DefaultWeightsFile && fi.Size() != 16+4*17 {
			t.Errorf("%s: %d bytes; want %d", name, fi.Size(), 16+4*17)
		}
	}
}

func TestPredictTiny(t *testing.T) {
	x := []float32{1, 2, 3}
	t.Run("Softmax", func(t *testing.T) {
		m := MustLoad(t, tinyModel(modelserver.Softmax))
		out, err := m.Predict(m.NewWorkspace(), x)
		if err != nil {
			t.Fatal(err)
		}
		want := tinySoftmax()
		for i := range want {
			if math.Abs(float64(out[i])-want[i]) > 1e-6 {
				t.Errorf("Predict(%v)[%d] = %v; want %v", x, i, out[i], want[i])
			}
		}
		if c := modelserver.Classify(out); c != 1 || m.Label(c) != "dog" {
			t.Errorf("Classify = %d (%s); want 1 (dog)", c, m.Label(c))
		}
		if !m.Probabilistic() {
			t.Error("Probabilistic() = false; want true")
		}
	})
	t.Run("Identity", func(t *testing.T) {
		m := MustLoad(t, tinyModel(modelserver.Identity))
		out, err := m.Predict(m.NewWorkspace(), x)
		if err != nil {
			t.Fatal(err)
		}
		if want := []float32{0, 2, -1}; !reflect.DeepEqual(out, want) {
			t.Errorf("Predict(%v) = %v; want %v", x, out, want)
		}
		if m.Probabilistic() {
			t.Error("Probabilistic() = true; want false")
		}
	})
	t.Run("ErrSize", func(t *testing.T) {
		m := MustLoad(t, tinyModel(modelserver.Softmax))
		if _, err := m.Predict(m.NewWorkspace(), []float32{1, 2}); err == nil {
			t.Error("Predict with 2 values: no error")
		}
	})
	t.Run("NoLabels", func(t *testing.T) {
		tm := tinyModel(modelserver.Softmax)
		tm.Labels = nil
		if m := MustLoad(t, tm); m.Label(2) != "2" {
			t.Errorf("Label(2) = %q; want \"2\"", m.Label(2))
		}
	})
}

// TestPredictWide checks a layer wider than the unrolled loop against a float64 reference.
func TestPredictWide(t *testing.T) {
	const in, units = 37, 5
	m := &modelserver.Model{InputSize: in, Layers: []modelserver.Layer{{Units: units, Activation: modelserver.Identity,
		W: make([]float32, in*units), B: make([]float32, units)}}}
	x := make([]float32, in)
	for i := range x {
		x[i] = float32(i%7) - 3
	}
	for i := range m.Layers[0].W {
		m.Layers[0].W[i] = float32(i%11)/4 - 1
	}
	for j := range units {
		m.Layers[0].B[j] = float32(j)
	}
	m = MustLoad(t, m)
	out, err := m.Predict(m.NewWorkspace(), x)
	if err != nil {
		t.Fatal(err)
	}
	for j := range units {
		want := float64(m.Layers[0].B[j])
		for i := range in {
			want += float64(m.Layers[0].W[j*in+i]) * float64(x[i])
		}
		if math.Abs(float64(out[j])-want) > 1e-4 {
			t.Errorf("out[%d] = %v; want %v", j, out[j], want)
		}
	}
}

// MustLoad saves m and loads it back.
func MustLoad(tb testing.TB, m *modelserver.Model) *modelserver.Model {
	tb.Helper()
	got, err := modelserver.Load(MustSave(tb, m))
	if err != nil {
		tb.Fatal(err)
	}
	return got
}

func TestSaveInvalid(t *testing.T) {
	for name, edit := range map[string]func(*modelserver.Model){
		"short weights": func(m *modelserver.Model) { m.Layers[0].W = m.Layers[0].W[:5] },
		"NaN bias":      func(m *modelserver.Model) { m.Layers[1].B[0] = float32(math.NaN()) },
		"Inf weight":    func(m *modelserver.Model) { m.Layers[1].W[0] = float32(math.Inf(1)) },
		"labels":        func(m *modelserver.Model) { m.Labels = m.Labels[:2] },
		"activation":    func(m *modelserver.Model) { m.Layers[0].Activation = "tanh" },
		"no layers":     func(m *modelserver.Model) { m.Layers = nil },
	} {
		m := tinyModel(modelserver.Softmax)
		edit(m)
		if err := m.Save(filepath.Join(t.TempDir(), "m")); err == nil {
			t.Errorf("%s: Save succeeded; want an error", name)
		}
	}
}

// TestLoadErrors damages a saved model in many ways: each gives an error that says what is wrong,
// and none panics.
func TestLoadErrors(t *testing.T) {
	manifest := func(edit func(map[string]any)) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			path := filepath.Join(dir, modelserver.ManifestFile)
			var doc map[string]any
			b, _ := os.ReadFile(path)
			if err := json.Unmarshal(b, &doc); err != nil {
				t.Fatal(err)
			}
			edit(doc)
			b, _ = json.Marshal(doc)
			writeFile(t, path, b)
		}
	}
	weights := func(edit func([]byte) []byte) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			path := filepath.Join(dir, modelserver.DefaultWeightsFile)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			writeFile(t, path, edit(b))
		}
	}
	// unchecked drops the checksum so that the size and value checks are reached.
	unchecked := func(edit func([]byte) []byte) func(t *testing.T, dir string) {
		return func(t *testing.T, dir string) {
			manifest(func(d map[string]any) { delete(d, "weights_sha256") })(t, dir)
			weights(edit)(t, dir)
		}
	}
	tests := []struct {
		name   string
		damage func(t *testing.T, dir string)
		want   string // in the error
	}{
		{"no manifest", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, modelserver.ManifestFile)) }, "no such file"},
		{"manifest not JSON", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, modelserver.ManifestFile), []byte("{"))
		}, "model.json"},
		{"manifest trailing data", func(t *testing.T, dir string) {
			b, _ := os.ReadFile(filepath.Join(dir, modelserver.ManifestFile))
			writeFile(t, filepath.Join(dir, modelserver.ManifestFile), append(b, "{}"...))
		}, "data after"},
		{"manifest too large", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, modelserver.ManifestFile), []byte(strings.Repeat(" ", modelserver.MaxManifestBytes+1)))
		}, "larger than"},
		{"unknown field", manifest(func(d map[string]any) { d["dropout"] = 0.5 }), "unknown field"},
		{"format", manifest(func(d map[string]any) { d["format"] = "onnx" }), `format "onnx"`},
		{"format version", manifest(func(d map[string]any) { d["format_version"] = 2 }), "format_version 2"},
		{"input size 0", manifest(func(d map[string]any) { d["input_size"] = 0 }), "input_size 0"},
		{"input size negative", manifest(func(d map[string]any) { d["input_size"] = -3 }), "input_size -3"},
		{"no layers", manifest(func(d map[string]any) { d["layers"] = []any{} }), "0 layers"},
		{"huge layer", manifest(func(d map[string]any) { d["layers"] = []any{map[string]any{"units": 1 << 40, "activation": "relu"}} }), "units"},
		{"too many parameters", manifest(func(d map[string]any) {
			d["input_size"] = modelserver.MaxUnits
			d["layers"] = []any{map[string]any{"units": modelserver.MaxUnits, "activation": "relu"}}
		}), "parameters"},
		{"activation", manifest(func(d map[string]any) {
			d["layers"].([]any)[0].(map[string]any)["activation"] = "sigmoid"
		}), `activation "sigmoid"`},
		{"labels", manifest(func(d map[string]any) { d["labels"] = []string{"a"} }), "1 labels for 3 outputs"},
		{"layer units", manifest(func(d map[string]any) { d["layers"].([]any)[0].(map[string]any)["units"] = 3 }), "values"},
		{"weights path", manifest(func(d map[string]any) { d["weights_file"] = "../../etc/passwd" }), "file name"},
		{"no weights", func(t *testing.T, dir string) { os.Remove(filepath.Join(dir, modelserver.DefaultWeightsFile)) }, "no such file"},
		{"weights is a dir", func(t *testing.T, dir string) {
			os.Remove(filepath.Join(dir, modelserver.DefaultWeightsFile))
			os.Mkdir(filepath.Join(dir, modelserver.DefaultWeightsFile), 0o755)
		}, "not a regular file"},
		{"empty weights", weights(func(b []byte) []byte { return nil }), "truncated header"},
		{"truncated", unchecked(func(b []byte) []byte { return b[:len(b)-3] }), "truncated"},
		{"truncated checked", weights(func(b []byte) []byte { return b[:len(b)-4] }), "truncated"},
		{"trailing data", unchecked(func(b []byte) []byte { return append(b, 0, 0, 0, 0) }), "trailing data"},
		{"magic", weights(func(b []byte) []byte { copy(b, "GGUF"); return b }), "not an arkserve weights file"},
		{"weights version", weights(func(b []byte) []byte { binary.LittleEndian.PutUint32(b[4:], 9); return b }), "version 9"},
		{"count", weights(func(b []byte) []byte { binary.LittleEndian.PutUint64(b[8:], 1<<62); return b }), "holds 4611686018427387904 values"},
		{"checksum", weights(func(b []byte) []byte { b[len(b)-1] ^= 0x40; return b }), "SHA-256"},
		{"NaN", unchecked(func(b []byte) []byte {
			binary.LittleEndian.PutUint32(b[16:], math.Float32bits(float32(math.NaN())))
			return b
		}), "NaN"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := MustSave(t, tinyModel(modelserver.Softmax))
			tt.damage(t, dir)
			m, err := modelserver.Load(dir)
			if err == nil {
				t.Fatalf("Load = %+v; want an error containing %q", m, tt.want)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Load error = %q; want it to contain %q", err, tt.want)
			}
		})
	}
}

func writeFile(tb testing.TB, path string, b []byte) {
	tb.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		tb.Fatal(err)
	}
}

// FuzzLoadWeights: whatever the weights file holds, Load returns a model or an error, never panics.
func FuzzLoadWeights(f *testing.F) {
	dir := MustSave(f, tinyModel(modelserver.Softmax))
	good, err := os.ReadFile(filepath.Join(dir, modelserver.DefaultWeightsFile))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add(good[:20])
	f.Add(append(append([]byte{}, good...), 1))
	f.Add([]byte("ARKW"))
	f.Fuzz(func(t *testing.T, b []byte) {
		dir := MustSave(t, tinyModel(modelserver.Softmax))
		// Without the checksum, so that the fuzzer reaches the size and value checks.
		writeFile(t, filepath.Join(dir, modelserver.ManifestFile), []byte(`{"format":"arkserve-dense","format_version":1,
			"input_size":3,"layers":[{"units":2,"activation":"relu"},{"units":3,"activation":"softmax"}]}`))
		writeFile(t, filepath.Join(dir, modelserver.DefaultWeightsFile), b)
		if m, err := modelserver.Load(dir); err == nil {
			if _, err := m.Predict(m.NewWorkspace(), []float32{1, 2, 3}); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// TestStandardLibraryOnly keeps the model server free of dependencies.
func TestStandardLibraryOnly(t *testing.T) {
	pkg, err := build.ImportDir(".", 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, imp := range pkg.Imports {
		if strings.Contains(strings.Split(imp, "/")[0], ".") {
			t.Errorf("internal/modelserver imports %s; it uses the standard library only", imp)
		}
	}
}
