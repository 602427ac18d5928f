package sqlite

import (
	"context"
	"database/sql"

	"github.com/arkserve/arkserve/internal/ark"
)

// AddCallCounts adds inference call counts (keyed by service id) to the services'
// invocation_times and failed_times, in one transaction. Ids of services that do not exist or were
// deleted are ignored: their calls no longer show anywhere.
func (db *DB) AddCallCounts(ctx context.Context, counts map[string]ark.CallCounts) error {
	if len(counts) == 0 {
		return nil
	}
	return db.write(ctx, func(tx *sql.Tx) error {
		stmt, err := tx.PrepareContext(ctx, `UPDATE services SET invocation_times = invocation_times + ?,
			failed_times = failed_times + ? WHERE id = ? AND deleted = 0`)
		if err != nil {
			return err
		}
		defer stmt.Close()
		for id, c := range counts {
			if c.Invocations == 0 && c.Failures == 0 {
				continue
			}
			if _, err := stmt.ExecContext(ctx, c.Invocations, c.Failures, id); err != nil {
				return err
			}
		}
		return nil
	})
}
