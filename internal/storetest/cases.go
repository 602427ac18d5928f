package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/arkserve/arkserve/internal/ark"
)

func testIdentity(t *testing.T, f *fixture) {
	d, err := f.s.FindDomain(f.ctx, "Default")
	must(t, err)
	if d == nil || d.ID != "default" {
		t.Fatalf("FindDomain(Default) = %+v; want id default", d)
	}
	if d, _ := f.s.FindDomain(f.ctx, "nope"); d != nil {
		t.Fatalf("FindDomain(nope) = %+v; want nil", d)
	}
	wantCode(t, f.s.CreateProject(f.ctx, &ark.Project{ID: ark.NewHexID(), DomainID: "default", Name: "p1"}), ark.EInvalidParam)
	u := &ark.User{ID: ark.NewHexID(), DomainID: "default", Name: "alice", PasswordHash: "h", Enabled: true}
	must(t, f.s.CreateUser(f.ctx, u))
	wantCode(t, f.s.CreateUser(f.ctx, &ark.User{ID: ark.NewHexID(), DomainID: "default", Name: "alice", PasswordHash: "h"}), ark.EInvalidParam)
	got, err := f.s.FindUserByName(f.ctx, "default", "alice")
	must(t, err)
	if got == nil || got.ID != u.ID || !got.Enabled || got.PasswordHash != "h" {
		t.Fatalf("FindUserByName = %+v; want %+v", got, u)
	}
	must(t, f.s.SetPassword(f.ctx, u.ID, "h2"))
	if got, _ := f.s.FindUser(f.ctx, u.ID); got.PasswordHash != "h2" {
		t.Fatalf("after SetPassword hash = %q; want h2", got.PasswordHash)
	}
	a := ark.RoleAssignment{UserID: u.ID, ProjectID: f.project, Role: ark.RoleMember}
	must(t, f.s.AssignRole(f.ctx, a))
	must(t, f.s.AssignRole(f.ctx, a)) // idempotent
	as, err := f.s.RoleAssignments(f.ctx, u.ID)
	must(t, err)
	if len(as) != 1 || as[0] != a {
		t.Fatalf("RoleAssignments = %+v; want [%+v]", as, a)
	}
	must(t, f.s.UnassignRole(f.ctx, a))
	if as, _ := f.s.RoleAssignments(f.ctx, u.ID); len(as) != 0 {
		t.Fatalf("after UnassignRole = %+v; want none", as)
	}
	ps, err := f.s.ListProjects(f.ctx)
	must(t, err)
	if len(ps) != 2 {
		t.Fatalf("ListProjects = %d projects; want 2", len(ps))
	}
	p, err := f.s.FindProjectByName(f.ctx, "default", "p2")
	must(t, err)
	if p == nil || p.ID != f.other {
		t.Fatalf("FindProjectByName(p2) = %+v; want id %s", p, f.other)
	}
}

func testRevokedTokens(t *testing.T, f *fixture) {
	now := f.clock.Now()
	must(t, f.s.RevokeToken(f.ctx, "old", now.Add(-time.Minute)))
	must(t, f.s.RevokeToken(f.ctx, "live", now.Add(time.Hour)))
	got, err := f.s.RevokedTokens(f.ctx, now)
	must(t, err)
	if _, ok := got["live"]; !ok || len(got) != 1 {
		t.Fatalf("RevokedTokens = %v; want only live", got)
	}
}

func testModelCreateFind(t *testing.T, f *fixture) {
	m := f.model(f.project, "mnist", "1.0.0")
	wantCode(t, f.s.CreateModel(f.ctx, &ark.Model{ID: ark.NewUUID(), ProjectID: f.project, Name: "mnist", Version: "1.0.0"}), ark.EModelExists)
	// The same name and version in another project is another model.
	f.model(f.other, "mnist", "1.0.0")
	got, err := f.s.FindModel(f.ctx, f.project, m.ID)
	must(t, err)
	if got.Name != "mnist" || got.Cmd != "exec server" || got.Health != ark.DefaultHealth() || !slices.Equal(got.InstallType, []string{"real-time"}) {
		t.Fatalf("FindModel = %+v", got)
	}
	_, err = f.s.FindModel(f.ctx, f.other, m.ID)
	wantCode(t, err, ark.EModelNotFound)
	if _, err := f.s.FindModelByID(f.ctx, m.ID); err != nil {
		t.Fatal(err)
	}
}

