package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"iter"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/arkserve/arkserve/internal/ark"
	"github.com/arkserve/arkserve/internal/postgres"
	"github.com/arkserve/arkserve/internal/postgres/pgtest"
	"github.com/arkserve/arkserve/internal/sqlite"
	"github.com/jackc/pgx/v5"
)

// dumper is a store that can list its tables (sqlite.DB, postgres.DB).
type dumper interface {
	Dump(ctx context.Context, fn func(table string, columns []string, rows iter.Seq2[[]any, error]) error) error
}

// tables returns each table's rows as sorted, engine-neutral lines "col=value ...": booleans as
// 0/1, text and bytes quoted.
func tables(t *testing.T, d dumper) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	err := d.Dump(context.Background(), func(table string, columns []string, rows iter.Seq2[[]any, error]) error {
		out[table] = []string{}
		for vals, err := range rows {
			if err != nil {
				return err
			}
			var b strings.Builder
			for i, v := range vals {
				switch x := v.(type) {
				case bool:
					v = map[bool]int64{false: 0, true: 1}[x]
				case []byte:
					v = fmt.Sprintf("%q", x)
				case string:
					v = fmt.Sprintf("%q", x)
				case int32:
					v = int64(x)
				}
				fmt.Fprintf(&b, "%s=%v ", columns[i], v)
			}
			out[table] = append(out[table], b.String())
		}
		slices.Sort(out[table])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestMigrateCoversEveryTable: every SQLite table, with every column, has a PostgreSQL
// counterpart, so admin migrate copies it. A new SQLite migration fails this test until
// internal/postgres/migration has the same table.
func TestMigrateCoversEveryTable(t *testing.T) {
	lite, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "arkserve.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer lite.Close()
	pg, err := postgres.Open(context.Background(), pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	columns := func(d dumper) map[string][]string {
		out := map[string][]string{}
		err := d.Dump(context.Background(), func(table string, cols []string, _ iter.Seq2[[]any, error]) error {
			out[table] = slices.Sorted(slices.Values(cols))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	want, got := columns(lite), columns(pg)
	for table, cols := range want {
		if !slices.Equal(got[table], cols) {
			t.Errorf("SQLite table %s %v; PostgreSQL has %v: add it to internal/postgres/migration", table, cols, got[table])
		}
	}
	if len(want) < 10 {
		t.Fatalf("SQLite lists %d tables: %v", len(want), want)
	}
}

// TestAdminMigrate copies a populated SQLite database into PostgreSQL with arkserve admin migrate
// and compares both, table by table and through the stores' methods; a second run is refused
// until --force.
func TestAdminMigrate(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "arkserve.db")
	lite, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer lite.Close()
	clock := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	lite.Now = func() time.Time { return clock }
	projects := populate(t, lite, func(d time.Duration) { clock = clock.Add(d) })

	dsn := pgtest.NewDatabase(t)
	var stdout, stderr bytes.Buffer
	start := time.Now()
	if err := run(ctx, []string{"admin", "migrate", "--from", "sqlite:" + path, "--to", dsn}, &stdout, &stderr); err != nil {
		t.Fatalf("admin migrate: %v\n%s", err, stderr.String())
	}
	t.Logf("admin migrate took %v:\n%s", time.Since(start), stdout.String())
	for _, line := range []string{"update_logs", "events", "access_keys", "services", "models", "copied sqlite:"} {
		if !strings.Contains(stdout.String(), line) {
			t.Errorf("output lacks %q:\n%s", line, stdout.String())
		}
	}
	pg, err := postgres.Open(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()

	// The copy is analyzed: the planner has statistics of the copied rows at once.
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var analyzed bool
	if err := conn.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_stats WHERE tablename = 'update_logs')`).Scan(&analyzed); err != nil || !analyzed {
		t.Errorf("update_logs has no planner statistics after the migration (%v)", err)
	}

	// Table by table, row by row.
	want, got := tables(t, lite), tables(t, pg)
	for table, rows := range want {
		if !slices.Equal(got[table], rows) {
			t.Errorf("table %s:\nsqlite   %q\npostgres %q", table, rows, got[table])
		}
	}
	if len(want["update_logs"]) < 5 || len(want["events"]) < 10 || len(want["access_keys"]) != 1 {
		t.Fatalf("populate wrote too little: %d update logs, %d events, %d access keys", len(want["update_logs"]), len(want["events"]), len(want["access_keys"]))
	}

	// Through the stores: the same answers, update logs byte for byte.
	same := func(what string, a, b any) {
		t.Helper()
		ja, _ := json.Marshal(a)
		jb, _ := json.Marshal(b)
		if !bytes.Equal(ja, jb) || !reflect.DeepEqual(a, b) {
			t.Errorf("%s:\nsqlite   %s\npostgres %s", what, ja, jb)
		}
	}
	for _, p := range projects {
		ls, _, err1 := lite.ListServices(ctx, ark.ServiceFilter{ProjectID: p, Limit: 1000})
		ps, _, err2 := pg.ListServices(ctx, ark.ServiceFilter{ProjectID: p, Limit: 1000})
		must(t, err1, err2)
		same("services of "+p, ls, ps)
		lm, _, err1 := lite.ListModels(ctx, ark.ModelFilter{ProjectID: p, Limit: 1000})
		pm, _, err2 := pg.ListModels(ctx, ark.ModelFilter{ProjectID: p, Limit: 1000})
		must(t, err1, err2)
		same("models of "+p, lm, pm)
		for _, s := range ls {
			_, ll, err1 := lite.UpdateLogs(ctx, p, s.ID, nil)
			_, pl, err2 := pg.UpdateLogs(ctx, p, s.ID, nil)
			must(t, err1, err2)
			same("update logs of "+s.Name, ll, pl)
			_, le, _, err1 := lite.ListEvents(ctx, ark.EventFilter{ProjectID: p, ServiceID: s.ID, Limit: 1000})
			_, pe, _, err2 := pg.ListEvents(ctx, ark.EventFilter{ProjectID: p, ServiceID: s.ID, Limit: 1000})
			must(t, err1, err2)
			same("events of "+s.Name, le, pe)
		}
	}
	lu, err1 := lite.ListUsers(ctx)
	pu, err2 := pg.ListUsers(ctx)
	must(t, err1, err2)
	same("users", lu, pu)
	for _, u := range lu {
		la, err1 := lite.RoleAssignments(ctx, u.ID)
		pa, err2 := pg.RoleAssignments(ctx, u.ID)
		must(t, err1, err2)
		same("roles of "+u.Name, la, pa)
	}
	lk, err1 := lite.ListAccessKeys(ctx, "")
	pk, err2 := pg.ListAccessKeys(ctx, "")
	must(t, err1, err2)
	same("access keys", lk, pk)
	lr, err1 := lite.RevokedTokens(ctx, clock)
	pr, err2 := pg.RevokedTokens(ctx, clock)
	must(t, err1, err2)
	same("revoked tokens", lr, pr)
	ids, err := lite.ServicesToReconcile(ctx, "test")
	must(t, err)
	for _, id := range ids {
		ls, ld, err1 := lite.ServiceByID(ctx, id)
		ps, pd, err2 := pg.ServiceByID(ctx, id)
		must(t, err1, err2)
		same("service "+id, []any{ls, ld}, []any{ps, pd})
	}

	// The copy goes on where the source stopped: new events get new ids.
	lease, _, err := pg.AcquireLease(ctx, ids[0], "test", time.Minute)
	must(t, err)
	must(t, pg.SetStatus(ctx, lease, ark.StatusChange{Status: ark.StatusRunning}, ark.Event{Info: "after the migration"}))

	// The admin commands work on the copy.
	stdout.Reset()
	if err := run(ctx, []string{"admin", "--data-dir", t.TempDir(), "--database", dsn, "user", "list"}, &stdout, &stderr); err != nil || !strings.Contains(stdout.String(), "alice") {
		t.Fatalf("admin --database %s user list: %v\n%s", dsn, err, stdout.String())
	}

	// A second run finds the target not empty; --force replaces it.
	stdout.Reset()
	err = run(ctx, []string{"admin", "migrate", "--from", "sqlite:" + filepath.Dir(path), "--to", dsn}, &stdout, &stderr)
	if err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("migrate into a non-empty database = %v; want refused", err)
	}
	if err := run(ctx, []string{"admin", "migrate", "--force", "--from", "sqlite:" + filepath.Dir(path), "--to", dsn}, &stdout, &stderr); err != nil {
		t.Fatalf("migrate --force: %v", err)
	}
	if got := tables(t, pg); !reflect.DeepEqual(got, want) {
		t.Errorf("after --force the copy differs from the source")
	}
}

func must(t *testing.T, errs ...error) {
	t.Helper()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}

// populate writes a bit of everything through the store's methods and returns the project ids.
func populate(t *testing.T, db *sqlite.DB, advance func(time.Duration)) []string {
	t.Helper()
	ctx := context.Background()
	p1, p2 := ark.NewHexID(), ark.NewHexID()
	must(t, db.CreateDomain(ctx, &ark.Domain{ID: "default", Name: "Default", Enabled: true}))
	must(t, db.CreateDomain(ctx, &ark.Domain{ID: ark.NewHexID(), Name: "Off", Enabled: false}))
	must(t, db.CreateProject(ctx, &ark.Project{ID: p1, DomainID: "default", Name: "p1", Description: "first", Enabled: true}))
	must(t, db.CreateProject(ctx, &ark.Project{ID: p2, DomainID: "default", Name: "p2", Enabled: false}))
	alice := &ark.User{ID: ark.NewHexID(), DomainID: "default", Name: "alice", PasswordHash: "$argon2id$x", Enabled: true}
	bob := &ark.User{ID: ark.NewHexID(), DomainID: "default", Name: "bob", PasswordHash: "h", Enabled: false}
	must(t, db.CreateUser(ctx, alice), db.CreateUser(ctx, bob))
	must(t, db.AssignRole(ctx, ark.RoleAssignment{UserID: alice.ID, ProjectID: p1, Role: ark.RoleAdmin}),
		db.AssignRole(ctx, ark.RoleAssignment{UserID: bob.ID, ProjectID: p2, Role: ark.RoleMember}))
	must(t, db.CreateAccessKey(ctx, &ark.AccessKey{ID: "AK00000000000000000A", UserID: alice.ID, Description: "ci",
		SealedSecret: []byte{0, 1, 2, 0xff, 'x'}}))
	must(t, db.RevokeToken(ctx, "tok", db.Now().Add(time.Hour)))

	model := func(p, name, version string) *ark.Model {
		m := &ark.Model{ID: ark.NewUUID(), ProjectID: p, Owner: alice.ID, Name: name, Version: version, Description: "ünïcode ✓",
			SourceLocation: "/tmp/m", ModelType: ark.ModelTypeImage, Runtime: "arkserve", Status: ark.ModelPublished,
			WorkspaceID: "0", SourceCopy: "true", InstallType: []string{"real-time"}, Cmd: "exec server --port=$PORT",
			Health: ark.DefaultHealth(), Size: 12345, InputParams: json.RawMessage(`[{"url":"/","method":"post","param_name":"images"}]`)}
		must(t, db.CreateModel(ctx, m))
		advance(time.Millisecond)
		return m
	}
	m1, m2 := model(p1, "mnist", "1.0.0"), model(p1, "mnist", "1.0.1")
	om := model(p2, "other", "0.1")
	cfg := func(m *ark.Model, w, n int) []ark.ServiceConfig {
		return []ark.ServiceConfig{{ModelID: m.ID, Weight: w, Specification: "arkserve.local.small", InstanceCount: n,
			Envs: map[string]string{"A": "1"}}}
	}
	finish := func(id, result string) {
		l, err := db.RunningUpdate(ctx, id)
		must(t, err)
		lease, _, err := db.AcquireLease(ctx, id, "test", time.Minute)
		must(t, err)
		ok, err := db.FinishUpdate(ctx, lease, l.UpdateTime, result, ark.StatusChange{Status: ark.StatusRunning, Progress: 100},
			ark.Event{Type: ark.EventAbnormal, Info: "finished " + result})
		must(t, err)
		if !ok {
			t.Fatal("FinishUpdate = false")
		}
		advance(time.Second)
	}
	s := &ark.Service{ID: ark.NewUUID(), ProjectID: p1, Owner: alice.ID, Name: "svc", InferType: ark.InferRealTime,
		Description: "with \"quotes\" and\nnewlines", Config: cfg(m1, 100, 1),
		Schedule: []ark.Schedule{{Type: "stop", TimeUnit: "HOURS", Duration: 2}}}
	_, err := db.CreateService(ctx, s)
	must(t, err)
	finish(s.ID, ark.ResultSuccess)
	for i, next := range []struct {
		m      *ark.Model
		result string
	}{{m2, ark.ResultSuccess}, {m1, ark.ResultFail}, {m2, ark.ResultSuccess}, {m1, ""}} {
		_, _, err := db.UpdateService(ctx, p1, s.ID, ark.ServiceUpdate{Config: cfg(next.m, 100, i+2)})
		must(t, err)
		if next.result != "" {
			finish(s.ID, next.result)
		}
	}
	must(t, db.AddCallCounts(ctx, map[string]ark.CallCounts{s.ID: {Invocations: 10000, Failures: 3}}))
	gone := &ark.Service{ID: ark.NewUUID(), ProjectID: p1, Owner: alice.ID, Name: "gone", Config: cfg(m1, 100, 1)}
	_, err = db.CreateService(ctx, gone)
	must(t, err)
	must(t, db.DeleteServices(ctx, p1, gone.ID))
	o := &ark.Service{ID: ark.NewUUID(), ProjectID: p2, Owner: bob.ID, Name: "svc", Config: cfg(om, 100, 1)}
	_, err = db.CreateService(ctx, o)
	must(t, err)
	finish(o.ID, ark.ResultFail)
	return []string{p1, p2}
}
