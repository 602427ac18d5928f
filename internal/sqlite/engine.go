package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/arkserve/arkserve/internal/ark"
)

// ServicesToReconcile returns the services the engine has to look at (deleted ones, those deploying,
// stopping, running or concerning, and those with a RUNNING update-log entry) that holder holds or
// may acquire: no other holder's lease on them has yet to expire.
func (db *DB) ServicesToReconcile(ctx context.Context, holder string) ([]string, error) {
	return queryAll(ctx, db.r, scanString, `SELECT c.id FROM (SELECT id FROM services WHERE deleted = 1 OR status IN (?, ?, ?, ?, ?)
			UNION SELECT service_id FROM update_logs WHERE result = 'RUNNING') AS c
		WHERE NOT EXISTS (SELECT 1 FROM service_leases l WHERE l.service_id = c.id AND l.holder <> ? AND l.expires_at > ?)`,
		ark.StatusDeploying, ark.StatusStopping, ark.StatusRunning, ark.StatusConcerning, ark.StatusDeleting, holder, db.nowMs())
}

// RunningUpdate returns the service's RUNNING entry, nil when there is none.
func (db *DB) RunningUpdate(ctx context.Context, serviceID string) (*ark.UpdateLog, error) {
	l, err := scanLog(db.r.QueryRowContext(ctx, `SELECT `+logCols+` FROM update_logs WHERE service_id = ? AND result = 'RUNNING' ORDER BY update_time DESC LIMIT 1`, serviceID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &l, nil
}

// FinishUpdate ends a RUNNING entry with SUCCESS or FAIL, sets the service's status and appends the
// events, in one transaction. On FAIL with a previous configuration the service's desired config
// (and its update_time) go back to it (not for edge entries, which carry node operations). It
// reports false, changing nothing, when the entry is not RUNNING (finished entries are never
// edited), and ark.ErrLeaseLost when l is no longer the service's lease.
func (db *DB) FinishUpdate(ctx context.Context, l ark.Lease, updateTime int64, result string, st ark.StatusChange, events ...ark.Event) (bool, error) {
	if result != ark.ResultSuccess && result != ark.ResultFail {
		return false, errors.New("sqlite: FinishUpdate result must be SUCCESS or FAIL")
	}
	serviceID := l.ServiceID
	done := false
	err := db.write(ctx, func(tx *sql.Tx) error {
		if err := checkLease(ctx, tx, l); err != nil {
			return err
		}
		e, err := scanLog(tx.QueryRowContext(ctx, `SELECT `+logCols+` FROM update_logs WHERE service_id = ? AND update_time = ?`, serviceID, updateTime))
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		} else if err != nil {
			return err
		}
		if e.Result != ark.ResultRunning {
			return nil
		}
		ms := db.nowMs()
		if _, err := tx.ExecContext(ctx, `UPDATE update_logs SET result = ?, finished_at = ? WHERE service_id = ? AND update_time = ?`,
			result, ms, serviceID, updateTime); err != nil {
			return err
		}
		final := e.Config
		// An edge update that failed is not rolled back: the nodes that succeeded keep the new
		// configuration, the others went back to their placements (docs/edge.md).
		if result == ark.ResultFail && len(e.Previous) > 0 && e.Edge == nil {
			final = e.Previous
			// The configuration in force is again that of the newest entry before this one that did
			// not fail.
			var prevTime int64
			err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(update_time), 0) FROM update_logs WHERE service_id = ? AND update_time < ? AND result = 'SUCCESS'`,
				serviceID, updateTime).Scan(&prevTime)
			if err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `UPDATE services SET config = ?, update_time = ? WHERE id = ?`, mustJSON(final), prevTime, serviceID); err != nil {
				return err
			}
		}
		if err := setServiceModels(ctx, tx, serviceID, ark.ConfigsInUse(&e, result, final)...); err != nil {
			return err
		}
		if err := setStatus(ctx, tx, serviceID, st, ms); err != nil {
			return err
		}
		done = true
		return addEvents(ctx, tx, serviceID, ms, events...)
	})
	return done, err
}

func setStatus(ctx context.Context, tx *sql.Tx, serviceID string, st ark.StatusChange, ms int64) error {
	// Every status the engine may report may replace itself; one that cannot is not a report.
	if !ark.EngineMayReport(st.Status, st.Status) {
		return fmt.Errorf("sqlite: the engine cannot set status %q", st.Status)
	}
	var cur string
	var deleted int
	err := tx.QueryRowContext(ctx, `SELECT status, deleted FROM services WHERE id = ?`, serviceID).Scan(&cur, &deleted)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && (deleted == 1 || !ark.EngineMayReport(cur, st.Status))) {
		return nil
	} else if err != nil {
		return err
	}
	transition := ms
	if cur == st.Status {
		transition = -1
	}
	_, err = tx.ExecContext(ctx, `UPDATE services SET status = ?, progress = ?, error_msg = ?,
		transition_at = CASE WHEN ? < 0 THEN transition_at ELSE ? END WHERE id = ?`,
		st.Status, st.Progress, st.ErrorMsg, transition, transition, serviceID)
	return err
}

// SetStatus sets a live service's status, progress and error message and appends the events;
// ark.ErrLeaseLost when l is no longer the service's lease.
func (db *DB) SetStatus(ctx context.Context, l ark.Lease, st ark.StatusChange, events ...ark.Event) error {
	return db.write(ctx, func(tx *sql.Tx) error {
		if err := checkLease(ctx, tx, l); err != nil {
			return err
		}
		ms := db.nowMs()
		if err := setStatus(ctx, tx, l.ServiceID, st, ms); err != nil {
			return err
		}
		return addEvents(ctx, tx, l.ServiceID, ms, events...)
	})
}

// PurgeService removes a deleted service with its update logs, events and lease; ark.ErrLeaseLost
// when l is no longer the service's lease.
func (db *DB) PurgeService(ctx context.Context, l ark.Lease) error {
	return db.write(ctx, func(tx *sql.Tx) error {
		if err := checkLease(ctx, tx, l); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM services WHERE id = ? AND deleted = 1`, l.ServiceID)
		return err
	})
}
