package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/arkserve/arkserve/internal/httpapi"
)

// --wait makes services deploy, update, start and stop follow the rollout they started, the way
// `kubectl rollout status` does: a deploy or an update until its update-log entry is SUCCESS or
// FAIL, a start or a stop until the service is running or stopped (or failed). It polls the
// service, the entry and the monitor API, and shows the phase, each model version's ready and
// desired instances and the elapsed time: redrawn in place on a terminal, one line per change
// otherwise.

const (
	// defaultWaitTimeout is --timeout's default.
	defaultWaitTimeout = 15 * time.Minute
	// waitPoll is the time between two polls.
	waitPoll = 500 * time.Millisecond
	// waitMaxBackoff bounds the time between two polls after errors that may pass (the server
	// restarts, a proxy answers 502): the poll interval doubles up to it.
	waitMaxBackoff = 5 * time.Second
	// waitRequestTimeout bounds one request of a poll, so that a server that hangs is retried.
	waitRequestTimeout = 10 * time.Second
)

// errWaitTimeout is wrapped by the error of a --wait that ran out of --timeout.
var errWaitTimeout = errors.New("timed out")

// isTerminal reports whether w is a terminal, where the progress is redrawn in place; the tests
// replace it.
var isTerminal = func(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

// waitFlags are --wait and --timeout.
type waitFlags struct {
	wait    *bool
	timeout *time.Duration
}

func addWaitFlags(fs *flag.FlagSet) *waitFlags {
	return &waitFlags{
		wait:    fs.Bool("wait", false, "follow the rollout until it ends; the exit status says how it ended"),
		timeout: fs.Duration("timeout", defaultWaitTimeout, "with --wait: how long to wait"),
	}
}

// check rejects --timeout without --wait, and a timeout that is not positive.
func (wf *waitFlags) check(fs *flag.FlagSet, verb string) error {
	if flagSet(fs, "timeout") && !*wf.wait {
		return usageError(verb + ": --timeout needs --wait")
	}
	if *wf.timeout <= 0 {
		return usageError(verb + ": --timeout must be positive")
	}
	return nil
}

// watch is what --wait follows: an update-log entry (deploy, update) or a status (start, stop).
type watch struct {
	serviceID string
	verb      string // deployment, update, start, stop

	// entry: follow the oldest update-log entry newer than after; updateTime is that entry's once
	// found.
	entry      bool
	after      int64
	updateTime int64

	// status is the status that ends a start or a stop well.
	status string

	// since is the server's time (epoch ms) from which abnormal events explain a failure: the
	// entry's acceptance, or the service's last status change.
	since     int64
	name      string // the service's name, once seen
	noMonitor bool   // the server has no monitor API
}

// label is the service's name once seen, else its id.
func (w *watch) label() string {
	if w.name != "" {
		return w.name
	}
	return w.serviceID
}

// waitState is what one poll saw.
type waitState struct {
	status   string // the service's status
	progress *int   // while deploying
	errorMsg string // the service's error_msg (status failed)
	result   string // the followed entry's result; "" for start and stop
	models   []modelReady
}

// modelReady is a model version's instances: the ready ones of the desired ones.
type modelReady struct {
	name    string // name@version, or the model id
	ready   int    // -1: unknown (the server has no monitor API)
	desired int
}

// phase is the status, with the progress while deploying: "deploying 40%".
func (s *waitState) phase() string {
	if s.progress != nil && s.status == "deploying" {
		return fmt.Sprintf("%s %d%%", s.status, *s.progress)
	}
	return s.status
}

func (m modelReady) String() string {
	ready := "?"
	if m.ready >= 0 {
		ready = strconv.Itoa(m.ready)
	}
	return fmt.Sprintf("%s %s/%d ready", m.name, ready, m.desired)
}

// summary is the state in one line: "deploying 33% echo@1.0.2 1/3 ready".
func (s *waitState) summary() string {
	parts := []string{s.phase()}
	for i, m := range s.models {
		p := m.String()
		if i < len(s.models)-1 {
			p += ","
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, " ")
}

// errNoEntry is a poll that found no update-log entry newer than the one before the request: the
// update carried no configuration, so nothing rolls out.
var errNoEntry = errors.New("no new update-log entry")

// poll reads the followed entry, then the service (so that it is at least as new as the entry),
// then the monitor.
func (w *watch) poll(ctx context.Context, c *conn) (*waitState, error) {
	ctx, cancel := context.WithTimeout(ctx, waitRequestTimeout)
	defer cancel()
	st := &waitState{}
	if w.entry {
		var ut *int64
		if w.updateTime != 0 {
			ut = &w.updateTime
		}
		logs, _, err := c.api.ServiceLogs(ctx, c.project, w.serviceID, ut)
		if err != nil {
			return nil, err
		}
		var e *httpapi.UpdateLogEntry
		if w.updateTime == 0 {
			for i := len(logs.Logs) - 1; i >= 0 && e == nil; i-- { // newest first
				if logs.Logs[i].UpdateTime > w.after {
					e = &logs.Logs[i]
				}
			}
			if e == nil {
				return nil, errNoEntry
			}
			w.updateTime, w.since = e.UpdateTime, e.UpdateTime
		} else {
			if len(logs.Logs) == 0 {
				return nil, fmt.Errorf("the update-log entry %d of service %s is gone", w.updateTime, w.serviceID)
			}
			e = &logs.Logs[0]
		}
		st.result = e.Result
	}
	svc, _, err := c.api.ShowService(ctx, c.project, w.serviceID)
	if err != nil {
		return nil, err
	}
	w.name = svc.ServiceName
	if w.since == 0 {
		w.since = svc.TransitionAt
	}
	st.status, st.progress, st.errorMsg = svc.Status, svc.Progress, svc.ErrorMsg
	if !w.noMonitor {
		mon, _, err := c.api.Monitor(ctx, c.project, w.serviceID)
		var ae *httpapi.APIError
		switch {
		case errors.As(err, &ae) && (ae.Status == http.StatusNotFound || ae.Status == http.StatusMethodNotAllowed):
			w.noMonitor = true // the service exists: the route does not (an older server)
		case err != nil:
			return nil, err
		default:
			for _, m := range mon.Monitors {
				st.models = append(st.models, modelReady{name: modelLabel(m.ModelID, m.ModelName, m.ModelVersion),
					ready: m.ModelRunningInstanceCount, desired: m.ModelInstanceCount})
			}
			return st, nil
		}
	}
	for _, m := range svc.Config {
		st.models = append(st.models, modelReady{name: modelLabel(m.ModelID, m.ModelName, m.ModelVersion),
			ready: -1, desired: m.InstanceCount})
	}
	return st, nil
}

// modelLabel is name@version, or the id when the name is not known.
func modelLabel(id, name, version string) string {
	if name == "" {
		return id
	}
	return name + "@" + version
}

// done reports whether the state is final, and whether it is a success.
func (w *watch) done(s *waitState) (final, ok bool) {
	if w.entry {
		return s.result != "RUNNING", s.result == "SUCCESS"
	}
	switch s.status {
	case w.status:
		return true, true
	case "failed":
		return true, false
	}
	return false, false
}

// transient reports whether a poll's error may pass: the server cannot be reached (it restarts),
// or it, or a proxy in front of it, answers 429 or 5xx.
func transient(err error) bool {
	var ae *httpapi.APIError
	if errors.As(err, &ae) {
		return ae.Status == http.StatusTooManyRequests || ae.Status >= 500
	}
	var ue *url.Error
	var ne net.Error
	return errors.As(err, &ue) || errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF)
}

// follow polls until the watch is final or the timeout runs out, showing the progress on
// c.stdout. It returns nil on success, a *rolloutError on failure, an error wrapping
// errWaitTimeout on timeout, and the error of a poll that will not pass (e.g. the service was
// deleted).
func (c *conn) follow(ctx context.Context, w *watch, timeout time.Duration) error {
	start := time.Now()
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	p := &waitPrinter{w: c.stdout, tty: isTerminal(c.stdout), title: w.verb + " of service " + w.serviceID}
	var last *waitState
	delay := waitPoll
	for {
		s, err := w.poll(wctx, c)
		now := time.Now()
		switch {
		case errors.Is(err, errNoEntry):
			p.finish(now, now.Sub(start), "nothing to roll out: the update changed no configuration")
			return nil
		case err != nil && wctx.Err() == nil && !transient(err):
			return err
		case err != nil:
			if wctx.Err() == nil {
				p.show(now, now.Sub(start), last, err)
				delay = min(2*delay, waitMaxBackoff)
			}
		default:
			p.title = w.verb + " of service " + w.label()
			last, delay = s, waitPoll
			p.show(now, now.Sub(start), s, nil)
			if final, ok := w.done(s); final {
				return c.finished(ctx, w, s, p, now.Sub(start), ok)
			}
		}
		t := time.NewTimer(delay)
		select {
		case <-wctx.Done():
			t.Stop()
			if ctx.Err() != nil {
				return fmt.Errorf("stopped waiting (the %s goes on; see arkserve services show %s): %w", w.verb, w.serviceID, ctx.Err())
			}
			seen := "nothing, the server could not be reached"
			if last != nil {
				seen = last.summary()
			}
			see := "logs"
			if !w.entry {
				see = "show"
			}
			return fmt.Errorf("the %s of service %s did not end within --timeout %s (last seen: %s; it goes on, see arkserve services %s %s): %w",
				w.verb, w.label(), timeout, seen, see, w.serviceID, errWaitTimeout)
		case <-t.C:
		}
	}
}

// finished prints the final line; on failure it returns the reason: the abnormal events since the
// request, else the service's error_msg.
func (c *conn) finished(ctx context.Context, w *watch, s *waitState, p *waitPrinter, elapsed time.Duration, ok bool) error {
	name := w.label()
	now := time.Now()
	if ok {
		msg := fmt.Sprintf("SUCCESS: service %s is %s", name, s.status)
		if w.entry {
			msg = fmt.Sprintf("SUCCESS: the %s of service %s is rolled out; it is %s", w.verb, name, s.status)
		}
		p.finish(now, elapsed, msg)
		return nil
	}
	outcome := "failed"
	switch {
	case w.verb == "update" && s.status != "failed":
		outcome = "failed and was rolled back; the service runs its previous configuration"
	case s.status != "":
		outcome = "failed; the service is " + s.status
	}
	p.finish(now, elapsed, fmt.Sprintf("FAIL: the %s of service %s %s", w.verb, name, outcome))
	re := &rolloutError{What: fmt.Sprintf("the %s of service %s", w.verb, name), Outcome: outcome}
	rctx, cancel := context.WithTimeout(ctx, waitRequestTimeout)
	defer cancel()
	q := url.Values{"event_type": {"abnormal"}, "order": {"desc"}, "limit": {"5"}}
	if w.since > 0 {
		q.Set("start_time", strconv.FormatInt(w.since, 10))
	}
	if ev, _, err := c.api.ServiceEvents(rctx, c.project, w.serviceID, q); err == nil {
		for i := len(ev.Events) - 1; i >= 0; i-- { // oldest first
			re.Reasons = append(re.Reasons, ev.Events[i].EventInfo)
		}
	} else {
		fmt.Fprintf(c.stderr, "arkserve: the events that say why could not be read: %v\n", err)
	}
	if len(re.Reasons) == 0 && s.errorMsg != "" {
		re.Reasons = []string{s.errorMsg}
	}
	return re
}

// rolloutError is a --wait that saw the rollout fail: the entry FAIL, or the service failed.
type rolloutError struct {
	What    string   // "the update of service digits"
	Outcome string   // "failed and was rolled back: ..."
	Reasons []string // the newest abnormal events, oldest first
}

func (e *rolloutError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s", e.What, e.Outcome)
	if len(e.Reasons) == 0 {
		b.WriteString(" (no reason was recorded; see arkserve services events)")
		return b.String()
	}
	b.WriteString(":")
	for _, r := range e.Reasons {
		for _, line := range strings.Split(strings.TrimRight(r, "\n"), "\n") {
			b.WriteString("\n  " + line)
		}
	}
	return b.String()
}

// waitPrinter shows the progress of a --wait. On a terminal it redraws one block in place (ANSI
// cursor up and clear line); otherwise it prints a line when the state changes.
type waitPrinter struct {
	w     io.Writer
	tty   bool
	title string // "update of service digits"
	drawn int    // lines of the block on the terminal
	last  string // the last line printed, without its time and elapsed time
}

// show shows the state s (nil before the first poll that worked) and the error of the last poll
// (nil when it worked).
func (p *waitPrinter) show(now time.Time, elapsed time.Duration, s *waitState, pollErr error) {
	if p.tty {
		p.redraw(p.block(elapsed, s, pollErr))
		return
	}
	line := "waiting for the server"
	if s != nil {
		line = s.summary()
	}
	if pollErr != nil {
		line = "retrying: " + retryReason(pollErr)
	}
	if line == p.last {
		return
	}
	p.last = line
	fmt.Fprintf(p.w, "%s %s (%s)\n", clock(now), line, elapsed.Round(time.Second))
}

// retryReason is the error of a poll without the request's method and URL, which every poll
// repeats: "dial tcp 127.0.0.1:8111: connect: connection refused".
func retryReason(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err.Error()
	}
	return err.Error()
}

