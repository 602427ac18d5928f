package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/BurntSushi/toml"

	"github.com/arkserve/arkserve/internal/ark"
)

// Config is the server's configuration. Precedence: flags, then ARKSERVE_* environment variables,
// then the config file (--config or ARKSERVE_CONFIG), then these defaults.
type Config struct {
	Listen    string `toml:"listen"`     // ARKSERVE_LISTEN; default 127.0.0.1:8111 (loopback only)
	DataDir   string `toml:"data_dir"`   // ARKSERVE_DATA_DIR; default ./arkserve-data
	Database  string `toml:"database"`   // ARKSERVE_DATABASE; postgres://... or sqlite:PATH; default sqlite:DATA/arkserve.db
	PublicURL string `toml:"public_url"` // ARKSERVE_PUBLIC_URL; default: from each request
	// AdvertiseURL is where the other servers on the database reach this one (they forward it the
	// inference and monitor requests of the services it runs).
	AdvertiseURL string `toml:"advertise_url"` // ARKSERVE_ADVERTISE_URL; default http://LISTEN-HOST:PORT (the host name for 0.0.0.0)
	// LeaseTTL is how long a service stays with a server that stopped renewing its lease (it died)
	// before another server on the database takes it over.
	LeaseTTL  duration `toml:"lease_ttl"`  // ARKSERVE_LEASE_TTL; default 15s
	LogLevel  string   `toml:"log_level"`  // ARKSERVE_LOG_LEVEL; debug | info | warn | error
	LogFormat string   `toml:"log_format"` // ARKSERVE_LOG_FORMAT; text | json
	// InstanceUser is the user instances run as when the server runs as root (never root itself).
	InstanceUser string `toml:"instance_user"` // ARKSERVE_INSTANCE_USER; default nobody
	// CmdModelRoles may register models that carry a cmd (it runs on this host).
	CmdModelRoles []string `toml:"cmd_model_roles"` // ARKSERVE_CMD_MODEL_ROLES (comma-separated); default admin
	TokenTTL      duration `toml:"token_ttl"`       // ARKSERVE_TOKEN_TTL; default 24h
	// MasterKeyFile holds the master key (32 bytes, mode 0600) that seals the token keyring and the
	// access-key secrets in the database: every server on one database needs the same one.
	MasterKeyFile string `toml:"master_key_file"` // ARKSERVE_MASTER_KEY_FILE, --master-key-file; default DATA/token.key (made if missing)
	// LaunchCommands start framework models (TensorFlow, PyTorch, MindSpore) that have no cmd, keyed
	// by the model's runtime, e.g. "tf2.1-python3.7" = "exec tensorflow_model_server --port=$PORT ...".
	LaunchCommands map[string]string `toml:"launch_commands"`
	// ShutdownTimeout bounds the graceful shutdown (in-flight requests, then instances).
	ShutdownTimeout duration `toml:"shutdown_timeout"` // default 30s
	// ReplaceSpecifications drops the built-in specification catalog: only Specifications remain.
	ReplaceSpecifications bool `toml:"replace_specifications"`
	// Pool is the local resource pool: what instances may take in all, and whether it is enforced.
	Pool PoolConfig `toml:"pool"`
	// Specifications ([[specification]] tables) add flavors to the built-in catalog; one with the
	// name of a built-in flavor replaces it.
	Specifications []SpecConfig `toml:"specification"`
	// Edge is the [edge] table: heartbeats of edge nodes and the waves of edge updates.
	Edge EdgeConfig `toml:"edge"`
	// Runtime runs the instances: process (local processes) or kubernetes (Deployments).
	Runtime    string           `toml:"runtime"` // ARKSERVE_RUNTIME, --runtime; default process
	Kubernetes KubernetesConfig `toml:"kubernetes"`
}

// EdgeConfig is the [edge] table (docs/edge.md).
type EdgeConfig struct {
	// HeartbeatInterval is how often agents send heartbeats (the server tells them).
	HeartbeatInterval duration `toml:"heartbeat_interval"` // default 5s
	// HeartbeatTimeout is how long a node stays RUNNING after a heartbeat; then it is UNCONNECTED.
	HeartbeatTimeout duration `toml:"heartbeat_timeout"` // default 15s
	// UnconnectedTimeout is how long an operation on an UNCONNECTED node waits before it fails.
	UnconnectedTimeout duration `toml:"unconnected_timeout"` // default 60s
	// ParallelNodes bounds the nodes whose operations of one update run at once (a wave).
	ParallelNodes int `toml:"parallel_nodes"` // default 4
}

