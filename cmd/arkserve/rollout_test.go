package main

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The rollout tests drive a real server with real model processes (python3 -m http.server serving
// a model directory whose version file says which version answered) and send inference traffic
// through the gateway.

// inferer sends inference requests through the gateway with one shared keep-alive client.
type inferer struct {
	base, token string
	http        *http.Client
}

func newInferer(c *client) *inferer {
	return &inferer{base: c.base, token: c.token, http: &http.Client{Timeout: 30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: 64}}}
}

// ask sends GET /v1/infers/{sid}/version and returns the status and the trimmed body.
func (in *inferer) ask(sid string) (int, string, error) {
	req, err := http.NewRequest("GET", in.base+"/v1/infers/"+sid+"/version", nil)
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("X-Auth-Token", in.token)
	resp, err := in.http.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b)), err
}

// startLoggedIn starts a server on a fresh data dir (closed when the test ends) and returns it with
// a client logged in as admin and the project id.
func startLoggedIn(t *testing.T) (*Main, *client, string) {
	t.Helper()
	t.Setenv("ARKSERVE_ADMIN_PASSWORD", testPassword)
	m := MustRunMain(t, dataDir(t))
	t.Cleanup(func() { m.Close() })
	c := newClient(t, m)
	return m, c, c.login()
}

// conf is one config entry with rolling bounds and a 2 s grace period.
func conf(modelID string, weight, n int, surge, unavailable float64) map[string]any {
	return map[string]any{"model_id": modelID, "weight": weight, "instance_count": n,
		"specification": "arkserve.local.small",
		"additional_properties": map[string]any{modelID: map[string]any{
			"max_surge": surge, "max_unavailable": unavailable, "termination_grace_period_seconds": 2}}}
}

func (c *client) update(pid, sid string, cfg ...map[string]any) {
	c.tb.Helper()
	if status, _, doc := c.do("PUT", "/v1/"+pid+"/services/"+sid, map[string]any{"config": cfg}); status != http.StatusOK {
		c.tb.Fatalf("update: %d %v", status, doc)
	}
}

// deployWait deploys a real-time service with the config entries, waits for the first entry to
// end and fails the test unless it is SUCCESS; it returns the service id.
func (c *client) deployWait(pid, name string, cfg ...map[string]any) string {
	c.tb.Helper()
	status, _, doc := c.do("POST", "/v1/"+pid+"/services", map[string]any{"infer_type": "real-time",
		"service_name": name, "config": cfg})
	if status != http.StatusOK {
		c.tb.Fatalf("deploy: %d %v", status, doc)
	}
	sid := obj(doc, "service_id").(string)
	if r := newestResult(c.waitFinal(pid, sid)); r != "SUCCESS" {
		c.tb.Fatalf("deployment ended %v; events: %v", r, c.events(pid, sid))
	}
	return sid
}

func newestResult(doc map[string]any) any {
	logs, _ := doc["logs"].([]any)
	if len(logs) == 0 {
		return nil
	}
	return obj(logs[0], "result")
}

