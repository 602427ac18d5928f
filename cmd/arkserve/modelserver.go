package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/arkserve/arkserve/internal/modelserver"
)

// ModelServerRuntime is the model runtime whose models (without a cmd of their own) the server
// starts with its bundled model server: arkserve model-server, with MODEL_DIR and PORT set.
const ModelServerRuntime = "arkserve"

// modelServerConfig is the configuration of arkserve model-server.
type modelServerConfig struct {
	ModelDir        string
	Addr            string
	MaxBatch        int
	MaxBodyBytes    int64
	ShutdownTimeout time.Duration
	// ReadyDelay keeps the server from listening until that long after it started: a model that
	// takes a known time to become ready, for benchmarks of rollouts (bench/rollout).
	ReadyDelay time.Duration
}

// loadModelServerConfig reads the flags; --model-dir and --port default to MODEL_DIR and PORT, which
// is how the process runtime starts instances.
func loadModelServerConfig(args []string, getenv func(string) string, stderr io.Writer) (modelServerConfig, error) {
	var cfg modelServerConfig
	fs := flag.NewFlagSet("arkserve model-server", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&cfg.ModelDir, "model-dir", getenv("MODEL_DIR"), "model directory with model.json and its weights (env MODEL_DIR)")
	port := fs.String("port", getenv("PORT"), "port to listen on (env PORT)")
	listen := fs.String("listen", "127.0.0.1", "address to listen on: HOST, or HOST:PORT (which overrides --port)")
	fs.IntVar(&cfg.MaxBatch, "max-batch", modelserver.DefaultMaxBatch, "inputs per predict request at most")
	fs.Int64Var(&cfg.MaxBodyBytes, "max-body-bytes", modelserver.DefaultMaxBodyBytes, "request body size limit in bytes")
	fs.DurationVar(&cfg.ShutdownTimeout, "shutdown-timeout", 20*time.Second, "how long in-flight requests may take to finish after SIGTERM")
	readyDelay := fs.String("ready-delay", getenv("MODEL_READY_DELAY"), "do not listen until this long after start, e.g. 2s (env MODEL_READY_DELAY; for benchmarks)")
	if err := fs.Parse(args); err != nil {
		return cfg, err
	}
	if *readyDelay != "" {
		d, err := time.ParseDuration(*readyDelay)
		if err != nil || d < 0 {
			return cfg, usageError(fmt.Sprintf("model-server: --ready-delay %q is not a duration like 2s", *readyDelay))
		}
		cfg.ReadyDelay = d
	}
	if fs.NArg() > 0 {
		return cfg, usageError(fmt.Sprintf("model-server: unexpected argument %q", fs.Arg(0)))
	}
	if cfg.ModelDir == "" {
		return cfg, usageError("model-server: --model-dir (or MODEL_DIR) is required")
	}
	if _, _, err := net.SplitHostPort(*listen); err == nil {
		cfg.Addr = *listen
	} else {
		if *port == "" {
			return cfg, usageError("model-server: --port (or PORT) is required")
		}
		cfg.Addr = net.JoinHostPort(*listen, *port)
	}
	if cfg.MaxBatch < 1 || cfg.MaxBodyBytes < 1 || cfg.ShutdownTimeout < 0 {
		return cfg, usageError("model-server: --max-batch and --max-body-bytes must be positive, --shutdown-timeout not negative")
	}
	return cfg, nil
}

// runModelServer is arkserve model-server: it loads the model, serves it until ctx ends (SIGTERM or
// an interrupt), then lets in-flight requests finish.
func runModelServer(ctx context.Context, args []string, stderr io.Writer) error {
	cfg, err := loadModelServerConfig(args, os.Getenv, stderr)
	if err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, nil))
	start := time.Now()
	model, err := modelserver.Load(cfg.ModelDir)
	if err != nil {
		return fmt.Errorf("model-server: %w", err)
	}
	if cfg.ReadyDelay > 0 {
		t := time.NewTimer(time.Until(start.Add(cfg.ReadyDelay)))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return nil
		}
	}
	srv := &modelserver.Server{Model: model, Addr: cfg.Addr, Logger: logger, MaxBatch: cfg.MaxBatch, MaxBodyBytes: cfg.MaxBodyBytes}
	if err := srv.Open(); err != nil {
		return fmt.Errorf("model-server: %w", err)
	}
	logger.Info("model server listening", "addr", srv.ListenAddr(), "model_dir", cfg.ModelDir, "model", model.Name,
		"parameters", model.Params(), "load_time", time.Since(start).Round(time.Millisecond), "version", version)
	<-ctx.Done()
	logger.Info("shutting down: finishing in-flight requests", "timeout", cfg.ShutdownTimeout)
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Close(sctx); err != nil {
		return fmt.Errorf("model-server: shutdown: %w", err)
	}
	logger.Info("stopped")
	return nil
}

