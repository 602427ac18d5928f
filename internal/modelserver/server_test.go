package modelserver_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arkserve/arkserve/internal/modelserver"
)

type prediction struct {
	Label         string    `json:"label"`
	Class         int       `json:"class"`
	Probabilities []float64 `json:"probabilities"`
	Scores        []float64 `json:"scores"`
}

type predictResponse struct {
	Predictions []prediction `json:"predictions"`
	ErrorCode   string       `json:"error_code"`
	ErrorMsg    string       `json:"error_msg"`
}

// do sends a request to h and decodes the JSON response, failing when it is not JSON.
func do(tb testing.TB, h http.Handler, method, path, body string) (int, predictResponse) {
	tb.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, strings.NewReader(body)))
	var resp predictResponse
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		tb.Errorf("%s %s: Content-Type %q; want application/json", method, path, ct)
	}
	if method != http.MethodHead {
		dec := json.NewDecoder(rec.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&resp); err != nil && !strings.Contains(err.Error(), "unknown field") {
			tb.Fatalf("%s %s: response is not JSON (%v): %q", method, path, err, rec.Body.String())
		}
	}
	return rec.Code, resp
}

func tinyServer(t testing.TB) *modelserver.Server {
	return &modelserver.Server{Model: MustLoad(t, tinyModel(modelserver.Softmax)), MaxBatch: 4, MaxBodyBytes: 4096}
}

func TestHealth(t *testing.T) {
	t.Run("OK", func(t *testing.T) {
		rec := httptest.NewRecorder()
		tinyServer(t).ServeHTTP(rec, httptest.NewRequest("GET", "/health", nil))
		if rec.Code != http.StatusOK || strings.TrimSpace(rec.Body.String()) != `{"status":"ok"}` {
			t.Errorf("GET /health = %d %q; want 200 {\"status\":\"ok\"}", rec.Code, rec.Body)
		}
	})
	t.Run("ErrNotLoaded", func(t *testing.T) {
		s := &modelserver.Server{}
		for _, path := range []string{"/health", "/metadata"} {
			if code, _ := do(t, s, "GET", path, ""); code != http.StatusServiceUnavailable {
				t.Errorf("GET %s without a model = %d; want 503", path, code)
			}
		}
		if code, _ := do(t, s, "POST", "/predict", `{"input":[1,2,3]}`); code != http.StatusServiceUnavailable {
			t.Errorf("POST /predict without a model = %d; want 503", code)
		}
	})
}

