package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/arkserve/arkserve/internal/runtime/kubernetes"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	k8sclient "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// tolerations parses KEY[=VALUE]:EFFECT entries.
func (k KubernetesConfig) tolerations() ([]corev1.Toleration, error) {
	var out []corev1.Toleration
	for _, s := range k.Tolerations {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		kv, effect, ok := strings.Cut(s, ":")
		key, value, hasValue := strings.Cut(kv, "=")
		t := corev1.Toleration{Key: key, Value: value, Effect: corev1.TaintEffect(effect), Operator: corev1.TolerationOpExists}
		if hasValue {
			t.Operator = corev1.TolerationOpEqual
		}
		switch t.Effect {
		case corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
		default:
			ok = false
		}
		if !ok || len(validation.IsQualifiedName(key)) > 0 {
			return nil, fmt.Errorf("kubernetes toleration %q: use KEY[=VALUE]:NoSchedule|PreferNoSchedule|NoExecute", s)
		}
		out = append(out, t)
	}
	return out, nil
}

// openKubernetes connects to the cluster (the kubeconfig, or the pod's service account) and starts
// the runtime's informers; notify is told of every change of a service's objects.
func openKubernetes(ctx context.Context, k KubernetesConfig, logger *slog.Logger, notify func(string)) (*kubernetes.Runtime, error) {
	var rc *rest.Config
	var err error
	if k.Kubeconfig != "" {
		rc, err = clientcmd.BuildConfigFromFlags("", k.Kubeconfig)
	} else {
		rc, err = rest.InClusterConfig()
	}
	if err != nil {
		return nil, fmt.Errorf("kubernetes: %w", err)
	}
	rc.UserAgent = "arkserve/" + version
	client, err := k8sclient.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes: %w", err)
	}
	tol, err := k.tolerations()
	if err != nil {
		return nil, err
	}
	rt := &kubernetes.Runtime{Client: client, Namespace: k.Namespace, Tolerations: tol, Notify: notify, Logger: logger}
	if err := rt.Open(ctx); err != nil {
		return nil, err
	}
	return rt, nil
}
