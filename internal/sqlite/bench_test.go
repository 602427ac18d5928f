package sqlite_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/arkserve/arkserve/internal/ark"
)

// BenchmarkUpdateLogs reads a service's update logs (10 and 100 entries, one config entry each)
// through the store: what the logs API costs on a cache miss, before encoding.
func BenchmarkUpdateLogs(b *testing.B) {
	for _, n := range []int{10, 100} {
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			ctx := context.Background()
			db := MustOpen(b, filepath.Join(b.TempDir(), "arkserve.db"))
			d := &ark.Domain{ID: ark.NewHexID(), Name: "Default", Enabled: true}
			p := &ark.Project{ID: ark.NewHexID(), DomainID: d.ID, Name: "default", Enabled: true}
			m := &ark.Model{ID: ark.NewUUID(), ProjectID: p.ID, Owner: "u", Name: "m", Version: "1.0.0", ModelType: ark.ModelTypeCustom,
				SourceLocation: "/m", Status: ark.ModelPublished}
			if err := db.CreateDomain(ctx, d); err != nil {
				b.Fatal(err)
			}
			if err := db.CreateProject(ctx, p); err != nil {
				b.Fatal(err)
			}
			if err := db.CreateModel(ctx, m); err != nil {
				b.Fatal(err)
			}
			cfg := func(k int) []ark.ServiceConfig {
				return []ark.ServiceConfig{{ModelID: m.ID, Weight: 100, Specification: "arkserve.local.small", InstanceCount: 1 + k%3}}
			}
			running := ark.StatusChange{Status: ark.StatusRunning, Progress: 100}
			s := &ark.Service{ID: ark.NewUUID(), ProjectID: p.ID, Owner: "u", Name: "s", InferType: ark.InferRealTime, Config: cfg(0)}
			clock := time.UnixMilli(1_700_000_000_000)
			db.Now = func() time.Time { clock = clock.Add(time.Second); return clock }
			e, err := db.CreateService(ctx, s)
			if err != nil {
				b.Fatal(err)
			}
			lease, ok, err := db.AcquireLease(ctx, s.ID, "bench", time.Hour)
			if err != nil || !ok {
				b.Fatalf("AcquireLease = %v, %v", ok, err)
			}
			for k := 1; err == nil; k++ {
				if _, err = db.FinishUpdate(ctx, lease, e.UpdateTime, ark.ResultSuccess, running); err != nil || k == n {
					break
				}
				_, e, err = db.UpdateService(ctx, p.ID, s.ID, ark.ServiceUpdate{Config: cfg(k)})
			}
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, logs, err := db.UpdateLogs(ctx, p.ID, s.ID, nil); err != nil || len(logs) != n {
					b.Fatalf("UpdateLogs: %d entries, %v", len(logs), err)
				}
			}
		})
	}
}
