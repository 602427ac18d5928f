package storetest

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/arkserve/arkserve/internal/ark"
)

// testLeases: one holder at a time, fences that grow with every acquisition, expiry, renewal,
// release, and engine writes refused once the lease they carry is no longer the service's.
func testLeases(t *testing.T, f *fixture) {
	const ttl = 10 * time.Second
	m := f.model(f.project, "m", "1.0.0")
	s := f.service(f.project, "svc", cfg(m, 100, 1)) // deploying, with a RUNNING entry

	a1, ok, err := f.s.AcquireLease(f.ctx, s.ID, "a", ttl)
	must(t, err)
	if !ok || a1.Fence < 1 || a1.Holder != "a" || a1.ServiceID != s.ID {
		t.Fatalf("first acquisition = %+v, %v", a1, ok)
	}
	if _, ok, err := f.s.AcquireLease(f.ctx, s.ID, "b", ttl); err != nil || ok {
		t.Fatalf("b acquired a's unexpired lease (%v, %v)", ok, err)
	}
	a2, ok, err := f.s.AcquireLease(f.ctx, s.ID, "a", ttl)
	must(t, err)
	if !ok || a2.Fence <= a1.Fence {
		t.Fatalf("re-acquisition by its holder = %+v, %v; want a greater fence than %d", a2, ok, a1.Fence)
	}
	forA, err := f.s.ServicesToReconcile(f.ctx, "a")
	must(t, err)
	forB, err := f.s.ServicesToReconcile(f.ctx, "b")
	must(t, err)
	if !slices.Contains(forA, s.ID) || slices.Contains(forB, s.ID) {
		t.Fatalf("to reconcile: a %v, b %v; want the service for its holder only", forA, forB)
	}
	if _, ok, err := f.s.AcquireLease(f.ctx, "no-such-service", "a", ttl); err != nil || ok {
		t.Fatalf("lease of a service that does not exist: %v, %v", ok, err)
	}

	// a stalls past the expiry; b takes over; every write a still makes is refused.
	f.clock.Advance(ttl)
	forB, err = f.s.ServicesToReconcile(f.ctx, "b")
	must(t, err)
	if !slices.Contains(forB, s.ID) {
		t.Fatalf("an expired lease keeps the service from b: %v", forB)
	}
	b1, ok, err := f.s.AcquireLease(f.ctx, s.ID, "b", ttl)
	must(t, err)
	if !ok || b1.Fence <= a2.Fence {
		t.Fatalf("takeover = %+v, %v; want a greater fence than %d", b1, ok, a2.Fence)
	}
	entry, err := f.s.RunningUpdate(f.ctx, s.ID)
	must(t, err)
	running := ark.StatusChange{Status: ark.StatusRunning, Progress: 100}
	if _, err := f.s.FinishUpdate(f.ctx, a2, entry.UpdateTime, ark.ResultSuccess, running, ark.NormalEvent("a finished")); !errors.Is(err, ark.ErrLeaseLost) {
		t.Fatalf("FinishUpdate with a lost lease: %v; want ErrLeaseLost", err)
	}
	if err := f.s.SetStatus(f.ctx, a2, running, ark.NormalEvent("a reported")); !errors.Is(err, ark.ErrLeaseLost) {
		t.Fatalf("SetStatus with a lost lease: %v; want ErrLeaseLost", err)
	}
	if err := f.s.PurgeService(f.ctx, a2); !errors.Is(err, ark.ErrLeaseLost) {
		t.Fatalf("PurgeService with a lost lease: %v; want ErrLeaseLost", err)
	}
	if err := f.s.SetStatus(f.ctx, ark.Lease{ServiceID: s.ID}, running); !errors.Is(err, ark.ErrLeaseLost) {
		t.Fatalf("SetStatus with the zero lease: %v; want ErrLeaseLost", err)
	}
	if l := f.logs(s.ID); len(l) != 1 || l[0].Result != ark.ResultRunning {
		t.Fatalf("a lost lease's write changed the entry: %+v", l)
	}
	if got, err := f.s.FindService(f.ctx, f.project, s.ID); err != nil || got.Status != ark.StatusDeploying {
		t.Fatalf("a lost lease's write changed the status: %+v, %v", got, err)
	}
	_, evs, _, err := f.s.ListEvents(f.ctx, ark.EventFilter{ProjectID: f.project, ServiceID: s.ID, Limit: 10})
	must(t, err)
	for _, ev := range evs {
		if ev.Info == "a finished" || ev.Info == "a reported" {
			t.Fatalf("a lost lease's write added event %q", ev.Info)
		}
	}

	// Renewal extends the holder's unexpired leases only, fences unchanged.
	if ls, err := f.s.RenewLeases(f.ctx, "a", ttl); err != nil || len(ls) != 0 {
		t.Fatalf("a renewed %+v (%v); it holds nothing", ls, err)
	}
	f.clock.Advance(ttl - time.Second)
	ls, err := f.s.RenewLeases(f.ctx, "b", ttl)
	must(t, err)
	if len(ls) != 1 || ls[0] != b1 {
		t.Fatalf("b renewed %+v; want [%+v]", ls, b1)
	}
	f.clock.Advance(ttl - time.Second) // past the first expiry, before the renewed one
	if _, ok, err := f.s.AcquireLease(f.ctx, s.ID, "a", ttl); err != nil || ok {
		t.Fatalf("a acquired a renewed lease (%v, %v)", ok, err)
	}
	ok, err = f.s.FinishUpdate(f.ctx, b1, entry.UpdateTime, ark.ResultSuccess, running)
	if err != nil || !ok {
		t.Fatalf("the holder's FinishUpdate = %v, %v", ok, err)
	}

	// Release lets another holder in at once; releasing a lease that is no longer current does
	// nothing.
	must(t, f.s.ReleaseLease(f.ctx, b1))
	if ls, err := f.s.RenewLeases(f.ctx, "b", ttl); err != nil || len(ls) != 0 {
		t.Fatalf("b renewed a released lease: %+v, %v", ls, err)
	}
	a3, ok, err := f.s.AcquireLease(f.ctx, s.ID, "a", ttl)
	must(t, err)
	if !ok || a3.Fence <= b1.Fence {
		t.Fatalf("acquisition after release = %+v, %v", a3, ok)
	}
	must(t, f.s.ReleaseLease(f.ctx, b1))
	if _, ok, err := f.s.AcquireLease(f.ctx, s.ID, "b", ttl); err != nil || ok {
		t.Fatalf("a stale release freed a's lease (%v, %v)", ok, err)
	}
	f.clock.Advance(ttl)
	if ls, err := f.s.RenewLeases(f.ctx, "a", ttl); err != nil || len(ls) != 0 {
		t.Fatalf("a renewed an expired lease: %+v, %v", ls, err)
	}

	// Purging with the current lease removes the lease with the service.
	must(t, f.s.DeleteServices(f.ctx, f.project, s.ID))
	a4 := f.lease(s.ID)
	must(t, f.s.PurgeService(f.ctx, a4))
	if _, ok, err := f.s.AcquireLease(f.ctx, s.ID, "engine-a", ttl); err != nil || ok {
		t.Fatalf("lease of a purged service: %v, %v", ok, err)
	}
	// a4 had not expired: a lease row left behind would still name its owner.
	if h, _, ok, err := f.s.ServiceOwner(f.ctx, s.ID); err != nil || ok {
		t.Fatalf("owner of a purged service: %q, %v, %v; want none", h, ok, err)
	}
}

