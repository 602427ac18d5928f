package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/arkserve/arkserve/internal/ark"
	"github.com/arkserve/arkserve/internal/rowcodec"
)

const serviceCols = rowcodec.ServiceColumns

var scanService = rowcodec.ScanService

func notFound(id string) error {
	return ark.Errorf(ark.EServiceNotFound, "Service %s does not exist.", id)
}

// serviceTx loads a live (not deleted) service of a project inside tx.
func serviceTx(ctx context.Context, tx *sql.Tx, projectID, id string) (*ark.Service, error) {
	s, deleted, err := scanService(tx.QueryRowContext(ctx, `SELECT `+serviceCols+` FROM services WHERE id = ? AND project_id = ?`, id, projectID))
	if errors.Is(err, sql.ErrNoRows) || deleted {
		return nil, notFound(id)
	}
	return s, err
}

// resolveModels checks that every model of cfgs exists in the project and records its name and
// version in the config: the snapshot the update log keeps.
func resolveModels(ctx context.Context, tx *sql.Tx, projectID string, cfgs []ark.ServiceConfig) error {
	for i := range cfgs {
		err := tx.QueryRowContext(ctx, `SELECT name, version FROM models WHERE id = ? AND project_id = ?`,
			cfgs[i].ModelID, projectID).Scan(&cfgs[i].ModelName, &cfgs[i].ModelVersion)
		if errors.Is(err, sql.ErrNoRows) {
			return ark.Errorf(ark.EServiceModelAbsent, "Model %s does not exist.", cfgs[i].ModelID)
		} else if err != nil {
			return err
		}
	}
	return nil
}

// setServiceModels records which models the service needs (its config and, while an update runs,
// the configuration it would roll back to).
func setServiceModels(ctx context.Context, tx *sql.Tx, serviceID string, cfgs ...[]ark.ServiceConfig) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM service_models WHERE service_id = ?`, serviceID); err != nil {
		return err
	}
	for _, cfg := range cfgs {
		for _, c := range cfg {
			if _, err := tx.ExecContext(ctx, `INSERT OR IGNORE INTO service_models (service_id, model_id) VALUES (?, ?)`, serviceID, c.ModelID); err != nil {
				return err
			}
		}
	}
	return nil
}

// nextUpdateTime returns an acceptance time unique within the service (ark.NextUpdateTime).
func nextUpdateTime(ctx context.Context, tx *sql.Tx, serviceID string, now int64) (int64, error) {
	var last int64
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(update_time), 0) FROM update_logs WHERE service_id = ?`, serviceID).Scan(&last); err != nil {
		return 0, err
	}
	return ark.NextUpdateTime(now, last), nil
}

func insertLog(ctx context.Context, tx *sql.Tx, l *ark.UpdateLog) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO update_logs (service_id, update_time, result, config, previous, cluster_id, extend_config) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		rowcodec.LogValues(l)...)
	return err
}

