package rollout

import (
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/arkserve/arkserve/internal/ark"
	"github.com/arkserve/arkserve/internal/runtime/process"
	"github.com/arkserve/arkserve/internal/sqlite"
)

var _ Store = (*sqlite.DB)(nil)

// TestWithSQLite runs a service's life against the real store: deploy, update, a failed update
// rolled back, stop, start, delete.
func TestWithSQLite(t *testing.T) {
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "arkserve.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	pid := ark.NewHexID()
	if err := db.CreateDomain(ctx, &ark.Domain{ID: "default", Name: "Default", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateProject(ctx, &ark.Project{ID: pid, DomainID: "default", Name: "p", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	model := func(version string, env ...string) string {
		m := &ark.Model{ID: ark.NewUUID(), ProjectID: pid, Name: "echo", Version: version, SourceLocation: t.TempDir(),
			ModelType: ark.ModelTypeImage, Status: ark.ModelPublished,
			Cmd:    strings.Join(append(append([]string{"TESTMODEL_VERSION=" + version}, env...), "exec", testModel), " "),
			Health: ark.Health{PeriodSeconds: 1, FailureThreshold: 2}}
		if err := db.CreateModel(ctx, m); err != nil {
			t.Fatal(err)
		}
		return m.ID
	}
	v1, v2, bad := model("1.0.1"), model("1.0.2"), model("1.0.9", "TESTMODEL_EXIT=3")

	rt := &process.Runtime{Dir: filepath.Join(t.TempDir(), "instances"), Logger: slog.New(slog.DiscardHandler)}
	e := &Engine{Store: db, Runtime: ProcessRuntime(rt), Logger: slog.New(slog.DiscardHandler),
		ResyncInterval: 100 * time.Millisecond, DefaultDeployTimeout: 30 * time.Second}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- e.Run(runCtx) }()
	t.Cleanup(func() { cancel(); <-done })
	h := &harness{engine: e}

	newest := func(id string) (*ark.Service, ark.UpdateLog) {
		s, logs, err := db.UpdateLogs(ctx, pid, id, nil)
		if err != nil || len(logs) == 0 {
			t.Fatalf("UpdateLogs: %v, %d entries", err, len(logs))
		}
		return s, logs[0] // newest first
	}
	events := func(id string) string {
		_, evs, _, err := db.ListEvents(ctx, ark.EventFilter{ProjectID: pid, ServiceID: id, Limit: 1000})
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		for _, ev := range evs {
			b.WriteString(ev.Type + ": " + ev.Info + "\n")
		}
		return b.String()
	}
	wait := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(40 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("waiting for %s", what)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitEntry := func(id, result, status string) {
		t.Helper()
		wait("entry "+result+", status "+status, func() bool {
			s, l := newest(id)
			return l.Result == result && s.Status == status
		})
	}

	svc := &ark.Service{ID: ark.NewUUID(), ProjectID: pid, Name: "echo", InferType: ark.InferRealTime,
		Config: []ark.ServiceConfig{conf(v1, 100, 2)}}
	if _, err := db.CreateService(ctx, svc); err != nil {
		t.Fatal(err)
	}
	id := svc.ID
	e.Notify(id)
	waitEntry(id, ark.ResultSuccess, ark.StatusRunning)
	if got := h.versions(t, id); !equal(got, []string{"1.0.1", "1.0.1"}) {
		t.Fatalf("endpoints answer %v; want 2 x 1.0.1", got)
	}

	update := func(cfg ...ark.ServiceConfig) {
		t.Helper()
		if _, _, err := db.UpdateService(ctx, pid, id, ark.ServiceUpdate{Config: cfg}); err != nil {
			t.Fatal(err)
		}
		e.Notify(id)
	}
	update(conf(v2, 100, 1))
	waitEntry(id, ark.ResultSuccess, ark.StatusRunning)
	if got := h.versions(t, id); !equal(got, []string{"1.0.2"}) {
		t.Fatalf("endpoints answer %v; want 1.0.2", got)
	}

	update(conf(v1, 50, 1), conf(bad, 50, 1))
	waitEntry(id, ark.ResultFail, ark.StatusRunning)
	if s, _ := newest(id); len(s.Config) != 1 || s.Config[0].ModelID != v2 {
		t.Errorf("config after the rollback = %+v; want the previous one (1.0.2)", s.Config)
	}
	if got := h.versions(t, id); !equal(got, []string{"1.0.2"}) {
		t.Fatalf("after the rollback endpoints answer %v; want 1.0.2", got)
	}
	if ev := events(id); !strings.Contains(ev, ark.EventRolledBack) || !strings.Contains(ev, "exit status 3") {
		t.Errorf("events:\n%s", ev)
	}

	stopped, running := ark.StatusStopped, ark.StatusRunning
	if _, _, err := db.UpdateService(ctx, pid, id, ark.ServiceUpdate{Status: &stopped}); err != nil {
		t.Fatal(err)
	}
	e.Notify(id)
	wait("stopped", func() bool { s, _ := newest(id); return s.Status == ark.StatusStopped })
	if eps := e.Endpoints(id); len(eps) != 0 {
		t.Errorf("endpoints of a stopped service: %v", eps)
	}
	if _, _, err := db.UpdateService(ctx, pid, id, ark.ServiceUpdate{Status: &running}); err != nil {
		t.Fatal(err)
	}
	e.Notify(id)
	wait("running", func() bool { s, _ := newest(id); return s.Status == ark.StatusRunning })
	if got := h.versions(t, id); !equal(got, []string{"1.0.2"}) {
		t.Fatalf("after the start endpoints answer %v; want 1.0.2", got)
	}

	if err := db.DeleteService(ctx, pid, id); err != nil {
		t.Fatal(err)
	}
	e.Notify(id)
	wait("purged", func() bool {
		_, _, err := db.ServiceByID(ctx, id)
		return ark.ErrorCode(err) == ark.EServiceNotFound
	})
	if eps := e.Endpoints(id); len(eps) != 0 {
		t.Errorf("endpoints of a deleted service: %v", eps)
	}
}
