package rollout

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arkserve/arkserve/internal/ark"
)

// fakeStore is an in-memory Store that follows the contract documented in store.go, plus the
// status guard of the SQLite store (the engine may not, for example, turn a stopping service into a
// running one: such a SetStatus changes nothing). Its user* methods play the HTTP layer.
type fakeStore struct {
	mu       sync.Mutex
	services map[string]*fakeService
	models   map[string]*ark.Model
	now      int64
}

type fakeService struct {
	svc     ark.Service
	deleted bool
	logs    []*ark.UpdateLog // oldest first
	events  []ark.Event
}

var _ Store = (*fakeStore)(nil)

func newFakeStore() *fakeStore {
	return &fakeStore{services: map[string]*fakeService{}, models: map[string]*ark.Model{}, now: time.Now().UnixMilli()}
}

// clone deep-copies v through JSON (configs are JSON snapshots in the real store too).
func clone[T any](v T) T {
	var out T
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	if err := json.Unmarshal(b, &out); err != nil {
		panic(err)
	}
	return out
}

func (f *fakeStore) ServicesToReconcile(ctx context.Context) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	for id, s := range f.services {
		switch {
		case s.deleted, s.running() != nil:
		case slices.Contains([]string{ark.StatusDeploying, ark.StatusStopping, ark.StatusRunning,
			ark.StatusConcerning, ark.StatusDeleting}, s.svc.Status):
		default:
			continue
		}
		ids = append(ids, id)
	}
	return ids, nil
}

func (s *fakeService) running() *ark.UpdateLog {
	for i := len(s.logs) - 1; i >= 0; i-- {
		if s.logs[i].Result == ark.ResultRunning {
			return s.logs[i]
		}
	}
	return nil
}

func (f *fakeStore) ServiceByID(ctx context.Context, id string) (*ark.Service, bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.services[id]
	if !ok {
		return nil, false, ark.Errorf(ark.EServiceNotFound, "Service %s does not exist.", id)
	}
	svc := s.svc
	svc.Config = clone(s.svc.Config)
	return &svc, s.deleted, nil
}

func (f *fakeStore) RunningUpdate(ctx context.Context, serviceID string) (*ark.UpdateLog, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.services[serviceID]
	if !ok {
		return nil, nil
	}
	if l := s.running(); l != nil {
		c := clone(*l)
		return &c, nil
	}
	return nil, nil
}

func (f *fakeStore) FindModelByID(ctx context.Context, id string) (*ark.Model, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	m, ok := f.models[id]
	if !ok {
		return nil, ark.Errorf(ark.EModelNotFound, "Model (%s) does not exist.", id)
	}
	c := *m
	return &c, nil
}

func (f *fakeStore) FinishUpdate(ctx context.Context, serviceID string, updateTime int64, result string, st ark.StatusChange, events ...ark.Event) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.services[serviceID]
	if !ok {
		return false, nil
	}
	for _, l := range s.logs {
		if l.UpdateTime != updateTime || l.Result != ark.ResultRunning {
			continue
		}
		l.Result = result
		l.FinishedAt = time.Now()
		if result == ark.ResultFail && len(l.Previous) > 0 {
			s.svc.Config = clone(l.Previous)
		}
		s.setStatus(st)
		s.events = append(s.events, events...)
		return true, nil
	}
	return false, nil
}

// allowedFrom mirrors the SQLite store's guard on the engine's status reports.
var allowedFrom = map[string][]string{
	ark.StatusDeploying:  {ark.StatusDeploying},
	ark.StatusRunning:    {ark.StatusDeploying, ark.StatusRunning, ark.StatusConcerning},
	ark.StatusConcerning: {ark.StatusDeploying, ark.StatusRunning, ark.StatusConcerning},
	ark.StatusFailed:     {ark.StatusDeploying, ark.StatusRunning, ark.StatusConcerning, ark.StatusFailed},
	ark.StatusStopped:    {ark.StatusStopping, ark.StatusStopped, ark.StatusRunning, ark.StatusConcerning},
	ark.StatusStopping:   {ark.StatusRunning, ark.StatusConcerning, ark.StatusStopping},
}

func (s *fakeService) setStatus(st ark.StatusChange) {
	if s.deleted || !slices.Contains(allowedFrom[st.Status], s.svc.Status) {
		return
	}
	s.svc.Status, s.svc.Progress, s.svc.ErrorMsg = st.Status, st.Progress, st.ErrorMsg
}

func (f *fakeStore) SetStatus(ctx context.Context, serviceID string, st ark.StatusChange, events ...ark.Event) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s, ok := f.services[serviceID]; ok {
		s.setStatus(st)
		s.events = append(s.events, events...)
	}
	return nil
}

func (f *fakeStore) PurgeService(ctx context.Context, serviceID string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s, ok := f.services[serviceID]; ok && s.deleted {
		delete(f.services, serviceID)
	}
	return nil
}

// --- the HTTP layer's side ---

func (f *fakeStore) addModel(m *ark.Model) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.models[m.ID] = m
}

// userDeploy creates a service (deploying, first entry RUNNING) and returns its id.
func (f *fakeStore) userDeploy(name string, cfg []ark.ServiceConfig) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := ark.NewUUID()
	s := &fakeService{svc: ark.Service{ID: id, Name: name, Status: ark.StatusDeploying}}
	f.services[id] = s
	f.accept(s, cfg)
	s.events = append(s.events, ark.Event{Type: ark.EventNormal, Info: ark.EventDeploying})
	return id
}

// userUpdate accepts a new configuration (RUNNING entry; previous only when it was serving).
func (f *fakeStore) userUpdate(t *testing.T, id string, cfg []ark.ServiceConfig) int64 {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.services[id]
	if s.running() != nil || s.svc.Status == ark.StatusDeploying || s.svc.Status == ark.StatusStopping {
		t.Fatalf("update of a busy service (status %s)", s.svc.Status)
	}
	return f.accept(s, cfg)
}

func (f *fakeStore) accept(s *fakeService, cfg []ark.ServiceConfig) int64 {
	f.now++
	var prev []ark.ServiceConfig
	if s.svc.Status == ark.StatusRunning || s.svc.Status == ark.StatusConcerning {
		prev = clone(s.svc.Config)
	}
	s.logs = append(s.logs, &ark.UpdateLog{ServiceID: s.svc.ID, UpdateTime: f.now, Result: ark.ResultRunning,
		Config: clone(cfg), Previous: prev})
	s.svc.Config = clone(cfg)
	s.svc.Status, s.svc.Progress, s.svc.ErrorMsg = ark.StatusDeploying, 0, ""
	return f.now
}

// userStatus plays PUT status=running|stopped.
func (f *fakeStore) userStatus(id, want string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.services[id]
	switch want {
	case ark.StatusStopped:
		s.svc.Status = ark.StatusStopping
	case ark.StatusRunning:
		s.svc.Status, s.svc.Progress, s.svc.ErrorMsg = ark.StatusDeploying, 0, ""
	}
}

func (f *fakeStore) userDelete(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := f.services[id]
	s.deleted, s.svc.Status = true, ark.StatusDeleting
}

// --- observations ---

type snapshot struct {
	exists bool
	svc    ark.Service
	logs   []ark.UpdateLog
	events []ark.Event
}

func (f *fakeStore) get(id string) snapshot {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.services[id]
	if !ok {
		return snapshot{}
	}
	out := snapshot{exists: true, svc: s.svc, events: slices.Clone(s.events)}
	out.svc.Config = clone(s.svc.Config)
	for _, l := range s.logs {
		out.logs = append(out.logs, clone(*l))
	}
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
