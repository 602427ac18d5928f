package rollout

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/arkserve/arkserve/internal/ark"
)

// stepResult is what one rolling step found and did.
type stepResult struct {
	complete bool        // every group has its ready instances and nothing else runs
	bad      *failure    // an instance (or workload) started for an update or a start failed: the caller fails it
	ready    int         // the groups' own ready instances (at most instance_count each)
	total    int         // the sum of instance_count
	events   []ark.Event // crashes of instances that are restarted
}

// drive takes one rolling step of a service toward target t: failed instances are removed (a
// failure of an instance started for an update or a start is returned as bad instead), then, per
// group, the stops and starts that step plans are carried out, stops first. A step that changed
// something asks for the next one; instances becoming ready or failing ask through their watchers.
// An error (of a Deployer's cluster) decides nothing: the caller returns it, and the next pass
// tries again.
func (e *Engine) drive(ctx context.Context, svcID string, st *svcState, t *target) (stepResult, error) {
	if e.Deployer != nil {
		return e.driveWorkloads(ctx, svcID, st, t)
	}
	now := time.Now()
	failFast := t.kind != kindKeep
	byKey := map[string]*group{}
	for _, g := range t.groups {
		byKey[g.key] = g
	}

	// Failed instances.
	var r stepResult
	var bad *failedMember
	var failed []*member
	var crashed []failedMember
	e.mu.Lock()
	for _, m := range st.members {
		if !m.done || m.stopping {
			continue
		}
		f := failedMember{m: m, err: m.err, readyAt: m.readyAt}
		if failFast && m.tgt == t {
			if bad == nil {
				bad = &f
			}
			continue
		}
		failed = append(failed, m)
		if byKey[m.g.key] != nil {
			crashed = append(crashed, f)
		}
	}
	e.mu.Unlock()
	if bad != nil {
		what, tail := e.describe(bad)
		r.bad = &failure{what: what, tail: tail}
		return r, nil
	}
	for _, f := range crashed {
		what, tail := e.describe(&f)
		e.mu.Lock()
		rs := st.restarts[f.m.g.key]
		if rs == nil {
			rs = &restart{}
			st.restarts[f.m.g.key] = rs
		}
		if !f.readyAt.IsZero() && now.Sub(f.readyAt) > time.Minute {
			rs.crashes = 0 // it ran well for a while: start the backoff afresh
		}
		rs.crashes++
		delay := backoff(rs.crashes)
		rs.notBefore = now.Add(delay)
		e.mu.Unlock()
		time.AfterFunc(delay, func() { e.Notify(svcID) })
		e.log().Warn("instance failed; restarting it", "service", svcID, "reason", what, "in", delay)
		r.events = append(r.events, abnormal(withTail(fmt.Sprintf("%s; it will be restarted in %s", what, delay), tail)))
	}
	e.stopMembers(ctx, svcID, st, failed)

	// The rolling step of every group.
	var stops []*member
	starts := make([]int, len(t.groups))
	complete := true
	e.mu.Lock()
	own := map[*group][]*member{}
	old := map[*group][]*member{}
	var orphans []*member // old instances no target group replaces
	for _, m := range st.members {
		if m.stopping || m.done {
			continue
		}
		if g := byKey[m.g.key]; g != nil {
			own[g] = append(own[g], m)
		} else if g := t.pairs[m.g.key]; g != nil {
			old[g] = append(old[g], m)
		} else {
			orphans = append(orphans, m)
		}
	}
	for i, g := range t.groups {
		curReady, curWait := split(own[g])
		oldReady, oldWait := split(old[g])
		rs := st.restarts[g.key]
		p := step(groupView{
			n: g.cfg.InstanceCount, b: g.bounds,
			curReady: len(curReady), curWait: len(curWait), oldReady: len(oldReady), oldWait: len(oldWait),
			mayStart: rs == nil || !now.Before(rs.notBefore),
		})
		// Scale-downs stop the newest instances; replacements the oldest old ones.
		stops = append(stops, newest(curWait, p.stopCurWait)...)
		stops = append(stops, newest(curReady, p.stopCurReady)...)
		stops = append(stops, oldWait...)
		stops = append(stops, oldest(oldReady, p.stopOldReady)...)
		starts[i] = p.start
		if len(curReady) != g.cfg.InstanceCount || len(curWait) > 0 || len(old[g]) > 0 {
			complete = false
		}
		r.ready += min(len(curReady), g.cfg.InstanceCount)
		r.total += g.cfg.InstanceCount
	}
	if complete {
		stops = append(stops, orphans...)
	}
	e.mu.Unlock()

	e.stopMembers(ctx, svcID, st, stops)
	started := false
	for i, g := range t.groups {
		for range starts[i] {
			if ctx.Err() != nil {
				break
			}
			m := e.startMember(ctx, svcID, t, g)
			e.mu.Lock()
			st.members = append(st.members, m)
			e.mu.Unlock()
			started = true
		}
	}
	e.publish(svcID, st)
	r.complete = complete && len(orphans) == 0 && len(stops) == 0 && !started
	if len(stops) > 0 || started {
		e.Notify(svcID) // look again: a stop changed the counts; a Start may have failed at once
	}
	return r, nil
}

