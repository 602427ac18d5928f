// Package rollout is arkserve's update engine: a level-triggered reconcile loop that makes the
// instances of every service match the desired state in the store, and finishes update-log entries.
//
// The HTTP layer writes desired state (configuration, status and a RUNNING update-log entry, in one
// transaction) and calls Engine.Notify; a periodic resync (Store.ServicesToReconcile) catches
// anything a notification missed and, after a server restart, brings back the instances of
// services that were running. For each service the engine reads the service, its RUNNING entry and
// the instances it holds for it, and acts:
//
//   - deleted: stop every instance, purge the service.
//   - stopping: stop every instance, status stopped.
//   - a RUNNING entry: start instance_count fresh instances of every entry of the new
//     configuration, wait until each is ready (deploy_timeout_in_seconds, reporting progress),
//     switch the service to them, stop the old ones, finish the entry SUCCESS. When one exits or is
//     not ready in time, stop the new ones, keep the old ones, finish the entry FAIL (the store
//     restores the previous configuration) and say why in the events.
//   - deploying without an entry (a start): start the configuration's instances; running, or failed.
//   - running or concerning: instances that crashed are restarted (with backoff); the status is
//     concerning while an instance is not ready. With no instances at all (the server restarted)
//     the configuration is started again.
//
// This first engine starts fresh instances for every entry and stops the old ones once all new
// ones are ready: it never reuses an instance, and it does not yet honour max_surge and
// max_unavailable (during an update the service runs old and new instances side by side).
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

// Engine drives instances toward the desired state in Store. Set its fields, then call Run.
type Engine struct {
	Store   Store
	Runtime Runtime
	Logger  *slog.Logger // nil means slog.Default()
	// ResyncInterval is how often every service that may need work is looked at (default 2 s).
	// Restarts of crashed instances happen on a resync once their backoff has passed.
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

	initOnce sync.Once
	q        *queue

	// mu guards svcs and everything reachable from it that is not marked immutable: a service's
	// worker changes generations and slots, instance watchers record readiness and exits, and
	// Endpoints reads them for the gateway. It is never held across a Store or Runtime call.
	mu      sync.Mutex
	svcs    map[string]*svcState
	running bool

	// watchers are the goroutines that follow each started instance (readiness, then liveness and
	// exit); Run waits for them after it has stopped every instance.
	watchers sync.WaitGroup
}

// svcState is what the engine holds for one service.
type svcState struct {
	serving *generation // the instances that serve the service's configuration; nil: none
	pending *generation // instances being started to replace serving; nil: none
	// finishing is the outcome of the RUNNING entry that is decided (instances switched or
	// rolled back) but not yet recorded because the store failed; recorded on the next pass.
	finishing *finish
}

type kind int

const (
	kindUpdate  kind = iota // carries out a RUNNING update-log entry
	kindStart               // status deploying without an entry: PUT status=running, or a rollback with nothing left
	kindRestore             // a running service without (matching) instances, e.g. after a server restart
)

// generation is the instances of one whole configuration.
type generation struct {
	// Immutable after creation.
	kind       kind
	updateTime int64  // the entry a kindUpdate generation carries out
	cfgKey     string // configKey of the configuration
	groups     []*group

	progress int // last progress reported (guarded by mu)
}

// slot is one of a group's instance_count places. Guarded by Engine.mu.
type slot struct {
	m         *member   // the instance in this place; nil while waiting for a restart
	crashes   int       // consecutive failures, for the backoff
	notBefore time.Time // no restart before
}

// member is one started (or failed to start) instance.
type member struct {
	// Immutable after creation.
	id        string
	inst      Instance // nil when Start failed
	startedAt time.Time

	// Guarded by Engine.mu; written by the instance's watcher.
	ready   bool
	readyAt time.Time
	done    bool  // failed to start, not ready in time, or exited: it has to be replaced
	err     error // why done, or why no longer ready
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
	})
}

