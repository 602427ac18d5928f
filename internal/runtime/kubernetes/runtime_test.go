package kubernetes

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/arkserve/arkserve/internal/ark"
	"github.com/arkserve/arkserve/internal/rollout"
	"github.com/arkserve/arkserve/internal/runtime/kubernetes/kubetest"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// openRuntime opens a Runtime on a namespace of the test cluster; notified receives the ids its
// informers report.
func openRuntime(t *testing.T) (r *Runtime, c *kubetest.Cluster, notified chan string) {
	t.Helper()
	c = kubetest.New(t)
	notified = make(chan string, 1)
	r = &Runtime{Client: c.Client, Namespace: c.Namespace,
		Tolerations: []corev1.Toleration{{Key: "kwok.x-k8s.io/node", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}},
		Notify: func(string) {
			select {
			case notified <- "":
			default:
			}
		}}
	if err := r.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r, c, notified
}

// applyUntil applies ws (as the engine does, once per notification from the informers) until
// the statuses pass ok, at most 60 s.
func applyUntil(t *testing.T, r *Runtime, notified chan string, ws []rollout.Workload, prune bool,
	ok func(sts []rollout.WorkloadStatus, others bool) bool) []rollout.WorkloadStatus {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		sts, others, err := r.Apply(context.Background(), svcID, ws, prune)
		if err != nil {
			t.Fatal(err)
		}
		if ok(sts, others) {
			return sts
		}
		select {
		case <-notified:
		case <-deadline:
			t.Fatalf("statuses %+v (others %v) after 60s", sts, others)
		}
	}
}

// TestRuntime: Deployments applied, rolled to an image that never becomes ready (failed after the
// deadline, with the reason Kubernetes gives) and back, a second workload pruned, and deletion,
// all followed through the informers.
func TestRuntime(t *testing.T) {
	r, c, notified := openRuntime(t)
	w := workload()
	w.Replicas, w.MaxSurge, w.MaxUnavailable, w.Deadline = 2, 1, 0, 30*time.Second
	sts := applyUntil(t, r, notified, []rollout.Workload{w}, false, func(sts []rollout.WorkloadStatus, _ bool) bool {
		return sts[0].Complete && sts[0].Ready == 2 && len(sts[0].Backends) == 2
	})
	for _, b := range sts[0].Backends {
		if !strings.HasPrefix(b.Addr, "10.244.") || !strings.HasSuffix(b.Addr, ":8080") || !strings.HasPrefix(b.InstanceID, "ark-"+svcID+"-0-") {
			t.Errorf("backend %+v; want a pod of the Deployment at its KWOK address, port 8080", b)
		}
	}
	if used, capacity := r.Usage(); capacity.CPU != 32 || capacity.MemoryMB != 256<<10 || capacity.GPU != 8 ||
		used != (ark.Resources{CPU: 1, MemoryMB: 2048, GPU: 2}) {
		t.Errorf("Usage() = %+v, %+v; want 2 pods of the workload on the 32-core node", used, capacity)
	}

	bad := w
	bad.Image, bad.Deadline = kubetest.Unpullable, 3*time.Second
	sts = applyUntil(t, r, notified, []rollout.Workload{bad}, false, func(sts []rollout.WorkloadStatus, _ bool) bool {
		return sts[0].Failed != ""
	})
	if s := sts[0]; !strings.Contains(s.Failed, "deploy timeout") || len(s.Problems) == 0 ||
		!strings.Contains(s.Problems[0], "ErrImagePull") || len(s.Backends) != 2 || s.Complete {
		t.Errorf("failed rollout: %+v; want the deadline, ErrImagePull and the old pods still serving", s)
	}
	// Rolled back: the previous Deployment's spec again.
	applyUntil(t, r, notified, []rollout.Workload{w}, false, func(sts []rollout.WorkloadStatus, _ bool) bool {
		return sts[0].Complete && sts[0].Failed == "" && sts[0].Ready == 2
	})

	other := w
	other.ModelID, other.ModelName, other.Pos, other.Replicas = "m2", "other", 1, 1
	applyUntil(t, r, notified, []rollout.Workload{w, other}, false, func(sts []rollout.WorkloadStatus, _ bool) bool {
		return sts[0].Complete && sts[1].Complete
	})
	// The first entry removed: kept while prune is off, deleted with it.
	applyUntil(t, r, notified, []rollout.Workload{other}, false, func(sts []rollout.WorkloadStatus, others bool) bool {
		return others && sts[0].Complete
	})
	applyUntil(t, r, notified, []rollout.Workload{other}, true, func(sts []rollout.WorkloadStatus, others bool) bool {
		return !others
	})
	ds, err := c.Client.AppsV1().Deployments(c.Namespace).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ds.Items) != 1 || ds.Items[0].Labels[LabelModel] != "m2" {
		t.Errorf("%d Deployments left; want the one of m2", len(ds.Items))
	}

	// Delete reports the pod as left until the cluster has removed it (the service stays
	// stopping until then), and may be called again meanwhile.
	left, err := r.Delete(context.Background(), svcID)
	if err != nil || left == 0 {
		t.Fatalf("Delete = %d, %v; want the pod of m2 (and any of m1 still terminating) left", left, err)
	}
	deadline := time.After(60 * time.Second)
	for left > 0 {
		select {
		case <-notified:
		case <-deadline:
			t.Fatalf("%d pods left 60s after Delete", left)
		}
		if left, err = r.Delete(context.Background(), svcID); err != nil {
			t.Fatal(err)
		}
	}
	for _, list := range []func() (int, error){
		func() (int, error) {
			l, err := c.Client.AppsV1().Deployments(c.Namespace).List(context.Background(), metav1.ListOptions{})
			return len(l.Items), err
		},
		func() (int, error) {
			l, err := c.Client.CoreV1().Services(c.Namespace).List(context.Background(), metav1.ListOptions{})
			return len(l.Items), err
		},
		func() (int, error) {
			l, err := c.Client.CoreV1().Pods(c.Namespace).List(context.Background(), metav1.ListOptions{})
			return len(l.Items), err
		},
	} {
		if n, err := list(); err != nil || n != 0 {
			t.Errorf("after Delete: %d objects left (%v)", n, err)
		}
	}
}

