package storetest

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/arkserve/arkserve/internal/ark"
)

// testNodeCredentials: create, find, list per project and in all, revoke (the first time kept),
// duplicate ids, unknown ids.
func testNodeCredentials(t *testing.T, f *fixture) {
	c1 := &ark.NodeCredential{ID: "nc00000000000000a1", ProjectID: f.project, Description: "edge", SecretHash: []byte("hash-1\x00\xff"), CreatedAt: f.clock.Now()}
	must(t, f.s.CreateNodeCredential(f.ctx, c1))
	f.clock.Advance(time.Second)
	c2 := &ark.NodeCredential{ID: "nc00000000000000a2", ProjectID: f.other, SecretHash: []byte("hash-2"), CreatedAt: f.clock.Now()}
	must(t, f.s.CreateNodeCredential(f.ctx, c2))
	wantCode(t, f.s.CreateNodeCredential(f.ctx, &ark.NodeCredential{ID: c1.ID, ProjectID: f.project, SecretHash: []byte("x")}), ark.EInvalidParam)

	got, err := f.s.FindNodeCredential(f.ctx, c1.ID)
	must(t, err)
	if got == nil || got.ProjectID != f.project || got.Description != "edge" || !bytes.Equal(got.SecretHash, c1.SecretHash) ||
		!got.CreatedAt.Equal(c1.CreatedAt) || !got.RevokedAt.IsZero() {
		t.Fatalf("FindNodeCredential = %+v; want %+v", got, c1)
	}
	if got, err := f.s.FindNodeCredential(f.ctx, "nc-unknown"); err != nil || got != nil {
		t.Fatalf("FindNodeCredential(unknown) = %v, %v; want nil, nil", got, err)
	}
	mine, err := f.s.ListNodeCredentials(f.ctx, f.project)
	must(t, err)
	all, err := f.s.ListNodeCredentials(f.ctx, "")
	must(t, err)
	if len(mine) != 1 || mine[0].ID != c1.ID || len(all) != 2 || all[0].ID != c1.ID || all[1].ID != c2.ID {
		t.Fatalf("ListNodeCredentials = %d of the project, %d in all; want 1 and 2, oldest first", len(mine), len(all))
	}

	revoked := f.clock.Now().Add(time.Minute)
	ok, err := f.s.RevokeNodeCredential(f.ctx, c1.ID, revoked)
	must(t, err)
	if !ok {
		t.Fatal("RevokeNodeCredential = false; want true")
	}
	ok, err = f.s.RevokeNodeCredential(f.ctx, c1.ID, revoked.Add(time.Hour))
	must(t, err)
	got, _ = f.s.FindNodeCredential(f.ctx, c1.ID)
	if !ok || !got.RevokedAt.Equal(revoked) {
		t.Fatalf("revoked twice: revoked_at %v; want the first time %v", got.RevokedAt, revoked)
	}
	if ok, err := f.s.RevokeNodeCredential(f.ctx, "nc-unknown", revoked); err != nil || ok {
		t.Fatalf("RevokeNodeCredential(unknown) = %v, %v; want false", ok, err)
	}
}

func (f *fixture) node(project, id, name string) *ark.Node {
	f.t.Helper()
	n := &ark.Node{ID: id, ProjectID: project, NodeFacts: ark.NodeFacts{Name: name, HostName: "h-" + name,
		HostIPs: []string{"10.0.0.1", "fe80::1"}, OSName: "Debian GNU/Linux", OSVersion: "12", OSType: "linux", Arch: "amd64",
		CPU: 4, MemoryMB: 8192, GPUNum: 1}}
	must(f.t, f.s.RegisterNode(f.ctx, n))
	return n
}

const (
	node1 = "11111111-1111-4111-8111-111111111111"
	node2 = "22222222-2222-4222-8222-222222222222"
)

