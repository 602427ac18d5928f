package kubernetes

import (
	"strings"
	"testing"
	"time"

	"github.com/arkserve/arkserve/internal/ark"
	"github.com/arkserve/arkserve/internal/rollout"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

const svcID = "0b5c2f8e-1a7d-4c1e-9a59-6f2d1c3b4a5e"

func workload() rollout.Workload {
	return rollout.Workload{ServiceID: svcID, ProjectID: "p1", UpdateTime: 1700000000123, Pos: 0,
		ModelID: "m1", ModelName: "echo", ModelVersion: "1.0.0", Image: "registry.local/echo:1", Cmd: "exec echo-server",
		Env: map[string]string{"B": "2", "A": "1"}, Health: ark.Health{URL: "/ready", PeriodSeconds: 2, FailureThreshold: 4},
		Resources: ark.Resources{CPU: 0.5, MemoryMB: 1024, GPU: 0.25}, Replicas: 4, MaxSurge: 2, MaxUnavailable: 1,
		GracePeriod: 20 * time.Second, Deadline: 90 * time.Second}
}

func TestDeployment(t *testing.T) {
	r := &Runtime{Namespace: "ns", Tolerations: []corev1.Toleration{{Key: "kwok.x-k8s.io/node", Operator: corev1.TolerationOpExists}}}
	d, err := r.deployment(workload(), 3)
	if err != nil {
		t.Fatal(err)
	}
	if d.Name != "ark-"+svcID+"-3" || len(d.Name) > 63 || d.Namespace != "ns" {
		t.Errorf("name %s/%s", d.Namespace, d.Name)
	}
	s := d.Spec
	if *s.Replicas != 4 || s.Strategy.Type != appsv1.RollingUpdateDeploymentStrategyType ||
		s.Strategy.RollingUpdate.MaxSurge.IntValue() != 2 || s.Strategy.RollingUpdate.MaxUnavailable.IntValue() != 1 {
		t.Errorf("replicas %d, strategy %+v", *s.Replicas, s.Strategy.RollingUpdate)
	}
	if *s.ProgressDeadlineSeconds != 90 || *s.Template.Spec.TerminationGracePeriodSeconds != 20 {
		t.Errorf("deadline %d, grace %d", *s.ProgressDeadlineSeconds, *s.Template.Spec.TerminationGracePeriodSeconds)
	}
	sel, err := metav1.LabelSelectorAsSelector(s.Selector)
	if err != nil || !sel.Matches(labels.Set(s.Template.Labels)) {
		t.Errorf("selector %v does not match the template's labels %v", s.Selector, s.Template.Labels)
	}
	for k, want := range map[string]string{LabelService: svcID, LabelSlot: "3", LabelModel: "m1"} {
		if d.Labels[k] != want || s.Template.Labels[k] != want {
			t.Errorf("label %s = %q / %q; want %q", k, d.Labels[k], s.Template.Labels[k], want)
		}
	}
	for k, want := range map[string]string{AnnotationModelName: "echo", AnnotationModelVersion: "1.0.0",
		AnnotationUpdateTime: "1700000000123", AnnotationProject: "p1"} {
		if d.Annotations[k] != want {
			t.Errorf("annotation %s = %q; want %q", k, d.Annotations[k], want)
		}
	}
	c := s.Template.Spec.Containers[0]
	if c.Image != "registry.local/echo:1" || strings.Join(c.Command, " ") != "/bin/sh -c exec echo-server" {
		t.Errorf("image %s, command %q", c.Image, c.Command)
	}
	var env []string
	for _, e := range c.Env {
		env = append(env, e.Name+"="+e.Value)
	}
	if got, want := strings.Join(env, " "), "PORT=8080 ARKSERVE_SERVICE_ID="+svcID+" ARKSERVE_MODEL_ID=m1 A=1 B=2"; got != want {
		t.Errorf("env %s; want %s", got, want)
	}
	p := c.ReadinessProbe
	if p.HTTPGet == nil || p.HTTPGet.Path != "/ready" || p.HTTPGet.Port.StrVal != "http" || p.PeriodSeconds != 2 ||
		p.FailureThreshold != 4 || p.TimeoutSeconds != 5 {
		t.Errorf("probe %+v", p)
	}
	for _, l := range []corev1.ResourceList{c.Resources.Requests, c.Resources.Limits} {
		if cpu, mem, gpu := l[corev1.ResourceCPU], l[corev1.ResourceMemory], l[GPUResource]; cpu.String() != "500m" ||
			mem.String() != "1Gi" || gpu.String() != "1" {
			t.Errorf("resources cpu %s memory %s gpu %s; want 500m 1Gi 1", cpu.String(), mem.String(), gpu.String())
		}
	}
	if len(s.Template.Spec.Tolerations) != 1 || *s.Template.Spec.AutomountServiceAccountToken {
		t.Errorf("tolerations %v, service account token mounted", s.Template.Spec.Tolerations)
	}
}

// TestDeploymentIdentity: what does not reach the pods leaves the template alone, so a change of
// only the replicas or the bounds rolls no pod; a change of the model's image rolls them.
func TestDeploymentIdentity(t *testing.T) {
	r := &Runtime{Namespace: "ns"}
	base, _ := r.deployment(workload(), 0)
	for _, tc := range []struct {
		name         string
		change       func(w *rollout.Workload)
		sameTemplate bool
		sameSpec     bool
	}{
		{"nothing", func(w *rollout.Workload) {}, true, true},
		{"update time", func(w *rollout.Workload) { w.UpdateTime++ }, true, true},
		{"envs built in another order", func(w *rollout.Workload) { w.Env = map[string]string{"A": "1", "B": "2"} }, true, true},
		{"replicas", func(w *rollout.Workload) { w.Replicas = 7 }, true, false},
		{"bounds", func(w *rollout.Workload) { w.MaxSurge = 0 }, true, false},
		{"image", func(w *rollout.Workload) { w.Image = "registry.local/echo:2" }, false, false},
		{"envs", func(w *rollout.Workload) { w.Env = map[string]string{"A": "3"} }, false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := workload()
			tc.change(&w)
			d, err := r.deployment(w, 0)
			if err != nil {
				t.Fatal(err)
			}
			if got := d.Spec.Template.Labels[LabelTemplate] == base.Spec.Template.Labels[LabelTemplate]; got != tc.sameTemplate {
				t.Errorf("same template = %v; want %v", got, tc.sameTemplate)
			}
			if got := d.Annotations[AnnotationSpec] == base.Annotations[AnnotationSpec]; got != tc.sameSpec {
				t.Errorf("same spec = %v; want %v", got, tc.sameSpec)
			}
		})
	}
}