func testModelList(t *testing.T, f *fixture) {
	for _, v := range []string{"1.0.0", "1.0.1", "1.0.2"} {
		f.model(f.project, "alpha", v)
	}
	f.model(f.project, "beta_x", "1.0.0")
	f.model(f.other, "alpha", "9.9.9")
	list := func(filter ark.ModelFilter) ([]string, int) {
		t.Helper()
		filter.ProjectID = f.project
		if filter.Limit == 0 {
			filter.Limit = 1000
		}
		ms, total, err := f.s.ListModels(f.ctx, filter)
		must(t, err)
		var out []string
		for _, m := range ms {
			out = append(out, m.Name+"@"+m.Version)
		}
		return out, total
	}
	if got, total := list(ark.ModelFilter{}); total != 4 || got[0] != "beta_x@1.0.0" {
		t.Fatalf("default list = %v (%d); want newest first, 4", got, total)
	}
	if got, total := list(ark.ModelFilter{Order: "asc", Offset: 1, Limit: 2}); total != 4 || !slices.Equal(got, []string{"alpha@1.0.1", "alpha@1.0.2"}) {
		t.Fatalf("paged list = %v (%d)", got, total)
	}
	if _, total := list(ark.ModelFilter{Name: "alp"}); total != 3 {
		t.Fatalf("fuzzy name total = %d; want 3", total)
	}
	// Fuzzy matches ignore case, on every engine (SQLite's LIKE, PostgreSQL's ILIKE).
	if _, total := list(ark.ModelFilter{Name: "ALP"}); total != 3 {
		t.Fatalf("fuzzy name ALP total = %d; want 3", total)
	}
	// "_" is literal, not a LIKE wildcard.
	if _, total := list(ark.ModelFilter{Name: "a_p"}); total != 0 {
		t.Fatalf("name a_p total = %d; want 0", total)
	}
	if got, _ := list(ark.ModelFilter{Name: "beta_x", ExactMatch: true}); !slices.Equal(got, []string{"beta_x@1.0.0"}) {
		t.Fatalf("exact = %v", got)
	}
	if _, total := list(ark.ModelFilter{Version: "1.0.1"}); total != 1 {
		t.Fatalf("version total = %d; want 1", total)
	}
	if _, total := list(ark.ModelFilter{NotModelType: ark.ModelTypeImage}); total != 0 {
		t.Fatalf("not_model_type total = %d; want 0", total)
	}
}

func testModelDelete(t *testing.T, f *fixture) {
	a := f.model(f.project, "m", "1.0.0")
	b := f.model(f.project, "m", "1.0.1")
	c := f.model(f.project, "m", "1.0.2")
	f.service(f.project, "svc", cfg(b, 100, 1))
	_, err := f.s.DeleteModel(f.ctx, f.other, a.ID, false)
	wantCode(t, err, ark.EModelNotFound)
	res, err := f.s.DeleteModel(f.ctx, f.project, a.ID, true)
	must(t, err)
	if !slices.Equal(res.Deleted, []string{a.ID, c.ID}) || len(res.Failed) != 1 || res.Failed[0].ModelID != b.ID ||
		res.Failed[0].Err.Code != ark.EModelInUse {
		t.Fatalf("cascade delete = %+v", res)
	}
	if _, err := f.s.FindModel(f.ctx, f.project, b.ID); err != nil {
		t.Fatalf("model in use was deleted: %v", err)
	}
}

