package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/arkserve/arkserve/internal/ark"
)

func writeConfig(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "arkserve.toml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestPoolConfig: flags over ARKSERVE_POOL_* over [pool] over the host's figures.
// loadConfigCase loads the configuration of args and env and checks the error against wantErr
// (a part of its text; "" for none). ok reports whether there is a configuration to check.
func loadConfigCase(t *testing.T, args []string, env map[string]string, wantErr string) (cfg Config, ok bool) {
	t.Helper()
	cfg, err := loadServerConfig(args, func(k string) string { return env[k] })
	if wantErr != "" {
		if err == nil || !strings.Contains(err.Error(), wantErr) {
			t.Fatalf("loadServerConfig = %v; want an error containing %q", err, wantErr)
		}
		return cfg, false
	}
	if err != nil {
		t.Fatal(err)
	}
	return cfg, true
}

func TestPoolConfig(t *testing.T) {
	file := writeConfig(t, "[pool]\ncpu = 3.5\nmemory_mb = 4096\ngpus = 1\nlimits = \"off\"\n")
	tests := []struct {
		name string
		args []string
		env  map[string]string
		want PoolConfig
		err  string
	}{
		{"defaults", nil, nil, PoolConfig{}, ""},
		{"file", []string{"--config", file}, nil, PoolConfig{CPU: 3.5, MemoryMB: 4096, GPUs: 1, Limits: "off"}, ""},
		{"env over file", []string{"--config", file}, map[string]string{"ARKSERVE_POOL_CPU": "2", "ARKSERVE_POOL_NPUS": "1", "ARKSERVE_POOL_LIMITS": "auto"},
			PoolConfig{CPU: 2, MemoryMB: 4096, GPUs: 1, NPUs: 1, Limits: "auto"}, ""},
		{"flags over env", []string{"--config", file, "--pool-cpu", "0.5", "--pool-memory-mb", "512", "--pool-gpus", "0.5", "--pool-limits", "off"},
			map[string]string{"ARKSERVE_POOL_CPU": "2", "ARKSERVE_POOL_MEMORY_MB": "100"},
			PoolConfig{CPU: 0.5, MemoryMB: 512, GPUs: 0.5, Limits: "off"}, ""},
		{"bad number", []string{"--pool-cpu", "lots"}, nil, PoolConfig{}, "--pool-cpu: \"lots\" is not a number"},
		{"bad env number", nil, map[string]string{"ARKSERVE_POOL_MEMORY_MB": "1.5"}, PoolConfig{}, "ARKSERVE_POOL_MEMORY_MB"},
		{"negative", []string{"--pool-memory-mb", "-1"}, nil, PoolConfig{}, "must not be negative"},
		{"bad limits", []string{"--pool-limits", "strict"}, nil, PoolConfig{}, "use auto or off"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, ok := loadConfigCase(t, tt.args, tt.env, tt.err)
			if ok && cfg.Pool != tt.want {
				t.Errorf("Pool = %+v; want %+v", cfg.Pool, tt.want)
			}
		})
	}
}

func TestPoolCapacity(t *testing.T) {
	host, err := PoolConfig{}.Capacity()
	if err != nil {
		t.Fatal(err)
	}
	if host.CPU != float64(runtime.NumCPU()) || host.MemoryMB != hostMemoryMB() || host.MemoryMB <= 0 || host.GPU != 0 {
		t.Errorf("Capacity from the host = %v; want %d CPU, %d MB, no GPU", host, runtime.NumCPU(), hostMemoryMB())
	}
	got, err := PoolConfig{MemoryMB: 1000, GPUs: 2}.Capacity()
	if err != nil || got != (ark.Resources{CPU: float64(runtime.NumCPU()), MemoryMB: 1000, GPU: 2}) {
		t.Errorf("Capacity = %v, %v; want the host's CPUs, 1000 MB, 2 GPUs", got, err)
	}
}

