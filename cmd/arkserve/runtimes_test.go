package main

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/arkserve/arkserve/internal/rollout"
)

// The rollout suite runs against both runtimes where they behave the same: update logs, the
// service's status and events, and the routing table the gateway gets. On processes the models
// are python3 -m http.server; on Kubernetes (kubernetes_test.go) they are images run by KWOK.

// runtimeEnv is one runtime under the suite.
type runtimeEnv struct {
	name  string
	start func(t *testing.T) (*Main, *client, string)
	// model registers a model version whose instances become ready; broken one whose instances
	// never do, and what its events say about why.
	model     func(c *client, pid, name, version string) string
	broken    func(c *client, pid string) string
	brokenWhy string
	// instances counts the service's instances that still exist in any state (processes; pods,
	// terminating ones included).
	instances func(t *testing.T, sid string) int
}

func processEnv() runtimeEnv {
	return runtimeEnv{name: "process", start: startLoggedIn,
		model: func(c *client, pid, name, version string) string {
			return c.createModel(pid, name, version, httpServerCmd)
		},
		broken: func(c *client, pid string) string {
			return c.createModel(pid, "broken", "1.0.0", "echo broken >&2; exit 3")
		},
		brokenWhy: "exited",
		instances: func(_ *testing.T, sid string) int { return len(processesWith("ARKSERVE_SERVICE_ID=" + sid)) }}
}

func TestRolloutSuiteProcess(t *testing.T) { rolloutSuite(t, processEnv()) }

// routeWant is one entry of a routing table: its model, weight and number of ready backends.
type routeWant struct {
	model    string
	weight   int
	backends int
}

// waitRoute waits until the routing table the engine published for the service is want.
func waitRoute(t *testing.T, m *Main, sid string, want ...routeWant) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		got := routeOf(m.Engine.Endpoints(sid))
		if slices.Equal(got, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("route of %s = %v; want %v", sid, got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func routeOf(eps []rollout.Endpoint) []routeWant {
	var out []routeWant
	for _, ep := range eps {
		if i := len(out) - 1; i >= 0 && out[i].model == ep.ModelID {
			out[i].backends++
			continue
		}
		out = append(out, routeWant{model: ep.ModelID, weight: ep.Weight, backends: 1})
	}
	return out
}

// waitStatus waits until the service has the status.
func (c *client) waitStatus(pid, sid, want string) {
	c.tb.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		_, _, doc := c.do("GET", "/v1/"+pid+"/services/"+sid, nil)
		if obj(doc, "status") == want {
			return
		}
		if time.Now().After(deadline) {
			c.tb.Fatalf("service status %v after 90s; want %s", obj(doc, "status"), want)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// updateWait applies a configuration and waits for its entry to end with result want.
func (c *client) updateWait(pid, sid, want string, cfg ...map[string]any) {
	c.tb.Helper()
	c.update(pid, sid, cfg...)
	if r := newestResult(c.waitFinal(pid, sid)); r != want {
		c.tb.Fatalf("update ended %v; want %s; events: %v", r, want, c.events(pid, sid))
	}
}

// rolloutSuite: deploy, a new version, weights across two entries, a scale-down that removes an
// entry, stop and start, and a version that never becomes ready, rolled back.
func rolloutSuite(t *testing.T, env runtimeEnv) {
	m, c, pid := env.start(t)
	v1 := env.model(c, pid, "echo", "1.0.1")
	v2 := env.model(c, pid, "echo", "1.0.2")

	sid := c.deployWait(pid, "suite", conf(v1, 100, 2, 1, 0))
	waitRoute(t, m, sid, routeWant{v1, 100, 2})

	c.updateWait(pid, sid, "SUCCESS", conf(v2, 100, 3, 1, 0))
	waitRoute(t, m, sid, routeWant{v2, 100, 3})

	c.updateWait(pid, sid, "SUCCESS", conf(v2, 70, 3, 1, 0), conf(v1, 30, 1, 1, 0))
	waitRoute(t, m, sid, routeWant{v2, 70, 3}, routeWant{v1, 30, 1})

	c.updateWait(pid, sid, "SUCCESS", conf(v2, 100, 2, 1, 0))
	waitRoute(t, m, sid, routeWant{v2, 100, 2})

	for _, s := range []struct{ status, final string }{{"stopped", "stopped"}, {"running", "running"}} {
		if st, _, doc := c.do("PUT", "/v1/"+pid+"/services/"+sid, map[string]any{"status": s.status}); st != http.StatusOK {
			t.Fatalf("status %s: %d %v", s.status, st, doc)
		}
		c.waitStatus(pid, sid, s.final)
		// Stopped means that no instance is left, in any state.
		if n := env.instances(t, sid); s.final == "stopped" && n != 0 {
			t.Fatalf("%d instances of the service left once it is stopped", n)
		}
	}
	waitRoute(t, m, sid, routeWant{v2, 100, 2})

	bad := env.broken(c, pid)
	cfg := conf(bad, 100, 2, 1, 0)
	cfg["deploy_timeout_in_seconds"] = 5
	c.updateWait(pid, sid, "FAIL", cfg)
	c.waitStatus(pid, sid, "running")
	waitRoute(t, m, sid, routeWant{v2, 100, 2})
	ev := fmt.Sprint(c.events(pid, sid))
	for _, want := range []string{env.brokenWhy, "rolled back"} {
		if !strings.Contains(ev, want) {
			t.Errorf("events do not say %q: %s", want, ev)
		}
	}
	logs := c.waitFinal(pid, sid)["logs"].([]any)
	var results []string
	for _, l := range logs {
		results = append(results, fmt.Sprint(obj(l, "result")))
	}
	if got := strings.Join(results, " "); got != "FAIL SUCCESS SUCCESS SUCCESS SUCCESS" {
		t.Errorf("update-log results, newest first: %s", got)
	}
}
