package rollout

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/arkserve/arkserve/internal/ark"
)

// Event texts of the engine that the reference's list does not have.
const (
	eventUpdated       = "The service has been updated."
	eventDeployFailed  = "Failed to deploy the service."
	eventRestoring     = "The server restarted; the service's instances are being started again."
	eventRestored      = "The service's instances were started again after a server restart."
	eventAllReady      = "All %d instances of the service are ready."
	eventSomeNotReady  = "%d of %d instances of the service are not ready."
	eventUpdateStopped = "The update was abandoned because the service was stopped."
)

// tailLines is how many lines of an instance's log go into a failure event.
const tailLines = 10

// reconcile makes one service's instances match its desired state. The queue guarantees that only
// one reconcile runs per service at a time.
func (e *Engine) reconcile(ctx context.Context, id string) error {
	svc, deleted, err := e.Store.ServiceByID(ctx, id)
	if ark.ErrorCode(err) == ark.EServiceNotFound {
		e.stopService(ctx, id)
		return nil
	}
	if err != nil {
		return err
	}
	if deleted || svc.Status == ark.StatusDeleting {
		e.stopService(ctx, id)
		if deleted {
			return e.Store.PurgeService(ctx, id)
		}
		return nil
	}
	entry, err := e.Store.RunningUpdate(ctx, id)
	if err != nil {
		return err
	}
	switch svc.Status {
	case ark.StatusStopping, ark.StatusStopped:
		return e.stop(ctx, svc, entry)
	}
	if entry != nil {
		return e.update(ctx, svc, entry)
	}
	switch svc.Status {
	case ark.StatusDeploying:
		return e.converge(ctx, svc, kindStart)
	case ark.StatusRunning, ark.StatusConcerning:
		return e.maintain(ctx, svc)
	default: // failed: nothing runs
		e.stopService(ctx, id)
		return nil
	}
}

// stop stops every instance and reports the service stopped. A RUNNING entry (the HTTP layer
// refuses to stop a service that is updating, but a store could hold one) is finished FAIL: an
// entry never stays RUNNING.
func (e *Engine) stop(ctx context.Context, svc *ark.Service, entry *ark.UpdateLog) error {
	e.stopService(ctx, svc.ID)
	stopped := ark.StatusChange{Status: ark.StatusStopped}
	if entry != nil {
		if _, err := e.Store.FinishUpdate(ctx, svc.ID, entry.UpdateTime, ark.ResultFail, stopped,
			ark.Event{Type: ark.EventAbnormal, Info: eventUpdateStopped}); err != nil {
			return err
		}
	}
	if svc.Status == ark.StatusStopping {
		return e.Store.SetStatus(ctx, svc.ID, stopped, normal(ark.EventStopped))
	}
	return nil
}

// update carries out a RUNNING entry: start the new configuration's instances, wait for them,
// switch, stop the old ones, finish the entry; or roll back.
func (e *Engine) update(ctx context.Context, svc *ark.Service, entry *ark.UpdateLog) error {
	st := e.state(svc.ID)
	e.mu.Lock()
	f, gen := st.finishing, st.pending
	e.mu.Unlock()
	if f != nil && f.updateTime == entry.UpdateTime {
		return e.record(ctx, svc.ID, st, f) // decided before; only the store write is missing
	}
	if gen != nil && (gen.kind != kindUpdate || gen.updateTime != entry.UpdateTime) {
		e.dropPending(ctx, st) // started for something that is no longer wanted
		gen = nil
	}
	if gen == nil {
		var failure error
		var err error
		gen, failure, err = e.plan(ctx, svc.ID, entry.Config, kindUpdate)
		if err != nil {
			return err
		}
		if failure != nil {
			return e.failUpdate(ctx, svc, st, entry, failure.Error(), "", nil)
		}
		gen.updateTime = entry.UpdateTime
		e.mu.Lock()
		st.pending = gen
		e.mu.Unlock()
		e.log().Info("updating service", "service", svc.ID, "update_time", entry.UpdateTime)
	}
	e.launch(ctx, svc.ID, gen) // fills the slots not started yet
	if err := ctx.Err(); err != nil {
		return err // shutting down: a Start that failed for that is no verdict on the update
	}
	ready, total, bad := e.tally(gen)
	if bad != nil {
		what, tail := e.describe(bad)
		return e.failUpdate(ctx, svc, st, entry, what, tail, gen)
	}
	if ready < total {
		return e.progress(ctx, svc.ID, gen, ready, total)
	}
	// Every new instance is ready: switch the service to them, stop the old ones, then record.
	e.mu.Lock()
	old := st.serving
	st.serving, st.pending = gen, nil
	e.mu.Unlock()
	e.stopMembers(ctx, e.members(old))
	info := eventUpdated
	if len(entry.Previous) == 0 {
		info = fmt.Sprintf(ark.EventStarted, svc.Name)
	}
	f = &finish{updateTime: entry.UpdateTime, result: ark.ResultSuccess,
		change: ark.StatusChange{Status: ark.StatusRunning, Progress: 100}, events: []ark.Event{normal(info)}}
	e.mu.Lock()
	st.finishing = f
	e.mu.Unlock()
	e.log().Info("update succeeded", "service", svc.ID, "update_time", entry.UpdateTime, "instances", total)
	return e.record(ctx, svc.ID, st, f)
}

