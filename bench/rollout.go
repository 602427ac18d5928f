package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"time"
)

// benchRollout: the bundled model server made to take T to become ready (--ready-delay, here
// through MODEL_READY_DELAY in the entry's envs), 20 instances deployed, then replaced by a
// rolling update with each (max_surge, max_unavailable). The theoretical minimum is waves x T;
// T's real time to ready (exec to the first 200 of /health, measured in the same run by starting
// the model server directly) is the baseline. Wall time is from the update's acceptance
// (update_time) to the finishing event ("The service has been updated."), both server clock.
func benchRollout(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("rollout", flag.ContinueOnError)
	delay := fs.Duration("t", 2*time.Second, "T: how long each instance takes to become ready")
	n := fs.Int("instances", 20, "instances of the service")
	limits := fs.String("pool-limits", "off", "the server's --pool-limits (auto: cgroup limits of the specification)")
	only := fs.String("only", "", "run only this case, e.g. 5,0")
	if err := fs.Parse(args); err != nil {
		return err
	}
	header("rollout")
	tmp, bin, err := prepare("rollout")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	modelDir := filepath.Join(tmp, "model")
	if err := writeBenchModel(modelDir); err != nil {
		return err
	}

	// The baseline: T's real time to ready, one model server started directly.
	var direct []time.Duration
	for range 3 {
		d, err := timeToReady(bin, modelDir, *delay)
		if err != nil {
			return err
		}
		direct = append(direct, d)
	}
	slices.Sort(direct)
	treal := direct[1]
	fmt.Printf("T = %v; real time to ready (model server started directly, median of 3): %s ms (%s .. %s); load %s\n\n",
		*delay, ms(treal), ms(direct[0]), ms(direct[2]), loadavg())

	a, err := startLoggedIn(bin, filepath.Join(tmp, "data"), "--pool-cpu", "64", "--pool-memory-mb", "65536", "--pool-limits", *limits)
	if err != nil {
		return err
	}
	defer a.stop()
	mid, err := a.registerModel(ctx, modelDir, "1.0.0")
	if err != nil {
		return err
	}
	envs := func(gen int) map[string]string {
		return map[string]string{"MODEL_READY_DELAY": delay.String(), "BENCH_GENERATION": strconv.Itoa(gen)}
	}
	// One instance deployed by the engine: T through the whole control plane.
	one, err := a.deploy(ctx, "rollout-one", entry(mid, 1, envs(0), nil, nil))
	if err != nil {
		return err
	}
	if d, err := a.entryDuration(ctx, one); err != nil {
		return err
	} else {
		fmt.Printf("one instance deployed through the engine: %s ms (acceptance to SUCCESS)\n\n", ms(d))
	}

	cases := []struct {
		surge, unavailable any
		waves              int
	}{{1, 0, *n}, {5, 0, (*n + 4) / 5}, {0.25, 0.25, 2}}
	fmt.Printf("| instances | max_surge | max_unavailable | waves | minimum (waves x real T) ms | wall ms | wall / minimum | target ms (1.15 x min + 200) | met | load avg |\n|---|---|---|---|---|---|---|---|---|---|\n")
	for i, c := range cases {
		if *only != "" && *only != fmt.Sprintf("%v,%v", c.surge, c.unavailable) {
			continue
		}
		name := fmt.Sprintf("rollout-%d", i)
		sid, err := a.deploy(ctx, name, entry(mid, *n, envs(0), c.surge, c.unavailable))
		if err != nil {
			return err
		}
		if _, err := a.entryDuration(ctx, sid); err != nil {
			return fmt.Errorf("deploy %d instances: %w", *n, err)
		}
		if err := a.update(ctx, sid, entry(mid, *n, envs(1), c.surge, c.unavailable)); err != nil {
			return err
		}
		wall, err := a.entryDuration(ctx, sid)
		if err != nil {
			return err
		}
		minimum := time.Duration(c.waves) * treal
		target := minimum*115/100 + 200*time.Millisecond
		fmt.Printf("| %d | %v | %v | %d | %s | %s | %.3f | %s | %v | %s |\n", *n, c.surge, c.unavailable, c.waves, ms(minimum), ms(wall),
			float64(wall)/float64(minimum), ms(target), wall <= target, loadavg())
		if _, err := a.call(ctx, "DELETE", "/v1/"+a.project+"/services/"+sid, nil, nil); err != nil {
			return err
		}
	}
	return nil
}

// entryDuration waits for the service's newest update-log entry to finish SUCCESS and returns the
// time from its acceptance (update_time) to the event that finished it.
func (a *arkserve) entryDuration(ctx context.Context, sid string) (time.Duration, error) {
	res, _, err := a.waitEntry(ctx, sid, 20*time.Millisecond, 10*time.Minute)
	if err != nil {
		return 0, err
	}
	if res != "SUCCESS" {
		b, _ := a.call(ctx, "GET", "/v1/"+a.project+"/services/"+sid+"/events", nil, nil)
		return 0, fmt.Errorf("the update ended %s: %s", res, b)
	}
	var logs struct {
		Logs []struct {
			UpdateTime int64 `json:"update_time"`
		} `json:"logs"`
	}
	if _, err := a.call(ctx, "GET", "/v1/"+a.project+"/services/"+sid+"/logs", nil, &logs); err != nil {
		return 0, err
	}
	var ev struct {
		Events []struct {
			Info      string `json:"event_info"`
			OccurTime int64  `json:"occur_time"`
		} `json:"events"`
	}
	if _, err := a.call(ctx, "GET", "/v1/"+a.project+"/services/"+sid+"/events?order=desc", nil, &ev); err != nil {
		return 0, err
	}
	for _, e := range ev.Events {
		if e.Info == "The service has been updated." || e.Info == "Service "+"" || (len(e.Info) > 8 && e.Info[len(e.Info)-8:] == "started.") {
			return time.Duration(e.OccurTime-logs.Logs[0].UpdateTime) * time.Millisecond, nil
		}
	}
	return 0, fmt.Errorf("no finishing event for %s", sid)
}

// timeToReady starts arkserve model-server --ready-delay d and returns the time from exec to the
// first 200 of GET /health (polled every millisecond).
func timeToReady(bin, modelDir string, d time.Duration) (time.Duration, error) {
	addr, err := freeAddr()
	if err != nil {
		return 0, err
	}
	cmd := exec.Command(bin, "model-server", "--model-dir", modelDir, "--listen", addr, "--ready-delay", d.String())
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	for time.Since(start) < d+time.Minute {
		if res, err := client.Get("http://" + addr + "/health"); err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return time.Since(start), nil
			}
		}
		time.Sleep(time.Millisecond)
	}
	return 0, fmt.Errorf("model server not ready within %v", d+time.Minute)
}