func (e *Engine) log() *slog.Logger {
	if e.Logger != nil {
		return e.Logger
	}
	return slog.Default()
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
	if e.Store == nil || e.Runtime == nil {
		return errors.New("rollout: Engine needs a Store and a Runtime")
	}
	e.init()
	e.mu.Lock()
	if e.running {
		e.mu.Unlock()
		return errors.New("rollout: Engine.Run called twice")
	}
	e.running = true
	e.mu.Unlock()

	if err := e.Runtime.StopStale(ctx); err != nil {
		e.log().Error("stop instances left by an earlier server process", "err", err)
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
	wg.Add(1)
	go func() {
		defer wg.Done()
		e.resync(ctx)
	}()

	<-ctx.Done()
	e.q.close()
	wg.Wait()
	e.stopEverything(ctx)
	e.watchers.Wait()
	return nil
}

func (e *Engine) work(ctx context.Context) {
	for {
		id, ok := e.q.get()
		if !ok {
			return
		}
		if err := e.reconcile(ctx, id); err != nil && ctx.Err() == nil {
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
		ids, err := e.Store.ServicesToReconcile(ctx)
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

// Endpoint is one ready instance serving a service.
type Endpoint struct {
	ModelID    string
	Weight     int // the weight of the instance's config entry
	InstanceID string
	Addr       string // host:port
}

// Endpoints returns the ready instances of the configuration a service currently serves (during
// an update, the old one until the new one is ready). Safe to call from any goroutine.
func (e *Engine) Endpoints(serviceID string) []Endpoint {
	e.init()
	e.mu.Lock()
	defer e.mu.Unlock()
	st := e.svcs[serviceID]
	if st == nil || st.serving == nil {
		return nil
	}
	var out []Endpoint
	for _, g := range st.serving.groups {
		for _, s := range g.slots {
			if m := s.m; m != nil && m.ready && !m.done {
				out = append(out, Endpoint{ModelID: g.cfg.ModelID, Weight: g.cfg.Weight, InstanceID: m.id, Addr: m.inst.Addr()})
			}
		}
	}
	return out
}

// state returns the state of a service, creating it.
func (e *Engine) state(id string) *svcState {
	e.mu.Lock()
	defer e.mu.Unlock()
	st := e.svcs[id]
	if st == nil {
		st = &svcState{}
		e.svcs[id] = st
	}
	return st
}

// launch starts an instance in every empty slot of gen that may start now, and a watcher for each.
func (e *Engine) launch(ctx context.Context, svcID string, gen *generation) {
	now := time.Now()
	for _, g := range gen.groups {
		for _, s := range g.slots {
			e.mu.Lock()
			empty := s.m == nil && !now.Before(s.notBefore)
			e.mu.Unlock()
			if empty {
				m := e.startMember(ctx, svcID, g)
				e.mu.Lock()
				s.m = m
				e.mu.Unlock()
			}
		}
	}
}

func (e *Engine) startMember(ctx context.Context, svcID string, g *group) *member {
	spec := g.spec
	spec.InstanceID = ark.NewUUID()
	spec.ServiceID = svcID
	m := &member{id: spec.InstanceID, startedAt: time.Now()}
	inst, err := e.Runtime.Start(ctx, spec)
	if err != nil {
		m.done, m.err = true, fmt.Errorf("could not be started: %w", err)
		e.log().Warn("start instance", "service", svcID, "model", g.label, "err", err)
		return m
	}
	m.inst = inst
	e.watchers.Add(1)
	go e.watch(ctx, svcID, g, m)
	return m
}

// watch follows one instance until it exits or ctx ends: it waits for readiness (the group's
// deploy timeout), then probes it every period, and records what it sees, notifying the service.
func (e *Engine) watch(ctx context.Context, svcID string, g *group, m *member) {
	defer e.watchers.Done()
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

// members returns gen's started instances.
func (e *Engine) members(gen *generation) []*member {
	if gen == nil {
		return nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []*member
	for _, g := range gen.groups {
		for _, s := range g.slots {
			if s.m != nil && s.m.inst != nil {
				out = append(out, s.m)
			}
		}
	}
	return out
}

// stopMembers stops instances in parallel and waits for them. Stopping is always graceful, even
// when ctx has ended (shutdown): each instance gets its grace period.
func (e *Engine) stopMembers(ctx context.Context, ms []*member) {
	ctx = context.WithoutCancel(ctx)
	var wg sync.WaitGroup
	for _, m := range ms {
		if m == nil || m.inst == nil {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := m.inst.Stop(ctx); err != nil {
				e.log().Warn("stop instance", "instance", m.id, "err", err)
			}
		}()
	}
	wg.Wait()
}

// stopService stops every instance of a service and forgets it.
func (e *Engine) stopService(ctx context.Context, id string) {
	e.mu.Lock()
	st := e.svcs[id]
	delete(e.svcs, id)
	e.mu.Unlock()
	if st != nil {
		e.stopMembers(ctx, append(e.members(st.serving), e.members(st.pending)...))
	}
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
