package postgres

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"slices"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5"
)

// Source is a database to copy into PostgreSQL (sqlite.DB): Dump calls fn with each of its tables,
// parents before the tables whose foreign keys reference them, all read in one snapshot. Row
// values are int64, float64, string, []byte, bool or nil.
type Source interface {
	Dump(ctx context.Context, fn func(table string, columns []string, rows iter.Seq2[[]any, error]) error) error
}

// ErrNotEmpty is returned by Import for a database that holds data when force is not set.
var ErrNotEmpty = errors.New("the PostgreSQL database is not empty")

// Import copies every table of src into the database in one transaction, and reports how many
// rows each table received. Each source table must exist here with every one of its columns: a
// table or column without a counterpart fails the import, so nothing is left behind silently.
// A database that holds any row (the bootstrap admin of a server that started on it, say) is
// refused with ErrNotEmpty unless force is set; then its contents are replaced. The tables are
// locked for the import, so servers on the database wait for it.
func (db *DB) Import(ctx context.Context, src Source, force bool) (map[string]int64, error) {
	counts := map[string]int64{}
	var names []string
	err := pgx.BeginFunc(ctx, db.pool, func(tx pgx.Tx) error {
		tables, err := tableColumns(ctx, tx)
		if err != nil {
			return err
		}
		for t := range tables {
			names = append(names, pgx.Identifier{t}.Sanitize())
		}
		if len(names) == 0 {
			return errors.New("the PostgreSQL database has no arkserve tables")
		}
		if _, err := tx.Exec(ctx, `LOCK TABLE `+strings.Join(names, ", ")+` IN ACCESS EXCLUSIVE MODE`); err != nil {
			return err
		}
		for t := range tables {
			var hasRows bool
			if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM `+pgx.Identifier{t}.Sanitize()+`)`).Scan(&hasRows); err != nil {
				return err
			}
			if hasRows && !force {
				return fmt.Errorf("%w: table %s has rows (force replaces them)", ErrNotEmpty, t)
			}
		}
		if force {
			if _, err := tx.Exec(ctx, `TRUNCATE `+strings.Join(names, ", ")+` RESTART IDENTITY CASCADE`); err != nil {
				return err
			}
		}
		err = src.Dump(ctx, func(table string, columns []string, rows iter.Seq2[[]any, error]) error {
			types, ok := tables[table]
			if !ok {
				return fmt.Errorf("table %s has no counterpart in PostgreSQL (internal/postgres/migration); it cannot be copied", table)
			}
			for _, c := range columns {
				if _, ok := types[c]; !ok {
					return fmt.Errorf("column %s.%s has no counterpart in PostgreSQL (internal/postgres/migration); it cannot be copied", table, c)
				}
			}
			next, stop := iter.Pull2(rows)
			defer stop()
			n, err := tx.CopyFrom(ctx, pgx.Identifier{table}, columns, pgx.CopyFromFunc(func() ([]any, error) {
				vals, err, ok := next()
				if !ok || err != nil {
					return nil, err
				}
				for i, v := range vals {
					if vals[i], err = convert(v, types[columns[i]]); err != nil {
						return nil, fmt.Errorf("column %s.%s: %w", table, columns[i], err)
					}
				}
				return vals, nil
			}))
			if err != nil {
				return fmt.Errorf("copy %s: %w", table, err)
			}
			counts[table] = n
			return nil
		})
		if err != nil {
			return err
		}
		return resetIdentities(ctx, tx)
	})
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	// The planner knows nothing of rows that came by COPY until the tables are analyzed, which
	// autovacuum does in its own time: meanwhile a service's update logs were read by a bitmap
	// scan and a sort of an estimated 11,000 rows instead of in primary-key order (EXPLAIN
	// ANALYZE on 1,000,000 entries, `go run ./bench history -postgres`).
	if _, err := db.pool.Exec(ctx, `ANALYZE `+strings.Join(names, ", ")); err != nil {
		return counts, fmt.Errorf("import: analyze: %w", err)
	}
	return counts, nil
}

// convert turns a source value into one for a column of PostgreSQL type typ: SQLite keeps
// booleans as integers and may hand back text as bytes.
func convert(v any, typ string) (any, error) {
	switch typ {
	case "boolean":
		switch x := v.(type) {
		case int64:
			if x != 0 && x != 1 {
				return nil, fmt.Errorf("%d is not a boolean", x)
			}
			return x == 1, nil
		}
	case "bytea":
		if s, ok := v.(string); ok {
			return []byte(s), nil
		}
	case "text":
		if b, ok := v.([]byte); ok {
			return string(b), nil
		}
	}
	return v, nil
}

// tableColumns returns the tables of the current schema (but schema_migrations) with the type of
// each column.
func tableColumns(ctx context.Context, tx pgx.Tx) (map[string]map[string]string, error) {
	rows, err := tx.Query(ctx, `SELECT c.table_name, c.column_name, c.data_type FROM information_schema.columns c
		JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
		WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' AND c.table_name <> 'schema_migrations'`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := map[string]map[string]string{}
	for rows.Next() {
		var t, c, typ string
		if err := rows.Scan(&t, &c, &typ); err != nil {
			return nil, err
		}
		if out[t] == nil {
			out[t] = map[string]string{}
		}
		out[t][c] = typ
	}
	return out, rows.Err()
}

// resetIdentities moves each identity column's sequence past the largest value copied, so that
// rows inserted later get new ids.
func resetIdentities(ctx context.Context, tx pgx.Tx) error {
	rows, err := tx.Query(ctx, `SELECT table_name, column_name FROM information_schema.columns
		WHERE table_schema = current_schema() AND (is_identity = 'YES' OR column_default LIKE 'nextval(%')`)
	if err != nil {
		return err
	}
	var cols [][2]string
	for rows.Next() {
		var t, c string
		if err := rows.Scan(&t, &c); err != nil {
			rows.Close()
			return err
		}
		cols = append(cols, [2]string{t, c})
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	for _, tc := range cols {
		t, c := pgx.Identifier{tc[0]}.Sanitize(), pgx.Identifier{tc[1]}.Sanitize()
		if _, err := tx.Exec(ctx, `SELECT setval(pg_get_serial_sequence($1, $2), COALESCE(MAX(`+c+`), 0) + 1, false) FROM `+t,
			t, tc[1]); err != nil {
			return err
		}
	}
	return nil
}

// Dump reads every table (but schema_migrations) in one snapshot, by name, each ordered by all its
// columns, and calls fn with its name, columns and rows, as sqlite.DB.Dump does: for comparing a
// copy with its source, or copying back.
func (db *DB) Dump(ctx context.Context, fn func(table string, columns []string, rows iter.Seq2[[]any, error]) error) error {
	return db.read(ctx, func(tx pgx.Tx) error {
		tables, err := tableColumns(ctx, tx)
		if err != nil {
			return err
		}
		var names []string
		for t := range tables {
			names = append(names, t)
		}
		slices.Sort(names)
		for _, t := range names {
			order := make([]string, len(tables[t]))
			for i := range order {
				order[i] = strconv.Itoa(i + 1)
			}
			rows, err := tx.Query(ctx, `SELECT * FROM `+pgx.Identifier{t}.Sanitize()+` ORDER BY `+strings.Join(order, ", "))
			if err != nil {
				return err
			}
			var cols []string
			for _, f := range rows.FieldDescriptions() {
				cols = append(cols, f.Name)
			}
			seq := func(yield func([]any, error) bool) {
				for rows.Next() {
					vals, err := rows.Values()
					if !yield(vals, err) || err != nil {
						return
					}
				}
				if err := rows.Err(); err != nil {
					yield(nil, err)
				}
			}
			err = fn(t, cols, seq)
			rows.Close()
			if err != nil {
				return fmt.Errorf("dump %s: %w", t, err)
			}
		}
		return nil
	})
}
