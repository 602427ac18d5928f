-- The token keyring shared by every server on the database (internal/iam keyring.go). The keys are
-- sealed with the master key every server gets from its configuration (DATA/token.key or
-- --master-key-file): a copy of the database alone cannot forge tokens. not_after is 0 until a
-- newer key supersedes the key; from then on the key verifies tokens until not_after only.
CREATE TABLE token_keys (
	id         TEXT PRIMARY KEY,
	sealed_key BLOB NOT NULL,
	created_at INTEGER NOT NULL,
	not_after  INTEGER NOT NULL DEFAULT 0
);
