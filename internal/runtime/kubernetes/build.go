package kubernetes

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/arkserve/arkserve/internal/ark"
	"github.com/arkserve/arkserve/internal/rollout"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Labels and annotations that tie the objects to arkserve's service, model and update-log entry.
const (
	LabelService  = "arkserve.io/service"  // the service id, on every object and pod
	LabelSlot     = "arkserve.io/slot"     // which of the service's workloads (Deployment and Service)
	LabelModel    = "arkserve.io/model"    // the model id the workload runs now
	LabelTemplate = "arkserve.io/template" // a hash of the pod template: the pods of one version
	LabelManaged  = "app.kubernetes.io/managed-by"

	AnnotationModelName    = "arkserve.io/model-name"
	AnnotationModelVersion = "arkserve.io/model-version"
	AnnotationProject      = "arkserve.io/project"
	AnnotationUpdateTime   = "arkserve.io/update-time" // the update-log entry that last changed the spec
	AnnotationPosition     = "arkserve.io/position"    // the entry's index in the configuration
	AnnotationSpec         = "arkserve.io/spec"        // a hash of the Deployment's spec as arkserve wrote it

	managedBy = "arkserve"
	// Port is the port a model's container listens on (it finds it in $PORT too).
	Port = 8080
	// GPUResource is the extended resource that GPU specifications request.
	GPUResource corev1.ResourceName = "nvidia.com/gpu"
)

// objectName is the name of the Deployment and the Service of a service's workload slot: a DNS
// label (Services need one) of at most 63 characters.
func objectName(svcID string, slot int) string {
	return fmt.Sprintf("ark-%s-%d", svcID, slot)
}

// imageRE is what arkserve accepts as an image reference: [registry/]path[:tag][@digest].
var imageRE = regexp.MustCompile(`^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$`)

// CheckImage reports whether s is a container image reference.
func CheckImage(s string) error {
	if len(s) > 512 || !imageRE.MatchString(s) {
		// The message does not repeat s: it goes back to the client as it is.
		return errors.New("not a container image reference ([registry/]name[:tag][@sha256:digest], lower-case)")
	}
	return nil
}

// Check refuses models the Kubernetes runtime cannot run: it runs Image models, whose
// source_location is a container image.
func (r *Runtime) Check(m *ark.Model) error {
	if m.ModelType != ark.ModelTypeImage {
		return fmt.Errorf("model type %s cannot run on Kubernetes: this server runs Image models (source_location a container image)", m.ModelType)
	}
	return CheckImage(m.SourceLocation)
}

// deployment builds the Deployment of workload w in slot slot.
func (r *Runtime) deployment(w rollout.Workload, slot int) (*appsv1.Deployment, error) {
	name := objectName(w.ServiceID, slot)
	sel := map[string]string{LabelService: w.ServiceID, LabelSlot: strconv.Itoa(slot)}
	c, err := container(w)
	if err != nil {
		return nil, err
	}
	vols, mounts, err := volumes(w)
	if err != nil {
		return nil, err
	}
	c.VolumeMounts = mounts
	grace := int64(w.GracePeriod.Seconds())
	tmpl := corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{LabelService: w.ServiceID, LabelSlot: strconv.Itoa(slot),
			LabelModel: w.ModelID, LabelManaged: managedBy}},
		Spec: corev1.PodSpec{
			Containers:                    []corev1.Container{c},
			Volumes:                       vols,
			TerminationGracePeriodSeconds: &grace,
			Tolerations:                   r.Tolerations,
			// Models get no credentials of the cluster.
			AutomountServiceAccountToken: new(bool),
			EnableServiceLinks:           new(bool),
		},
	}
	tmpl.Labels[LabelTemplate] = hash(tmpl)
	surge, unavailable := intstr.FromInt32(int32(w.MaxSurge)), intstr.FromInt32(int32(w.MaxUnavailable))
	spec := appsv1.DeploymentSpec{
		Replicas: ptr(int32(w.Replicas)),
		Selector: &metav1.LabelSelector{MatchLabels: sel},
		Template: tmpl,
		Strategy: appsv1.DeploymentStrategy{Type: appsv1.RollingUpdateDeploymentStrategyType,
			RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &surge, MaxUnavailable: &unavailable}},
		ProgressDeadlineSeconds: ptr(int32(max(1, w.Deadline.Seconds()))),
	}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: r.Namespace,
			Labels: map[string]string{LabelService: w.ServiceID, LabelSlot: strconv.Itoa(slot), LabelModel: w.ModelID,
				LabelManaged: managedBy},
			Annotations: map[string]string{AnnotationModelName: w.ModelName, AnnotationModelVersion: w.ModelVersion,
				AnnotationProject: w.ProjectID, AnnotationUpdateTime: strconv.FormatInt(w.UpdateTime, 10),
				AnnotationPosition: strconv.Itoa(w.Pos), AnnotationSpec: hash(spec)}},
		Spec: spec,
	}, nil
}

