// Package kubernetes runs arkserve's services on a Kubernetes cluster: each config entry of a
// service is a Deployment (and a Service whose EndpointSlices say which pods are ready), rolled out
// by Kubernetes within the entry's max_surge and max_unavailable. Runtime implements
// rollout.Deployer: the rollout engine applies a service's target from its per-service reconcile
// (so whatever decides who drives a service decides it here too) and Runtime reports, from
// informers' caches, how far the Deployments got. Informers notify the engine of every change of
// a service's Deployments, pods and EndpointSlices; nothing polls the API.
package kubernetes

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/arkserve/arkserve/internal/ark"
	"github.com/arkserve/arkserve/internal/rollout"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"
)

var _ rollout.Deployer = (*Runtime)(nil)

// Runtime is the Kubernetes runtime. Set its fields, call Open, and Close when done.
type Runtime struct {
	Client    kubernetes.Interface
	Namespace string // where the service's objects live; it must exist
	// Tolerations are added to every pod (for example of a test cluster's fake nodes).
	Tolerations []corev1.Toleration
	// Notify is called with a service's id when one of its objects changed (Engine.Notify).
	Notify func(serviceID string)
	Logger *slog.Logger // nil means slog.Default()

	stop         chan struct{}                   // closed by Close: ends the informers
	factory      informers.SharedInformerFactory // the namespace's objects of arkserve
	nodeFactory  informers.SharedInformerFactory // the cluster's nodes
	eventFactory informers.SharedInformerFactory // the namespace's probe failures of pods
	deployments  appslisters.DeploymentLister
	services     corelisters.ServiceLister
	pods         corelisters.PodLister
	slices       discoverylisters.EndpointSliceLister
	nodes        corelisters.NodeLister
	probeEvents  cache.Indexer // events of failed probes, indexed by the pod's name

	// mu guards written: the Deployments this server wrote and the informers may not have seen
	// yet, and deleted: those it deleted (by uid) that they may still hold.
	mu      sync.Mutex
	written map[string]*appsv1.Deployment
	deleted map[types.UID]bool
}

// SyncTimeout bounds Open's wait for the informers' first lists.
const SyncTimeout = time.Minute

// Open starts the informers and waits until their caches hold what the cluster has.
func (r *Runtime) Open(ctx context.Context) error {
	if r.Client == nil || r.Namespace == "" {
		return errors.New("kubernetes: Runtime needs a Client and a Namespace")
	}
	r.written, r.deleted = map[string]*appsv1.Deployment{}, map[types.UID]bool{}
	// Only arkserve's objects: the namespace may hold others, which are none of its business.
	r.factory = informers.NewSharedInformerFactoryWithOptions(r.Client, 0, informers.WithNamespace(r.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = LabelService }))
	r.nodeFactory = informers.NewSharedInformerFactory(r.Client, 0)
	notify := cache.ResourceEventHandlerFuncs{
		AddFunc:    r.changed,
		UpdateFunc: func(_, o any) { r.changed(o) },
		DeleteFunc: r.changed,
	}
	// A Deployment this server deleted is skipped until the informer sees it go; then it can be
	// forgotten.
	if _, err := r.factory.Apps().V1().Deployments().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		DeleteFunc: r.forgetDeleted}); err != nil {
		return err
	}
	for _, inf := range []cache.SharedIndexInformer{
		r.factory.Apps().V1().Deployments().Informer(),
		r.factory.Core().V1().Pods().Informer(),
		r.factory.Discovery().V1().EndpointSlices().Informer(),
		r.factory.Core().V1().Services().Informer(),
	} {
		if _, err := inf.AddEventHandler(notify); err != nil {
			return err
		}
	}
	// The kubelet reports a failing probe as an event (reason Unhealthy) of the pod, not in the
	// pod's status, whose Ready condition only says which containers are not ready.
	r.eventFactory = informers.NewSharedInformerFactoryWithOptions(r.Client, 0, informers.WithNamespace(r.Namespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = "involvedObject.kind=Pod,reason=" + probeFailedReason
		}))
	events := r.eventFactory.Core().V1().Events().Informer()
	if err := events.AddIndexers(cache.Indexers{podIndex: func(o any) ([]string, error) {
		return []string{o.(*corev1.Event).InvolvedObject.Name}, nil
	}}); err != nil {
		return err
	}
	podOfEvent := func(o any) {
		if ev, ok := o.(*corev1.Event); ok {
			if p, err := r.pods.Pods(r.Namespace).Get(ev.InvolvedObject.Name); err == nil {
				r.changed(p)
			}
		}
	}
	if _, err := events.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: podOfEvent,
		UpdateFunc: func(_, o any) { podOfEvent(o) }}); err != nil {
		return err
	}
	r.probeEvents = events.GetIndexer()
	r.deployments = r.factory.Apps().V1().Deployments().Lister()
	r.services = r.factory.Core().V1().Services().Lister()
	r.pods = r.factory.Core().V1().Pods().Lister()
	r.slices = r.factory.Discovery().V1().EndpointSlices().Lister()
	r.nodes = r.nodeFactory.Core().V1().Nodes().Lister()
	// The informers run until Close, not until ctx (Open's) ends.
	r.stop = make(chan struct{})
	r.factory.Start(r.stop)
	r.nodeFactory.Start(r.stop)
	r.eventFactory.Start(r.stop)
	sctx, cancel := context.WithTimeout(ctx, SyncTimeout)
	defer cancel()
	for _, f := range []informers.SharedInformerFactory{r.factory, r.nodeFactory, r.eventFactory} {
		for typ, ok := range f.WaitForCacheSync(sctx.Done()) {
			if !ok {
				r.Close()
				return fmt.Errorf("kubernetes: the informer of %v did not sync: %w", typ, sctx.Err())
			}
		}
	}
	return nil
}