func TestSpecCatalogConfig(t *testing.T) {
	names := func(specs []ark.Spec) string {
		var n []string
		for _, s := range specs {
			n = append(n, s.Name)
		}
		return strings.Join(n, " ")
	}
	defaults := names(ark.DefaultSpecs())
	tests := []struct {
		name, toml string
		want       string // names, in order
		check      func(t *testing.T, cat ark.SpecCatalog)
		err        string
	}{
		{"built-in", "", defaults, nil, ""},
		{"extend", `
[[specification]]
name = "site.gpu.t4"
cpu = 4
memory_mb = 16384
gpu = 1
gpu_name = "NVIDIA T4"
gpu_memory_mb = 16384
`, defaults + " site.gpu.t4", func(t *testing.T, cat ark.SpecCatalog) {
			s := cat["site.gpu.t4"]
			if s.Category != "GPU" || s.Arch != "x86" || !s.IsOpen || s.GPU != 1 || !strings.Contains(s.Display, "NVIDIA T4") {
				t.Errorf("site.gpu.t4 = %+v; want category GPU, arch x86, open, a display", s)
			}
		}, ""},
		{"override a built-in by name", `
[[specification]]
name = "modelarts.vm.gpu.pnt004"
category = "GPU"
cpu = 8
memory_mb = 32768
gpu = 1
`, defaults, func(t *testing.T, cat ark.SpecCatalog) {
			if s := cat["modelarts.vm.gpu.pnt004"]; !s.IsOpen || s.GPUName != "" {
				t.Errorf("pnt004 = %+v; want the configured one (open)", s)
			}
		}, ""},
		{"replace", `
replace_specifications = true
[[specification]]
name = "only.one"
cpu = 0.5
memory_mb = 512
is_open = false
`, "only.one", func(t *testing.T, cat ark.SpecCatalog) {
			if s := cat["only.one"]; s.IsOpen || s.Category != "CPU" {
				t.Errorf("only.one = %+v; want closed, CPU", s)
			}
		}, ""},
		{"replace with nothing", "replace_specifications = true\n", "", nil, "no flavor could be deployed"},
		{"duplicate", "[[specification]]\nname = \"a\"\ncpu = 1\nmemory_mb = 1\n[[specification]]\nname = \"a\"\ncpu = 1\nmemory_mb = 1\n", "", nil, "defined twice"},
		{"zero cpu", "[[specification]]\nname = \"a\"\nmemory_mb = 1\n", "", nil, "must be positive"},
		{"negative gpu", "[[specification]]\nname = \"a\"\ncpu = 1\nmemory_mb = 1\ngpu = -1\n", "", nil, "must not be negative"},
		{"custom", "[[specification]]\nname = \"custom\"\ncpu = 1\nmemory_mb = 1\n", "", nil, "reserved"},
		{"bad category", "[[specification]]\nname = \"a\"\ncpu = 1\nmemory_mb = 1\ncategory = \"TPU\"\n", "", nil, "use CPU, GPU or NPU"},
		{"unknown key", "[[specification]]\nname = \"a\"\ncpu = 1\nmemory = 1\n", "", nil, "unknown key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := loadServerConfig([]string{"--config", writeConfig(t, tt.toml)}, func(string) string { return "" })
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("loadServerConfig = %v; want an error containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			specs, err := cfg.SpecCatalog()
			if err != nil {
				t.Fatal(err)
			}
			if got := names(specs); got != tt.want {
				t.Errorf("catalog %q; want %q", got, tt.want)
			}
			if tt.check != nil {
				tt.check(t, ark.NewSpecCatalog(specs))
			}
		})
	}
}

// TestPoolEndToEnd: the configured pool and catalog reach the API through Main's wiring, and the
// ledger's figures show in /clusters.
func TestPoolEndToEnd(t *testing.T) {
	t.Setenv("ARKSERVE_ADMIN_PASSWORD", testPassword)
	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = dataDir(t)
	cfg.Pool = PoolConfig{CPU: 1, MemoryMB: 2048, Limits: "off"}
	cfg.Specifications = []SpecConfig{{Name: "site.tiny", CPU: 0.5, MemoryMB: 128}}
	m := &Main{Config: cfg, Logger: newLogger(Config{LogLevel: "warn", LogFormat: "text"}, os.Stderr)}
	if err := m.Open(context.Background()); err != nil {
		m.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	c := newClient(t, m)
	pid := c.login()

	cluster := func() map[string]any {
		t.Helper()
		status, _, doc := c.do("GET", "/v1/"+pid+"/clusters", nil)
		if status != 200 {
			t.Fatalf("GET clusters: %d %v", status, doc)
		}
		return obj(doc, "clusters").([]any)[0].(map[string]any)
	}
	num := func(v any) string { return v.(json.Number).String() }
	cl := cluster()
	if num(cl["total_cpu_cores"]) != "1" || num(cl["total_memory"]) != "2048" || num(cl["allocatable_cpu_cores"]) != "1" {
		t.Errorf("cluster %v; want 1 CPU and 2048 MB, all free", cl)
	}
	if err := m.Ledger.Reserve("i1", ark.Resources{CPU: 0.5, MemoryMB: 512}); err != nil {
		t.Fatal(err)
	}
	cl = cluster()
	if num(cl["allocatable_cpu_cores"]) != "0.5" || num(cl["allocatable_memory"]) != "1536" || num(cl["allocated_memory"]) != "512" {
		t.Errorf("cluster %v; want 0.5 CPU and 1536 MB free, 512 MB allocated", cl)
	}

	status, _, doc := c.do("GET", "/v1/"+pid+"/services/specifications", nil)
	if status != 200 {
		t.Fatalf("GET specifications: %d %v", status, doc)
	}
	st := map[string]string{}
	for _, s := range obj(doc, "specifications").([]any) {
		s := s.(map[string]any)
		st[s["specification"].(string)] = s["spec_status"].(string)
	}
	if st["site.tiny"] != "normal" || st["arkserve.local.medium"] != "normal" || st["modelarts.vm.cpu.2u"] != "unavailable" {
		t.Errorf("spec_status %v; want site.tiny and arkserve.local.medium normal, modelarts.vm.cpu.2u unavailable", st)
	}
	status, _, doc = c.do("POST", "/v1/"+pid+"/services", map[string]any{"infer_type": "real-time", "service_name": "big",
		"config": []any{map[string]any{"model_id": "195c1f2d-136d-40af-a0f3-db5717d2634a", "weight": 100,
			"specification": "modelarts.vm.cpu.2u", "instance_count": 1}}})
	if status != 400 || obj(doc, "error_code") != ark.ENoSpec {
		t.Errorf("deploy modelarts.vm.cpu.2u on a 1 CPU pool: %d %v; want 400 %s", status, doc, ark.ENoSpec)
	}
}
