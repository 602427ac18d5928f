package rollout

import (
	"context"
	"fmt"
	"time"

	"github.com/arkserve/arkserve/internal/ark"
)

// Deployer runs each config entry of a service as one workload that rolls itself out within the
// entry's bounds (a Kubernetes Deployment), instead of instances the engine starts, watches and
// replaces one at a time (Runtime). The engine still decides the target, when an update-log entry
// is finished and what is rolled back: a failed update is rolled back by applying the previous
// configuration's workloads again. Changes in the cluster are reported through Engine.Notify, so
// the service's reconcile (and only it) acts on them.
type Deployer interface {
	// Check refuses, with a user-facing message, a model that cannot run on the Deployer.
	Check(m *ark.Model) error
	// Apply makes the service's workloads those of ws: each one updates the workload that ran the
	// same model (else the same model name, else the same position) or creates one. Workloads
	// that match none of ws are deleted when prune is set, and kept (serving) otherwise. It
	// reports each workload's state in the order of ws, and whether others are left.
	Apply(ctx context.Context, svcID string, ws []Workload, prune bool) (sts []WorkloadStatus, others bool, err error)
	// Delete removes every workload of the service and reports how many of its instances the
	// cluster still runs or is terminating. It may be called again until none is left, and then
	// deletes nothing twice; the instances' disappearance is reported through Engine.Notify.
	Delete(ctx context.Context, svcID string) (left int, err error)
}

// Workload is one config entry as a Deployer runs it.
type Workload struct {
	ServiceID    string
	ProjectID    string
	UpdateTime   int64 // the update-log entry it is applied for; 0 for none
	Pos          int   // index of the entry in the configuration
	ModelID      string
	ModelName    string
	ModelVersion string
	Image        string // the model's source_location
	Cmd          string // the model's cmd; "" runs the image's own entrypoint
	Env          map[string]string
	Health       ark.Health
	Resources    ark.Resources
	Replicas     int // instance_count
	// MaxSurge and MaxUnavailable are the entry's rolling bounds, resolved as for processes.
	MaxSurge       int
	MaxUnavailable int
	GracePeriod    time.Duration
	// Deadline is the deploy timeout: how long a rollout may go without progress.
	Deadline          time.Duration
	LogVolumes        []ark.LogVolume
	PersistentVolumes []ark.PersistentVolume
	// DedicatedPool reports whether the entry names a pool (cluster_id or pool_name): host paths
	// are mounted only there.
	DedicatedPool bool
}

// WorkloadStatus is how far a workload got.
type WorkloadStatus struct {
	Ready    int  // ready instances of the workload's current version
	Complete bool // every instance runs the current version and is available; no older one is left
	// Failed says why the rollout cannot progress (its deadline passed); "" while it can.
	Failed string
	// Problems are what the cluster says about instances of the current version that are not
	// ready: image pull errors, unschedulable, failing probes.
	Problems []string
	Backends []ark.Backend // ready endpoints
}

// workloadOf is the workload of target group g of service svcID.
func workloadOf(svcID string, t *target, g *group) Workload {
	c, s := g.cfg, g.spec
	p := c.AdditionalProperties[c.ModelID]
	return Workload{ServiceID: svcID, ProjectID: t.projectID, UpdateTime: t.updateTime, Pos: g.pos,
		ModelID: c.ModelID, ModelName: g.modelName, ModelVersion: c.ModelVersion, Image: s.ModelDir, Cmd: s.Cmd,
		Env: s.Env, Health: s.Health, Resources: s.Resources, Replicas: c.InstanceCount,
		MaxSurge: g.bounds.surge, MaxUnavailable: g.bounds.unavailable, GracePeriod: s.GracePeriod,
		Deadline: g.timeout, LogVolumes: p.LogVolume, PersistentVolumes: p.PersistentVolumes,
		DedicatedPool: c.ClusterID != "" || c.PoolName != ""}
}

// driveWorkloads is drive for a Deployer: one Apply of the whole target, and the route from the
// workloads' ready endpoints. A workload whose rollout failed fails an update or a start (bad);
// for a running service it only keeps the service concerning. What the cluster says about
// instances that are not ready becomes events, each once per target.
func (e *Engine) driveWorkloads(ctx context.Context, svcID string, st *svcState, t *target) (stepResult, error) {
	ws := make([]Workload, len(t.groups))
	for i, g := range t.groups {
		ws[i] = workloadOf(svcID, t, g)
	}
	e.mu.Lock()
	prune := st.pruneNext
	e.mu.Unlock()
	sts, others, err := e.Deployer.Apply(ctx, svcID, ws, prune)
	if err != nil {
		// Nothing is decided on an error of the cluster's API (no status, no event): the next
		// pass (a notification, or the resync) tries again.
		return stepResult{}, fmt.Errorf("apply workloads: %w", err)
	}
	// Workloads of entries that were removed keep running (without traffic: the route has the
	// target's entries only) until the target's are complete; the next pass deletes them.
	complete := allComplete(sts)
	r := stepResult{complete: complete && !others, total: total(t)}
	route := ark.Route{ProjectID: t.projectID, Policy: t.policy}
	e.mu.Lock()
	if st.reportedFor != t { // a new target (reported is nil only while reportedFor is)
		st.reported, st.reportedFor = map[string]bool{}, t
	}
	for i, g := range t.groups {
		s := sts[i]
		route.Entries = append(route.Entries, ark.RouteEntry{ModelID: g.cfg.ModelID, ModelName: g.cfg.ModelName,
			ModelVersion: g.cfg.ModelVersion, Weight: g.cfg.Weight, Backends: s.Backends})
		r.ready += min(s.Ready, g.cfg.InstanceCount)
		for _, p := range s.Problems {
			if p = fmt.Sprintf("Model %s: %s", g.label, redact(p, g.spec.Env)); !st.reported[p] {
				st.reported[p] = true
				r.events = append(r.events, abnormal(p))
			}
		}
		if s.Failed != "" && r.bad == nil && t.kind != kindKeep {
			r.bad = &failure{what: redact(fmt.Sprintf("Model %s: %s", g.label, s.Failed), g.spec.Env)}
		}
	}
	st.pruneNext = others && complete
	st.route = route
	pruneNext := st.pruneNext
	e.mu.Unlock()
	if e.Router != nil {
		e.Router.Publish(svcID, route)
	}
	if pruneNext {
		e.Notify(svcID)
	}
	return r, nil
}

func allComplete(sts []WorkloadStatus) bool {
	for _, s := range sts {
		if !s.Complete {
			return false
		}
	}
	return true
}

func total(t *target) int {
	n := 0
	for _, g := range t.groups {
		n += g.cfg.InstanceCount
	}
	return n
}