func addEvents(ctx context.Context, tx *sql.Tx, serviceID string, now int64, events ...ark.Event) error {
	for _, e := range events {
		typ, t := rowcodec.EventRow(e, now)
		if _, err := tx.ExecContext(ctx, `INSERT INTO events (service_id, type, info, occur_time) VALUES (?, ?, ?, ?)`, serviceID, typ, e.Info, t); err != nil {
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
	err := db.write(ctx, func(tx *sql.Tx) error {
		if err := resolveModels(ctx, tx, s.ProjectID, s.Config); err != nil {
			return err
		}
		now := db.Now()
		ms := now.UnixMilli()
		var events []ark.Event
		entry, events = ark.NewDeployment(s, now)
		_, err := tx.ExecContext(ctx, `INSERT INTO services (`+serviceCols+`) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
			rowcodec.ServiceValues(s, 0)...)
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
		return addEvents(ctx, tx, s.ID, ms, events...)
	})
	return entry, err
}

// FindService returns a live service of a project; ark.EServiceNotFound.
func (db *DB) FindService(ctx context.Context, projectID, id string) (*ark.Service, error) {
	var s *ark.Service
	err := db.read(ctx, func(tx *sql.Tx) error {
		var err error
		s, err = serviceTx(ctx, tx, projectID, id)
		return err
	})
	return s, err
}

// ServiceByID returns a service of any project, deleted ones included (for the engine).
func (db *DB) ServiceByID(ctx context.Context, id string) (*ark.Service, bool, error) {
	s, deleted, err := scanService(db.r.QueryRowContext(ctx, `SELECT `+serviceCols+` FROM services WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, notFound(id)
	}
	return s, deleted, err
}

// ListServices returns one page of a project's live services and the total that match.
func (db *DB) ListServices(ctx context.Context, f ark.ServiceFilter) ([]*ark.Service, int, error) {
	where := []string{"project_id = ?", "deleted = 0"}
	args := []any{f.ProjectID}
	for col, v := range map[string]string{"id": f.ServiceID, "workspace_id": f.WorkspaceID, "infer_type": f.InferType, "status": f.Status} {
		if v != "" {
			where, args = append(where, col+" = ?"), append(args, v)
		}
	}
	if f.Name != "" {
		where, args = append(where, `name LIKE ? ESCAPE '\'`), append(args, likeEscape(f.Name))
	}
	if f.ModelID != "" {
		where, args = append(where, `id IN (SELECT service_id FROM service_models WHERE model_id = ?)`), append(args, f.ModelID)
	}
	sortCol, ok := rowcodec.ServiceSort(f.SortBy)
	if !ok {
		return nil, 0, fmt.Errorf("sqlite: unknown service sort %q", f.SortBy)
	}
	cond := strings.Join(where, " AND ")
	var out []*ark.Service
	var total int
	err := db.read(ctx, func(tx *sql.Tx) error {
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM services WHERE `+cond, args...).Scan(&total); err != nil {
			return err
		}
		rows, err := tx.QueryContext(ctx, `SELECT `+serviceCols+` FROM services WHERE `+cond+
			` ORDER BY `+sortCol+` `+order(f.Order)+`, id LIMIT ? OFFSET ?`, append(args, f.Limit, f.Offset)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			s, _, err := scanService(rows)
			if err != nil {
				return err
			}
			out = append(out, s)
		}
		return rows.Err()
	})
	return out, total, err
}

// running reports whether the service has a RUNNING update-log entry.
func running(ctx context.Context, tx *sql.Tx, serviceID string) (bool, error) {
	var n int
	err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM update_logs WHERE service_id = ? AND result = 'RUNNING'`, serviceID).Scan(&n)
	return n > 0, err
}

// UpdateService applies an accepted PUT. A status change (start or stop) is an event; a config
// change writes the new desired config and, in the same transaction, a RUNNING update-log entry,
// returned as the second result. When upd carries both, only the status applies. ark.EServiceBusy
// while a deployment, update or stop is in progress.
func (db *DB) UpdateService(ctx context.Context, projectID, id string, upd ark.ServiceUpdate) (*ark.Service, *ark.UpdateLog, error) {
	var s *ark.Service
	var entry *ark.UpdateLog
	err := db.write(ctx, func(tx *sql.Tx) error {
		var err error
		if s, err = serviceTx(ctx, tx, projectID, id); err != nil {
			return err
		}
		now := db.Now()
		var events []ark.Event
		entry, events, err = ark.ApplyUpdate(s, upd, now, func() (bool, error) { return running(ctx, tx, s.ID) },
			func(cfg []ark.ServiceConfig) (*ark.UpdateLog, error) {
				if err := resolveModels(ctx, tx, projectID, cfg); err != nil {
					return nil, err
				}
				return db.acceptConfig(ctx, tx, s, cfg, now.UnixMilli())
			})
		if err != nil {
			return err
		}
		set := make([]string, len(rowcodec.ServiceStateColumns))
		for i, c := range rowcodec.ServiceStateColumns {
			set[i] = c + " = ?"
		}
		if _, err := tx.ExecContext(ctx, `UPDATE services SET `+strings.Join(set, ", ")+` WHERE id = ?`,
			append(rowcodec.ServiceStateValues(s), s.ID)...); err != nil {
			return err
		}
		return addEvents(ctx, tx, s.ID, now.UnixMilli(), events...)
	})
	if err != nil {
		return nil, nil, err
	}
	return s, entry, nil
}

// acceptConfig makes cfg the service's desired configuration and writes its RUNNING entry.
func (db *DB) acceptConfig(ctx context.Context, tx *sql.Tx, s *ark.Service, cfg []ark.ServiceConfig, now int64) (*ark.UpdateLog, error) {
	ut, err := nextUpdateTime(ctx, tx, s.ID, now)
	if err != nil {
		return nil, err
	}
	entry := ark.AcceptConfig(s, cfg, ut, time.UnixMilli(now))
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
	return db.write(ctx, func(tx *sql.Tx) error {
		ms := db.nowMs()
		for _, id := range ids {
			if _, err := serviceTx(ctx, tx, projectID, id); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE services SET deleted = 1, status = ?, operation_time = ?, transition_at = ? WHERE id = ?`,
				ark.StatusDeleting, ms, ms, id); err != nil {
				return err
			}
			if err := addEvents(ctx, tx, id, ms, ark.NormalEvent(ark.EventDeleting)); err != nil {
				return err
			}
		}
		return nil
	})
}

var scanLog = rowcodec.ScanLog

const logCols = rowcodec.LogColumns

// UpdateLogs returns a live service and its update-log entries, newest first; with updateTime set,
// only the entry accepted at that millisecond (none when there is no such entry).
func (db *DB) UpdateLogs(ctx context.Context, projectID, serviceID string, updateTime *int64) (*ark.Service, []ark.UpdateLog, error) {
	var s *ark.Service
	var out []ark.UpdateLog
	q := `SELECT ` + logCols + ` FROM update_logs WHERE service_id = ?`
	args := []any{serviceID}
	if updateTime != nil {
		q, args = q+` AND update_time = ?`, append(args, *updateTime)
	}
	svcStmt, err := db.readStmt(ctx, `SELECT `+serviceCols+` FROM services WHERE id = ? AND project_id = ?`)
	if err != nil {
		return nil, nil, err
	}
	logStmt, err := db.readStmt(ctx, q+` ORDER BY update_time DESC`)
	if err != nil {
		return nil, nil, err
	}
	err = db.read(ctx, func(tx *sql.Tx) error {
		s0, deleted, err := scanService(tx.StmtContext(ctx, svcStmt).QueryRowContext(ctx, serviceID, projectID))
		if errors.Is(err, sql.ErrNoRows) || deleted {
			return notFound(serviceID)
		} else if err != nil {
			return err
		}
		s = s0
		rows, err := tx.StmtContext(ctx, logStmt).QueryContext(ctx, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			l, err := scanLog(rows)
			if err != nil {
				return err
			}
			out = append(out, l)
		}
		return rows.Err()
	})
	return s, out, err
}

// ListEvents returns a live service and one page of its events with the total that match.
func (db *DB) ListEvents(ctx context.Context, f ark.EventFilter) (*ark.Service, []ark.Event, int, error) {
	var s *ark.Service
	var out []ark.Event
	var total int
	where := []string{"service_id = ?"}
	args := []any{f.ServiceID}
	if f.Type != "" {
		where, args = append(where, "type = ?"), append(args, f.Type)
	}
	if f.Info != "" {
		where, args = append(where, `info LIKE ? ESCAPE '\'`), append(args, likeEscape(f.Info))
	}
	if !f.Start.IsZero() {
		where, args = append(where, "occur_time >= ?"), append(args, f.Start.UnixMilli())
	}
	if !f.End.IsZero() {
		where, args = append(where, "occur_time <= ?"), append(args, f.End.UnixMilli())
	}
	cond := strings.Join(where, " AND ")
	err := db.read(ctx, func(tx *sql.Tx) error {
		var err error
		if s, err = serviceTx(ctx, tx, f.ProjectID, f.ServiceID); err != nil {
			return err
		}
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM events WHERE `+cond, args...).Scan(&total); err != nil {
			return err
		}
		o := order(f.Order)
		rows, err := tx.QueryContext(ctx, `SELECT service_id, type, info, occur_time FROM events WHERE `+cond+
			` ORDER BY occur_time `+o+`, id `+o+` LIMIT ? OFFSET ?`, append(args, f.Limit, f.Offset)...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var e ark.Event
			var t int64
			if err := rows.Scan(&e.ServiceID, &e.Type, &e.Info, &t); err != nil {
				return err
			}
			e.OccurTime = msTime(t)
			out = append(out, e)
		}
		return rows.Err()
	})
	return s, out, total, err
}
