// Package cluster lets several arkserve servers (replicas) share one database. The rollout engine
// drives each service on the replica that holds the service's lease (internal/ark lease.go), so the
// service's instances, its routing table and its live figures are on that replica only; any
// replica answers the API from the database. Peers forwards the two kinds of request that need the
// instances (inference and the monitor) to the replica that drives the service.
package cluster

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"sync"
	"time"

	"github.com/arkserve/arkserve/internal/ark"
)

// ForwardedHeader marks a request one replica forwarded to another. A replica never forwards such
// a request again: when the lease moved meanwhile it answers 503 and the client retries, rather
// than the request going round.
const ForwardedHeader = "X-Arkserve-Forwarded-By"

// Store is what Peers needs from the database.
type Store interface {
	// RegisterReplica records (or updates) the URL other replicas reach replica id at.
	RegisterReplica(ctx context.Context, id, url string) error
	// ServiceOwner returns the holder of the service's unexpired lease and its URL; ok is false
	// when nobody holds it.
	ServiceOwner(ctx context.Context, serviceID string) (holder, url string, ok bool, err error)
}

// Peers forwards requests to the replica that drives a service. Set its fields, then Register.
type Peers struct {
	Store Store
	Self  string // this replica's id (the engine's lease holder)
	URL   string // where the other replicas reach this one: http://host:port
	// CacheTTL is how long an owner lookup is reused (default 1 s): a lease moves only when a
	// replica stops or dies, and a stale answer costs one 503 at most.
	CacheTTL time.Duration
	Logger   *slog.Logger

	once  sync.Once
	proxy *httputil.ReverseProxy
	mu    sync.Mutex
	cache map[string]owner
}

type owner struct {
	holder, url string
	at          time.Time
}

// Register records this replica's URL in the database.
func (p *Peers) Register(ctx context.Context) error {
	return p.Store.RegisterReplica(ctx, p.Self, p.URL)
}

type targetKey struct{}

// target is where a request goes: the owner's URL, parsed and as stored, and what went wrong.
type target struct {
	u   *url.URL
	raw string
	err *error // set by the proxy's ErrorHandler: the owner could not be reached
}

func (p *Peers) init() {
	p.once.Do(func() {
		p.cache = map[string]owner{}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 64 // replicas talk to each other a lot: keep connections
		p.proxy = &httputil.ReverseProxy{
			Transport:     tr,
			FlushInterval: -1, // inference responses may stream
			Rewrite: func(pr *httputil.ProxyRequest) {
				t := pr.In.Context().Value(targetKey{}).(target)
				pr.Out.URL.Scheme, pr.Out.URL.Host = t.u.Scheme, t.u.Host
				// The original Host stays: AK/SK signatures cover it.
				pr.Out.Host = pr.In.Host
				pr.Out.Header.Set(ForwardedHeader, p.Self)
				if ip, _, err := net.SplitHostPort(pr.In.RemoteAddr); err == nil {
					pr.Out.Header.Set("X-Forwarded-For", ip)
				}
			},
			// Called before anything is written (the round trip failed): Forward returns the
			// error and the caller answers it.
			ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
				t := r.Context().Value(targetKey{}).(target)
				p.forget(t.raw)
				p.log().Warn("forward to the replica that drives the service", "url", t.raw, "err", err)
				*t.err = ark.Errorf(ark.EUnavailable, "The server that runs the service's instances cannot be reached; try again.")
			},
		}
	})
}

func (p *Peers) log() *slog.Logger {
	if p.Logger != nil {
		return p.Logger
	}
	return slog.Default()
}

// Forward serves r through the replica that drives the service and reports true; it reports false
// without touching w when this replica drives it or none does (the caller serves r itself). When
// that replica cannot be reached it reports true with an *ark.Error (EUnavailable) and has written
// nothing: the caller answers it. A request another replica forwarded is never forwarded again.
func (p *Peers) Forward(w http.ResponseWriter, r *http.Request, serviceID string) (bool, error) {
	if r.Header.Get(ForwardedHeader) != "" {
		return false, nil
	}
	p.init()
	o, err := p.owner(r.Context(), serviceID)
	if err != nil || o.holder == "" || o.holder == p.Self {
		return false, err
	}
	u, err := url.Parse(o.url)
	if err != nil || u.Host == "" {
		return false, errors.Join(errors.New("cluster: replica "+o.holder+" has a bad URL "+o.url), err)
	}
	var failed error
	p.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), targetKey{}, target{u: u, raw: o.url, err: &failed})))
	return true, failed
}

func (p *Peers) owner(ctx context.Context, serviceID string) (owner, error) {
	ttl := p.CacheTTL
	if ttl <= 0 {
		ttl = time.Second
	}
	now := time.Now()
	p.mu.Lock()
	o, ok := p.cache[serviceID]
	p.mu.Unlock()
	if ok && now.Sub(o.at) < ttl {
		return o, nil
	}
	holder, u, ok, err := p.Store.ServiceOwner(ctx, serviceID)
	if err != nil {
		return owner{}, err
	}
	o = owner{at: now}
	if ok {
		o.holder, o.url = holder, u
	}
	p.mu.Lock()
	if len(p.cache) > 100_000 { // bounded: services come and go
		clear(p.cache)
	}
	p.cache[serviceID] = o
	p.mu.Unlock()
	return o, nil
}

// forget drops the cached owners at url (it could not be reached: its leases are about to move).
func (p *Peers) forget(u string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for id, o := range p.cache {
		if o.url == u {
			delete(p.cache, id)
		}
	}
}
