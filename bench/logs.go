package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// benchLogs: GET /v1/{project_id}/services/{service_id}/logs on the real server (token auth,
// SQLite, access log as configured by default) against a bare net/http server that answers the
// same path with the same bytes from memory, both loaded by the same closed-loop generator.
func benchLogs(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("logs", flag.ContinueOnError)
	dur := fs.Duration("duration", 3*time.Second, "measured time per run")
	warm := fs.Duration("warmup", 500*time.Millisecond, "unmeasured time before each run")
	conns := fs.String("conns", "1,16,64", "connection counts")
	keep := fs.Bool("keep", false, "keep the temp dir")
	entries := fs.String("entries", "10,1000", "update-log entries of the services loaded")
	rounds := fs.Int("rounds", 3, "runs of each (arkserve, baseline alternating)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	header("logs")
	tmp, bin, err := prepare("logs")
	if err != nil {
		return err
	}
	if !*keep {
		defer os.RemoveAll(tmp)
	}
	data := filepath.Join(tmp, "data")
	pid, uid, err := bootstrapDataDir(bin, data)
	if err != nil {
		return err
	}
	sizes := parseInts(*entries)
	plans := map[int]seedPlan{}
	for _, n := range sizes {
		p := seedPlan{ProjectID: pid, Owner: uid, Services: 1, Entries: n, Start: time.UnixMilli(1_760_000_000_000), Prefix: fmt.Sprintf("logs%d", n)}
		if err := seed(ctx, filepath.Join(data, "arkserve.db"), p, logStderr); err != nil {
			return err
		}
		if err := verifySeed(ctx, filepath.Join(data, "arkserve.db"), p, 1); err != nil {
			return err
		}
		plans[n] = p
	}
	a, err := startLoggedIn(bin, data)
	if err != nil {
		return err
	}
	defer a.stop()
	paths := map[int]string{}
	var files []string
	for _, n := range sizes {
		paths[n] = "/v1/" + pid + "/services/" + plans[n].serviceID(0) + "/logs"
		body, err := a.call(ctx, "GET", paths[n], nil, nil)
		if err != nil {
			return err
		}
		if c := strings.Count(string(body), `"update_time"`); c != n {
			return fmt.Errorf("%d entries in the answer; want %d", c, n)
		}
		f := filepath.Join(tmp, fmt.Sprintf("logs%d.json", n))
		if err := os.WriteFile(f, body, 0o600); err != nil {
			return err
		}
		files = append(files, paths[n]+"="+f)
		fmt.Printf("service with %d entries: response %d bytes\n", n, len(body))
	}
	baddr, err := freeAddr()
	if err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	base, err := startProc(baddr, filepath.Join(tmp, "baseline.log"), "/", nil, self, append([]string{"serve-bytes", "--listen", baddr}, files...)...)
	if err != nil {
		return err
	}
	defer base.stop()

	fmt.Printf("\n| entries | conns | arkserve req/s | p50 ms | p99 ms | CPU µs/req | baseline req/s | p50 ms | p99 ms | CPU µs/req | ratio | load avg |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, n := range sizes {
		body, _ := os.ReadFile(filepath.Join(tmp, fmt.Sprintf("logs%d.json", n)))
		want := func(status int, got int64) bool { return status == http.StatusOK && got == int64(len(body)) }
		for _, c := range parseInts(*conns) {
			var ratios []float64
			for range *rounds {
				if ctx.Err() != nil {
					return ctx.Err()
				}
				ra, ca := loadWithCPU(a.cmd.Process.Pid, newRequest(a.addr, "GET", paths[n], nil, "X-Auth-Token", a.token), c, *warm, *dur, want)
				rb, cb := loadWithCPU(base.cmd.Process.Pid, newRequest(baddr, "GET", paths[n], nil, "X-Auth-Token", a.token), c, *warm, *dur, want)
				fmt.Printf("| %d | %d | %.0f | %s | %s | %.0f | %.0f | %s | %s | %.0f | %.2fx | %s / %s |\n", n, c, ra.RPS(), ms(ra.P50), ms(ra.P99), ca,
					rb.RPS(), ms(rb.P50), ms(rb.P99), cb, ra.RPS()/rb.RPS(), ra.Load, rb.Load)
				ratios = append(ratios, ra.RPS()/rb.RPS())
				if ra.Errors+rb.Errors > 0 {
					fmt.Printf("  errors: arkserve %d, baseline %d\n", ra.Errors, rb.Errors)
				}
			}
			if len(ratios) > 1 {
				slices.Sort(ratios)
				fmt.Printf("| %d | %d | median ratio of %d runs: **%.2fx** |\n", n, c, len(ratios), ratios[len(ratios)/2])
			}
		}
	}
	return nil
}

// serveBytes is the baseline: a bare net/http server answering PATH with the bytes of FILE
// (arguments PATH=FILE), Content-Type application/json, everything else 404.
func serveBytes(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve-bytes", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "address")
	if err := fs.Parse(args); err != nil {
		return err
	}
	mux := http.NewServeMux()
	for _, a := range fs.Args() {
		path, file, ok := strings.Cut(a, "=")
		if !ok {
			return fmt.Errorf("serve-bytes: %q is not PATH=FILE", a)
		}
		b, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		mux.HandleFunc("GET "+path, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Write(b)
		})
	}
	srv := &http.Server{Addr: *listen, Handler: mux}
	go func() { <-ctx.Done(); srv.Close() }()
	if err := srv.ListenAndServe(); err != http.ErrServerClosed {
		return err
	}
	return nil
}

func parseInts(s string) []int {
	var out []int
	for _, f := range strings.Split(s, ",") {
		var n int
		if _, err := fmt.Sscan(strings.TrimSpace(f), &n); err == nil && n > 0 {
			out = append(out, n)
		}
	}
	return out
}

func logStderr(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "  "+format+"\n", args...)
}
