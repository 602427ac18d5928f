package main

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/arkserve/arkserve/internal/cluster"
	"github.com/arkserve/arkserve/internal/gateway"
	"github.com/arkserve/arkserve/internal/httpapi"
	"github.com/arkserve/arkserve/internal/iam"
	"github.com/arkserve/arkserve/internal/postgres"
	"github.com/arkserve/arkserve/internal/rollout"
	"github.com/arkserve/arkserve/internal/sqlite"
)

// Store is what the server needs of its database: the stores of the HTTP API, the engine, IAM and
// the gateway, and Close. *sqlite.DB and *postgres.DB are Stores.
type Store interface {
	httpapi.Store
	rollout.Store
	iam.Store
	gateway.Store
	cluster.Store
	Close() error
}

// database is a parsed --database value.
type database struct {
	engine string // "sqlite" or "postgres"
	dsn    string // the file of SQLite, the URL of PostgreSQL
}

// parseDatabase reads a --database value: postgres://... or postgresql://... (PostgreSQL),
// sqlite:PATH (SQLite), or "" for SQLite at DATA/arkserve.db.
func parseDatabase(s, dataDir string) (database, error) {
	switch {
	case s == "":
		return database{"sqlite", filepath.Join(dataDir, "arkserve.db")}, nil
	case strings.HasPrefix(s, "postgres://"), strings.HasPrefix(s, "postgresql://"):
		if _, err := url.Parse(s); err != nil {
			return database{}, fmt.Errorf("database: %w", err)
		}
		return database{"postgres", s}, nil
	case strings.HasPrefix(s, "sqlite:"):
		path := strings.TrimPrefix(strings.TrimPrefix(s, "sqlite:"), "//")
		if path == "" {
			return database{}, fmt.Errorf("database %q: sqlite: needs a file path", s)
		}
		return database{"sqlite", path}, nil
	}
	return database{}, fmt.Errorf("database %q: use postgres://USER@HOST:PORT/DB?sslmode=... or sqlite:PATH", redact(s))
}

// String is the database for logs, without a password.
func (d database) String() string {
	if d.engine == "postgres" {
		return redact(d.dsn)
	}
	return "sqlite:" + d.dsn
}

func redact(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		return u.Redacted()
	}
	return s
}

// openStore opens (and migrates) the database; nil on error.
func openStore(ctx context.Context, d database, logger *slog.Logger) (Store, error) {
	logger.Info("database", "engine", d.engine, "database", d.String())
	if d.engine == "postgres" {
		db, err := postgres.Open(ctx, d.dsn)
		if err != nil {
			return nil, err
		}
		db.Logger = logger
		return db, nil
	}
	// SQLite gives its -wal and -shm files the mode of the database file, so the file is created
	// 0600 before SQLite opens it.
	f, err := os.OpenFile(d.dsn, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("database: %w", err)
	}
	f.Close()
	db, err := sqlite.Open(ctx, d.dsn)
	if err != nil {
		return nil, err
	}
	return db, nil
}
