package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/arkserve/arkserve/internal/ark"
	"github.com/arkserve/arkserve/internal/rowcodec"
)

// CreateNodeCredential inserts a node credential; ark.EInvalidParam when its id is taken.
func (db *DB) CreateNodeCredential(ctx context.Context, c *ark.NodeCredential) error {
	if c.CreatedAt.IsZero() {
		c.CreatedAt = db.Now()
	}
	return db.write(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO node_credentials (`+rowcodec.NodeCredentialColumns+`) VALUES (?, ?, ?, ?, ?, ?)`,
			rowcodec.NodeCredentialValues(c)...)
		if isUnique(err) {
			return ark.Errorf(ark.EInvalidParam, "Node credential %s already exists.", c.ID)
		}
		return err
	})
}

// FindNodeCredential returns a node credential by id, nil when there is none.
func (db *DB) FindNodeCredential(ctx context.Context, id string) (*ark.NodeCredential, error) {
	c, err := rowcodec.ScanNodeCredential(db.r.QueryRowContext(ctx, `SELECT `+rowcodec.NodeCredentialColumns+` FROM node_credentials WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return c, err
}

// ListNodeCredentials returns a project's node credentials (every project's for ""), oldest first.
func (db *DB) ListNodeCredentials(ctx context.Context, projectID string) ([]*ark.NodeCredential, error) {
	return queryAll(ctx, db.r, rowcodec.ScanNodeCredential, `SELECT `+rowcodec.NodeCredentialColumns+` FROM node_credentials
		WHERE ? = '' OR project_id = ? ORDER BY created_at, id`, projectID, projectID)
}

// RevokeNodeCredential marks a credential revoked at at (once: a second revocation keeps the
// first time) and reports whether it exists.
func (db *DB) RevokeNodeCredential(ctx context.Context, id string, at time.Time) (bool, error) {
	var n int64
	err := db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE node_credentials SET revoked_at = CASE WHEN revoked_at = 0 THEN ? ELSE revoked_at END WHERE id = ?`,
			at.UnixMilli(), id)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n > 0, err
}

// RegisterNode records what a node's agent registers (a new node, or the same node again: its
// name and facts are replaced, its creation time kept) and counts as a heartbeat. ark.EForbidden
// when the id is a node of another project.
func (db *DB) RegisterNode(ctx context.Context, n *ark.Node) error {
	return db.write(ctx, func(tx *sql.Tx) error {
		ms := db.nowMs()
		var project string
		var created int64
		err := tx.QueryRowContext(ctx, `SELECT project_id, created_at FROM nodes WHERE id = ?`, n.ID).Scan(&project, &created)
		switch {
		case errors.Is(err, sql.ErrNoRows):
			created = ms
			_, err = tx.ExecContext(ctx, `INSERT INTO nodes (`+rowcodec.NodeColumns+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				n.ID, n.ProjectID, n.Name, rowcodec.NodeInfo(n), ms, ms, ms, n.Error, rowcodec.NodeInstances(n.Instances))
		case err != nil:
		case project != n.ProjectID:
			return ark.Errorf(ark.EForbidden, "Node %s belongs to another project.", n.ID)
		default:
			_, err = tx.ExecContext(ctx, `UPDATE nodes SET name = ?, info = ?, updated_at = ?, heartbeat_at = ?, error = ?, instances = ? WHERE id = ?`,
				n.Name, rowcodec.NodeInfo(n), ms, ms, n.Error, rowcodec.NodeInstances(n.Instances), n.ID)
		}
		if err != nil {
			return err
		}
		n.CreatedAt, n.UpdatedAt, n.HeartbeatAt = msTime(created), msTime(ms), msTime(ms)
		return nil
	})
}

// NodeHeartbeat records a heartbeat of a node of the project with the agent's error ("" when
// none) and its instances. ark.ENodeNotFound when there is no such node (it was deleted: the agent
// registers again).
func (db *DB) NodeHeartbeat(ctx context.Context, projectID, nodeID, errMsg string, instances []ark.NodeInstance) error {
	return db.write(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE nodes SET heartbeat_at = ?, error = ?, instances = ? WHERE id = ? AND project_id = ?`,
			db.nowMs(), errMsg, rowcodec.NodeInstances(instances), nodeID, projectID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return errors.Join(err, ark.NodeNotFound(nodeID))
		}
		return nil
	})
}

