package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/arkserve/arkserve/internal/ark"
	"github.com/arkserve/arkserve/internal/cluster"
	"github.com/arkserve/arkserve/internal/gateway"
	"github.com/arkserve/arkserve/internal/httpapi"
	"github.com/arkserve/arkserve/internal/iam"
	"github.com/arkserve/arkserve/internal/rollout"
	"github.com/arkserve/arkserve/internal/runtime/kubernetes"
	"github.com/arkserve/arkserve/internal/runtime/process"
)

// Main is a running server: its components, exposed so that end-to-end tests can drive it.
type Main struct {
	Config Config
	Logger *slog.Logger
	DB     Store // *sqlite.DB or *postgres.DB (--database)
	IAM    *iam.Service
	Engine *rollout.Engine
	HTTP   *httpapi.Server
	// Ledger accounts the local pool: its capacity ([pool]) and what instances hold.
	Ledger  *ark.Ledger
	Gateway *gateway.Gateway
	// Peers forwards requests to the replica that runs a service's instances.
	Peers *cluster.Peers
	// Kubernetes is the runtime of --runtime kubernetes (nil with processes).
	Kubernetes *kubernetes.Runtime

	lock *os.File // DATA/server.lock, held while the server runs

	cancelListen  context.CancelFunc
	listenDone    sync.WaitGroup
	cancelIAM     context.CancelFunc
	iamDone       sync.WaitGroup
	cancelEngine  context.CancelFunc
	engineDone    sync.WaitGroup
	cancelGateway context.CancelFunc
	gatewayDone   sync.WaitGroup
}

func runServer(ctx context.Context, args []string, stderr io.Writer) error {
	cfg, err := loadServerConfig(args, os.Getenv)
	if err != nil {
		return err
	}
	lw := newLogWriter(stderr)
	defer lw.Close()
	m := &Main{Config: cfg, Logger: newLogger(cfg, lw)}
	if err := m.Open(ctx); err != nil {
		m.Close()
		return err
	}
	m.Logger.Info("arkserve listening", "addr", m.HTTP.ListenAddr(), "data_dir", cfg.DataDir, "version", version)
	<-ctx.Done()
	m.Logger.Info("shutting down")
	return m.Close()
}

