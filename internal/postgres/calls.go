package postgres

import (
	"context"
	"sort"

	"github.com/jackc/pgx/v5"

	"github.com/arkserve/arkserve/internal/ark"
)

// AddCallCounts adds inference call counts (keyed by service id) to the services'
// invocation_times and failed_times, in one transaction. Ids of services that do not exist or were
// deleted are ignored: their calls no longer show anywhere. Rows are updated in id order, so two
// replicas flushing at once cannot deadlock on each other.
func (db *DB) AddCallCounts(ctx context.Context, counts map[string]ark.CallCounts) error {
	ids := make([]string, 0, len(counts))
	for id, c := range counts {
		if c.Invocations != 0 || c.Failures != 0 {
			ids = append(ids, id)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	sort.Strings(ids)
	// READ COMMITTED: an increment reads nothing it depends on, so a row that another transaction
	// changed is simply incremented again, never a serialization failure.
	return db.retry(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, func(tx pgx.Tx) error {
		b := &pgx.Batch{}
		for _, id := range ids {
			c := counts[id]
			b.Queue(`UPDATE services SET invocation_times = invocation_times + $1, failed_times = failed_times + $2
				WHERE id = $3 AND NOT deleted`, c.Invocations, c.Failures, id)
		}
		return tx.SendBatch(ctx, b).Close()
	})
}