// block is the terminal's status block.
func (p *waitPrinter) block(elapsed time.Duration, s *waitState, pollErr error) []string {
	phase := "waiting for the server"
	if s != nil {
		phase = s.phase()
	}
	lines := []string{p.title + ": " + phase}
	if s != nil {
		width := 0
		for _, m := range s.models {
			width = max(width, len(m.name))
		}
		for _, m := range s.models {
			ready := "?"
			if m.ready >= 0 {
				ready = strconv.Itoa(m.ready)
			}
			lines = append(lines, fmt.Sprintf("  %-*s  %s/%d ready", width, m.name, ready, m.desired))
		}
	}
	tail := "elapsed " + elapsed.Round(time.Second).String()
	if pollErr != nil {
		tail += ", retrying: " + retryReason(pollErr)
	}
	return append(lines, tail)
}

// redraw replaces the block on the terminal: up to its first line, then each line cleared and
// written, then whatever the old block had below cleared. Lines are cut to the terminal's width
// (COLUMNS, else 80) so that none wraps and the count of lines to go up stays right.
func (p *waitPrinter) redraw(lines []string) {
	var b strings.Builder
	if p.drawn > 0 {
		fmt.Fprintf(&b, "\x1b[%dA", p.drawn)
	}
	width := terminalWidth()
	for _, l := range lines {
		if r := []rune(l); len(r) >= width {
			l = string(r[:width-1])
		}
		b.WriteString("\r\x1b[2K" + l + "\n")
	}
	if len(lines) < p.drawn {
		b.WriteString("\x1b[J")
	}
	p.drawn = len(lines)
	io.WriteString(p.w, b.String())
}

// finish prints the final line under the block, or as the last line.
func (p *waitPrinter) finish(now time.Time, elapsed time.Duration, msg string) {
	fmt.Fprintf(p.w, "%s %s (%s)\n", clock(now), msg, elapsed.Round(time.Second))
}

// terminalWidth is $COLUMNS, else 80.
func terminalWidth() int {
	if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n > 10 {
		return n
	}
	return 80
}

// clock is the time of day in the client's zone.
func clock(t time.Time) string {
	loc := clientLocation
	if loc == nil {
		loc = time.Local
	}
	return t.In(loc).Format("15:04:05")
}
