package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/arkserve/arkserve/internal/ark"
	"github.com/arkserve/arkserve/internal/postgres/pgtest"
)

// TestListenServices: a server listening on the database hears of the services another server
// deploys, updates, stops and deletes, once each write commits; a write that fails says nothing.
func TestListenServices(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	writer, listener := MustOpen(t, dsn), MustOpen(t, dsn)
	ctx, cancel := context.WithCancel(context.Background())
	heard := make(chan string, 16)
	done := make(chan error, 1)
	go func() { done <- listener.ListenServices(ctx, func(id string) { heard <- id }) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("ListenServices = %v", err)
		}
	}()

	bg := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(writer.CreateDomain(bg, &ark.Domain{ID: "default", Name: "Default", Enabled: true}))
	must(writer.CreateProject(bg, &ark.Project{ID: "p", DomainID: "default", Name: "p", Enabled: true}))
	m := &ark.Model{ID: ark.NewUUID(), ProjectID: "p", Name: "m", Version: "1.0.0", Health: ark.DefaultHealth()}
	must(writer.CreateModel(bg, m))
	svc := func(name string) *ark.Service {
		return &ark.Service{ID: ark.NewUUID(), ProjectID: "p", Name: name, InferType: ark.InferRealTime,
			Config: []ark.ServiceConfig{{ModelID: m.ID, Weight: 100, InstanceCount: 1}}}
	}
	expect := func(what, id string) {
		t.Helper()
		select {
		case got := <-heard:
			if got != id {
				t.Fatalf("%s: heard %s; want %s", what, got, id)
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("%s: nothing heard", what)
		}
	}
	// The listener may connect after the first write: deploy until one is heard.
	var s *ark.Service
	for i := 0; ; i++ {
		s = svc("warm-" + string(rune('a'+i)))
		_, err := writer.CreateService(bg, s)
		must(err)
		select {
		case got := <-heard:
			if got != s.ID {
				t.Fatalf("heard %s; want %s", got, s.ID)
			}
		case <-time.After(500 * time.Millisecond):
			continue
		}
		break
	}
	// A write that fails (a duplicate name) notifies nobody; the next one is heard next.
	if _, err := writer.CreateService(bg, svc(s.Name)); ark.ErrorCode(err) != ark.EServiceExists {
		t.Fatalf("duplicate deploy: %v", err)
	}
	stopped := ark.StatusStopped
	lease, _, err := writer.AcquireLease(bg, s.ID, "t", time.Minute)
	must(err)
	_, err = writer.FinishUpdate(bg, lease, mustRunning(t, writer, s.ID), ark.ResultSuccess, ark.StatusChange{Status: ark.StatusRunning, Progress: 100})
	must(err)
	_, _, err = writer.UpdateService(bg, "p", s.ID, ark.ServiceUpdate{Status: &stopped})
	must(err)
	expect("stop", s.ID)
	must(writer.DeleteServices(bg, "p", s.ID))
	expect("delete", s.ID)
}

func mustRunning(t *testing.T, db interface {
	RunningUpdate(context.Context, string) (*ark.UpdateLog, error)
}, id string) int64 {
	t.Helper()
	l, err := db.RunningUpdate(context.Background(), id)
	if err != nil || l == nil {
		t.Fatalf("RunningUpdate = %v, %v", l, err)
	}
	return l.UpdateTime
}
