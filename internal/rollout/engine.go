// Package rollout is arkserve's update engine: a level-triggered reconcile loop that makes the
// instances of every service match the desired state in the store, and finishes update-log entries.
//
// The HTTP layer writes desired state (configuration, status and a RUNNING update-log entry, in one
// transaction) and calls Engine.Notify; a periodic resync (Store.ServicesToReconcile) catches
// anything a notification missed and, after a server restart, brings back the instances of
// services that were running. For each service the engine reads the service, its RUNNING entry and
// the instances it holds for it, works out the target (the entry's configuration while an update
// runs, the service's configuration otherwise) and takes one rolling step toward it (rolling.go):
//
//   - an instance belongs to a group: one config entry's model and every setting that reaches the
//     instance; the weight and the instance count do not, so a weight change restarts nothing and
//     a count change only adds or removes instances;
//   - an instance whose group is not in the target is old: it is replaced by the target group of
//     the same model, else of the same model name (a new version), else of the same position, within
//     max_surge and max_unavailable; old instances that nothing replaces are stopped once every
//     target group is complete;
//   - before an instance is stopped it leaves the routing table and the gateway drains the
//     requests in flight to it; then SIGTERM, SIGKILL after the grace period.
//
// Outcomes: an update whose new instances are all ready finishes SUCCESS. One of its new instances
// that fails to start, exits or is not ready within deploy_timeout_in_seconds fails it: the failed
// and not-yet-ready new instances are stopped, the entry ends FAIL (the store restores the previous
// configuration) and the next steps roll the rest back within the same bounds. A start (status
// deploying without an entry) ends running or failed. A running service's crashed instance is
// restarted after a backoff; the status is concerning while an instance is not ready. A stop or a
// delete stops every instance; a schedule's due time stops the service.
//
// Edge services run on edge nodes instead (edge.go): their entries turn into per-node operations
// that the agents carry out, in waves, from state kept in the store.
package rollout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/arkserve/arkserve/internal/ark"
)

// Router is the inference gateway as the engine sees it: the engine publishes where each service's
// traffic may go, and drains an instance before it stops it.
type Router interface {
	// Publish replaces the service's routing table; once it returns, no new request goes to an
	// instance that is not in it.
	Publish(serviceID string, r ark.Route)
	Remove(serviceID string)
	// Drain waits until no request is in flight to the instance, or ctx ends.
	Drain(ctx context.Context, instanceID string)
}

// Capacity accounts the resource pool's use (ark.Ledger).
type Capacity interface {
	Reserve(id string, r ark.Resources) error
	Release(id string)
}

