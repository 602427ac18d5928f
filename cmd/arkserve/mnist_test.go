package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arkserve/arkserve/examples/mnist"
)

// mnistReadme is the MNIST example's README, which states the accuracy of both versions.
const mnistReadme = "../../examples/mnist/README.md"

// readmeAccuracies returns the test accuracy the README states for each version ("v1": "92.43"),
// from its table; the sample output of the trainer there must say the same.
func readmeAccuracies(tb testing.TB) map[string]string {
	tb.Helper()
	b, err := os.ReadFile(mnistReadme)
	if err != nil {
		tb.Fatal(err)
	}
	table := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^\| (v[12]) \|.*\| \*\*([0-9]+\.[0-9]{2})%\*\* \|$`).FindAllStringSubmatch(string(b), -1) {
		table[m[1]] = m[2]
	}
	sample := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^(v[12]) .*; test accuracy ([0-9.]+)% -> `).FindAllStringSubmatch(string(b), -1) {
		sample[m[1]] = m[2]
	}
	if len(table) != 2 || table["v1"] != sample["v1"] || table["v2"] != sample["v2"] {
		tb.Fatalf("%s: accuracies in the table %v and in the trainer's output %v; want both versions, the same in both", mnistReadme, table, sample)
	}
	return table
}

// goBuild builds a package without the race detector into a directory that user nobody can read,
// and returns the executable.
func goBuild(tb testing.TB, pkg, name string) string {
	tb.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	dir, err := os.MkdirTemp("", "arkserve-e2e-bin-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		tb.Fatal(err)
	}
	bin := filepath.Join(dir, name)
	if out, err := exec.Command(goTool, "build", "-o", bin, pkg).CombinedOutput(); err != nil {
		tb.Fatalf("go build %s: %v\n%s", pkg, err, out)
	}
	return bin
}

// sameAccuracy says whether a measured accuracy is the one the README states. Training and
// evaluation are deterministic, and on amd64, where the README's figures come from, they must match
// exactly. Elsewhere the compiler may fuse multiply-adds (arm64 does), which changes the last bits
// of the weights and so possibly a few predictions: there half a percentage point is allowed.
func sameAccuracy(got, want string) bool {
	if got == want || runtime.GOARCH == "amd64" {
		return got == want
	}
	g, err1 := strconv.ParseFloat(got, 64)
	w, err2 := strconv.ParseFloat(want, 64)
	return err1 == nil && err2 == nil && math.Abs(g-w) <= 0.5
}

// trained is a version written by the trainer: its directory and the accuracy it printed.
type trained struct {
	version, accuracy, dir string
}

// startTrainer builds the MNIST trainer (without the race detector: under -race training takes
// minutes) and runs it as the README says, on all the digits, into a directory user nobody can
// read. Each version is sent on the channel as soon as the trainer has written it; the channel is
// closed when the trainer has exited, successfully or not (the test fails then).
func startTrainer(t *testing.T) <-chan trained {
	t.Helper()
	bin := goBuild(t, "../../examples/mnist/train", "train")
	out, err := os.MkdirTemp("", "arkserve-e2e-mnist-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(out) })
	if err := os.Chmod(out, 0o755); err != nil {
		t.Fatal(err)
	}

	cmd := exec.Command(bin, "-out", out)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := newSyncBuffer()
	cmd.Stderr = stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() {
		cmd.Process.Kill() // when the test ended early; a no-op once the trainer has exited
		<-done
	})
	ch := make(chan trained, 2)
	line := regexp.MustCompile(`^(v[12]) .*; test accuracy ([0-9.]+)% -> (.+)$`)
	go func() {
		defer close(done)
		defer close(ch)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			t.Logf("train (%.1fs): %s", time.Since(start).Seconds(), sc.Text())
			if m := line.FindStringSubmatch(sc.Text()); m != nil {
				ch <- trained{version: m[1], accuracy: m[2], dir: m[3]}
			}
		}
		if err := cmd.Wait(); err != nil {
			t.Errorf("train: %v\n%s", err, stderr)
		}
	}()
	return ch
}

// nextTrained waits for the trainer to write a version.
func nextTrained(t *testing.T, ch <-chan trained, version string) trained {
	t.Helper()
	select {
	case v, ok := <-ch:
		if !ok || v.version != version {
			t.Fatalf("the trainer ended without writing %s (got %+v)", version, v)
		}
		return v
	case <-time.After(5 * time.Minute):
		t.Fatalf("the trainer did not write %s in 5 minutes", version)
	}
	panic("unreachable")
}

// digitBatch is a predict request for digits first..first+len(labels)-1 of the test set.
type digitBatch struct {
	first  int
	body   []byte
	labels []uint8
}