func testServiceCreate(t *testing.T, f *fixture) {
	m := f.model(f.project, "mnist", "1.0.0")
	s := f.service(f.project, "svc", cfg(m, 100, 1))
	if s.Status != ark.StatusDeploying || s.Config[0].ModelName != "mnist" || s.Config[0].ModelVersion != "1.0.0" {
		t.Fatalf("created service = %+v", s)
	}
	got, err := f.s.FindService(f.ctx, f.project, s.ID)
	must(t, err)
	if got.Name != "svc" || got.Status != ark.StatusDeploying || got.PublishAt.IsZero() || len(got.Config) != 1 {
		t.Fatalf("FindService = %+v", got)
	}
	logs := f.logs(s.ID)
	if len(logs) != 1 || logs[0].Result != ark.ResultRunning || logs[0].UpdateTime != f.clock.Now().UnixMilli() ||
		logs[0].Config[0].ModelName != "mnist" {
		t.Fatalf("first entry = %+v", logs)
	}
	_, err = f.s.CreateService(f.ctx, &ark.Service{ID: ark.NewUUID(), ProjectID: f.project, Name: "svc", Config: []ark.ServiceConfig{cfg(m, 100, 1)}})
	wantCode(t, err, ark.EServiceExists)
	_, err = f.s.CreateService(f.ctx, &ark.Service{ID: ark.NewUUID(), ProjectID: f.project, Name: "svc2",
		Config: []ark.ServiceConfig{{ModelID: ark.NewUUID(), Weight: 100, InstanceCount: 1}}})
	wantCode(t, err, ark.EServiceModelAbsent)
	// A model of another project is not visible.
	om := f.model(f.other, "x", "1.0.0")
	_, err = f.s.CreateService(f.ctx, &ark.Service{ID: ark.NewUUID(), ProjectID: f.project, Name: "svc3", Config: []ark.ServiceConfig{cfg(om, 100, 1)}})
	wantCode(t, err, ark.EServiceModelAbsent)
	if _, total, _ := f.s.ListServices(f.ctx, ark.ServiceFilter{ProjectID: f.project, Limit: 10}); total != 1 {
		t.Fatalf("failed creates left services behind: total %d", total)
	}
}

func testServiceUpdateLogs(t *testing.T, f *fixture) {
	m1 := f.model(f.project, "mnist", "1.0.0")
	m2 := f.model(f.project, "mnist", "1.0.1")
	s := f.service(f.project, "svc", cfg(m1, 100, 1))
	f.finish(s.ID, ark.ResultSuccess)
	f.clock.Advance(time.Second)
	_, entry, err := f.s.UpdateService(f.ctx, f.project, s.ID, ark.ServiceUpdate{Config: []ark.ServiceConfig{cfg(m1, 70, 1), cfg(m2, 30, 1)}})
	must(t, err)
	if entry == nil || entry.Result != ark.ResultRunning || len(entry.Previous) != 1 {
		t.Fatalf("update entry = %+v", entry)
	}
	f.finish(s.ID, ark.ResultSuccess)
	f.clock.Advance(time.Second)
	_, _, err = f.s.UpdateService(f.ctx, f.project, s.ID, ark.ServiceUpdate{Config: []ark.ServiceConfig{cfg(m2, 100, 2)}})
	must(t, err)
	f.finish(s.ID, ark.ResultSuccess)
	logs := f.logs(s.ID)
	if len(logs) != 3 {
		t.Fatalf("%d entries; want 3", len(logs))
	}
	for i := 1; i < len(logs); i++ {
		if logs[i-1].UpdateTime <= logs[i].UpdateTime {
			t.Fatalf("entries not newest first: %d then %d", logs[i-1].UpdateTime, logs[i].UpdateTime)
		}
	}
	if logs[0].Config[0].ModelVersion != "1.0.1" || logs[0].Config[0].InstanceCount != 2 || logs[1].Config[1].Weight != 30 {
		t.Fatalf("snapshots = %+v", logs)
	}
	ut := logs[1].UpdateTime
	_, one, err := f.s.UpdateLogs(f.ctx, f.project, s.ID, &ut)
	must(t, err)
	if len(one) != 1 || one[0].UpdateTime != ut {
		t.Fatalf("UpdateLogs(update_time=%d) = %+v; want exactly that entry", ut, one)
	}
	none := int64(1)
	_, zero, err := f.s.UpdateLogs(f.ctx, f.project, s.ID, &none)
	must(t, err)
	if len(zero) != 0 {
		t.Fatalf("UpdateLogs(update_time=1) = %+v; want none", zero)
	}
	got, _ := f.s.FindService(f.ctx, f.project, s.ID)
	if got.UpdateTime.UnixMilli() != logs[0].UpdateTime || got.Status != ark.StatusRunning {
		t.Fatalf("service update_time %d status %s; want %d running", got.UpdateTime.UnixMilli(), got.Status, logs[0].UpdateTime)
	}
}

