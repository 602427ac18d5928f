package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/arkserve/arkserve/internal/ark"
	"github.com/arkserve/arkserve/internal/sqlite"
	"github.com/arkserve/arkserve/internal/storetest"
)

func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T, clock *storetest.Clock) storetest.Store {
		db := MustOpen(t, filepath.Join(t.TempDir(), "arkserve.db"))
		db.Now = clock.Now
		return db
	})
}

func MustOpen(tb testing.TB, path string) *sqlite.DB {
	tb.Helper()
	db, err := sqlite.Open(context.Background(), path)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { db.Close() })
	return db
}

// TestReopen: everything written is there after closing and reopening the file, and migrations
// are not applied twice.
func TestReopen(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "arkserve.db")
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	pid := ark.NewHexID()
	if err := db.CreateDomain(ctx, &ark.Domain{ID: "default", Name: "Default", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateProject(ctx, &ark.Project{ID: pid, DomainID: "default", Name: "p", Enabled: true}); err != nil {
		t.Fatal(err)
	}
	m := &ark.Model{ID: ark.NewUUID(), ProjectID: pid, Name: "m", Version: "1.0.0", Health: ark.DefaultHealth()}
	if err := db.CreateModel(ctx, m); err != nil {
		t.Fatal(err)
	}
	s := &ark.Service{ID: ark.NewUUID(), ProjectID: pid, Name: "s", Config: []ark.ServiceConfig{{ModelID: m.ID, Weight: 100, InstanceCount: 1}}}
	entry, err := db.CreateService(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	db = MustOpen(t, path)
	_, logs, err := db.UpdateLogs(ctx, pid, s.ID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(logs) != 1 || logs[0].UpdateTime != entry.UpdateTime || logs[0].Config[0].ModelName != "m" {
		t.Fatalf("after reopen logs = %+v; want the entry written before", logs)
	}
}
