package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/arkserve/arkserve/internal/ark"
	"github.com/arkserve/arkserve/internal/httpapi"
)

// TestAgentAPI plays an agent against the real server: registration, the nodes API, an edge
// deployment on the node, a long poll that a placement change answers at once, heartbeats that
// show in the service details and the monitor, and a revoked credential. Every response is
// validated against the OpenAPI document (the test client does it).
func TestAgentAPI(t *testing.T) {
	hub := &httpapi.NodeHub{}
	e := newAPIEnv(t, func(s *httpapi.Server) { s.Nodes, s.HeartbeatInterval = hub, 2*time.Second })
	ctx := context.Background()
	cred, token, err := e.iam.CreateNodeCredential(ctx, "default", "edge")
	must(t, err)
	bearer := map[string]string{"Authorization": "Bearer " + token}
	node := ark.NewUUID()
	agent := "/v1/" + e.pid + "/nodes/" + node

	status, doc := e.call(t, "PUT", agent+"/registration", "", []byte(`{"name":"edge-1","host_ips":["10.0.0.7"],
		"os_type":"linux","arch":"amd64","cpu":4,"memory":2048}`), bearer)
	if status != 200 || doc["node_id"] != node || doc["heartbeat_interval_seconds"] != 2.0 {
		t.Fatalf("registration: %d %v", status, doc)
	}
	status, doc = e.call(t, "PUT", "/v1/"+strings.Repeat("a", 32)+"/nodes/"+node+"/registration", "", []byte(`{"name":"x"}`), bearer)
	if status != 403 || doc["error_code"] != ark.EProjectMismatch {
		t.Fatalf("registration in another project's URL: %d %v", status, doc)
	}
	status, doc = e.call(t, "PUT", agent+"/registration", "", []byte(`{"name":"1-bad name"}`), bearer)
	if status != 400 || doc["error_code"] != ark.EInvalidParam {
		t.Fatalf("registration with a bad name: %d %v", status, doc)
	}
	status, doc = e.call(t, "GET", "/v1/"+e.pid+"/nodes", e.reader, nil, nil)
	if nodes, _ := doc["nodes"].([]any); status != 200 || len(nodes) != 1 || nodes[0].(map[string]any)["state"] != ark.NodeRunning {
		t.Fatalf("nodes: %d %v", status, doc)
	}

	status, doc = e.call(t, "GET", agent+"/placements", "", nil, bearer)
	version, _ := doc["version"].(string)
	if status != 200 || version == "" || len(doc["placements"].([]any)) != 0 {
		t.Fatalf("placements: %d %v", status, doc)
	}
	// Nothing changes: the long poll holds for ?wait.
	start := time.Now()
	status, doc = e.call(t, "GET", agent+"/placements?wait=1&version="+version, "", nil, bearer)
	if status != 200 || doc["version"] != version || time.Since(start) < 900*time.Millisecond {
		t.Fatalf("unchanged long poll: %d %v after %s", status, doc, time.Since(start))
	}

	// An edge service on the node; the engine's first wave (played here) answers the long poll.
	mid := e.model(t, "1.0.0")
	status, doc = e.call(t, "POST", "/v1/"+e.pid+"/services", e.admin, []byte(fmt.Sprintf(`{"infer_type":"edge","service_name":"edge",
		"config":[{"model_id":%q,"specification":"arkserve.local.small","instance_count":1,"nodes":[%q]}]}`, mid, node)), nil)
	if status != 200 {
		t.Fatalf("deploy: %d %v", status, doc)
	}
	sid := doc["service_id"].(string)
	entry, err := e.db.RunningUpdate(ctx, sid)
	must(t, err)
	type answer struct {
		status int
		doc    map[string]any
		took   time.Duration
		err    error
	}
	polled := make(chan answer, 1)
	go func() { // not e.call: a goroutine must not end the test
		start := time.Now()
		req, _ := http.NewRequest("GET", e.url+agent+"/placements?wait=30&version="+version, nil)
		req.Header.Set("Authorization", "Bearer "+token)
		a := answer{}
		resp, err := e.http.Do(req)
		if err == nil {
			a.status = resp.StatusCode
			err = json.NewDecoder(resp.Body).Decode(&a.doc)
			resp.Body.Close()
		}
		a.took, a.err = time.Since(start), err
		polled <- a
	}()
	// The poll waits before the placements change, so that only the wake can answer it.
	for deadline := time.Now().Add(30 * time.Second); hub.Waiting(node) == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the long poll never waited")
		}
	}
	lease, ok, err := e.db.AcquireLease(ctx, sid, "test", time.Minute)
	if err != nil || !ok {
		t.Fatalf("AcquireLease = %v, %v", ok, err)
	}
	ops := ark.PlanEdge(nil, entry.Config, map[string]string{node: "edge-1"})
	ops[0].State, ops[0].DispatchedAt = ark.OpDispatched, time.Now().UnixMilli()
	placed := ark.EdgePlacement{ServiceID: sid, NodeID: node, UpdateTime: entry.UpdateTime, Config: *ops[0].Config}
	if ok, err := e.db.SaveEdgeOps(ctx, lease, entry.UpdateTime, ops, []ark.EdgePlacement{placed}, nil); err != nil || !ok {
		t.Fatalf("SaveEdgeOps = %v, %v", ok, err)
	}
	hub.Wake(node)
	a := <-polled
	ps, _ := a.doc["placements"].([]any)
	// A poll that nothing woke answers the version it was given when its wait ends: a new version
	// shows that the wake answered it.
	if a.err != nil || a.status != 200 || a.doc["version"] == version || len(ps) != 1 {
		t.Fatalf("woken long poll: %d %v after %s", a.status, a.doc, a.took)
	}
	if p := ps[0].(map[string]any); p["service_id"] != sid || p["update_time"] != float64(entry.UpdateTime) {
		t.Fatalf("placement = %v", p)
	}

	// A heartbeat: the service's details and monitor show the node's instance.
	status, doc = e.call(t, "POST", agent+"/heartbeat", "", []byte(fmt.Sprintf(`{"instances":[{"service_id":%q,
		"update_time":%d,"status":"running","cpu_cores":0.5,"memory_mb":64}]}`, sid, entry.UpdateTime)), bearer)
	if status != 200 {
		t.Fatalf("heartbeat: %d %v", status, doc)
	}
	status, doc = e.call(t, "GET", "/v1/"+e.pid+"/services/"+sid, e.admin, nil, nil)
	n := doc["config"].([]any)[0].(map[string]any)["nodes"].([]any)[0].(map[string]any)
	if status != 200 || n["id"] != node || n["name"] != "edge-1" || n["instance_status"] != ark.InstanceRunning || n["deployment_num"] != 1.0 {
		t.Fatalf("details node: %d %v", status, n)
	}
	status, doc = e.call(t, "GET", "/v1/"+e.pid+"/services/"+sid+"/monitor?node_id="+node, e.admin, nil, nil)
	if ms := doc["monitors"].([]any); status != 200 || len(ms) != 1 || ms[0].(map[string]any)["cpu_memory_usage"] != 64.0 {
		t.Fatalf("monitor: %d %v", status, doc)
	}
	status, doc = e.call(t, "POST", agent+"/heartbeat", "", []byte(`{"instances":[{"service_id":"`+sid+`","update_time":1,"status":"odd"}]}`), bearer)
	if status != 400 || doc["error_code"] != ark.EInvalidParam {
		t.Fatalf("heartbeat with an unknown status: %d %v", status, doc)
	}
	status, doc = e.call(t, "DELETE", "/v1/"+e.pid+"/nodes/"+node, e.admin, nil, nil)
	if status != 400 || doc["error_code"] != ark.EInvalidParam {
		t.Fatalf("delete a node that runs a service: %d %v", status, doc)
	}

	must(t, e.iam.RevokeNodeCredential(ctx, cred.ID))
	status, doc = e.call(t, "POST", agent+"/heartbeat", "", []byte(`{}`), bearer)
	if status != 401 || doc["error_code"] != ark.ETokenInvalid {
		t.Fatalf("heartbeat with a revoked credential: %d %v", status, doc)
	}
}
