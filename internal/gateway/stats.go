package gateway

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/arkserve/arkserve/internal/ark"
)

// Stats are a service's inference calls since the gateway started.
type Stats struct {
	Invocations int64 // every request routed to the service, including those answered 503
	Failures    int64 // see Gateway for what counts as failed
	PerMinute   int64 // requests in the last 60 seconds (req_count_per_min)
	// Models holds the same per model id. A request counts against the model its first pick
	// chose; requests answered 503 because no instance was ready count for the service only.
	Models map[string]ModelStats
}

// ModelStats are the calls of one model (config entry) of a service.
type ModelStats struct {
	Invocations int64
	Failures    int64
	PerMinute   int64
}

// window counts requests per second over the last minute: 60 one-second buckets, each stamped
// with the second it counts. The service's mutex protects it.
type window struct {
	sec [60]int64
	n   [60]int64
}

func (w *window) add(now int64) {
	i := now % 60
	if w.sec[i] != now {
		w.sec[i], w.n[i] = now, 0
	}
	w.n[i]++
}

// sum is the count of the 60 seconds up to and including now.
func (w *window) sum(now int64) int64 {
	var s int64
	for i := range w.sec {
		if d := now - w.sec[i]; d >= 0 && d < 60 {
			s += w.n[i]
		}
	}
	return s
}

// modelStats are one model's counters; a service keeps them across Publish.
type modelStats struct {
	inv, fail atomic.Int64
	win       window // service mutex
}

// Stats returns the service's counters; zero when the gateway does not route the service.
func (g *Gateway) Stats(serviceID string) Stats {
	svc := g.lookup(serviceID)
	if svc == nil {
		return Stats{}
	}
	now := g.now().Unix()
	svc.mu.Lock()
	defer svc.mu.Unlock()
	st := Stats{Failures: svc.fail.Load(), Invocations: svc.inv.Load(), PerMinute: svc.win.sum(now),
		Models: make(map[string]ModelStats, len(svc.models))}
	for id, m := range svc.models {
		st.Models[id] = ModelStats{Failures: m.fail.Load(), Invocations: m.inv.Load(), PerMinute: m.win.sum(now)}
	}
	return st
}

// Run writes the call counts to Store: the increments since the last write, every FlushInterval
// and once more when ctx ends (with up to 10 seconds of its own). It returns after that last
// write, with its error. A failed write is logged and its increments are kept for the next one.
// Without a Store it only waits for ctx.
func (g *Gateway) Run(ctx context.Context) error {
	g.init()
	t := time.NewTicker(g.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			if err := g.flush(ctx); err != nil && ctx.Err() == nil {
				g.Logger.Warn("gateway: store call counts", "err", err)
			}
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			return g.flush(fctx)
		}
	}
}

// flush writes the increments since the last successful flush in one AddCallCounts call.
func (g *Gateway) flush(ctx context.Context) error {
	if g.Store == nil {
		return nil
	}
	g.flushMu.Lock()
	defer g.flushMu.Unlock()
	g.mu.Lock()
	svcs := make([]*service, 0, len(*g.svcs.Load())+len(g.retired))
	for _, s := range *g.svcs.Load() {
		svcs = append(svcs, s)
	}
	svcs = append(svcs, g.retired...)
	g.mu.Unlock()

	type read struct {
		s         *service
		inv, fail int64
	}
	var reads []read
	counts := map[string]ark.CallCounts{}
	for _, s := range svcs {
		// Failures first: a request counts its invocation before its failure, so the pair
		// read this way never has more failures than invocations.
		fail := s.fail.Load()
		inv := s.inv.Load()
		if inv == s.flushedInv && fail == s.flushedFail {
			continue
		}
		c := counts[s.id] // a retired and a live service may share an id
		c.Invocations += inv - s.flushedInv
		c.Failures += fail - s.flushedFail
		counts[s.id] = c
		reads = append(reads, read{s, inv, fail})
	}
	if len(counts) > 0 {
		if err := g.Store.AddCallCounts(ctx, counts); err != nil {
			return err
		}
		for _, r := range reads {
			r.s.flushedInv, r.s.flushedFail = r.inv, r.fail
		}
	}
	// Forget removed services once nothing is in flight and everything is written.
	g.mu.Lock()
	kept := g.retired[:0]
	for _, s := range g.retired {
		if s.inflight.Load() != 0 || s.inv.Load() != s.flushedInv || s.fail.Load() != s.flushedFail {
			kept = append(kept, s)
		}
	}
	clear(g.retired[len(kept):])
	g.retired = kept
	g.mu.Unlock()
	return nil
}