// failUpdate stops the instances started for entry (gen, may be nil), keeps the old ones and
// finishes the entry FAIL. what says what failed; tail is the failed instance's last output.
func (e *Engine) failUpdate(ctx context.Context, svc *ark.Service, st *svcState, entry *ark.UpdateLog, what, tail string, gen *generation) error {
	if gen != nil {
		e.dropPending(ctx, st)
	}
	e.log().Warn("update failed", "service", svc.ID, "update_time", entry.UpdateTime, "reason", what)
	events := []ark.Event{abnormal(withTail(what, tail))}
	var change ark.StatusChange
	e.mu.Lock()
	serving := st.serving != nil
	e.mu.Unlock()
	switch {
	case len(entry.Previous) == 0:
		// The first deployment (or one from a stopped or failed service): nothing to go back to.
		events = append(events, abnormal(eventDeployFailed))
		change = ark.StatusChange{Status: ark.StatusFailed, ErrorMsg: what}
	case serving:
		events = append(events, normal(ark.EventRolledBack))
		change = ark.StatusChange{Status: ark.StatusRunning, Progress: 100}
	default:
		// The previous configuration is not running here (the server restarted mid-update): the
		// store restores it as the desired one, and the status deploying has it started again.
		events = append(events, normal(ark.EventRolledBack))
		change = ark.StatusChange{Status: ark.StatusDeploying}
	}
	f := &finish{updateTime: entry.UpdateTime, result: ark.ResultFail, change: change, events: events}
	e.mu.Lock()
	st.finishing = f
	e.mu.Unlock()
	return e.record(ctx, svc.ID, st, f)
}

// record finishes an entry in the store. When the entry was finished by someone else meanwhile,
// the instances started for it are stopped and the service is looked at again.
func (e *Engine) record(ctx context.Context, svcID string, st *svcState, f *finish) error {
	ok, err := e.Store.FinishUpdate(ctx, svcID, f.updateTime, f.result, f.change, f.events...)
	if err != nil {
		return err
	}
	e.mu.Lock()
	st.finishing = nil
	var mine *generation
	if !ok && st.serving != nil && st.serving.kind == kindUpdate && st.serving.updateTime == f.updateTime {
		mine, st.serving = st.serving, nil
	}
	e.mu.Unlock()
	if !ok {
		e.log().Warn("update-log entry was already finished", "service", svcID, "update_time", f.updateTime)
		e.stopMembers(ctx, e.members(mine))
		e.Notify(svcID)
	}
	return nil
}