// service builds the Service the gateway's endpoints of a slot come from.
func (r *Runtime) service(svcID string, slot int) *corev1.Service {
	labels := map[string]string{LabelService: svcID, LabelSlot: strconv.Itoa(slot), LabelManaged: managedBy}
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: objectName(svcID, slot), Namespace: r.Namespace, Labels: labels},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{LabelService: svcID, LabelSlot: strconv.Itoa(slot)},
			Ports: []corev1.ServicePort{{Name: "http", Port: Port, TargetPort: intstr.FromString("http"),
				Protocol: corev1.ProtocolTCP}},
		},
	}
}

// container is the model's container: its image and cmd, its envs, its readiness probe and its
// resources (requests equal to limits).
func container(w rollout.Workload) (corev1.Container, error) {
	env := []corev1.EnvVar{{Name: "PORT", Value: strconv.Itoa(Port)},
		{Name: "ARKSERVE_SERVICE_ID", Value: w.ServiceID}, {Name: "ARKSERVE_MODEL_ID", Value: w.ModelID}}
	keys := make([]string, 0, len(w.Env))
	for k := range w.Env {
		keys = append(keys, k)
	}
	slices.Sort(keys) // a stable template: the same envs never roll the pods
	for _, k := range keys {
		env = append(env, corev1.EnvVar{Name: k, Value: w.Env[k]})
	}
	c := corev1.Container{
		Name:           "model",
		Image:          w.Image,
		Env:            env,
		Ports:          []corev1.ContainerPort{{Name: "http", ContainerPort: Port, Protocol: corev1.ProtocolTCP}},
		ReadinessProbe: probe(w.Health),
	}
	if w.Cmd != "" {
		c.Command = []string{"/bin/sh", "-c", w.Cmd}
	}
	res, err := resources(w.Resources)
	if err != nil {
		return c, err
	}
	c.Resources = corev1.ResourceRequirements{Requests: res, Limits: res}
	return c, nil
}

// probe is the readiness probe of a model's health check (ark.DefaultHealth where it is silent).
func probe(h ark.Health) *corev1.Probe {
	h = h.WithDefaults()
	p := &corev1.Probe{
		InitialDelaySeconds: int32(h.InitialDelaySeconds),
		TimeoutSeconds:      int32(h.TimeoutSeconds),
		PeriodSeconds:       int32(h.PeriodSeconds),
		FailureThreshold:    int32(h.FailureThreshold),
	}
	if strings.EqualFold(h.CheckMethod, "EXEC") && h.Command != "" {
		p.Exec = &corev1.ExecAction{Command: []string{"/bin/sh", "-c", h.Command}}
		return p
	}
	scheme := corev1.URISchemeHTTP
	if strings.EqualFold(h.Protocol, "https") {
		scheme = corev1.URISchemeHTTPS
	}
	p.HTTPGet = &corev1.HTTPGetAction{Path: h.URL, Port: intstr.FromString("http"), Scheme: scheme}
	return p
}

// resources are the CPU, memory and GPUs of a specification. Kubernetes counts whole GPUs: a
// fraction (custom_spec gpu_p4) takes a whole one; NPUs have no standard resource name.
func resources(r ark.Resources) (corev1.ResourceList, error) {
	if r.NPU > 0 {
		return nil, fmt.Errorf("NPU specifications cannot run on Kubernetes (no device plugin is known for them)")
	}
	l := corev1.ResourceList{}
	if r.CPU > 0 {
		l[corev1.ResourceCPU] = *resource.NewMilliQuantity(int64(math.Round(r.CPU*1000)), resource.DecimalSI)
	}
	if r.MemoryMB > 0 {
		l[corev1.ResourceMemory] = *resource.NewQuantity(int64(r.MemoryMB)<<20, resource.BinarySI)
	}
	if r.GPU > 0 {
		l[GPUResource] = *resource.NewQuantity(int64(math.Ceil(r.GPU)), resource.DecimalSI)
	}
	return l, nil
}

// volumes are the entry's log_volume (host paths, on a dedicated pool only: a shared pool's nodes
// are not the user's) and persistent_volumes (PersistentVolumeClaims of the same name in the
// namespace).
func volumes(w rollout.Workload) ([]corev1.Volume, []corev1.VolumeMount, error) {
	var vols []corev1.Volume
	var mounts []corev1.VolumeMount
	add := func(src corev1.VolumeSource, mountPath string) {
		name := fmt.Sprintf("vol-%d", len(vols))
		vols = append(vols, corev1.Volume{Name: name, VolumeSource: src})
		mounts = append(mounts, corev1.VolumeMount{Name: name, MountPath: path.Clean(mountPath)})
	}
	for _, lv := range w.LogVolumes {
		if !w.DedicatedPool {
			return nil, nil, fmt.Errorf("log_volume needs a dedicated pool (cluster_id or pool_name): host paths of shared nodes are not mounted")
		}
		add(corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: path.Clean("/" + lv.HostPath),
			Type: ptr(corev1.HostPathDirectoryOrCreate)}}, lv.MountPath)
	}
	for _, pv := range w.PersistentVolumes {
		claim := pv.Name
		if claim == "" {
			return nil, nil, fmt.Errorf("persistent_volumes: a name (the PersistentVolumeClaim) is needed on Kubernetes")
		}
		add(corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim}}, pv.MountPath)
	}
	return vols, mounts, nil
}

func hash(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // API types always marshal
	}
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:6])
}

func ptr[T any](v T) *T { return &v }