// KubernetesConfig is the [kubernetes] table, used with runtime kubernetes.
type KubernetesConfig struct {
	// Kubeconfig is the kubeconfig file to use; "" uses the in-cluster configuration (the
	// server runs in a pod with a service account).
	Kubeconfig string `toml:"kubeconfig"` // ARKSERVE_KUBECONFIG, --kubeconfig
	Namespace  string `toml:"namespace"`  // ARKSERVE_KUBERNETES_NAMESPACE, --kubernetes-namespace; default default
	// Tolerations are added to every pod: KEY[=VALUE]:EFFECT, comma-separated in the environment
	// and the flag (e.g. kwok.x-k8s.io/node:NoSchedule for a KWOK test cluster).
	Tolerations []string `toml:"tolerations"` // ARKSERVE_KUBERNETES_TOLERATIONS, --kubernetes-tolerations
}

// PoolConfig is the [pool] table. Zero figures come from the host.
type PoolConfig struct {
	CPU      float64 `toml:"cpu"`       // ARKSERVE_POOL_CPU, --pool-cpu; default: the host's CPUs
	MemoryMB int     `toml:"memory_mb"` // ARKSERVE_POOL_MEMORY_MB, --pool-memory-mb; default: MemTotal
	GPUs     float64 `toml:"gpus"`      // ARKSERVE_POOL_GPUS, --pool-gpus; default 0
	NPUs     int     `toml:"npus"`      // ARKSERVE_POOL_NPUS, --pool-npus; default 0
	// Limits is auto (enforce specifications with cgroups where the host allows it) or off
	// (account only).
	Limits string `toml:"limits"` // ARKSERVE_POOL_LIMITS, --pool-limits; default auto
}

// Capacity is the pool's capacity: the configured figures, the host's CPU count and MemTotal for
// those left at 0.
func (p PoolConfig) Capacity() (ark.Resources, error) {
	r := ark.Resources{CPU: p.CPU, MemoryMB: p.MemoryMB, GPU: p.GPUs, NPU: p.NPUs}
	if r.CPU == 0 {
		r.CPU = float64(runtime.NumCPU())
	}
	if r.MemoryMB == 0 {
		if r.MemoryMB = hostMemoryMB(); r.MemoryMB == 0 {
			return r, errors.New("pool: cannot read MemTotal from /proc/meminfo; set [pool] memory_mb")
		}
	}
	return r, r.Validate()
}

// SpecConfig is one [[specification]] table: a flavor of the catalog.
type SpecConfig struct {
	Name        string  `toml:"name"`
	Category    string  `toml:"category"` // CPU | GPU | NPU; default GPU with gpu, NPU with npu, else CPU
	Arch        string  `toml:"arch"`     // default x86
	CPU         float64 `toml:"cpu"`
	MemoryMB    int     `toml:"memory_mb"`
	GPU         float64 `toml:"gpu"`
	GPUName     string  `toml:"gpu_name"`
	GPUMemoryMB int     `toml:"gpu_memory_mb"`
	NPU         int     `toml:"npu"`
	IsOpen      *bool   `toml:"is_open"` // default true; false: deploys with it are refused (it must be requested)
	Display     string  `toml:"display"` // default from the figures
}

// SpecCatalog is the specification catalog: ark.DefaultSpecs() (unless ReplaceSpecifications)
// with the configured flavors added or, by name, replacing built-in ones. It is validated.
func (c Config) SpecCatalog() ([]ark.Spec, error) {
	var specs []ark.Spec
	if !c.ReplaceSpecifications {
		specs = ark.DefaultSpecs()
	}
	builtin := len(specs)
	seen := map[string]bool{}
	for _, sc := range c.Specifications {
		if seen[sc.Name] {
			return nil, fmt.Errorf("specification %q: defined twice", sc.Name)
		}
		seen[sc.Name] = true
		s := ark.Spec{Name: sc.Name, Category: sc.Category, Arch: sc.Arch, CPU: sc.CPU, MemoryMB: sc.MemoryMB, GPU: sc.GPU,
			GPUName: sc.GPUName, GPUMemMB: sc.GPUMemoryMB, NPU: sc.NPU, IsOpen: sc.IsOpen == nil || *sc.IsOpen, Display: sc.Display}
		if s.Category == "" {
			s.Category = "CPU"
			if s.GPU > 0 {
				s.Category = "GPU"
			} else if s.NPU > 0 {
				s.Category = "NPU"
			}
		}
		if s.Arch == "" {
			s.Arch = "x86"
		}
		if s.Display == "" {
			s.Display = fmt.Sprintf("%s: %g vCPUs | %d MiB", s.Category, s.CPU, s.MemoryMB)
			if s.GPU > 0 {
				s.Display += fmt.Sprintf(" | %g x GPU %s", s.GPU, s.GPUName)
			}
			if s.NPU > 0 {
				s.Display += fmt.Sprintf(" | %d x NPU", s.NPU)
			}
		}
		if i := slices.IndexFunc(specs[:builtin], func(b ark.Spec) bool { return b.Name == s.Name }); i >= 0 {
			specs[i] = s
		} else {
			specs = append(specs, s)
		}
	}
	if len(specs) == 0 {
		return nil, errors.New("replace_specifications is set and no [[specification]] is given: no flavor could be deployed")
	}
	return specs, ark.ValidateSpecs(specs)
}

