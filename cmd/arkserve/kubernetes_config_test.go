package main

import (
	"fmt"
	"strings"
	"testing"
)

// TestKubernetesConfig: --runtime and the [kubernetes] settings from the file, the environment and
// the flags, and the tolerations they parse to.
func TestKubernetesConfig(t *testing.T) {
	file := writeConfig(t, "runtime = \"kubernetes\"\n[kubernetes]\nkubeconfig = \"/etc/kube.conf\"\nnamespace = \"models\"\ntolerations = [\"gpu=yes:NoSchedule\"]\n")
	tests := []struct {
		name    string
		args    []string
		env     map[string]string
		runtime string
		want    KubernetesConfig
		tol     string // the parsed tolerations, printed
		err     string
	}{
		{"defaults", nil, nil, "process", KubernetesConfig{Namespace: "default"}, "[]", ""},
		{"file", []string{"--config", file}, nil, "kubernetes",
			KubernetesConfig{Kubeconfig: "/etc/kube.conf", Namespace: "models", Tolerations: []string{"gpu=yes:NoSchedule"}},
			"[gpu Equal yes NoSchedule]", ""},
		{"env over file", []string{"--config", file}, map[string]string{"ARKSERVE_KUBERNETES_NAMESPACE": "ns2",
			"ARKSERVE_KUBERNETES_TOLERATIONS": "a:NoExecute,b=c:PreferNoSchedule"}, "kubernetes",
			KubernetesConfig{Kubeconfig: "/etc/kube.conf", Namespace: "ns2", Tolerations: []string{"a:NoExecute", "b=c:PreferNoSchedule"}},
			"[a Exists  NoExecute b Equal c PreferNoSchedule]", ""},
		{"flags over env", []string{"--runtime", "kubernetes", "--kubeconfig", "/k", "--kubernetes-namespace", "ns3",
			"--kubernetes-tolerations", "kwok.x-k8s.io/node:NoSchedule"}, map[string]string{"ARKSERVE_RUNTIME": "process",
			"ARKSERVE_KUBECONFIG": "/other"}, "kubernetes",
			KubernetesConfig{Kubeconfig: "/k", Namespace: "ns3", Tolerations: []string{"kwok.x-k8s.io/node:NoSchedule"}},
			"[kwok.x-k8s.io/node Exists  NoSchedule]", ""},
		{"bad runtime", []string{"--runtime", "docker"}, nil, "", KubernetesConfig{}, "", "use process or kubernetes"},
		{"toleration without effect", []string{"--kubernetes-tolerations", "gpu"}, nil, "", KubernetesConfig{}, "", "KEY[=VALUE]:"},
		{"toleration with a bad effect", []string{"--kubernetes-tolerations", "gpu:Never"}, nil, "", KubernetesConfig{}, "", "KEY[=VALUE]:"},
		{"toleration with a bad key", []string{"--kubernetes-tolerations", "no spaces:NoSchedule"}, nil, "", KubernetesConfig{}, "", "KEY[=VALUE]:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, ok := loadConfigCase(t, tt.args, tt.env, tt.err)
			if !ok {
				return
			}
			if cfg.Runtime != tt.runtime || fmt.Sprint(cfg.Kubernetes) != fmt.Sprint(tt.want) {
				t.Errorf("Runtime %q, Kubernetes %+v; want %q, %+v", cfg.Runtime, cfg.Kubernetes, tt.runtime, tt.want)
			}
			tol, _ := cfg.Kubernetes.tolerations()
			var got []string
			for _, x := range tol {
				got = append(got, fmt.Sprintf("%s %s %s %s", x.Key, x.Operator, x.Value, x.Effect))
			}
			if s := "[" + strings.Join(got, " ") + "]"; s != tt.tol {
				t.Errorf("tolerations %s; want %s", s, tt.tol)
			}
		})
	}
}