// Close stops the informers and waits for their goroutines.
func (r *Runtime) Close() {
	if r.stop != nil {
		close(r.stop)
		r.stop = nil
	}
	for _, f := range []informers.SharedInformerFactory{r.factory, r.nodeFactory, r.eventFactory} {
		if f != nil {
			f.Shutdown()
		}
	}
}

func (r *Runtime) log() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.Default()
}

// changed notifies the service an object belongs to.
func (r *Runtime) changed(o any) {
	if d, ok := o.(cache.DeletedFinalStateUnknown); ok {
		o = d.Obj
	}
	m, ok := o.(metav1.Object)
	if !ok || r.Notify == nil {
		return
	}
	if id := m.GetLabels()[LabelService]; id != "" {
		r.Notify(id)
	}
}

// forgetDeleted drops a Deployment the informer saw deleted from the ones this server deleted.
func (r *Runtime) forgetDeleted(o any) {
	if d, ok := o.(cache.DeletedFinalStateUnknown); ok {
		o = d.Obj
	}
	if d, ok := o.(*appsv1.Deployment); ok {
		r.mu.Lock()
		delete(r.deleted, d.UID)
		r.mu.Unlock()
	}
}

// current returns the service's Deployments as this server knows them: the informer's, or what it
// wrote when that is newer; without those it deleted.
func (r *Runtime) current(svcID string) (map[int]*appsv1.Deployment, error) {
	ds, err := r.deployments.List(labels.SelectorFromSet(labels.Set{LabelService: svcID}))
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[int]*appsv1.Deployment{}
	seen := map[string]bool{}
	for _, d := range ds {
		seen[d.Name] = true
		if w := r.written[d.Name]; w != nil && w.Generation > d.Generation {
			d = w
		} else if w != nil && w.UID == d.UID {
			delete(r.written, d.Name) // the informer has caught up
		}
		if r.deleted[d.UID] || d.DeletionTimestamp != nil {
			continue
		}
		if slot, err := strconv.Atoi(d.Labels[LabelSlot]); err == nil {
			out[slot] = d
		}
	}
	for name, w := range r.written {
		if !seen[name] && w.Labels[LabelService] == svcID {
			slot, _ := strconv.Atoi(w.Labels[LabelSlot])
			out[slot] = w
		}
	}
	return out, nil
}

