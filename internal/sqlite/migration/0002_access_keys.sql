-- Access keys (AK/SK) for request signing. The secret is stored sealed (AES-256-GCM, key derived
-- from the server's key by internal/iam), never in plain text.
CREATE TABLE access_keys (
	id            TEXT PRIMARY KEY,
	user_id       TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	description   TEXT NOT NULL DEFAULT '',
	sealed_secret BLOB NOT NULL,
	created_at    INTEGER NOT NULL
);
CREATE INDEX access_keys_user ON access_keys (user_id, created_at);
