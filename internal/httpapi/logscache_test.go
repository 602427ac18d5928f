package httpapi_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/arkserve/arkserve/internal/ark"
)

// TestLogsCache: answers of the update-logs call are cached, but every write to the store shows
// at once (an entry finished, a new entry, the service deleted), per project and update_time.
func TestLogsCache(t *testing.T) {
	e := newAPIEnv(t)
	ctx := context.Background()
	m := e.model(t, "1.0.0")
	status, doc := e.call(t, "POST", "/v1/"+e.pid+"/services", e.admin, []byte(`{"infer_type":"real-time","service_name":"c",
		"config":[{"model_id":"`+m+`","weight":100,"specification":"arkserve.local.small","instance_count":1}]}`), nil)
	if status != 200 {
		t.Fatalf("deploy: %d %v", status, doc)
	}
	sid := doc["service_id"].(string)
	logs := "/v1/" + e.pid + "/services/" + sid + "/logs"
	results := func(path string) []string {
		t.Helper()
		status, doc := e.call(t, "GET", path, e.admin, nil, nil)
		if status != 200 {
			t.Fatalf("GET %s: %d %v", path, status, doc)
		}
		var out []string
		for _, l := range doc["logs"].([]any) {
			out = append(out, l.(map[string]any)["result"].(string))
		}
		return out
	}
	check := func(path, want string) {
		t.Helper()
		for range 2 { // the second answer may come from the cache
			if got := fmt.Sprint(results(path)); got != want {
				t.Fatalf("GET %s: results %s; want %s", path, got, want)
			}
		}
	}
	check(logs, "[RUNNING]")
	_, entries, err := e.db.UpdateLogs(ctx, e.pid, sid, nil)
	must(t, err)
	ut := entries[0].UpdateTime
	one := fmt.Sprintf("%s?update_time=%d", logs, ut)
	check(one, "[RUNNING]")
	check(logs+"?update_time=1", "[]")
	if status, doc := e.call(t, "GET", logs, e.other, nil, nil); status != 403 {
		t.Fatalf("GET the logs with a token of another project: %d %v; want 403", status, doc)
	}

	lease, _, err := e.db.AcquireLease(ctx, sid, "test", time.Minute)
	must(t, err)
	_, err = e.db.FinishUpdate(ctx, lease, ut, ark.ResultSuccess, ark.StatusChange{Status: ark.StatusRunning, Progress: 100})
	must(t, err)
	check(logs, "[SUCCESS]")
	check(one, "[SUCCESS]")

	status, doc = e.call(t, "PUT", "/v1/"+e.pid+"/services/"+sid, e.admin, []byte(`{"config":[{"model_id":"`+m+
		`","weight":100,"specification":"arkserve.local.small","instance_count":2}]}`), nil)
	if status != 200 {
		t.Fatalf("update: %d %v", status, doc)
	}
	check(logs, "[RUNNING SUCCESS]")

	must(t, e.db.DeleteServices(ctx, e.pid, sid))
	if status, doc := e.call(t, "GET", logs, e.admin, nil, nil); status != 404 {
		t.Fatalf("GET the logs of a deleted service: %d %v; want 404", status, doc)
	}
}
