-- The token keyring shared by every server on the database, as
-- internal/sqlite/migration/0003_token_keys.sql. The keys are sealed with the master key every
-- server gets from its configuration: a copy of the database alone cannot forge tokens.
CREATE TABLE token_keys (
	id         TEXT COLLATE "C" PRIMARY KEY,
	sealed_key BYTEA NOT NULL,
	created_at BIGINT NOT NULL,
	not_after  BIGINT NOT NULL DEFAULT 0
);