// TestRollingUpdateUnderTraffic: 3 instances rolled from v1 to v2 with surge 1 and unavailable 0
// while four clients send requests through the gateway: no request fails, and the process table
// never shows more than 4 instances.
func TestRollingUpdateUnderTraffic(t *testing.T) {
	m, c, pid := startLoggedIn(t)
	v1 := c.createModel(pid, "echo", "1.0.1", httpServerCmd)
	v2 := c.createModel(pid, "echo", "1.0.2", httpServerCmd)
	sid := c.deployWait(pid, "rolling", conf(v1, 100, 3, 1, 0))
	if n := len(instancePIDs(t, sid)); n != 3 {
		t.Fatalf("%d instance processes; want 3", n)
	}
	// Each instance answers.
	for _, ep := range m.Engine.Endpoints(sid) {
		resp, err := http.Get("http://" + ep.Addr + "/version")
		if err != nil {
			t.Fatalf("instance %s: %v", ep.InstanceID, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if strings.TrimSpace(string(b)) != "1.0.1" {
			t.Errorf("instance %s answers %q", ep.InstanceID, b)
		}
	}

	in := newInferer(c)
	var stop atomic.Bool
	var wg sync.WaitGroup
	var mu sync.Mutex
	var fails []string
	seen := map[string]int{}
	var peak atomic.Int64
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				status, body, err := in.ask(sid)
				mu.Lock()
				if err != nil || status != http.StatusOK {
					fails = append(fails, fmt.Sprintf("%d %q %v", status, body, err))
				} else {
					seen[body]++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			if n := int64(len(instancePIDs(t, sid))); n > peak.Load() {
				peak.Store(n)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	c.update(pid, sid, conf(v2, 100, 3, 1, 0))
	final := newestResult(c.waitFinal(pid, sid))
	time.Sleep(500 * time.Millisecond) // traffic after the rollout too
	stop.Store(true)
	wg.Wait()

	if final != "SUCCESS" {
		t.Fatalf("rolling update ended %v; events: %v", final, c.events(pid, sid))
	}
	if len(fails) > 0 {
		t.Errorf("%d failed requests during the rollout (unavailable 0), e.g. %v", len(fails), fails[:min(3, len(fails))])
	}
	if p := peak.Load(); p > 4 || p < 3 {
		t.Errorf("peak of %d instance processes; want 3 to 4 (3 + surge 1)", p)
	}
	if seen["1.0.1"] == 0 || seen["1.0.2"] == 0 {
		t.Errorf("answers during the rollout %v; want both versions", seen)
	}
	if n := len(instancePIDs(t, sid)); n != 3 {
		t.Errorf("%d instance processes after the rollout; want 3", n)
	}
	for range 20 {
		if _, body, _ := in.ask(sid); body != "1.0.2" {
			t.Fatalf("after the rollout the gateway answers %q; want 1.0.2", body)
		}
	}
}

// TestWeightsAndRollback: 80/20 weights hold over 10,000 requests; a broken version fails, is
// rolled back, and the previous configuration answers throughout.
func TestWeightsAndRollback(t *testing.T) {
	_, c, pid := startLoggedIn(t)
	v1 := c.createModel(pid, "echo", "1.0.1", httpServerCmd)
	v2 := c.createModel(pid, "echo", "1.0.2", httpServerCmd)
	bad := c.createModel(pid, "echo", "1.0.9", "echo broken model >&2; exit 3")
	sid := c.deployWait(pid, "weights", conf(v1, 80, 1, 1, 0), conf(v2, 20, 1, 1, 0))
	_, _, clusters := c.do("GET", "/v1/"+pid+"/clusters", nil)

	in := newInferer(c)
	counts := map[string]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < 10000; i += 8 {
				status, body, err := in.ask(sid)
				if err != nil || status != http.StatusOK {
					body = fmt.Sprintf("error %d %v", status, err)
				}
				mu.Lock()
				counts[body]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	if v1n, v2n := counts["1.0.1"], counts["1.0.2"]; v1n+v2n != 10000 || v1n < 7900 || v1n > 8100 {
		t.Errorf("split over 10,000 requests: %v; want 8000 ± 100 for 1.0.1 and the rest for 1.0.2", counts)
	}
	// The monitor counts the calls per model and shows the running instances.
	_, _, doc := c.do("GET", "/v1/"+pid+"/services/"+sid+"/monitor", nil)
	calls := map[any]string{}
	for _, mon := range obj(doc, "monitors").([]any) {
		calls[obj(mon, "model_id")] = fmt.Sprint(obj(mon, "invocation_times"), "/", obj(mon, "model_running_instance_count"))
	}
	if want := fmt.Sprint(counts["1.0.1"], "/1"); calls[v1] != want {
		t.Errorf("monitor of 1.0.1: calls/running %s; want %s (%v)", calls[v1], want, doc)
	}
	if want := fmt.Sprint(counts["1.0.2"], "/1"); calls[v2] != want {
		t.Errorf("monitor of 1.0.2: calls/running %s; want %s (%v)", calls[v2], want, doc)
	}

	// The broken version replaces 1.0.2 (same model name): it exits at once, the update fails,
	// 1.0.1 and 1.0.2 keep answering.
	c.update(pid, sid, conf(v1, 80, 1, 1, 0), conf(bad, 20, 1, 1, 0))
	if r := newestResult(c.waitFinal(pid, sid)); r != "FAIL" {
		t.Fatalf("broken update ended %v", r)
	}
	got := map[string]bool{}
	for range 20 {
		status, body, err := in.ask(sid)
		if err != nil || status != http.StatusOK {
			t.Fatalf("after the rollback: %d %q %v", status, body, err)
		}
		got[body] = true
	}
	if !got["1.0.1"] || !got["1.0.2"] || len(got) != 2 {
		t.Errorf("after the rollback the gateway answers %v; want 1.0.1 and 1.0.2", got)
	}
	events := fmt.Sprint(c.events(pid, sid))
	for _, want := range []string{"exit status 3", "broken model", "The update has been rolled back."} {
		if !strings.Contains(events, want) {
			t.Errorf("events lack %q: %s", want, events)
		}
	}
	if n := len(instancePIDs(t, sid)); n != 2 {
		t.Errorf("%d instance processes after the rollback; want 2", n)
	}
	_, _, after := c.do("GET", "/v1/"+pid+"/clusters", nil)
	if fmt.Sprint(after) != fmt.Sprint(clusters) {
		t.Errorf("the pool's allocation changed after the rollback (capacity not released):\nbefore %v\nafter  %v", clusters, after)
	}
}

// TestStopStart: PUT status stopped and running end stopped and running with their events, and
// the gateway answers 503 while the service is stopped.
func TestStopStart(t *testing.T) {
	_, c, pid := startLoggedIn(t)
	v1 := c.createModel(pid, "echo", "1.0.1", httpServerCmd)
	sid := c.deploy(pid, "stopstart", v1, nil)
	c.waitFinal(pid, sid)
	if status, _, doc := c.do("PUT", "/v1/"+pid+"/services/"+sid, map[string]any{"status": "stopped"}); status != http.StatusOK {
		t.Fatalf("stop: %d %v", status, doc)
	}
	c.waitStatus(pid, sid, "stopped")
	if n := len(instancePIDs(t, sid)); n != 0 {
		t.Errorf("%d instance processes of a stopped service", n)
	}
	in := newInferer(c)
	if status, body, _ := in.ask(sid); status != http.StatusServiceUnavailable || !strings.Contains(body, "ModelArts.") {
		t.Errorf("inference on a stopped service: %d %s; want 503 with a ModelArts error", status, body)
	}
	if status, _, doc := c.do("PUT", "/v1/"+pid+"/services/"+sid, map[string]any{"status": "running"}); status != http.StatusOK {
		t.Fatalf("start: %d %v", status, doc)
	}
	c.waitStatus(pid, sid, "running")
	if status, body, _ := in.ask(sid); status != http.StatusOK || body != "1.0.1" {
		t.Errorf("inference after the start: %d %q", status, body)
	}
	events := fmt.Sprint(c.events(pid, sid))
	for _, want := range []string{"The service has been stopped.", "Service stopstart started."} {
		if !strings.Contains(events, want) {
			t.Errorf("events lack %q: %s", want, events)
		}
	}
}