// Engine drives instances toward the desired state in Store. Set its fields, then call Run.
type Engine struct {
	Store   Store
	Runtime Runtime
	// Deployer, when set instead of Runtime, runs each config entry as a workload that rolls
	// itself out (Kubernetes); its cluster reports changes through Notify.
	Deployer Deployer
	Router   Router // nil: no gateway
	// Capacity, when set, is reserved for every instance before it starts (Specs says what an
	// instance takes) and released once it stopped.
	Capacity Capacity
	Specs    ark.SpecCatalog
	Logger   *slog.Logger // nil means slog.Default()
	// ResyncInterval is how often every service that may need work is looked at (default 2 s).
	ResyncInterval time.Duration
	// DefaultDeployTimeout applies to entries without deploy_timeout_in_seconds (default
	// ark.DefaultDeployTimout seconds).
	DefaultDeployTimeout time.Duration
	// LaunchCommands are the shell commands that start models without a cmd of their own (for
	// example TensorFlow models), keyed by the model's runtime and, as a fallback, by its model
	// type: {"TensorFlow": "exec tensorflow_model_server --rest_api_port=$PORT --model_base_path=$MODEL_DIR"}.
	// They run like a model's cmd: /bin/sh -c in the model directory with PORT and MODEL_DIR set.
	LaunchCommands map[string]string
	// Workers is how many services are reconciled in parallel (default 8).
	Workers int
	// Now is the clock for schedules and edge operations (default time.Now).
	Now func() time.Time
	// Holder is this replica's identity in service leases: the engine drives a service only while
	// it holds the service's lease (several servers may share one database). Keep it stable
	// across restarts of the same replica so that a restarted replica takes its services back at
	// once; two running engines must never share it. Default: a random id.
	Holder string
	// LeaseTTL is how long a lease lasts unrenewed (default DefaultLeaseTTL); the engine renews
	// its leases every third of it.
	LeaseTTL time.Duration

	// Edge services (edge.go). EdgeParallel bounds the nodes whose operations of one update run
	// at once (default DefaultEdgeParallel); NodeHeartbeatTimeout is how long a node stays
	// RUNNING after a heartbeat (default DefaultNodeHeartbeatTimeout); an operation on an
	// UNCONNECTED node fails once it has waited EdgeUnconnectedTimeout (default
	// DefaultEdgeUnconnectedTimeout). Nodes, when set, is told when a node's placements changed.
	EdgeParallel           int
	NodeHeartbeatTimeout   time.Duration
	EdgeUnconnectedTimeout time.Duration
	Nodes                  NodeWaker

	initOnce sync.Once
	q        *queue

	// mu guards svcs and everything reachable from it that is not marked immutable: a service's
	// worker changes members and targets, instance watchers record readiness and exits, Endpoints
	// reads routes. It is never held across a Store, Runtime or Router call.
	mu      sync.Mutex
	svcs    map[string]*svcState
	leases  map[string]held // by service id
	running bool

	// watchers are the goroutines that follow each started instance (readiness, then liveness and
	// exit); Run waits for them after it has stopped every instance.
	watchers sync.WaitGroup
}

// svcState is what the engine holds for one service. Only the service's worker changes members,
// target and the fields below them; watchers change member readiness.
type svcState struct {
	members   []*member
	target    *target
	restarts  map[string]*restart // by group key: crash backoff of a running service
	finishing *finish             // an outcome decided but not yet recorded (the store failed)
	route     ark.Route           // last published
	due       *time.Timer         // wakes the service at its schedule's due time
	dueAt     time.Time

	// With a Deployer: delete the workloads of removed entries in the next pass; the problems
	// already reported as events for target reportedFor.
	pruneNext   bool
	reported    map[string]bool
	reportedFor *target
}

type kind int

const (
	kindUpdate kind = iota // carries out a RUNNING update-log entry
	kindStart              // status deploying without an entry: PUT status=running, or a rollback with nothing left
	kindKeep               // a running service: restore after a restart, finish a rollback, restart crashed instances
)

// target is the configuration a service's instances are driven to.
type target struct {
	// Immutable after creation.
	kind       kind
	updateTime int64 // the entry a kindUpdate target carries out
	cfgKey     string
	projectID  string
	policy     string
	groups     []*group
	pairs      map[string]*group // group key of old instances → the target group that replaces them

	progress  int  // last progress reported (guarded by Engine.mu)
	restoring bool // bringing instances back after a server restart (the service's worker only)
}

// restart is the backoff of a group whose instances crashed.
type restart struct {
	crashes   int
	notBefore time.Time
}

// member is one started (or failed to start) instance.
type member struct {
	// Immutable after creation.
	id        string
	g         *group  // the group it was started for
	tgt       *target // the target it was started for
	inst      Instance
	startedAt time.Time

	// Guarded by Engine.mu.
	ready    bool
	readyAt  time.Time
	done     bool  // failed to start, not ready in time, or exited: it has to be replaced
	err      error // why done, or why no longer ready
	stopping bool  // left the routing table; being stopped

	sampledAt  time.Time // the previous Usage sample of Instances
	sampledCPU float64
}

// finish is an update-log outcome to record.
type finish struct {
	updateTime int64
	result     string
	change     ark.StatusChange
	events     []ark.Event
}