// digitBatches makes predict requests for all the digits of set, n per request.
func digitBatches(tb testing.TB, set *mnist.Set, n int) []digitBatch {
	tb.Helper()
	var out []digitBatch
	for first := 0; first < set.N; first += n {
		count := min(n, set.N-first)
		body, err := mnist.InputJSON(set, first, count)
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, digitBatch{first: first, body: body, labels: set.Labels[first : first+count]})
	}
	return out
}

// gatewayAccuracy sends the batches through the gateway (POST /v1/infers/{sid}/predict), two
// requests at a time, and returns the percentage of digits classified correctly, formatted as the
// README prints it.
func gatewayAccuracy(t *testing.T, in *inferer, sid string, batches []digitBatch) string {
	t.Helper()
	var (
		mu             sync.Mutex
		correct, total int
		errs           []string
		wg             sync.WaitGroup
	)
	next := make(chan digitBatch)
	for range 2 { // the instance evaluates one request while the next one is read
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range next {
				n, err := predictBatch(in, sid, b)
				mu.Lock()
				correct += n
				total += len(b.labels)
				if err != nil {
					errs = append(errs, err.Error())
				}
				mu.Unlock()
			}
		}()
	}
	for _, b := range batches {
		next <- b
	}
	close(next)
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("%d of %d requests failed, e.g. %s", len(errs), len(batches), errs[0])
	}
	return fmt.Sprintf("%.2f", 100*float64(correct)/float64(total))
}