// Open opens the data dir, database, IAM, engine and HTTP server, in that order.
func (m *Main) Open(ctx context.Context) error {
	cfg := m.Config
	dir, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return err
	}
	if err := prepareDataDir(dir); err != nil {
		return err
	}
	if m.lock, err = lockDataDir(dir); err != nil {
		return err
	}
	replica, err := replicaID(dir)
	if err != nil {
		return err
	}
	db, err := parseDatabase(cfg.Database, dir)
	if err != nil {
		return err
	}
	if m.DB, err = openStore(ctx, db, m.Logger); err != nil {
		return err
	}
	// The master key seals the token keyring in the database (tokens are signed with its keys)
	// and the access-key secrets: replicas on one database share it, nothing else.
	key, err := loadMasterKey(cfg.MasterKeyFile, dir)
	if err != nil {
		return err
	}
	m.IAM = &iam.Service{Store: m.DB, Key: key, TTL: cfg.TokenTTL.Duration, Logger: m.Logger}
	if err := m.IAM.Open(ctx); err != nil {
		return err
	}
	if db.engine == "postgres" {
		// Revocations made through the other servers on the database (SQLite's has one server:
		// DATA/server.lock).
		m.cancelIAM = m.background(m.IAM.Run, &m.iamDone, "revoked token sync")
	}
	if err := m.bootstrap(ctx, dir); err != nil {
		return err
	}
	capacity, err := cfg.Pool.Capacity()
	if err != nil {
		return err
	}
	specs, err := cfg.SpecCatalog()
	if err != nil {
		return err
	}
	m.Ledger = ark.NewLedger(capacity)
	rt := &process.Runtime{Dir: filepath.Join(dir, "instances"), Logger: m.Logger,
		VolumeDir: filepath.Join(dir, "volumes"), NoLimits: cfg.Pool.Limits == "off"}
	m.Logger.Info("resource pool", "capacity", capacity.String(), "limits", rt.Limits())
	if os.Geteuid() == 0 {
		cred, err := lookupCredential(cfg.InstanceUser)
		if err != nil {
			return err
		}
		rt.RunAs = cred
		if err := rt.CheckReachable(); err != nil {
			// Every deployment would fail with this error; say it now, where the operator looks.
			m.Logger.Warn("instances will not start: choose a data dir they can reach (e.g. --data-dir /var/lib/arkserve)",
				"instance_user", cfg.InstanceUser, "err", err)
		}
	}
	m.Gateway = &gateway.Gateway{Store: m.DB, Logger: m.Logger}
	// The engine wakes the agents' long polls through the HTTP server's hub.
	nodes := &httpapi.NodeHub{}
	m.Engine = &rollout.Engine{Store: m.DB, Router: m.Gateway,
		Logger: m.Logger, LaunchCommands: m.launchCommands(dir), Specs: ark.NewSpecCatalog(specs),
		Holder: replica, LeaseTTL: cfg.LeaseTTL.Duration,
		EdgeParallel: cfg.Edge.ParallelNodes, NodeHeartbeatTimeout: cfg.Edge.HeartbeatTimeout.Duration,
		EdgeUnconnectedTimeout: cfg.Edge.UnconnectedTimeout.Duration, Nodes: nodes}
	m.HTTP = &httpapi.Server{Addr: cfg.Listen, PublicURL: cfg.PublicURL, Logger: m.Logger, Store: m.DB, IAM: m.IAM,
		Engine: m.Engine, CmdModelRoles: cfg.CmdModelRoles, Pool: localPool(dir, capacity),
		Specs: specs, Capacity: m.Ledger, Inference: m.Gateway, Monitor: monitor{m.Engine, m.Gateway},
		Edge: m.Engine, Nodes: nodes, HeartbeatInterval: cfg.Edge.HeartbeatInterval.Duration}
	if rt.RunAs != nil {
		// Agents get a model's files only as far as instances here could read them.
		m.HTTP.ModelReader = &httpapi.FileUser{UID: rt.RunAs.UID, GID: rt.RunAs.GID}
	}
	if cfg.Runtime == "kubernetes" {
		if m.Kubernetes, err = openKubernetes(ctx, cfg.Kubernetes, m.Logger, m.Engine.NotifyHeld); err != nil {
			return err
		}
		// The cluster is the pool: its nodes' allocatable resources, and Kubernetes rolls out.
		m.Engine.Deployer = m.Kubernetes
		m.HTTP.Capacity = m.Kubernetes
		m.HTTP.Pool = kubernetesPool(cfg.Kubernetes.Namespace)
		m.HTTP.ImageSource, m.HTTP.CheckModel = kubernetes.CheckImage, m.Kubernetes.Check
		m.Logger.Info("runtime kubernetes", "namespace", cfg.Kubernetes.Namespace)
	} else {
		m.Engine.Runtime, m.Engine.Capacity = rollout.ProcessRuntime(rt), m.Ledger
	}
	m.cancelGateway = m.background(m.Gateway.Run, &m.gatewayDone, "gateway")
	m.cancelEngine = m.background(m.Engine.Run, &m.engineDone, "engine")
	if l, ok := m.DB.(changeListener); ok {
		// Several servers share the database: the one that drives a service hears of every
		// change to it, whichever server took the API call, and every server of every change to
		// a node's placements, whichever server's engine made it, for the agents long-polling it.
		m.cancelListen = m.background(func(ctx context.Context) error {
			return l.Listen(ctx, m.Engine.Notify, nodes.Wake)
		}, &m.listenDone, "change listener")
	}
	if db.engine == "postgres" {
		// Other servers may share the database (SQLite's has one, DATA/server.lock): requests of
		// the services another server runs go there. Without it no inference request pays for an
		// owner lookup.
		m.Peers = &cluster.Peers{Store: m.DB, Self: replica, Logger: m.Logger}
		m.HTTP.Peers = m.Peers
	}
	if err := m.HTTP.Open(); err != nil {
		return err
	}
	if m.Peers != nil {
		m.Peers.URL = advertiseURL(cfg.AdvertiseURL, m.HTTP.ListenAddr())
		if err := m.Peers.Register(ctx); err != nil {
			return fmt.Errorf("register replica: %w", err)
		}
		m.Logger.Info("replica", "id", replica, "advertise_url", m.Peers.URL, "lease_ttl", cfg.LeaseTTL.Duration)
	}
	return nil
}

// changeListener is a database that tells of changes other servers make (PostgreSQL): to services'
// desired states and to nodes' placements.
type changeListener interface {
	Listen(ctx context.Context, service, node func(id string)) error
}

// background runs a component until the returned function cancels it; done is released when
// run has returned.
func (m *Main) background(run func(context.Context) error, done *sync.WaitGroup, name string) context.CancelFunc {
	ctx, cancel := context.WithCancel(context.Background())
	done.Add(1)
	go func() {
		defer done.Done()
		if err := run(ctx); err != nil && !errors.Is(err, context.Canceled) {
			m.Logger.Error(name+" stopped", "err", err)
		}
	}()
	return cancel
}

// monitor answers the monitor API from the engine (instances) and the gateway (calls).
type monitor struct {
	engine  *rollout.Engine
	gateway *gateway.Gateway
}

