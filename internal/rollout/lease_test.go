package rollout

import (
	"context"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/arkserve/arkserve/internal/ark"
)

// Two engines (two replicas) on one database: one drives the service, the other runs nothing of
// it; when the driver shuts down, the other takes the service over and brings its instances back.
func TestOneReplicaDrivesAService(t *testing.T) {
	store := newTestStore(t)
	replica := func(holder string) *harness {
		return run(t, store, filepath.Join(t.TempDir(), "instances"), func(e *Engine) {
			e.Holder, e.LeaseTTL = holder, time.Second
		})
	}
	a, b := replica("a"), replica("b")
	v1 := a.model(t, "1.0.1")
	id := store.userDeploy("echo", []ark.ServiceConfig{conf(v1, 100, 2)})
	a.engine.Notify(id)
	b.engine.Notify(id)
	a.waitResult(t, id, firstEntry(t, store.get(id)), ark.ResultSuccess, ark.StatusRunning)

	owner, other := a, b
	if len(a.pids(id)) == 0 {
		owner, other = b, a
	}
	pids := owner.pids(id)
	if len(pids) != 2 || len(other.pids(id)) != 0 {
		t.Fatalf("instances: owner %v, other %v; want 2 on one replica only", pids, other.pids(id))
	}
	ids, err := store.ServicesToReconcile(context.Background(), other.engine.Holder)
	store.must(err)
	if slices.Contains(ids, id) {
		t.Fatalf("the service is to reconcile for %s, which does not hold its lease", other.engine.Holder)
	}

	// The owner shuts down: it stops its instances and releases the lease; the other replica
	// takes the service over at once (not after the TTL) and starts its instances again.
	owner.stop()
	waitGone(t, pids)
	other.waitFor(t, id, "the other replica runs the service", func(s snapshot) bool {
		return len(other.engine.Endpoints(id)) == 2 && s.svc.Status == ark.StatusRunning
	})
	if got := other.versions(t, id); !slices.Equal(got, []string{"1.0.1", "1.0.1"}) {
		t.Fatalf("versions after the takeover %v", got)
	}
	if s := store.get(id); len(s.logs) != 1 || s.logs[0].Result != ark.ResultSuccess {
		t.Fatalf("update logs after the takeover: %+v; want the one SUCCESS entry", s.logs)
	}
}

// A replica whose lease another one acquired (it stalled past the expiry) stops the service's
// instances without writing anything; once the lease is free again it takes the service back.
func TestLostLeaseStopsInstances(t *testing.T) {
	store := newTestStore(t)
	h := run(t, store, filepath.Join(t.TempDir(), "instances"), func(e *Engine) {
		e.Holder, e.LeaseTTL = "a", 600*time.Millisecond
	})
	v1 := h.model(t, "1.0.1")
	id := store.userDeploy("echo", []ark.ServiceConfig{conf(v1, 100, 1)})
	h.engine.Notify(id)
	h.waitResult(t, id, firstEntry(t, store.get(id)), ark.ResultSuccess, ark.StatusRunning)
	pids := h.pids(id)

	ctx := context.Background()
	store.must(store.ReleaseLease(ctx, h.engine.held(id)))
	thief, ok, err := store.AcquireLease(ctx, id, "thief", time.Minute)
	if err != nil || !ok {
		t.Fatalf("AcquireLease(thief) = %v, %v", ok, err)
	}
	waitGone(t, pids)
	events := len(store.get(id).events)
	if l := h.engine.held(id); l != (ark.Lease{}) {
		t.Fatalf("the engine still holds %+v", l)
	}

	store.must(store.ReleaseLease(ctx, thief))
	h.waitFor(t, id, "the instance back", func(snapshot) bool { return len(h.pids(id)) == 1 })
	if s := store.get(id); len(s.events) <= events {
		t.Fatalf("no event for the restore: %+v", s.events)
	}
}

// NotifyHeld wakes the engine for the services it drives only.
func TestNotifyHeld(t *testing.T) {
	store := newTestStore(t)
	e := &Engine{Store: store, Holder: "a"}
	e.init()
	mine := store.userDeploy("mine", nil)
	theirs := store.userDeploy("theirs", nil)
	if ok, err := e.own(context.Background(), mine); err != nil || !ok {
		t.Fatalf("own = %v, %v", ok, err)
	}
	if _, ok, err := store.AcquireLease(context.Background(), theirs, "b", time.Minute); err != nil || !ok {
		t.Fatalf("AcquireLease(b) = %v, %v", ok, err)
	}
	e.NotifyHeld(theirs)
	e.NotifyHeld(mine)
	e.q.mu.Lock()
	got := append([]string(nil), e.q.items...)
	e.q.mu.Unlock()
	if !slices.Equal(got, []string{mine}) {
		t.Fatalf("queued %v; want only the held service %s", got, mine)
	}
}