// predictBatch sends a batch through the gateway and returns how many of its digits the service
// classified correctly.
func predictBatch(in *inferer, sid string, b digitBatch) (int, error) {
	req, err := http.NewRequest("POST", in.base+"/v1/infers/"+sid+"/predict", bytes.NewReader(b.body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("X-Auth-Token", in.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := in.http.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	var pr predictResult
	if err := json.Unmarshal(raw, &pr); err != nil || resp.StatusCode != http.StatusOK || len(pr.Predictions) != len(b.labels) {
		return 0, fmt.Errorf("digits %d to %d: %d %.200s", b.first, b.first+len(b.labels)-1, resp.StatusCode, raw)
	}
	correct := 0
	for i, p := range pr.Predictions {
		if p.Class == int(b.labels[i]) && p.Label == mnist.Labels[p.Class] {
			correct++
		}
	}
	return correct, nil
}

// servedModels asks the gateway for the model's metadata n times and counts the model names.
func servedModels(t *testing.T, in *inferer, sid string, n int) map[string]int {
	t.Helper()
	seen := map[string]int{}
	for range n {
		req, _ := http.NewRequest("GET", in.base+"/v1/infers/"+sid+"/metadata", nil)
		req.Header.Set("X-Auth-Token", in.token)
		resp, err := in.http.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var md struct {
			Name string `json:"name"`
		}
		err = json.NewDecoder(resp.Body).Decode(&md)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /v1/infers/%s/metadata: %d %v", sid, resp.StatusCode, err)
		}
		seen[md.Name]++
	}
	return seen
}

// runMainWithModelServer starts a real server, as MustRunMain does, that runs models of runtime
// arkserve with bin (an arkserve executable) rather than with a copy of the test binary: under
// -race the copy is instrumented too and takes minutes for the digits that bin classifies in
// seconds.
func runMainWithModelServer(tb testing.TB, bin string) *Main {
	tb.Helper()
	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = dataDir(tb)
	cfg.ShutdownTimeout = duration{20 * time.Second}
	cfg.LaunchCommands = map[string]string{ModelServerRuntime: "exec " + shellQuote(bin) + " model-server"}
	m := &Main{Config: cfg, Logger: newLogger(Config{LogLevel: "warn", LogFormat: "text"}, os.Stderr)}
	if err := m.Open(context.Background()); err != nil {
		m.Close()
		tb.Fatal(err)
	}
	return m
}

// TestMNISTEndToEnd is the MNIST example end to end, as its README walks through it: train both
// versions on all the digits, register them (runtime arkserve, no cmd), deploy v1, update to v2,
// then to 80/20. All 10,000 test digits go through the gateway to each version, 100 per request,
// and each version must classify them with exactly the accuracy the README states (training is
// deterministic). v1 is deployed and evaluated while v2 is still training.
//
// The trainer and the model server are built without the race detector, as the README's commands
// build them: under -race training alone takes minutes.
func TestMNISTEndToEnd(t *testing.T) {
	if testing.Short() {
		t.Skip("trains the MNIST example on all the digits (about 20 s)")
	}
	start := time.Now()
	want := readmeAccuracies(t)
	models := startTrainer(t)
	arkserve := goBuild(t, ".", "arkserve") // while the trainer runs
	t.Logf("arkserve built at %.1fs", time.Since(start).Seconds())

	dir, err := mnist.DataDir()
	if err != nil {
		t.Fatal(err)
	}
	_, test, err := mnist.LoadN(dir, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if test.N != 10000 {
		t.Fatalf("%d test digits; want 10000", test.N)
	}
	batches := digitBatches(t, test, 100)
	t.Logf("test digits read at %.1fs", time.Since(start).Seconds())

	t.Setenv("ARKSERVE_ADMIN_PASSWORD", testPassword)
	m := runMainWithModelServer(t, arkserve)
	defer func() { m.Close() }()
	c := newClient(t, m)
	pid := c.login()
	in := newInferer(c)
	t.Logf("server up at %.1fs", time.Since(start).Seconds())
	register := func(v trained) string {
		t.Helper()
		if !sameAccuracy(v.accuracy, want[v.version]) {
			t.Errorf("the trainer says %s has accuracy %s%%; the README says %s%%", v.version, v.accuracy, want[v.version])
		}
		status, _, doc := c.do("POST", "/v1/"+pid+"/models", map[string]any{"model_name": "mnist",
			"model_version": strings.TrimPrefix(v.version, "v") + ".0.0", "model_type": "Custom", "runtime": "arkserve",
			"source_location": v.dir})
		if status != http.StatusOK {
			t.Fatalf("register %s: %d %v", v.version, status, doc)
		}
		return obj(doc, "model_id").(string)
	}
	entry := func(modelID string, weight int) map[string]any {
		return map[string]any{"model_id": modelID, "weight": weight, "specification": "arkserve.local.small", "instance_count": 1}
	}

	// v1: deploy it and classify the test digits through the gateway while v2 trains.
	v1 := register(nextTrained(t, models, "v1"))
	t.Logf("v1 registered at %.1fs", time.Since(start).Seconds())
	service := c.deploy(pid, "mnist", v1, nil)
	if r := newestResult(c.waitFinal(pid, service)); r != "SUCCESS" {
		t.Fatalf("deployment of v1 ended %v; events: %v", r, c.events(pid, service))
	}
	t0 := time.Now()
	if got := gatewayAccuracy(t, in, service, batches); !sameAccuracy(got, want["v1"]) {
		t.Errorf("v1 through the gateway classifies %s%% of the test digits; the README says %s%%", got, want["v1"])
	}
	t.Logf("v1: 10,000 digits through the gateway in %.1fs (at %.1fs)", time.Since(t0).Seconds(), time.Since(start).Seconds())

	// v2: update the service to v2 alone.
	v2 := register(nextTrained(t, models, "v2"))
	t.Logf("v2 registered at %.1fs", time.Since(start).Seconds())
	c.update(pid, service, entry(v2, 100))
	if r := newestResult(c.waitFinal(pid, service)); r != "SUCCESS" {
		t.Fatalf("update to v2 ended %v; events: %v", r, c.events(pid, service))
	}
	if seen := servedModels(t, in, service, 5); seen["mnist-mlp"] != 5 {
		t.Fatalf("after the update to v2 the gateway serves %v; want mnist-mlp (v2) only", seen)
	}
	t0 = time.Now()
	if got := gatewayAccuracy(t, in, service, batches); !sameAccuracy(got, want["v2"]) {
		t.Errorf("v2 through the gateway classifies %s%% of the test digits; the README says %s%%", got, want["v2"])
	}
	t.Logf("v2: 10,000 digits through the gateway in %.1fs (at %.1fs)", time.Since(t0).Seconds(), time.Since(start).Seconds())

	// 80/20: three update-log entries, all SUCCESS, and both versions answer.
	c.update(pid, service, entry(v1, 80), entry(v2, 20))
	doc := c.waitFinal(pid, service)
	logs, _ := doc["logs"].([]any)
	if len(logs) != 3 {
		t.Fatalf("%d update-log entries; want 3 (deploy v1, v2, 80/20): %v", len(logs), doc)
	}
	for i, l := range logs {
		if r := obj(l, "result"); r != "SUCCESS" {
			t.Errorf("update-log entry %d (newest first) is %v; want SUCCESS: %v", i, r, l)
		}
	}
	weights := map[string]int{}
	for _, ep := range m.Engine.Endpoints(service) {
		weights[ep.ModelID] = ep.Weight
	}
	if len(weights) != 2 || weights[v1] != 80 || weights[v2] != 20 {
		t.Errorf("routes after the 80/20 update: %v; want v1 %s: 80, v2 %s: 20", weights, v1, v2)
	}
	if seen := servedModels(t, in, service, 60); seen["mnist-logistic"] == 0 || seen["mnist-mlp"] == 0 {
		t.Errorf("60 requests after the 80/20 update were answered by %v; want both versions", seen)
	}
	t.Logf("done in %.1fs", time.Since(start).Seconds())
}
