package postgres

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/arkserve/arkserve/internal/ark"
	"github.com/arkserve/arkserve/internal/rowcodec"
)

// ServicesToReconcile returns the services the engine has to look at (deleted ones, those deploying,
// stopping, running or concerning, and those with a RUNNING update-log entry) that holder holds or
// may acquire: no other holder's lease on them has yet to expire.
func (db *DB) ServicesToReconcile(ctx context.Context, holder string) ([]string, error) {
	return all(ctx, db.pool, func(sc rowcodec.Scanner) (string, error) {
		var id string
		return id, sc.Scan(&id)
	}, `SELECT c.id FROM (SELECT id FROM services WHERE deleted OR status = ANY($1)
			UNION SELECT service_id FROM update_logs WHERE result = 'RUNNING') AS c
		WHERE NOT EXISTS (SELECT 1 FROM service_leases l WHERE l.service_id = c.id AND l.holder <> $2 AND l.expires_at > $3)`,
		[]string{ark.StatusDeploying, ark.StatusStopping, ark.StatusRunning, ark.StatusConcerning, ark.StatusDeleting},
		holder, db.nowMs())
}

// RunningUpdate returns the service's RUNNING entry, nil when there is none.
func (db *DB) RunningUpdate(ctx context.Context, serviceID string) (*ark.UpdateLog, error) {
	l, err := rowcodec.ScanLog(db.pool.QueryRow(ctx, `SELECT `+rowcodec.LogColumns+` FROM update_logs
		WHERE service_id = $1 AND result = 'RUNNING' ORDER BY update_time DESC LIMIT 1`, serviceID))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &l, nil
}

// lockService takes the row lock of a service (live or deleted) for the rest of tx and reports
// whether it exists.
func lockService(ctx context.Context, tx pgx.Tx, serviceID string) (bool, error) {
	var id string
	err := tx.QueryRow(ctx, `SELECT id FROM services WHERE id = $1 FOR UPDATE`, serviceID).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}

// FinishUpdate ends a RUNNING entry with SUCCESS or FAIL, sets the service's status and appends the
// events, in one transaction. On FAIL with a previous configuration the service's desired config
// (and its update_time) go back to it (not for edge entries, which carry node operations). It
// reports false, changing nothing, when the entry is not RUNNING (finished entries are never
// edited), and ark.ErrLeaseLost when l is no longer the service's lease.
func (db *DB) FinishUpdate(ctx context.Context, l ark.Lease, updateTime int64, result string, st ark.StatusChange, events ...ark.Event) (bool, error) {
	if result != ark.ResultSuccess && result != ark.ResultFail {
		return false, errors.New("postgres: FinishUpdate result must be SUCCESS or FAIL")
	}
	serviceID := l.ServiceID
	done := false
	err := db.locked(ctx, func(tx pgx.Tx) error {
		done = false
		if ok, err := lockService(ctx, tx, serviceID); !ok || err != nil {
			return err
		}
		if err := checkLease(ctx, tx, l); err != nil {
			return err
		}
		e, err := rowcodec.ScanLog(tx.QueryRow(ctx, `SELECT `+rowcodec.LogColumns+` FROM update_logs WHERE service_id = $1 AND update_time = $2`,
			serviceID, updateTime))
		if errors.Is(err, pgx.ErrNoRows) {
			return nil
		} else if err != nil {
			return err
		}
		if e.Result != ark.ResultRunning {
			return nil
		}
		ms := db.nowMs()
		if _, err := tx.Exec(ctx, `UPDATE update_logs SET result = $1, finished_at = $2 WHERE service_id = $3 AND update_time = $4 AND result = 'RUNNING'`,
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
			err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(update_time), 0) FROM update_logs WHERE service_id = $1 AND update_time < $2 AND result = 'SUCCESS'`,
				serviceID, updateTime).Scan(&prevTime)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, `UPDATE services SET config = $1, update_time = $2 WHERE id = $3`, rowcodec.JSON(final), prevTime, serviceID); err != nil {
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

func setStatus(ctx context.Context, tx pgx.Tx, serviceID string, st ark.StatusChange, ms int64) error {
	// Every status the engine may report may replace itself; one that cannot is not a report.
	if !ark.EngineMayReport(st.Status, st.Status) {
		return fmt.Errorf("postgres: the engine cannot set status %q", st.Status)
	}
	var cur string
	var deleted bool
	err := tx.QueryRow(ctx, `SELECT status, deleted FROM services WHERE id = $1 FOR UPDATE`, serviceID).Scan(&cur, &deleted)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && (deleted || !ark.EngineMayReport(cur, st.Status))) {
		return nil
	} else if err != nil {
		return err
	}
	q := `UPDATE services SET status = $1, progress = $2, error_msg = $3, transition_at = $4 WHERE id = $5`
	if cur == st.Status {
		q = `UPDATE services SET status = $1, progress = $2, error_msg = $3 WHERE id = $5 AND $4::BIGINT IS NOT NULL`
	}
	if _, err := tx.Exec(ctx, q, st.Status, st.Progress, st.ErrorMsg, ms, serviceID); err != nil {
		return err
	}
	if onNodes(cur) != onNodes(st.Status) { // e.g. a schedule stops an edge service
		return notifyServiceNodes(ctx, tx, serviceID)
	}
	return nil
}

// SetStatus sets a live service's status, progress and error message and appends the events;
// ark.ErrLeaseLost when l is no longer the service's lease.
func (db *DB) SetStatus(ctx context.Context, l ark.Lease, st ark.StatusChange, events ...ark.Event) error {
	return db.locked(ctx, func(tx pgx.Tx) error {
		// The service row first, then the lease, as FinishUpdate does: one lock order, no
		// deadlock between the two.
		if ok, err := lockService(ctx, tx, l.ServiceID); !ok || err != nil {
			return err
		}
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
	return db.write(ctx, func(tx pgx.Tx) error {
		if err := checkLease(ctx, tx, l); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, `DELETE FROM services WHERE id = $1 AND deleted`, l.ServiceID)
		return err
	})
}