func testUpdateTimeUnique(t *testing.T, f *fixture) {
	m := f.model(f.project, "m", "1.0.0")
	s := f.service(f.project, "svc", cfg(m, 100, 1))
	// Three accepted changes within one millisecond, and one after the clock went back.
	for i := 0; i < 3; i++ {
		f.finish(s.ID, ark.ResultSuccess)
		_, _, err := f.s.UpdateService(f.ctx, f.project, s.ID, ark.ServiceUpdate{Config: []ark.ServiceConfig{cfg(m, 100, i+2)}})
		must(t, err)
	}
	f.finish(s.ID, ark.ResultSuccess)
	f.clock.Advance(-time.Hour)
	_, _, err := f.s.UpdateService(f.ctx, f.project, s.ID, ark.ServiceUpdate{Config: []ark.ServiceConfig{cfg(m, 100, 9)}})
	must(t, err)
	seen := map[int64]bool{}
	for _, l := range f.logs(s.ID) {
		if seen[l.UpdateTime] {
			t.Fatalf("update_time %d appears twice", l.UpdateTime)
		}
		seen[l.UpdateTime] = true
	}
	if len(seen) != 5 {
		t.Fatalf("%d entries; want 5", len(seen))
	}
}

func testServiceBusy(t *testing.T, f *fixture) {
	m := f.model(f.project, "m", "1.0.0")
	s := f.service(f.project, "svc", cfg(m, 100, 1))
	_, _, err := f.s.UpdateService(f.ctx, f.project, s.ID, ark.ServiceUpdate{Config: []ark.ServiceConfig{cfg(m, 100, 2)}})
	wantCode(t, err, ark.EServiceBusy)
	_, _, err = f.s.UpdateService(f.ctx, f.project, s.ID, ark.ServiceUpdate{Status: ptr(ark.StatusStopped)})
	wantCode(t, err, ark.EServiceBusy)
	// A description change is not a deployment and is allowed while one runs.
	got, _, err := f.s.UpdateService(f.ctx, f.project, s.ID, ark.ServiceUpdate{Description: ptr("new")})
	must(t, err)
	if got.Description != "new" {
		t.Fatalf("description = %q", got.Description)
	}
	if n := len(f.logs(s.ID)); n != 1 {
		t.Fatalf("refused updates wrote entries: %d", n)
	}
}

