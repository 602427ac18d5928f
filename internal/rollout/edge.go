package rollout

import (
	"context"
	"fmt"
	"time"

	"github.com/arkserve/arkserve/internal/ark"
)

// Edge services run on edge nodes, not here: the engine drives their update-log entries through
// the nodes' placements, which the agents carry out (docs/edge.md).
//
// A RUNNING entry of an edge service gets its node operations planned once (ark.PlanEdge: the
// placements the nodes have against the entry's configuration) and stored on the entry. Each pass
// then judges the dispatched operations from what the agents last reported, dispatches pending
// ones while fewer than EdgeParallel are in flight (a wave), and stores both with the placements
// they change in one transaction. An operation whose node is UNCONNECTED fails once it has been
// dispatched for EdgeUnconnectedTimeout; one that the agent does not finish within the entry's
// deploy timeout fails too; a failed operation gives the node its previous placement back. Once
// every operation is done the entry ends SUCCESS (all succeeded) or FAIL. Everything the passes
// need is in the store, so a server that restarts mid-update resumes it.

// Defaults of the edge fields of Engine.
const (
	DefaultEdgeParallel           = 4
	DefaultNodeHeartbeatTimeout   = 15 * time.Second
	DefaultEdgeUnconnectedTimeout = 60 * time.Second
)

// NodeWaker is told when a node's placements changed, so that its agent's long poll answers at
// once. It wakes the agents connected to this server; on PostgreSQL the store's writes notify the
// other servers themselves.
type NodeWaker interface {
	Wake(nodeID string)
}

// Event texts of edge updates.
const (
	eventEdgeNodeFailed = "Node %s (%s): %s failed: %s"
	eventEdgeFailed     = "Failed to update the service on %d of %d nodes. The nodes that succeeded keep the new version; the others keep what they ran before."
)

func (e *Engine) edgeParallel() int {
	if e.EdgeParallel > 0 {
		return e.EdgeParallel
	}
	return DefaultEdgeParallel
}

// HeartbeatTimeout is how long a node stays RUNNING after its last heartbeat.
func (e *Engine) HeartbeatTimeout() time.Duration {
	if e.NodeHeartbeatTimeout > 0 {
		return e.NodeHeartbeatTimeout
	}
	return DefaultNodeHeartbeatTimeout
}

func (e *Engine) unconnectedTimeout() time.Duration {
	if e.EdgeUnconnectedTimeout > 0 {
		return e.EdgeUnconnectedTimeout
	}
	return DefaultEdgeUnconnectedTimeout
}

// wakeEdge wakes the nodes that run something for an edge service (its placements changed
// meaning: the service was stopped, started or deleted).
func (e *Engine) wakeEdge(ctx context.Context, svcID string) error {
	if e.Nodes == nil {
		return nil
	}
	ps, err := e.Store.EdgePlacements(ctx, svcID)
	for _, p := range ps {
		e.Nodes.Wake(p.NodeID)
	}
	return err
}

