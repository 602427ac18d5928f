package rollout

import (
	"math"

	"github.com/arkserve/arkserve/internal/ark"
)

// bounds are a group's rolling-update bounds in instances.
type bounds struct{ surge, unavailable int }

// rollingBounds resolves max_surge and max_unavailable of a config entry (DESIGN.md, "Rolling-update
// semantics"): a value below 1 is a fraction of instance_count (surge rounds up, unavailable rounds
// down), 1 or above an instance count (truncated); defaults surge 1, unavailable 0; when both come
// to 0, surge is 1. Unavailable never exceeds instance_count.
func rollingBounds(n int, p ark.ModelAdditionalProperties) bounds {
	resolve := func(v *float64, def int, roundUp bool) int {
		switch {
		case v == nil:
			return def
		case *v < 1:
			x := *v * float64(n)
			if roundUp {
				return int(math.Ceil(x - 1e-9))
			}
			return int(math.Floor(x + 1e-9))
		default:
			return int(*v)
		}
	}
	b := bounds{surge: resolve(p.MaxSurge, 1, true), unavailable: resolve(p.MaxUnavailable, 0, false)}
	b.unavailable = min(b.unavailable, n)
	if b.surge == 0 && b.unavailable == 0 {
		b.surge = 1
	}
	return b
}

// groupView is what one rolling step of a group looks at: the group's own instances (cur: they run
// the group's configuration) and the instances it replaces (old: of a previous configuration of
// the same entry). Instances that failed are not in it.
type groupView struct {
	n                 int // instance_count
	b                 bounds
	curReady, curWait int // ready, and started but not (yet) ready
	oldReady, oldWait int
	mayStart          bool // false while a crashed instance's restart backoff runs
}

// stepPlan is what one rolling step does, in this order: stop instances, then start new ones.
type stepPlan struct {
	stopCurWait, stopCurReady int // scaling the group down
	stopOldWait, stopOldReady int // replacing the old instances
	start                     int
}

// step plans one rolling step of a group so that, once the stops are carried out before the
// starts, the group never has more than n+surge instances nor fewer than n-unavailable ready
// ones (when it had at least that many), as a Kubernetes Deployment does:
//
//   - the group's own instances beyond n are stopped at once, those not ready first (a scale-down);
//   - old instances that are not ready serve nothing and are stopped at once;
//   - old ready instances are stopped while the ready ones that remain are at least n-unavailable;
//   - new instances are started while the total stays within n+surge and the group's own
//     instances within n.
func step(v groupView) stepPlan {
	var p stepPlan
	if cur := v.curReady + v.curWait; cur > v.n {
		excess := cur - v.n
		p.stopCurWait = min(excess, v.curWait)
		p.stopCurReady = excess - p.stopCurWait
	}
	curReady := v.curReady - p.stopCurReady
	curWait := v.curWait - p.stopCurWait
	p.stopOldWait = v.oldWait
	if floor := v.n - v.b.unavailable; v.oldReady > 0 {
		p.stopOldReady = min(v.oldReady, max(0, curReady+v.oldReady-floor))
	}
	if v.mayStart {
		total := curReady + curWait + v.oldReady - p.stopOldReady
		p.start = max(0, min(v.n-(curReady+curWait), v.n+v.b.surge-total))
	}
	return p
}
