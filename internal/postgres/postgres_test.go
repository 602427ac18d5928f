package postgres_test

import (
	"context"
	"sync"
	"testing"

	"github.com/arkserve/arkserve/internal/postgres"
	"github.com/arkserve/arkserve/internal/postgres/pgtest"
	"github.com/arkserve/arkserve/internal/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, clock *storetest.Clock) storetest.Store {
		db := MustOpen(t, pgtest.NewDatabase(t))
		db.Now = clock.Now
		return db
	})
}

// MustOpen opens the store on dsn and closes it when the test ends.
func MustOpen(tb testing.TB, dsn string) *postgres.DB {
	tb.Helper()
	db, err := postgres.Open(context.Background(), dsn)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// TestMigrateOnce: replicas that start at once on an empty database all open it, and each
// migration is applied exactly once.
func TestMigrateOnce(t *testing.T) {
	dsn := pgtest.NewDatabase(t)
	const replicas = 4
	var wg sync.WaitGroup
	errs := make([]error, replicas)
	for i := range replicas {
		wg.Add(1)
		go func() {
			defer wg.Done()
			db, err := postgres.Open(context.Background(), dsn)
			if err == nil {
				db.Close()
			}
			errs[i] = err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("replica %d: Open = %v", i, err)
		}
	}
	db := MustOpen(t, dsn)
	names, err := db.Migrations(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want, err := postgres.EmbeddedMigrations()
	if err != nil {
		t.Fatal(err)
	}
	if len(names) != len(want) {
		t.Fatalf("schema_migrations = %v; want each of %v once", names, want)
	}
	for i := range want {
		if names[i] != want[i] {
			t.Fatalf("schema_migrations = %v; want %v", names, want)
		}
	}
}