// reconcileEdge takes an edge service one pass toward its desired state.
func (e *Engine) reconcileEdge(ctx context.Context, svc *ark.Service, entry *ark.UpdateLog) error {
	if entry == nil {
		if svc.Status != ark.StatusDeploying {
			return nil
		}
		// A start: the nodes get their placements back (NodePlacements leaves out stopped
		// services); what each runs shows in the service's nodes.
		if err := e.wakeEdge(ctx, svc.ID); err != nil {
			return err
		}
		return e.Store.SetStatus(ctx, e.held(svc.ID), ark.StatusChange{Status: ark.StatusRunning, Progress: 100},
			normal(fmt.Sprintf(ark.EventStarted, svc.Name)))
	}
	nodes, err := e.Store.ListNodes(ctx, svc.ProjectID)
	if err != nil {
		return err
	}
	byID := map[string]*ark.Node{}
	names := map[string]string{}
	for _, n := range nodes {
		byID[n.ID], names[n.ID] = n, n.Name
	}
	ops, changed := entry.Edge, false
	if ops == nil {
		cur, err := e.Store.EdgePlacements(ctx, svc.ID)
		if err != nil {
			return err
		}
		ops, changed = ark.PlanEdge(cur, entry.Config, names), true
	}
	now := e.now()
	var set []ark.EdgePlacement
	var unset []string
	place := func(p *ark.EdgePlacement, node string) {
		if p != nil {
			set = append(set, *p)
		} else {
			unset = append(unset, node)
		}
	}
	inflight := 0
	for i := range ops {
		o := &ops[i]
		if o.State != ark.OpDispatched {
			continue
		}
		state, msg := e.judgeOp(o, byID[o.NodeID], svc.ID, entry.UpdateTime, now)
		switch state {
		case ark.OpDispatched:
			inflight++
		case ark.OpFailed:
			o.State, o.Message, changed = state, msg, true
			place(o.Previous, o.NodeID) // the node goes back to what it ran
		default:
			o.State, changed = state, true
		}
	}
	for i := range ops {
		o := &ops[i]
		if o.State != ark.OpPending || inflight >= e.edgeParallel() {
			continue
		}
		o.State, o.DispatchedAt, changed = ark.OpDispatched, now.UnixMilli(), true
		inflight++
		if o.Operation == ark.EdgeDeploy {
			place(&ark.EdgePlacement{ServiceID: svc.ID, NodeID: o.NodeID, UpdateTime: entry.UpdateTime, Config: *o.Config}, o.NodeID)
		} else {
			place(nil, o.NodeID)
		}
	}
	if changed {
		ok, err := e.Store.SaveEdgeOps(ctx, e.held(svc.ID), entry.UpdateTime, ops, set, unset)
		if err != nil {
			return err
		}
		if !ok { // finished meanwhile (a schedule stopped the service): look again
			e.Notify(svc.ID)
			return nil
		}
		if e.Nodes != nil {
			for _, p := range set {
				e.Nodes.Wake(p.NodeID)
			}
			for _, id := range unset {
				e.Nodes.Wake(id)
			}
		}
	}
	success, failed, _ := ark.EdgeResults(ops)
	if done := success + failed; done < len(ops) {
		pc := min(99, done*100/len(ops))
		if !changed && pc == svc.Progress {
			return nil
		}
		return e.Store.SetStatus(ctx, e.held(svc.ID), ark.StatusChange{Status: ark.StatusDeploying, Progress: pc})
	}
	return e.finishEdge(ctx, svc, entry, ops, success, failed)
}

// judgeOp says what became of a dispatched operation: still dispatched, succeeded, or failed (with
// why), from its node's last report at now.
func (e *Engine) judgeOp(o *ark.EdgeOp, n *ark.Node, svcID string, updateTime int64, now time.Time) (string, string) {
	if n == nil {
		return ark.OpFailed, "the node does not exist"
	}
	rep := n.Instance(svcID)
	switch {
	case o.Operation == ark.EdgeDeploy && rep != nil && rep.UpdateTime == updateTime && rep.Status == ark.InstanceRunning:
		return ark.OpSucceeded, ""
	case o.Operation == ark.EdgeDeploy && rep != nil && rep.UpdateTime == updateTime && rep.Status == ark.InstanceFailed:
		return ark.OpFailed, rep.Message
	case o.Operation == ark.EdgeDelete && rep == nil && n.HeartbeatAt.UnixMilli() >= o.DispatchedAt:
		return ark.OpSucceeded, "" // a report since the dispatch without the service
	}
	elapsed := now.Sub(time.UnixMilli(o.DispatchedAt))
	if n.State(now, e.HeartbeatTimeout()) == ark.NodeUnconnected && elapsed >= e.unconnectedTimeout() {
		return ark.OpFailed, fmt.Sprintf("the node is %s (last heartbeat %s)", ark.NodeUnconnected, heartbeat(n))
	}
	if limit := e.opTimeout(o); elapsed >= limit {
		return ark.OpFailed, fmt.Sprintf("not done within %s", limit)
	}
	return ark.OpDispatched, ""
}

func heartbeat(n *ark.Node) string {
	if n.HeartbeatAt.IsZero() {
		return "never"
	}
	return n.HeartbeatAt.UTC().Format(time.RFC3339)
}