func TestDeploymentRefused(t *testing.T) {
	r := &Runtime{Namespace: "ns"}
	for _, tc := range []struct {
		name   string
		change func(w *rollout.Workload)
		want   string
	}{
		{"log volume on a shared pool", func(w *rollout.Workload) {
			w.LogVolumes = []ark.LogVolume{{HostPath: "/var/log/m", MountPath: "/logs"}}
		}, "dedicated pool"},
		{"persistent volume without a claim name", func(w *rollout.Workload) {
			w.PersistentVolumes = []ark.PersistentVolume{{MountPath: "/data"}}
		}, "PersistentVolumeClaim"},
		{"NPU", func(w *rollout.Workload) { w.Resources.NPU = 1 }, "NPU"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := workload()
			tc.change(&w)
			if _, err := r.deployment(w, 0); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("deployment error = %v; want one saying %q", err, tc.want)
			}
		})
	}
}

func TestVolumes(t *testing.T) {
	w := workload()
	w.DedicatedPool = true
	w.LogVolumes = []ark.LogVolume{{HostPath: "var/log/../log/m", MountPath: "/logs/"}}
	w.PersistentVolumes = []ark.PersistentVolume{{Name: "weights", MountPath: "/data"}}
	d, err := (&Runtime{Namespace: "ns"}).deployment(w, 0)
	if err != nil {
		t.Fatal(err)
	}
	v, m := d.Spec.Template.Spec.Volumes, d.Spec.Template.Spec.Containers[0].VolumeMounts
	if len(v) != 2 || v[0].HostPath == nil || v[0].HostPath.Path != "/var/log/m" || m[0].MountPath != "/logs" ||
		v[1].PersistentVolumeClaim == nil || v[1].PersistentVolumeClaim.ClaimName != "weights" || m[1].MountPath != "/data" {
		t.Errorf("volumes %+v, mounts %+v", v, m)
	}
}

