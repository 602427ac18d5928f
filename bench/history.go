package main

import (
	"context"
	"flag"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/arkserve/arkserve/internal/ark"
	"github.com/arkserve/arkserve/internal/postgres"
	"github.com/arkserve/arkserve/internal/sqlite"
)

// historyStore is what the history benchmark asks of a store: internal/sqlite today; the
// PostgreSQL store (internal/postgres, in progress) has the same method and plugs in here once it
// has a bulk loader (the clone statements of seed.go in its dialect).
type historyStore interface {
	UpdateLogs(ctx context.Context, projectID, serviceID string, updateTime *int64) (*ark.Service, []ark.UpdateLog, error)
	Close() error
}

// benchHistory: a service's logs and an update_time lookup, p50 and p99 through the store API,
// on a database of 1,000,000 update-log entries over 10,000 services against one of 1,000 entries
// over 10 services (100 entries per service in both, so the answers are the same size). Queries
// of both alternate in blocks, so that the machine's load hits both alike.
func benchHistory(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("history", flag.ContinueOnError)
	services := fs.Int("services", 10000, "services of the large database")
	small := fs.Int("small-services", 10, "services of the small database")
	per := fs.Int("entries", 100, "update-log entries per service")
	queries := fs.Int("queries", 3000, "queries of each kind on each database")
	dir := fs.String("dir", "", "keep the databases in this directory (reused when present)")
	warmOnly := fs.Bool("warm", false, "measure only the warm phase")
	pgServer := fs.String("postgres", "", "also on PostgreSQL: a server DSN (e.g. postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable) to create the databases arkbench_history_small and _large on, copied from the SQLite ones by arkserve admin migrate")
	if err := fs.Parse(args); err != nil {
		return err
	}
	header("history")
	root := *dir
	if root == "" {
		tmp, err := os.MkdirTemp("", "arkbench-history-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		root = tmp
	}
	open := func(name string, n int) (historyStore, seedPlan, string, error) {
		path := filepath.Join(root, name+".db")
		p := seedPlan{Services: n, Entries: *per, Start: time.UnixMilli(1_700_000_000_000), Prefix: name}
		fresh := false
		if _, err := os.Stat(path); err != nil {
			fresh = true
		}
		db, err := sqlite.Open(ctx, path)
		if err != nil {
			return nil, p, "", err
		}
		if fresh {
			d := &ark.Domain{ID: "bench0000000000000000000000domain", Name: "Default", Enabled: true}
			pr := &ark.Project{ID: "bench00000000000000000000project", DomainID: d.ID, Name: "default", Enabled: true}
			if err := db.CreateDomain(ctx, d); err != nil {
				return nil, p, "", err
			}
			if err := db.CreateProject(ctx, pr); err != nil {
				return nil, p, "", err
			}
		}
		db.Close()
		p.ProjectID, p.Owner = "bench00000000000000000000project", "bench-user"
		if fresh {
			t0 := time.Now()
			if err := seed(ctx, path, p, logStderr); err != nil {
				return nil, p, "", err
			}
			fmt.Printf("%s: loaded %d entries over %d services in %v\n", name, n**per, n, time.Since(t0).Round(time.Millisecond))
			t0 = time.Now()
			if err := verifySeed(ctx, path, p, 5); err != nil {
				return nil, p, "", fmt.Errorf("verify %s: %w", name, err)
			}
			fmt.Printf("%s: 5 services replayed through the store API: rows and answers identical (%v)\n", name, time.Since(t0).Round(time.Millisecond))
		}
		db, err = sqlite.Open(ctx, path)
		return db, p, path, err
	}
	smallDB, smallPlan, smallPath, err := open("small", *small)
	if err != nil {
		return err
	}
	defer smallDB.Close()
	bigDB, bigPlan, bigPath, err := open("large", *services)
	if err != nil {
		return err
	}
	defer bigDB.Close()
	for _, p := range []string{smallPath, bigPath} {
		fmt.Printf("%s: %s on disk (database, WAL and shared memory)\n", filepath.Base(p), diskSize(p))
	}

	kinds := []historyKind{{"logs, 1,000 entries", smallDB, smallPlan, true}, {"logs, 1,000,000 entries", bigDB, bigPlan, true},
		{"update_time, 1,000 entries", smallDB, smallPlan, false}, {"update_time, 1,000,000 entries", bigDB, bigPlan, false}}
	if *services != 10000 || *small != 10 || *per != 100 {
		kinds[0].name, kinds[1].name = fmt.Sprintf("logs, %d entries", *small**per), fmt.Sprintf("logs, %d entries", *services**per)
		kinds[2].name, kinds[3].name = fmt.Sprintf("update_time, %d entries", *small**per), fmt.Sprintf("update_time, %d entries", *services**per)
	}
	for i := range kinds {
		kinds[i].name = "SQLite: " + kinds[i].name
	}
	if *pgServer != "" {
		var pgKinds []historyKind
		stores := map[string]historyStore{}
		tmp, bin, err := prepare("pg") // arkserve admin migrate makes the copies
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		for _, db := range []struct {
			name, path string
		}{{"small", smallPath}, {"large", bigPath}} {
			st, err := postgresCopy(ctx, bin, *pgServer, "arkbench_history_"+db.name, db.path)
			if err != nil {
				return err
			}
			defer st.Close()
			stores[db.name] = st
		}
		for i, k := range kinds {
			k.name = "PostgreSQL: " + strings.TrimPrefix(k.name, "SQLite: ")
			k.db = stores[map[int]string{0: "small", 1: "large"}[i%2]]
			pgKinds = append(pgKinds, k)
		}
		kinds = append(kinds, pgKinds...)
	}
	// Two phases: as loaded (most services' pages not yet read by this process: the first read
	// of a service maps them in), then after every service has been read once (a server that has
	// been answering for a while).
	for pi, phase := range []string{"as loaded (cold)", "after reading every service once (warm)"} {
		if pi == 1 {
			for _, k := range kinds {
				if !k.all {
					continue
				}
				for i := range k.plan.Services {
					if _, _, err := k.db.UpdateLogs(ctx, k.plan.ProjectID, k.plan.serviceID(i), nil); err != nil {
						return err
					}
				}
			}
		} else if *warmOnly {
			continue
		}
		if err := historyQueries(ctx, kinds, *queries, phase); err != nil {
			return err
		}
	}
	return nil
}

// diskSize is the size of the database file with its -wal and -shm files.
func diskSize(path string) string {
	var n int64
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if st, err := os.Stat(p); err == nil {
			n += st.Size()
		}
	}
	return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
}