// split divides instances into ready and not (yet) ready ones. Called with Engine.mu held.
func split(ms []*member) (ready, waiting []*member) {
	for _, m := range ms {
		if m.ready {
			ready = append(ready, m)
		} else {
			waiting = append(waiting, m)
		}
	}
	return ready, waiting
}

// newest returns the n most recently started of ms; oldest the n first started.
func newest(ms []*member, n int) []*member {
	ms = slices.Clone(ms)
	slices.SortStableFunc(ms, func(a, b *member) int { return b.startedAt.Compare(a.startedAt) })
	return ms[:min(n, len(ms))]
}

func oldest(ms []*member, n int) []*member {
	ms = slices.Clone(ms)
	slices.SortStableFunc(ms, func(a, b *member) int { return a.startedAt.Compare(b.startedAt) })
	return ms[:min(n, len(ms))]
}

// publish computes the service's routing table and hands it to the router.
func (e *Engine) publish(svcID string, st *svcState) {
	e.mu.Lock()
	r := routeOf(st)
	st.route = r
	e.mu.Unlock()
	if e.Router != nil {
		e.Router.Publish(svcID, r)
	}
}

// routeOf is the routing table of a service: per target group its ready instances and those of
// the old instances it replaces, with the group's weight. Old instances no group replaces serve
// only while no group has a ready instance. Called with Engine.mu held.
func routeOf(st *svcState) ark.Route {
	t := st.target
	if t == nil {
		return ark.Route{}
	}
	r := ark.Route{ProjectID: t.projectID, Policy: t.policy}
	idx := map[*group]int{}
	for i, g := range t.groups {
		idx[g] = i
		r.Entries = append(r.Entries, ark.RouteEntry{ModelID: g.cfg.ModelID, ModelName: g.cfg.ModelName,
			ModelVersion: g.cfg.ModelVersion, Weight: g.cfg.Weight})
	}
	var orphans []ark.RouteEntry
	orphanIdx := map[string]int{}
	serving := false
	for _, m := range st.members {
		if !m.ready || m.done || m.stopping || m.inst == nil {
			continue
		}
		b := ark.Backend{InstanceID: m.id, Addr: m.inst.Addr()}
		g := t.pairs[m.g.key]
		for _, tg := range t.groups {
			if tg.key == m.g.key {
				g = tg
			}
		}
		if g != nil {
			i := idx[g]
			r.Entries[i].Backends = append(r.Entries[i].Backends, b)
			serving = true
			continue
		}
		i, ok := orphanIdx[m.g.key]
		if !ok {
			i = len(orphans)
			orphanIdx[m.g.key] = i
			orphans = append(orphans, ark.RouteEntry{ModelID: m.g.cfg.ModelID, ModelName: m.g.cfg.ModelName,
				ModelVersion: m.g.cfg.ModelVersion, Weight: max(1, m.g.cfg.Weight)})
		}
		orphans[i].Backends = append(orphans[i].Backends, b)
	}
	if !serving {
		r.Entries = append(r.Entries, orphans...)
	}
	return r
}
