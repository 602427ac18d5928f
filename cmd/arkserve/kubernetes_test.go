package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/arkserve/arkserve/internal/postgres/pgtest"
	"github.com/arkserve/arkserve/internal/runtime/kubernetes"
	"github.com/arkserve/arkserve/internal/runtime/kubernetes/kubetest"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// The Kubernetes tests run against the loopback control plane of scripts/k8s-cluster.sh (etcd,
// kube-apiserver, controller manager, scheduler, and KWOK as the kubelet of one fake node): real
// Deployments, ReplicaSets, Services and EndpointSlices, pods that run nothing. So the gateway
// cannot reach the pods: routing is checked on the table built from the EndpointSlices.

// kubeCluster is the test's namespace on the cluster, with a server to start on it.
type kubeCluster struct{ *kubetest.Cluster }

func newKubeCluster(t *testing.T) *kubeCluster { return &kubeCluster{kubetest.New(t)} }

// start starts a server with --runtime kubernetes on the cluster's namespace.
func (k *kubeCluster) start(t *testing.T) (*Main, *client, string) {
	t.Helper()
	t.Setenv("ARKSERVE_ADMIN_PASSWORD", testPassword)
	m := MustRunMain(t, dataDir(t), func(cfg *Config) {
		cfg.Runtime = "kubernetes"
		cfg.Kubernetes = KubernetesConfig{Kubeconfig: k.Kubeconfig, Namespace: k.Namespace,
			Tolerations: []string{kubetest.KWOKToleration}}
	})
	t.Cleanup(func() { m.Close() })
	c := newClient(t, m)
	return m, c, c.login()
}

// imageModel registers an Image model of a container image.
func (c *client) imageModel(pid, name, version, image string) string {
	c.tb.Helper()
	cfg, _ := json.Marshal(map[string]any{"health": map[string]any{"url": "/health", "period_seconds": "1"}})
	status, _, doc := c.do("POST", "/v1/"+pid+"/models", map[string]any{"model_name": name, "model_version": version,
		"model_type": "Image", "source_location": image, "initial_config": string(cfg)})
	if status != http.StatusOK {
		c.tb.Fatalf("create model: %d %v", status, doc)
	}
	return obj(doc, "model_id").(string)
}

func kubernetesEnv(k *kubeCluster) runtimeEnv {
	return runtimeEnv{name: "kubernetes", start: k.start,
		model: func(c *client, pid, name, version string) string {
			return c.imageModel(pid, name, version, "registry.local/"+name+":"+version)
		},
		broken:    func(c *client, pid string) string { return c.imageModel(pid, "broken", "1.0.0", kubetest.Unpullable) },
		brokenWhy: "ErrImagePull",
		instances: func(t *testing.T, sid string) int {
			pods, err := k.Client.CoreV1().Pods(k.Namespace).List(context.Background(),
				metav1.ListOptions{LabelSelector: kubernetes.LabelService + "=" + sid})
			if err != nil {
				t.Fatal(err)
			}
			return len(pods.Items)
		}}
}

func TestRolloutSuiteKubernetes(t *testing.T) { rolloutSuite(t, kubernetesEnv(newKubeCluster(t))) }

