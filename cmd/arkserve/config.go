package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Config is the server's configuration. Precedence: flags, then ARKSERVE_* environment variables,
// then the config file (--config or ARKSERVE_CONFIG), then these defaults.
type Config struct {
	Listen    string `toml:"listen"`     // ARKSERVE_LISTEN; default 127.0.0.1:8111 (loopback only)
	DataDir   string `toml:"data_dir"`   // ARKSERVE_DATA_DIR; default ./arkserve-data
	PublicURL string `toml:"public_url"` // ARKSERVE_PUBLIC_URL; default: from each request
	LogLevel  string `toml:"log_level"`  // ARKSERVE_LOG_LEVEL; debug | info | warn | error
	LogFormat string `toml:"log_format"` // ARKSERVE_LOG_FORMAT; text | json
	// InstanceUser is the user instances run as when the server runs as root (never root itself).
	InstanceUser string `toml:"instance_user"` // ARKSERVE_INSTANCE_USER; default nobody
	// CmdModelRoles may register models that carry a cmd (it runs on this host).
	CmdModelRoles []string `toml:"cmd_model_roles"` // ARKSERVE_CMD_MODEL_ROLES (comma-separated); default admin
	TokenTTL      duration `toml:"token_ttl"`       // ARKSERVE_TOKEN_TTL; default 24h
	// LaunchCommands start framework models (TensorFlow, PyTorch, MindSpore) that have no cmd, keyed
	// by the model's runtime, e.g. "tf2.1-python3.7" = "exec tensorflow_model_server --port=$PORT ...".
	LaunchCommands map[string]string `toml:"launch_commands"`
	// ShutdownTimeout bounds the graceful shutdown (in-flight requests, then instances).
	ShutdownTimeout duration `toml:"shutdown_timeout"` // default 30s
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
		ShutdownTimeout: duration{30 * time.Second}}
}

// loadServerConfig builds the configuration from defaults, file, environment and flags.
func loadServerConfig(args []string, getenv func(string) string) (Config, error) {
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("arkserve server", flag.ContinueOnError)
	configPath := fs.String("config", getenv("ARKSERVE_CONFIG"), "TOML config file (env ARKSERVE_CONFIG)")
	listen := fs.String("listen", "", "listen address HOST:PORT (env ARKSERVE_LISTEN; default "+cfg.Listen+")")
	dataDir := fs.String("data-dir", "", "data directory: database, keys, instance dirs (env ARKSERVE_DATA_DIR; default ./"+cfg.DataDir+")")
	publicURL := fs.String("public-url", "", "base URL clients use to reach the server (env ARKSERVE_PUBLIC_URL; default from each request)")
	logLevel := fs.String("log-level", "", "debug, info, warn or error (env ARKSERVE_LOG_LEVEL; default info)")
	logFormat := fs.String("log-format", "", "text or json (env ARKSERVE_LOG_FORMAT; default text)")
	instanceUser := fs.String("instance-user", "", "user that instances run as when the server runs as root (env ARKSERVE_INSTANCE_USER; default nobody)")
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
	env(&cfg.PublicURL, "ARKSERVE_PUBLIC_URL")
	env(&cfg.LogLevel, "ARKSERVE_LOG_LEVEL")
	env(&cfg.LogFormat, "ARKSERVE_LOG_FORMAT")
	env(&cfg.InstanceUser, "ARKSERVE_INSTANCE_USER")
	if v := getenv("ARKSERVE_CMD_MODEL_ROLES"); v != "" {
		cfg.CmdModelRoles = strings.Split(v, ",")
	}
	if v := getenv("ARKSERVE_TOKEN_TTL"); v != "" {
		if err := cfg.TokenTTL.UnmarshalText([]byte(v)); err != nil {
			return cfg, fmt.Errorf("ARKSERVE_TOKEN_TTL: %w", err)
		}
	}
	for dst, v := range map[*string]string{&cfg.Listen: *listen, &cfg.DataDir: *dataDir, &cfg.PublicURL: *publicURL,
		&cfg.LogLevel: *logLevel, &cfg.LogFormat: *logFormat, &cfg.InstanceUser: *instanceUser} {
		if v != "" {
			*dst = v
		}
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
	if c.PublicURL != "" && !strings.HasPrefix(c.PublicURL, "http://") && !strings.HasPrefix(c.PublicURL, "https://") {
		errs = append(errs, fmt.Errorf("public URL %q: must start with http:// or https://", c.PublicURL))
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
