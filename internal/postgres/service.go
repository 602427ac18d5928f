package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/arkserve/arkserve/internal/ark"
	"github.com/arkserve/arkserve/internal/rowcodec"
)

func notFound(id string) error {
	return ark.Errorf(ark.EServiceNotFound, "Service %s does not exist.", id)
}

// rowQuerier is a pgx.Tx or the pool.
type rowQuerier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// serviceTx loads a live (not deleted) service of a project inside tx; with lock, it holds the row
// lock until tx ends, so that every change to one service waits for the one before.
func serviceTx(ctx context.Context, tx rowQuerier, projectID, id string, lock bool) (*ark.Service, error) {
	q := `SELECT ` + rowcodec.ServiceColumns + ` FROM services WHERE id = $1 AND project_id = $2`
	if lock {
		q += ` FOR UPDATE`
	}
	s, deleted, err := rowcodec.ScanService(tx.QueryRow(ctx, q, id, projectID))
	if errors.Is(err, pgx.ErrNoRows) || deleted {
		return nil, notFound(id)
	}
	return s, err
}

// resolveModels checks that every model of cfgs exists in the project and records its name and
// version in the config: the snapshot the update log keeps.
func resolveModels(ctx context.Context, tx pgx.Tx, projectID string, cfgs []ark.ServiceConfig) error {
	for i := range cfgs {
		// FOR KEY SHARE: a DeleteModel of this model waits for this transaction and then finds
		// the service that needs it (or this one waits and finds the model gone), at any isolation.
		err := tx.QueryRow(ctx, `SELECT name, version FROM models WHERE id = $1 AND project_id = $2 FOR KEY SHARE`,
			cfgs[i].ModelID, projectID).Scan(&cfgs[i].ModelName, &cfgs[i].ModelVersion)
		if errors.Is(err, pgx.ErrNoRows) {
			return ark.Errorf(ark.EServiceModelAbsent, "Model %s does not exist.", cfgs[i].ModelID)
		} else if err != nil {
			return err
		}
	}
	return nil
}