func (e *Engine) init() {
	e.initOnce.Do(func() {
		e.q = newQueue()
		e.svcs = map[string]*svcState{}
		e.leases = map[string]held{}
		if e.Holder == "" {
			e.Holder = ark.NewHexID()
		}
	})
}

func (e *Engine) log() *slog.Logger {
	if e.Logger != nil {
		return e.Logger
	}
	return slog.Default()
}

func (e *Engine) now() time.Time {
	if e.Now != nil {
		return e.Now()
	}
	return time.Now()
}

// Notify asks the engine to look at a service soon. It never blocks; a notification that arrives
// while the service is being reconciled makes it run once more afterwards.
func (e *Engine) Notify(serviceID string) {
	e.init()
	e.q.add(serviceID)
}

// Run reconciles services until ctx ends. It first stops instances an earlier server process left
// behind. When ctx ends it waits for the workers, stops every instance it started (gracefully:
// SIGTERM, then SIGKILL after each one's grace period) and returns once every goroutine it started
// has ended. Run can be called once.
func (e *Engine) Run(ctx context.Context) error {
	if e.Store == nil || (e.Runtime == nil) == (e.Deployer == nil) {
		return errors.New("rollout: Engine needs a Store and either a Runtime or a Deployer")
	}
	e.init()
	e.mu.Lock()
	if e.running {
		e.mu.Unlock()
		return errors.New("rollout: Engine.Run called twice")
	}
	e.running = true
	e.mu.Unlock()

	// A Deployer's workloads outlive the server (and are shared with its other replicas): they
	// are taken over as they are, not stopped.
	if e.Runtime != nil {
		if err := e.Runtime.StopStale(ctx); err != nil {
			e.log().Error("stop instances left by an earlier server process", "err", err)
		}
	}
	workers := e.Workers
	if workers <= 0 {
		workers = 8
	}
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.work(ctx)
		}()
	}
	wg.Add(2)
	go func() {
		defer wg.Done()
		e.resync(ctx)
	}()
	go func() {
		defer wg.Done()
		e.renew(ctx)
	}()

	<-ctx.Done()
	e.q.close()
	wg.Wait()
	e.stopEverything(ctx)
	e.releaseAll(ctx)
	e.watchers.Wait()
	return nil
}

// deployTimeout is the deploy timeout of entries without deploy_timeout_in_seconds.
func (e *Engine) deployTimeout() time.Duration {
	if e.DefaultDeployTimeout > 0 {
		return e.DefaultDeployTimeout
	}
	return ark.DefaultDeployTimout * time.Second
}

func (e *Engine) work(ctx context.Context) {
	for {
		id, ok := e.q.get()
		if !ok {
			return
		}
		switch err := e.reconcile(ctx, id); {
		case isLeaseLost(err):
			e.lost(ctx, id)
		case err != nil && ctx.Err() == nil:
			// The next resync (or notification) tries again.
			e.log().Warn("reconcile service", "service", id, "err", err)
		}
		e.q.done(id)
	}
}

