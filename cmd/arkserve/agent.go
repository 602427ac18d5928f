package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/arkserve/arkserve/internal/agent"
	"github.com/arkserve/arkserve/internal/ark"
	"github.com/arkserve/arkserve/internal/iam"
	"github.com/arkserve/arkserve/internal/runtime/process"
)

const agentUsage = `Usage: arkserve agent --server URL --node-name NAME [flags]

Runs this machine as an edge node of the credential's project: registers it, sends heartbeats,
runs the instances of the edge services placed on it and reports them (docs/edge.md). The node
credential (from arkserve admin node-credential create) comes from --credential-file or
ARKSERVE_NODE_CREDENTIAL, never from a flag. SIGTERM stops the instances and the agent.

Flags:
`

// runAgent runs the edge agent until ctx ends.
func runAgent(ctx context.Context, args []string, stderr io.Writer) error {
	fs := flag.NewFlagSet("arkserve agent", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, agentUsage); fs.PrintDefaults() }
	server := fs.String("server", os.Getenv("ARKSERVE_SERVER"), "the arkserve server's URL (env ARKSERVE_SERVER)")
	name := fs.String("node-name", "", "the node's name: letters, digits, - and _, starting with a letter")
	dataDir := fs.String("data-dir", "arkserve-agent", "the agent's directory: the node id, the instances and the copies of the models")
	credFile := fs.String("credential-file", os.Getenv("ARKSERVE_NODE_CREDENTIAL_FILE"), "file holding the node credential (env ARKSERVE_NODE_CREDENTIAL_FILE)")
	instanceUser := fs.String("instance-user", "nobody", "user that instances run as when the agent runs as root")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		return err
	}
	switch {
	case fs.NArg() > 0:
		return usageError(fmt.Sprintf("agent: unexpected argument %q", fs.Arg(0)))
	case *server == "" || !(strings.HasPrefix(*server, "http://") || strings.HasPrefix(*server, "https://")):
		return usageError("agent: --server http(s)://HOST:PORT is required")
	case ark.ValidateName("node-name", *name) != nil:
		return usageError("agent: --node-name is required: 1 to 64 letters, digits, - and _, starting with a letter")
	}
	cred := os.Getenv("ARKSERVE_NODE_CREDENTIAL")
	if *credFile != "" {
		b, err := os.ReadFile(*credFile)
		if err != nil {
			return fmt.Errorf("agent: credential file: %w", err)
		}
		cred = strings.TrimSpace(string(b))
	}
	project := iam.NodeCredentialProject(cred)
	if project == "" {
		return usageError("agent: a node credential (arkn1....) is required: --credential-file or ARKSERVE_NODE_CREDENTIAL")
	}
	lvl, err := parseLevel(*logLevel)
	if err != nil {
		return usageError(err.Error())
	}
	logger := newLogger(Config{LogLevel: lvl.String(), LogFormat: "text"}, stderr)
	dir, err := filepath.Abs(*dataDir)
	if err != nil {
		return err
	}
	if err := prepareDataDir(dir); err != nil {
		return err
	}
	nodeID, err := agent.NodeID(dir)
	if err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	rt := &process.Runtime{Dir: filepath.Join(dir, "instances"), VolumeDir: filepath.Join(dir, "volumes"), Logger: logger}
	if os.Geteuid() == 0 {
		if rt.RunAs, err = lookupCredential(*instanceUser); err != nil {
			return err
		}
	}
	// Instances a killed agent left behind are stopped before anything starts.
	if n, err := rt.StopStale(ctx); err != nil {
		logger.Warn("stop instances left by an earlier agent", "err", err)
	} else if n > 0 {
		logger.Info("stopped instances left by an earlier agent", "count", n)
	}
	a := &agent.Agent{Server: *server, Credential: cred, ProjectID: project, NodeID: nodeID,
		Facts: agent.HostFacts(*name), Runtime: rt, Logger: logger, ModelDir: filepath.Join(dir, "models")}
	logger.Info("arkserve agent", "node", nodeID, "name", *name, "server", *server, "project", project, "version", version)
	err = a.Run(ctx)
	if errors.Is(err, agent.ErrRefused) {
		return fmt.Errorf("%w (revoked, of another project, or the node belongs to another project)", err)
	}
	return err
}
