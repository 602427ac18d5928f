package rollout

import (
	"testing"

	"github.com/arkserve/arkserve/internal/ark"
)

func TestRollingBounds(t *testing.T) {
	f := func(v float64) *float64 { return &v }
	for _, tc := range []struct {
		name           string
		n              int
		surge, unavail *float64
		want           bounds
	}{
		{"Defaults", 3, nil, nil, bounds{1, 0}},
		{"Counts", 10, f(3), f(2), bounds{3, 2}},
		{"CountTruncated", 10, f(2.9), f(1.5), bounds{2, 1}},
		{"FractionSurgeRoundsUp", 10, f(0.25), f(0), bounds{3, 0}},
		{"FractionUnavailableRoundsDown", 10, f(0), f(0.25), bounds{0, 2}},
		{"QuarterOf20", 20, f(0.25), f(0.25), bounds{5, 5}},
		{"ExactFraction", 4, f(0.5), f(0.5), bounds{2, 2}},
		{"BothZero", 5, f(0), f(0), bounds{1, 0}},
		{"UnavailableRoundsToZero", 3, f(0), f(0.2), bounds{1, 0}}, // 0.6 → 0, so surge 1
		{"SurgeOfOneInstance", 1, f(0.1), nil, bounds{1, 0}},       // 0.1 → 1 (rounds up)
		{"UnavailableCapped", 2, f(0), f(5), bounds{0, 2}},
		{"OneIsACount", 10, f(1), f(1), bounds{1, 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := rollingBounds(tc.n, ark.ModelAdditionalProperties{MaxSurge: tc.surge, MaxUnavailable: tc.unavail})
			if got != tc.want {
				t.Errorf("rollingBounds(%d) = %+v; want %+v", tc.n, got, tc.want)
			}
		})
	}
}

func TestStep(t *testing.T) {
	for _, tc := range []struct {
		name string
		v    groupView
		want stepPlan
	}{
		{"FirstDeployment", groupView{n: 3, b: bounds{1, 0}, mayStart: true}, stepPlan{start: 3}},
		{"SurgeFirstWave", groupView{n: 3, b: bounds{1, 0}, oldReady: 3, mayStart: true}, stepPlan{start: 1}},
		{"SurgeWaitsForReadiness", groupView{n: 3, b: bounds{1, 0}, curWait: 1, oldReady: 3, mayStart: true}, stepPlan{}},
		{"SurgeNextWave", groupView{n: 3, b: bounds{1, 0}, curReady: 1, oldReady: 3, mayStart: true},
			stepPlan{stopOldReady: 1, start: 1}},
		{"SurgeLastOld", groupView{n: 3, b: bounds{1, 0}, curReady: 3, oldReady: 1, mayStart: true},
			stepPlan{stopOldReady: 1}},
		{"UnavailableOnly", groupView{n: 4, b: bounds{0, 1}, oldReady: 4, mayStart: true},
			stepPlan{stopOldReady: 1, start: 1}},
		{"UnavailableOnlyWaits", groupView{n: 4, b: bounds{0, 1}, curWait: 1, oldReady: 3, mayStart: true}, stepPlan{}},
		{"SurgeAndUnavailable", groupView{n: 20, b: bounds{5, 5}, oldReady: 20, mayStart: true},
			stepPlan{stopOldReady: 5, start: 10}},
		{"OldNotReadyStoppedAtOnce", groupView{n: 3, b: bounds{1, 0}, oldReady: 2, oldWait: 1, mayStart: true},
			stepPlan{stopOldWait: 1, start: 2}},
		{"ScaleDownNotReadyFirst", groupView{n: 2, b: bounds{1, 0}, curReady: 3, curWait: 1, mayStart: true},
			stepPlan{stopCurWait: 1, stopCurReady: 1}},
		{"ScaleUp", groupView{n: 5, b: bounds{1, 0}, curReady: 2, mayStart: true}, stepPlan{start: 3}},
		{"BackoffHoldsStarts", groupView{n: 3, b: bounds{1, 0}, curReady: 2}, stepPlan{}},
		{"Complete", groupView{n: 3, b: bounds{1, 0}, curReady: 3, mayStart: true}, stepPlan{}},
		{"BigSurge", groupView{n: 20, b: bounds{5, 0}, curReady: 5, oldReady: 20, mayStart: true},
			stepPlan{stopOldReady: 5, start: 5}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := step(tc.v); got != tc.want {
				t.Errorf("step(%+v) = %+v; want %+v", tc.v, got, tc.want)
			}
		})
	}
}

// TestStepBounds simulates whole rollouts, one wave at a time (every started instance becomes
// ready before the next step), and checks the bounds at every step.
func TestStepBounds(t *testing.T) {
	for _, n := range []int{1, 2, 3, 5, 20} {
		for _, b := range []bounds{{1, 0}, {5, 0}, {0, 1}, {2, 2}, {1, 3}, {0, n}} {
			b.unavailable = min(b.unavailable, n)
			cur, old, waves := 0, n, 0
			for cur < n || old > 0 {
				p := step(groupView{n: n, b: b, curReady: cur, oldReady: old, mayStart: true})
				old -= p.stopOldReady
				if cur+old < n-b.unavailable {
					t.Fatalf("n=%d %+v: %d ready after the stops; at least %d", n, b, cur+old, n-b.unavailable)
				}
				if cur+old+p.start > n+b.surge {
					t.Fatalf("n=%d %+v: %d instances; at most %d", n, b, cur+old+p.start, n+b.surge)
				}
				cur += p.start
				if waves++; waves > 2*n+2 {
					t.Fatalf("n=%d %+v: no progress (cur %d, old %d)", n, b, cur, old)
				}
			}
		}
	}
}