// assign picks the slot of each workload: the Deployment that ran the same model, else the same
// model name (a new version), else the same position, else a new slot.
func assign(ws []rollout.Workload, cur map[int]*appsv1.Deployment) []int {
	slots := make([]int, len(ws))
	taken := map[int]bool{}
	for i := range slots {
		slots[i] = -1
	}
	matches := []func(w rollout.Workload, d *appsv1.Deployment) bool{
		func(w rollout.Workload, d *appsv1.Deployment) bool { return d.Labels[LabelModel] == w.ModelID },
		func(w rollout.Workload, d *appsv1.Deployment) bool {
			return w.ModelName != "" && d.Annotations[AnnotationModelName] == w.ModelName
		},
		func(w rollout.Workload, d *appsv1.Deployment) bool {
			return d.Annotations[AnnotationPosition] == strconv.Itoa(w.Pos)
		},
	}
	keys := make([]int, 0, len(cur))
	for k := range cur {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, match := range matches {
		for i, w := range ws {
			if slots[i] >= 0 {
				continue
			}
			for _, k := range keys {
				if !taken[k] && match(w, cur[k]) {
					slots[i], taken[k] = k, true
					break
				}
			}
		}
	}
	next := 0
	for i := range slots {
		if slots[i] >= 0 {
			continue
		}
		for cur[next] != nil || taken[next] {
			next++
		}
		slots[i], taken[next] = next, true
	}
	return slots
}

// Apply writes the service's Deployments and Services (rollout.Deployer).
func (r *Runtime) Apply(ctx context.Context, svcID string, ws []rollout.Workload, prune bool) ([]rollout.WorkloadStatus, bool, error) {
	cur, err := r.current(svcID)
	if err != nil {
		return nil, false, err
	}
	slots := assign(ws, cur)
	sts := make([]rollout.WorkloadStatus, len(ws))
	for i, w := range ws {
		want, err := r.deployment(w, slots[i])
		if err != nil {
			// The configuration cannot run here (a volume or a specification Kubernetes has
			// no place for): that fails the rollout, it is no error of the cluster.
			sts[i].Failed = err.Error()
			continue
		}
		d, err := r.write(ctx, cur[slots[i]], want)
		if err != nil {
			return nil, false, err
		}
		if err := r.ensureService(ctx, svcID, slots[i]); err != nil {
			return nil, false, err
		}
		sts[i] = r.status(d, w)
	}
	used := map[int]bool{}
	for _, s := range slots {
		used[s] = true
	}
	others := false
	for slot, d := range cur {
		if used[slot] {
			continue
		}
		if !prune {
			others = true
			continue
		}
		if err := r.deleteSlot(ctx, d); err != nil {
			return nil, false, err
		}
	}
	return sts, others, nil
}

// write creates the Deployment or updates it when arkserve's spec of it changed.
func (r *Runtime) write(ctx context.Context, cur, want *appsv1.Deployment) (*appsv1.Deployment, error) {
	api := r.Client.AppsV1().Deployments(r.Namespace)
	var d *appsv1.Deployment
	var err error
	switch {
	case cur == nil:
		d, err = api.Create(ctx, want, metav1.CreateOptions{FieldManager: managedBy})
		if apierrors.IsAlreadyExists(err) {
			// Created by an earlier pass the informer has not shown yet: update it.
			if cur, err = api.Get(ctx, want.Name, metav1.GetOptions{}); err != nil {
				return nil, err
			}
			return r.write(ctx, cur, want)
		}
	case cur.Annotations[AnnotationSpec] == want.Annotations[AnnotationSpec]:
		// Unchanged (a weight-only update changes no Deployment): its annotations keep naming
		// the update-log entry that last changed it.
		return cur, nil
	default:
		upd := cur.DeepCopy() // never change the informer's object
		upd.Labels, upd.Annotations, upd.Spec = want.Labels, want.Annotations, want.Spec
		d, err = api.Update(ctx, upd, metav1.UpdateOptions{FieldManager: managedBy})
	}
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.written[d.Name] = d
	r.mu.Unlock()
	return d, nil
}

func (r *Runtime) ensureService(ctx context.Context, svcID string, slot int) error {
	if _, err := r.services.Services(r.Namespace).Get(objectName(svcID, slot)); err == nil {
		return nil
	}
	_, err := r.Client.CoreV1().Services(r.Namespace).Create(ctx, r.service(svcID, slot), metav1.CreateOptions{FieldManager: managedBy})
	if apierrors.IsAlreadyExists(err) {
		return nil
	}
	return err
}

// deleteSlot deletes a workload's Deployment (its ReplicaSets and pods in the background) and
// Service.
func (r *Runtime) deleteSlot(ctx context.Context, d *appsv1.Deployment) error {
	// Marked before the call, so that the informer's report of the deletion (forgetDeleted)
	// cannot come first and leave the mark for ever.
	r.mu.Lock()
	delete(r.written, d.Name)
	r.deleted[d.UID] = true
	r.mu.Unlock()
	bg := metav1.DeletePropagationBackground
	err := r.Client.AppsV1().Deployments(r.Namespace).Delete(ctx, d.Name, metav1.DeleteOptions{PropagationPolicy: &bg})
	if err != nil && !apierrors.IsNotFound(err) {
		r.mu.Lock()
		delete(r.deleted, d.UID)
		r.mu.Unlock()
		return err
	}
	err = r.Client.CoreV1().Services(r.Namespace).Delete(ctx, d.Name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	return nil
}

// Delete deletes every Deployment and Service of the service and reports how many of its pods
// are left, terminating ones included (rollout.Deployer). The Deployments go with background
// propagation: their pods get their grace period, and the pods informer reports each deletion.
func (r *Runtime) Delete(ctx context.Context, svcID string) (left int, err error) {
	cur, err := r.current(svcID)
	if err != nil {
		return 0, err
	}
	done := map[string]bool{} // Services deleted with their Deployment
	for _, d := range cur {
		if err := r.deleteSlot(ctx, d); err != nil {
			return 0, err
		}
		done[d.Name] = true
	}
	sel := labels.SelectorFromSet(labels.Set{LabelService: svcID})
	// Services of slots whose Deployment is gone already.
	svcs, err := r.services.Services(r.Namespace).List(sel)
	if err != nil {
		return 0, err
	}
	for _, s := range svcs {
		if done[s.Name] {
			continue
		}
		err := r.Client.CoreV1().Services(r.Namespace).Delete(ctx, s.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return 0, err
		}
	}
	pods, err := r.pods.Pods(r.Namespace).List(sel)
	if err != nil {
		return 0, err
	}
	return len(pods), nil
}

// status is how far Deployment d (as written for w) got. The Deployment controller's status
// counts only once it observed the generation written, so a stale status never completes or
// fails a rollout.
func (r *Runtime) status(d *appsv1.Deployment, w rollout.Workload) rollout.WorkloadStatus {
	var s rollout.WorkloadStatus
	want := int32(w.Replicas)
	tmpl := d.Spec.Template.Labels[LabelTemplate]
	pods, err := r.pods.Pods(r.Namespace).List(labels.SelectorFromSet(labels.Set{LabelService: w.ServiceID,
		LabelSlot: d.Labels[LabelSlot], LabelTemplate: tmpl}))
	if err != nil {
		r.log().Warn("list pods", "err", err)
	}
	slices.SortFunc(pods, func(a, b *corev1.Pod) int { return a.CreationTimestamp.Compare(b.CreationTimestamp.Time) })
	for _, p := range pods {
		if p.DeletionTimestamp != nil {
			continue
		}
		if podReady(p) {
			s.Ready++
		} else if why := podProblem(p, r.probeFailure(p)); why != "" {
			s.Problems = append(s.Problems, fmt.Sprintf("instance %s: %s", p.Name, why))
		}
	}
	st := d.Status
	if st.ObservedGeneration < d.Generation {
		return s
	}
	s.Backends = r.backends(d.Name)
	s.Complete = st.UpdatedReplicas == want && st.AvailableReplicas == want && st.Replicas == want &&
		d.Spec.Replicas != nil && *d.Spec.Replicas == want
	for _, c := range st.Conditions {
		if c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionFalse && c.Reason == "ProgressDeadlineExceeded" {
			s.Failed = fmt.Sprintf("the rollout made no progress within the deploy timeout (%s): %s", w.Deadline, c.Message)
			if len(s.Problems) > 0 {
				s.Failed += "; " + s.Problems[0]
			}
		}
	}
	return s
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// probeFailedReason is the reason of the kubelet's events of a failed probe.
const probeFailedReason = "Unhealthy"

// podIndex indexes events by the name of their pod.
const podIndex = "pod"

// probeFailure returns the message of the newest probe failure the kubelet reported for pod p
// ("Readiness probe failed: HTTP probe failed with statuscode: 503"), "" for none.
func (r *Runtime) probeFailure(p *corev1.Pod) string {
	evs, err := r.probeEvents.ByIndex(podIndex, p.Name)
	if err != nil {
		return ""
	}
	var newest *corev1.Event
	for _, o := range evs {
		ev := o.(*corev1.Event)
		if ev.InvolvedObject.UID != p.UID { // an earlier pod of the same name
			continue
		}
		if newest == nil || eventTime(ev).After(eventTime(newest)) {
			newest = ev
		}
	}
	if newest == nil {
		return ""
	}
	return newest.Reason + ": " + newest.Message
}

// eventTime is when an event last happened, whichever API wrote it.
func eventTime(ev *corev1.Event) time.Time {
	switch {
	case ev.Series != nil:
		return ev.Series.LastObservedTime.Time
	case !ev.LastTimestamp.IsZero():
		return ev.LastTimestamp.Time
	case !ev.EventTime.IsZero():
		return ev.EventTime.Time
	}
	return ev.CreationTimestamp.Time
}

// podProblem says why a pod is not ready, in the words of Kubernetes: unschedulable, a container
// waiting (image pull errors, crash loops) or terminated, the kubelet's report of a failed probe
// (probe), a readiness condition's message.
func podProblem(p *corev1.Pod, probe string) string {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason != "" {
			return c.Reason + ": " + c.Message
		}
	}
	for _, cs := range p.Status.ContainerStatuses {
		if w := cs.State.Waiting; w != nil && w.Reason != "" && w.Reason != "ContainerCreating" {
			return w.Reason + ": " + w.Message
		}
		if t := cs.State.Terminated; t != nil {
			return fmt.Sprintf("%s (exit code %d): %s", t.Reason, t.ExitCode, t.Message)
		}
	}
	if probe != "" {
		return probe
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionFalse && c.Message != "" {
			return c.Reason + ": " + c.Message
		}
	}
	return ""
}

// backends are the ready endpoints of a workload's Service, from its EndpointSlices.
func (r *Runtime) backends(name string) []ark.Backend {
	sl, err := r.slices.EndpointSlices(r.Namespace).List(labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: name}))
	if err != nil {
		r.log().Warn("list endpoint slices", "err", err)
		return nil
	}
	var out []ark.Backend
	seen := map[string]bool{}
	for _, s := range sl {
		port := int32(Port)
		for _, p := range s.Ports {
			if p.Port != nil && (p.Name == nil || *p.Name == "http") {
				port = *p.Port
			}
		}
		for _, ep := range s.Endpoints {
			// A nil ready condition means unknown, to be taken as ready (the API's doc).
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready || len(ep.Addresses) == 0 {
				continue
			}
			id := ep.Addresses[0]
			if ep.TargetRef != nil {
				id = ep.TargetRef.Name
			}
			if seen[id] {
				continue // a pod in two slices while they are rewritten
			}
			seen[id] = true
			out = append(out, ark.Backend{InstanceID: id, Addr: fmt.Sprintf("%s:%d", ep.Addresses[0], port)})
		}
	}
	slices.SortFunc(out, func(a, b ark.Backend) int {
		if a.InstanceID < b.InstanceID {
			return -1
		}
		if a.InstanceID > b.InstanceID {
			return 1
		}
		return 0
	})
	return out
}

