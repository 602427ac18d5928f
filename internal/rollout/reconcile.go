package rollout

import (
	"context"
	"fmt"
	"slices"
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
	// A Deployer's instances that outlived their grace period: the service is reported stopped
	// all the same.
	eventStillTerminating = "%d instances of the service were still terminating %s after the stop began."
)

// tailLines is how many lines of an instance's log go into a failure event.
const tailLines = 10

// reconcile makes one service's instances match its desired state. The queue guarantees that only
// one reconcile runs per service at a time in this engine, the service's lease that only this
// engine's replica drives it.
func (e *Engine) reconcile(ctx context.Context, id string) error {
	owned, err := e.own(ctx, id)
	if err != nil {
		return err
	}
	if !owned {
		// Another replica drives the service (or it no longer exists): nothing of it may run
		// here.
		e.stopService(ctx, id)
		return nil
	}
	svc, deleted, err := e.Store.ServiceByID(ctx, id)
	if ark.ErrorCode(err) == ark.EServiceNotFound {
		_, err := e.removeService(ctx, id)
		return err
	}
	if err != nil {
		return err
	}
	if svc.InferType == ark.InferEdge && (deleted || svc.Status == ark.StatusDeleting || svc.Status == ark.StatusStopping) {
		// Its nodes stop its instances now (NodePlacements leaves such services out).
		if err := e.wakeEdge(ctx, id); err != nil {
			return err
		}
	}
	if deleted || svc.Status == ark.StatusDeleting {
		// A deleted service is purged without waiting for terminating instances: it is gone
		// for the API already, and the cluster finishes their graceful stop on its own.
		if _, err := e.removeService(ctx, id); err != nil {
			return err
		}
		if deleted {
			return e.Store.PurgeService(ctx, e.held(id))
		}
		return nil
	}
	entry, err := e.Store.RunningUpdate(ctx, id)
	if err != nil {
		return err
	}
	st := e.state(id)
	if e.dueNow(svc, st) {
		// The schedule's time is up: stop the service (an update in progress is abandoned).
		if err := e.Store.SetStatus(ctx, e.held(id), ark.StatusChange{Status: ark.StatusStopping},
			normal(ark.EventAutoStopped)); err != nil {
			return err
		}
		svc.Status = ark.StatusStopping
	}
	switch svc.Status {
	case ark.StatusStopping, ark.StatusStopped:
		return e.stop(ctx, svc, entry)
	}
	if svc.InferType == ark.InferEdge {
		return e.reconcileEdge(ctx, svc, entry)
	}
	if entry != nil {
		return e.update(ctx, svc, st, entry)
	}
	switch svc.Status {
	case ark.StatusDeploying:
		return e.start(ctx, svc, st)
	case ark.StatusRunning, ark.StatusConcerning:
		return e.keep(ctx, svc, st)
	default: // failed: nothing runs
		if _, err := e.removeService(ctx, id); err != nil {
			return err
		}
		return e.releaseLease(ctx, id)
	}
}

