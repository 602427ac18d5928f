-- The schema of internal/sqlite/migration/0001_init.sql on PostgreSQL: the same tables and column
-- names (arkserve admin migrate copies table by table), times in epoch milliseconds, JSON as text
-- (stored byte for byte as arkserve wrote it), and the "C" collation on ids and names so that
-- lists sort as they do on SQLite, whatever the database's locale.

-- Identity: Keystone-style domains, projects, users, role assignments, revoked tokens.
CREATE TABLE domains (
	id      TEXT COLLATE "C" PRIMARY KEY,
	name    TEXT COLLATE "C" NOT NULL UNIQUE,
	enabled BOOLEAN NOT NULL DEFAULT TRUE
);
CREATE TABLE projects (
	id          TEXT COLLATE "C" PRIMARY KEY,
	domain_id   TEXT COLLATE "C" NOT NULL REFERENCES domains(id),
	name        TEXT COLLATE "C" NOT NULL,
	description TEXT NOT NULL DEFAULT '',
	enabled     BOOLEAN NOT NULL DEFAULT TRUE,
	created_at  BIGINT NOT NULL,
	UNIQUE (domain_id, name)
);
CREATE TABLE users (
	id            TEXT COLLATE "C" PRIMARY KEY,
	domain_id     TEXT COLLATE "C" NOT NULL REFERENCES domains(id),
	name          TEXT COLLATE "C" NOT NULL,
	password_hash TEXT NOT NULL,
	enabled       BOOLEAN NOT NULL DEFAULT TRUE,
	created_at    BIGINT NOT NULL,
	UNIQUE (domain_id, name)
);
CREATE TABLE role_assignments (
	user_id    TEXT COLLATE "C" NOT NULL REFERENCES users(id) ON DELETE CASCADE,
	project_id TEXT COLLATE "C" NOT NULL REFERENCES projects(id) ON DELETE CASCADE,
	role       TEXT COLLATE "C" NOT NULL,
	PRIMARY KEY (user_id, project_id, role)
);
CREATE TABLE revoked_tokens (
	id         TEXT COLLATE "C" PRIMARY KEY,
	expires_at BIGINT NOT NULL
);

-- Models (AI applications). JSON columns hold the documented fields arkserve stores as given.
CREATE TABLE models (
	id              TEXT COLLATE "C" PRIMARY KEY,
	project_id      TEXT COLLATE "C" NOT NULL REFERENCES projects(id),
	owner           TEXT NOT NULL,
	name            TEXT COLLATE "C" NOT NULL,
	version         TEXT COLLATE "C" NOT NULL,
	description     TEXT NOT NULL,
	source_location TEXT NOT NULL,
	model_type      TEXT NOT NULL,
	runtime         TEXT NOT NULL,
	model_algorithm TEXT NOT NULL,
	workspace_id    TEXT NOT NULL,
	execution_code  TEXT NOT NULL,
	source_copy     TEXT NOT NULL,
	source_type     TEXT NOT NULL,
	initial_config  TEXT NOT NULL,
	model_metrics   TEXT NOT NULL,
	install_type    TEXT NOT NULL,
	size            BIGINT NOT NULL,
	status          TEXT NOT NULL,
	created_at      BIGINT NOT NULL,
	cmd             TEXT NOT NULL,
	health          TEXT NOT NULL,
	extra           TEXT NOT NULL,
	UNIQUE (project_id, name, version)
);
CREATE INDEX models_project_created ON models (project_id, created_at);

-- Services. config is the desired configuration (that of the newest update-log entry that has not
-- failed). deleted marks a service whose instances the engine still has to stop before purging it.
CREATE TABLE services (
	id                    TEXT COLLATE "C" PRIMARY KEY,
	project_id            TEXT COLLATE "C" NOT NULL REFERENCES projects(id),
	owner                 TEXT NOT NULL,
	name                  TEXT COLLATE "C" NOT NULL,
	description           TEXT NOT NULL,
	infer_type            TEXT NOT NULL,
	workspace_id          TEXT NOT NULL,
	cluster_id            TEXT NOT NULL,
	pool_name             TEXT NOT NULL,
	vpc_id                TEXT NOT NULL,
	subnet_network_id     TEXT NOT NULL,
	security_group_id     TEXT NOT NULL,
	load_balancer_policy  TEXT NOT NULL,
	priority              BIGINT NOT NULL,
	schedule              TEXT NOT NULL,
	additional_properties TEXT NOT NULL,
	service_secrets       TEXT NOT NULL,
	config                TEXT NOT NULL,
	status                TEXT NOT NULL,
	progress              BIGINT NOT NULL,
	error_msg             TEXT NOT NULL,
	publish_at            BIGINT NOT NULL,
	update_time           BIGINT NOT NULL,
	operation_time        BIGINT NOT NULL,
	transition_at         BIGINT NOT NULL,
	due_time              BIGINT NOT NULL,
	invocation_times      BIGINT NOT NULL DEFAULT 0,
	failed_times          BIGINT NOT NULL DEFAULT 0,
	deleted               BOOLEAN NOT NULL DEFAULT FALSE
);
CREATE UNIQUE INDEX services_project_name ON services (project_id, name) WHERE NOT deleted;
CREATE INDEX services_project_publish ON services (project_id, publish_at);

-- Which models a service needs: its configuration, and while an update runs, the configuration it
-- would roll back to. A model listed here cannot be deleted.
CREATE TABLE service_models (
	service_id TEXT COLLATE "C" NOT NULL REFERENCES services(id) ON DELETE CASCADE,
	model_id   TEXT COLLATE "C" NOT NULL REFERENCES models(id),
	PRIMARY KEY (service_id, model_id)
);
CREATE INDEX service_models_model ON service_models (model_id);

-- Update logs: one row per accepted configuration change; (service_id, update_time) is unique so
-- that ?update_time= selects exactly one entry.
CREATE TABLE update_logs (
	service_id    TEXT COLLATE "C" NOT NULL REFERENCES services(id) ON DELETE CASCADE,
	update_time   BIGINT NOT NULL,
	result        TEXT NOT NULL,
	config        TEXT NOT NULL,
	previous      TEXT NOT NULL,
	cluster_id    TEXT NOT NULL,
	extend_config TEXT NOT NULL,
	finished_at   BIGINT NOT NULL DEFAULT 0,
	PRIMARY KEY (service_id, update_time)
);
CREATE INDEX update_logs_running ON update_logs (service_id) WHERE result = 'RUNNING';

CREATE TABLE events (
	id         BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
	service_id TEXT COLLATE "C" NOT NULL REFERENCES services(id) ON DELETE CASCADE,
	type       TEXT NOT NULL,
	info       TEXT NOT NULL,
	occur_time BIGINT NOT NULL
);
CREATE INDEX events_service_time ON events (service_id, occur_time);