// converge starts the service's configuration when it has no (matching) instances: a start (status
// deploying without an entry) or a restore (running, e.g. after a server restart).
func (e *Engine) converge(ctx context.Context, svc *ark.Service, k kind) error {
	st := e.state(svc.ID)
	want := configKey(svc.Config)
	e.mu.Lock()
	st.finishing = nil // its entry is no longer RUNNING
	gen, serving := st.pending, st.serving
	e.mu.Unlock()
	if gen != nil && (gen.kind == kindUpdate || gen.cfgKey != want) {
		e.dropPending(ctx, st)
		gen = nil
	}
	if gen == nil {
		if k == kindStart && serving != nil && serving.cfgKey == want {
			if ready, total, _ := e.tally(serving); ready == total {
				// Already running (a status write that failed, or a rollback whose old instances
				// serve): only the status is missing.
				return e.Store.SetStatus(ctx, svc.ID, ark.StatusChange{Status: ark.StatusRunning, Progress: 100},
					normal(fmt.Sprintf(ark.EventStarted, svc.Name)))
			}
		}
		var failure, err error
		gen, failure, err = e.plan(ctx, svc.ID, svc.Config, k)
		if err != nil {
			return err
		}
		if failure != nil {
			return e.failStart(ctx, svc, st, failure.Error(), "", nil)
		}
		e.mu.Lock()
		st.pending = gen
		e.mu.Unlock()
		e.log().Info("starting service instances", "service", svc.ID, "restore", k == kindRestore)
		if k == kindRestore && serving == nil && svc.Status != ark.StatusConcerning {
			if err := e.Store.SetStatus(ctx, svc.ID, ark.StatusChange{Status: ark.StatusConcerning},
				normal(eventRestoring)); err != nil {
				return err
			}
		}
	}
	e.launch(ctx, svc.ID, gen) // fills the slots not started yet
	if err := ctx.Err(); err != nil {
		return err
	}
	ready, total, bad := e.tally(gen)
	if bad != nil {
		what, tail := e.describe(bad)
		return e.failStart(ctx, svc, st, what, tail, gen)
	}
	if ready < total {
		if k == kindStart {
			return e.progress(ctx, svc.ID, gen, ready, total)
		}
		return nil
	}
	e.mu.Lock()
	old := st.serving
	st.serving, st.pending = gen, nil
	e.mu.Unlock()
	e.stopMembers(ctx, e.members(old))
	info := fmt.Sprintf(ark.EventStarted, svc.Name)
	if k == kindRestore {
		info = eventRestored
	}
	return e.Store.SetStatus(ctx, svc.ID, ark.StatusChange{Status: ark.StatusRunning, Progress: 100}, normal(info))
}

// failStart stops what a start or restore started and reports the service failed.
func (e *Engine) failStart(ctx context.Context, svc *ark.Service, st *svcState, what, tail string, gen *generation) error {
	if gen != nil {
		e.dropPending(ctx, st)
	}
	e.log().Warn("starting the service failed", "service", svc.ID, "reason", what)
	return e.Store.SetStatus(ctx, svc.ID, ark.StatusChange{Status: ark.StatusFailed, ErrorMsg: what},
		abnormal(withTail(what, tail)), abnormal(fmt.Sprintf(ark.EventStartFailed, svc.Name)))
}

// maintain keeps a running service's instances running: crashed ones are replaced after a
// backoff, and the status says whether all are ready.
func (e *Engine) maintain(ctx context.Context, svc *ark.Service) error {
	st := e.state(svc.ID)
	e.mu.Lock()
	serving, pending := st.serving, st.pending
	e.mu.Unlock()
	if serving == nil || pending != nil || serving.cfgKey != configKey(svc.Config) {
		return e.converge(ctx, svc, kindRestore)
	}
	now := time.Now()
	var events []ark.Event
	for _, g := range serving.groups {
		for _, s := range g.slots {
			e.mu.Lock()
			m := s.m
			var f *failedMember
			if m != nil && m.done {
				f = &failedMember{g: g, m: m, err: m.err, readyAt: m.readyAt}
			}
			e.mu.Unlock()
			if f == nil {
				continue
			}
			what, tail := e.describe(f)
			e.stopMembers(ctx, []*member{m})
			e.mu.Lock()
			if !f.readyAt.IsZero() && now.Sub(f.readyAt) > time.Minute {
				s.crashes = 0 // it ran well for a while: start the backoff afresh
			}
			s.crashes++
			delay := backoff(s.crashes)
			s.m, s.notBefore = nil, now.Add(delay)
			e.mu.Unlock()
			e.log().Warn("instance failed; restarting it", "service", svc.ID, "reason", what, "in", delay)
			events = append(events, abnormal(withTail(fmt.Sprintf("%s; it will be restarted in %s", what, delay), tail)))
		}
	}
	e.launch(ctx, svc.ID, serving) // fills the slots whose backoff has passed
	if err := ctx.Err(); err != nil {
		return err
	}
	ready, total, _ := e.tally(serving)
	status := ark.StatusRunning
	if ready < total {
		status = ark.StatusConcerning
	}
	if status != svc.Status {
		if status == ark.StatusRunning {
			events = append(events, normal(fmt.Sprintf(eventAllReady, total)))
		} else {
			events = append(events, abnormal(fmt.Sprintf(eventSomeNotReady, total-ready, total)))
		}
	}
	if status == svc.Status && len(events) == 0 {
		return nil
	}
	return e.Store.SetStatus(ctx, svc.ID, ark.StatusChange{Status: status, Progress: 100}, events...)
}

