package main

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"time"

	"github.com/arkserve/arkserve/internal/ark"
	"github.com/arkserve/arkserve/internal/rowcodec"
	"github.com/arkserve/arkserve/internal/sqlite"
)

// The bulk loader. Writing 1,000,000 update-log entries through the store API takes one write
// transaction per update and per finish (hours on this machine). Instead one template service is
// taken through its whole life by the real store API (sqlite.DB: CreateService, FinishUpdate,
// UpdateService, SetStatus, as the HTTP API and the engine call them, with a pinned clock) in a
// scratch database, and its rows are copied into the target database once per service by
// INSERT ... SELECT, with the service's id and name substituted and every time shifted. What
// differs between services is therefore exactly what differs when the store API writes them:
// ids, names, times. verifySeed checks that by replaying sampled services through the store API
// and comparing every row and the store's answers.
//
// The services end stopped (no instances), so a server started on the data dir has nothing to
// roll out: the figures are the control plane's.

// seedPlan is what to load: services×entries update-log entries in a project.
type seedPlan struct {
	ProjectID string
	Owner     string
	Services  int
	Entries   int       // per service, at least 1 (the deployment)
	Start     time.Time // the first service's creation
	Prefix    string    // service names are Prefix-00000, ...
}

// seedModels are the two model versions the services alternate between (so each update really
// changes the configuration and the service_models rows).
func seedModels(projectID, owner string) [2]*ark.Model {
	var out [2]*ark.Model
	for i := range out {
		out[i] = &ark.Model{ID: fmt.Sprintf("00000000-0000-4000-8000-%012d", i+1), ProjectID: projectID, Owner: owner,
			Name: "bench-model", Version: fmt.Sprintf("1.0.%d", i), SourceLocation: "/nonexistent/bench-model",
			ModelType: ark.ModelTypeCustom, Runtime: "arkserve", Status: ark.ModelPublished,
			CreatedAt: time.UnixMilli(1_700_000_000_000)}
	}
	return out
}

// serviceID and serviceName are the i-th service's.
func (p seedPlan) serviceID(i int) string {
	return fmt.Sprintf("5eed%04x-0000-4000-8000-%012x", len(p.Prefix)%0x10000, i)
}
func (p seedPlan) serviceName(i int) string { return fmt.Sprintf("%s-%05d", p.Prefix, i) }

// shift is how much later than the template the i-th service lives: services are created 1 s
// apart, and their updates interleave.
func (p seedPlan) shift(i int) time.Duration { return time.Duration(i) * time.Second }

// stepsPerEntry is how far the pinned clock moves per store call in replay.
const step = 20 * time.Second