func testStatusAndConfig(t *testing.T, f *fixture) {
	m := f.model(f.project, "m", "1.0.0")
	s := f.service(f.project, "svc", cfg(m, 100, 1))
	f.finish(s.ID, ark.ResultSuccess)
	got, entry, err := f.s.UpdateService(f.ctx, f.project, s.ID, ark.ServiceUpdate{Status: ptr(ark.StatusStopped), Config: []ark.ServiceConfig{cfg(m, 100, 5)}})
	must(t, err)
	if entry != nil || got.Status != ark.StatusStopping || got.Config[0].InstanceCount != 1 {
		t.Fatalf("status+config: entry %+v status %s config %+v; want status only", entry, got.Status, got.Config)
	}
	must(t, f.s.SetStatus(f.ctx, f.lease(s.ID), ark.StatusChange{Status: ark.StatusStopped}, ark.Event{Info: ark.EventStopped}))
	got, _, err = f.s.UpdateService(f.ctx, f.project, s.ID, ark.ServiceUpdate{Status: ptr(ark.StatusRunning)})
	must(t, err)
	if got.Status != ark.StatusDeploying {
		t.Fatalf("start: status %s; want deploying", got.Status)
	}
	if n := len(f.logs(s.ID)); n != 1 {
		t.Fatalf("start/stop wrote update-log entries: %d; want 1", n)
	}
}

func testFinishFailRollsBack(t *testing.T, f *fixture) {
	m1 := f.model(f.project, "m", "1.0.0")
	m2 := f.model(f.project, "m", "1.0.1")
	s := f.service(f.project, "svc", cfg(m1, 100, 1))
	f.finish(s.ID, ark.ResultSuccess)
	first := f.logs(s.ID)[0].UpdateTime
	f.clock.Advance(time.Second)
	_, entry, err := f.s.UpdateService(f.ctx, f.project, s.ID, ark.ServiceUpdate{Config: []ark.ServiceConfig{cfg(m2, 100, 1)}})
	must(t, err)
	// While the update runs, both the new and the previous model are in use.
	res, err := f.s.DeleteModel(f.ctx, f.project, m1.ID, false)
	must(t, err)
	if len(res.Failed) != 1 {
		t.Fatalf("rollback target deletable during update: %+v", res)
	}
	ok, err := f.s.FinishUpdate(f.ctx, f.lease(s.ID), entry.UpdateTime, ark.ResultFail, ark.StatusChange{Status: ark.StatusRunning},
		ark.Event{Type: ark.EventAbnormal, Info: ark.EventRolledBack})
	must(t, err)
	if !ok {
		t.Fatal("FinishUpdate = false")
	}
	got, _ := f.s.FindService(f.ctx, f.project, s.ID)
	if got.Config[0].ModelID != m1.ID || got.UpdateTime.UnixMilli() != first || got.Status != ark.StatusRunning {
		t.Fatalf("after FAIL: config %+v update_time %d; want previous config and time %d", got.Config, got.UpdateTime.UnixMilli(), first)
	}
	if l := f.logs(s.ID); l[0].Result != ark.ResultFail || l[0].Config[0].ModelID != m2.ID {
		t.Fatalf("failed entry = %+v; want FAIL with its own config", l[0])
	}
	// A finished entry is never edited.
	ok, err = f.s.FinishUpdate(f.ctx, f.lease(s.ID), entry.UpdateTime, ark.ResultSuccess, ark.StatusChange{Status: ark.StatusRunning})
	must(t, err)
	if ok || f.logs(s.ID)[0].Result != ark.ResultFail {
		t.Fatal("a finished entry was finished again")
	}
	// m2 is no longer needed.
	res, err = f.s.DeleteModel(f.ctx, f.project, m2.ID, false)
	must(t, err)
	if len(res.Deleted) != 1 {
		t.Fatalf("model of a failed update still in use: %+v", res)
	}
}

