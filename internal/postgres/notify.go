package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// Servers on one database tell each other of changes through LISTEN/NOTIFY: a write queues a
// notification in its transaction, PostgreSQL delivers it to every listening server when the
// transaction commits, and never when it rolls back.

// serviceChannel is the channel on which a write that changes a service's desired state (deploy,
// update, start, stop, delete) names the service, so that the replica that drives it starts at
// once rather than at its next resync, whichever replica took the API call.
const serviceChannel = "arkserve_service"

// nodeChannel is the channel on which a write that changes what a node should run (its placements,
// or the status of a service placed on it) names the node, so that its agent's long poll answers
// at once, whichever replica it is connected to.
const nodeChannel = "arkserve_node"

// notifyEngines queues a notification for the service.
func notifyEngines(ctx context.Context, tx pgx.Tx, serviceID string) error {
	_, err := tx.Exec(ctx, `SELECT pg_notify($1, $2)`, serviceChannel, serviceID)
	return err
}

// notifyNodes queues a notification for each node (one round trip for all of them).
func notifyNodes(ctx context.Context, tx pgx.Tx, nodeIDs []string) error {
	if len(nodeIDs) == 0 {
		return nil
	}
	_, err := tx.Exec(ctx, `SELECT pg_notify($1, id) FROM unnest($2::text[]) AS id`, nodeChannel, nodeIDs)
	return err
}

// notifyServiceNodes queues a notification for each node with a placement of the service: whether
// they run it depends on its status (NodePlacements). A service that is not an edge service has
// none.
func notifyServiceNodes(ctx context.Context, tx pgx.Tx, serviceID string) error {
	_, err := tx.Exec(ctx, `SELECT pg_notify($1, node_id) FROM edge_placements WHERE service_id = $2`, nodeChannel, serviceID)
	return err
}

// Listen calls service with the id of every service whose desired state any server changes and
// node with the id of every node whose placements any server changes, until ctx ends. It holds one
// connection of the pool for both; when the connection breaks it connects again (notifications
// sent meanwhile are lost: the engine's periodic resync covers the services, the end of the
// agents' long polls the nodes). It returns nil: the error result only fits the signature of the
// server's background components.
func (db *DB) Listen(ctx context.Context, service, node func(id string)) error {
	handlers := map[string]func(string){serviceChannel: service, nodeChannel: node}
	for ctx.Err() == nil {
		err := db.listen(ctx, handlers)
		if ctx.Err() != nil {
			break
		}
		db.logger().Warn("listen for changes; connecting again", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	return nil
}

// listen listens on the handlers' channels on one connection and calls the handler of each
// notification's channel, until the connection or ctx ends.
func (db *DB) listen(ctx context.Context, handlers map[string]func(string)) error {
	conn, err := db.pool.Acquire(ctx)
	if err != nil {
		return err
	}
	defer conn.Release()
	defer func() {
		// The connection goes back to the pool: it must not keep listening.
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if _, err := conn.Exec(uctx, `UNLISTEN *`); err != nil {
			conn.Conn().Close(uctx) // the pool drops a closed connection
		}
	}()
	for channel := range handlers {
		if _, err := conn.Exec(ctx, `LISTEN `+channel); err != nil {
			return err
		}
	}
	for {
		n, err := conn.Conn().WaitForNotification(ctx)
		if err != nil {
			return err
		}
		handlers[n.Channel](n.Payload)
	}
}