// replay takes one service through its life with the store API: deployed, its first entry
// finished SUCCESS; entries-1 configuration updates, each finished SUCCESS as the engine does;
// then stopped. The clock starts at t0 and moves by step per call.
func replay(ctx context.Context, db *sqlite.DB, p seedPlan, models [2]*ark.Model, id, name string, t0 time.Time) error {
	clock := t0
	db.Now = func() time.Time { return clock }
	defer func() { db.Now = time.Now }()
	tick := func() { clock = clock.Add(step) }
	cfg := func(k int) []ark.ServiceConfig {
		return []ark.ServiceConfig{{ModelID: models[k%2].ID, Weight: 100, Specification: "arkserve.local.small",
			InstanceCount: 1 + k%3, Envs: map[string]string{"BENCH_ENTRY": fmt.Sprint(k)}}}
	}
	running := ark.StatusChange{Status: ark.StatusRunning, Progress: 100}
	s := &ark.Service{ID: id, ProjectID: p.ProjectID, Owner: p.Owner, Name: name, Description: "bench service",
		InferType: ark.InferRealTime, LoadBalancerPolicy: "ROUND_ROBIN", Config: cfg(0)}
	entry, err := db.CreateService(ctx, s)
	if err != nil {
		return fmt.Errorf("create service: %w", err)
	}
	// The engine's writes carry the service's lease.
	lease, _, err := db.AcquireLease(ctx, id, "bench-seed", time.Hour)
	if err != nil {
		return err
	}
	tick()
	if _, err := db.FinishUpdate(ctx, lease, entry.UpdateTime, ark.ResultSuccess, running,
		ark.NormalEvent(fmt.Sprintf(ark.EventStarted, name))); err != nil {
		return err
	}
	for k := 1; k < p.Entries; k++ {
		tick()
		_, entry, err := db.UpdateService(ctx, p.ProjectID, id, ark.ServiceUpdate{Config: cfg(k)})
		if err != nil {
			return fmt.Errorf("update %d: %w", k, err)
		}
		tick()
		if _, err := db.FinishUpdate(ctx, lease, entry.UpdateTime, ark.ResultSuccess, running,
			ark.NormalEvent("The service has been updated.")); err != nil {
			return err
		}
	}
	tick()
	stopped := ark.StatusStopped
	if _, _, err := db.UpdateService(ctx, p.ProjectID, id, ark.ServiceUpdate{Status: &stopped}); err != nil {
		return fmt.Errorf("stop: %w", err)
	}
	tick()
	return db.SetStatus(ctx, lease, ark.StatusChange{Status: ark.StatusStopped}, ark.NormalEvent(ark.EventStopped))
}

// Columns that hold epoch milliseconds (0 = none), shifted per service.
var timeColumns = map[string]bool{"publish_at": true, "update_time": true, "operation_time": true,
	"transition_at": true, "due_time": true, "finished_at": true, "occur_time": true}

// cloneSelect is the SELECT list that copies the template's columns: ?1 is the new service id, ?2
// the new name, ?3 the shift in ms, ?4 the template's name.
func cloneSelect(cols string, idCol string) string {
	var out []string
	for _, c := range strings.Split(cols, ",") {
		c = strings.TrimSpace(c)
		switch {
		case c == idCol:
			out = append(out, "?1")
		case idCol == "id" && c == "name":
			out = append(out, "?2")
		case c == "info":
			out = append(out, "replace(info, ?4, ?2)")
		case timeColumns[c]:
			out = append(out, fmt.Sprintf("CASE WHEN %s = 0 THEN 0 ELSE %s + ?3 END", c, c))
		default:
			out = append(out, c)
		}
	}
	return strings.Join(out, ", ")
}

const eventCols = "service_id, type, info, occur_time"

