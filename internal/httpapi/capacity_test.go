package httpapi_test

import (
	"testing"

	"github.com/arkserve/arkserve/internal/ark"
	"github.com/arkserve/arkserve/internal/httpapi"
)

// TestCapacity: a server with a pool of 2 CPU and 4096 MB and its ledger. Specifications and
// clusters report what the pool can run and what is free; configurations the pool can never run
// are refused at deploy and update.
func TestCapacity(t *testing.T) {
	ledger := ark.NewLedger(ark.Resources{CPU: 2, MemoryMB: 4096})
	e := newAPIEnv(t, func(s *httpapi.Server) {
		s.Pool = ark.Pool{ID: "0123456789abcdef0123456789abcdef", Name: "local", CPU: 2, MemoryMB: 4096, CreatedAt: 1}
		s.Capacity = ledger
	})
	v1 := "/v1/" + e.pid
	// An instance of another service holds 1.5 CPU and 1024 MB.
	must(t, ledger.Reserve("other", ark.Resources{CPU: 1.5, MemoryMB: 1024}))

	t.Run("Specifications", func(t *testing.T) {
		status, doc := e.call(t, "GET", v1+"/services/specifications", e.admin, nil, nil)
		if status != 200 {
			t.Fatalf("GET specifications: %d %v", status, doc)
		}
		got := map[string]map[string]any{}
		for _, v := range doc["specifications"].([]any) {
			sp := v.(map[string]any)
			got[sp["specification"].(string)] = sp
		}
		for _, tt := range []struct {
			name, status    string
			open, overQuota bool
		}{
			{"arkserve.local.small", "normal", true, false},     // 0.25 CPU, 256 MB: fits in what is free
			{"arkserve.local.medium", "normal", true, true},     // 1 CPU: the pool has it, not free now
			{"modelarts.vm.cpu.2u", "unavailable", false, true}, // 8192 MB: more than the pool
			{"modelarts.vm.gpu.pnt004", "unavailable", false, true},
		} {
			sp := got[tt.name]
			if sp == nil {
				t.Errorf("%s is not listed; every catalog flavor is", tt.name)
				continue
			}
			if sp["spec_status"] != tt.status || sp["is_open"] != tt.open || sp["over_quota"] != tt.overQuota {
				t.Errorf("%s: spec_status %v, is_open %v, over_quota %v; want %s, %v, %v", tt.name,
					sp["spec_status"], sp["is_open"], sp["over_quota"], tt.status, tt.open, tt.overQuota)
			}
		}
	})

	t.Run("Clusters", func(t *testing.T) {
		status, doc := e.call(t, "GET", v1+"/clusters", e.admin, nil, nil)
		if status != 200 || doc["count"] != 1.0 {
			t.Fatalf("GET clusters: %d %v", status, doc)
		}
		c := doc["clusters"].([]any)[0].(map[string]any)
		for field, want := range map[string]float64{
			"allocatable_cpu_cores": 0.5, "allocatable_memory": 3072, "allocatable_gpus": 0, "allocatable_npus": 0,
			"total_cpu_cores": 2, "total_memory": 4096, "total_gpus": 0,
			"allocated_cpu_cores": 1.5, "allocated_memory": 1024, "allocated_gpus": 0,
		} {
			if c[field] != want {
				t.Errorf("%s = %v; want %v", field, c[field], want)
			}
		}
		// Released: everything is free again.
		ledger.Release("other")
		defer func() { must(t, ledger.Reserve("other", ark.Resources{CPU: 1.5, MemoryMB: 1024})) }()
		_, doc = e.call(t, "GET", v1+"/clusters", e.admin, nil, nil)
		c = doc["clusters"].([]any)[0].(map[string]any)
		if c["allocatable_cpu_cores"] != 2.0 || c["allocatable_memory"] != 4096.0 || c["allocated_cpu_cores"] != 0.0 {
			t.Errorf("after release: %v", c)
		}
	})

	t.Run("Deploy", func(t *testing.T) {
		m := e.model(t, "1.0.0")
		deploy := func(name, spec string) []byte {
			return []byte(`{"infer_type":"real-time","service_name":"` + name + `","config":[{"model_id":"` + m +
				`","weight":100,` + spec + `}]}`)
		}
		// Accepted although it does not fit in what is free now: the engine starts it when it does.
		status, doc := e.call(t, "POST", v1+"/services", e.admin,
			deploy("fits", `"specification":"arkserve.local.medium","instance_count":2`), nil)
		if status != 200 {
			t.Fatalf("deploy 2 x 1 CPU on a 2 CPU pool: %d %v; want 200", status, doc)
		}
		one := v1 + "/services/" + doc["service_id"].(string)
		tests := []struct {
			name, method, path string
			body               []byte
			code               string
		}{
			{"flavor larger than the pool", "POST", v1 + "/services", deploy("s1", `"specification":"modelarts.vm.cpu.2u","instance_count":1`), ark.ENoSpec},
			{"GPU flavor without GPUs", "POST", v1 + "/services", deploy("s1", `"specification":"modelarts.vm.gpu.pnt004","instance_count":1`), ark.ENoSpec},
			{"custom larger than the pool", "POST", v1 + "/services", deploy("s1", `"specification":"custom","custom_spec":{"cpu":2.5,"memory":100},"instance_count":1`), ark.ENoSpec},
			{"custom GPU on a pool without", "POST", v1 + "/services", deploy("s1", `"specification":"custom","custom_spec":{"cpu":1,"memory":100,"gpu_p4":0.5},"instance_count":1`), ark.ENoSpec},
			{"all instances together larger", "POST", v1 + "/services", deploy("s1", `"specification":"arkserve.local.medium","instance_count":3`), ark.EInsufficient},
			{"update to a flavor larger than the pool", "PUT", one, []byte(`{"config":[{"model_id":"` + m + `","weight":100,"specification":"modelarts.vm.cpu.8u","instance_count":1}]}`), ark.ENoSpec},
			{"custom cpu 0", "POST", v1 + "/services", deploy("s1", `"specification":"custom","custom_spec":{"cpu":0,"memory":100},"instance_count":1`), ark.EInvalidParam},
			{"custom cpu 0.001", "POST", v1 + "/services", deploy("s1", `"specification":"custom","custom_spec":{"cpu":0.001,"memory":100},"instance_count":1`), ark.EInvalidParam},
			{"custom cpu 2000", "POST", v1 + "/services", deploy("s1", `"specification":"custom","custom_spec":{"cpu":2000,"memory":100},"instance_count":1`), ark.EInvalidParam},
			{"custom memory 0", "POST", v1 + "/services", deploy("s1", `"specification":"custom","custom_spec":{"cpu":1,"memory":0},"instance_count":1`), ark.EInvalidParam},
			{"custom memory missing", "POST", v1 + "/services", deploy("s1", `"specification":"custom","custom_spec":{"cpu":1},"instance_count":1`), ark.EInvalidParam},
			{"custom memory huge", "POST", v1 + "/services", deploy("s1", `"specification":"custom","custom_spec":{"cpu":1,"memory":5000000},"instance_count":1`), ark.EInvalidParam},
			{"custom gpu_p4 negative", "POST", v1 + "/services", deploy("s1", `"specification":"custom","custom_spec":{"cpu":1,"memory":100,"gpu_p4":-1},"instance_count":1`), ark.EInvalidParam},
			{"custom_spec with a catalog flavor", "POST", v1 + "/services", deploy("s1", `"specification":"arkserve.local.small","custom_spec":{"cpu":1,"memory":100},"instance_count":1`), ark.EInvalidParam},
		}
		for _, tt := range tests {
			status, doc := e.call(t, tt.method, tt.path, e.admin, tt.body, nil)
			if status != 400 || doc["error_code"] != tt.code {
				t.Errorf("%s: %d %v; want 400 %s", tt.name, status, doc, tt.code)
			}
		}
		// The messages say what was asked and what the pool has.
		_, doc = e.call(t, "POST", v1+"/services", e.admin, deploy("s1", `"specification":"modelarts.vm.cpu.2u","instance_count":1`), nil)
		if got, want := doc["error_msg"], "No resources are available for the selected specification (modelarts.vm.cpu.2u): one instance needs 2 CPU, 8192 MB; the resource pool has 2 CPU, 4096 MB in all."; got != want {
			t.Errorf("error_msg = %q; want %q", got, want)
		}
		// A custom spec that fits is accepted, with its cpu rounded to two decimals.
		status, doc = e.call(t, "POST", v1+"/services", e.admin,
			deploy("custom", `"specification":"custom","custom_spec":{"cpu":0.333,"memory":300,"gpu_p4":0},"instance_count":1`), nil)
		if status != 200 {
			t.Fatalf("deploy custom: %d %v", status, doc)
		}
		_, doc = e.call(t, "GET", v1+"/services/"+doc["service_id"].(string), e.admin, nil, nil)
		cs := doc["config"].([]any)[0].(map[string]any)["custom_spec"].(map[string]any)
		if cs["cpu"] != 0.33 || cs["memory"] != 300.0 {
			t.Errorf("custom_spec = %v; want cpu 0.33, memory 300", cs)
		}
	})
}

