package gateway

import (
	"context"
	"sync"
	"sync/atomic"
)

// policy is a service's load_balancer_policy: how one entry's backends share its traffic.
type policy uint8

const (
	roundRobin policy = iota // ROUND_ROBIN, the default
	leastConn                // LEAST_CONNECTIONS: fewest requests in flight
	sourceIP                 // SOURCE_IP: a hash of the client IP
)

func parsePolicy(s string) policy {
	switch s {
	case "LEAST_CONNECTIONS":
		return leastConn
	case "SOURCE_IP":
		return sourceIP
	}
	return roundRobin
}

// backend is one ready instance. The gateway keeps one per instance id for as long as a table
// refers to it or a request is in flight to it, so that the in-flight count survives a Publish
// (LEAST_CONNECTIONS, Drain).
type backend struct {
	id   string
	addr string
	seed uint64 // hash of id, for SOURCE_IP

	inflight atomic.Int64
	watched  atomic.Bool // a Drain has looked at this backend: release must wake it

	mu   sync.Mutex    // protects idle
	idle chan struct{} // closed when inflight drops to 0; nil when nobody waits

	refs int // occurrences in published tables; Gateway.mu protects it

	pool connPool // keep-alive connections of the gateway's own client (client.go)
}

func newBackend(id, addr string) *backend {
	return &backend{id: id, addr: addr, seed: mix(hashString(id))}
}

// acquire counts a request to b. The caller holds the service's lock, so that a Publish that
// removes b either happened before (b is not picked) or after (Drain sees the request).
func (b *backend) acquire() { b.inflight.Add(1) }

// release ends a request to b and wakes Drain when it was the last one.
func (b *backend) release() {
	// inflight and watched are sequentially consistent: either waitIdle sees 0 or this sees
	// watched, never neither.
	if b.inflight.Add(-1) == 0 && b.watched.Load() {
		b.mu.Lock()
		if b.idle != nil && b.inflight.Load() == 0 {
			close(b.idle)
			b.idle = nil
		}
		b.mu.Unlock()
	}
}

// waitIdle waits until no request is in flight to b or ctx ends.
func (b *backend) waitIdle(ctx context.Context) {
	b.mu.Lock()
	b.watched.Store(true)
	if b.inflight.Load() == 0 {
		b.mu.Unlock()
		return
	}
	if b.idle == nil {
		b.idle = make(chan struct{})
	}
	ch := b.idle
	b.mu.Unlock()
	select {
	case <-ch:
	case <-ctx.Done():
	}
}

// entry is a config entry of a table that can take traffic (weight > 0, at least one backend).
type entry struct {
	model    *modelStats
	weight   int
	current  int        // smooth weighted round robin state
	backends []*backend // sorted by instance id
	next     uint       // round-robin cursor
}

// table is a published route. Everything but the pick state (entry.current, entry.next) is
// immutable; the service's mutex protects the pick state and which table is current.
type table struct {
	policy  policy
	entries []*entry
}

// pick chooses an entry by smooth weighted round robin (nginx's algorithm: every entry's current
// weight grows by its weight, the largest wins and drops by the total), then a backend of that
// entry by the policy. Backends in tried (earlier attempts of the same request) are not chosen
// again, and entries with none left are skipped as if they had no backends. h is the hash of the
// client IP (SOURCE_IP). It returns nils when nothing is left. The caller holds the service's lock.
func (t *table) pick(h uint64, tried []*backend) (*entry, *backend) {
	var best *entry
	total := 0
	for _, e := range t.entries {
		if len(tried) > 0 && !e.hasUntried(tried) {
			continue
		}
		e.current += e.weight
		total += e.weight
		if best == nil || e.current > best.current {
			best = e
		}
	}
	if best == nil {
		return nil, nil
	}
	best.current -= total
	return best, best.choose(t.policy, h, tried)
}

func (e *entry) hasUntried(tried []*backend) bool {
	for _, b := range e.backends {
		if !contains(tried, b) {
			return true
		}
	}
	return false
}

func contains(bs []*backend, b *backend) bool {
	for _, x := range bs {
		if x == b {
			return true
		}
	}
	return false
}

// choose picks one of the entry's backends not in tried; the entry has at least one.
func (e *entry) choose(p policy, h uint64, tried []*backend) *backend {
	n := uint(len(e.backends))
	switch p {
	case leastConn:
		// Fewest in flight; the scan starts one further each time, so ties rotate.
		var best *backend
		var bestN int64
		start := e.next
		e.next++
		for i := range n {
			b := e.backends[(start+i)%n]
			if contains(tried, b) {
				continue
			}
			if c := b.inflight.Load(); best == nil || c < bestN {
				best, bestN = b, c
			}
		}
		return best
	case sourceIP:
		// Rendezvous hashing: the backend with the highest score for this client wins. While the
		// backend set is unchanged a client always lands on the same backend, and when it changes
		// only the clients of removed backends (and a fair share moving to added ones) move.
		var best *backend
		var bestS uint64
		for _, b := range e.backends {
			if contains(tried, b) {
				continue
			}
			if s := mix(h ^ b.seed); best == nil || s > bestS {
				best, bestS = b, s
			}
		}
		return best
	}
	for range n {
		b := e.backends[e.next%n]
		e.next++
		if !contains(tried, b) {
			return b
		}
	}
	return nil
}

// hashString is 64-bit FNV-1a.
func hashString(s string) uint64 {
	h := uint64(14695981039346656037)
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= 1099511628211
	}
	return h
}

// mix is splitmix64's finalizer: it spreads the bits of x over the whole word.
func mix(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// clientIP is the host part of a RemoteAddr ("1.2.3.4:5678", "[::1]:5678"), without allocating.
func clientIP(remoteAddr string) string {
	s := remoteAddr
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == ':' {
			s = s[:i]
			break
		}
		if s[i] < '0' || s[i] > '9' {
			break // no port
		}
	}
	if len(s) >= 2 && s[0] == '[' && s[len(s)-1] == ']' {
		s = s[1 : len(s)-1]
	}
	return s
}