// seed loads p into the SQLite database at path (migrated, with p's project in it): the models,
// then p.Services copies of a template service. It reports progress to logf.
func seed(ctx context.Context, path string, p seedPlan, logf func(string, ...any)) error {
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		return err
	}
	models := seedModels(p.ProjectID, p.Owner)
	for _, m := range models {
		if err := db.CreateModel(ctx, m); err != nil && ark.ErrorCode(err) != ark.EModelExists {
			db.Close()
			return err
		}
	}
	if err := db.Close(); err != nil {
		return err
	}

	// The template, through the store API, in a scratch database with the same project and models.
	dir, err := os.MkdirTemp("", "arkbench-template-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	tmplPath := filepath.Join(dir, "template.db")
	if err := copyIdentity(ctx, path, tmplPath); err != nil {
		return err
	}
	tdb, err := sqlite.Open(ctx, tmplPath)
	if err != nil {
		return err
	}
	for _, m := range models {
		if err := tdb.CreateModel(ctx, m); err != nil {
			tdb.Close()
			return err
		}
	}
	tmplID, tmplName := "00000000-0000-4000-8000-7e3b1a7e0000", "arkbench-template-service"
	t0 := time.Now()
	err = replay(ctx, tdb, p, models, tmplID, tmplName, p.Start)
	if cerr := tdb.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("template: %w", err)
	}
	logf("template service (%d entries) through the store API in %v", p.Entries, time.Since(t0).Round(time.Millisecond))

	raw, err := sql.Open("sqlite", "file:"+path+"?_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_pragma=busy_timeout(10000)")
	if err != nil {
		return err
	}
	defer raw.Close()
	raw.SetMaxOpenConns(1)
	conn, err := raw.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `ATTACH DATABASE ? AS tmpl`, "file:"+tmplPath+"?mode=ro"); err != nil {
		return fmt.Errorf("attach template: %w", err)
	}
	stmts := []string{
		`INSERT INTO services (` + rowcodec.ServiceColumns + `) SELECT ` + cloneSelect(rowcodec.ServiceColumns, "id") + ` FROM tmpl.services WHERE id = ?5`,
		`INSERT INTO update_logs (` + rowcodec.LogColumns + `) SELECT ` + cloneSelect(rowcodec.LogColumns, "service_id") + ` FROM tmpl.update_logs WHERE service_id = ?5 ORDER BY update_time`,
		`INSERT INTO service_models (service_id, model_id) SELECT ?1, model_id FROM tmpl.service_models WHERE service_id = ?5 AND ?2 = ?2 AND ?3 = ?3 AND ?4 = ?4`,
		`INSERT INTO events (` + eventCols + `) SELECT ` + cloneSelect(eventCols, "service_id") + ` FROM tmpl.events WHERE service_id = ?5 ORDER BY id`,
	}
	t0 = time.Now()
	const batch = 500
	for lo := 0; lo < p.Services; lo += batch {
		tx, err := conn.BeginTx(ctx, nil)
		if err != nil {
			return err
		}
		var prepared []*sql.Stmt
		for _, q := range stmts {
			st, err := tx.PrepareContext(ctx, q)
			if err != nil {
				tx.Rollback()
				return fmt.Errorf("prepare %s: %w", q, err)
			}
			prepared = append(prepared, st)
		}
		for i := lo; i < min(lo+batch, p.Services); i++ {
			for _, st := range prepared {
				if _, err := st.ExecContext(ctx, p.serviceID(i), p.serviceName(i), p.shift(i).Milliseconds(), tmplName, tmplID); err != nil {
					tx.Rollback()
					return fmt.Errorf("service %d: %w", i, err)
				}
			}
		}
		if err := tx.Commit(); err != nil {
			return err
		}
		if hi := min(lo+batch, p.Services); hi%5000 == 0 || hi == p.Services {
			logf("loaded %d/%d services (%d entries) in %v", hi, p.Services, hi*p.Entries, time.Since(t0).Round(time.Millisecond))
		}
	}
	if _, err := conn.ExecContext(ctx, `DETACH DATABASE tmpl`); err != nil {
		return err
	}
	_, err = conn.ExecContext(ctx, `PRAGMA wal_checkpoint(TRUNCATE)`)
	return err
}

// copyIdentity creates a database at dst with src's domains, projects and users (what the rows of
// services refer to), through a migrated store so that the schema is the store's.
func copyIdentity(ctx context.Context, src, dst string) error {
	db, err := sqlite.Open(ctx, dst)
	if err != nil {
		return err
	}
	if err := db.Close(); err != nil {
		return err
	}
	raw, err := sql.Open("sqlite", "file:"+dst)
	if err != nil {
		return err
	}
	defer raw.Close()
	raw.SetMaxOpenConns(1)
	if _, err := raw.ExecContext(ctx, `ATTACH DATABASE ? AS src`, "file:"+src+"?mode=ro"); err != nil {
		return err
	}
	for _, t := range []string{"domains", "projects", "users"} {
		if _, err := raw.ExecContext(ctx, `INSERT INTO `+t+` SELECT * FROM src.`+t); err != nil {
			return fmt.Errorf("copy %s: %w", t, err)
		}
	}
	_, err = raw.ExecContext(ctx, `DETACH DATABASE src`)
	return err
}