// plan resolves the models of a configuration. failure is a problem of the configuration (a model
// that is gone or cannot be run); err is a problem of the store, worth retrying.
func (e *Engine) plan(ctx context.Context, svcID string, cfgs []ark.ServiceConfig, k kind) (gen *generation, failure, err error) {
	timeout := e.DefaultDeployTimeout
	if timeout <= 0 {
		timeout = ark.DefaultDeployTimout * time.Second
	}
	gen = &generation{kind: k, cfgKey: configKey(cfgs)}
	if len(cfgs) == 0 {
		return nil, fmt.Errorf("the configuration has no model"), nil
	}
	for _, c := range cfgs {
		m, err := e.Store.FindModelByID(ctx, c.ModelID)
		if ark.ErrorCode(err) == ark.EModelNotFound {
			return nil, fmt.Errorf("model %s (%s) does not exist", modelLabel(c, nil), c.ModelID), nil
		}
		if err != nil {
			return nil, nil, err
		}
		g, err := planGroup(c, m, e.LaunchCommands, timeout)
		if err != nil {
			return nil, err, nil
		}
		gen.groups = append(gen.groups, g)
	}
	return gen, nil, nil
}

// tally counts gen's ready instances and returns the first failed one.
func (e *Engine) tally(gen *generation) (ready, total int, bad *failedMember) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, g := range gen.groups {
		for _, s := range g.slots {
			total++
			switch m := s.m; {
			case m == nil:
			case m.done:
				if bad == nil {
					bad = &failedMember{g: g, m: m, err: m.err, readyAt: m.readyAt}
				}
			case m.ready:
				ready++
			}
		}
	}
	return ready, total, bad
}

// failedMember is a failed instance with what the engine knew about it (copied under mu).
type failedMember struct {
	g       *group
	m       *member
	err     error
	readyAt time.Time
}

// describe says what happened to a failed instance, and returns its last output with the values
// of secret-looking envs masked.
func (e *Engine) describe(f *failedMember) (what, tail string) {
	m, g := f.m, f.g
	var reason string
	switch {
	case m.inst == nil:
		reason = f.err.Error()
	case m.inst.ExitError() != nil && f.readyAt.IsZero():
		reason = fmt.Sprintf("exited before it was ready (%v)", m.inst.ExitError())
	case m.inst.ExitError() != nil:
		reason = fmt.Sprintf("exited (%v)", m.inst.ExitError())
	default:
		reason = fmt.Sprintf("did not become ready: %v", f.err)
	}
	what = fmt.Sprintf("Model %s, instance %s: %s", g.label, m.id, reason)
	if m.inst != nil {
		tail = redact(m.inst.LogTail(tailLines), g.spec.Env)
	}
	return redact(what, g.spec.Env), tail
}

// progress reports the share of ready instances while deploying.
func (e *Engine) progress(ctx context.Context, svcID string, gen *generation, ready, total int) error {
	p := ready * 100 / total
	e.mu.Lock()
	same := p == gen.progress
	e.mu.Unlock()
	if same {
		return nil
	}
	if err := e.Store.SetStatus(ctx, svcID, ark.StatusChange{Status: ark.StatusDeploying, Progress: p}); err != nil {
		return err
	}
	e.mu.Lock()
	gen.progress = p
	e.mu.Unlock()
	return nil
}

// dropPending stops the instances of the pending generation and forgets it.
func (e *Engine) dropPending(ctx context.Context, st *svcState) {
	e.mu.Lock()
	gen := st.pending
	st.pending = nil
	e.mu.Unlock()
	e.stopMembers(ctx, e.members(gen))
}

// maxEventLen bounds an event's text.
const maxEventLen = 4000

func withTail(what, tail string) string {
	s := what + "."
	if tail != "" {
		s += " Last lines of its log:\n" + tail
	}
	if len(s) > maxEventLen {
		s = strings.ToValidUTF8(s[:maxEventLen], "") + "..."
	}
	return s
}

// Events carry no time: the store stamps them when it writes them.
func normal(info string) ark.Event   { return ark.Event{Type: ark.EventNormal, Info: info} }
func abnormal(info string) ark.Event { return ark.Event{Type: ark.EventAbnormal, Info: info} }