func (mo monitor) Monitor(serviceID string) []ark.ModelMonitor {
	calls := mo.gateway.Stats(serviceID).Models
	var out []ark.ModelMonitor
	seen := map[string]bool{}
	for _, in := range mo.engine.Instances(serviceID) {
		c := calls[in.ModelID]
		seen[in.ModelID] = true
		out = append(out, ark.ModelMonitor{ModelID: in.ModelID, Ready: in.Ready,
			CPUCores: in.CPUCores, MemoryMB: in.MemoryMB,
			Invocations: c.Invocations, Failures: c.Failures, ReqPerMinute: c.PerMinute})
	}
	for id, c := range calls { // models without instances now (e.g. stopped)
		if !seen[id] {
			out = append(out, ark.ModelMonitor{ModelID: id, Invocations: c.Invocations, Failures: c.Failures,
				ReqPerMinute: c.PerMinute})
		}
	}
	return out
}

// Close shuts down in order: stop taking requests (waiting for in-flight ones), stop the engine
// (which stops the instances gracefully), stop the gateway (which writes its last call counts),
// close the database.
func (m *Main) Close() error {
	ctx, cancel := context.WithTimeout(context.Background(), m.Config.ShutdownTimeout.Duration)
	defer cancel()
	var errs []error
	if m.HTTP != nil {
		errs = append(errs, m.HTTP.Close(ctx))
	}
	if m.cancelListen != nil {
		m.cancelListen()
		m.listenDone.Wait()
	}
	if m.cancelIAM != nil {
		m.cancelIAM()
		m.iamDone.Wait()
	}
	if m.cancelEngine != nil {
		m.cancelEngine()
		m.engineDone.Wait()
	}
	if m.Kubernetes != nil { // after the engine, its only user; the Deployments run on
		m.Kubernetes.Close()
	}
	if m.cancelGateway != nil { // after the engine, which drains instances through it
		m.cancelGateway()
		m.gatewayDone.Wait() // its last flush of call counts goes to the database
	}
	if m.DB != nil {
		errs = append(errs, m.DB.Close())
	}
	if m.lock != nil {
		errs = append(errs, m.lock.Close()) // releases the lock
	}
	return errors.Join(errs...)
}

// prepareDataDir creates the data dir. It is 0711: instances (which may run as another user) can
// reach their own directories under instances/, but nobody else can list the data dir, and every
// secret in it (database, key, password) is created 0600.
func prepareDataDir(dir string) error {
	if err := os.MkdirAll(dir, 0o711); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	if err := os.Chmod(dir, 0o711); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	return nil
}

// bootstrap creates the default domain, project and admin user on first start. The admin password
// comes from ARKSERVE_ADMIN_PASSWORD or is generated into DATA/admin-password (mode 0600).
func (m *Main) bootstrap(ctx context.Context, dir string) error {
	pw := os.Getenv("ARKSERVE_ADMIN_PASSWORD")
	generated := pw == ""
	if generated {
		var b [18]byte
		_, _ = rand.Read(b[:])
		pw = base64.RawURLEncoding.EncodeToString(b[:])
	}
	created, err := m.IAM.Bootstrap(ctx, pw)
	if err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	if !created {
		return nil
	}
	if generated {
		path := filepath.Join(dir, "admin-password")
		if err := os.WriteFile(path, []byte(pw+"\n"), 0o600); err != nil {
			return fmt.Errorf("write admin password: %w", err)
		}
		m.Logger.Info("created user admin in project default; its generated password is in a file", "path", path)
	} else {
		m.Logger.Info("created user admin in project default with the password from ARKSERVE_ADMIN_PASSWORD")
	}
	return nil
}

func lookupCredential(name string) (*process.Credential, error) {
	u, err := user.Lookup(name)
	if err != nil {
		return nil, fmt.Errorf("instance user %q: %w", name, err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("instance user %q: %w", name, err)
	}
	if uid == 0 {
		return nil, fmt.Errorf("instance user %q is root; instances never run as root", name)
	}
	return &process.Credential{UID: uint32(uid), GID: uint32(gid)}, nil
}

// localPool describes this host as the resource pool. Its id is derived from the data dir, so it
// is stable across restarts.
func localPool(dir string, capacity ark.Resources) ark.Pool {
	st, _ := os.Stat(dir)
	var created int64
	if st != nil {
		created = st.ModTime().UnixMilli()
	}
	return ark.Pool{ID: poolID(dir), Name: "local", Description: "local host pool", CPU: capacity.CPU, MemoryMB: capacity.MemoryMB,
		GPUs: capacity.GPU, CreatedAt: created}
}

// kubernetesPool describes the cluster as the resource pool (the figures come from its nodes,
// through Capacity). Its id is derived from the namespace, so it is stable across restarts and
// the same on every replica.
func kubernetesPool(namespace string) ark.Pool {
	return ark.Pool{ID: poolID("kubernetes:" + namespace), Name: "kubernetes", Description: "Kubernetes cluster, namespace " + namespace}
}

// loadMasterKey reads the master key: file when given (it must exist), else DATA/token.key, made
// when missing (the key of a single server, or of the first one).
func loadMasterKey(file, dataDir string) ([]byte, error) {
	if file != "" {
		return iam.LoadKey(file)
	}
	return iam.LoadOrCreateKey(filepath.Join(dataDir, "token.key"))
}
