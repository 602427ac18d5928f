// Package storetest is the conformance suite every arkserve store passes: the same tests, run by
// each engine's own test package against a real database.
package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/arkserve/arkserve/internal/ark"
	"github.com/arkserve/arkserve/internal/cluster"
	"github.com/arkserve/arkserve/internal/gateway"
	"github.com/arkserve/arkserve/internal/httpapi"
	"github.com/arkserve/arkserve/internal/iam"
	"github.com/arkserve/arkserve/internal/rollout"
)

// Store is everything a store implements: what the HTTP layer, the engine and IAM consume.
type Store interface {
	httpapi.Store
	rollout.Store
	iam.Store
	gateway.Store
	cluster.Store
}

// Clock is a settable clock for stores with a Now field.
type Clock struct{ T time.Time }

// Now returns the clock's time.
func (c *Clock) Now() time.Time { return c.T }

// Advance moves the clock forward.
func (c *Clock) Advance(d time.Duration) { c.T = c.T.Add(d) }

// Opener opens a new, empty store whose clock reads clock.Now.
type Opener func(t *testing.T, clock *Clock) Store

// Run runs the suite.
func Run(t *testing.T, open Opener) {
	tests := []struct {
		name string
		fn   func(t *testing.T, f *fixture)
	}{
		{"Identity", testIdentity},
		{"RevokedTokens", testRevokedTokens},
		{"AccessKeys", testAccessKeys},
		{"TokenKeys", testTokenKeys},
		{"NodeCredentials", testNodeCredentials},
		{"Nodes", testNodes},
		{"EdgeRollout", testEdgeRollout},
		{"ModelCreateFind", testModelCreateFind},
		{"ModelList", testModelList},
		{"ModelDelete", testModelDelete},
		{"ServiceCreate", testServiceCreate},
		{"ServiceUpdateLogs", testServiceUpdateLogs},
		{"UpdateTimeUnique", testUpdateTimeUnique},
		{"ServiceBusy", testServiceBusy},
		{"StatusAndConfig", testStatusAndConfig},
		{"FinishFailRollsBack", testFinishFailRollsBack},
		{"FinishFirstDeployFail", testFinishFirstDeployFail},
		{"StatusGuard", testStatusGuard},
		{"ServiceList", testServiceList},
		{"ServiceDelete", testServiceDelete},
		{"Events", testEvents},
		{"ProjectIsolation", testProjectIsolation},
		{"CallCounts", testCallCounts},
		{"ConcurrentWriters", testConcurrentWriters},
		{"UpdateStorm", testUpdateStorm},
		{"Leases", testLeases},
		{"Replicas", testReplicas},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel() // each test has a store of its own
			clock := &Clock{T: time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)}
			s := open(t, clock)
			tt.fn(t, newFixture(t, s, clock))
		})
	}
}

type fixture struct {
	t       *testing.T
	s       Store
	clock   *Clock
	ctx     context.Context
	project string
	other   string
}

func newFixture(t *testing.T, s Store, clock *Clock) *fixture {
	ctx := context.Background()
	f := &fixture{t: t, s: s, clock: clock, ctx: ctx, project: ark.NewHexID(), other: ark.NewHexID()}
	must(t, s.CreateDomain(ctx, &ark.Domain{ID: "default", Name: "Default", Enabled: true}))
	must(t, s.CreateProject(ctx, &ark.Project{ID: f.project, DomainID: "default", Name: "p1", Enabled: true}))
	must(t, s.CreateProject(ctx, &ark.Project{ID: f.other, DomainID: "default", Name: "p2", Enabled: true}))
	return f
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// wantCode fails unless err carries the ModelArts code.
func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if got := ark.ErrorCode(err); got != code {
		t.Fatalf("error code = %q (%v); want %q", got, err, code)
	}
}

func (f *fixture) model(project, name, version string) *ark.Model {
	f.t.Helper()
	m := &ark.Model{ID: ark.NewUUID(), ProjectID: project, Owner: "u", Name: name, Version: version,
		SourceLocation: "/tmp/m", ModelType: ark.ModelTypeImage, Status: ark.ModelPublished, WorkspaceID: "0",
		SourceCopy: "true", InstallType: []string{"real-time"}, Cmd: "exec server", Health: ark.DefaultHealth(),
		CreatedAt: f.clock.Now()}
	must(f.t, f.s.CreateModel(f.ctx, m))
	f.clock.Advance(time.Millisecond)
	return m
}

func cfg(m *ark.Model, weight, n int) ark.ServiceConfig {
	return ark.ServiceConfig{ModelID: m.ID, Weight: weight, Specification: "modelarts.vm.cpu.2u", InstanceCount: n}
}

func (f *fixture) service(project, name string, c ...ark.ServiceConfig) *ark.Service {
	f.t.Helper()
	s := &ark.Service{ID: ark.NewUUID(), ProjectID: project, Owner: "u", Name: name, InferType: ark.InferRealTime,
		WorkspaceID: "0", Config: c}
	if _, err := f.s.CreateService(f.ctx, s); err != nil {
		f.t.Fatal(err)
	}
	return s
}

// finish ends the service's RUNNING entry with result and the matching status.
func (f *fixture) finish(id, result string) {
	f.t.Helper()
	l, err := f.s.RunningUpdate(f.ctx, id)
	must(f.t, err)
	if l == nil {
		f.t.Fatal("no RUNNING entry")
	}
	st := ark.StatusChange{Status: ark.StatusRunning, Progress: 100}
	if result == ark.ResultFail {
		st = ark.StatusChange{Status: ark.StatusRunning}
	}
	ok, err := f.s.FinishUpdate(f.ctx, f.lease(id), l.UpdateTime, result, st)
	must(f.t, err)
	if !ok {
		f.t.Fatal("FinishUpdate = false; want true")
	}
}

// lease acquires the service's lease for the holder "engine-a", as the engine does before it
// writes.
func (f *fixture) lease(id string) ark.Lease {
	f.t.Helper()
	l, ok, err := f.s.AcquireLease(f.ctx, id, "engine-a", time.Minute)
	must(f.t, err)
	if !ok {
		f.t.Fatalf("AcquireLease(%s) = not acquired", id)
	}
	return l
}

func (f *fixture) logs(id string) []ark.UpdateLog {
	f.t.Helper()
	_, logs, err := f.s.UpdateLogs(f.ctx, f.project, id, nil)
	must(f.t, err)
	return logs
}

func ptr[T any](v T) *T { return &v }
