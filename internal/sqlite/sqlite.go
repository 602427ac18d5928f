// Package sqlite is arkserve's embedded store on SQLite (modernc.org/sqlite, no cgo): WAL, foreign
// keys, a busy timeout and embedded migrations. Writes go through one connection with BEGIN
// IMMEDIATE, so writers queue instead of failing on lock upgrades; reads use a pool of read-only
// connections that WAL lets run beside the writer.
package sqlite

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/arkserve/arkserve/internal/rowcodec"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

//go:embed migration/*.sql
var migrations embed.FS

// DB is the SQLite store. Open it with Open; it is safe for concurrent use.
type DB struct {
	w   *sql.DB // the single writer
	r   *sql.DB // readers
	Now func() time.Time

	gen   atomic.Uint64 // committed write transactions (Generation)
	stmts sync.Map      // query → *sql.Stmt on r (stmt.go)
}

// Open opens (creating if needed) the database file at path and applies pending migrations.
func Open(ctx context.Context, path string) (*DB, error) {
	dsn := func(extra string) string {
		q := url.Values{}
		for _, p := range []string{"journal_mode(WAL)", "foreign_keys(1)", "busy_timeout(10000)", "synchronous(NORMAL)"} {
			q.Add("_pragma", p)
		}
		return "file:" + path + "?" + q.Encode() + extra
	}
	w, err := sql.Open("sqlite", dsn("&_txlock=immediate"))
	if err != nil {
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetConnMaxIdleTime(0)
	db := &DB{w: w, Now: time.Now}
	if err := db.migrate(ctx); err != nil {
		w.Close()
		return nil, err
	}
	// Readers map the database file (up to 1 GiB): a lookup in a large history touches pages that
	// are in the OS's cache but not in SQLite's, and reading each through the file costs a syscall
	// and a copy (an update_time lookup in 1,000,000 entries took 1.8x one in 1,000; 1.25x mapped,
	// bench/history). The WAL is still read through the file.
	r, err := sql.Open("sqlite", dsn("&_pragma=query_only(1)&_pragma=mmap_size(1073741824)"))
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("open sqlite: %w", err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	db.r = r
	return db, nil
}

// Close closes the database.
func (db *DB) Close() error {
	db.closeStmts()
	err := db.w.Close()
	if db.r != nil {
		err = errors.Join(err, db.r.Close())
	}
	return err
}

func (db *DB) migrate(ctx context.Context) error {
	if _, err := db.w.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	names, err := fs.Glob(migrations, "migration/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		if err := db.migrateFile(ctx, name); err != nil {
			return fmt.Errorf("migrate %s: %w", name, err)
		}
	}
	return nil
}

func (db *DB) migrateFile(ctx context.Context, name string) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM schema_migrations WHERE name = ?`, name).Scan(&n); err != nil {
		return err
	}
	if n > 0 {
		return nil
	}
	body, err := fs.ReadFile(migrations, name)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, string(body)); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (name, applied_at) VALUES (?, ?)`, name, time.Now().UnixMilli()); err != nil {
		return err
	}
	return tx.Commit()
}

// write runs fn in a write transaction.
func (db *DB) write(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	defer tx.Rollback()
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	db.gen.Add(1)
	return nil
}

// Generation changes after every committed write through db (it counts them). What was read
// after Generation returned g is current for as long as Generation returns g: callers cache
// answers (the HTTP API's update logs) and check it. Only this process writes the database.
func (db *DB) Generation() uint64 { return db.gen.Load() }

// read runs fn in a read transaction, so that a multi-statement read sees one snapshot.
func (db *DB) read(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := db.r.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("begin read: %w", err)
	}
	defer tx.Rollback()
	return fn(tx)
}

func (db *DB) nowMs() int64 { return db.Now().UnixMilli() }

// querier is the readers (db.r) or a transaction.
type querier interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// queryAll returns the rows that query selects, decoded by scan.
func queryAll[T any](ctx context.Context, q querier, scan func(rowcodec.Scanner) (T, error), query string, args ...any) ([]T, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// scanString decodes a row of one text column.
func scanString(sc rowcodec.Scanner) (string, error) {
	var s string
	return s, sc.Scan(&s)
}

func isUnique(err error) bool {
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}

// Column encodings shared with internal/postgres.
var (
	mustJSON   = rowcodec.JSON
	fromJSON   = rowcodec.FromJSON
	msTime     = rowcodec.Time
	likeEscape = rowcodec.Contains
	order      = rowcodec.Order
)

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}
