-- Access keys (AK/SK) for request signing, as internal/sqlite/migration/0002_access_keys.sql. The
-- secret is stored sealed (AES-256-GCM, key derived from the server's key by internal/iam), never
-- in plain text.
CREATE TABLE access_keys (
	id            TEXT COLLATE "C" PRIMARY KEY,
	user_id       TEXT COLLATE "C" NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	description   TEXT NOT NULL DEFAULT '',
	sealed_secret BYTEA NOT NULL,
	created_at    BIGINT NOT NULL
);
CREATE INDEX access_keys_user ON access_keys (user_id, created_at);
