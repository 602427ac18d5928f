package main

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/arkserve/arkserve/internal/ark"
	"github.com/arkserve/arkserve/internal/sqlite"
)

// TestSeed: the bulk loader writes exactly the rows the store API writes (verifySeed replays
// services through the store and compares every row and answer), so the benchmarks' databases
// stay faithful when the store changes.
func TestSeed(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "seed.db")
	db, err := sqlite.Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	d := &ark.Domain{ID: "d0000000000000000000000000000000", Name: "Default", Enabled: true}
	p := &ark.Project{ID: "p0000000000000000000000000000000", DomainID: d.ID, Name: "default", Enabled: true}
	if err := db.CreateDomain(ctx, d); err != nil {
		t.Fatal(err)
	}
	if err := db.CreateProject(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	plan := seedPlan{ProjectID: p.ID, Owner: "u", Services: 3, Entries: 4, Start: time.UnixMilli(1_700_000_000_000), Prefix: "t"}
	if err := seed(ctx, path, plan, t.Logf); err != nil {
		t.Fatalf("seed: %v", err)
	}
	if err := verifySeed(ctx, path, plan, 3); err != nil {
		t.Fatalf("verifySeed: %v", err)
	}
}
