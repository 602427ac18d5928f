// Command bench runs arkserve's benchmarks, each beside its baseline in the same run, and prints
// the figures as Markdown table rows for BENCHMARKS.md. Run from the repository:
//
//	go run ./bench logs       # update-logs endpoint vs a bare net/http server with the same bytes
//	go run ./bench history    # 1,000,000 update-log entries vs 1,000 (SQLite)
//	go run ./bench rollout    # rolling 20 instances vs waves x T
//	go run ./bench gateway    # inference through /v1/infers vs directly to the instance
//	go run ./bench footprint  # RSS and startup of a server with 1,000 services, 100,000 entries
//	go run ./bench kubernetes # an update on Kubernetes through arkserve vs kubectl set image + rollout status
//
// Each prints the exact command, the core count and the load average next to each figure: the
// machine may be shared, so the ratios to the baselines are what count.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

var benchmarks = map[string]func(ctx context.Context, args []string) error{
	"logs":       benchLogs,
	"history":    benchHistory,
	"rollout":    benchRollout,
	"gateway":    benchGateway,
	"footprint":  benchFootprint,
	"kubernetes": benchKubernetes,
	// serve-bytes is the baseline server the benchmarks start as a subprocess.
	"serve-bytes": serveBytes,
}

func main() {
	if len(os.Args) < 2 || benchmarks[os.Args[1]] == nil {
		fmt.Fprintln(os.Stderr, "usage: go run ./bench logs|history|rollout|gateway|footprint|kubernetes [flags]")
		os.Exit(2)
	}
	ctx, cancel := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer cancel()
	if err := benchmarks[os.Args[1]](ctx, os.Args[2:]); err != nil {
		if err == flag.ErrHelp {
			os.Exit(2)
		}
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}