// TestUnschedulable: a workload no node can take reports the scheduler's reason, which the engine
// turns into an event and, at the deploy timeout, into the FAIL of the entry.
func TestUnschedulable(t *testing.T) {
	r, _, notified := openRuntime(t)
	w := workload()
	w.Replicas, w.Deadline = 1, time.Minute
	w.Resources = ark.Resources{CPU: 1000, MemoryMB: 1024} // the one KWOK node has 32 cores
	sts := applyUntil(t, r, notified, []rollout.Workload{w}, false, func(sts []rollout.WorkloadStatus, _ bool) bool {
		return len(sts[0].Problems) > 0
	})
	if s := sts[0]; !strings.Contains(s.Problems[0], "Unschedulable") || !strings.Contains(s.Problems[0], "Insufficient cpu") ||
		s.Complete || s.Ready != 0 {
		t.Errorf("unschedulable workload: %+v; want the scheduler's reason", s)
	}
}

// TestProbeFailure: a pod that runs but fails its readiness probe reports the kubelet's words
// (the Unhealthy event), and at the deploy timeout they are the reason the rollout failed.
func TestProbeFailure(t *testing.T) {
	r, _, notified := openRuntime(t)
	w := workload()
	w.Image, w.Replicas, w.Deadline = kubetest.Unready, 1, 3*time.Second
	sts := applyUntil(t, r, notified, []rollout.Workload{w}, false, func(sts []rollout.WorkloadStatus, _ bool) bool {
		return sts[0].Failed != ""
	})
	const want = "Unhealthy: Readiness probe failed: HTTP probe failed with statuscode: 503"
	if s := sts[0]; len(s.Problems) != 1 || !strings.HasSuffix(s.Problems[0], want) || !strings.Contains(s.Failed, want) ||
		s.Ready != 0 || s.Complete {
		t.Errorf("workload that fails its probe: %+v; want the kubelet's event as the problem and the reason", s)
	}
}