// launchCommands are the engine's launch commands: the built-in one for runtime arkserve (the
// bundled model server, from a copy of this executable in the data dir), overridden by the
// configured ones. Without the copy the server still runs; models of runtime arkserve then fail to
// deploy with an event that says there is no launch command.
func (m *Main) launchCommands(dataDir string) map[string]string {
	out := map[string]string{}
	if path, err := installModelServer(dataDir); err != nil {
		m.Logger.Warn("the bundled model server (runtime arkserve) is not available", "err", err)
	} else {
		out[ModelServerRuntime] = "exec " + shellQuote(path) + " model-server"
	}
	maps.Copy(out, m.Config.LaunchCommands)
	return out
}

// executable is this process's executable: its path and the first 12 hex digits of its SHA-256,
// computed once.
var executable = sync.OnceValues(func() ([2]string, error) {
	exe, err := os.Executable()
	if err != nil {
		return [2]string{}, err
	}
	if exe, err = filepath.EvalSymlinks(exe); err != nil {
		return [2]string{}, err
	}
	sum, err := hashFile(exe)
	return [2]string{exe, sum}, err
})

func hashFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil))[:12], nil
}

// installModelServer copies this executable to DATA/bin/arkserve-<hash> (directory 0755, file 0755)
// unless it is there already, removes the copies of other versions, and returns the copy's path.
// Instances cannot always run the executable where it is: when the server runs as root they run
// as an unprivileged user, and a `go run` binary lives in a temp dir of mode 0700. The data dir
// (0711) lets them reach DATA/bin without listing the data dir.
func installModelServer(dataDir string) (string, error) {
	self, err := executable()
	if err != nil {
		return "", fmt.Errorf("find own executable: %w", err)
	}
	exe, sum := self[0], self[1]
	bin := filepath.Join(dataDir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return "", err
	}
	if err := os.Chmod(bin, 0o755); err != nil {
		return "", err
	}
	name := "arkserve-" + sum
	dst := filepath.Join(bin, name)
	src, err := os.Stat(exe)
	if err != nil {
		return "", err
	}
	if fi, err := os.Lstat(dst); err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o755 || fi.Size() != src.Size() {
		if err := copyExecutable(exe, dst, sum); err != nil {
			return "", fmt.Errorf("copy %s to %s: %w", exe, bin, err)
		}
	}
	// Copies of other versions: running instances keep their open inode; new ones use dst.
	entries, _ := os.ReadDir(bin)
	for _, e := range entries {
		if e.Name() != name && (strings.HasPrefix(e.Name(), "arkserve-") || strings.HasPrefix(e.Name(), ".arkserve-")) {
			os.Remove(filepath.Join(bin, e.Name()))
		}
	}
	return dst, nil
}

// copyExecutable copies src to dst (mode 0755) through a temporary file and a rename, and checks
// that what it copied has the expected hash.
func copyExecutable(src, dst, sum string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp, err := os.CreateTemp(filepath.Dir(dst), "."+filepath.Base(dst)+".tmp*")
	if err != nil {
		return err
	}
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(tmp, h), in)
	if err == nil && hex.EncodeToString(h.Sum(nil))[:12] != sum {
		err = errors.New("the executable changed while it was copied")
	}
	if err == nil {
		err = tmp.Chmod(0o755)
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), dst)
	}
	if err != nil {
		os.Remove(tmp.Name())
	}
	return err
}

// shellQuote quotes s for /bin/sh.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
