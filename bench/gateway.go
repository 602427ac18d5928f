package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"time"
)

// benchGateway: POST /predict to one instance of the bundled model server, through the server's
// gateway (/v1/infers/{service_id}/predict, token auth) and directly to the instance's port, with
// the same closed-loop load.
func benchGateway(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	dur := fs.Duration("duration", 3*time.Second, "measured time per run")
	warm := fs.Duration("warmup", 500*time.Millisecond, "unmeasured time before each run")
	conns := fs.String("conns", "1,16,64", "connection counts")
	rounds := fs.Int("rounds", 3, "runs of each (gateway, direct alternating)")
	limits := fs.String("pool-limits", "off", "the server's --pool-limits (auto: the instance gets its specification's 0.25 CPU)")
	pin := fs.Bool("pin", false, "the load generator and the instance on CPU 0, the server (the gateway) on the other CPUs: "+
		"the gateway on cores of its own, as on a host of its own, instead of sharing them with the generator and the instance")
	if err := fs.Parse(args); err != nil {
		return err
	}
	header("gateway")
	tmp, bin, err := prepare("gateway")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	modelDir := filepath.Join(tmp, "model")
	if err := writeBenchModel(modelDir); err != nil {
		return err
	}
	others := make([]int, 0, runtime.NumCPU())
	for c := 1; c < runtime.NumCPU(); c++ {
		others = append(others, c)
	}
	if *pin {
		// Before the server starts, so that it starts on its CPUs (its instance is moved to CPU 0
		// below).
		if len(others) == 0 {
			return fmt.Errorf("-pin needs at least 2 CPUs")
		}
		if err := pinProcess(os.Getpid(), others...); err != nil {
			return err
		}
	}
	// Limits off: the instance's specification (0.25 CPU) would otherwise cap both figures and
	// hide the gateway's own cost.
	a, err := startLoggedIn(bin, filepath.Join(tmp, "data"), "--pool-limits", *limits)
	if err != nil {
		return err
	}
	defer a.stop()
	mid, err := a.registerModel(ctx, modelDir, "1.0.0")
	if err != nil {
		return err
	}
	sid, err := a.deploy(ctx, "gw", entry(mid, 1, nil, nil, nil))
	if err != nil {
		return err
	}
	if res, _, err := a.waitEntry(ctx, sid, 50*time.Millisecond, 2*time.Minute); err != nil || res != "SUCCESS" {
		return fmt.Errorf("deployment: %s %v", res, err)
	}
	ports, err := a.instancePorts(sid)
	if err != nil {
		return err
	}
	direct := fmt.Sprintf("127.0.0.1:%d", ports[len(ports)-1].port)
	ipid := ports[len(ports)-1].pid
	if *pin {
		// The server inherited the other CPUs (and a GOMAXPROCS to match) from this process.
		runtime.GOMAXPROCS(1)
		for _, err := range []error{pinProcess(os.Getpid(), 0), pinProcess(ipid, 0)} {
			if err != nil {
				return err
			}
		}
		fmt.Printf("pinned: load generator and instance on CPU 0, the server on CPUs %v\n", others)
	}
	body := []byte(benchInput)
	viaGW := newRequest(a.addr, "POST", "/v1/infers/"+sid+"/predict", body, "X-Auth-Token", a.token, "Content-Type", "application/json")
	toInst := newRequest(direct, "POST", "/predict", body, "Content-Type", "application/json")
	// Both answer the same bytes: check the length once.
	want := func(status int, n int64) bool { return status == http.StatusOK && n > 0 }
	fmt.Printf("instance: %s; request %d bytes\n\n", direct, len(body))
	fmt.Printf("| conns | gateway req/s | p50 ms | p99 ms | gateway CPU µs/req | direct req/s | p50 ms | p99 ms | instance CPU µs/req | ratio | added p50 ms | load avg |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n")
	for _, c := range parseInts(*conns) {
		var ratios, added []float64
		for range *rounds {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			rg, cg := loadWithCPU(a.cmd.Process.Pid, viaGW, c, *warm, *dur, want)
			rd, cd := loadWithCPU(ipid, toInst, c, *warm, *dur, want)
			fmt.Printf("| %d | %.0f | %s | %s | %.0f | %.0f | %s | %s | %.0f | %.2fx | %s | %s / %s |\n", c, rg.RPS(), ms(rg.P50), ms(rg.P99), cg,
				rd.RPS(), ms(rd.P50), ms(rd.P99), cd, rg.RPS()/rd.RPS(), ms(rg.P50-rd.P50), rg.Load, rd.Load)
			ratios, added = append(ratios, rg.RPS()/rd.RPS()), append(added, float64(rg.P50-rd.P50)/float64(time.Millisecond))
			if rg.Errors+rd.Errors > 0 {
				fmt.Printf("  errors: gateway %d, direct %d\n", rg.Errors, rd.Errors)
			}
		}
		if len(ratios) > 1 {
			slices.Sort(ratios)
			slices.Sort(added)
			fmt.Printf("| %d | median of %d runs: ratio **%.2fx**, added p50 **%.3f ms** |\n", c, len(ratios), ratios[len(ratios)/2], added[len(added)/2])
		}
	}
	return nil
}