// clusterCapacity is a cluster's pool as the Kubernetes runtime reports it: resources and nodes.
type clusterCapacity struct{ *ark.Ledger }

func (clusterCapacity) Nodes() (count, available int) { return 3, 2 }

// TestClustersOfACluster: a pool that is a cluster shows its nodes and its description.
func TestClustersOfACluster(t *testing.T) {
	e := newAPIEnv(t, func(s *httpapi.Server) {
		s.Pool = ark.Pool{ID: "0123456789abcdef0123456789abcdef", Name: "kubernetes", Description: "Kubernetes cluster, namespace ml"}
		s.Capacity = clusterCapacity{ark.NewLedger(ark.Resources{CPU: 64, MemoryMB: 1 << 18})}
	})
	status, doc := e.call(t, "GET", "/v1/"+e.pid+"/clusters", e.admin, nil, nil)
	if status != 200 || doc["count"] != 1.0 {
		t.Fatalf("GET clusters: %d %v", status, doc)
	}
	c := doc["clusters"].([]any)[0].(map[string]any)
	nodes := c["nodes"].(map[string]any)
	if c["description"] != "Kubernetes cluster, namespace ml" || nodes["count"] != 3.0 || nodes["available_count"] != 2.0 ||
		nodes["specification"] != "kubernetes" {
		t.Fatalf("cluster %v", c)
	}
}
