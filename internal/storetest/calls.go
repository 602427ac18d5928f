package storetest

import (
	"testing"

	"github.com/arkserve/arkserve/internal/ark"
)

// testCallCounts: AddCallCounts adds to invocation_times and failed_times, which service details
// and lists return; unknown and deleted services are ignored.
func testCallCounts(t *testing.T, f *fixture) {
	m := f.model(f.project, "m", "1.0.0")
	s := f.service(f.project, "svc", cfg(m, 100, 1))
	gone := f.service(f.project, "gone", cfg(m, 100, 1))
	must(t, f.s.DeleteServices(f.ctx, f.project, gone.ID))
	om := f.model(f.other, "m", "1.0.0")
	o := f.service(f.other, "svc", cfg(om, 100, 1))

	must(t, f.s.AddCallCounts(f.ctx, nil))
	must(t, f.s.AddCallCounts(f.ctx, map[string]ark.CallCounts{
		s.ID:          {Invocations: 3, Failures: 1},
		gone.ID:       {Invocations: 7, Failures: 7},
		ark.NewUUID(): {Invocations: 5, Failures: 5},
		o.ID:          {Invocations: 2, Failures: 0},
	}))
	must(t, f.s.AddCallCounts(f.ctx, map[string]ark.CallCounts{s.ID: {Invocations: 4}, o.ID: {Invocations: 1, Failures: 1}}))

	for _, c := range []struct {
		project, id string
		inv, fail   int64
	}{{f.project, s.ID, 7, 1}, {f.other, o.ID, 3, 1}} {
		got, err := f.s.FindService(f.ctx, c.project, c.id)
		must(t, err)
		if got.InvocationTimes != c.inv || got.FailedTimes != c.fail {
			t.Errorf("FindService(%s): invocation_times %d, failed_times %d; want %d, %d", c.id, got.InvocationTimes, got.FailedTimes, c.inv, c.fail)
		}
		list, _, err := f.s.ListServices(f.ctx, ark.ServiceFilter{ProjectID: c.project, ServiceID: c.id, Limit: 10})
		must(t, err)
		if len(list) != 1 || list[0].InvocationTimes != c.inv || list[0].FailedTimes != c.fail {
			t.Errorf("ListServices(%s) = %+v; want invocation_times %d, failed_times %d", c.id, list, c.inv, c.fail)
		}
	}
	got, deleted, err := f.s.ServiceByID(f.ctx, gone.ID)
	must(t, err)
	if !deleted || got.InvocationTimes != 0 || got.FailedTimes != 0 {
		t.Errorf("deleted service: deleted %v, counts %d/%d; want untouched", deleted, got.InvocationTimes, got.FailedTimes)
	}
}