// setServiceModels records which models the service needs (its config and, while an update runs,
// the configuration it would roll back to).
func setServiceModels(ctx context.Context, tx pgx.Tx, serviceID string, cfgs ...[]ark.ServiceConfig) error {
	if _, err := tx.Exec(ctx, `DELETE FROM service_models WHERE service_id = $1`, serviceID); err != nil {
		return err
	}
	for _, cfg := range cfgs {
		for _, c := range cfg {
			if _, err := tx.Exec(ctx, `INSERT INTO service_models (service_id, model_id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, serviceID, c.ModelID); err != nil {
				return err
			}
		}
	}
	return nil
}

func insertLog(ctx context.Context, tx pgx.Tx, l *ark.UpdateLog) error {
	_, err := tx.Exec(ctx, `INSERT INTO update_logs (service_id, update_time, result, config, previous, cluster_id, extend_config)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, rowcodec.LogValues(l)...)
	return err
}

func addEvents(ctx context.Context, tx pgx.Tx, serviceID string, now int64, events ...ark.Event) error {
	for _, e := range events {
		typ, t := rowcodec.EventRow(e, now)
		if _, err := tx.Exec(ctx, `INSERT INTO events (service_id, type, info, occur_time) VALUES ($1, $2, $3, $4)`, serviceID, typ, e.Info, t); err != nil {
			return err
		}
	}
	return nil
}

// CreateService stores a new service with status deploying and, in the same transaction, its first
// update-log entry (RUNNING) and a deploy event. It fills s's model snapshots and times and returns
// the entry. ark.EServiceExists when the project has a service of that name, ark.EServiceModelAbsent
// when a model does not exist.
func (db *DB) CreateService(ctx context.Context, s *ark.Service) (*ark.UpdateLog, error) {
	var entry *ark.UpdateLog
	err := db.write(ctx, func(tx pgx.Tx) error {
		if err := resolveModels(ctx, tx, s.ProjectID, s.Config); err != nil {
			return err
		}
		now := db.Now()
		var events []ark.Event
		entry, events = ark.NewDeployment(s, now)
		vals := rowcodec.ServiceValues(s, false)
		_, err := tx.Exec(ctx, `INSERT INTO services (`+rowcodec.ServiceColumns+`) VALUES (`+placeholders(1, len(vals))+`)`, vals...)
		if isUnique(err) {
			return ark.Errorf(ark.EServiceExists, "Service %s already exists.", s.Name)
		} else if err != nil {
			return err
		}
		if err := insertLog(ctx, tx, entry); err != nil {
			return err
		}
		if err := setServiceModels(ctx, tx, s.ID, s.Config); err != nil {
			return err
		}
		if err := notifyEngines(ctx, tx, s.ID); err != nil {
			return err
		}
		return addEvents(ctx, tx, s.ID, now.UnixMilli(), events...)
	})
	return entry, err
}

// FindService returns a live service of a project; ark.EServiceNotFound.
func (db *DB) FindService(ctx context.Context, projectID, id string) (*ark.Service, error) {
	return serviceTx(ctx, db.pool, projectID, id, false)
}

// ServiceByID returns a service of any project, deleted ones included (for the engine).
func (db *DB) ServiceByID(ctx context.Context, id string) (*ark.Service, bool, error) {
	s, deleted, err := rowcodec.ScanService(db.pool.QueryRow(ctx, `SELECT `+rowcodec.ServiceColumns+` FROM services WHERE id = $1`, id))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, false, notFound(id)
	}
	return s, deleted, err
}

// ListServices returns one page of a project's live services and the total that match.
func (db *DB) ListServices(ctx context.Context, f ark.ServiceFilter) ([]*ark.Service, int, error) {
	var w where
	w.add("project_id = ?", f.ProjectID)
	w.conds = append(w.conds, "NOT deleted")
	for _, c := range []struct{ col, v string }{{"id", f.ServiceID}, {"workspace_id", f.WorkspaceID}, {"infer_type", f.InferType}, {"status", f.Status}} {
		if c.v != "" {
			w.add(c.col+" = ?", c.v)
		}
	}
	if f.Name != "" {
		w.add(`name ILIKE ? ESCAPE '\'`, rowcodec.Contains(f.Name))
	}
	if f.ModelID != "" {
		w.add(`id IN (SELECT service_id FROM service_models WHERE model_id = ?)`, f.ModelID)
	}
	sortCol, ok := rowcodec.ServiceSort(f.SortBy)
	if !ok {
		return nil, 0, fmt.Errorf("postgres: unknown service sort %q", f.SortBy)
	}
	page, args := w.page(f.Limit, f.Offset)
	var out []*ark.Service
	var total int
	err := db.read(ctx, func(tx pgx.Tx) error {
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM services WHERE `+w.String(), w.args...).Scan(&total); err != nil {
			return err
		}
		var err error
		out, err = all(ctx, tx, func(sc rowcodec.Scanner) (*ark.Service, error) {
			s, _, err := rowcodec.ScanService(sc)
			return s, err
		}, `SELECT `+rowcodec.ServiceColumns+` FROM services WHERE `+w.String()+
			` ORDER BY `+sortCol+` `+rowcodec.Order(f.Order)+`, id`+page, args...)
		return err
	})
	return out, total, err
}

// running reports whether the service has a RUNNING update-log entry.
func running(ctx context.Context, tx pgx.Tx, serviceID string) (bool, error) {
	var r bool
	err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM update_logs WHERE service_id = $1 AND result = 'RUNNING')`, serviceID).Scan(&r)
	return r, err
}

// UpdateService applies an accepted PUT. A status change (start or stop) is an event; a config
// change writes the new desired config and, in the same transaction, a RUNNING update-log entry,
// returned as the second result. When upd carries both, only the status applies. ark.EServiceBusy
// while a deployment, update or stop is in progress.
func (db *DB) UpdateService(ctx context.Context, projectID, id string, upd ark.ServiceUpdate) (*ark.Service, *ark.UpdateLog, error) {
	var s *ark.Service
	var entry *ark.UpdateLog
	err := db.locked(ctx, func(tx pgx.Tx) error {
		var err error
		if s, err = serviceTx(ctx, tx, projectID, id, true); err != nil {
			return err
		}
		was := s.Status
		now := db.Now()
		var events []ark.Event
		entry, events, err = ark.ApplyUpdate(s, upd, now, func() (bool, error) { return running(ctx, tx, s.ID) },
			func(cfg []ark.ServiceConfig) (*ark.UpdateLog, error) {
				// A copy: resolving fills in the model snapshot, and a retried transaction starts
				// again from the caller's config.
				cfg = append([]ark.ServiceConfig(nil), cfg...)
				if err := resolveModels(ctx, tx, projectID, cfg); err != nil {
					return nil, err
				}
				return acceptConfig(ctx, tx, s, cfg, now)
			})
		if err != nil {
			return err
		}
		set := make([]string, len(rowcodec.ServiceStateColumns))
		for i, c := range rowcodec.ServiceStateColumns {
			set[i] = fmt.Sprintf("%s = $%d", c, i+1)
		}
		vals := rowcodec.ServiceStateValues(s)
		if _, err := tx.Exec(ctx, `UPDATE services SET `+strings.Join(set, ", ")+fmt.Sprintf(` WHERE id = $%d`, len(vals)+1),
			append(vals, s.ID)...); err != nil {
			return err
		}
		if err := notifyEngines(ctx, tx, s.ID); err != nil {
			return err
		}
		if onNodes(was) != onNodes(s.Status) { // a start, a stop, an update of a stopped service
			if err := notifyServiceNodes(ctx, tx, s.ID); err != nil {
				return err
			}
		}
		return addEvents(ctx, tx, s.ID, now.UnixMilli(), events...)
	})
	if err != nil {
		return nil, nil, err
	}
	return s, entry, nil
}

// acceptConfig makes cfg the service's desired configuration and writes its RUNNING entry, at an
// update_time unique within the service (the caller holds the service's row lock).
func acceptConfig(ctx context.Context, tx pgx.Tx, s *ark.Service, cfg []ark.ServiceConfig, now time.Time) (*ark.UpdateLog, error) {
	var last int64
	if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(update_time), 0) FROM update_logs WHERE service_id = $1`, s.ID).Scan(&last); err != nil {
		return nil, err
	}
	entry := ark.AcceptConfig(s, cfg, ark.NextUpdateTime(now.UnixMilli(), last), now)
	if err := insertLog(ctx, tx, entry); err != nil {
		return nil, err
	}
	if err := setServiceModels(ctx, tx, s.ID, entry.Config, entry.Previous); err != nil {
		return nil, err
	}
	return entry, nil
}

// DeleteServices marks services deleted (they answer 404 from now on) and leaves it to the engine to
// stop their instances and purge them. All or nothing: ark.EServiceNotFound for the first id that
// does not exist, and then none is deleted.
func (db *DB) DeleteServices(ctx context.Context, projectID string, ids ...string) error {
	return db.write(ctx, func(tx pgx.Tx) error {
		ms := db.nowMs()
		for _, id := range ids {
			s, err := serviceTx(ctx, tx, projectID, id, true)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE services SET deleted = TRUE, status = $1, operation_time = $2, transition_at = $2 WHERE id = $3`,
				ark.StatusDeleting, ms, id); err != nil {
				return err
			}
			if err := addEvents(ctx, tx, id, ms, ark.NormalEvent(ark.EventDeleting)); err != nil {
				return err
			}
			if err := notifyEngines(ctx, tx, id); err != nil {
				return err
			}
			if onNodes(s.Status) {
				if err := notifyServiceNodes(ctx, tx, id); err != nil {
					return err
				}
			}
		}
		return nil
	})
}

