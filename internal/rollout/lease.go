package rollout

import (
	"context"
	"errors"
	"time"

	"github.com/arkserve/arkserve/internal/ark"
)

// DefaultLeaseTTL is how long a service's lease lasts without renewal: how long the services of a
// replica that died wait before another replica takes them over.
const DefaultLeaseTTL = 15 * time.Second

// held is a lease this engine holds and until when, by the local monotonic clock, it may act on it:
// the renewal's start plus the TTL, so that it stops acting no later than the database lets the
// lease expire (given clocks that agree).
type held struct {
	l     ark.Lease
	since time.Time // when it was acquired
	until time.Time
}

func (e *Engine) ttl() time.Duration {
	if e.LeaseTTL > 0 {
		return e.LeaseTTL
	}
	return DefaultLeaseTTL
}

// own reports whether this engine holds the service's lease, acquiring it when it does not.
func (e *Engine) own(ctx context.Context, id string) (bool, error) {
	now := time.Now()
	e.mu.Lock()
	h, ok := e.leases[id]
	e.mu.Unlock()
	if ok && now.Before(h.until) {
		return true, nil
	}
	l, ok, err := e.Store.AcquireLease(ctx, id, e.Holder, e.ttl())
	if err != nil || !ok {
		e.mu.Lock()
		delete(e.leases, id)
		e.mu.Unlock()
		return false, err
	}
	e.mu.Lock()
	e.leases[id] = held{l: l, since: now, until: now.Add(e.ttl())}
	e.mu.Unlock()
	return true, nil
}

// NotifyHeld is Notify for the services whose lease this engine holds; it drops the others. It is
// for events about what only a service's driver acts on (its Kubernetes objects changed): every
// replica watches the cluster, and without it each would try to acquire the lease, a database
// write, at every event of every service.
func (e *Engine) NotifyHeld(serviceID string) {
	e.init()
	e.mu.Lock()
	_, ok := e.leases[serviceID]
	e.mu.Unlock()
	if ok {
		e.q.add(serviceID)
	}
}

// held returns the service's lease, the zero Lease (which every store refuses) when this engine
// does not hold it.
func (e *Engine) held(id string) ark.Lease {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.leases[id].l
}

// releaseLease gives the service's lease up so that any replica can take it at once.
func (e *Engine) releaseLease(ctx context.Context, id string) error {
	e.mu.Lock()
	h, ok := e.leases[id]
	delete(e.leases, id)
	e.mu.Unlock()
	if !ok {
		return nil
	}
	return e.Store.ReleaseLease(ctx, h.l)
}

// lost handles a write the store refused because another replica acquired the lease: the service's
// instances here are stopped (without a word to the store, which belongs to the new holder now).
func (e *Engine) lost(ctx context.Context, id string) {
	e.log().Warn("lost the service's lease to another replica; stopping its instances here", "service", id)
	e.mu.Lock()
	delete(e.leases, id)
	e.mu.Unlock()
	e.stopService(ctx, id)
}

// renew extends the leases this engine holds every third of their TTL until ctx ends. A lease
// that did not come back renewed was taken over (or expired): it is forgotten and its service
// reconciled, which acquires the lease again or stops the service's instances here.
func (e *Engine) renew(ctx context.Context) {
	t := time.NewTicker(e.ttl() / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		start := time.Now()
		ls, err := e.Store.RenewLeases(ctx, e.Holder, e.ttl())
		if err != nil {
			if ctx.Err() == nil {
				e.log().Warn("renew service leases", "err", err)
			}
			continue
		}
		renewed := make(map[string]int64, len(ls))
		for _, l := range ls {
			renewed[l.ServiceID] = l.Fence
		}
		var gone []string
		e.mu.Lock()
		for id, h := range e.leases {
			if !h.since.Before(start) {
				continue // acquired while the renewal ran: the renewal says nothing about it
			}
			if f, ok := renewed[id]; ok && f == h.l.Fence {
				h.until = start.Add(e.ttl())
				e.leases[id] = h
			} else {
				delete(e.leases, id)
				gone = append(gone, id)
			}
		}
		e.mu.Unlock()
		for _, id := range gone {
			e.Notify(id)
		}
	}
}

// releaseAll gives up every lease this engine holds (shutdown, after its instances stopped), so
// that other replicas take the services over without waiting for the leases to expire.
func (e *Engine) releaseAll(ctx context.Context) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	e.mu.Lock()
	ids := make([]string, 0, len(e.leases))
	for id := range e.leases {
		ids = append(ids, id)
	}
	e.mu.Unlock()
	for _, id := range ids {
		if err := e.releaseLease(ctx, id); err != nil {
			e.log().Warn("release service lease", "service", id, "err", err)
		}
	}
}

func isLeaseLost(err error) bool { return errors.Is(err, ark.ErrLeaseLost) }