func (e *Engine) resync(ctx context.Context) {
	every := e.ResyncInterval
	if every <= 0 {
		every = 2 * time.Second
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		ids, err := e.Store.ServicesToReconcile(ctx, e.Holder)
		if err != nil && ctx.Err() == nil {
			e.log().Warn("list services to reconcile", "err", err)
		}
		for _, id := range ids {
			e.q.add(id)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Endpoint is one instance the gateway may send a service's requests to.
type Endpoint struct {
	ModelID    string
	Weight     int // the weight of the instance's config entry
	InstanceID string
	Addr       string // host:port
}

// Endpoints returns the routing table last published for a service, flattened. Safe to call from
// any goroutine.
func (e *Engine) Endpoints(serviceID string) []Endpoint {
	e.init()
	e.mu.Lock()
	defer e.mu.Unlock()
	st := e.svcs[serviceID]
	if st == nil {
		return nil
	}
	var out []Endpoint
	for _, en := range st.route.Entries {
		for _, b := range en.Backends {
			out = append(out, Endpoint{ModelID: en.ModelID, Weight: en.Weight, InstanceID: b.InstanceID, Addr: b.Addr})
		}
	}
	return out
}

// InstanceCounts is what Instances reports for one model of a service.
type InstanceCounts struct {
	ModelID  string
	Ready    int     // instances that serve
	CPUCores float64 // cores in use since the previous call (since the start for a new instance)
	MemoryMB int     // resident memory now
}

// Instances reports, per model, the instances the engine holds for a service (the monitor API).
func (e *Engine) Instances(serviceID string) []InstanceCounts {
	e.init()
	e.mu.Lock()
	var ms []*member
	var out []InstanceCounts
	if st := e.svcs[serviceID]; st != nil {
		ms = append(ms, st.members...)
		if e.Deployer != nil {
			// The cluster runs the instances: what serves is what the route has (no usage figures).
			for _, en := range st.route.Entries {
				out = append(out, InstanceCounts{ModelID: en.ModelID, Ready: len(en.Backends)})
			}
		}
	}
	e.mu.Unlock()
	idx := map[string]int{}
	for _, m := range ms {
		if m.inst == nil {
			continue
		}
		u, now := m.inst.Usage(), time.Now() // reads /proc: outside the lock
		e.mu.Lock()
		done, ready := m.done, m.ready && !m.stopping
		since, before := m.startedAt, 0.0
		if !m.sampledAt.IsZero() {
			since, before = m.sampledAt, m.sampledCPU
		}
		m.sampledAt, m.sampledCPU = now, u.CPUSeconds
		e.mu.Unlock()
		if done {
			continue
		}
		i, ok := idx[m.g.cfg.ModelID]
		if !ok {
			i = len(out)
			idx[m.g.cfg.ModelID] = i
			out = append(out, InstanceCounts{ModelID: m.g.cfg.ModelID})
		}
		if ready {
			out[i].Ready++
		}
		if d := now.Sub(since).Seconds(); d > 0 {
			out[i].CPUCores += max(0, u.CPUSeconds-before) / d
		}
		out[i].MemoryMB += u.MemoryMB
	}
	return out
}

// state returns the state of a service, creating it.
func (e *Engine) state(id string) *svcState {
	e.mu.Lock()
	defer e.mu.Unlock()
	st := e.svcs[id]
	if st == nil {
		st = &svcState{restarts: map[string]*restart{}}
		e.svcs[id] = st
	}
	return st
}

// startMember starts one instance of group g for target t and a watcher for it. A Start that
// fails gives a member that is done at once.
func (e *Engine) startMember(ctx context.Context, svcID string, t *target, g *group) *member {
	spec := g.spec
	spec.InstanceID = ark.NewUUID()
	spec.ServiceID = svcID
	m := &member{id: spec.InstanceID, g: g, tgt: t, startedAt: time.Now()}
	if e.Capacity != nil {
		if err := e.Capacity.Reserve(m.id, g.spec.Resources); err != nil {
			m.done, m.err = true, err
			return m
		}
	}
	inst, err := e.Runtime.Start(ctx, spec)
	if err != nil {
		e.release(m)
		m.done, m.err = true, fmt.Errorf("could not be started: %w", err)
		e.log().Warn("start instance", "service", svcID, "model", g.label, "err", err)
		return m
	}
	m.inst = inst
	e.watchers.Add(1)
	go e.watch(ctx, svcID, m)
	return m
}

func (e *Engine) release(m *member) {
	if e.Capacity != nil {
		e.Capacity.Release(m.id)
	}
}

// watch follows one instance until it exits or ctx ends: it waits for readiness (the group's
// deploy timeout), then probes it every period, and records what it sees, notifying the service.
func (e *Engine) watch(ctx context.Context, svcID string, m *member) {
	defer e.watchers.Done()
	g := m.g
	err := m.inst.WaitReady(ctx, g.timeout)
	if ctx.Err() != nil {
		return
	}
	e.mu.Lock()
	if err != nil {
		m.done, m.err = true, err
	} else {
		m.ready, m.readyAt = true, time.Now()
	}
	e.mu.Unlock()
	e.Notify(svcID)
	if err != nil {
		return
	}
	t := time.NewTicker(g.period)
	defer t.Stop()
	failures := 0
	for {
		select {
		case <-ctx.Done():
			return
		case <-m.inst.Exited():
			e.mu.Lock()
			m.ready, m.done, m.err = false, true, m.inst.ExitError()
			e.mu.Unlock()
			e.Notify(svcID)
			return
		case <-t.C:
		}
		err := m.inst.Healthy(ctx)
		if ctx.Err() != nil {
			return
		}
		changed := false
		e.mu.Lock()
		if err == nil {
			failures = 0
			changed = !m.ready
			m.ready = true
		} else if failures++; failures >= g.threshold && m.ready {
			changed = true
			m.ready, m.err = false, err
		}
		e.mu.Unlock()
		if changed {
			e.Notify(svcID)
		}
	}
}

// stopMembers takes instances out of the service's routing table, lets the gateway drain them,
// stops them in parallel, waits for them and forgets them. Stopping is always graceful, even when
// ctx has ended (shutdown): each instance gets its grace period.
func (e *Engine) stopMembers(ctx context.Context, svcID string, st *svcState, ms []*member) {
	if len(ms) == 0 {
		return
	}
	ctx = context.WithoutCancel(ctx)
	e.mu.Lock()
	for _, m := range ms {
		m.stopping = true
	}
	e.mu.Unlock()
	e.publish(svcID, st)
	var wg sync.WaitGroup
	for _, m := range ms {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if m.inst != nil {
				if e.Router != nil {
					dctx, cancel := context.WithTimeout(ctx, m.g.spec.GracePeriod)
					e.Router.Drain(dctx, m.id)
					cancel()
				}
				if err := m.inst.Stop(ctx); err != nil {
					e.log().Warn("stop instance", "instance", m.id, "err", err)
				}
			}
			e.release(m)
		}()
	}
	wg.Wait()
	gone := map[*member]bool{}
	for _, m := range ms {
		gone[m] = true
	}
	e.mu.Lock()
	kept := st.members[:0]
	for _, m := range st.members {
		if !gone[m] {
			kept = append(kept, m)
		}
	}
	clear(st.members[len(kept):])
	st.members = kept
	e.mu.Unlock()
}

// stopService stops every instance of a service and forgets it.
func (e *Engine) stopService(ctx context.Context, id string) {
	e.mu.Lock()
	st := e.svcs[id]
	delete(e.svcs, id)
	var ms []*member
	if st != nil {
		ms = append(ms, st.members...)
		st.target = nil
		if st.due != nil {
			st.due.Stop()
		}
	}
	e.mu.Unlock()
	if e.Router != nil {
		e.Router.Remove(id)
	}
	if st != nil {
		e.stopMembers(ctx, id, st, ms)
	}
}

// removeService stops every instance of a service, deletes its workloads and forgets it. left is
// how many of a Deployer's instances are still terminating (the process runtime's have stopped
// when it returns).
func (e *Engine) removeService(ctx context.Context, id string) (left int, err error) {
	e.stopService(ctx, id)
	if e.Deployer != nil {
		return e.Deployer.Delete(ctx, id)
	}
	return 0, nil
}

// stopEverything stops every instance the engine holds (shutdown).
func (e *Engine) stopEverything(ctx context.Context) {
	e.mu.Lock()
	ids := make([]string, 0, len(e.svcs))
	for id := range e.svcs {
		ids = append(ids, id)
	}
	e.mu.Unlock()
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			e.stopService(ctx, id)
		}()
	}
	wg.Wait()
}