// Usage reports the cluster as arkserve's resource pool (httpapi.Server.Capacity): its capacity is
// the allocatable CPU, memory and GPUs of the nodes that take pods (Ready, not cordoned), and what
// is used is what arkserve's pods request. Pods of others share those nodes: the scheduler, not
// this figure, has the last word on whether a pod fits.
func (r *Runtime) Usage() (used, capacity ark.Resources) {
	nodes, err := r.nodes.List(labels.Everything())
	if err != nil {
		r.log().Warn("list nodes", "err", err)
	}
	for _, n := range nodes {
		if !schedulable(n) {
			continue
		}
		capacity = capacity.Add(fromList(n.Status.Allocatable))
	}
	pods, err := r.pods.Pods(r.Namespace).List(labels.Everything())
	if err != nil {
		r.log().Warn("list pods", "err", err)
	}
	for _, p := range pods {
		if p.Spec.NodeName == "" || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		for _, c := range p.Spec.Containers {
			used = used.Add(fromList(c.Resources.Requests))
		}
	}
	return used, capacity
}

// Nodes counts the cluster's nodes and those that take pods now (Ready, not cordoned): the
// cluster's nodes in /clusters.
func (r *Runtime) Nodes() (count, available int) {
	nodes, err := r.nodes.List(labels.Everything())
	if err != nil {
		r.log().Warn("list nodes", "err", err)
	}
	for _, n := range nodes {
		if schedulable(n) {
			available++
		}
	}
	return len(nodes), available
}

// schedulable reports whether a node takes new pods: Ready and not cordoned.
func schedulable(n *corev1.Node) bool {
	if n.Spec.Unschedulable {
		return false
	}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func fromList(l corev1.ResourceList) ark.Resources {
	var r ark.Resources
	if q, ok := l[corev1.ResourceCPU]; ok {
		r.CPU = float64(q.MilliValue()) / 1000
	}
	if q, ok := l[corev1.ResourceMemory]; ok {
		r.MemoryMB = int(q.Value() >> 20)
	}
	if q, ok := l[GPUResource]; ok {
		r.GPU = float64(q.Value())
	}
	return r
}
