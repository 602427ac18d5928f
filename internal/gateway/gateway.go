// Package gateway routes inference traffic (/v1/infers/{service_id}/...) to the ready instances of
// real-time services. The rollout engine publishes each service's routing table; the gateway
// splits requests across config entries by weight, across an entry's instances by the service's
// load-balancer policy, proxies them, counts them, and writes the counts to the store.
//
// Routing: entries share traffic in proportion to their weights by smooth weighted round robin
// (nginx's algorithm: over any run of requests each entry's share stays within one request of its
// weight's share, and the entries interleave instead of coming in bursts). Entries with weight 0
// or without ready instances get no traffic; their share goes to the others. Within an entry the
// policy decides: ROUND_ROBIN (default), LEAST_CONNECTIONS (fewest requests in flight, ties in
// turn) or SOURCE_IP (rendezvous hash of the client's address, stable while the entry's instances
// do not change).
//
// Picking an instance and counting the request as in flight to it happen under the service's lock,
// which Publish takes too: once Publish returns no new request goes to an instance that is not in
// the new table, so Drain, called after it, sees every request that can still reach the instance.
//
// Retries: when connecting to an instance fails (the request was not sent), the request goes to
// another instance, at most twice, provided its body can be sent again: no body, or a body with a
// Content-Length of at most RetryBodyLimit, which the gateway reads before connecting. Larger and
// chunked bodies are streamed and not retried. A request that reached an instance is never sent
// twice.
//
// Counting: every request routed to a service is an invocation. It failed when the gateway
// answered 502, 503 or 504 (no instance reachable, none ready, no answer in time) or the instance
// answered a 5xx status or broke off its response. Requests the gateway refuses before routing
// (unknown service, another project's service, unreadable or oversized body) and requests whose
// client went away are not failures. Run writes the counts to Store every FlushInterval; counts
// not yet written are lost if the process is killed (SIGKILL), at most one interval's worth.
package gateway

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/arkserve/arkserve/internal/ark"
)

// Defaults of the Gateway's fields.
const (
	DefaultFlushInterval   = 5 * time.Second
	DefaultRetryBodyLimit  = 64 << 10
	DefaultResponseTimeout = 60 * time.Second
)

// maxRetries is how many other instances a request may try after a failed connect.
const maxRetries = 2

// Store is where call counts go (internal/sqlite implements it).
type Store interface {
	// AddCallCounts adds counts (keyed by service id) to the services' invocation_times and
	// failed_times in one transaction, ignoring ids of services that do not exist (any more).
	AddCallCounts(ctx context.Context, counts map[string]ark.CallCounts) error
}

// Gateway is the inference gateway. Set the fields before first use; the methods are safe for
// concurrent use.
type Gateway struct {
	// Transport sends requests to instances. nil: for instances on loopback or a local network,
	// the gateway's own HTTP/1.1 client (client.go) for bodies in memory and an http.Transport for
	// streamed ones: keep-alive connections (up to 512 idle per instance), 5 s connect timeout,
	// ResponseTimeout for the response headers, no proxy (the environment's HTTP_PROXY is
	// ignored), no transparent compression.
	Transport http.RoundTripper
	Logger    *slog.Logger // nil: discard
	// Store receives the call counts (see Run); nil: counts are kept in memory only.
	Store Store
	// FlushInterval is how often Run writes call counts (default 5 s).
	FlushInterval time.Duration
	// RetryBodyLimit is the largest request body (with a Content-Length) that is buffered so the
	// request can be retried on another instance when connecting fails (default 64 KiB).
	RetryBodyLimit int64
	// ResponseTimeout is how long the default transport waits for an instance's response headers
	// before answering 504 (default 60 s). It does not bound a streamed response body. A custom
	// Transport brings its own timeouts; any timeout error it returns is answered 504.
	ResponseTimeout time.Duration
	// Now is the clock for the requests-per-minute window (nil: time.Now).
	Now func() time.Time

	once sync.Once
	svcs atomic.Pointer[map[string]*service] // copy on write; Forward reads it without a lock
	// ownClient: Transport was nil, and requests with bodies in memory go through send.
	ownClient bool

	mu       sync.Mutex          // protects the following, and writes to svcs
	backends map[string]*backend // by instance id: in a table, or with requests in flight
	retired  []*service          // removed services whose counts Run has not written yet

	flushMu sync.Mutex // serializes flush; protects service.flushed*
}

// service is one routed service. Its id and project never change (a Publish with another project
// replaces the service).
type service struct {
	id, project string

	mu     sync.Mutex // protects the following
	tbl    *table     // nil after Remove
	models map[string]*modelStats
	win    window

	inv, fail atomic.Int64
	inflight  atomic.Int64 // requests being served, for forgetting a removed service

	flushedInv, flushedFail int64 // written by flush; Gateway.flushMu
}

func (g *Gateway) init() {
	g.once.Do(func() {
		if g.Logger == nil {
			g.Logger = slog.New(slog.DiscardHandler)
		}
		if g.FlushInterval <= 0 {
			g.FlushInterval = DefaultFlushInterval
		}
		if g.RetryBodyLimit <= 0 {
			g.RetryBodyLimit = DefaultRetryBodyLimit
		}
		if g.ResponseTimeout <= 0 {
			g.ResponseTimeout = DefaultResponseTimeout
		}
		if g.Now == nil {
			g.Now = time.Now
		}
		if g.Transport == nil {
			g.Transport = newTransport(g.ResponseTimeout)
			g.ownClient = true
		}
		g.backends = map[string]*backend{}
		g.svcs.Store(&map[string]*service{})
	})
}