// UpdateLogs returns a live service and its update-log entries, newest first; with updateTime set,
// only the entry accepted at that millisecond (none when there is no such entry).
func (db *DB) UpdateLogs(ctx context.Context, projectID, serviceID string, updateTime *int64) (*ark.Service, []ark.UpdateLog, error) {
	var s *ark.Service
	var out []ark.UpdateLog
	err := db.read(ctx, func(tx pgx.Tx) error {
		var err error
		if s, err = serviceTx(ctx, tx, projectID, serviceID, false); err != nil {
			return err
		}
		q := `SELECT ` + rowcodec.LogColumns + ` FROM update_logs WHERE service_id = $1`
		args := []any{serviceID}
		if updateTime != nil {
			q, args = q+` AND update_time = $2`, append(args, *updateTime)
		}
		out, err = all(ctx, tx, rowcodec.ScanLog, q+` ORDER BY update_time DESC`, args...)
		return err
	})
	return s, out, err
}

// ListEvents returns a live service and one page of its events with the total that match.
func (db *DB) ListEvents(ctx context.Context, f ark.EventFilter) (*ark.Service, []ark.Event, int, error) {
	var s *ark.Service
	var out []ark.Event
	var total int
	var w where
	w.add("service_id = ?", f.ServiceID)
	if f.Type != "" {
		w.add("type = ?", f.Type)
	}
	if f.Info != "" {
		w.add(`info ILIKE ? ESCAPE '\'`, rowcodec.Contains(f.Info))
	}
	if !f.Start.IsZero() {
		w.add("occur_time >= ?", f.Start.UnixMilli())
	}
	if !f.End.IsZero() {
		w.add("occur_time <= ?", f.End.UnixMilli())
	}
	page, args := w.page(f.Limit, f.Offset)
	err := db.read(ctx, func(tx pgx.Tx) error {
		var err error
		if s, err = serviceTx(ctx, tx, f.ProjectID, f.ServiceID, false); err != nil {
			return err
		}
		if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM events WHERE `+w.String(), w.args...).Scan(&total); err != nil {
			return err
		}
		o := rowcodec.Order(f.Order)
		out, err = all(ctx, tx, func(sc rowcodec.Scanner) (ark.Event, error) {
			var e ark.Event
			var t int64
			err := sc.Scan(&e.ServiceID, &e.Type, &e.Info, &t)
			e.OccurTime = rowcodec.Time(t)
			return e, err
		}, `SELECT service_id, type, info, occur_time FROM events WHERE `+w.String()+
			` ORDER BY occur_time `+o+`, id `+o+page, args...)
		return err
	})
	return s, out, total, err
}
