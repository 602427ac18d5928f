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