// testNodes: registration (again: facts replaced, creation kept; by another project: refused),
// heartbeats with reports, lookups per project, deletion.
func testNodes(t *testing.T, f *fixture) {
	t0 := f.clock.Now()
	n := f.node(f.project, node1, "b-node")
	f.node(f.project, node2, "a-node")
	got, err := f.s.FindNode(f.ctx, f.project, node1)
	must(t, err)
	if !got.CreatedAt.Equal(t0) || !got.UpdatedAt.Equal(t0) || !got.HeartbeatAt.Equal(t0) {
		t.Fatalf("FindNode times: created %v, updated %v, heartbeat %v; want %v", got.CreatedAt, got.UpdatedAt, got.HeartbeatAt, t0)
	}
	want := *n
	want.CreatedAt, want.UpdatedAt, want.HeartbeatAt, want.Instances = got.CreatedAt, got.UpdatedAt, got.HeartbeatAt, []ark.NodeInstance{}
	if !reflect.DeepEqual(*got, want) {
		t.Fatalf("FindNode =\n%+v\nwant\n%+v", *got, want)
	}

	f.clock.Advance(time.Minute)
	again := &ark.Node{ID: node1, ProjectID: f.project, NodeFacts: ark.NodeFacts{Name: "renamed", CPU: 8}}
	must(t, f.s.RegisterNode(f.ctx, again))
	got, _ = f.s.FindNode(f.ctx, f.project, node1)
	if got.Name != "renamed" || got.CPU != 8 || got.HostName != "" || !got.CreatedAt.Equal(t0) || !got.UpdatedAt.Equal(f.clock.Now()) {
		t.Fatalf("registered again: %+v; want the new facts, created_at kept", got)
	}
	wantCode(t, f.s.RegisterNode(f.ctx, &ark.Node{ID: node1, ProjectID: f.other, NodeFacts: ark.NodeFacts{Name: "thief"}}), ark.EForbidden)
	wantCode(t, func() error { _, err := f.s.FindNode(f.ctx, f.other, node1); return err }(), ark.ENodeNotFound)

	f.clock.Advance(time.Second)
	report := []ark.NodeInstance{{ServiceID: "33333333-3333-4333-8333-333333333333", UpdateTime: 17, Status: ark.InstanceRunning,
		CPUCores: 0.25, MemoryMB: 40}}
	must(t, f.s.NodeHeartbeat(f.ctx, f.project, node1, "no runtime", report))
	got, _ = f.s.FindNode(f.ctx, f.project, node1)
	if !got.HeartbeatAt.Equal(f.clock.Now()) || got.Error != "no runtime" || !reflect.DeepEqual(got.Instances, report) {
		t.Fatalf("after a heartbeat: %+v", got)
	}
	if st := got.State(f.clock.Now(), 15*time.Second); st != ark.NodeFail {
		t.Errorf("state with an agent error = %s; want FAIL", st)
	}
	if st := got.State(f.clock.Now().Add(16*time.Second), 15*time.Second); st != ark.NodeUnconnected {
		t.Errorf("state after the heartbeat timeout = %s; want UNCONNECTED", st)
	}
	wantCode(t, f.s.NodeHeartbeat(f.ctx, f.other, node1, "", nil), ark.ENodeNotFound)
	wantCode(t, f.s.NodeHeartbeat(f.ctx, f.project, "44444444-4444-4444-8444-444444444444", "", nil), ark.ENodeNotFound)

	ns, err := f.s.ListNodes(f.ctx, f.project)
	must(t, err)
	if len(ns) != 2 || ns[0].Name != "a-node" || ns[1].Name != "renamed" {
		t.Fatalf("ListNodes = %d nodes; want a-node, renamed", len(ns))
	}
	if ns, _ := f.s.ListNodes(f.ctx, f.other); len(ns) != 0 {
		t.Fatalf("ListNodes of another project = %d nodes", len(ns))
	}
	wantCode(t, f.s.DeleteNode(f.ctx, f.other, node2), ark.ENodeNotFound)
	must(t, f.s.DeleteNode(f.ctx, f.project, node2))
	wantCode(t, f.s.DeleteNode(f.ctx, f.project, node2), ark.ENodeNotFound)
}

