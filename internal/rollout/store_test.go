package rollout

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/arkserve/arkserve/internal/ark"
	"github.com/arkserve/arkserve/internal/sqlite"
)

var _ Store = (*sqlite.DB)(nil)

// testStore is the real SQLite store on a temporary file; its user* methods play the HTTP layer.
type testStore struct {
	*sqlite.DB
	t   *testing.T
	pid string
}

func newTestStore(t *testing.T) *testStore {
	t.Helper()
	ctx := context.Background()
	db, err := sqlite.Open(ctx, filepath.Join(t.TempDir(), "arkserve.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	s := &testStore{DB: db, t: t, pid: ark.NewHexID()}
	s.must(db.CreateDomain(ctx, &ark.Domain{ID: "default", Name: "Default", Enabled: true}))
	s.must(db.CreateProject(ctx, &ark.Project{ID: s.pid, DomainID: "default", Name: "p", Enabled: true}))
	return s
}

func (s *testStore) must(err error) {
	s.t.Helper()
	if err != nil {
		s.t.Fatal(err)
	}
}

// testHolder is the replica identity of the tests' engines: a test that plays an engine that ran
// before (a server restart) writes with a lease of the same holder, as a replica does across its
// restarts.
const testHolder = "replica-1"

// lease acquires the service's lease for testHolder.
func (s *testStore) lease(id string) ark.Lease {
	s.t.Helper()
	l, ok, err := s.AcquireLease(context.Background(), id, testHolder, time.Minute)
	s.must(err)
	if !ok {
		s.t.Fatalf("AcquireLease(%s): not acquired", id)
	}
	return l
}

func (s *testStore) addModel(m *ark.Model) {
	s.t.Helper()
	m.ProjectID = s.pid
	s.must(s.CreateModel(context.Background(), m))
}

// userDeploy creates a service (deploying, first entry RUNNING) and returns its id.
func (s *testStore) userDeploy(name string, cfg []ark.ServiceConfig) string {
	s.t.Helper()
	svc := &ark.Service{ID: ark.NewUUID(), ProjectID: s.pid, Name: name, InferType: ark.InferRealTime, Config: cfg}
	_, err := s.CreateService(context.Background(), svc)
	s.must(err)
	return svc.ID
}

// userUpdate accepts a new configuration and returns its entry's update_time.
func (s *testStore) userUpdate(t *testing.T, id string, cfg []ark.ServiceConfig) int64 {
	t.Helper()
	_, entry, err := s.UpdateService(context.Background(), s.pid, id, ark.ServiceUpdate{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	return entry.UpdateTime
}

// userStatus plays PUT status=running|stopped.
func (s *testStore) userStatus(id, want string) {
	s.t.Helper()
	_, _, err := s.UpdateService(context.Background(), s.pid, id, ark.ServiceUpdate{Status: &want})
	s.must(err)
}

func (s *testStore) userDelete(id string) {
	s.t.Helper()
	s.must(s.DeleteServices(context.Background(), s.pid, id))
}

// snapshot is what the store says about a service; logs oldest first.
type snapshot struct {
	exists bool
	svc    ark.Service
	logs   []ark.UpdateLog
	events []ark.Event
}

func (s *testStore) get(id string) snapshot {
	s.t.Helper()
	ctx := context.Background()
	svc, deleted, err := s.ServiceByID(ctx, id)
	if ark.ErrorCode(err) == ark.EServiceNotFound {
		return snapshot{}
	}
	s.must(err)
	out := snapshot{exists: true, svc: *svc}
	if deleted {
		return out // logs and events of a deleted service are no longer readable
	}
	_, logs, err := s.UpdateLogs(ctx, s.pid, id, nil)
	s.must(err)
	slices.Reverse(logs)
	out.logs = logs
	_, out.events, _, err = s.ListEvents(ctx, ark.EventFilter{ProjectID: s.pid, ServiceID: id, Order: "asc", Limit: 1000})
	s.must(err)
	return out
}

func (s snapshot) result(updateTime int64) string {
	for _, l := range s.logs {
		if l.UpdateTime == updateTime {
			return l.Result
		}
	}
	return ""
}

func (s snapshot) eventText() string {
	var b strings.Builder
	for _, e := range s.events {
		b.WriteString(e.Type + ": " + e.Info + "\n")
	}
	return b.String()
}

func (s snapshot) hasEvent(typ, substr string) bool {
	for _, e := range s.events {
		if e.Type == typ && strings.Contains(e.Info, substr) {
			return true
		}
	}
	return false
}
