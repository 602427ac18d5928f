package rollout

import (
	"context"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/arkserve/arkserve/internal/ark"
)

// countingRuntime wraps the process runtime and counts the instances that are alive (started
// and not yet stopped), keeping the peak.
type countingRuntime struct {
	Runtime
	mu         sync.Mutex
	live, peak int
}

func (c *countingRuntime) Start(ctx context.Context, s InstanceSpec) (Instance, error) {
	in, err := c.Runtime.Start(ctx, s)
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.live++
	c.peak = max(c.peak, c.live)
	c.mu.Unlock()
	return &countedInstance{Instance: in, c: c}, nil
}

func (c *countingRuntime) resetPeak() {
	c.mu.Lock()
	c.peak = c.live
	c.mu.Unlock()
}

type countedInstance struct {
	Instance
	c    *countingRuntime
	once sync.Once
}

func (i *countedInstance) Stop(ctx context.Context) error {
	err := i.Instance.Stop(ctx)
	i.once.Do(func() {
		i.c.mu.Lock()
		i.c.live--
		i.c.mu.Unlock()
	})
	return err
}

// recordingRouter records the routing tables and checks that an instance is drained only once it
// is out of its service's table.
type recordingRouter struct {
	t          *testing.T
	mu         sync.Mutex
	routes     map[string]ark.Route
	minServing int // fewest backends in a published table since reset
	drained    []string
}

func newRecordingRouter(t *testing.T) *recordingRouter {
	return &recordingRouter{t: t, routes: map[string]ark.Route{}, minServing: 1 << 30}
}

func (r *recordingRouter) Publish(id string, rt ark.Route) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.routes[id] = rt
	n := 0
	for _, e := range rt.Entries {
		n += len(e.Backends)
	}
	r.minServing = min(r.minServing, n)
}

func (r *recordingRouter) Remove(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.routes, id)
}

func (r *recordingRouter) Drain(_ context.Context, instanceID string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id, rt := range r.routes {
		for _, e := range rt.Entries {
			for _, b := range e.Backends {
				if b.InstanceID == instanceID {
					r.t.Errorf("instance %s drained while still in the table of service %s", instanceID, id)
				}
			}
		}
	}
	r.drained = append(r.drained, instanceID)
}

func (r *recordingRouter) reset() {
	r.mu.Lock()
	r.minServing = 1 << 30
	r.mu.Unlock()
}

func TestRollingUpdateBounds(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	for _, tc := range []struct {
		name           string
		n              int
		surge, unavail *float64
		maxLive        int
		minReady       int
	}{
		{"Surge1", 3, f(1), f(0), 4, 3},
		{"Unavailable1", 3, f(0), f(1), 3, 2},
		{"Fractions", 4, f(0.5), f(0.25), 6, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			store := newTestStore(t)
			var counter *countingRuntime
			router := newRecordingRouter(t)
			h := run(t, store, filepath.Join(t.TempDir(), "instances"), func(e *Engine) {
				counter = &countingRuntime{Runtime: e.Runtime}
				e.Runtime, e.Router = counter, router
			})
			v1, v2 := h.model(t, "1.0.1"), h.model(t, "1.0.2")
			c := func(m string) ark.ServiceConfig {
				c := conf(m, 100, tc.n)
				p := c.AdditionalProperties[m]
				p.MaxSurge, p.MaxUnavailable = tc.surge, tc.unavail
				c.AdditionalProperties[m] = p
				return c
			}
			id := store.userDeploy("echo", []ark.ServiceConfig{c(v1)})
			h.engine.Notify(id)
			h.waitResult(t, id, firstEntry(t, store.get(id)), ark.ResultSuccess, ark.StatusRunning)
			counter.resetPeak()
			router.reset()

			ut := store.userUpdate(t, id, []ark.ServiceConfig{c(v2)})
			h.engine.Notify(id)
			h.waitResult(t, id, ut, ark.ResultSuccess, ark.StatusRunning)
			counter.mu.Lock()
			peak, live := counter.peak, counter.live
			counter.mu.Unlock()
			if peak > tc.maxLive || live != tc.n {
				t.Errorf("peak %d instances, %d at the end; want at most %d, then %d", peak, live, tc.maxLive, tc.n)
			}
			router.mu.Lock()
			minServing, drained := router.minServing, len(router.drained)
			router.mu.Unlock()
			if minServing < tc.minReady {
				t.Errorf("a routing table had %d ready instances; want at least %d", minServing, tc.minReady)
			}
			if drained != tc.n {
				t.Errorf("%d instances drained; want the %d old ones", drained, tc.n)
			}
			want := slices.Repeat([]string{"1.0.2"}, tc.n)
			if got := h.versions(t, id); !equal(got, want) {
				t.Errorf("endpoints answer %v; want %v", got, want)
			}
		})
	}
}

func TestWeightOnlyChangeRestartsNothing(t *testing.T) {
	h := newHarness(t)
	v1, v2 := h.model(t, "1.0.1"), h.model(t, "1.0.2")
	id := h.store.userDeploy("echo", []ark.ServiceConfig{conf(v1, 50, 1), conf(v2, 50, 2)})
	h.engine.Notify(id)
	h.waitResult(t, id, firstEntry(t, h.store.get(id)), ark.ResultSuccess, ark.StatusRunning)
	before := h.pids(id)

	ut := h.store.userUpdate(t, id, []ark.ServiceConfig{conf(v1, 80, 1), conf(v2, 20, 2)})
	h.engine.Notify(id)
	h.waitResult(t, id, ut, ark.ResultSuccess, ark.StatusRunning)
	if after := h.pids(id); !slices.Equal(before, after) {
		t.Errorf("instances %v after a weight change; want the same %v", after, before)
	}
	weights := map[string]int{}
	for _, ep := range h.engine.Endpoints(id) {
		weights[ep.ModelID] = ep.Weight
	}
	if weights[v1] != 80 || weights[v2] != 20 {
		t.Errorf("weights %v; want 80 and 20", weights)
	}
}