// verifySeed replays sampled services of p through the store API into a scratch database and
// checks that the loaded database holds exactly the same rows for them, and that the store reads
// them back the same (service, update logs, every ?update_time lookup).
func verifySeed(ctx context.Context, path string, p seedPlan, samples int) error {
	dir, err := os.MkdirTemp("", "arkbench-verify-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	refPath := filepath.Join(dir, "ref.db")
	if err := copyIdentity(ctx, path, refPath); err != nil {
		return err
	}
	ref, err := sqlite.Open(ctx, refPath)
	if err != nil {
		return err
	}
	defer ref.Close()
	got, err := sqlite.Open(ctx, path)
	if err != nil {
		return err
	}
	defer got.Close()
	models := seedModels(p.ProjectID, p.Owner)
	for _, m := range models {
		if err := ref.CreateModel(ctx, m); err != nil {
			return err
		}
	}
	idx := []int{0, p.Services - 1}
	r := rand.New(rand.NewPCG(1, 2))
	for len(idx) < samples && len(idx) < p.Services {
		idx = append(idx, r.IntN(p.Services))
	}
	for _, i := range idx {
		id, name := p.serviceID(i), p.serviceName(i)
		if _, err := ref.FindService(ctx, p.ProjectID, id); err != nil {
			if err := replay(ctx, ref, p, models, id, name, p.Start.Add(p.shift(i))); err != nil {
				return fmt.Errorf("replay service %d: %w", i, err)
			}
		}
		for _, q := range []struct{ table, cols, where string }{
			{"services", rowcodec.ServiceColumns, "id = ?"},
			{"update_logs", rowcodec.LogColumns, "service_id = ? ORDER BY update_time"},
			{"service_models", "service_id, model_id", "service_id = ? ORDER BY model_id"},
			{"events", eventCols, "service_id = ? ORDER BY id"},
		} {
			want, err := dumpRows(ctx, refPath, q.table, q.cols, q.where, id)
			if err != nil {
				return err
			}
			have, err := dumpRows(ctx, path, q.table, q.cols, q.where, id)
			if err != nil {
				return err
			}
			if len(want) == 0 || !reflect.DeepEqual(want, have) {
				return fmt.Errorf("service %d: table %s: loaded rows differ from the store's:\nloaded %v\nstore  %v", i, q.table, clip(have), clip(want))
			}
		}
		ws, wl, err := ref.UpdateLogs(ctx, p.ProjectID, id, nil)
		if err != nil {
			return err
		}
		gs, gl, err := got.UpdateLogs(ctx, p.ProjectID, id, nil)
		if err != nil {
			return err
		}
		if len(gl) != p.Entries || !reflect.DeepEqual(ws, gs) || !reflect.DeepEqual(wl, gl) {
			return fmt.Errorf("service %d: UpdateLogs reads back %d entries, differently from the store's own", i, len(gl))
		}
		for _, l := range wl {
			_, one, err := got.UpdateLogs(ctx, p.ProjectID, id, &l.UpdateTime)
			if err != nil {
				return err
			}
			if len(one) != 1 || !reflect.DeepEqual(one[0], l) {
				return fmt.Errorf("service %d: ?update_time=%d reads back %v", i, l.UpdateTime, one)
			}
		}
	}
	return nil
}

func dumpRows(ctx context.Context, path, table, cols, where string, arg any) ([][]any, error) {
	db, err := sql.Open("sqlite", "file:"+path+"?"+url.Values{"_pragma": {"query_only(1)"}}.Encode())
	if err != nil {
		return nil, err
	}
	defer db.Close()
	rows, err := db.QueryContext(ctx, `SELECT `+cols+` FROM `+table+` WHERE `+where, arg)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	n := len(strings.Split(cols, ","))
	var out [][]any
	for rows.Next() {
		vals := make([]any, n)
		ptrs := make([]any, n)
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		out = append(out, vals)
	}
	return out, errors.Join(rows.Err(), rows.Close())
}

func clip(v any) string {
	s := fmt.Sprint(v)
	if len(s) > 600 {
		s = s[:600] + "..."
	}
	return s
}