func TestCheck(t *testing.T) {
	r := &Runtime{}
	for _, tc := range []struct {
		m  ark.Model
		ok bool
	}{
		{ark.Model{ModelType: ark.ModelTypeImage, SourceLocation: "registry.local:5000/team/echo:1.0"}, true},
		{ark.Model{ModelType: ark.ModelTypeImage, SourceLocation: "echo@sha256:" + strings.Repeat("ab", 32)}, true},
		{ark.Model{ModelType: ark.ModelTypeImage, SourceLocation: "/srv/models/echo"}, false},
		{ark.Model{ModelType: ark.ModelTypeImage, SourceLocation: "Echo:1"}, false},
		{ark.Model{ModelType: ark.ModelTypeTensorFlow, SourceLocation: "echo:1"}, false},
	} {
		if err := r.Check(&tc.m); (err == nil) != tc.ok {
			t.Errorf("Check(%s %q) = %v; want ok %v", tc.m.ModelType, tc.m.SourceLocation, err, tc.ok)
		}
	}
}

func TestAssign(t *testing.T) {
	dep := func(model, name, pos string) *appsv1.Deployment {
		return &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{LabelModel: model},
			Annotations: map[string]string{AnnotationModelName: name, AnnotationPosition: pos}}}
	}
	wl := func(model, name string, pos int) rollout.Workload {
		return rollout.Workload{ModelID: model, ModelName: name, Pos: pos}
	}
	for _, tc := range []struct {
		name string
		ws   []rollout.Workload
		cur  map[int]*appsv1.Deployment
		want []int
	}{
		{"first deployment", []rollout.Workload{wl("a", "echo", 0), wl("b", "other", 1)}, nil, []int{0, 1}},
		{"same model", []rollout.Workload{wl("a", "echo", 0)}, map[int]*appsv1.Deployment{4: dep("a", "echo", "0")}, []int{4}},
		{"new version of the model", []rollout.Workload{wl("a2", "echo", 0)}, map[int]*appsv1.Deployment{2: dep("a1", "echo", "0")}, []int{2}},
		{"canary beside the old version", []rollout.Workload{wl("a1", "echo", 0), wl("a2", "echo", 1)},
			map[int]*appsv1.Deployment{0: dep("a1", "echo", "0")}, []int{0, 1}},
		{"model id before name", []rollout.Workload{wl("a2", "echo", 0), wl("a1", "echo", 1)},
			map[int]*appsv1.Deployment{0: dep("a1", "echo", "0"), 1: dep("a2", "echo", "1")}, []int{1, 0}},
		{"same position", []rollout.Workload{wl("x", "other", 0)}, map[int]*appsv1.Deployment{0: dep("a", "echo", "0")}, []int{0}},
		{"removed entry keeps its slot", []rollout.Workload{wl("c", "third", 1)},
			map[int]*appsv1.Deployment{0: dep("a", "echo", "0"), 1: dep("b", "other", "1")}, []int{1}},
		{"new slot skips those in use", []rollout.Workload{wl("a", "echo", 0), wl("c", "third", 5)},
			map[int]*appsv1.Deployment{0: dep("a", "echo", "0"), 1: dep("b", "other", "1")}, []int{0, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := assign(tc.ws, tc.cur)
			if len(got) != len(tc.want) {
				t.Fatalf("assign = %v; want %v", got, tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Fatalf("assign = %v; want %v", got, tc.want)
				}
			}
		})
	}
}
