// Package postgres is arkserve's store on PostgreSQL (pgx v5, a pgxpool): the surface of
// internal/sqlite, for several servers (replicas) on one database. Every write runs in a
// transaction that first locks the service row it changes (SELECT ... FOR UPDATE), so concurrent
// replicas queue on one service instead of breaking its rules (one RUNNING entry, unique
// update_time, a finished entry never edited). The hot per-service writes (UpdateService and the
// engine's FinishUpdate and SetStatus) run at READ COMMITTED, where the lock alone keeps those rules
// and a writer queued behind another never fails; the others run SERIALIZABLE. Serialization
// failures and deadlocks are retried a bounded number of times. Multi-statement reads run in one
// REPEATABLE READ snapshot. Migrations are embedded and applied under an advisory lock, so
// replicas that start together migrate once.
package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/arkserve/arkserve/internal/rowcodec"
)

//go:embed migration/*.sql
var migrations embed.FS

// DB is the PostgreSQL store. Open it with Open; it is safe for concurrent use.
type DB struct {
	pool *pgxpool.Pool
	Now  func() time.Time
	// Logger receives what background work (Listen) cannot return; nil: slog.Default().
	Logger *slog.Logger
}

func (db *DB) logger() *slog.Logger {
	if db.Logger != nil {
		return db.Logger
	}
	return slog.Default()
}

// MaxAttempts is how often a transaction is tried when PostgreSQL reports a serialization failure
// (40001) or a deadlock (40P01).
const MaxAttempts = 10

// migrationLock is the advisory lock key held while migrations are applied ("arkserve" in ASCII).
const migrationLock int64 = 0x61726b7365727665

// Open connects to the database at dsn (a postgres:// URL or key=value string, with pgxpool's
// pool_* settings) and applies pending migrations.
func Open(ctx context.Context, dsn string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	db := &DB{pool: pool, Now: time.Now}
	if err := db.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return db, nil
}

// Close closes the connections.
func (db *DB) Close() error {
	db.pool.Close()
	return nil
}

// migrate applies the embedded migrations not yet in schema_migrations, in name order, in one
// transaction that holds the advisory lock: a replica that starts while another migrates waits,
// then finds nothing left to do.
func (db *DB) migrate(ctx context.Context) error {
	names, err := EmbeddedMigrations()
	if err != nil {
		return err
	}
	err = pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, migrationLock); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at BIGINT NOT NULL)`); err != nil {
			return err
		}
		for _, name := range names {
			var n int
			if err := tx.QueryRow(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE name = $1`, name).Scan(&n); err != nil {
				return err
			}
			if n > 0 {
				continue
			}
			body, err := fs.ReadFile(migrations, name)
			if err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, string(body)); err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (name, applied_at) VALUES ($1, $2)`, name, time.Now().UnixMilli()); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	return nil
}

// EmbeddedMigrations returns the names of the migrations this build carries, in the order they
// apply.
func EmbeddedMigrations() ([]string, error) {
	names, err := fs.Glob(migrations, "migration/*.sql")
	sort.Strings(names)
	return names, err
}

// Migrations returns the names of the migrations applied to the database, in name order.
func (db *DB) Migrations(ctx context.Context) ([]string, error) {
	return all(ctx, db.pool, func(sc rowcodec.Scanner) (string, error) {
		var s string
		return s, sc.Scan(&s)
	}, `SELECT name FROM schema_migrations ORDER BY name`)
}

// write runs fn in a SERIALIZABLE transaction, again (up to MaxAttempts) while it fails on a
// serialization failure or deadlock. fn must be repeatable: it starts from scratch each time.
func (db *DB) write(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return db.retry(ctx, pgx.TxOptions{IsoLevel: pgx.Serializable}, fn)
}

// locked runs fn in a READ COMMITTED transaction, again (up to MaxAttempts) on a deadlock. It is for
// the hot per-service writes (a PUT, the engine's reports), whose first statement locks the service
// row: every writer of a service's row, entries and
// models takes the same lock, and after it each READ COMMITTED statement sees the latest committed
// state, so the lock alone keeps the service's rules. SERIALIZABLE would add nothing there but
// failures: a PUT queued behind an engine report that changed the row would fail with 40001, and
// under a storm of PUTs and reports a retried PUT can lose that race again and again.
func (db *DB) locked(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return db.retry(ctx, pgx.TxOptions{IsoLevel: pgx.ReadCommitted}, fn)
}

// read runs fn in a read-only REPEATABLE READ transaction: one snapshot for several statements.
func (db *DB) read(ctx context.Context, fn func(tx pgx.Tx) error) error {
	return db.retry(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, fn)
}

func (db *DB) retry(ctx context.Context, opts pgx.TxOptions, fn func(tx pgx.Tx) error) error {
	for attempt := 1; ; attempt++ {
		err := pgx.BeginTxFunc(ctx, db.pool, opts, fn)
		if err == nil || !retryable(err) || attempt == MaxAttempts {
			return err
		}
		// Back off a few milliseconds, more with each attempt, jittered so that the
		// transactions that collided do not collide again.
		d := time.Duration(attempt) * time.Duration(1+rand.IntN(5)) * time.Millisecond
		select {
		case <-ctx.Done():
			return errors.Join(err, ctx.Err())
		case <-time.After(d):
		}
	}
}

// retryable reports a serialization failure or a deadlock: the transaction may succeed when tried
// again.
func retryable(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01")
}

// isUnique reports a unique violation (SQLSTATE 23505).
func isUnique(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

func (db *DB) nowMs() int64 { return db.Now().UnixMilli() }

// limit is a list's LIMIT: NULL (no limit) for a negative one, as SQLite treats LIMIT -1.
func limit(n int) any {
	if n < 0 {
		return nil
	}
	return n
}
