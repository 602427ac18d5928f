-- Service leases (internal/ark lease.go): the replica that holds a service's lease drives its
-- instances; fence grows with every acquisition and every engine write checks it in its own
-- transaction. expires_at is Unix milliseconds. With SQLite a single server uses the database, so
-- the lease is always its own, but the engine and the conformance suite are the same as on
-- PostgreSQL.
CREATE TABLE service_leases (
	service_id TEXT PRIMARY KEY REFERENCES services(id) ON DELETE CASCADE,
	holder     TEXT NOT NULL,
	fence      INTEGER NOT NULL,
	expires_at INTEGER NOT NULL
);
CREATE INDEX service_leases_holder ON service_leases (holder);

-- The replicas that use the database and the URL each is reached at (internal/cluster): a replica
-- forwards inference and monitor requests to the one that holds the service's lease.
CREATE TABLE replicas (
	id         TEXT PRIMARY KEY,
	url        TEXT NOT NULL,
	started_at INTEGER NOT NULL
);
