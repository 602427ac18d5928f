package httpapi

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/arkserve/arkserve/internal/ark"
)

// BenchmarkLogsJSON encodes the answer of ShowServiceUpdateLogs (what a cache miss costs after
// the store): 10 and 1,000 entries of one config entry each, like bench/ loads.
func BenchmarkLogsJSON(b *testing.B) {
	for _, n := range []int{10, 1000} {
		svc := &ark.Service{ID: "5eed0000-0000-4000-8000-000000000000", Name: "bench"}
		logs := make([]ark.UpdateLog, n)
		for i := range logs {
			logs[i] = ark.UpdateLog{ServiceID: svc.ID, UpdateTime: 1_700_000_000_000 + int64(i)*40_000, Result: ark.ResultSuccess,
				Config: []ark.ServiceConfig{{ModelID: "00000000-0000-4000-8000-000000000001", ModelName: "bench-model",
					ModelVersion: "1.0.0", Weight: 100, Specification: "arkserve.local.small", InstanceCount: 1 + i%3,
					Envs: map[string]string{"BENCH_ENTRY": fmt.Sprint(i)}}}}
		}
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := json.Marshal(toLogsResponse(svc, logs)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkLogsCacheGet is a cache hit of the update-logs answer under parallel readers.
func BenchmarkLogsCacheGet(b *testing.B) {
	var c logsCache
	k := logsKey{projectID: "p", serviceID: "s", updateTime: -1}
	c.put(1, k, make([]byte, 2700))
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if c.get(1, k) == nil {
				b.Fatal("miss")
			}
		}
	})
}
