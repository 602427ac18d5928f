-- Edge services (docs/edge.md): node credentials (only the SHA-256 of the secret is stored), the
-- nodes their agents registered, what each node runs for each edge service (edge_placements), and
-- the node operations of an update-log entry (update_logs.edge, JSON: the durable state of the
-- edge rollout, and its success_num, failed_num and result_detail once finished).
CREATE TABLE node_credentials (
	id          TEXT PRIMARY KEY,
	project_id  TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
	description TEXT NOT NULL DEFAULT '',
	secret_hash BLOB NOT NULL,
	created_at  INTEGER NOT NULL,
	revoked_at  INTEGER NOT NULL DEFAULT 0
);

CREATE TABLE nodes (
	id           TEXT PRIMARY KEY,
	project_id   TEXT NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
	name         TEXT NOT NULL,
	info         TEXT NOT NULL,
	created_at   INTEGER NOT NULL,
	updated_at   INTEGER NOT NULL,
	heartbeat_at INTEGER NOT NULL DEFAULT 0,
	error        TEXT NOT NULL DEFAULT '',
	instances    TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX nodes_project ON nodes (project_id, name);

CREATE TABLE edge_placements (
	service_id  TEXT NOT NULL REFERENCES services(id) ON DELETE CASCADE,
	node_id     TEXT NOT NULL,
	update_time INTEGER NOT NULL,
	config      TEXT NOT NULL,
	PRIMARY KEY (service_id, node_id)
) WITHOUT ROWID;
CREATE INDEX edge_placements_node ON edge_placements (node_id);

ALTER TABLE update_logs ADD COLUMN edge TEXT NOT NULL DEFAULT '';
