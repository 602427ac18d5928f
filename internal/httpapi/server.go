// Package httpapi serves arkserve's HTTP API: the Keystone v3 subset under /v3, the ModelArts v1
// API under /v1/{project_id}, and the OpenAPI document. Handlers decode and validate requests, call
// the store and IAM, and encode results; all errors leave through writeError.
package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/arkserve/arkserve/internal/ark"
	"github.com/arkserve/arkserve/internal/iam"
)

// DefaultMaxBodyBytes bounds every request body.
const DefaultMaxBodyBytes = 1 << 20

// DefaultTimeout bounds reading a whole API request and writing its response.
const DefaultTimeout = 60 * time.Second

// Notifier is told when a service's desired state changed (the rollout engine).
type Notifier interface {
	Notify(serviceID string)
}

// Server is the HTTP server. Set the exported fields, then Open; Close shuts it down.
type Server struct {
	Addr      string // listen address, e.g. 127.0.0.1:8080 (":0" picks a port)
	PublicURL string // base URL clients reach the server at; "" = from each request
	Logger    *slog.Logger
	Store     Store
	IAM       *iam.Service
	Engine    Notifier
	Monitor   Monitor // nil: the monitor API reports no instances
	Specs     []ark.Spec
	Pool      ark.Pool // the local resource pool
	// Capacity reports the pool's capacity and what instances hold now (the engine's *ark.Ledger).
	// With it, configurations that the pool can never run are refused, and /specifications and
	// /clusters show live figures; nil falls back to Pool's figures and checks nothing.
	Capacity interface {
		Usage() (used, capacity ark.Resources)
	}
	// CmdModelRoles are the roles allowed to register models that carry a cmd (a cmd runs on the
	// host of the process runtime).
	CmdModelRoles []string
	// ImageSource, when set, makes the source_location of Image models a container image that it
	// checks (the Kubernetes runtime), instead of a local directory.
	ImageSource func(source string) error
	// CheckModel, when set, refuses (400) deployments and updates whose configuration names a
	// model the runtime cannot run.
	CheckModel   func(m *ark.Model) error
	MaxBodyBytes int64
	// Timeout bounds reading a whole request and writing its response (default DefaultTimeout).
	// Inference requests are exempt: their response may stream for as long as the instance
	// sends, and their body (up to MaxInferBodyBytes) may take InferReadTimeout to arrive.
	Timeout time.Duration
	Now     func() time.Time
	// Inference serves /v1/infers/{service_id}/... (internal/gateway); nil answers 503.
	Inference Forwarder
	// Peers, when several servers share the database, sends inference and monitor requests of a
	// service to the server that runs its instances (internal/cluster); nil: this one runs all.
	Peers Peers
	// MaxInferBodyBytes bounds inference request bodies, which MaxBodyBytes does not (default
	// DefaultMaxInferBodyBytes).
	MaxInferBodyBytes int64
	// TokenBurst and TokenRefill limit token issuance per user and source address (ratelimit.go;
	// defaults DefaultTokenBurst, DefaultTokenRefill).
	TokenBurst  int
	TokenRefill time.Duration
	// Edge resolves what agents run (the engine); nil: placements carry an error.
	Edge Edge
	// Nodes wakes the agents' long polls; the engine shares it. nil: a hub of the server's own.
	Nodes *NodeHub
	// HeartbeatInterval is how often agents send heartbeats (default DefaultHeartbeatInterval).
	HeartbeatInterval time.Duration
	// ModelReader is the user instances run as on this server (the process runtime's): agents
	// are sent only the files of a model that this user can read, as an instance here could. nil:
	// instances run as the server's own user, which reads what the server reads.
	ModelReader *FileUser

	catalog ark.SpecCatalog
	known   *http.ServeMux
	ln      net.Listener
	srv     *http.Server
	wg      sync.WaitGroup
	serr    error
	logs    logsCache // update-log answers (logscache.go)

	ownNodes NodeHub // when Nodes is nil
	// closing is closed when Close begins, so that long polls answer at once instead of holding
	// the shutdown for up to MaxPlacementsWait.
	closing   chan struct{}
	closeOnce sync.Once

	tokenLimitOnce sync.Once
	tokenLimit     *rateLimiter // of token issuance (ratelimit.go)
}

