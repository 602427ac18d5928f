-- Service leases, as internal/sqlite/migration/0004_service_leases.sql: the replica that holds a
-- service's lease drives its instances; fence grows with every acquisition and every engine write
-- checks it in its own transaction. expires_at is Unix milliseconds.
CREATE TABLE service_leases (
	service_id TEXT COLLATE "C" PRIMARY KEY REFERENCES services(id) ON DELETE CASCADE,
	holder     TEXT COLLATE "C" NOT NULL,
	fence      BIGINT NOT NULL,
	expires_at BIGINT NOT NULL
);
CREATE INDEX service_leases_holder ON service_leases (holder);

-- The replicas that use the database and the URL each is reached at (internal/cluster): a replica
-- forwards inference and monitor requests to the one that holds the service's lease.
CREATE TABLE replicas (
	id         TEXT COLLATE "C" PRIMARY KEY,
	url        TEXT NOT NULL,
	started_at BIGINT NOT NULL
);