// dueNow reports whether the service's schedule has run out; until then it arms a timer that
// notifies the service at its due time.
func (e *Engine) dueNow(svc *ark.Service, st *svcState) bool {
	switch svc.Status {
	case ark.StatusDeploying, ark.StatusRunning, ark.StatusConcerning:
	default:
		return false
	}
	if svc.DueTime.IsZero() {
		return false
	}
	wait := svc.DueTime.Sub(e.now())
	if wait <= 0 {
		return true
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if !st.dueAt.Equal(svc.DueTime) {
		if st.due != nil {
			st.due.Stop()
		}
		id := svc.ID
		st.dueAt, st.due = svc.DueTime, time.AfterFunc(wait, func() { e.Notify(id) })
	}
	return false
}

// stop stops every instance and reports the service stopped. A RUNNING entry (the HTTP layer
// refuses to stop a service that is updating, but a schedule can) is finished FAIL: an entry never
// stays RUNNING.
func (e *Engine) stop(ctx context.Context, svc *ark.Service, entry *ark.UpdateLog) error {
	left, err := e.removeService(ctx, svc.ID)
	if err != nil {
		return err
	}
	var events []ark.Event
	if left > 0 && svc.Status == ark.StatusStopping {
		// Stopped means that no instance runs: a Deployer's instances get their grace period,
		// and their deletions (and the resync, which looks at every stopping service) bring the
		// service back here. An instance that outlives its grace period by stopWaitMargin (a pod
		// on a node that is gone stays Terminating) does not hold the service in stopping for
		// ever.
		wait := stopWait(svc)
		if e.now().Before(svc.TransitionAt.Add(wait)) {
			return nil
		}
		events = append(events, abnormal(fmt.Sprintf(eventStillTerminating, left, wait)))
	}
	stopped := ark.StatusChange{Status: ark.StatusStopped}
	if entry != nil {
		if _, err := e.Store.FinishUpdate(ctx, e.held(svc.ID), entry.UpdateTime, ark.ResultFail, stopped,
			ark.Event{Type: ark.EventAbnormal, Info: eventUpdateStopped}); err != nil {
			return err
		}
	}
	if svc.Status == ark.StatusStopping {
		if err := e.Store.SetStatus(ctx, e.held(svc.ID), stopped, append(events, normal(ark.EventStopped))...); err != nil {
			return err
		}
	}
	// Nothing to drive until the service is started again, maybe through another replica.
	return e.releaseLease(ctx, svc.ID)
}

// stopWaitMargin is how long past the longest grace period of its entries a stopping service waits
// for its instances to terminate.
const stopWaitMargin = time.Minute

// stopWait is how long a stopping service waits for its instances to terminate.
func stopWait(svc *ark.Service) time.Duration {
	var longest time.Duration
	for _, c := range svc.Config {
		longest = max(longest, gracePeriod(c))
	}
	return longest + stopWaitMargin
}

// update carries out a RUNNING entry one rolling step at a time, and finishes it.
func (e *Engine) update(ctx context.Context, svc *ark.Service, st *svcState, entry *ark.UpdateLog) error {
	e.mu.Lock()
	f := st.finishing
	e.mu.Unlock()
	if f != nil && f.updateTime == entry.UpdateTime {
		return e.record(ctx, svc.ID, st, f) // decided before; only the store write is missing
	}
	t, failure, err := e.targetFor(ctx, svc, st, kindUpdate, entry.Config, entry.UpdateTime)
	if err != nil {
		return err
	}
	if failure != nil {
		return e.failUpdate(ctx, svc, st, entry, nil, failure.Error(), "")
	}
	p, err := e.drive(ctx, svc.ID, st, t)
	if err := ctx.Err(); err != nil {
		return err // shutting down: a Start that failed for that is no verdict on the update
	}
	if err != nil {
		return err
	}
	if p.bad != nil {
		return e.failUpdate(ctx, svc, st, entry, t, p.bad.what, p.bad.tail)
	}
	if !p.complete {
		return e.progress(ctx, svc.ID, t, p)
	}
	info := eventUpdated
	if len(entry.Previous) == 0 {
		info = fmt.Sprintf(ark.EventStarted, svc.Name)
	}
	f = &finish{updateTime: entry.UpdateTime, result: ark.ResultSuccess,
		change: ark.StatusChange{Status: ark.StatusRunning, Progress: 100}, events: append(p.events, normal(info))}
	e.mu.Lock()
	st.finishing = f
	e.mu.Unlock()
	e.log().Info("update succeeded", "service", svc.ID, "update_time", entry.UpdateTime, "instances", p.total)
	return e.record(ctx, svc.ID, st, f)
}

// failUpdate finishes the entry FAIL. The instances started for it that are not ready are stopped
// now; the ready ones are replaced by the previous configuration's in the next rolling steps (the
// store restores it as the desired one). what says what failed; tail is the failed instance's
// last output.
func (e *Engine) failUpdate(ctx context.Context, svc *ark.Service, st *svcState, entry *ark.UpdateLog, t *target, what, tail string) error {
	e.log().Warn("update failed", "service", svc.ID, "update_time", entry.UpdateTime, "reason", what)
	events := []ark.Event{abnormal(withTail(what, tail))}
	var change ark.StatusChange
	if len(entry.Previous) == 0 {
		// The first deployment (or one from a stopped or failed service): nothing to go back to.
		if err := e.stopAll(ctx, svc.ID, st); err != nil {
			return err
		}
		events = append(events, abnormal(eventDeployFailed))
		change = ark.StatusChange{Status: ark.StatusFailed, ErrorMsg: what}
	} else {
		e.stopMembers(ctx, svc.ID, st, e.members(st, func(m *member) bool {
			return t != nil && m.tgt == t && (!m.ready || m.done)
		}))
		events = append(events, normal(ark.EventRolledBack))
		change = ark.StatusChange{Status: ark.StatusRunning, Progress: 100}
		if !e.serving(st) {
			// Nothing serves (the server restarted mid-update): the status deploying has the
			// previous configuration started again.
			change = ark.StatusChange{Status: ark.StatusDeploying}
		}
	}
	f := &finish{updateTime: entry.UpdateTime, result: ark.ResultFail, change: change, events: events}
	e.mu.Lock()
	st.finishing = f
	e.mu.Unlock()
	return e.record(ctx, svc.ID, st, f)
}

// record finishes an entry in the store. When the entry was finished by someone else meanwhile,
// the service is looked at again: its desired state is whatever that writer left.
func (e *Engine) record(ctx context.Context, svcID string, st *svcState, f *finish) error {
	ok, err := e.Store.FinishUpdate(ctx, e.held(svcID), f.updateTime, f.result, f.change, f.events...)
	if err != nil {
		return err
	}
	e.mu.Lock()
	st.finishing = nil
	e.mu.Unlock()
	if !ok {
		e.log().Warn("update-log entry was already finished", "service", svcID, "update_time", f.updateTime)
	}
	e.Notify(svcID) // the next pass works toward what the store says now
	return nil
}

// start brings up a service's configuration (status deploying without an entry: a start, or a
// rollback that found nothing running): running when every instance is ready, failed when one
// fails.
func (e *Engine) start(ctx context.Context, svc *ark.Service, st *svcState) error {
	e.mu.Lock()
	st.finishing = nil // its entry is no longer RUNNING
	e.mu.Unlock()
	t, failure, err := e.targetFor(ctx, svc, st, kindStart, svc.Config, 0)
	if err != nil {
		return err
	}
	if failure != nil {
		return e.failStart(ctx, svc, st, failure.Error(), "")
	}
	p, err := e.drive(ctx, svc.ID, st, t)
	if err := ctx.Err(); err != nil {
		return err
	}
	if err != nil {
		return err
	}
	if p.bad != nil {
		return e.failStart(ctx, svc, st, p.bad.what, p.bad.tail)
	}
	if !p.complete {
		return e.progress(ctx, svc.ID, t, p)
	}
	return e.Store.SetStatus(ctx, e.held(svc.ID), ark.StatusChange{Status: ark.StatusRunning, Progress: 100},
		append(p.events, normal(fmt.Sprintf(ark.EventStarted, svc.Name)))...)
}

// failStart stops the service's instances and reports it failed.
func (e *Engine) failStart(ctx context.Context, svc *ark.Service, st *svcState, what, tail string) error {
	if err := e.stopAll(ctx, svc.ID, st); err != nil {
		return err
	}
	e.log().Warn("starting the service failed", "service", svc.ID, "reason", what)
	return e.Store.SetStatus(ctx, e.held(svc.ID), ark.StatusChange{Status: ark.StatusFailed, ErrorMsg: what},
		abnormal(withTail(what, tail)), abnormal(fmt.Sprintf(ark.EventStartFailed, svc.Name)))
}

// keep keeps a running service at its configuration: it brings the instances back after a server
// restart, finishes a rollback, and restarts crashed instances after a backoff. The status says
// whether every instance is ready (running) or not (concerning).
func (e *Engine) keep(ctx context.Context, svc *ark.Service, st *svcState) error {
	e.mu.Lock()
	st.finishing = nil
	// A Deployer's workloads run on without the server: nothing to bring back.
	restoring := st.target == nil && len(st.members) == 0 && e.Deployer == nil
	e.mu.Unlock()
	t, failure, err := e.targetFor(ctx, svc, st, kindKeep, svc.Config, 0)
	if err != nil {
		return err
	}
	if failure != nil {
		return e.failStart(ctx, svc, st, failure.Error(), "")
	}
	if restoring {
		// Nothing runs here although the service is running: the server restarted.
		e.log().Info("starting service instances again", "service", svc.ID)
		t.restoring = true
		if err := e.Store.SetStatus(ctx, e.held(svc.ID), ark.StatusChange{Status: ark.StatusConcerning, Progress: 100},
			normal(eventRestoring)); err != nil {
			return err
		}
		svc.Status = ark.StatusConcerning
	}
	p, err := e.drive(ctx, svc.ID, st, t)
	if err := ctx.Err(); err != nil {
		return err
	}
	if err != nil {
		return err
	}
	events := p.events
	status := ark.StatusRunning
	// A workload still finishing a rollout (a rollback) whose instances are all ready serves
	// fully: only missing instances make it concerning.
	if !p.complete && (e.Deployer == nil || p.ready < p.total) {
		status = ark.StatusConcerning
	}
	if status != svc.Status {
		switch {
		case status == ark.StatusRunning && t.restoring:
			events = append(events, normal(eventRestored))
		case status == ark.StatusRunning:
			events = append(events, normal(fmt.Sprintf(eventAllReady, p.total)))
		case !t.restoring:
			events = append(events, abnormal(fmt.Sprintf(eventSomeNotReady, p.total-p.ready, p.total)))
		}
	}
	if status == ark.StatusRunning {
		t.restoring = false
	}
	if status == svc.Status && len(events) == 0 {
		return nil
	}
	return e.Store.SetStatus(ctx, e.held(svc.ID), ark.StatusChange{Status: status, Progress: 100}, events...)
}

// targetFor returns the target for a configuration: the current one when nothing changed, else a
// new one (the models resolved, old instances paired with the groups that replace them). failure
// is a problem of the configuration (a model that is gone or cannot be run, a specification the
// pool cannot run); err is a problem of the store, worth retrying.
func (e *Engine) targetFor(ctx context.Context, svc *ark.Service, st *svcState, k kind, cfgs []ark.ServiceConfig, updateTime int64) (t *target, failure, err error) {
	key := configKey(cfgs)
	e.mu.Lock()
	cur := st.target
	e.mu.Unlock()
	if cur != nil && cur.kind == k && cur.updateTime == updateTime && cur.cfgKey == key && cur.policy == svc.LoadBalancerPolicy {
		return cur, nil, nil
	}
	if len(cfgs) == 0 {
		return nil, fmt.Errorf("the configuration has no model"), nil
	}
	timeout := e.deployTimeout()
	t = &target{kind: k, updateTime: updateTime, cfgKey: key, projectID: svc.ProjectID, policy: svc.LoadBalancerPolicy}
	for i, c := range cfgs {
		m, err := e.Store.FindModelByID(ctx, c.ModelID)
		if ark.ErrorCode(err) == ark.EModelNotFound {
			return nil, fmt.Errorf("model %s (%s) does not exist", modelLabel(c, nil), c.ModelID), nil
		}
		if err != nil {
			return nil, nil, err
		}
		if e.Deployer != nil {
			if err := e.Deployer.Check(m); err != nil {
				return nil, fmt.Errorf("model %s: %w", modelLabel(c, m), err), nil
			}
		}
		g, err := planGroup(c, m, e.LaunchCommands, e.Deployer == nil, timeout)
		if err != nil {
			return nil, err, nil
		}
		g.pos = i
		if e.Specs != nil {
			if g.spec.Resources, err = ark.InstanceResources(c, e.Specs); err != nil {
				return nil, fmt.Errorf("model %s: %w", g.label, err), nil
			}
		}
		t.groups = append(t.groups, g)
	}
	e.mu.Lock()
	if cur != nil {
		t.restoring = cur.restoring
	}
	t.pairs = pairGroups(t.groups, st.members)
	st.target = t
	e.mu.Unlock()
	return t, nil, nil
}

// pairGroups decides which target group replaces each group of the old instances: the target group
// of the same model, else of the same model name (a new version), else of the same position,
// preferring target groups that have no instances yet. Old groups left unpaired are stopped once
// the target is complete. Called with Engine.mu held.
func pairGroups(groups []*group, members []*member) map[string]*group {
	own := map[string]bool{}
	for _, g := range groups {
		own[g.key] = true
	}
	have := map[string]bool{} // target groups that have instances
	var olds []*group
	seen := map[string]bool{}
	for _, m := range members {
		switch {
		case own[m.g.key]:
			have[m.g.key] = true
		case !seen[m.g.key]:
			seen[m.g.key] = true
			olds = append(olds, m.g)
		}
	}
	slices.SortFunc(olds, func(a, b *group) int { return a.pos - b.pos })
	pairs := map[string]*group{}
	taken := map[*group]bool{}
	matches := []func(o, g *group) bool{
		func(o, g *group) bool { return o.cfg.ModelID == g.cfg.ModelID },
		func(o, g *group) bool { return o.modelName != "" && o.modelName == g.modelName },
		func(o, g *group) bool { return o.pos == g.pos },
	}
	for _, fresh := range []bool{true, false} {
		for _, match := range matches {
			for _, o := range olds {
				if pairs[o.key] != nil {
					continue
				}
				for _, g := range groups {
					if !taken[g] && (!fresh || !have[g.key]) && match(o, g) {
						pairs[o.key], taken[g] = g, true
						break
					}
				}
			}
		}
	}
	return pairs
}

// stopAll stops every instance of a service and deletes its workloads, keeping its state.
func (e *Engine) stopAll(ctx context.Context, svcID string, st *svcState) error {
	e.stopMembers(ctx, svcID, st, e.members(st, func(*member) bool { return true }))
	if e.Deployer != nil {
		_, err := e.Deployer.Delete(ctx, svcID)
		return err
	}
	return nil
}

// serving reports whether a ready instance of the service serves.
func (e *Engine) serving(st *svcState) bool {
	if len(e.members(st, func(m *member) bool { return m.ready && !m.done })) > 0 {
		return true
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, en := range st.route.Entries {
		if len(en.Backends) > 0 {
			return true
		}
	}
	return false
}

// members returns the service's instances that pass keep.
func (e *Engine) members(st *svcState, keep func(*member) bool) []*member {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []*member
	for _, m := range st.members {
		if keep(m) {
			out = append(out, m)
		}
	}
	return out
}

// failure is what failed an update or a start: what happened, and the failed instance's last
// output (secret-looking envs masked).
type failure struct{ what, tail string }

// failedMember is a failed instance with what the engine knew about it (copied under mu).
type failedMember struct {
	m       *member
	err     error
	readyAt time.Time
}

// describe says what happened to a failed instance, and returns its last output with the values
// of secret-looking envs masked.
func (e *Engine) describe(f *failedMember) (what, tail string) {
	m, g := f.m, f.m.g
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

// progress reports the share of ready instances while deploying, and events of the step.
func (e *Engine) progress(ctx context.Context, svcID string, t *target, p stepResult) error {
	pc := 0
	if p.total > 0 {
		pc = min(99, p.ready*100/p.total) // 100 only once the rollout is complete
	}
	e.mu.Lock()
	same := pc == t.progress
	e.mu.Unlock()
	if same && len(p.events) == 0 {
		return nil
	}
	if err := e.Store.SetStatus(ctx, e.held(svcID), ark.StatusChange{Status: ark.StatusDeploying, Progress: pc}, p.events...); err != nil {
		return err
	}
	e.mu.Lock()
	t.progress = pc
	e.mu.Unlock()
	return nil
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
