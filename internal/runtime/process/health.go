package process

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/arkserve/arkserve/internal/ark"
)

// ErrNotReady is wrapped by WaitReady's errors when the instance runs but did not become ready.
var ErrNotReady = errors.New("instance not ready")

// ErrExited is wrapped by WaitReady's and Healthy's errors when the instance's process has exited.
var ErrExited = errors.New("instance exited")

// fastProbe is the interval of HTTP probes before the instance first answers: a refused connection
// costs nothing, and an instance is ready as soon as it listens instead of a whole period later.
const fastProbe = 50 * time.Millisecond

// normalizeHealth fills the zero fields of a readiness check with ark.DefaultHealth's values: HTTP
// GET /health, timeout 5 s, period 1 s, failure threshold 3.
func normalizeHealth(h ark.Health) (ark.Health, error) {
	h.CheckMethod = strings.ToUpper(h.CheckMethod)
	switch h.CheckMethod {
	case "":
		h.CheckMethod = "HTTP"
	case "HTTP", "EXEC":
	default:
		return h, fmt.Errorf("process: health check method %q; use HTTP or EXEC", h.CheckMethod)
	}
	if h.CheckMethod == "EXEC" && h.Command == "" {
		return h, errors.New("process: EXEC health check without a command")
	}
	h = h.WithDefaults()
	if !strings.HasPrefix(h.URL, "/") {
		return h, fmt.Errorf("process: health url %q is not an absolute path", h.URL)
	}
	if h.InitialDelaySeconds < 0 {
		h.InitialDelaySeconds = 0
	}
	return h, nil
}

// probeClient never follows redirects (a redirect is not a 200), never uses a proxy and keeps no
// idle connections to instances that may go away.
var probeClient = &http.Client{
	Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true},
	CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	},
}

// WaitReady waits until the instance passes its readiness check, at most timeout (initial delay
// included). The check (Spec.Health, zero fields defaulted as in ark.DefaultHealth):
//
//   - HTTP: GET http://127.0.0.1:PORT+url must answer 200 within timeout_seconds. Until the process
//     first answers at all (any status), probes run every 50 ms or period_seconds, whichever is
//     shorter, until the deadline; after that, every period_seconds, and failure_threshold
//     consecutive failed probes end the wait with an error (the server answers, but not well).
//   - EXEC: the command, run like the instance (same user, environment and directory), must exit
//     0 within timeout_seconds; probes run every period_seconds until the deadline.
//
// Probing starts after initial_delay_seconds. The error wraps ErrExited (naming the exit status)
// as soon as the process exits, ErrNotReady when the deadline passes or the threshold is reached,
// or ctx's error.
func (in *Instance) WaitReady(ctx context.Context, timeout time.Duration) error {
	h := in.health
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var last error // the last probe's error, for the deadline's message
	// why turns the end of dctx into ctx's error or the deadline's.
	why := func() error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if last != nil {
			return fmt.Errorf("%w within %s (last check: %v)", ErrNotReady, timeout, last)
		}
		return fmt.Errorf("%w within %s", ErrNotReady, timeout)
	}
	wait := func(d time.Duration) error {
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			return nil
		case <-in.exited:
			return in.exitedError()
		case <-dctx.Done():
			return why()
		}
	}
	if err := wait(time.Duration(h.InitialDelaySeconds) * time.Second); err != nil {
		return err
	}
	period := time.Duration(h.PeriodSeconds) * time.Second
	answered, failures := false, 0
	for {
		ans, err := in.probe(dctx)
		if err == nil {
			return nil
		}
		if in.ExitError() != nil {
			return in.exitedError()
		}
		if dctx.Err() != nil {
			return why()
		}
		last = err
		answered = answered || ans
		interval := period
		if answered {
			failures++
			if failures >= h.FailureThreshold {
				return fmt.Errorf("%w: health check failed %d times in a row: %v", ErrNotReady, failures, err)
			}
		} else if h.CheckMethod == "HTTP" {
			interval = min(period, fastProbe)
		}
		if err := wait(interval); err != nil {
			return err
		}
	}
}

func (in *Instance) exitedError() error {
	return fmt.Errorf("%w: %v", ErrExited, in.exitErr)
}

// Healthy runs the readiness check once: nil when it passes.
func (in *Instance) Healthy(ctx context.Context) error {
	if in.ExitError() != nil {
		return in.exitedError()
	}
	_, err := in.probe(ctx)
	return err
}

// probe runs one check. answered reports that an HTTP server answered, whatever the status.
func (in *Instance) probe(ctx context.Context) (answered bool, err error) {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(in.health.TimeoutSeconds)*time.Second)
	defer cancel()
	if in.health.CheckMethod == "EXEC" {
		return false, in.execProbe(ctx)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("http://127.0.0.1:%d%s", in.Port, in.health.URL), nil)
	if err != nil {
		return false, err
	}
	resp, err := probeClient.Do(req)
	if err != nil {
		var ue interface{ Unwrap() error }
		if errors.As(err, &ue) {
			err = ue.Unwrap() // drop the method and URL that *url.Error repeats
		}
		return false, fmt.Errorf("GET %s: %w", in.health.URL, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return true, fmt.Errorf("GET %s answered %d", in.health.URL, resp.StatusCode)
	}
	return true, nil
}

// execProbe runs the EXEC check like the instance itself, in a process group of its own that is
// killed when ctx ends.
func (in *Instance) execProbe(ctx context.Context) error {
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", in.health.Command)
	cmd.Dir = in.spec.ModelDir
	cmd.Env = in.env
	cmd.SysProcAttr = in.rt.sysProcAttr()
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = time.Second
	err := startTied(cmd)
	if err == nil {
		err = cmd.Wait()
	}
	if ctx.Err() != nil {
		return fmt.Errorf("health command: no answer within %ds", in.health.TimeoutSeconds)
	}
	if err != nil {
		return fmt.Errorf("health command: %w", err)
	}
	return nil
}