// opTimeout bounds a dispatched operation on a connected node: the entry's deploy timeout (the
// default one for a delete), plus the heartbeat timeout for the report to arrive.
func (e *Engine) opTimeout(o *ark.EdgeOp) time.Duration {
	d := e.deployTimeout()
	if o.Config != nil && o.Config.DeployTimeoutSeconds > 0 {
		d = time.Duration(o.Config.DeployTimeoutSeconds) * time.Second
	}
	return d + e.HeartbeatTimeout()
}

// finishEdge ends an entry whose operations are all done: SUCCESS when every one succeeded, FAIL
// otherwise. A failed edge update is not rolled back: the nodes that succeeded keep the new
// version, the failed ones got their previous placement back. The service is running after a
// success; after a failure it is concerning while some node runs it, failed when none does.
func (e *Engine) finishEdge(ctx context.Context, svc *ark.Service, entry *ark.UpdateLog, ops []ark.EdgeOp, success, failed int) error {
	if failed == 0 {
		info := eventUpdated
		if len(entry.Previous) == 0 {
			info = fmt.Sprintf(ark.EventStarted, svc.Name)
		}
		_, err := e.Store.FinishUpdate(ctx, e.held(svc.ID), entry.UpdateTime, ark.ResultSuccess,
			ark.StatusChange{Status: ark.StatusRunning, Progress: 100}, normal(info))
		return err
	}
	var events []ark.Event
	for _, o := range ops {
		if o.State == ark.OpFailed {
			events = append(events, abnormal(fmt.Sprintf(eventEdgeNodeFailed, o.NodeName, o.NodeID, o.Operation, o.Message)))
		}
	}
	what := fmt.Sprintf(eventEdgeFailed, failed, success+failed)
	events = append(events, abnormal(what))
	placed, err := e.Store.EdgePlacements(ctx, svc.ID)
	if err != nil {
		return err
	}
	change := ark.StatusChange{Status: ark.StatusConcerning, Progress: 100}
	if len(placed) == 0 {
		change = ark.StatusChange{Status: ark.StatusFailed, ErrorMsg: what}
	}
	e.log().Warn("edge update failed", "service", svc.ID, "update_time", entry.UpdateTime, "failed", failed, "succeeded", success)
	_, err = e.Store.FinishUpdate(ctx, e.held(svc.ID), entry.UpdateTime, ark.ResultFail, change, events...)
	return err
}

// EdgeInstance resolves what an agent runs for a placement's configuration: the model's directory
// and command, the envs, the readiness check, the grace period, the deploy timeout and the
// resources of the specification. A configuration that cannot be run (its model is gone or has
// no command) gives an instance with Error set; err is a problem of the store.
func (e *Engine) EdgeInstance(ctx context.Context, c ark.ServiceConfig) (ark.EdgeInstance, error) {
	out := ark.EdgeInstance{ModelID: c.ModelID}
	m, err := e.Store.FindModelByID(ctx, c.ModelID)
	if ark.ErrorCode(err) == ark.EModelNotFound {
		out.Error = fmt.Sprintf("model %s (%s) does not exist", modelLabel(c, nil), c.ModelID)
		return out, nil
	}
	if err != nil {
		return out, err
	}
	g, err := planGroup(c, m, e.LaunchCommands, true, e.deployTimeout()) // agents run processes
	if err != nil {
		out.Error = err.Error()
		return out, nil
	}
	out.ModelDir, out.Cmd, out.Envs, out.Health = g.spec.ModelDir, g.spec.Cmd, g.spec.Env, g.spec.Health
	out.GracePeriodSeconds, out.DeployTimeoutSeconds = int(g.spec.GracePeriod/time.Second), int(g.timeout/time.Second)
	if e.Specs != nil {
		r, err := ark.InstanceResources(c, e.Specs)
		if err != nil {
			out.Error = fmt.Sprintf("model %s: %v", g.label, err)
			return out, nil
		}
		out.CPU, out.MemoryMB = r.CPU, r.MemoryMB
	}
	return out, nil
}