// waitDeployment waits until the service's Deployment of slot 0 passes ok.
func (k *kubeCluster) waitDeployment(t *testing.T, sid string, ok func(d *appsv1.Deployment) bool) *appsv1.Deployment {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		d, err := k.Client.AppsV1().Deployments(k.Namespace).Get(context.Background(), "ark-"+sid+"-0", metav1.GetOptions{})
		if err == nil && ok(d) {
			return d
		}
		if time.Now().After(deadline) {
			t.Fatalf("Deployment of %s: %v; %+v", sid, err, d)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestKubernetesDeployments: what a deployment and a rolling update write to the cluster: the
// Deployment's replicas, strategy, labels, annotations and pods, and ReplicaSets that carry the
// surge bound of the update; /clusters shows the nodes' allocatable resources and what the pods
// request; a model that cannot run on Kubernetes is refused.
func TestKubernetesDeployments(t *testing.T) {
	k := newKubeCluster(t)
	_, c, pid := k.start(t)
	v1 := c.imageModel(pid, "echo", "1.0.1", "registry.local/echo:1.0.1")
	v2 := c.imageModel(pid, "echo", "1.0.2", "registry.local/echo:1.0.2")
	sid := c.deployWait(pid, "kube", conf(v1, 100, 3, 1, 0))

	d := k.waitDeployment(t, sid, func(*appsv1.Deployment) bool { return true })
	ru := d.Spec.Strategy.RollingUpdate
	if *d.Spec.Replicas != 3 || ru.MaxSurge.IntValue() != 1 || ru.MaxUnavailable.IntValue() != 0 ||
		*d.Spec.Template.Spec.TerminationGracePeriodSeconds != 2 {
		t.Errorf("Deployment replicas %d, surge %v, unavailable %v, grace %d", *d.Spec.Replicas, ru.MaxSurge, ru.MaxUnavailable,
			*d.Spec.Template.Spec.TerminationGracePeriodSeconds)
	}
	if d.Labels[kubernetes.LabelService] != sid || d.Labels[kubernetes.LabelModel] != v1 ||
		d.Annotations[kubernetes.AnnotationModelVersion] != "1.0.1" || d.Annotations[kubernetes.AnnotationUpdateTime] == "" {
		t.Errorf("Deployment labels %v annotations %v", d.Labels, d.Annotations)
	}
	cont := d.Spec.Template.Spec.Containers[0]
	if cont.Image != "registry.local/echo:1.0.1" || cont.Resources.Limits.Cpu().String() != "250m" ||
		cont.Resources.Limits.Memory().String() != "256Mi" || cont.ReadinessProbe.HTTPGet.Path != "/health" {
		t.Errorf("container %+v", cont)
	}

	// The cluster as the pool: one KWOK node of 32 cores, 256 GiB and 8 GPUs; 3 pods of 0.25 cores.
	_, _, doc := c.do("GET", "/v1/"+pid+"/clusters", nil)
	cl := obj(doc, "clusters").([]any)[0]
	for key, want := range map[string]string{"total_cpu_cores": "32", "total_memory": "262144", "total_gpus": "8",
		"allocated_cpu_cores": "0.75", "allocated_memory": "768"} {
		if got := obj(cl, key); got == nil || got.(json.Number).String() != want {
			t.Errorf("clusters %s = %v; want %s", key, got, want)
		}
	}
	if n := obj(cl, "nodes"); obj(n, "count").(json.Number).String() != "1" || obj(n, "available_count").(json.Number).String() != "1" ||
		!strings.HasPrefix(obj(cl, "description").(string), "Kubernetes cluster, namespace ") {
		t.Errorf("clusters: nodes %v, description %v; want the one KWOK node", n, obj(cl, "description"))
	}

	// A new version with surge 2 and unavailable 1 rolls the same Deployment: a new ReplicaSet
	// beside the old one, each allowed at most 3 + 2 pods.
	c.updateWait(pid, sid, "SUCCESS", conf(v2, 100, 3, 2, 1))
	d = k.waitDeployment(t, sid, func(d *appsv1.Deployment) bool { return d.Labels[kubernetes.LabelModel] == v2 })
	rss, err := k.Client.AppsV1().ReplicaSets(k.Namespace).List(context.Background(),
		metav1.ListOptions{LabelSelector: kubernetes.LabelService + "=" + sid})
	if err != nil {
		t.Fatal(err)
	}
	var sizes []int32
	for _, rs := range rss.Items {
		sizes = append(sizes, *rs.Spec.Replicas)
		if got := rs.Annotations["deployment.kubernetes.io/max-replicas"]; got != "5" {
			t.Errorf("ReplicaSet %s max-replicas %q; want 5 (3 + surge 2)", rs.Name, got)
		}
	}
	if len(sizes) != 2 || sizes[0]+sizes[1] != 3 || sizes[0]*sizes[1] != 0 {
		t.Errorf("ReplicaSet sizes %v; want the new one at 3 and the old one at 0", sizes)
	}
	if ru := d.Spec.Strategy.RollingUpdate; ru.MaxSurge.IntValue() != 2 || ru.MaxUnavailable.IntValue() != 1 {
		t.Errorf("strategy %v/%v; want 2/1", ru.MaxSurge, ru.MaxUnavailable)
	}

	// A TensorFlow model (a local directory) cannot run on Kubernetes: refused with a 400.
	status, _, mdoc := c.do("POST", "/v1/"+pid+"/models", map[string]any{"model_name": "tf", "model_version": "1.0.0",
		"model_type": "TensorFlow", "source_location": modelDir(t, "1.0.0")})
	if status != http.StatusOK {
		t.Fatalf("create TensorFlow model: %d %v", status, mdoc)
	}
	status, _, edoc := c.do("PUT", "/v1/"+pid+"/services/"+sid, map[string]any{"config": []any{
		conf(obj(mdoc, "model_id").(string), 100, 1, 1, 0)}})
	if status != http.StatusBadRequest || obj(edoc, "error_code") != "ModelArts.3037" ||
		!strings.Contains(obj(edoc, "error_msg").(string), "Kubernetes") {
		t.Errorf("update with a TensorFlow model: %d %v; want 400 ModelArts.3037 naming Kubernetes", status, edoc)
	}
	status, _, edoc = c.do("POST", "/v1/"+pid+"/models", map[string]any{"model_name": "img", "model_version": "1.0.0",
		"model_type": "Image", "source_location": "/not/an image"})
	if status != http.StatusBadRequest || obj(edoc, "error_code") != "ModelArts.3037" {
		t.Errorf("Image model with a bad image reference: %d %v; want 400 ModelArts.3037", status, edoc)
	}
}

// TestKubernetesReplicaKilledMidRollout: two replicas of arkserve on one PostgreSQL database and
// one cluster. The replica that drives a rolling update of 20 pods is killed (SIGKILL) right after
// accepting it; the other takes the service over once the lease expires and finishes the entry
// SUCCESS from the Deployment's status, without restarting the rollout.
func TestKubernetesReplicaKilledMidRollout(t *testing.T) {
	k := newKubeCluster(t)
	dsn := pgtest.NewDatabase(t)
	key := filepath.Join(t.TempDir(), "master.key")
	if err := os.WriteFile(key, bytes.Repeat([]byte{7}, 32), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	a := startServerProcess(t, dataDir(t), addr, "--database", dsn, "--master-key-file", key, "--runtime", "kubernetes",
		"--kubeconfig", k.Kubeconfig, "--kubernetes-namespace", k.Namespace, "--kubernetes-tolerations", kubetest.KWOKToleration)
	c := &client{tb: t, base: "http://" + addr, http: &http.Client{Timeout: 30 * time.Second}}
	pid := c.login()
	v1 := c.imageModel(pid, "echo", "1.0.1", "registry.local/echo:1.0.1")
	v2 := c.imageModel(pid, "echo", "1.0.2", "registry.local/echo:1.0.2")
	sid := c.deployWait(pid, "replicas", conf(v1, 100, 20, 1, 0))

	// The second replica: it cannot drive the service while the first holds its lease.
	t.Setenv("ARKSERVE_ADMIN_PASSWORD", testPassword)
	b := MustRunMain(t, dataDir(t), func(cfg *Config) {
		cfg.Database, cfg.MasterKeyFile, cfg.Runtime = dsn, key, "kubernetes"
		cfg.Kubernetes = KubernetesConfig{Kubeconfig: k.Kubeconfig, Namespace: k.Namespace,
			Tolerations: []string{kubetest.KWOKToleration}}
	})
	t.Cleanup(func() { b.Close() })
	cb := newClient(t, b)
	cb.login()

	c.update(pid, sid, conf(v2, 100, 20, 1, 0))
	a.cmd.Process.Kill()
	<-a.done
	if _, _, doc := cb.do("GET", "/v1/"+pid+"/services/"+sid+"/logs", nil); newestResult(doc.(map[string]any)) != "RUNNING" {
		t.Fatalf("the entry was %v when the driving replica was killed; want RUNNING", newestResult(doc.(map[string]any)))
	}
	if r := newestResult(cb.waitFinal(pid, sid)); r != "SUCCESS" {
		t.Fatalf("the entry ended %v; want SUCCESS; events %v", r, cb.events(pid, sid))
	}
	waitRoute(t, b, sid, routeWant{v2, 100, 20})
	if d := k.waitDeployment(t, sid, func(*appsv1.Deployment) bool { return true }); d.Status.ObservedGeneration != d.Generation ||
		d.Generation != 2 {
		t.Errorf("Deployment generation %d (observed %d); want 2: one update, not restarted", d.Generation, d.Status.ObservedGeneration)
	}
}

// TestKubernetesStopWaitsForPods: a stopped service runs nothing. Its pods get their grace period
// (the test cluster keeps pods of kubetest.Graceful at least 2 s, at most the grace period), and
// the service stays stopping until the last one is gone.
func TestKubernetesStopWaitsForPods(t *testing.T) {
	k := newKubeCluster(t)
	_, c, pid := k.start(t)
	model := c.imageModel(pid, "graceful", "1.0.0", kubetest.Graceful)
	cfg := conf(model, 100, 2, 1, 0)
	cfg["additional_properties"].(map[string]any)[model].(map[string]any)["termination_grace_period_seconds"] = 6
	sid := c.deployWait(pid, "graceful", cfg)
	pods := func() int {
		l, err := k.Client.CoreV1().Pods(k.Namespace).List(context.Background(),
			metav1.ListOptions{LabelSelector: kubernetes.LabelService + "=" + sid})
		if err != nil {
			t.Fatal(err)
		}
		return len(l.Items)
	}
	if n := pods(); n != 2 {
		t.Fatalf("%d pods running; want 2", n)
	}

	if st, _, doc := c.do("PUT", "/v1/"+pid+"/services/"+sid, map[string]any{"status": "stopped"}); st != http.StatusOK {
		t.Fatalf("stop: %d %v", st, doc)
	}
	sawStopping := false
	deadline := time.Now().Add(60 * time.Second)
	for {
		_, _, doc := c.do("GET", "/v1/"+pid+"/services/"+sid, nil)
		status := obj(doc, "status")
		// Pods are counted after the status is read: they only go, so any seen now existed then.
		n := pods()
		if status == "stopped" {
			if n != 0 {
				t.Fatalf("the service is stopped while %d of its pods are left", n)
			}
			break
		}
		if status == "stopping" && n > 0 {
			sawStopping = true
		}
		if time.Now().After(deadline) {
			t.Fatalf("status %v with %d pods 60 s after the stop", status, n)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if !sawStopping {
		t.Error("the service was never seen stopping while its pods terminated")
	}
}
