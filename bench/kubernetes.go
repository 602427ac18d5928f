package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// benchKubernetes: on the test cluster (scripts/k8s-cluster.sh up), an update of a service of n
// instances from one image to another through arkserve (--runtime kubernetes), timed from the PUT
// to the SUCCESS entry as a client sees it, against the same change of the same Deployment (a
// copy of the one arkserve wrote, in the same namespace) made with kubectl set image and waited
// for with kubectl rollout status. The ratio is arkserve's overhead over Kubernetes' own rollout.
func benchKubernetes(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("kubernetes", flag.ContinueOnError)
	kubeconfig := fs.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the cluster (default $KUBECONFIG)")
	n := fs.Int("instances", 10, "instances of the service")
	reps := fs.Int("reps", 5, "updates measured each way")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *kubeconfig == "" {
		return fmt.Errorf("no cluster: eval \"$(scripts/k8s-cluster.sh up)\" first, or pass -kubeconfig")
	}
	header("kubernetes")
	tmp, bin, err := prepare("kubernetes")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	kubectl := func(stdin []byte, args ...string) ([]byte, error) {
		cmd := exec.CommandContext(ctx, "kubectl", append([]string{"--kubeconfig", *kubeconfig}, args...)...)
		if stdin != nil {
			cmd.Stdin = bytes.NewReader(stdin)
		}
		out, err := cmd.CombinedOutput()
		if err != nil {
			return out, fmt.Errorf("kubectl %s: %w: %s", strings.Join(args, " "), err, out)
		}
		return out, nil
	}
	ns := "arkbench-" + filepath.Base(tmp)[len("arkbench-kubernetes-"):]
	if _, err := kubectl(nil, "create", "namespace", ns); err != nil {
		return err
	}
	defer kubectl(nil, "delete", "namespace", ns, "--wait=false")

	a, err := startLoggedIn(bin, filepath.Join(tmp, "data"), "--runtime", "kubernetes", "--kubeconfig", *kubeconfig,
		"--kubernetes-namespace", ns, "--kubernetes-tolerations", "kwok.x-k8s.io/node:NoSchedule")
	if err != nil {
		return err
	}
	defer a.stop()
	images := []string{"registry.local/bench:1", "registry.local/bench:2"}
	var models []string
	for i, img := range images {
		var out struct {
			ModelID string `json:"model_id"`
		}
		if _, err := a.call(ctx, "POST", "/v1/"+a.project+"/models", map[string]any{"model_name": "bench",
			"model_version": fmt.Sprintf("1.0.%d", i), "model_type": "Image", "source_location": img}, &out); err != nil {
			return err
		}
		models = append(models, out.ModelID)
	}
	sid, err := a.deploy(ctx, "bench-k8s", entry(models[0], *n, nil, 1, 0))
	if err != nil {
		return err
	}
	if res, _, err := a.waitEntry(ctx, sid, 20*time.Millisecond, 5*time.Minute); err != nil || res != "SUCCESS" {
		return fmt.Errorf("deploy: %s %v", res, err)
	}

	// The baseline Deployment: arkserve's, renamed and relabelled so that arkserve ignores it.
	out, err := kubectl(nil, "-n", ns, "get", "deployment", "ark-"+sid+"-0", "-o", "json")
	if err != nil {
		return err
	}
	copyJSON, err := baselineDeployment(out)
	if err != nil {
		return err
	}
	if _, err := kubectl(copyJSON, "-n", ns, "apply", "-f", "-"); err != nil {
		return err
	}
	if _, err := kubectl(nil, "-n", ns, "rollout", "status", "deployment/baseline", "--timeout", "5m"); err != nil {
		return err
	}

	var ark, kube []time.Duration
	for i := range *reps * 2 {
		to := (i + 1) % 2
		start := time.Now()
		if err := a.update(ctx, sid, entry(models[to], *n, nil, 1, 0)); err != nil {
			return err
		}
		res, seen, err := a.waitEntry(ctx, sid, 20*time.Millisecond, 5*time.Minute)
		if err != nil || res != "SUCCESS" {
			return fmt.Errorf("update: %s %v", res, err)
		}
		ark = append(ark, seen.Sub(start))

		start = time.Now()
		if _, err := kubectl(nil, "-n", ns, "set", "image", "deployment/baseline", "model="+images[to]); err != nil {
			return err
		}
		if _, err := kubectl(nil, "-n", ns, "rollout", "status", "deployment/baseline", "--timeout", "5m"); err != nil {
			return err
		}
		kube = append(kube, time.Since(start))
	}
	slices.Sort(ark)
	slices.Sort(kube)
	am, km := percentile(ark, 0.5), percentile(kube, 0.5)
	fmt.Printf("| instances | updates | arkserve PUT → SUCCESS p50 ms (min .. max) | kubectl set image + rollout status p50 ms (min .. max) | ratio p50 | load avg |\n|---|---|---|---|---|---|\n")
	fmt.Printf("| %d | %d each | %s (%s .. %s) | %s (%s .. %s) | %.2f | %s |\n", *n, len(ark), ms(am), ms(ark[0]), ms(ark[len(ark)-1]),
		ms(km), ms(kube[0]), ms(kube[len(kube)-1]), float64(am)/float64(km), loadavg())
	return nil
}

// baselineDeployment turns arkserve's Deployment (kubectl get -o json) into a new one named
// baseline with the same pod template and strategy, selected by a label arkserve does not watch.
func baselineDeployment(in []byte) ([]byte, error) {
	var d map[string]any
	if err := json.Unmarshal(in, &d); err != nil {
		return nil, err
	}
	labels := map[string]any{"app": "arkbench-baseline"}
	d["metadata"] = map[string]any{"name": "baseline", "labels": labels}
	delete(d, "status")
	spec := d["spec"].(map[string]any)
	spec["selector"] = map[string]any{"matchLabels": labels}
	tmpl := spec["template"].(map[string]any)
	tmpl["metadata"] = map[string]any{"labels": labels}
	return json.Marshal(d)
}
