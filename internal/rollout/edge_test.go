package rollout

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/arkserve/arkserve/internal/ark"
)

// The edge tests play the agents through the store (registration and heartbeats), so that what
// the engine does with the nodes' reports is seen step by step; cmd/arkserve/edge_test.go runs
// real agents.

// waker records the nodes the engine woke.
type waker struct {
	mu    sync.Mutex
	woken []string
}

func (w *waker) Wake(id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.woken = append(w.woken, id)
}

func (w *waker) has(id string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Contains(w.woken, id)
}

// edgeNodes registers n nodes in the store's project and returns their ids.
func edgeNodes(t *testing.T, store *testStore, n int) []string {
	t.Helper()
	var ids []string
	for i := range n {
		id := ark.NewUUID()
		store.must(store.RegisterNode(context.Background(), &ark.Node{ID: id, ProjectID: store.pid, NodeFacts: ark.NodeFacts{Name: fmt.Sprintf("node-%d", i+1)}}))
		ids = append(ids, id)
	}
	return ids
}

// report plays a node's agent: a heartbeat that says the service's instance of entry ut runs.
func report(t *testing.T, store *testStore, node, svc string, ut int64) {
	t.Helper()
	store.must(store.NodeHeartbeat(context.Background(), store.pid, node, "",
		[]ark.NodeInstance{{ServiceID: svc, UpdateTime: ut, Status: ark.InstanceRunning}}))
}

func edgeDeploy(store *testStore, model string, nodes ...string) string {
	c := conf(model, 0, 1)
	c.Nodes = nodes
	svc := &ark.Service{ID: ark.NewUUID(), ProjectID: store.pid, Name: "edge", InferType: ark.InferEdge, Config: []ark.ServiceConfig{c}}
	_, err := store.CreateService(context.Background(), svc)
	store.must(err)
	return svc.ID
}

// ops returns the operations of the service's RUNNING entry by state.
func ops(t *testing.T, store *testStore, id string) map[string][]string {
	t.Helper()
	l, err := store.RunningUpdate(context.Background(), id)
	store.must(err)
	out := map[string][]string{}
	if l != nil {
		for _, o := range l.Edge {
			out[o.State] = append(out[o.State], o.NodeID)
		}
	}
	return out
}

// TestEdgeWavesResumeAfterRestart: with parallel_nodes 1 the operations go one node at a time, each
// when the previous node reported; an engine stopped in the middle (a server restart) leaves the
// entry RUNNING with its operations stored, and a new engine finishes it.
func TestEdgeWavesResumeAfterRestart(t *testing.T) {
	store := newTestStore(t)
	model := addModel(t, store, "1.0.1")
	nodes := edgeNodes(t, store, 3)
	id := edgeDeploy(store, model, nodes...)
	ut := firstEntry(t, store.get(id))
	w := &waker{}
	edge := func(e *Engine) {
		e.EdgeParallel, e.NodeHeartbeatTimeout, e.EdgeUnconnectedTimeout, e.Nodes = 1, time.Hour, time.Hour, w
	}
	h := run(t, store, filepath.Join(t.TempDir(), "instances"), edge)
	h.waitFor(t, id, "node 1 dispatched", func(snapshot) bool { return len(ops(t, store, id)[ark.OpDispatched]) == 1 })
	if got := ops(t, store, id); !slices.Equal(got[ark.OpDispatched], nodes[:1]) || len(got[ark.OpPending]) != 2 || !w.has(nodes[0]) {
		t.Fatalf("first wave = %v (woken %v); want node 1 only, woken", got, w.woken)
	}
	report(t, store, nodes[0], id, ut)
	h.waitFor(t, id, "node 2 dispatched", func(snapshot) bool { return slices.Equal(ops(t, store, id)[ark.OpDispatched], nodes[1:2]) })
	h.stop() // the server stops in the middle of the update

	if got := ops(t, store, id); !slices.Equal(got[ark.OpSucceeded], nodes[:1]) || !slices.Equal(got[ark.OpPending], nodes[2:]) {
		t.Fatalf("stored operations after the stop = %v", got)
	}
	report(t, store, nodes[1], id, ut)
	h = run(t, store, filepath.Join(t.TempDir(), "instances"), edge)
	h.waitFor(t, id, "node 3 dispatched", func(snapshot) bool { return slices.Equal(ops(t, store, id)[ark.OpDispatched], nodes[2:]) })
	report(t, store, nodes[2], id, ut)
	s := h.waitResult(t, id, ut, ark.ResultSuccess, ark.StatusRunning)
	if success, failed, detail := ark.EdgeResults(s.logs[0].Edge); success != 3 || failed != 0 || len(detail) != 3 {
		t.Fatalf("results = %d, %d, %+v; want 3 deploys that succeeded", success, failed, detail)
	}
	placed, err := store.EdgePlacements(context.Background(), id)
	store.must(err)
	if len(placed) != 3 {
		t.Fatalf("placements = %+v; want one per node", placed)
	}
}

// TestEdgeUnconnectedNodeFails: a node that sends no heartbeat fails its operation once it has
// waited the unconnected timeout, without holding up the other node; the entry is FAIL, the node
// that succeeded keeps the new version, the lost node gets its previous placement (none) back.
func TestEdgeUnconnectedNodeFails(t *testing.T) {
	store := newTestStore(t)
	model := addModel(t, store, "1.0.1")
	nodes := edgeNodes(t, store, 2)
	id := edgeDeploy(store, model, nodes...)
	ut := firstEntry(t, store.get(id))
	h := run(t, store, filepath.Join(t.TempDir(), "instances"), func(e *Engine) {
		e.NodeHeartbeatTimeout, e.EdgeUnconnectedTimeout = 300*time.Millisecond, 500*time.Millisecond
	})
	h.waitFor(t, id, "both dispatched", func(snapshot) bool { return len(ops(t, store, id)[ark.OpDispatched]) == 2 })
	report(t, store, nodes[0], id, ut)
	s := h.waitResult(t, id, ut, ark.ResultFail, ark.StatusConcerning)
	_, _, detail := ark.EdgeResults(s.logs[0].Edge)
	want := []ark.UpdateResult{{Result: true, NodeName: "node-1", Operation: ark.EdgeDeploy, NodeID: nodes[0]},
		{Result: false, NodeName: "node-2", Operation: ark.EdgeDeploy, NodeID: nodes[1]}}
	if !slices.Equal(detail, want) {
		t.Fatalf("result_detail = %+v; want %+v", detail, want)
	}
	if !s.hasEvent(ark.EventAbnormal, "UNCONNECTED") || !s.hasEvent(ark.EventAbnormal, "keep the new version") {
		t.Fatalf("events:\n%s", s.eventText())
	}
	placed, err := store.EdgePlacements(context.Background(), id)
	store.must(err)
	if len(placed) != 1 || placed[0].NodeID != nodes[0] {
		t.Fatalf("placements = %+v; want node 1's only", placed)
	}
}