// historyKind is one kind of query on one database.
type historyKind struct {
	name string
	db   historyStore
	plan seedPlan
	all  bool // all of a service's entries, or one by update_time
}

// historyQueries measures queries of each kind, interleaved in blocks, and prints p50 and p99 with
// their ratios to the kind before (the small database's).
func historyQueries(ctx context.Context, kinds []historyKind, queries int, phase string) error {
	lat := make([][]time.Duration, len(kinds))
	r := rand.New(rand.NewPCG(7, 8))
	const block = 100
	for done := 0; done < queries; done += block {
		for ki, k := range kinds {
			for range block {
				i := r.IntN(k.plan.Services)
				var ut *int64
				if !k.all {
					// One of the service's entries: the template's times, shifted.
					v := k.plan.Start.Add(k.plan.shift(i)).UnixMilli() + int64(r.IntN(k.plan.Entries))*int64(2*step/time.Millisecond)
					ut = &v
				}
				t0 := time.Now()
				_, logs, err := k.db.UpdateLogs(ctx, k.plan.ProjectID, k.plan.serviceID(i), ut)
				d := time.Since(t0)
				if err != nil {
					return err
				}
				if want := map[bool]int{true: k.plan.Entries, false: 1}[k.all]; len(logs) != want {
					return fmt.Errorf("%s: service %d: %d entries; want %d", k.name, i, len(logs), want)
				}
				lat[ki] = append(lat[ki], d)
			}
		}
	}
	fmt.Printf("\n%s:\n\n| query (store API) | p50 ms | p99 ms | p50 vs 1,000 entries | p99 vs 1,000 entries | load avg |\n|---|---|---|---|---|---|\n", phase)
	for ki, k := range kinds {
		slices.Sort(lat[ki])
		p50, p99 := percentile(lat[ki], 0.5), percentile(lat[ki], 0.99)
		base := lat[ki-ki%2]
		fmt.Printf("| %s | %s | %s | %.2fx | %.2fx | %s |\n", k.name, ms(p50), ms(p99),
			float64(p50)/float64(percentile(base, 0.5)), float64(p99)/float64(percentile(base, 0.99)), loadavg())
	}
	return nil
}

// postgresCopy creates (afresh) the database name on the PostgreSQL server at serverDSN, copies the
// SQLite database at path into it with bin admin migrate (the real tool, which copies rows as
// they are), and opens the PostgreSQL store on it.
func postgresCopy(ctx context.Context, bin, serverDSN, name, path string) (historyStore, error) {
	conn, err := pgx.Connect(ctx, serverDSN)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, `CREATE DATABASE `+name); err != nil {
		return nil, err
	}
	u, err := url.Parse(serverDSN)
	if err != nil {
		return nil, err
	}
	u.Path = "/" + name
	dsn := u.String()
	t0 := time.Now()
	cmd := exec.CommandContext(ctx, bin, "admin", "migrate", "--from", "sqlite:"+path, "--to", dsn)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("arkserve admin migrate %s: %w", filepath.Base(path), err)
	}
	var size int64
	if err := conn.QueryRow(ctx, `SELECT pg_database_size($1)`, name).Scan(&size); err != nil {
		return nil, err
	}
	fmt.Printf("%s: copied into PostgreSQL database %s in %v; %.1f MiB on disk (pg_database_size)\n",
		filepath.Base(path), name, time.Since(t0).Round(time.Millisecond), float64(size)/(1<<20))
	return postgres.Open(ctx, dsn)
}
