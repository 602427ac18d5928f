package postgres

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/arkserve/arkserve/internal/ark"
	"github.com/arkserve/arkserve/internal/rowcodec"
)

// CreateNodeCredential inserts a node credential; ark.EInvalidParam when its id is taken.
func (db *DB) CreateNodeCredential(ctx context.Context, c *ark.NodeCredential) error {
	if c.CreatedAt.IsZero() {
		c.CreatedAt = db.Now()
	}
	return db.write(ctx, func(tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO node_credentials (`+rowcodec.NodeCredentialColumns+`) VALUES ($1, $2, $3, $4, $5, $6)`,
			rowcodec.NodeCredentialValues(c)...)
		if isUnique(err) {
			return ark.Errorf(ark.EInvalidParam, "Node credential %s already exists.", c.ID)
		}
		return err
	})
}

// FindNodeCredential returns a node credential by id, nil when there is none.
func (db *DB) FindNodeCredential(ctx context.Context, id string) (*ark.NodeCredential, error) {
	return one(ctx, db, rowcodec.ScanNodeCredential, `SELECT `+rowcodec.NodeCredentialColumns+` FROM node_credentials WHERE id = $1`, id)
}

// ListNodeCredentials returns a project's node credentials (every project's for ""), oldest first.
func (db *DB) ListNodeCredentials(ctx context.Context, projectID string) ([]*ark.NodeCredential, error) {
	return all(ctx, db.pool, rowcodec.ScanNodeCredential, `SELECT `+rowcodec.NodeCredentialColumns+` FROM node_credentials
		WHERE $1 = '' OR project_id = $1 ORDER BY created_at, id`, projectID)
}

// RevokeNodeCredential marks a credential revoked at at (once: a second revocation keeps the
// first time) and reports whether it exists.
func (db *DB) RevokeNodeCredential(ctx context.Context, id string, at time.Time) (bool, error) {
	var n int64
	err := db.write(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE node_credentials SET revoked_at = CASE WHEN revoked_at = 0 THEN $1 ELSE revoked_at END WHERE id = $2`,
			at.UnixMilli(), id)
		n = tag.RowsAffected()
		return err
	})
	return n > 0, err
}

// RegisterNode records what a node's agent registers (a new node, or the same node again: its
// name and facts are replaced, its creation time kept) and counts as a heartbeat. ark.EForbidden
// when the id is a node of another project.
func (db *DB) RegisterNode(ctx context.Context, n *ark.Node) error {
	return db.write(ctx, func(tx pgx.Tx) error {
		ms := db.nowMs()
		var project string
		var created int64
		err := tx.QueryRow(ctx, `SELECT project_id, created_at FROM nodes WHERE id = $1 FOR UPDATE`, n.ID).Scan(&project, &created)
		switch {
		case errors.Is(err, pgx.ErrNoRows):
			created = ms
			_, err = tx.Exec(ctx, `INSERT INTO nodes (`+rowcodec.NodeColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
				n.ID, n.ProjectID, n.Name, rowcodec.NodeInfo(n), ms, ms, ms, n.Error, rowcodec.NodeInstances(n.Instances))
		case err != nil:
		case project != n.ProjectID:
			return ark.Errorf(ark.EForbidden, "Node %s belongs to another project.", n.ID)
		default:
			_, err = tx.Exec(ctx, `UPDATE nodes SET name = $1, info = $2, updated_at = $3, heartbeat_at = $3, error = $4, instances = $5 WHERE id = $6`,
				n.Name, rowcodec.NodeInfo(n), ms, n.Error, rowcodec.NodeInstances(n.Instances), n.ID)
		}
		if err != nil {
			return err
		}
		n.CreatedAt, n.UpdatedAt, n.HeartbeatAt = rowcodec.Time(created), rowcodec.Time(ms), rowcodec.Time(ms)
		return nil
	})
}

// NodeHeartbeat records a heartbeat of a node of the project with the agent's error ("" when
// none) and its instances. ark.ENodeNotFound when there is no such node (it was deleted: the agent
// registers again).
func (db *DB) NodeHeartbeat(ctx context.Context, projectID, nodeID, errMsg string, instances []ark.NodeInstance) error {
	return db.write(ctx, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, `UPDATE nodes SET heartbeat_at = $1, error = $2, instances = $3 WHERE id = $4 AND project_id = $5`,
			db.nowMs(), errMsg, rowcodec.NodeInstances(instances), nodeID, projectID)
		if err == nil && tag.RowsAffected() == 0 {
			return ark.NodeNotFound(nodeID)
		}
		return err
	})
}

// FindNode returns a node of a project; ark.ENodeNotFound.
func (db *DB) FindNode(ctx context.Context, projectID, id string) (*ark.Node, error) {
	n, err := one(ctx, db, rowcodec.ScanNode, `SELECT `+rowcodec.NodeColumns+` FROM nodes WHERE id = $1 AND project_id = $2`, id, projectID)
	if err == nil && n == nil {
		return nil, ark.NodeNotFound(id)
	}
	return n, err
}