// newTransport is the default Transport.
func newTransport(responseTimeout time.Duration) *http.Transport {
	return &http.Transport{
		Proxy:                 nil,                // never from the environment: instances are local
		DialContext:           dialer.DialContext, // the same as the gateway's own client (client.go)
		MaxIdleConns:          4096,
		MaxIdleConnsPerHost:   maxIdlePerBackend,
		IdleConnTimeout:       idleTimeout,
		ResponseHeaderTimeout: responseTimeout,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true, // pass Accept-Encoding and bodies through untouched
	}
}

func (g *Gateway) now() time.Time {
	g.init()
	return g.Now()
}

func (g *Gateway) lookup(serviceID string) *service {
	g.init()
	return (*g.svcs.Load())[serviceID]
}

// Publish replaces the service's routing table with r. Once it returns, no new request goes to an
// instance that is not in r. An instance id names one address: a backend whose id is already
// routed keeps its first address. A route without ProjectID (the engine's empty route for a
// service it no longer runs) keeps the service's project and counters, or is ignored for a
// service the gateway does not route.
func (g *Gateway) Publish(serviceID string, r ark.Route) {
	g.init()
	g.mu.Lock()
	defer g.mu.Unlock()
	svcs := *g.svcs.Load()
	svc := svcs[serviceID]
	if r.ProjectID == "" {
		if svc == nil {
			return
		}
		r.ProjectID = svc.project
	}
	if svc != nil && svc.project != r.ProjectID {
		g.removeLocked(serviceID)
		svc = nil
	}
	fresh := svc == nil
	if fresh {
		svc = &service{id: serviceID, project: r.ProjectID, models: map[string]*modelStats{}}
	}
	t := &table{policy: parsePolicy(r.Policy)}
	var modelIDs []string
	for _, re := range r.Entries {
		if re.Weight <= 0 || len(re.Backends) == 0 {
			continue
		}
		e := &entry{weight: re.Weight, backends: make([]*backend, 0, len(re.Backends))}
		for _, rb := range re.Backends {
			e.backends = append(e.backends, g.acquireLocked(rb))
		}
		slices.SortFunc(e.backends, func(a, b *backend) int {
			if a.id < b.id {
				return -1
			} else if a.id > b.id {
				return 1
			}
			return 0
		})
		t.entries = append(t.entries, e)
		modelIDs = append(modelIDs, re.ModelID)
	}
	svc.mu.Lock()
	for i, e := range t.entries {
		m := svc.models[modelIDs[i]]
		if m == nil {
			m = &modelStats{}
			svc.models[modelIDs[i]] = m
		}
		e.model = m
	}
	// Models without ready instances are listed too, with zero counts.
	for _, re := range r.Entries {
		if svc.models[re.ModelID] == nil {
			svc.models[re.ModelID] = &modelStats{}
		}
	}
	old := svc.tbl
	svc.tbl = t
	svc.mu.Unlock()
	if fresh {
		next := make(map[string]*service, len(svcs)+1)
		for k, v := range svcs {
			next[k] = v
		}
		next[serviceID] = svc
		g.svcs.Store(&next)
	}
	g.releaseLocked(old)
}

// Remove stops routing the service: once it returns, no new request goes to its instances and
// requests for it are answered 503 (which httpapi turns into 404 for a deleted service).
func (g *Gateway) Remove(serviceID string) {
	g.init()
	g.mu.Lock()
	defer g.mu.Unlock()
	g.removeLocked(serviceID)
}

func (g *Gateway) removeLocked(serviceID string) {
	svcs := *g.svcs.Load()
	svc := svcs[serviceID]
	if svc == nil {
		return
	}
	next := make(map[string]*service, len(svcs))
	for k, v := range svcs {
		if k != serviceID {
			next[k] = v
		}
	}
	g.svcs.Store(&next)
	svc.mu.Lock()
	old := svc.tbl
	svc.tbl = nil
	svc.mu.Unlock()
	g.releaseLocked(old)
	if g.Store != nil {
		g.retired = append(g.retired, svc) // Run writes its last counts, then forgets it
	}
}

// acquireLocked returns the backend of an instance, counting one more table reference.
func (g *Gateway) acquireLocked(rb ark.Backend) *backend {
	b := g.backends[rb.InstanceID]
	if b == nil {
		b = newBackend(rb.InstanceID, rb.Addr)
		g.backends[rb.InstanceID] = b
	}
	b.refs++
	return b
}

// releaseLocked drops the references of a table that is no longer current and forgets backends
// that no table refers to and no request uses. It runs after the table was replaced, so a backend
// found idle here stays idle.
func (g *Gateway) releaseLocked(t *table) {
	if t != nil {
		for _, e := range t.entries {
			for _, b := range e.backends {
				b.refs--
			}
		}
	}
	for id, b := range g.backends {
		if b.refs == 0 && b.inflight.Load() == 0 {
			delete(g.backends, id)
			b.pool.close()
		}
	}
}

// Drain waits until no request is in flight to the instance, or until ctx ends. The engine calls
// it after publishing a table without the instance and before stopping it; for an instance that
// is still routed it returns at a moment nothing is in flight, which may be never under load.
func (g *Gateway) Drain(ctx context.Context, instanceID string) {
	g.init()
	g.mu.Lock()
	b := g.backends[instanceID]
	g.mu.Unlock()
	if b != nil {
		b.waitIdle(ctx)
	}
}
