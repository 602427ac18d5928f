// Command arkserve is the arkserve binary: the server, the admin commands that work on a data dir,
// and the client verbs that talk to a server over HTTP.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

const usage = `arkserve: a self-hosted, ModelArts-compatible platform for real-time inference services.

Usage:
  arkserve server [flags]           run the server (see arkserve server -h)
  arkserve admin <noun> <verb> ...  manage projects, users, roles, access keys and node credentials in a data dir
  arkserve agent [flags]            run this machine as an edge node (see arkserve agent -h)
  arkserve login [flags]            get a token and store it for the client verbs
  arkserve models <verb> ...        create | list | show | delete
  arkserve services <verb> ...      deploy | list | show | update | start | stop | delete | events | logs
  arkserve access-key <verb> ...    create | list | delete (your own AK/SK for signed requests)
  arkserve nodes <verb> ...         list | show | delete (the project's edge nodes)
  arkserve model-server [flags]     serve a model directory (runtime arkserve; see arkserve model-server -h)
  arkserve version                  print the version
`

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "arkserve:", err)
		}
		os.Exit(exitCode(err))
	}
}

// exitCode is 2 for usage errors, 1 otherwise.
func exitCode(err error) int {
	var ue usageError
	var re *rolloutError
	switch {
	case errors.As(err, &ue) || errors.Is(err, flag.ErrHelp):
		return 2
	case errors.As(err, &re):
		return 3
	case errors.Is(err, errWaitTimeout):
		return 4
	}
	return 1
}

type usageError string

func (e usageError) Error() string { return string(e) }

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return usageError("a command is required")
	}
	switch args[0] {
	case "server":
		return runServer(ctx, args[1:], stderr)
	case "admin":
		return runAdmin(ctx, args[1:], stdout, stderr)
	case "agent":
		return runAgent(ctx, args[1:], stderr)
	case "login", "models", "services", "access-key", "nodes":
		return runClient(ctx, args, stdout, stderr)
	case "model-server":
		return runModelServer(ctx, args[1:], stderr)
	case "version":
		fmt.Fprintln(stdout, "arkserve", version)
		return nil
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return usageError(fmt.Sprintf("unknown command %q", args[0]))
}
