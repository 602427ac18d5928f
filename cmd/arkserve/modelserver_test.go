package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/arkserve/arkserve/internal/modelserver"
)

// TestMain lets the test binary act as arkserve model-server and arkserve server. The server under
// test copies its own executable (here, this test binary) into the data dir and starts models of
// runtime arkserve with `exec COPY model-server`, so the copy must behave as the real binary does;
// the crash tests run the server as a separate process (this binary) to kill it with SIGKILL.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && (os.Args[1] == "model-server" || os.Args[1] == "server" || os.Args[1] == "agent") {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// tinyModelDir saves a 3-input network with labels cat, dog and fish in a directory that user
// nobody can read, and returns it. For input [1 2 3] it answers dog when favourite is 1; the
// second layer's biases are shifted so that favourite is the answer for [1 2 3].
func tinyModelDir(tb testing.TB, favourite int) string {
	tb.Helper()
	root, err := os.MkdirTemp("", "arkserve-e2e-model-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(root) })
	if err := os.Chmod(root, 0o755); err != nil {
		tb.Fatal(err)
	}
	b2 := []float32{0, 0, 1}
	b2[favourite] += 10
	m := &modelserver.Model{Name: "tiny", InputSize: 3, Labels: []string{"cat", "dog", "fish"}, Layers: []modelserver.Layer{
		{Units: 2, Activation: modelserver.ReLU, W: []float32{1, 0, -1, 0.5, 0.5, 0.5}, B: []float32{0, -1}},
		{Units: 3, Activation: modelserver.Softmax, W: []float32{1, 0, 0, 1, 0, -1}, B: b2},
	}}
	dir := filepath.Join(root, "model")
	if err := m.Save(dir); err != nil {
		tb.Fatal(err)
	}
	return dir
}

type predictResult struct {
	Predictions []struct {
		Label         string    `json:"label"`
		Class         int       `json:"class"`
		Probabilities []float64 `json:"probabilities"`
	} `json:"predictions"`
	ErrorCode string `json:"error_code"`
	ErrorMsg  string `json:"error_msg"`
}

func postPredict(tb testing.TB, url, body string) (int, predictResult) {
	tb.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	var pr predictResult
	if err := json.NewDecoder(resp.Body).Decode(&pr); err != nil {
		tb.Fatalf("POST %s: response is not JSON: %v", url, err)
	}
	return resp.StatusCode, pr
}

// buildArkserve builds the arkserve binary into a temp dir.
func buildArkserve(tb testing.TB) string {
	tb.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(tb.TempDir(), "arkserve")
	out, err := exec.Command(goTool, "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		tb.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

func freePort(tb testing.TB) int {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// syncBuffer is a bytes.Buffer safe for a process's output and the test to use at once.
type syncBuffer struct {
	mu  chan struct{}
	buf bytes.Buffer
}

func newSyncBuffer() *syncBuffer { return &syncBuffer{mu: make(chan struct{}, 1)} }

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu <- struct{}{}
	defer func() { <-b.mu }()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu <- struct{}{}
	defer func() { <-b.mu }()
	return b.buf.String()
}

// TestModelServerProcess runs `arkserve model-server` as a real process, configured the way the
// process runtime starts instances (PORT and MODEL_DIR), predicts over loopback, then checks that
// SIGTERM lets an in-flight request finish before the process exits 0.
func TestModelServerProcess(t *testing.T) {
	bin := buildArkserve(t)
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	cmd := exec.Command(bin, "model-server")
	cmd.Env = []string{"PATH=/usr/bin:/bin", fmt.Sprintf("PORT=%d", port), "MODEL_DIR=" + tinyModelDir(t, 1)}
	stderr := newSyncBuffer()
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{}) // closed when the process has exited; then waitErr is set
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
	})

	deadline := time.Now().Add(20 * time.Second)
	for {
		resp, err := http.Get(base + "/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /health: not 200 after 20s (%v); stderr:\n%s", err, stderr)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(stderr.String(), "127.0.0.1:"+fmt.Sprint(port)) {
		t.Errorf("stderr does not name the loopback address:\n%s", stderr)
	}

	code, pr := postPredict(t, base+"/predict", `{"inputs":[[1,2,3],[0,0,0]]}`)
	if code != http.StatusOK || len(pr.Predictions) != 2 || pr.Predictions[0].Label != "dog" || pr.Predictions[1].Label != "dog" {
		t.Fatalf("POST /predict = %d %+v; want dog twice", code, pr)
	}
	code, pr = postPredict(t, base+"/predict", `{"input":[1,2]}`)
	if code != http.StatusBadRequest || !strings.Contains(pr.ErrorMsg, "2 values; the model takes 3") {
		t.Errorf("POST /predict with 2 values = %d %+v; want 400", code, pr)
	}

	// An in-flight request: headers and half the body sent.
	conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"input":[1,2,3]}`
	fmt.Fprintf(conn, "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s", len(body), body[:10])
	time.Sleep(500 * time.Millisecond) // let the server read the headers and start the handler
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for !strings.Contains(stderr.String(), "shutting down") {
		select {
		case <-exited:
			t.Fatalf("exited (%v) with a request in flight; stderr:\n%s", waitErr, stderr)
		case <-time.After(20 * time.Millisecond):
		}
	}
	if _, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second); err == nil {
		t.Error("connected after SIGTERM; want the listener closed")
	}
	io.WriteString(conn, body[10:])
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("in-flight request: %v; stderr:\n%s", err, stderr)
	}
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `"label":"dog"`) {
		t.Errorf("in-flight request = %d %s; want 200 dog", resp.StatusCode, b)
	}
	select {
	case <-exited:
		if waitErr != nil {
			t.Errorf("exit: %v; want 0; stderr:\n%s", waitErr, stderr)
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("still running 15s after SIGTERM; stderr:\n%s", stderr)
	}
}

func TestModelServerConfig(t *testing.T) {
	env := func(kv ...string) func(string) string {
		return func(k string) string {
			for i := 0; i+1 < len(kv); i += 2 {
				if kv[i] == k {
					return kv[i+1]
				}
			}
			return ""
		}
	}
	tests := []struct {
		name      string
		args      []string
		getenv    func(string) string
		addr, dir string
		err       string
	}{
		{"env", nil, env("PORT", "8080", "MODEL_DIR", "/m"), "127.0.0.1:8080", "/m", ""},
		{"flags win", []string{"--port", "9", "--model-dir", "/n"}, env("PORT", "8080", "MODEL_DIR", "/m"), "127.0.0.1:9", "/n", ""},
		{"listen host", []string{"--listen", "0.0.0.0"}, env("PORT", "8080", "MODEL_DIR", "/m"), "0.0.0.0:8080", "/m", ""},
		{"listen host:port", []string{"--listen", "[::1]:7"}, env("MODEL_DIR", "/m"), "[::1]:7", "/m", ""},
		{"no port", nil, env("MODEL_DIR", "/m"), "", "", "--port (or PORT) is required"},
		{"no model dir", nil, env("PORT", "1"), "", "", "--model-dir (or MODEL_DIR) is required"},
		{"argument", []string{"x"}, env("PORT", "1", "MODEL_DIR", "/m"), "", "", "unexpected argument"},
		{"max batch", []string{"--max-batch", "0"}, env("PORT", "1", "MODEL_DIR", "/m"), "", "", "must be positive"},
		{"ready delay", []string{"--ready-delay", "2"}, env("PORT", "1", "MODEL_DIR", "/m"), "", "", "--ready-delay"},
		{"ready delay env", nil, env("PORT", "1", "MODEL_DIR", "/m", "MODEL_READY_DELAY", "-1s"), "", "", "--ready-delay"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := loadModelServerConfig(tt.args, tt.getenv, io.Discard)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || exitCode(err) != 2 {
					t.Errorf("loadModelServerConfig(%q) = %+v, %v; want a usage error containing %q", tt.args, cfg, err, tt.err)
				}
				return
			}
			if err != nil || cfg.Addr != tt.addr || cfg.ModelDir != tt.dir {
				t.Errorf("loadModelServerConfig(%q) = %+v, %v; want addr %s, model dir %s", tt.args, cfg, err, tt.addr, tt.dir)
			}
		})
	}
}

// TestModelServerReadyDelay: --ready-delay and MODEL_READY_DELAY set how long the server waits
// before it listens; the flag wins.
func TestModelServerReadyDelay(t *testing.T) {
	getenv := func(k string) string {
		return map[string]string{"PORT": "1", "MODEL_DIR": "/m", "MODEL_READY_DELAY": "3s"}[k]
	}
	for _, tt := range []struct {
		args []string
		want time.Duration
	}{{nil, 3 * time.Second}, {[]string{"--ready-delay", "250ms"}, 250 * time.Millisecond}} {
		cfg, err := loadModelServerConfig(tt.args, getenv, io.Discard)
		if err != nil || cfg.ReadyDelay != tt.want {
			t.Errorf("loadModelServerConfig(%q).ReadyDelay = %v, %v; want %v", tt.args, cfg.ReadyDelay, err, tt.want)
		}
	}
}

// TestModelServerBadModel: a corrupt model makes the command fail with an error naming the file.
func TestModelServerBadModel(t *testing.T) {
	dir := tinyModelDir(t, 1)
	w := filepath.Join(dir, modelserver.DefaultWeightsFile)
	b, err := os.ReadFile(w)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(w, b[:len(b)-8], 0o644); err != nil {
		t.Fatal(err)
	}
	err = run(context.Background(), []string{"model-server", "--model-dir", dir, "--port", "0"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "weights.bin") || !strings.Contains(err.Error(), "truncated") {
		t.Errorf("model-server on a truncated model: %v; want an error naming weights.bin", err)
	}
}

func TestInstallModelServer(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.MkdirAll(bin, 0o700); err != nil {
		t.Fatal(err)
	}
	stale := filepath.Join(bin, "arkserve-0123456789ab")
	if err := os.WriteFile(stale, []byte("old"), 0o755); err != nil {
		t.Fatal(err)
	}
	path, err := installModelServer(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`^arkserve-[0-9a-f]{12}$`).MatchString(filepath.Base(path)) || filepath.Dir(path) != bin {
		t.Errorf("installModelServer = %s; want %s/arkserve-<12 hex digits>", path, bin)
	}
	for p, want := range map[string]os.FileMode{bin: 0o755, path: 0o755} {
		if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v (%v); want %v", p, fi.Mode().Perm(), err, want)
		}
	}
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the copy of another version is still there (%v)", err)
	}
	self, _ := os.Executable()
	if a, b := mustHash(t, self), mustHash(t, path); a != b {
		t.Errorf("copy hash %s; want the executable's %s", b, a)
	}
	fi1, _ := os.Stat(path)
	again, err := installModelServer(dir)
	fi2, _ := os.Stat(again)
	if err != nil || again != path || !os.SameFile(fi1, fi2) {
		t.Errorf("second installModelServer = %s (%v); want the same file %s, not a new copy", again, err, path)
	}

	m := &Main{Config: DefaultConfig()}
	m.Config.LaunchCommands = map[string]string{"tf2.1-python3.7": "exec tf"}
	got := m.launchCommands(dir)
	if want := "exec '" + path + "' model-server"; got[ModelServerRuntime] != want || got["tf2.1-python3.7"] != "exec tf" {
		t.Errorf("launchCommands = %q; want arkserve: %q and the configured one", got, want)
	}
	m.Config.LaunchCommands = map[string]string{ModelServerRuntime: "exec my-server"}
	if got := m.launchCommands(dir); got[ModelServerRuntime] != "exec my-server" {
		t.Errorf("launchCommands with a configured arkserve command = %q; want the configured one to win", got)
	}
}

func mustHash(tb testing.TB, path string) string {
	tb.Helper()
	h, err := hashFile(path)
	if err != nil {
		tb.Fatal(err)
	}
	return h
}

func TestShellQuote(t *testing.T) {
	for in, want := range map[string]string{"/a/b": "'/a/b'", "/it's here": `'/it'\''s here'`} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s; want %s", in, got, want)
		}
	}
}

