package postgres_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/arkserve/arkserve/internal/ark"
	"github.com/arkserve/arkserve/internal/postgres"
	"github.com/arkserve/arkserve/internal/postgres/pgtest"
)

// listen runs db.Listen until the test ends and returns what it hears: service ids and node ids.
func listen(t *testing.T, db *postgres.DB) (services, nodes <-chan string) {
	ctx, cancel := context.WithCancel(context.Background())
	s, n := make(chan string, 64), make(chan string, 64)
	done := make(chan error, 1)
	go func() { done <- db.Listen(ctx, func(id string) { s <- id }, func(id string) { n <- id }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Listen = %v", err)
		}
	})
	return s, n
}

// TestListenServices: a server listening on the database hears of the services another server
// deploys, updates, stops and deletes, once each write commits; a write that fails says nothing.
func TestListenServices(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	writer := MustOpen(t, dsn)
	heard, _ := listen(t, MustOpen(t, dsn))

	bg := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	m := seedModel(t, writer)
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

// TestListenNodes: a server listening on the database hears of the nodes whose placements another
// server changes (the engine's node operations, and the starts, stops and deletions of the
// service placed on them), once each write commits; a write that rolls back says nothing.
func TestListenNodes(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	writer := MustOpen(t, dsn)
	// Services are heard too: they must not block the listener.
	services, heard := listen(t, MustOpen(t, dsn))
	go func() {
		for range services {
		}
	}()

	bg := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	m := seedModel(t, writer)
	node := ark.NewUUID()
	cfg := ark.ServiceConfig{ModelID: m.ID, Weight: 100, InstanceCount: 1, Nodes: []string{node}}
	s := &ark.Service{ID: ark.NewUUID(), ProjectID: "p", Name: "edge", InferType: ark.InferEdge, Config: []ark.ServiceConfig{cfg}}
	entry, err := writer.CreateService(bg, s)
	must(err)
	lease, _, err := writer.AcquireLease(bg, s.ID, "t", time.Minute)
	must(err)
	place := func(node string) ark.EdgePlacement {
		return ark.EdgePlacement{ServiceID: s.ID, NodeID: node, UpdateTime: entry.UpdateTime, Config: cfg}
	}
	op := []ark.EdgeOp{{Operation: ark.EdgeDeploy, NodeID: node, State: ark.OpDispatched, Config: &cfg}}
	saveOps := func(set []ark.EdgePlacement, unset []string) {
		t.Helper()
		ok, err := writer.SaveEdgeOps(bg, lease, entry.UpdateTime, op, set, unset)
		must(err)
		if !ok {
			t.Fatal("SaveEdgeOps saved nothing")
		}
	}
	// expect takes the next len(want) nodes heard, in any order (one write notifies its nodes
	// in no particular order).
	expect := func(what string, want ...string) {
		t.Helper()
		var got []string
		for range want {
			select {
			case id := <-heard:
				got = append(got, id)
			case <-time.After(30 * time.Second):
				t.Fatalf("%s: heard %v; want %v", what, got, want)
			}
		}
		slices.Sort(got)
		want = slices.Sorted(slices.Values(want))
		if !slices.Equal(got, want) {
			t.Fatalf("%s: heard %v; want %v", what, got, want)
		}
	}

	// The listener may connect after the first write: place the service on made-up nodes, one
	// more each time, until one is heard; the nodes placed after it are heard next, in order.
	var warm []string
	for i := 0; ; i++ {
		warm = append(warm, "warm-"+string(rune('a'+i)))
		saveOps([]ark.EdgePlacement{place(warm[i])}, nil)
		var got string
		select {
		case got = <-heard:
		case <-time.After(500 * time.Millisecond):
			continue
		}
		j := slices.Index(warm, got)
		if j < 0 {
			t.Fatalf("heard %s; want one of %v", got, warm)
		}
		for _, w := range warm[j+1:] {
			expect("warm-up", w)
		}
		break
	}
	// A deletion that rolls back (the second service does not exist) notifies nobody, although
	// the first service has placements; the next write is heard next.
	if err := writer.DeleteServices(bg, "p", s.ID, ark.NewUUID()); ark.ErrorCode(err) != ark.EServiceNotFound {
		t.Fatalf("DeleteServices of a missing service = %v", err)
	}
	// The engine's node operations: a placement set and placements removed.
	saveOps([]ark.EdgePlacement{place(node)}, warm)
	expect("node operations", append([]string{node}, warm...)...)

	// The status changes that start or stop what the nodes run: a schedule that runs out (the
	// engine), a start (the API), a deletion. Those that do not (RUNNING, STOPPED) say nothing.
	_, err = writer.FinishUpdate(bg, lease, entry.UpdateTime, ark.ResultSuccess, ark.StatusChange{Status: ark.StatusRunning, Progress: 100})
	must(err)
	must(writer.SetStatus(bg, lease, ark.StatusChange{Status: ark.StatusStopping}))
	expect("auto-stop", node)
	must(writer.SetStatus(bg, lease, ark.StatusChange{Status: ark.StatusStopped}))
	running := ark.StatusRunning
	_, _, err = writer.UpdateService(bg, "p", s.ID, ark.ServiceUpdate{Status: &running})
	must(err)
	expect("start", node)
	must(writer.DeleteServices(bg, "p", s.ID))
	expect("delete", node)
	select {
	case id := <-heard:
		t.Fatalf("heard %s after the deletion", id)
	case <-time.After(200 * time.Millisecond):
	}
}

// seedModel creates project p (domain default) and a model in it.
func seedModel(t *testing.T, db *postgres.DB) *ark.Model {
	t.Helper()
	bg := context.Background()
	m := &ark.Model{ID: ark.NewUUID(), ProjectID: "p", Name: "m", Version: "1.0.0", Health: ark.DefaultHealth()}
	for _, err := range []error{
		db.CreateDomain(bg, &ark.Domain{ID: "default", Name: "Default", Enabled: true}),
		db.CreateProject(bg, &ark.Project{ID: "p", DomainID: "default", Name: "p", Enabled: true}),
		db.CreateModel(bg, m),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	return m
}