func testFinishFirstDeployFail(t *testing.T, f *fixture) {
	m := f.model(f.project, "m", "1.0.0")
	s := f.service(f.project, "svc", cfg(m, 100, 1))
	l, _ := f.s.RunningUpdate(f.ctx, s.ID)
	ok, err := f.s.FinishUpdate(f.ctx, f.lease(s.ID), l.UpdateTime, ark.ResultFail, ark.StatusChange{Status: ark.StatusFailed, ErrorMsg: "exit 3"})
	must(t, err)
	got, _ := f.s.FindService(f.ctx, f.project, s.ID)
	if !ok || got.Status != ark.StatusFailed || got.ErrorMsg != "exit 3" || len(got.Config) != 1 {
		t.Fatalf("after failed deploy: %+v", got)
	}
	if r, _ := f.s.RunningUpdate(f.ctx, s.ID); r != nil {
		t.Fatalf("RunningUpdate = %+v; want nil", r)
	}
	// A failed service accepts a new configuration; with nothing serving there is no rollback target.
	_, entry, err := f.s.UpdateService(f.ctx, f.project, s.ID, ark.ServiceUpdate{Config: []ark.ServiceConfig{cfg(m, 100, 2)}})
	must(t, err)
	if len(entry.Previous) != 0 {
		t.Fatalf("Previous = %+v; want none for a failed service", entry.Previous)
	}
}

func testStatusGuard(t *testing.T, f *fixture) {
	m := f.model(f.project, "m", "1.0.0")
	s := f.service(f.project, "svc", cfg(m, 100, 1))
	f.finish(s.ID, ark.ResultSuccess)
	_, _, err := f.s.UpdateService(f.ctx, f.project, s.ID, ark.ServiceUpdate{Status: ptr(ark.StatusStopped)})
	must(t, err)
	// The engine's late report must not undo the user's stop.
	must(t, f.s.SetStatus(f.ctx, f.lease(s.ID), ark.StatusChange{Status: ark.StatusConcerning}))
	if got, _ := f.s.FindService(f.ctx, f.project, s.ID); got.Status != ark.StatusStopping {
		t.Fatalf("status = %s; want stopping", got.Status)
	}
}

func testServiceList(t *testing.T, f *fixture) {
	m := f.model(f.project, "m", "1.0.0")
	m2 := f.model(f.project, "m", "1.0.1")
	for _, n := range []string{"a", "b", "c"} {
		f.service(f.project, n, cfg(m, 100, 1))
		f.clock.Advance(time.Second)
	}
	f.service(f.project, "d", cfg(m2, 100, 1))
	f.service(f.other, "a", cfg(f.model(f.other, "m", "1.0.0"), 100, 1))
	list := func(fl ark.ServiceFilter) ([]string, int) {
		t.Helper()
		fl.ProjectID = f.project
		if fl.Limit == 0 {
			fl.Limit = 1000
		}
		ss, total, err := f.s.ListServices(f.ctx, fl)
		must(t, err)
		var out []string
		for _, s := range ss {
			out = append(out, s.Name)
		}
		return out, total
	}
	if got, total := list(ark.ServiceFilter{}); total != 4 || !slices.Equal(got, []string{"d", "c", "b", "a"}) {
		t.Fatalf("default = %v (%d)", got, total)
	}
	if got, total := list(ark.ServiceFilter{SortBy: "service_name", Order: "asc", Offset: 1, Limit: 2}); total != 4 || !slices.Equal(got, []string{"b", "c"}) {
		t.Fatalf("paged = %v (%d)", got, total)
	}
	if got, _ := list(ark.ServiceFilter{ModelID: m2.ID}); !slices.Equal(got, []string{"d"}) {
		t.Fatalf("by model = %v", got)
	}
	if _, total := list(ark.ServiceFilter{Status: ark.StatusRunning}); total != 0 {
		t.Fatalf("running = %d; want 0", total)
	}
}

