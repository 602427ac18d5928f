package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"text/tabwriter"

	"github.com/arkserve/arkserve/internal/postgres"
	"github.com/arkserve/arkserve/internal/sqlite"
)

const migrateUsage = `Usage: arkserve admin migrate --from sqlite:PATH --to postgres://USER@HOST:PORT/DB?sslmode=... [--force]

Copies everything in a SQLite database (PATH: the arkserve.db file or the data dir that holds it)
into PostgreSQL, in one transaction: identity, models, services, update logs, events, call
counts, access keys, every table. The PostgreSQL database must be empty (a server that started
on it has created its admin); --force replaces what it holds. Stop the servers first. The token
keyring and the access-key secrets are copied sealed with the master key (DATA/token.key): give
every server on PostgreSQL that key (a copy of the file, or --master-key-file).
`

// runMigrate runs arkserve admin migrate.
func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("arkserve admin migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, migrateUsage) }
	from := fs.String("from", "", "the SQLite database: sqlite:PATH")
	to := fs.String("to", "", "the PostgreSQL database: postgres://...")
	force := fs.Bool("force", false, "replace what the PostgreSQL database holds")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return usageError(fmt.Sprintf("admin migrate: unexpected argument %q", fs.Arg(0)))
	}
	src, err := parseDatabase(*from, "")
	if *from == "" || err != nil || src.engine != "sqlite" {
		fmt.Fprint(stderr, migrateUsage)
		return usageError("admin migrate: --from must be sqlite:PATH")
	}
	dst, err := parseDatabase(*to, "")
	if err != nil || dst.engine != "postgres" {
		fmt.Fprint(stderr, migrateUsage)
		return usageError("admin migrate: --to must be a postgres:// URL")
	}
	if st, err := os.Stat(src.dsn); err == nil && st.IsDir() {
		src.dsn = filepath.Join(src.dsn, "arkserve.db")
	}
	if _, err := os.Stat(src.dsn); err != nil { // sqlite.Open would create an empty database
		return fmt.Errorf("admin migrate: %w", err)
	}
	counts, err := migrate(ctx, src.dsn, dst.dsn, *force)
	if errors.Is(err, postgres.ErrNotEmpty) {
		return fmt.Errorf("admin migrate: %w; nothing was copied", err)
	} else if err != nil {
		return fmt.Errorf("admin migrate: %w", err)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TABLE\tROWS")
	var tables []string
	for t := range counts {
		tables = append(tables, t)
	}
	slices.Sort(tables)
	for _, t := range tables {
		fmt.Fprintf(tw, "%s\t%d\n", t, counts[t])
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "copied %s to %s\n", src, dst)
	return nil
}

// migrate copies the SQLite database at path into the PostgreSQL database at dsn.
func migrate(ctx context.Context, path, dsn string, force bool) (map[string]int64, error) {
	from, err := sqlite.Open(ctx, path)
	if err != nil {
		return nil, err
	}
	defer from.Close()
	to, err := postgres.Open(ctx, dsn)
	if err != nil {
		return nil, err
	}
	defer to.Close()
	return to.Import(ctx, from, force)
}