// testEdgeRollout: the node operations of an entry and the placements they change are stored
// together; NodePlacements leaves out stopped services; a node with a placement is not deleted;
// a failed edge entry keeps the new configuration; a finished entry's operations are not
// rewritten; purging a service removes its placements.
func testEdgeRollout(t *testing.T, f *fixture) {
	m := f.model(f.project, "m", "1.0.0")
	f.node(f.project, node1, "n1")
	f.node(f.project, node2, "n2")
	c := cfg(m, 0, 1)
	c.Nodes = []string{node1}
	s := &ark.Service{ID: ark.NewUUID(), ProjectID: f.project, Owner: "u", Name: "edge", InferType: ark.InferEdge,
		WorkspaceID: "0", Config: []ark.ServiceConfig{c}}
	entry, err := f.s.CreateService(f.ctx, s)
	must(t, err)
	l, err := f.s.RunningUpdate(f.ctx, s.ID)
	must(t, err)
	if l.Edge != nil {
		t.Fatalf("a new entry has operations %+v; want none until the engine plans them", l.Edge)
	}

	// A write with a lease that is not the service's current one changes nothing.
	stale := f.lease(s.ID)
	stale.Fence--
	if _, err := f.s.SaveEdgeOps(f.ctx, stale, entry.UpdateTime, []ark.EdgeOp{}, nil, nil); !errors.Is(err, ark.ErrLeaseLost) {
		t.Fatalf("SaveEdgeOps with a lost lease: %v; want ErrLeaseLost", err)
	}
	ops := ark.PlanEdge(nil, s.Config, map[string]string{node1: "n1"})
	ops[0].State, ops[0].DispatchedAt = ark.OpDispatched, 5
	p1 := ark.EdgePlacement{ServiceID: s.ID, NodeID: node1, UpdateTime: entry.UpdateTime, Config: *ops[0].Config}
	ok, err := f.s.SaveEdgeOps(f.ctx, f.lease(s.ID), entry.UpdateTime, ops, []ark.EdgePlacement{p1}, nil)
	must(t, err)
	if !ok {
		t.Fatal("SaveEdgeOps = false on a RUNNING entry")
	}
	l, _ = f.s.RunningUpdate(f.ctx, s.ID)
	if !reflect.DeepEqual(l.Edge, ops) {
		t.Fatalf("stored operations =\n%+v\nwant\n%+v", l.Edge, ops)
	}
	placed, err := f.s.EdgePlacements(f.ctx, s.ID)
	must(t, err)
	onNode, err := f.s.NodePlacements(f.ctx, node1)
	must(t, err)
	if !reflect.DeepEqual(placed, []ark.EdgePlacement{p1}) || !reflect.DeepEqual(onNode, []ark.EdgePlacement{p1}) {
		t.Fatalf("placements = %+v, on the node %+v; want %+v", placed, onNode, p1)
	}
	wantCode(t, f.s.DeleteNode(f.ctx, f.project, node1), ark.EInvalidParam)
	if _, err := f.s.FindNode(f.ctx, f.project, node1); err != nil {
		t.Fatalf("a refused DeleteNode removed the node: %v", err)
	}

	ops[0].State = ark.OpSucceeded
	_, err = f.s.SaveEdgeOps(f.ctx, f.lease(s.ID), entry.UpdateTime, ops, nil, nil)
	must(t, err)
	f.finish(s.ID, ark.ResultSuccess)
	if ok, err := f.s.SaveEdgeOps(f.ctx, f.lease(s.ID), entry.UpdateTime, nil, nil, []string{node1}); err != nil || ok {
		t.Fatalf("SaveEdgeOps on a finished entry = %v, %v; want false", ok, err)
	}
	if placed, _ := f.s.EdgePlacements(f.ctx, s.ID); len(placed) != 1 {
		t.Fatal("SaveEdgeOps on a finished entry changed the placements")
	}

	// An update to node 2 with another model that fails there: the entry is FAIL and the
	// configuration stays new.
	f.clock.Advance(time.Second)
	m2 := f.model(f.project, "m", "2.0.0")
	c2 := cfg(m2, 0, 1)
	c2.Nodes = []string{node2}
	_, upd, err := f.s.UpdateService(f.ctx, f.project, s.ID, ark.ServiceUpdate{Config: []ark.ServiceConfig{c2}})
	must(t, err)
	ops = ark.PlanEdge(placed, upd.Config, nil)
	if len(ops) != 2 || ops[0].Operation != ark.EdgeDeploy || ops[0].NodeID != node2 || ops[1].Operation != ark.EdgeDelete || ops[1].NodeID != node1 {
		t.Fatalf("PlanEdge = %+v; want deploy on node 2, delete on node 1", ops)
	}
	ops[0].State, ops[1].State = ark.OpFailed, ark.OpSucceeded
	_, err = f.s.SaveEdgeOps(f.ctx, f.lease(s.ID), upd.UpdateTime, ops, nil, []string{node1})
	must(t, err)
	ok, err = f.s.FinishUpdate(f.ctx, f.lease(s.ID), upd.UpdateTime, ark.ResultFail, ark.StatusChange{Status: ark.StatusFailed, ErrorMsg: "x"})
	must(t, err)
	got, _ := f.s.FindService(f.ctx, f.project, s.ID)
	if !ok || got.Config[0].Nodes[0] != node2 || got.UpdateTime.UnixMilli() != upd.UpdateTime {
		t.Fatalf("after a failed edge update: config %+v; want the new one", got.Config)
	}
	logs := f.logs(s.ID)
	if logs[0].Result != ark.ResultFail || !reflect.DeepEqual(logs[0].Edge, ops) {
		t.Fatalf("failed entry = %+v; want FAIL with its operations", logs[0])
	}
	if success, failed, detail := ark.EdgeResults(logs[0].Edge); success != 1 || failed != 1 || len(detail) != 2 || detail[0].Result {
		t.Fatalf("EdgeResults = %d, %d, %+v", success, failed, detail)
	}
	// Both models stay in use: the new configuration's, and the previous one's, which a node
	// whose operation failed runs again.
	for _, id := range []string{m.ID, m2.ID} {
		res, err := f.s.DeleteModel(f.ctx, f.project, id, false)
		must(t, err)
		if len(res.Deleted) != 0 {
			t.Fatalf("model %s was deleted after a failed edge update; nodes may run it", id)
		}
	}

	// A stopped service's placements are not run; a purged service has none.
	f.clock.Advance(time.Second)
	if ok, err := f.s.SaveEdgeOps(f.ctx, f.lease(s.ID), upd.UpdateTime, nil, nil, nil); err != nil || ok {
		t.Fatalf("SaveEdgeOps on the finished failed entry = %v, %v; want false", ok, err)
	}
	_, _, err = f.s.UpdateService(f.ctx, f.project, s.ID, ark.ServiceUpdate{Config: []ark.ServiceConfig{c}})
	must(t, err)
	l, _ = f.s.RunningUpdate(f.ctx, s.ID)
	_, err = f.s.SaveEdgeOps(f.ctx, f.lease(s.ID), l.UpdateTime, []ark.EdgeOp{}, []ark.EdgePlacement{{ServiceID: s.ID, NodeID: node1, UpdateTime: l.UpdateTime, Config: c}}, nil)
	must(t, err)
	f.finish(s.ID, ark.ResultSuccess)
	_, _, err = f.s.UpdateService(f.ctx, f.project, s.ID, ark.ServiceUpdate{Status: ptr(ark.StatusStopped)})
	must(t, err)
	if onNode, _ := f.s.NodePlacements(f.ctx, node1); len(onNode) != 0 {
		t.Fatalf("NodePlacements of a stopping service = %+v; want none", onNode)
	}
	must(t, f.s.DeleteServices(f.ctx, f.project, s.ID))
	must(t, f.s.PurgeService(f.ctx, f.lease(s.ID)))
	if placed, _ := f.s.EdgePlacements(f.ctx, s.ID); len(placed) != 0 {
		t.Fatalf("placements of a purged service: %+v", placed)
	}
	must(t, f.s.DeleteNode(f.ctx, f.project, node1))
}