func testServiceDelete(t *testing.T, f *fixture) {
	m := f.model(f.project, "m", "1.0.0")
	s := f.service(f.project, "svc", cfg(m, 100, 1))
	wantCode(t, f.s.DeleteServices(f.ctx, f.other, s.ID), ark.EServiceNotFound)
	// All or nothing: a known id next to an unknown one stays.
	wantCode(t, f.s.DeleteServices(f.ctx, f.project, s.ID, ark.NewUUID()), ark.EServiceNotFound)
	if _, err := f.s.FindService(f.ctx, f.project, s.ID); err != nil {
		t.Fatalf("a failed delete deleted %s: %v", s.ID, err)
	}
	must(t, f.s.DeleteServices(f.ctx, f.project, s.ID))
	_, err := f.s.FindService(f.ctx, f.project, s.ID)
	wantCode(t, err, ark.EServiceNotFound)
	_, _, err = f.s.UpdateLogs(f.ctx, f.project, s.ID, nil)
	wantCode(t, err, ark.EServiceNotFound)
	// The name is free again at once; the engine still sees the deleted service until it purges it.
	f.service(f.project, "svc", cfg(m, 100, 1))
	_, deleted, err := f.s.ServiceByID(f.ctx, s.ID)
	must(t, err)
	ids, err := f.s.ServicesToReconcile(f.ctx, "engine-a")
	must(t, err)
	if !deleted || !slices.Contains(ids, s.ID) {
		t.Fatalf("deleted %v, to reconcile %v", deleted, ids)
	}
	must(t, f.s.PurgeService(f.ctx, f.lease(s.ID)))
	_, _, err = f.s.ServiceByID(f.ctx, s.ID)
	wantCode(t, err, ark.EServiceNotFound)
}

func testEvents(t *testing.T, f *fixture) {
	m := f.model(f.project, "m", "1.0.0")
	s := f.service(f.project, "svc", cfg(m, 100, 1))
	f.clock.Advance(time.Second)
	must(t, f.s.SetStatus(f.ctx, f.lease(s.ID), ark.StatusChange{Status: ark.StatusFailed, ErrorMsg: "x"},
		ark.Event{Type: ark.EventAbnormal, Info: "instance exited with status 3"}))
	_, evs, total, err := f.s.ListEvents(f.ctx, ark.EventFilter{ProjectID: f.project, ServiceID: s.ID, Limit: 10})
	must(t, err)
	if total != 2 || evs[0].Type != ark.EventAbnormal || evs[1].Info != ark.EventDeploying {
		t.Fatalf("events = %+v (%d); want newest first", evs, total)
	}
	_, evs, total, err = f.s.ListEvents(f.ctx, ark.EventFilter{ProjectID: f.project, ServiceID: s.ID, Type: ark.EventNormal, Order: "asc", Limit: 10})
	must(t, err)
	if total != 1 || evs[0].Info != ark.EventDeploying {
		t.Fatalf("normal events = %+v", evs)
	}
	_, _, total, _ = f.s.ListEvents(f.ctx, ark.EventFilter{ProjectID: f.project, ServiceID: s.ID, Info: "status 3", Limit: 10})
	if total != 1 {
		t.Fatalf("info filter total = %d; want 1", total)
	}
	_, _, total, _ = f.s.ListEvents(f.ctx, ark.EventFilter{ProjectID: f.project, ServiceID: s.ID, Start: f.clock.Now(), Limit: 10})
	if total != 1 {
		t.Fatalf("start_time filter total = %d; want 1", total)
	}
}

func testProjectIsolation(t *testing.T, f *fixture) {
	m := f.model(f.project, "m", "1.0.0")
	s := f.service(f.project, "svc", cfg(m, 100, 1))
	_, err := f.s.FindService(f.ctx, f.other, s.ID)
	wantCode(t, err, ark.EServiceNotFound)
	_, _, err = f.s.UpdateService(f.ctx, f.other, s.ID, ark.ServiceUpdate{Description: ptr("x")})
	wantCode(t, err, ark.EServiceNotFound)
	_, _, _, err = f.s.ListEvents(f.ctx, ark.EventFilter{ProjectID: f.other, ServiceID: s.ID, Limit: 10})
	wantCode(t, err, ark.EServiceNotFound)
	if _, total, _ := f.s.ListServices(f.ctx, ark.ServiceFilter{ProjectID: f.other, Limit: 10}); total != 0 {
		t.Fatalf("other project lists %d services", total)
	}
}
