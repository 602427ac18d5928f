package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/arkserve/arkserve/internal/httpapi"
	"github.com/arkserve/arkserve/internal/httpapi/openapitest"
)

const testPassword = "Test-Secret-123!"

// MustRunMain starts a real server on a loopback port with the given data dir; opts change its
// configuration first.
func MustRunMain(tb testing.TB, dataDir string, opts ...func(*Config)) *Main {
	tb.Helper()
	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = dataDir
	cfg.ShutdownTimeout = duration{20 * time.Second}
	for _, o := range opts {
		o(&cfg)
	}
	m := &Main{Config: cfg, Logger: newLogger(Config{LogLevel: "warn", LogFormat: "text"}, os.Stderr)}
	if err := m.Open(context.Background()); err != nil {
		m.Close()
		tb.Fatal(err)
	}
	return m
}

// dataDir returns a fresh data dir directly under the system temp dir: instances run as nobody
// when the tests run as root, and t.TempDir's parent (mode 0700) would keep them out.
func dataDir(tb testing.TB) string {
	tb.Helper()
	dir, err := os.MkdirTemp("", "arkserve-e2e-data-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// client is a small JSON client for the tests. Every response it receives is validated against
// the OpenAPI document.
type client struct {
	tb    testing.TB
	base  string
	token string
	http  *http.Client
}

func newClient(tb testing.TB, m *Main) *client {
	tb.Helper()
	v, err := openapitest.Load(httpapi.OpenAPI())
	if err != nil {
		tb.Fatal(err)
	}
	rt := openapitest.NewRoundTripper(v, nil)
	tb.Cleanup(func() {
		for _, err := range rt.Errors() {
			tb.Errorf("OpenAPI: %v", err)
		}
	})
	return &client{tb: tb, base: "http://" + m.HTTP.ListenAddr(), http: &http.Client{Transport: rt}}
}

// do sends a request and returns the status and the body decoded with UseNumber (so that integer
// and float types can be told apart).
func (c *client) do(method, path string, body any) (int, http.Header, any) {
	c.tb.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.tb.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+path, rd)
	if err != nil {
		c.tb.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		req.Header.Set("X-Auth-Token", c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		c.tb.Fatal(err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		c.tb.Fatal(err)
	}
	var doc any
	if len(raw) > 0 {
		dec := json.NewDecoder(bytes.NewReader(raw))
		dec.UseNumber()
		if err := dec.Decode(&doc); err != nil {
			c.tb.Fatalf("%s %s: body is not JSON: %q", method, path, raw)
		}
	}
	return resp.StatusCode, resp.Header, doc
}

func (c *client) login() string {
	c.tb.Helper()
	status, h, doc := c.do("POST", "/v3/auth/tokens", map[string]any{"auth": map[string]any{
		"identity": map[string]any{"methods": []string{"password"}, "password": map[string]any{
			"user": map[string]any{"name": "admin", "password": testPassword, "domain": map[string]any{"name": "Default"}}}},
		"scope": map[string]any{"project": map[string]any{"name": "default", "domain": map[string]any{"name": "Default"}}}}})
	if status != http.StatusCreated {
		c.tb.Fatalf("token: status %d %v", status, doc)
	}
	c.token = h.Get("X-Subject-Token")
	return obj(doc, "token", "project", "id").(string)
}

// obj walks a decoded JSON document.
func obj(doc any, keys ...string) any {
	for _, k := range keys {
		m, ok := doc.(map[string]any)
		if !ok {
			return nil
		}
		doc = m[k]
	}
	return doc
}

// modelDir creates a model directory that user nobody can read (instances run as nobody when the
// tests run as root).
func modelDir(tb testing.TB, version string) string {
	tb.Helper()
	root, err := os.MkdirTemp("", "arkserve-e2e-model-")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { os.RemoveAll(root) })
	for _, f := range []struct{ name, text string }{{"health", "ok\n"}, {"version", version + "\n"}} {
		if err := os.WriteFile(filepath.Join(root, f.name), []byte(f.text), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	if err := os.Chmod(root, 0o755); err != nil {
		tb.Fatal(err)
	}
	return root
}

const httpServerCmd = `exec python3 -m http.server "$PORT" --bind 127.0.0.1 --directory "$MODEL_DIR"`

func modelBody(name, version, dir, cmd string) map[string]any {
	cfg, _ := json.Marshal(map[string]any{"cmd": cmd, "health": map[string]any{"url": "/health",
		"initial_delay_seconds": "0", "period_seconds": "1", "timeout_seconds": "2", "failure_threshold": "3"}})
	return map[string]any{"model_name": name, "model_version": version, "model_type": "Image",
		"source_location": dir, "initial_config": string(cfg)}
}

func (c *client) createModel(pid, name, version, cmd string) string {
	c.tb.Helper()
	status, _, doc := c.do("POST", "/v1/"+pid+"/models", modelBody(name, version, modelDir(c.tb, version), cmd))
	if status != http.StatusOK {
		c.tb.Fatalf("create model: %d %v", status, doc)
	}
	return obj(doc, "model_id").(string)
}

// deploy deploys one instance of a model as a real-time service (plus any extra body fields) and
// returns the service id.
func (c *client) deploy(pid, name, modelID string, extra map[string]any) string {
	c.tb.Helper()
	body := map[string]any{"infer_type": "real-time", "service_name": name, "config": []any{map[string]any{
		"specification": "arkserve.local.small", "weight": 100, "model_id": modelID, "instance_count": 1}}}
	for k, v := range extra {
		body[k] = v
	}
	status, _, doc := c.do("POST", "/v1/"+pid+"/services", body)
	if status != http.StatusOK {
		c.tb.Fatalf("deploy: %d %v", status, doc)
	}
	return obj(doc, "service_id").(string)
}

// waitFinal polls the logs until the newest entry is no longer RUNNING and returns the document.
func (c *client) waitFinal(pid, sid string) map[string]any {
	c.tb.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		status, _, doc := c.do("GET", "/v1/"+pid+"/services/"+sid+"/logs", nil)
		if status != http.StatusOK {
			c.tb.Fatalf("logs: %d %v", status, doc)
		}
		logs, _ := obj(doc, "logs").([]any)
		if len(logs) > 0 && obj(logs[0], "result") != "RUNNING" {
			return doc.(map[string]any)
		}
		if time.Now().After(deadline) {
			c.tb.Fatalf("update still RUNNING after 90s: %v", doc)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// instancePIDs returns the pids of the processes started for a service (their environment names it).
func instancePIDs(tb testing.TB, serviceID string) []string {
	tb.Helper()
	var pids []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err != nil {
			continue
		}
		for _, kv := range strings.Split(string(env), "\x00") {
			if kv == "ARKSERVE_SERVICE_ID="+serviceID {
				pids = append(pids, e.Name())
			}
		}
	}
	return pids
}

func isInt(v any) bool {
	n, ok := v.(json.Number)
	if !ok {
		return false
	}
	_, err := n.Int64()
	return err == nil
}

// TestUpdateLogsEndToEnd: token → models → deploy → two updates → logs, on a real server with real
// model processes; then a restart on the same data dir.
func TestUpdateLogsEndToEnd(t *testing.T) {
	t.Setenv("ARKSERVE_ADMIN_PASSWORD", testPassword)
	dir := dataDir(t)
	m := MustRunMain(t, dir)
	defer func() { m.Close() }()
	c := newClient(t, m)
	pid := c.login()
	mid1 := c.createModel(pid, "mnist", "1.0.0", httpServerCmd)
	mid2 := c.createModel(pid, "mnist", "1.0.1", httpServerCmd)

	sid := c.deploy(pid, "mnist", mid1, map[string]any{"description": "mnist service"})
	logs := c.waitFinal(pid, sid)
	if r := obj(logs["logs"].([]any)[0], "result"); r != "SUCCESS" {
		t.Fatalf("deployment entry = %v; want SUCCESS (events: %v)", r, c.events(pid, sid))
	}
	if n := len(instancePIDs(t, sid)); n != 1 {
		t.Fatalf("%d instance processes after deploy; want 1", n)
	}

	// Update 1: two versions, weights as strings as in the reference's examples.
	status, _, doc := c.do("PUT", "/v1/"+pid+"/services/"+sid, map[string]any{"config": []any{
		map[string]any{"model_id": mid1, "weight": "70", "specification": "arkserve.local.small", "instance_count": 1, "envs": map[string]string{"MODE": "a"}},
		map[string]any{"model_id": mid2, "weight": "30", "specification": "arkserve.local.small", "instance_count": 1,
			"additional_properties": map[string]any{mid2: map[string]any{"max_surge": 1, "max_unavailable": 0, "termination_grace_period_seconds": 5}}},
	}})
	if status != http.StatusOK || !reflect.DeepEqual(doc, map[string]any{}) {
		t.Fatalf("update 1: %d %v; want 200 {}", status, doc)
	}
	c.waitFinal(pid, sid)
	status, _, doc = c.do("PUT", "/v1/"+pid+"/services/"+sid, map[string]any{"config": []any{
		map[string]any{"model_id": mid2, "weight": 100, "specification": "arkserve.local.small", "instance_count": 2}}})
	if status != http.StatusOK {
		t.Fatalf("update 2: %d %v", status, doc)
	}
	final := c.waitFinal(pid, sid)
	if n := len(instancePIDs(t, sid)); n != 2 {
		t.Fatalf("%d instance processes after update 2; want 2", n)
	}

	if final["service_id"] != sid || final["service_name"] != "mnist" {
		t.Fatalf("logs header = %v", final)
	}
	entries := final["logs"].([]any)
	if len(entries) != 3 {
		t.Fatalf("%d entries; want 3: %v", len(entries), entries)
	}
	var last int64 = 1 << 62
	for i, e := range entries {
		e := e.(map[string]any)
		if e["result"] != "SUCCESS" {
			t.Errorf("entry %d result %v; want SUCCESS", i, e["result"])
		}
		if !isInt(e["update_time"]) {
			t.Fatalf("entry %d update_time %T %v; want an integer", i, e["update_time"], e["update_time"])
		}
		ut, _ := e["update_time"].(json.Number).Int64()
		if ut <= 1.6e12 || ut >= last {
			t.Errorf("entry %d update_time %d: want epoch ms, newest first", i, ut)
		}
		last = ut
		for _, k := range []string{"success_num", "failed_num", "result_detail"} {
			if _, ok := e[k]; ok {
				t.Errorf("entry %d has edge-only field %s", i, k)
			}
		}
		for _, cf := range e["config"].([]any) {
			cf := cf.(map[string]any)
			if _, ok := cf["model_id"].(string); !ok || !isInt(cf["weight"]) || !isInt(cf["instance_count"]) ||
				cf["model_name"] != "mnist" || cf["specification"] != "arkserve.local.small" {
				t.Errorf("entry %d config %v: wrong fields or types", i, cf)
			}
		}
	}
	newest := entries[0].(map[string]any)["config"].([]any)
	if len(newest) != 1 || obj(newest[0], "model_version") != "1.0.1" || obj(newest[0], "instance_count") != json.Number("2") {
		t.Errorf("newest snapshot = %v", newest)
	}
	middle := entries[1].(map[string]any)
	mc := middle["config"].([]any)
	if len(mc) != 2 || obj(mc[0], "weight") != json.Number("70") || obj(mc[1], "weight") != json.Number("30") ||
		!reflect.DeepEqual(obj(mc[0], "envs"), map[string]any{"MODE": "a"}) ||
		obj(mc[1], "additional_properties", mid2, "termination_grace_period_seconds") != json.Number("5") {
		t.Errorf("middle snapshot = %v", mc)
	}

	// ?update_time= selects exactly one; no match gives an empty list; garbage is a 400.
	ut := middle["update_time"].(json.Number).String()
	status, _, doc = c.do("GET", "/v1/"+pid+"/services/"+sid+"/logs?update_time="+ut, nil)
	if got := obj(doc, "logs").([]any); status != 200 || len(got) != 1 || obj(got[0], "update_time") != json.Number(ut) {
		t.Errorf("?update_time=%s: %d %v; want exactly that entry", ut, status, doc)
	}
	status, _, doc = c.do("GET", "/v1/"+pid+"/services/"+sid+"/logs?update_time=1", nil)
	if got, ok := obj(doc, "logs").([]any); status != 200 || !ok || len(got) != 0 {
		t.Errorf("?update_time=1: %d %v; want 200 and logs []", status, doc)
	}
	status, _, doc = c.do("GET", "/v1/"+pid+"/services/"+sid+"/logs?update_time=abc", nil)
	if status != 400 || !strings.HasPrefix(fmt.Sprint(obj(doc, "error_code")), "ModelArts.") {
		t.Errorf("?update_time=abc: %d %v; want 400 with a ModelArts body", status, doc)
	}

	// Restart on the same data dir: the entries are all there, and the old token still works.
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if n := len(instancePIDs(t, sid)); n != 0 {
		t.Errorf("%d instance processes left after shutdown; want 0", n)
	}
	m = MustRunMain(t, dir)
	c.base = "http://" + m.HTTP.ListenAddr()
	status, _, doc = c.do("GET", "/v1/"+pid+"/services/"+sid+"/logs", nil)
	if status != 200 || !reflect.DeepEqual(doc, any(final)) {
		t.Fatalf("after restart: %d %v; want the same logs %v", status, doc, final)
	}
}

func (c *client) events(pid, sid string) any {
	_, _, doc := c.do("GET", "/v1/"+pid+"/services/"+sid+"/events", nil)
	return doc
}

// TestFailingModel: a model whose process exits at once ends its deployment entry FAIL, leaves the
// service failed, and says why in the events.
func TestFailingModel(t *testing.T) {
	t.Setenv("ARKSERVE_ADMIN_PASSWORD", testPassword)
	m := MustRunMain(t, dataDir(t))
	defer m.Close()
	c := newClient(t, m)
	pid := c.login()
	mid := c.createModel(pid, "broken", "1.0.0", "echo broken >&2; exit 3")
	sid := c.deploy(pid, "broken", mid, nil)
	logs := c.waitFinal(pid, sid)
	if r := obj(logs["logs"].([]any)[0], "result"); r != "FAIL" {
		t.Fatalf("result = %v; want FAIL", r)
	}
	_, _, svc := c.do("GET", "/v1/"+pid+"/services/"+sid, nil)
	if obj(svc, "status") != "failed" || obj(svc, "error_msg") == nil {
		t.Errorf("service = %v; want status failed with error_msg", svc)
	}
	ev := fmt.Sprint(c.events(pid, sid))
	if !strings.Contains(ev, "exit") || !strings.Contains(ev, "3") {
		t.Errorf("events do not say the process exited with status 3: %s", ev)
	}
}