// ListNodes returns a project's nodes by name.
func (db *DB) ListNodes(ctx context.Context, projectID string) ([]*ark.Node, error) {
	return all(ctx, db.pool, rowcodec.ScanNode, `SELECT `+rowcodec.NodeColumns+` FROM nodes WHERE project_id = $1 ORDER BY name, id`, projectID)
}

// DeleteNode removes a node of a project. ark.ENodeNotFound; ark.EInvalidParam while a live
// service has a placement on it (its agent would go on running the instance).
func (db *DB) DeleteNode(ctx context.Context, projectID, id string) error {
	return db.write(ctx, func(tx pgx.Tx) error {
		users, err := all(ctx, tx, func(sc rowcodec.Scanner) (string, error) {
			var name string
			return name, sc.Scan(&name)
		}, `SELECT s.name FROM edge_placements p JOIN services s ON s.id = p.service_id
			WHERE p.node_id = $1 AND NOT s.deleted ORDER BY s.name`, id)
		if err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `DELETE FROM nodes WHERE id = $1 AND project_id = $2`, id, projectID)
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			return ark.NodeNotFound(id)
		}
		if len(users) > 0 {
			return ark.Errorf(ark.EInvalidParam, "Parameter (node_id) is invalid: node %s runs the services %s; update them to other nodes first.",
				id, strings.Join(users, ", "))
		}
		return nil
	})
}

// EdgePlacements returns what each node runs for a service, by node id.
func (db *DB) EdgePlacements(ctx context.Context, serviceID string) ([]ark.EdgePlacement, error) {
	return all(ctx, db.pool, rowcodec.ScanPlacement, `SELECT `+rowcodec.PlacementColumns+` FROM edge_placements WHERE service_id = $1 ORDER BY node_id`, serviceID)
}

// offNodes are the statuses of a service whose placements its nodes do not run.
var offNodes = []string{ark.StatusStopping, ark.StatusStopped, ark.StatusDeleting}

// onNodes says whether the nodes run the placements of a live service with the status: a write
// that changes it notifies them (notifyServiceNodes).
func onNodes(status string) bool {
	return !slices.Contains(offNodes, status)
}

// NodePlacements returns what a node should run: its placements of live services that are not
// stopped or stopping, by service id.
func (db *DB) NodePlacements(ctx context.Context, nodeID string) ([]ark.EdgePlacement, error) {
	return all(ctx, db.pool, rowcodec.ScanPlacement, `SELECT p.service_id, p.node_id, p.update_time, p.config FROM edge_placements p
		JOIN services s ON s.id = p.service_id
		WHERE p.node_id = $1 AND NOT s.deleted AND s.status <> ALL($2) ORDER BY p.service_id`,
		nodeID, offNodes)
}

// SaveEdgeOps stores the node operations of a RUNNING entry of l's service and, in the same
// transaction, the placements they change, notifying their nodes: set replaces a node's placement,
// unset removes it. It reports false, changing nothing, when the entry is not RUNNING, and
// ark.ErrLeaseLost when l is no longer the service's lease.
func (db *DB) SaveEdgeOps(ctx context.Context, l ark.Lease, updateTime int64, ops []ark.EdgeOp, set []ark.EdgePlacement, unset []string) (bool, error) {
	serviceID := l.ServiceID
	saved := false
	err := db.write(ctx, func(tx pgx.Tx) error {
		saved = false
		if ok, err := lockService(ctx, tx, serviceID); !ok || err != nil {
			return err
		}
		if err := checkLease(ctx, tx, l); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `UPDATE update_logs SET edge = $1 WHERE service_id = $2 AND update_time = $3 AND result = 'RUNNING'`,
			rowcodec.JSON(ops), serviceID, updateTime)
		if err != nil || tag.RowsAffected() == 0 {
			return err
		}
		changed := slices.Clone(unset) // the nodes to notify
		for _, p := range set {
			changed = append(changed, p.NodeID)
			if _, err := tx.Exec(ctx, `INSERT INTO edge_placements (`+rowcodec.PlacementColumns+`) VALUES ($1, $2, $3, $4)
				ON CONFLICT (service_id, node_id) DO UPDATE SET update_time = excluded.update_time, config = excluded.config`,
				serviceID, p.NodeID, p.UpdateTime, rowcodec.JSON(p.Config)); err != nil {
				return err
			}
		}
		for _, node := range unset {
			if _, err := tx.Exec(ctx, `DELETE FROM edge_placements WHERE service_id = $1 AND node_id = $2`, serviceID, node); err != nil {
				return err
			}
		}
		if err := notifyNodes(ctx, tx, changed); err != nil {
			return err
		}
		saved = true
		return nil
	})
	return saved, err
}