// FindNode returns a node of a project; ark.ENodeNotFound.
func (db *DB) FindNode(ctx context.Context, projectID, id string) (*ark.Node, error) {
	n, err := rowcodec.ScanNode(db.r.QueryRowContext(ctx, `SELECT `+rowcodec.NodeColumns+` FROM nodes WHERE id = ? AND project_id = ?`, id, projectID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ark.NodeNotFound(id)
	}
	return n, err
}

// ListNodes returns a project's nodes by name.
func (db *DB) ListNodes(ctx context.Context, projectID string) ([]*ark.Node, error) {
	return queryAll(ctx, db.r, rowcodec.ScanNode, `SELECT `+rowcodec.NodeColumns+` FROM nodes WHERE project_id = ? ORDER BY name, id`, projectID)
}

// DeleteNode removes a node of a project. ark.ENodeNotFound; ark.EInvalidParam while a live
// service has a placement on it (its agent would go on running the instance).
func (db *DB) DeleteNode(ctx context.Context, projectID, id string) error {
	return db.write(ctx, func(tx *sql.Tx) error {
		var users string
		err := tx.QueryRowContext(ctx, `SELECT COALESCE(GROUP_CONCAT(s.name, ', '), '') FROM edge_placements p
			JOIN services s ON s.id = p.service_id WHERE p.node_id = ? AND s.deleted = 0`, id).Scan(&users)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM nodes WHERE id = ? AND project_id = ?`, id, projectID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return errors.Join(err, ark.NodeNotFound(id))
		}
		if users != "" {
			return ark.Errorf(ark.EInvalidParam, "Parameter (node_id) is invalid: node %s runs the services %s; update them to other nodes first.",
				id, users)
		}
		return nil
	})
}

// EdgePlacements returns what each node runs for a service, by node id.
func (db *DB) EdgePlacements(ctx context.Context, serviceID string) ([]ark.EdgePlacement, error) {
	return queryAll(ctx, db.r, rowcodec.ScanPlacement, `SELECT `+rowcodec.PlacementColumns+` FROM edge_placements WHERE service_id = ? ORDER BY node_id`, serviceID)
}

// NodePlacements returns what a node should run: its placements of live services that are not
// stopped or stopping, by service id.
func (db *DB) NodePlacements(ctx context.Context, nodeID string) ([]ark.EdgePlacement, error) {
	return queryAll(ctx, db.r, rowcodec.ScanPlacement, `SELECT p.service_id, p.node_id, p.update_time, p.config FROM edge_placements p
		JOIN services s ON s.id = p.service_id
		WHERE p.node_id = ? AND s.deleted = 0 AND s.status NOT IN (?, ?, ?) ORDER BY p.service_id`,
		nodeID, ark.StatusStopping, ark.StatusStopped, ark.StatusDeleting)
}

// SaveEdgeOps stores the node operations of a RUNNING entry of l's service and, in the same
// transaction, the placements they change: set replaces a node's placement, unset removes it. It
// reports false, changing nothing, when the entry is not RUNNING, and ark.ErrLeaseLost when l is
// no longer the service's lease.
func (db *DB) SaveEdgeOps(ctx context.Context, l ark.Lease, updateTime int64, ops []ark.EdgeOp, set []ark.EdgePlacement, unset []string) (bool, error) {
	serviceID := l.ServiceID
	saved := false
	err := db.write(ctx, func(tx *sql.Tx) error {
		if err := checkLease(ctx, tx, l); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `UPDATE update_logs SET edge = ? WHERE service_id = ? AND update_time = ? AND result = 'RUNNING'`,
			mustJSON(ops), serviceID, updateTime)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		for _, p := range set {
			if _, err := tx.ExecContext(ctx, `INSERT INTO edge_placements (`+rowcodec.PlacementColumns+`) VALUES (?, ?, ?, ?)
				ON CONFLICT (service_id, node_id) DO UPDATE SET update_time = excluded.update_time, config = excluded.config`,
				serviceID, p.NodeID, p.UpdateTime, mustJSON(p.Config)); err != nil {
				return err
			}
		}
		for _, node := range unset {
			if _, err := tx.ExecContext(ctx, `DELETE FROM edge_placements WHERE service_id = ? AND node_id = ?`, serviceID, node); err != nil {
				return err
			}
		}
		saved = true
		return nil
	})
	return saved, err
}
