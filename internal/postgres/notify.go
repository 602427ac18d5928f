package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// serviceChannel is the LISTEN/NOTIFY channel on which a write that changes a service's desired
// state (deploy, update, start, stop, delete) names the service, so that the replica that drives it
// starts at once rather than at its next resync, whichever replica took the API call.
const serviceChannel = "arkserve_service"

// notifyEngines queues a notification for the service; PostgreSQL delivers it when tx commits, and
// never when it rolls back.
func notifyEngines(ctx context.Context, tx pgx.Tx, serviceID string) error {
	_, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, serviceChannel, serviceID)
	return err
}

// ListenServices calls fn with the id of every service whose desired state any server changes,
// until ctx ends. It holds one connection of the pool; when the connection breaks it connects
// again (notifications sent meanwhile are lost: the engine's periodic resync covers them).
func (db *DB) ListenServices(ctx context.Context, fn func(serviceID string)) error {
	for ctx.Err() == nil {
		err := db.listen(ctx, fn)
		if ctx.Err() != nil {
			break
		}
		db.logger().Warn("listen for service changes; connecting again", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	return nil
}

func (db *DB) listen(ctx context.Context, fn func(string)) error {
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	if _, err := conn.Exec(ctx, `LISTEN `+serviceChannel); err != nil {
		return err
	}
	defer func() {
		// The connection goes back to the pool: it must not keep listening.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, err := conn.Exec(uctx, `UNLISTEN `+serviceChannel); err != nil {
			conn.Conn().Close(uctx) // the pool drops a closed connection
		}
	}()
	for {
		n, err := conn.Conn().WaitForNotification(ctx)
		if err != nil {
			return err
		}
		fn(n.Payload)
	}
}
