package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"iter"
	"sort"
)

// Dump reads every table of the database in one snapshot, parents before the tables whose foreign
// keys point at them, and calls fn with each table's name, columns and rows; the rows hold what
// the driver returns (int64, float64, string, []byte, nil) and can be read once, while fn runs.
// schema_migrations is left out: it belongs to the engine. arkserve admin migrate copies what Dump
// reads, so a table added by a migration is copied (or refused, when PostgreSQL has no such
// table), never skipped.
func (db *DB) Dump(ctx context.Context, fn func(table string, columns []string, rows iter.Seq2[[]any, error]) error) error {
	return db.read(ctx, func(tx *sql.Tx) error {
		tables, err := tablesByDependency(ctx, tx)
		if err != nil {
			return err
		}
		for _, t := range tables {
			if err := dumpTable(ctx, tx, t, fn); err != nil {
				return fmt.Errorf("dump %s: %w", t, err)
			}
		}
		return nil
	})
}

func dumpTable(ctx context.Context, tx *sql.Tx, table string, fn func(string, []string, iter.Seq2[[]any, error]) error) error {
	rows, err := tx.QueryContext(ctx, `SELECT * FROM "`+table+`"`)
	if err != nil {
		return err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return err
	}
	seq := func(yield func([]any, error) bool) {
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				yield(nil, err)
				return
			}
			if !yield(vals, nil) {
				return
			}
		}
		if err := rows.Err(); err != nil {
			yield(nil, err)
		}
	}
	return fn(table, cols, seq)
}

// tablesByDependency lists the tables (but schema_migrations and SQLite's own) so that each comes
// after the tables its foreign keys reference; otherwise by name.
func tablesByDependency(ctx context.Context, tx *sql.Tx) ([]string, error) {
	names, err := queryStrings(ctx, tx, `SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite\_%' ESCAPE '\'
		AND name <> 'schema_migrations' ORDER BY name`)
	if err != nil {
		return nil, err
	}
	deps := map[string][]string{}
	for _, n := range names {
		if deps[n], err = queryStrings(ctx, tx, `SELECT DISTINCT "table" FROM pragma_foreign_key_list(?)`, n); err != nil {
			return nil, err
		}
	}
	var out []string
	done := map[string]bool{}
	var visit func(n string, path map[string]bool) error
	visit = func(n string, path map[string]bool) error {
		if done[n] {
			return nil
		}
		if path[n] {
			return fmt.Errorf("foreign keys of table %s form a cycle", n)
		}
		path[n] = true
		ds := deps[n]
		sort.Strings(ds)
		for _, d := range ds {
			if d != n {
				if err := visit(d, path); err != nil {
					return err
				}
			}
		}
		done[n] = true
		out = append(out, n)
		return nil
	}
	for _, n := range names {
		if err := visit(n, map[string]bool{}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func queryStrings(ctx context.Context, tx *sql.Tx, query string, args ...any) ([]string, error) {
	return queryAll(ctx, tx, scanString, query, args...)
}
