// Package kubetest gives tests a namespace of their own on the test cluster that
// scripts/k8s-cluster.sh starts (ARKSERVE_TEST_KUBECONFIG names its kubeconfig).
package kubetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// KWOKToleration is what the pods need to run on the test cluster's fake node
// (KEY:EFFECT, as --kubernetes-tolerations takes it).
const KWOKToleration = "kwok.x-k8s.io/node:NoSchedule"

// Unpullable is the image whose pods the test cluster never makes Ready: KWOK reports
// ErrImagePull for them (scripts/k8s/kwok-image-pull-failed.yaml).
const Unpullable = "arkserve.invalid/unpullable:1"

// Graceful is the image whose pods the test cluster deletes at least 2 s after their deletion
// began and by the end of their grace period, as a kubelet does with a process that takes its
// time to stop (scripts/k8s/kwok-pod-delete-graceful.yaml); others' pods go at once.
const Graceful = "arkserve.invalid/graceful:1"

// Unready is the image whose pods the test cluster starts but never makes Ready, reporting a
// failed readiness probe as the kubelet does: a Warning event Unhealthy of the pod
// (scripts/k8s/kwok-pod-unready.yaml).
const Unready = "arkserve.invalid/unready:1"

// Cluster is a test's view of the cluster: a client and a namespace of its own.
type Cluster struct {
	Kubeconfig string
	Client     kubernetes.Interface
	Namespace  string
}

// New connects to the test cluster and creates a namespace, deleted when the test ends. Without
// ARKSERVE_TEST_KUBECONFIG the test is skipped, or fails under CI or
// ARKSERVE_REQUIRE_KUBERNETES=1; a cluster that does not answer fails it.
func New(t testing.TB) *Cluster {
	t.Helper()
	kc := os.Getenv("ARKSERVE_TEST_KUBECONFIG")
	if kc == "" {
		if os.Getenv("CI") != "" || os.Getenv("ARKSERVE_REQUIRE_KUBERNETES") == "1" {
			t.Fatal("no Kubernetes cluster to test on: start one with scripts/k8s-cluster.sh up and set ARKSERVE_TEST_KUBECONFIG")
		}
		t.Skip("SKIPPED: NOT TESTED ON KUBERNETES (set ARKSERVE_TEST_KUBECONFIG; scripts/k8s-cluster.sh up)")
	}
	rc, err := clientcmd.BuildConfigFromFlags("", kc)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		t.Fatal(err)
	}
	var b [4]byte
	_, _ = rand.Read(b[:])
	ns := "arkserve-test-" + hex.EncodeToString(b[:])
	if _, err := cs.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}},
		metav1.CreateOptions{}); err != nil {
		t.Fatalf("the test cluster (%s) does not answer: %v", kc, err)
	}
	t.Cleanup(func() { _ = cs.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
	return &Cluster{Kubeconfig: kc, Client: cs, Namespace: ns}
}
