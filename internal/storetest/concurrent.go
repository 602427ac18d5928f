package storetest

import (
	"fmt"
	"sync"
	"testing"

	"github.com/arkserve/arkserve/internal/ark"
)

// concurrently runs fn(i) for i in [0, n) at once and returns the errors.
func concurrently(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = fn(i)
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

// testConcurrentWriters: callers that race (requests on several replicas, the engine of another)
// cannot break a service's rules: one service per name, one accepted update while one runs, each
// entry finished once, a delete all or nothing.
func testConcurrentWriters(t *testing.T, f *fixture) {
	const n = 8
	m := f.model(f.project, "m", "1.0.0")

	// Creates of one name: one wins, the others are told it exists.
	ids := make([]string, n)
	errs := concurrently(n, func(i int) error {
		s := &ark.Service{ID: ark.NewUUID(), ProjectID: f.project, Name: "race", Config: []ark.ServiceConfig{cfg(m, 100, 1)}}
		ids[i] = s.ID
		_, err := f.s.CreateService(f.ctx, s)
		return err
	})
	var winner string
	for i, err := range errs {
		switch ark.ErrorCode(err) {
		case "":
			if winner != "" {
				t.Fatalf("two services named race: %s and %s", winner, ids[i])
			}
			winner = ids[i]
		case ark.EServiceExists:
		default:
			t.Fatalf("CreateService: %v; want success or %s", err, ark.EServiceExists)
		}
	}
	if winner == "" {
		t.Fatal("no CreateService succeeded")
	}

	// Updates of one service: one is accepted, the others find it busy.
	f.finish(winner, ark.ResultSuccess)
	entries := make([]*ark.UpdateLog, n)
	errs = concurrently(n, func(i int) error {
		var err error
		_, entries[i], err = f.s.UpdateService(f.ctx, f.project, winner, ark.ServiceUpdate{Config: []ark.ServiceConfig{cfg(m, 100, i+2)}})
		return err
	})
	accepted := 0
	for i, err := range errs {
		switch ark.ErrorCode(err) {
		case "":
			accepted++
			if entries[i] == nil {
				t.Fatalf("accepted update %d has no entry", i)
			}
		case ark.EServiceBusy:
		default:
			t.Fatalf("UpdateService: %v; want success or %s", err, ark.EServiceBusy)
		}
	}
	if logs := f.logs(winner); accepted != 1 || len(logs) != 2 || logs[0].Result != ark.ResultRunning {
		t.Fatalf("%d updates accepted, entries %+v; want exactly one new RUNNING entry", accepted, logs)
	}

	// Finishing one entry from several places: exactly one finishes it.
	l, err := f.s.RunningUpdate(f.ctx, winner)
	must(t, err)
	lease := f.lease(winner)
	finished := make([]bool, n)
	errs = concurrently(n, func(i int) error {
		result := ark.ResultSuccess
		if i%2 == 1 {
			result = ark.ResultFail
		}
		var err error
		finished[i], err = f.s.FinishUpdate(f.ctx, lease, l.UpdateTime, result, ark.StatusChange{Status: ark.StatusRunning, Progress: 100},
			ark.Event{Info: "finished"})
		return err
	})
	done := 0
	for i, err := range errs {
		must(t, err)
		if finished[i] {
			done++
		}
	}
	_, evs, _, err := f.s.ListEvents(f.ctx, ark.EventFilter{ProjectID: f.project, ServiceID: winner, Info: "finished", Limit: 100})
	must(t, err)
	if done != 1 || len(evs) != 1 {
		t.Fatalf("FinishUpdate succeeded %d times with %d events; want once", done, len(evs))
	}

	// Call counts from several gateways while the engine reports: none is lost.
	before, err := f.s.FindService(f.ctx, f.project, winner)
	must(t, err)
	errs = concurrently(n, func(i int) error {
		if i%4 == 0 {
			return f.s.SetStatus(f.ctx, lease, ark.StatusChange{Status: ark.StatusRunning, Progress: 100})
		}
		return f.s.AddCallCounts(f.ctx, map[string]ark.CallCounts{winner: {Invocations: 10, Failures: 1}})
	})
	for _, err := range errs {
		must(t, err)
	}
	after, err := f.s.FindService(f.ctx, f.project, winner)
	must(t, err)
	adds := int64(n - (n+3)/4)
	if after.InvocationTimes-before.InvocationTimes != 10*adds || after.FailedTimes-before.FailedTimes != adds {
		t.Fatalf("call counts grew by %d/%d; want %d/%d", after.InvocationTimes-before.InvocationTimes,
			after.FailedTimes-before.FailedTimes, 10*adds, adds)
	}

	// Deleting a model while services are deployed with it: each deploy either finds the model
	// (and the model stays) or is told it does not exist; no internal error.
	for round := range 4 {
		dm := f.model(f.project, "doomed", fmt.Sprintf("1.0.%d", round))
		var deleted bool
		errs = concurrently(n, func(i int) error {
			if i == n/2 {
				res, err := f.s.DeleteModel(f.ctx, f.project, dm.ID, false)
				deleted = len(res.Deleted) == 1
				return err
			}
			_, err := f.s.CreateService(f.ctx, &ark.Service{ID: ark.NewUUID(), ProjectID: f.project,
				Name: fmt.Sprintf("dm%d-%d", round, i), Config: []ark.ServiceConfig{cfg(dm, 100, 1)}})
			return err
		})
		created := 0
		for _, err := range errs {
			switch ark.ErrorCode(err) {
			case "":
				created++
			case ark.EServiceModelAbsent:
			default:
				t.Fatalf("delete model vs deploy: %v", err)
			}
		}
		if deleted && created > 1 || !deleted && created != n {
			// created counts the successful DeleteModel too.
			t.Fatalf("model deleted %v with %d services created from it", deleted, created-1)
		}
	}

	// Overlapping deletes (any two of them share a service): each is all or nothing, so exactly one
	// succeeds and exactly its two services end deleted.
	var svcs []string
	for _, name := range []string{"d1", "d2", "d3"} {
		svcs = append(svcs, f.service(f.project, name, cfg(m, 100, 1)).ID)
	}
	errs = concurrently(n, func(i int) error {
		return f.s.DeleteServices(f.ctx, f.project, svcs[i%3], svcs[(i+1)%3])
	})
	succeeded := 0
	for _, err := range errs {
		switch ark.ErrorCode(err) {
		case "":
			succeeded++
		case ark.EServiceNotFound:
		default:
			t.Fatalf("DeleteServices: %v", err)
		}
	}
	deleted := 0
	for _, id := range svcs {
		_, del, err := f.s.ServiceByID(f.ctx, id)
		must(t, err)
		if del {
			deleted++
		}
	}
	if succeeded != 1 || deleted != 2 {
		t.Fatalf("%d deletes succeeded, %d services deleted; want 1 and 2", succeeded, deleted)
	}
}

// testUpdateStorm: many clients PUT a service that is busy while the engine that drives it keeps
// writing its row (status, progress, call counts), as on several replicas under load. Every PUT is
// told the service is busy: a PUT must never fail because it lost a race against the engine, however
// long the storm lasts.
func testUpdateStorm(t *testing.T, f *fixture) {
	const clients, puts, engineWrites = 12, 25, 150
	m := f.model(f.project, "m", "1.0.0")
	s := f.service(f.project, "storm", cfg(m, 100, 1))
	lease := f.lease(s.ID)
	done := make(chan struct{})
	engineErr := make(chan error, 1)
	go func() {
		defer close(engineErr)
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			err := f.s.SetStatus(f.ctx, lease, ark.StatusChange{Status: ark.StatusDeploying, Progress: i % 100})
			if err == nil {
				err = f.s.AddCallCounts(f.ctx, map[string]ark.CallCounts{s.ID: {Invocations: 1}})
			}
			if err != nil {
				engineErr <- err
				return
			}
			if i == engineWrites {
				<-done
				return
			}
		}
	}()
	errs := concurrently(clients, func(i int) error {
		for n := range puts {
			_, _, err := f.s.UpdateService(f.ctx, f.project, s.ID, ark.ServiceUpdate{Config: []ark.ServiceConfig{cfg(m, 100, i*puts+n+2)}})
			if ark.ErrorCode(err) != ark.EServiceBusy {
				return fmt.Errorf("PUT %d of client %d: %v; want %s", n, i, err, ark.EServiceBusy)
			}
		}
		return nil
	})
	close(done)
	if err := <-engineErr; err != nil {
		t.Fatalf("engine write: %v", err)
	}
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
}