type duration struct{ time.Duration }

func (d *duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	d.Duration = v
	return err
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{Listen: "127.0.0.1:8111", DataDir: "arkserve-data", LogLevel: "info", LogFormat: "text",
		InstanceUser: "nobody", CmdModelRoles: []string{"admin"}, TokenTTL: duration{24 * time.Hour},
		ShutdownTimeout: duration{30 * time.Second}, LeaseTTL: duration{15 * time.Second},
		Edge: EdgeConfig{HeartbeatInterval: duration{5 * time.Second}, HeartbeatTimeout: duration{15 * time.Second},
			UnconnectedTimeout: duration{60 * time.Second}, ParallelNodes: 4},
		Runtime: "process", Kubernetes: KubernetesConfig{Namespace: "default"}}
}

// loadServerConfig builds the configuration from defaults, file, environment and flags.
func loadServerConfig(args []string, getenv func(string) string) (Config, error) {
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("arkserve server", flag.ContinueOnError)
	configPath := fs.String("config", getenv("ARKSERVE_CONFIG"), "TOML config file (env ARKSERVE_CONFIG)")
	listen := fs.String("listen", "", "listen address HOST:PORT (env ARKSERVE_LISTEN; default "+cfg.Listen+")")
	dataDir := fs.String("data-dir", "", "data directory: database, keys, instance dirs (env ARKSERVE_DATA_DIR; default ./"+cfg.DataDir+")")
	database := fs.String("database", "", "postgres://USER@HOST:PORT/DB?sslmode=... or sqlite:PATH (env ARKSERVE_DATABASE; default sqlite:DATA/arkserve.db)")
	publicURL := fs.String("public-url", "", "base URL clients use to reach the server (env ARKSERVE_PUBLIC_URL; default from each request)")
	advertiseURL := fs.String("advertise-url", "", "URL the other servers on the database reach this one at (env ARKSERVE_ADVERTISE_URL; default http://LISTEN-HOST:PORT)")
	leaseTTL := fs.String("lease-ttl", "", "how long a dead server's services wait before another server on the database takes them over (env ARKSERVE_LEASE_TTL; default 15s)")
	logLevel := fs.String("log-level", "", "debug, info, warn or error (env ARKSERVE_LOG_LEVEL; default info)")
	logFormat := fs.String("log-format", "", "text or json (env ARKSERVE_LOG_FORMAT; default text)")
	instanceUser := fs.String("instance-user", "", "user that instances run as when the server runs as root (env ARKSERVE_INSTANCE_USER; default nobody)")
	poolCPU := fs.String("pool-cpu", "", "CPU cores instances may take in all (env ARKSERVE_POOL_CPU; default: the host's CPUs)")
	poolMemory := fs.String("pool-memory-mb", "", "memory in MB instances may take in all (env ARKSERVE_POOL_MEMORY_MB; default: the host's MemTotal)")
	poolGPUs := fs.String("pool-gpus", "", "GPUs instances may take in all (env ARKSERVE_POOL_GPUS; default 0)")
	poolNPUs := fs.String("pool-npus", "", "NPUs instances may take in all (env ARKSERVE_POOL_NPUS; default 0)")
	masterKey := fs.String("master-key-file", "", "file with the master key sealing the token keyring and access-key secrets; the same on every server of one database (env ARKSERVE_MASTER_KEY_FILE; default DATA/token.key, made if missing)")
	runtimeName := fs.String("runtime", "", "process: instances are local processes; kubernetes: Deployments on a cluster (env ARKSERVE_RUNTIME; default process)")
	kubeconfig := fs.String("kubeconfig", "", "kubeconfig file of the cluster for --runtime kubernetes (env ARKSERVE_KUBECONFIG; default: the in-cluster configuration)")
	kubeNamespace := fs.String("kubernetes-namespace", "", "namespace of the services' Deployments (env ARKSERVE_KUBERNETES_NAMESPACE; default default)")
	kubeTolerations := fs.String("kubernetes-tolerations", "", "tolerations of every pod, KEY[=VALUE]:EFFECT,... (env ARKSERVE_KUBERNETES_TOLERATIONS)")
	poolLimits := fs.String("pool-limits", "", "auto: enforce specifications with cgroups where the host allows it; off: account only (env ARKSERVE_POOL_LIMITS; default auto)")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if fs.NArg() > 0 {
		return cfg, usageError(fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	}
	if *configPath != "" {
		md, err := toml.DecodeFile(*configPath, &cfg)
		if err != nil {
			return cfg, fmt.Errorf("config file %s: %w", *configPath, err)
		}
		if und := md.Undecoded(); len(und) > 0 {
			return cfg, fmt.Errorf("config file %s: unknown key %s", *configPath, und[0])
		}
	}
	env := func(dst *string, name string) {
		if v := getenv(name); v != "" {
			*dst = v
		}
	}
	env(&cfg.Listen, "ARKSERVE_LISTEN")
	env(&cfg.DataDir, "ARKSERVE_DATA_DIR")
	env(&cfg.Database, "ARKSERVE_DATABASE")
	env(&cfg.PublicURL, "ARKSERVE_PUBLIC_URL")
	env(&cfg.AdvertiseURL, "ARKSERVE_ADVERTISE_URL")
	env(&cfg.LogLevel, "ARKSERVE_LOG_LEVEL")
	env(&cfg.LogFormat, "ARKSERVE_LOG_FORMAT")
	env(&cfg.InstanceUser, "ARKSERVE_INSTANCE_USER")
	env(&cfg.MasterKeyFile, "ARKSERVE_MASTER_KEY_FILE")
	env(&cfg.Runtime, "ARKSERVE_RUNTIME")
	env(&cfg.Kubernetes.Kubeconfig, "ARKSERVE_KUBECONFIG")
	env(&cfg.Kubernetes.Namespace, "ARKSERVE_KUBERNETES_NAMESPACE")
	if v := getenv("ARKSERVE_KUBERNETES_TOLERATIONS"); v != "" {
		cfg.Kubernetes.Tolerations = strings.Split(v, ",")
	}
	if *kubeTolerations != "" {
		cfg.Kubernetes.Tolerations = strings.Split(*kubeTolerations, ",")
	}
	if v := getenv("ARKSERVE_CMD_MODEL_ROLES"); v != "" {
		cfg.CmdModelRoles = strings.Split(v, ",")
	}
	for name, d := range map[string]*duration{"ARKSERVE_TOKEN_TTL": &cfg.TokenTTL, "ARKSERVE_LEASE_TTL": &cfg.LeaseTTL} {
		if v := getenv(name); v != "" {
			if err := d.UnmarshalText([]byte(v)); err != nil {
				return cfg, fmt.Errorf("%s: %w", name, err)
			}
		}
	}
	if *leaseTTL != "" {
		if err := cfg.LeaseTTL.UnmarshalText([]byte(*leaseTTL)); err != nil {
			return cfg, fmt.Errorf("--lease-ttl: %w", err)
		}
	}
	for dst, v := range map[*string]string{&cfg.Listen: *listen, &cfg.DataDir: *dataDir, &cfg.Database: *database, &cfg.PublicURL: *publicURL, &cfg.AdvertiseURL: *advertiseURL,
		&cfg.LogLevel: *logLevel, &cfg.LogFormat: *logFormat, &cfg.InstanceUser: *instanceUser, &cfg.MasterKeyFile: *masterKey,
		&cfg.Runtime: *runtimeName, &cfg.Kubernetes.Kubeconfig: *kubeconfig, &cfg.Kubernetes.Namespace: *kubeNamespace} {
		if v != "" {
			*dst = v
		}
	}
	if err := cfg.Pool.override(getenv, *poolCPU, *poolMemory, *poolGPUs, *poolNPUs, *poolLimits); err != nil {
		return cfg, err
	}
	return cfg, cfg.Validate()
}

// Validate checks the configuration.
func (c Config) Validate() error {
	var errs []error
	if c.Listen == "" {
		errs = append(errs, errors.New("listen address is empty"))
	}
	if c.DataDir == "" {
		errs = append(errs, errors.New("data dir is empty"))
	}
	if _, err := parseDatabase(c.Database, c.DataDir); err != nil {
		errs = append(errs, err)
	}
	if _, err := parseLevel(c.LogLevel); err != nil {
		errs = append(errs, err)
	}
	if c.LogFormat != "text" && c.LogFormat != "json" {
		errs = append(errs, fmt.Errorf("log format %q: use text or json", c.LogFormat))
	}
	for _, r := range c.CmdModelRoles {
		if r != "admin" && r != "member" && r != "reader" {
			errs = append(errs, fmt.Errorf("cmd_model_roles: unknown role %q", r))
		}
	}
	if c.TokenTTL.Duration < time.Minute || c.TokenTTL.Duration > 7*24*time.Hour {
		errs = append(errs, errors.New("token_ttl: use 1m to 168h"))
	}
	for name, u := range map[string]string{"public URL": c.PublicURL, "advertise URL": c.AdvertiseURL} {
		if u != "" && !strings.HasPrefix(u, "http://") && !strings.HasPrefix(u, "https://") {
			errs = append(errs, fmt.Errorf("%s %q: must start with http:// or https://", name, u))
		}
	}
	if c.LeaseTTL.Duration < 3*time.Second || c.LeaseTTL.Duration > 10*time.Minute {
		errs = append(errs, errors.New("lease_ttl: use 3s to 10m"))
	}
	if p := c.Pool; !(p.CPU >= 0) || math.IsInf(p.CPU, 0) || p.MemoryMB < 0 || !(p.GPUs >= 0) || math.IsInf(p.GPUs, 0) || p.NPUs < 0 {
		errs = append(errs, errors.New("pool: cpu, memory_mb, gpus and npus must not be negative (0: from the host)"))
	}
	if l := c.Pool.Limits; l != "" && l != "auto" && l != "off" {
		errs = append(errs, fmt.Errorf("pool limits %q: use auto or off", l))
	}
	if _, err := c.SpecCatalog(); err != nil {
		errs = append(errs, err)
	}
	if e := c.Edge; e.HeartbeatInterval.Duration < time.Second || e.HeartbeatTimeout.Duration < 2*e.HeartbeatInterval.Duration ||
		e.UnconnectedTimeout.Duration < time.Second || e.ParallelNodes < 1 || e.ParallelNodes > ark.MaxEdgeNodes {
		errs = append(errs, fmt.Errorf("edge: heartbeat_interval at least 1s, heartbeat_timeout at least twice that, unconnected_timeout at least 1s, parallel_nodes 1 to %d", ark.MaxEdgeNodes))
	}
	switch c.Runtime {
	case "process", "kubernetes":
	default:
		errs = append(errs, fmt.Errorf("runtime %q: use process or kubernetes", c.Runtime))
	}
	if _, err := c.Kubernetes.tolerations(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(s)); err != nil {
		return l, fmt.Errorf("log level %q: use debug, info, warn or error", s)
	}
	return l, nil
}

func newLogger(c Config, w io.Writer) *slog.Logger {
	lvl, _ := parseLevel(c.LogLevel)
	opts := &slog.HandlerOptions{Level: lvl}
	if c.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// override applies the ARKSERVE_POOL_* environment variables, then the --pool-* flags (non-empty
// values win).
func (p *PoolConfig) override(getenv func(string) string, cpu, memory, gpus, npus, limits string) error {
	var errs []error
	number := func(dst any, name, v string) {
		if v == "" {
			return
		}
		var err error
		switch d := dst.(type) {
		case *float64:
			*d, err = strconv.ParseFloat(v, 64)
		case *int:
			*d, err = strconv.Atoi(v)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not a number", name, v))
		}
	}
	for _, src := range [][5][2]string{
		{{"ARKSERVE_POOL_CPU", getenv("ARKSERVE_POOL_CPU")}, {"ARKSERVE_POOL_MEMORY_MB", getenv("ARKSERVE_POOL_MEMORY_MB")},
			{"ARKSERVE_POOL_GPUS", getenv("ARKSERVE_POOL_GPUS")}, {"ARKSERVE_POOL_NPUS", getenv("ARKSERVE_POOL_NPUS")},
			{"ARKSERVE_POOL_LIMITS", getenv("ARKSERVE_POOL_LIMITS")}},
		{{"--pool-cpu", cpu}, {"--pool-memory-mb", memory}, {"--pool-gpus", gpus}, {"--pool-npus", npus}, {"--pool-limits", limits}},
	} {
		number(&p.CPU, src[0][0], src[0][1])
		number(&p.MemoryMB, src[1][0], src[1][1])
		number(&p.GPUs, src[2][0], src[2][1])
		number(&p.NPUs, src[3][0], src[3][1])
		if v := src[4][1]; v != "" {
			p.Limits = v
		}
	}
	return errors.Join(errs...)
}