func TestMetadata(t *testing.T) {
	rec := httptest.NewRecorder()
	tinyServer(t).ServeHTTP(rec, httptest.NewRequest("GET", "/metadata", nil))
	var md struct {
		Name      string   `json:"name"`
		InputSize int      `json:"input_size"`
		Outputs   int      `json:"outputs"`
		Labels    []string `json:"labels"`
		MaxBatch  int      `json:"max_batch"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &md); err != nil || rec.Code != 200 {
		t.Fatalf("GET /metadata = %d %q (%v)", rec.Code, rec.Body, err)
	}
	if md.Name != "tiny" || md.InputSize != 3 || md.Outputs != 3 || strings.Join(md.Labels, ",") != "cat,dog,fish" || md.MaxBatch != 4 {
		t.Errorf("GET /metadata = %+v", md)
	}
}

func TestPredict(t *testing.T) {
	s := tinyServer(t)
	want := tinySoftmax()
	check := func(t *testing.T, p prediction) {
		t.Helper()
		if p.Class != 1 || p.Label != "dog" || len(p.Probabilities) != 3 {
			t.Fatalf("prediction = %+v; want class 1 (dog) with 3 probabilities", p)
		}
		for i := range want {
			if math.Abs(p.Probabilities[i]-want[i]) > 1e-6 {
				t.Errorf("probabilities[%d] = %v; want %v", i, p.Probabilities[i], want[i])
			}
		}
	}
	t.Run("Batch", func(t *testing.T) {
		code, resp := do(t, s, "POST", "/predict", `{"inputs": [[1, 2, 3], [0, 0, 0], [1e-3, -0.5e1, 30]]}`)
		if code != http.StatusOK || len(resp.Predictions) != 3 {
			t.Fatalf("POST /predict = %d %+v; want 200 and 3 predictions", code, resp)
		}
		check(t, resp.Predictions[0])
		// x = 0: h = relu([0 -1]) = 0, z = [0 0 1] → fish.
		if p := resp.Predictions[1]; p.Class != 2 || p.Label != "fish" {
			t.Errorf("prediction for zeros = %+v; want class 2 (fish)", p)
		}
	})
	t.Run("Single", func(t *testing.T) {
		code, resp := do(t, s, "POST", "/predict", "\n{ \"input\" : [ 1 , 2.0 , 3e0 ] }\n")
		if code != http.StatusOK || len(resp.Predictions) != 1 {
			t.Fatalf("POST /predict = %d %+v; want 200 and 1 prediction", code, resp)
		}
		check(t, resp.Predictions[0])
	})
	t.Run("Root", func(t *testing.T) {
		code, resp := do(t, s, "POST", "/", `{"input":[1,2,3]}`)
		if code != http.StatusOK || len(resp.Predictions) != 1 {
			t.Fatalf("POST / = %d %+v; want 200 and 1 prediction", code, resp)
		}
		check(t, resp.Predictions[0])
	})
	t.Run("LabelEscaped", func(t *testing.T) {
		tm := tinyModel(modelserver.Softmax)
		tm.Labels[1] = "\"dog\" <b>ü\n"
		code, resp := do(t, &modelserver.Server{Model: MustLoad(t, tm)}, "POST", "/predict", `{"input":[1,2,3]}`)
		if code != http.StatusOK || len(resp.Predictions) != 1 || resp.Predictions[0].Label != tm.Labels[1] {
			t.Errorf("POST /predict = %d %+v; want label %q", code, resp, tm.Labels[1])
		}
	})
	t.Run("Scores", func(t *testing.T) {
		s := &modelserver.Server{Model: MustLoad(t, tinyModel(modelserver.Identity))}
		code, resp := do(t, s, "POST", "/predict", `{"input":[1,2,3]}`)
		if code != http.StatusOK || len(resp.Predictions) != 1 {
			t.Fatalf("POST /predict = %d %+v", code, resp)
		}
		if p := resp.Predictions[0]; p.Class != 1 || p.Probabilities != nil || fmt.Sprint(p.Scores) != "[0 2 -1]" {
			t.Errorf("prediction = %+v; want class 1 with scores [0 2 -1] and no probabilities", p)
		}
	})
}

// TestPredictErrors: every invalid request gets a JSON error with a status and a message that says
// what is wrong.
func TestPredictErrors(t *testing.T) {
	s := tinyServer(t) // MaxBatch 4, MaxBodyBytes 4096
	tests := []struct {
		name, method, path, body string
		code                     int
		msg                      string
	}{
		{"empty body", "POST", "/predict", "", 400, "unexpected end"},
		{"not JSON", "POST", "/predict", "inputs=1,2,3", 400, "invalid JSON"},
		{"truncated", "POST", "/predict", `{"inputs":[[1,2,3]`, 400, "unexpected end"},
		{"array", "POST", "/predict", `[[1,2,3]]`, 400, "JSON object"},
		{"empty object", "POST", "/predict", `{}`, 400, `"inputs" is required`},
		{"empty inputs", "POST", "/predict", `{"inputs":[]}`, 400, `"inputs" is empty`},
		{"inputs null", "POST", "/predict", `{"inputs":null}`, 400, "array of arrays"},
		{"inputs flat", "POST", "/predict", `{"inputs":[1,2,3]}`, 400, "inputs[0]: must be an array of 3 numbers"},
		{"short row", "POST", "/predict", `{"inputs":[[1,2,3],[1,2]]}`, 400, "inputs[1]: 2 values; the model takes 3"},
		{"long row", "POST", "/predict", `{"inputs":[[1,2,3,4]]}`, 400, "inputs[0]: more than 3 values"},
		{"empty row", "POST", "/predict", `{"input":[]}`, 400, "input: 0 values"},
		{"null row", "POST", "/predict", `{"inputs":[null]}`, 400, "inputs[0]: must be an array"},
		{"null value", "POST", "/predict", `{"input":[1,null,3]}`, 400, "input: value 1 is not a number"},
		{"string value", "POST", "/predict", `{"input":[1,"2",3]}`, 400, "value 1 is not a number"},
		{"nested", "POST", "/predict", `{"input":[[1],2,3]}`, 400, "value 0 is not a number"},
		{"NaN", "POST", "/predict", `{"input":[NaN,2,3]}`, 400, "invalid JSON"},
		{"Infinity", "POST", "/predict", `{"input":[1,Infinity,3]}`, 400, "invalid JSON"},
		{"overflow", "POST", "/predict", `{"input":[1,2,1e39]}`, 400, "value 2 (1e39) is out of the float32 range"},
		{"outputs overflow", "POST", "/predict", `{"input":[3e38,3e38,3e38]}`, 400, "outputs overflow"},
		{"both", "POST", "/predict", `{"input":[1,2,3],"inputs":[[1,2,3]]}`, 400, "either"},
		{"twice", "POST", "/predict", `{"inputs":[[1,2,3]],"inputs":[[1,2,3]]}`, 400, "either"},
		{"unknown field", "POST", "/predict", `{"inputs":[[1,2,3]],"top_k":1}`, 400, `unknown field "top_k"`},
		{"trailing data", "POST", "/predict", `{"input":[1,2,3]} {}`, 400, "after the JSON object"},
		{"batch too large", "POST", "/predict", `{"inputs":[[1,2,3],[1,2,3],[1,2,3],[1,2,3],[1,2,3]]}`, 400, "more than 4 inputs"},
		{"body too large", "POST", "/predict", `{"input":[1,2,3` + strings.Repeat(" ", 5000) + `]}`, 413, "larger than 4096 bytes"},
		{"GET predict", "GET", "/predict", "", 405, "use POST"},
		{"POST health", "POST", "/health", "", 405, "use GET"},
		{"unknown path", "POST", "/v1/predict", "", 404, "no route /v1/predict"},
		{"GET root", "GET", "/", "", 405, "use POST"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, resp := do(t, s, tt.method, tt.path, tt.body)
			if code != tt.code || !strings.Contains(resp.ErrorMsg, tt.msg) || resp.ErrorCode == "" {
				t.Errorf("%s %s %q = %d %+v; want %d with error_msg containing %q", tt.method, tt.path, tt.body, code, resp, tt.code, tt.msg)
			}
		})
	}
}

// FuzzPredictBody: any body gets a JSON answer, 200 with one prediction per input or a 4xx error.
func FuzzPredictBody(f *testing.F) {
	s := tinyServer(f)
	for _, b := range []string{`{"inputs":[[1,2,3]]}`, `{"input":[1,2,3]}`, `{"input":[1,2,1e39]}`, `{"inputs":[[1,2,3],[4,5,6]]}`, `{"input":[-0.0,1E+2,3e-2]}`} {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body string) {
		code, resp := do(t, s, "POST", "/predict", body)
		switch {
		case code == http.StatusOK && len(resp.Predictions) >= 1:
		case (code == 400 || code == 413) && resp.ErrorMsg != "":
		default:
			t.Fatalf("POST /predict %q = %d %+v", body, code, resp)
		}
	})
}

// TestServeConcurrent evaluates from many goroutines at once on a real listener (run with -race).
func TestServeConcurrent(t *testing.T) {
	s := tinyServer(t)
	s.Addr = "127.0.0.1:0"
	if err := s.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	url := "http://" + s.ListenAddr() + "/predict"
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 8 {
		wg.Go(func() {
			for i := range 20 {
				x := float64(g*20 + i)
				body := fmt.Sprintf(`{"inputs":[[1,2,3],[%g,0,0]]}`, x)
				resp, err := http.Post(url, "application/json", strings.NewReader(body))
				if err != nil {
					errs <- err
					return
				}
				var pr predictResponse
				err = json.NewDecoder(resp.Body).Decode(&pr)
				resp.Body.Close()
				// x ≥ 1: h = [x, x/2-1], z = [x, x/2-1, 2-x/2]; x = 0 → fish.
				if err != nil || len(pr.Predictions) != 2 || pr.Predictions[0].Class != 1 {
					errs <- fmt.Errorf("POST %s = %+v (%v)", body, pr, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestGracefulClose: Close waits for a request that is still sending its body, which then gets its
// answer; new connections are refused meanwhile.
func TestGracefulClose(t *testing.T) {
	started := make(chan struct{}, 1)
	modelserver.SetTestHookPredict(func() { started <- struct{}{} })
	t.Cleanup(func() { modelserver.SetTestHookPredict(nil) })
	s := tinyServer(t)
	s.Addr = "127.0.0.1:0"
	if err := s.Open(); err != nil {
		t.Fatal(err)
	}
	url := "http://" + s.ListenAddr() + "/predict"
	pr, pw := io.Pipe()
	type result struct {
		code int
		body string
		err  error
	}
	res := make(chan result, 1)
	go func() {
		resp, err := http.Post(url, "application/json", pr)
		if err != nil {
			res <- result{err: err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		res <- result{resp.StatusCode, string(b), err}
	}()
	if _, err := io.WriteString(pw, `{"input":[1,`); err != nil {
		t.Fatal(err)
	}
	<-started // the handler is reading the body
	closed := make(chan error, 1)
	go func() { closed <- s.Close(context.Background()) }()
	select {
	case err := <-closed:
		t.Fatalf("Close returned (%v) while a request was in flight", err)
	case <-time.After(200 * time.Millisecond):
	}
	if _, err := http.Get("http://" + s.ListenAddr() + "/health"); err == nil {
		t.Error("GET /health after Close began: connected; want the listener closed")
	}
	io.WriteString(pw, `2,3]}`)
	pw.Close()
	r := <-res
	if r.err != nil || r.code != http.StatusOK || !strings.Contains(r.body, `"label":"dog"`) {
		t.Errorf("in-flight request = %d %q (%v); want 200 with a prediction", r.code, r.body, r.err)
	}
	if err := <-closed; err != nil {
		t.Errorf("Close = %v", err)
	}
}
