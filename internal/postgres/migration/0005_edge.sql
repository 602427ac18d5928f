-- Edge services, as internal/sqlite/migration/0005_edge.sql: node credentials (only the SHA-256 of
-- the secret is stored), nodes, what each node runs for each edge service, and the node operations
-- of an update-log entry (update_logs.edge, JSON).
CREATE TABLE node_credentials (
	id          TEXT COLLATE "C" PRIMARY KEY,
	project_id  TEXT COLLATE "C" NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
	description TEXT NOT NULL DEFAULT '',
	secret_hash BYTEA NOT NULL,
	created_at  BIGINT NOT NULL,
	revoked_at  BIGINT NOT NULL DEFAULT 0
);

CREATE TABLE nodes (
	id           TEXT COLLATE "C" PRIMARY KEY,
	project_id   TEXT COLLATE "C" NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
	name         TEXT COLLATE "C" NOT NULL,
	info         TEXT NOT NULL,
	created_at   BIGINT NOT NULL,
	updated_at   BIGINT NOT NULL,
	heartbeat_at BIGINT NOT NULL DEFAULT 0,
	error        TEXT NOT NULL DEFAULT '',
	instances    TEXT NOT NULL DEFAULT '[]'
);
CREATE INDEX nodes_project ON nodes (project_id, name);

CREATE TABLE edge_placements (
	service_id  TEXT COLLATE "C" NOT NULL REFERENCES services(id) ON DELETE CASCADE,
	node_id     TEXT COLLATE "C" NOT NULL,
	update_time BIGINT NOT NULL,
	config      TEXT NOT NULL,
	PRIMARY KEY (service_id, node_id)
);
CREATE INDEX edge_placements_node ON edge_placements (node_id);

ALTER TABLE update_logs ADD COLUMN edge TEXT NOT NULL DEFAULT '';
