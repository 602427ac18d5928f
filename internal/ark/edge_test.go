package ark

import (
	"testing"
	"time"
)

func TestPlanEdge(t *testing.T) {
	const n1, n2, n3 = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222", "33333333-3333-4333-8333-333333333333"
	names := map[string]string{n1: "one", n2: "two", n3: "three"}
	entry := func(env string, nodes ...string) ServiceConfig {
		return ServiceConfig{ModelID: "m", Specification: "s", InstanceCount: 1, Envs: map[string]string{"E": env}, Nodes: nodes}
	}
	placed := func(env string, nodes ...string) []EdgePlacement {
		var out []EdgePlacement
		for _, n := range nodes {
			c := entry(env)
			c.Nodes = nil
			out = append(out, EdgePlacement{ServiceID: "s", NodeID: n, UpdateTime: 1, Config: c})
		}
		return out
	}
	type op struct{ op, node string }
	for _, tt := range []struct {
		name string
		cur  []EdgePlacement
		cfg  []ServiceConfig
		want []op
	}{
		{"first deployment", nil, []ServiceConfig{entry("a", n1, n2)}, []op{{EdgeDeploy, n1}, {EdgeDeploy, n2}}},
		{"move, same configuration", placed("a", n1, n2), []ServiceConfig{entry("a", n2, n3)}, []op{{EdgeDeploy, n3}, {EdgeDelete, n1}}},
		{"move, new configuration", placed("a", n1, n2), []ServiceConfig{entry("b", n2, n3)}, []op{{EdgeDeploy, n2}, {EdgeDeploy, n3}, {EdgeDelete, n1}}},
		{"weight only", placed("a", n1), []ServiceConfig{func() ServiceConfig { c := entry("a", n1); c.Weight = 100; return c }()}, nil},
		{"nothing changes", placed("a", n1, n2), []ServiceConfig{entry("a", n1, n2)}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			ops := PlanEdge(tt.cur, tt.cfg, names)
			if len(ops) != len(tt.want) {
				t.Fatalf("PlanEdge = %+v; want %v", ops, tt.want)
			}
			for i, o := range ops {
				if o.Operation != tt.want[i].op || o.NodeID != tt.want[i].node || o.State != OpPending || o.NodeName != names[o.NodeID] {
					t.Errorf("op %d = %+v; want %v", i, o, tt.want[i])
				}
				if o.Operation == EdgeDeploy && (o.Config == nil || o.Config.Nodes != nil) {
					t.Errorf("deploy op %d carries config %+v; want the entry without its nodes", i, o.Config)
				}
				if o.Operation == EdgeDelete && o.Previous == nil {
					t.Errorf("delete op %d has no previous placement", i)
				}
			}
		})
	}
}

func TestNodeState(t *testing.T) {
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		beat time.Time
		err  string
		want string
	}{
		{time.Time{}, "", NodeUnconnected},
		{now.Add(-20 * time.Second), "", NodeUnconnected},
		{now.Add(-5 * time.Second), "", NodeRunning},
		{now.Add(-5 * time.Second), "runtime broken", NodeFail},
	} {
		n := &Node{HeartbeatAt: tt.beat, Error: tt.err}
		if got := n.State(now, 15*time.Second); got != tt.want {
			t.Errorf("State(heartbeat %v, error %q) = %s; want %s", tt.beat, tt.err, got, tt.want)
		}
	}
}