// TestModelServerRuntimeEndToEnd registers two models of runtime arkserve without a cmd (what the
// MNIST example's README does), deploys the first, updates to 80/20, and predicts through each
// ready instance: the server starts them with its built-in launch command.
func TestModelServerRuntimeEndToEnd(t *testing.T) {
	t.Setenv("ARKSERVE_ADMIN_PASSWORD", testPassword)
	m := MustRunMain(t, dataDir(t))
	defer func() { m.Close() }()
	c := newClient(t, m)
	pid := c.login()
	register := func(version string, favourite int) string {
		status, _, doc := c.do("POST", "/v1/"+pid+"/models", map[string]any{"model_name": "tiny", "model_version": version,
			"model_type": "Custom", "runtime": "arkserve", "source_location": tinyModelDir(t, favourite)})
		if status != http.StatusOK {
			t.Fatalf("create model: %d %v", status, doc)
		}
		return obj(doc, "model_id").(string)
	}
	v1, v2 := register("1.0.0", 1), register("2.0.0", 0)

	sid := c.deploy(pid, "tiny", v1, nil)
	if r := obj(c.waitFinal(pid, sid)["logs"].([]any)[0], "result"); r != "SUCCESS" {
		t.Fatalf("deployment = %v; want SUCCESS (events: %v)", r, c.events(pid, sid))
	}
	status, _, doc := c.do("PUT", "/v1/"+pid+"/services/"+sid, map[string]any{"config": []any{
		map[string]any{"model_id": v1, "weight": 80, "specification": "arkserve.local.small", "instance_count": 1},
		map[string]any{"model_id": v2, "weight": 20, "specification": "arkserve.local.small", "instance_count": 1}}})
	if status != http.StatusOK {
		t.Fatalf("update: %d %v", status, doc)
	}
	if r := obj(c.waitFinal(pid, sid)["logs"].([]any)[0], "result"); r != "SUCCESS" {
		t.Fatalf("update = %v; want SUCCESS (events: %v)", r, c.events(pid, sid))
	}
	want := map[string]string{v1: "dog", v2: "cat"}
	seen := map[string]bool{}
	for _, ep := range m.Engine.Endpoints(sid) {
		code, pr := postPredict(t, "http://"+ep.Addr+"/predict", `{"input":[1,2,3]}`)
		if code != http.StatusOK || len(pr.Predictions) != 1 || pr.Predictions[0].Label != want[ep.ModelID] {
			t.Errorf("instance of model %s: POST /predict = %d %+v; want %s", ep.ModelID, code, pr, want[ep.ModelID])
		}
		seen[ep.ModelID] = true
	}
	if len(seen) != 2 {
		t.Errorf("ready instances of %d models; want 2 (%v)", len(seen), m.Engine.Endpoints(sid))
	}
}
