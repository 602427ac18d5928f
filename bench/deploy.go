package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"time"

	"github.com/arkserve/arkserve/internal/modelserver"
)

// The helpers of the benchmarks that run instances: a small model for the bundled model server
// (arkserve model-server, runtime arkserve), its registration, deployment and updates through the
// API, and the wait for an update-log entry to finish.

// benchInput is one predict request for benchModel: 16 inputs, 4 classes.
const benchInput = `{"inputs":[[0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,1.0,1.1,1.2,1.3,1.4,1.5,1.6]]}`

// writeBenchModel saves a 16-8-4 dense network into dir (readable by the instance user).
func writeBenchModel(dir string) error {
	layer := func(units, in int, act modelserver.Activation) modelserver.Layer {
		l := modelserver.Layer{Units: units, Activation: act, W: make([]float32, units*in), B: make([]float32, units)}
		for i := range l.W {
			l.W[i] = float32((i*7)%11-5) / 10
		}
		return l
	}
	m := &modelserver.Model{Name: "bench", InputSize: 16, Layers: []modelserver.Layer{
		layer(8, 16, modelserver.ReLU), layer(4, 8, modelserver.Softmax)}}
	return m.Save(dir)
}

// benchTemp is a temp dir that instances (which run as nobody when the benchmark runs as root)
// can traverse: the model dir and the data dir's bin/ are under it.
func benchTemp(name string) (string, error) {
	dir, err := os.MkdirTemp("", "arkbench-"+name+"-")
	if err != nil {
		return "", err
	}
	return dir, os.Chmod(dir, 0o755)
}

// prepare makes a benchmark's temp dir (benchTemp) and builds arkserve into it; the caller removes
// tmp. On error nothing is left behind.
func prepare(name string) (tmp, bin string, err error) {
	if tmp, err = benchTemp(name); err != nil {
		return "", "", err
	}
	if bin, err = buildArkserve(tmp); err != nil {
		os.RemoveAll(tmp)
		return "", "", err
	}
	return tmp, bin, nil
}

// registerModel registers the model in dir (runtime arkserve: the server runs it with its bundled
// model server) and returns its id.
func (a *arkserve) registerModel(ctx context.Context, dir, version string) (string, error) {
	var out struct {
		ModelID string `json:"model_id"`
	}
	_, err := a.call(ctx, "POST", "/v1/"+a.project+"/models", map[string]any{"model_name": "bench", "model_version": version,
		"model_type": "Custom", "runtime": "arkserve", "source_location": dir}, &out)
	return out.ModelID, err
}

// entry is one config entry of a deploy or update body.
func entry(modelID string, instances int, envs map[string]string, surge, unavailable any) map[string]any {
	e := map[string]any{"model_id": modelID, "weight": 100, "specification": "arkserve.local.small",
		"instance_count": instances, "envs": envs}
	if surge != nil {
		e["additional_properties"] = map[string]any{modelID: map[string]any{"max_surge": surge, "max_unavailable": unavailable}}
	}
	return e
}

// deploy creates a service with cfg and returns its id.
func (a *arkserve) deploy(ctx context.Context, name string, cfg ...map[string]any) (string, error) {
	var out struct {
		ServiceID string `json:"service_id"`
	}
	_, err := a.call(ctx, "POST", "/v1/"+a.project+"/services", map[string]any{"infer_type": "real-time",
		"service_name": name, "config": cfg}, &out)
	return out.ServiceID, err
}

// update PUTs a new configuration.
func (a *arkserve) update(ctx context.Context, id string, cfg ...map[string]any) error {
	_, err := a.call(ctx, "PUT", "/v1/"+a.project+"/services/"+id, map[string]any{"config": cfg}, nil)
	return err
}

// waitEntry polls the newest update-log entry every poll until it is no longer RUNNING (at most
// timeout) and returns its result and when that was seen.
func (a *arkserve) waitEntry(ctx context.Context, id string, poll, timeout time.Duration) (string, time.Time, error) {
	var out struct {
		Logs []struct {
			Result string `json:"result"`
		} `json:"logs"`
	}
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if _, err := a.call(ctx, "GET", "/v1/"+a.project+"/services/"+id+"/logs", nil, &out); err != nil {
			return "", time.Time{}, err
		}
		if len(out.Logs) > 0 && out.Logs[0].Result != "RUNNING" {
			return out.Logs[0].Result, time.Now(), nil
		}
		select {
		case <-ctx.Done():
			return "", time.Time{}, ctx.Err()
		case <-time.After(poll):
		}
	}
	return "", time.Time{}, fmt.Errorf("service %s: the update did not finish within %v", id, timeout)
}

var instancePortRE = regexp.MustCompile(`msg="instance started".* service=(\S+) .* pid=(\d+) port=(\d+)`)

type instanceAddr struct{ pid, port int }

// instancePorts reads the process ids and ports of the service's instances from the server's log
// ("instance started" lines), oldest first.
func (a *arkserve) instancePorts(serviceID string) ([]instanceAddr, error) {
	b, err := os.ReadFile(a.log)
	if err != nil {
		return nil, err
	}
	var ports []instanceAddr
	for _, m := range instancePortRE.FindAllStringSubmatch(string(b), -1) {
		if m[1] == serviceID {
			pid, _ := strconv.Atoi(m[2])
			port, _ := strconv.Atoi(m[3])
			ports = append(ports, instanceAddr{pid, port})
		}
	}
	if len(ports) == 0 {
		return nil, fmt.Errorf("no instance of %s in %s", serviceID, filepath.Base(a.log))
	}
	return ports, nil
}