// testReplicas: the owner of a service is the holder of its unexpired lease, with the URL it
// registered last.
func testReplicas(t *testing.T, f *fixture) {
	m := f.model(f.project, "m", "1.0.0")
	s := f.service(f.project, "svc", cfg(m, 100, 1))
	owner := func() (string, string, bool) {
		t.Helper()
		h, u, ok, err := f.s.ServiceOwner(f.ctx, s.ID)
		must(t, err)
		return h, u, ok
	}
	if h, u, ok := owner(); ok || h != "" || u != "" {
		t.Fatalf("owner without a lease = %q %q %v", h, u, ok)
	}
	must(t, f.s.RegisterReplica(f.ctx, "a", "http://127.0.0.1:1"))
	must(t, f.s.RegisterReplica(f.ctx, "a", "http://127.0.0.1:2")) // restarted elsewhere
	if _, ok, err := f.s.AcquireLease(f.ctx, s.ID, "a", time.Minute); err != nil || !ok {
		t.Fatalf("AcquireLease = %v, %v", ok, err)
	}
	if h, u, ok := owner(); !ok || h != "a" || u != "http://127.0.0.1:2" {
		t.Fatalf("owner = %q %q %v; want a at its last URL", h, u, ok)
	}
	f.clock.Advance(time.Minute)
	if _, _, ok := owner(); ok {
		t.Fatal("an expired lease still names an owner")
	}
	if _, ok, err := f.s.AcquireLease(f.ctx, s.ID, "unregistered", time.Minute); err != nil || !ok {
		t.Fatalf("AcquireLease = %v, %v", ok, err)
	}
	if h, u, ok := owner(); !ok || h != "unregistered" || u != "" {
		t.Fatalf("owner = %q %q %v; want the holder without a URL", h, u, ok)
	}
}