func TestScheduleAutoStop(t *testing.T) {
	store := newTestStore(t)
	var skew atomic.Int64
	h := run(t, store, filepath.Join(t.TempDir(), "instances"), func(e *Engine) {
		e.Now = func() time.Time { return time.Now().Add(time.Duration(skew.Load())) }
	})
	v1 := h.model(t, "1.0.1")
	svc := &ark.Service{ID: ark.NewUUID(), ProjectID: store.pid, Name: "echo", InferType: ark.InferRealTime,
		Config: []ark.ServiceConfig{conf(v1, 100, 1)}, Schedule: []ark.Schedule{{Duration: 1, TimeUnit: "MINUTES", Type: "stop"}}}
	if _, err := store.CreateService(context.Background(), svc); err != nil {
		t.Fatal(err)
	}
	h.engine.Notify(svc.ID)
	h.waitResult(t, svc.ID, firstEntry(t, store.get(svc.ID)), ark.ResultSuccess, ark.StatusRunning)
	pids := h.pids(svc.ID)

	skew.Store(int64(2 * time.Minute)) // the minute is up
	h.engine.Notify(svc.ID)
	s := h.waitFor(t, svc.ID, "auto-stopped", func(s snapshot) bool { return s.svc.Status == ark.StatusStopped })
	waitGone(t, pids)
	if !s.hasEvent(ark.EventNormal, ark.EventAutoStopped) || !s.hasEvent(ark.EventNormal, ark.EventStopped) {
		t.Errorf("events:\n%s", s.eventText())
	}
}

func TestCapacity(t *testing.T) {
	store := newTestStore(t)
	small := ark.Resources{CPU: 0.25, MemoryMB: 256} // arkserve.local.small
	ledger := ark.NewLedger(ark.Resources{CPU: 0.6, MemoryMB: 4096})
	h := run(t, store, filepath.Join(t.TempDir(), "instances"), func(e *Engine) {
		e.Capacity, e.Specs = ledger, ark.NewSpecCatalog(ark.DefaultSpecs())
	})
	v1, v2 := h.model(t, "1.0.1"), h.model(t, "1.0.2")
	id := store.userDeploy("echo", []ark.ServiceConfig{conf(v1, 100, 2)})
	h.engine.Notify(id)
	h.waitResult(t, id, firstEntry(t, store.get(id)), ark.ResultSuccess, ark.StatusRunning)
	if used, _ := ledger.Usage(); used != small.Mul(2) {
		t.Fatalf("%v used by 2 small instances; want %v", used, small.Mul(2))
	}

	// Surge 1 needs a third instance; only 0.1 CPU is free: FAIL with 3952, rolled back.
	ut := store.userUpdate(t, id, []ark.ServiceConfig{conf(v2, 100, 2)})
	h.engine.Notify(id)
	s := h.waitResult(t, id, ut, ark.ResultFail, ark.StatusRunning)
	if !s.hasEvent(ark.EventAbnormal, ark.EInsufficient) || !s.hasEvent(ark.EventNormal, ark.EventRolledBack) {
		t.Errorf("events:\n%s", s.eventText())
	}
	if got := h.versions(t, id); !equal(got, []string{"1.0.1", "1.0.1"}) {
		t.Errorf("endpoints answer %v; want the previous 2 x 1.0.1", got)
	}
	if used, _ := ledger.Usage(); used != small.Mul(2) {
		t.Errorf("%v used after the failed update; want %v (the failed reservation released)", used, small.Mul(2))
	}

	// Stopping the service releases everything.
	store.userStatus(id, ark.StatusStopped)
	h.engine.Notify(id)
	h.waitFor(t, id, "stopped", func(s snapshot) bool { return s.svc.Status == ark.StatusStopped })
	if used, _ := ledger.Usage(); !used.IsZero() {
		t.Errorf("%v used by a stopped service; want nothing", used)
	}
}

// TestNeverHealthyUpdateRollsBack: the new version runs but its health check never passes (503):
// after deploy_timeout_in_seconds the update fails, its instance is stopped, and the previous
// instances, which were never stopped (unavailable 0), still serve.
func TestNeverHealthyUpdateRollsBack(t *testing.T) {
	h := newHarness(t)
	v1, sick := h.model(t, "1.0.1"), h.model(t, "1.0.2", "TESTMODEL_HEALTH=503")
	id := h.store.userDeploy("echo", []ark.ServiceConfig{conf(v1, 100, 2)})
	h.engine.Notify(id)
	h.waitResult(t, id, firstEntry(t, h.store.get(id)), ark.ResultSuccess, ark.StatusRunning)
	before := h.pids(id)

	c := conf(sick, 100, 2)
	c.DeployTimeoutSeconds = 2
	ut := h.store.userUpdate(t, id, []ark.ServiceConfig{c})
	h.engine.Notify(id)
	s := h.waitResult(t, id, ut, ark.ResultFail, ark.StatusRunning)
	if !s.hasEvent(ark.EventAbnormal, "Model echo@1.0.2") || !s.hasEvent(ark.EventAbnormal, "did not become ready") ||
		!s.hasEvent(ark.EventNormal, ark.EventRolledBack) {
		t.Errorf("events:\n%s", s.eventText())
	}
	if got := h.versions(t, id); !equal(got, []string{"1.0.1", "1.0.1"}) {
		t.Errorf("endpoints answer %v; want the previous 2 x 1.0.1", got)
	}
	h.waitFor(t, id, "only the previous instances", func(snapshot) bool { return slices.Equal(h.pids(id), before) })
}
