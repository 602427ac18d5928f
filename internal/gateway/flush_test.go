package gateway_test

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/arkserve/arkserve/internal/ark"
	"github.com/arkserve/arkserve/internal/gateway"
	"github.com/arkserve/arkserve/internal/sqlite"
)

// flakyStore is the real SQLite store, failing while down is set.
type flakyStore struct {
	*sqlite.DB
	down atomic.Bool
}

func (s *flakyStore) AddCallCounts(ctx context.Context, counts map[string]ark.CallCounts) error {
	if s.down.Load() {
		return errors.New("store down")
	}
	return s.DB.AddCallCounts(ctx, counts)
}

// TestFlushToSQLite: Run writes the counts to a real store every FlushInterval, keeps them when a
// write fails, writes a removed service's last counts, and flushes once more when it stops.
func TestFlushToSQLite(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "arkserve.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.CreateDomain(ctx, &ark.Domain{ID: "default", Name: "Default", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateProject(ctx, &ark.Project{ID: testProject, DomainID: "default", Name: "p", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	m := &ark.Model{ID: ark.NewUUID(), ProjectID: testProject, Name: "m", Version: "1.0.0", Health: ark.DefaultHealth()}
	if err := db.CreateModel(ctx, m); err != nil {
		t.Fatal(err)
	}
	svc := &ark.Service{ID: testService, ProjectID: testProject, Name: "s",
		Config: []ark.ServiceConfig{{ModelID: m.ID, Weight: 100, InstanceCount: 1}}}
	if _, err := db.CreateService(ctx, svc); err != nil {
		t.Fatal(err)
	}
	counts := func() (int64, int64) {
		t.Helper()
		s, err := db.FindService(ctx, testProject, testService)
		if err != nil {
			t.Fatal(err)
		}
		return s.InvocationTimes, s.FailedTimes
	}
	waitFor := func(inv, fail int64) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			i, f := counts()
			if i == inv && f == fail {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("store has %d invocations, %d failures; want %d, %d", i, f, inv, fail)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}

	store := &flakyStore{DB: db}
	g := &gateway.Gateway{Store: store, FlushInterval: 20 * time.Millisecond}
	f := newFront(t, g)
	ok := startInstance(t, "ok", nil)
	bad := startInstance(t, "bad", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(503) })
	g.Publish(testService, route("", entry(m.ID, 50, ok), entry("m-bad", 50, bad)))
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- g.Run(runCtx) }()

	for range 6 {
		f.get("/")
	}
	waitFor(6, 3)

	store.down.Store(true)
	for range 2 {
		f.get("/")
	}
	time.Sleep(100 * time.Millisecond) // several failed flushes
	if i, f := counts(); i != 6 || f != 3 {
		t.Fatalf("while the store is down: %d, %d; want 6, 3", i, f)
	}
	store.down.Store(false)
	waitFor(8, 4)

	// Counts of a service removed from routing still reach the store; so do the last ones when
	// Run stops.
	for range 3 {
		f.get("/")
	}
	g.Remove(testService)
	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v; want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
	i, fl := counts()
	if i != 11 || fl != 5 {
		t.Fatalf("after Run: %d invocations, %d failures; want 11, 5", i, fl)
	}
}