// Open validates the configuration, listens on Addr (synchronously, so that errors surface here
// and ":0" works) and serves in the background.
func (s *Server) Open() error {
	if s.Store == nil || s.IAM == nil {
		return errors.New("httpapi: Store and IAM are required")
	}
	s.init()
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return err
	}
	s.ln = ln
	s.srv = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       s.Timeout,
		WriteTimeout:      s.Timeout,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.Logger.Handler(), slog.LevelWarn),
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.serr = err
			s.Logger.Error("http serve", "err", err)
		}
	}()
	return nil
}

func (s *Server) init() {
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	if s.Timeout <= 0 {
		s.Timeout = DefaultTimeout
	}
	if s.MaxBodyBytes <= 0 {
		s.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if s.MaxInferBodyBytes <= 0 {
		s.MaxInferBodyBytes = DefaultMaxInferBodyBytes
	}
	if s.Now == nil {
		s.Now = time.Now
	}
	s.closing = make(chan struct{})
	if s.Specs == nil {
		s.Specs = ark.DefaultSpecs()
	}
	if s.CmdModelRoles == nil {
		s.CmdModelRoles = []string{ark.RoleAdmin}
	}
	s.catalog = ark.NewSpecCatalog(s.Specs)
}

// Addr returns the address the server listens on (after Open).
func (s *Server) ListenAddr() string { return s.ln.Addr().String() }

// Close stops accepting requests and waits for in-flight ones until ctx ends.
func (s *Server) Close(ctx context.Context) error {
	if s.srv == nil {
		return nil
	}
	s.closeOnce.Do(func() { close(s.closing) })
	err := s.srv.Shutdown(ctx)
	s.wg.Wait()
	if err == nil {
		err = s.serr
	}
	return err
}

// Handler returns the full handler: middleware around the routes. Exposed for tests and for
// embedding; Open uses it.
func (s *Server) Handler() http.Handler {
	if s.catalog == nil {
		s.init()
	}
	mux := http.NewServeMux()
	// known holds the method-less paths: a request that the routes do not match but a known path
	// does used a wrong method. (Method-less patterns cannot live in mux itself: they would conflict
	// with /services/{service_id} versus /services/specifications.)
	s.known = http.NewServeMux()
	s.registerKeystone(mux)
	s.registerModelArts(mux)
	s.registerCredentials(mux)
	s.registerNodes(mux, map[string]bool{})
	route(mux, map[string]bool{}, s, "GET /openapi.json", s.handleOpenAPI)
	// Anything else: the ModelArts error body, never the mux's plain-text 404.
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if _, pattern := s.known.Handler(r); pattern != "" {
			s.writeError(w, r, ark.Errorf(ark.EMethod, "The method %s is not allowed on %s.", r.Method, r.URL.Path))
			return
		}
		s.writeError(w, r, ark.Errorf(ark.ENoRoute, "The API %s %s does not exist.", r.Method, r.URL.Path))
	})
	return s.withRequestID(s.withRecover(s.withInference(s.withLimits(mux))))
}

// route registers h for "METHOD PATH" and records PATH, so that other methods on it answer 405
// with the ModelArts body instead of 404 (see Handler).
func route(mux *http.ServeMux, seen map[string]bool, s *Server, pattern string, h http.HandlerFunc) {
	mux.HandleFunc(pattern, h)
	_, path, _ := cutSpace(pattern)
	if !seen[path] {
		seen[path] = true
		s.known.HandleFunc(path, func(http.ResponseWriter, *http.Request) {})
	}
}

func cutSpace(s string) (string, string, bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' {
			return s[:i], s[i+1:], true
		}
	}
	return "", s, false
}
