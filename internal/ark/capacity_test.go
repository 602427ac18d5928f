package ark_test

import (
	"fmt"
	"math"
	"strings"
	"sync"
	"testing"

	"github.com/arkserve/arkserve/internal/ark"
)

func TestResources(t *testing.T) {
	a := ark.Resources{CPU: 1.5, MemoryMB: 1024, GPU: 0.5, NPU: 1}
	b := ark.Resources{CPU: 0.25, MemoryMB: 256}
	if got, want := a.Add(b), (ark.Resources{CPU: 1.75, MemoryMB: 1280, GPU: 0.5, NPU: 1}); got != want {
		t.Errorf("Add = %v; want %v", got, want)
	}
	if got, want := a.Sub(b), (ark.Resources{CPU: 1.25, MemoryMB: 768, GPU: 0.5, NPU: 1}); got != want {
		t.Errorf("Sub = %v; want %v", got, want)
	}
	if got, want := b.Mul(4), (ark.Resources{CPU: 1, MemoryMB: 1024}); got != want {
		t.Errorf("Mul = %v; want %v", got, want)
	}
	// 0.1 added ten times is 1 exactly, then taken away ten times is 0.
	var sum ark.Resources
	tenth := ark.Resources{CPU: 0.1}
	for range 10 {
		sum = sum.Add(tenth)
	}
	if sum.CPU != 1 {
		t.Errorf("0.1 CPU added ten times = %v; want 1", sum.CPU)
	}
	for range 10 {
		sum = sum.Sub(tenth)
	}
	if !sum.IsZero() {
		t.Errorf("and taken away ten times = %v; want zero", sum)
	}
	if got, want := a.String(), "1.5 CPU, 1024 MB, 0.5 GPU, 1 NPU"; got != want {
		t.Errorf("String = %q; want %q", got, want)
	}
	if got, want := b.String(), "0.25 CPU, 256 MB"; got != want {
		t.Errorf("String = %q; want %q", got, want)
	}

	pool := ark.Resources{CPU: 2, MemoryMB: 4096, GPU: 1}
	for _, tt := range []struct {
		r    ark.Resources
		fits bool
	}{
		{ark.Resources{}, true},
		{pool, true},
		{ark.Resources{CPU: 0.1 + 0.2, MemoryMB: 1}, true},
		{ark.Resources{CPU: 2.001}, false},
		{ark.Resources{MemoryMB: 4097}, false},
		{ark.Resources{GPU: 1.5}, false},
		{ark.Resources{NPU: 1}, false},
	} {
		if got := tt.r.Fits(pool); got != tt.fits {
			t.Errorf("%v.Fits(%v) = %v; want %v", tt.r, pool, got, tt.fits)
		}
	}
	for _, r := range []ark.Resources{{CPU: -1}, {MemoryMB: -1}, {GPU: math.NaN()}, {CPU: math.Inf(1)}, {NPU: -1}} {
		if r.Validate() == nil {
			t.Errorf("%v.Validate() = nil; want an error", r)
		}
	}
}

func TestInstanceResources(t *testing.T) {
	cat := ark.NewSpecCatalog(ark.DefaultSpecs())
	gpu := 0.5
	tests := []struct {
		name string
		c    ark.ServiceConfig
		want ark.Resources
		code string
	}{
		{"catalog", ark.ServiceConfig{Specification: "modelarts.vm.cpu.2u"}, ark.Resources{CPU: 2, MemoryMB: 8192}, ""},
		{"local", ark.ServiceConfig{Specification: "arkserve.local.small"}, ark.Resources{CPU: 0.25, MemoryMB: 256}, ""},
		{"gpu", ark.ServiceConfig{Specification: "modelarts.vm.gpu.pnt004"}, ark.Resources{CPU: 8, MemoryMB: 32768, GPU: 1}, ""},
		{"custom", ark.ServiceConfig{Specification: "custom", CustomSpec: &ark.CustomSpec{CPU: 1.5, Memory: 7500}}, ark.Resources{CPU: 1.5, MemoryMB: 7500}, ""},
		{"custom gpu", ark.ServiceConfig{Specification: "custom", CustomSpec: &ark.CustomSpec{CPU: 1, Memory: 10, GPUP4: &gpu}}, ark.Resources{CPU: 1, MemoryMB: 10, GPU: 0.5}, ""},
		{"custom without custom_spec", ark.ServiceConfig{Specification: "custom"}, ark.Resources{}, ark.ERequired},
		{"unknown", ark.ServiceConfig{Specification: "modelarts.vm.cpu.64u"}, ark.Resources{}, ark.ENoSpec},
	}
	for _, tt := range tests {
		got, err := ark.InstanceResources(tt.c, cat)
		if code := ark.ErrorCode(err); code != tt.code || got != tt.want {
			t.Errorf("%s: InstanceResources = %v, %q (%v); want %v, %q", tt.name, got, code, err, tt.want, tt.code)
		}
	}
}

func TestCheckCapacity(t *testing.T) {
	cat := ark.NewSpecCatalog(ark.DefaultSpecs())
	pool := ark.Resources{CPU: 2, MemoryMB: 16384}
	c := func(spec string, n int) ark.ServiceConfig {
		return ark.ServiceConfig{ModelID: spec, Specification: spec, InstanceCount: n}
	}
	tests := []struct {
		name string
		cfg  []ark.ServiceConfig
		code string
		msg  string
	}{
		{"fits", []ark.ServiceConfig{c("arkserve.local.small", 8)}, "", ""},
		{"exactly the pool", []ark.ServiceConfig{c("modelarts.vm.cpu.2u", 1), c("arkserve.local.small", 0)}, "", ""},
		{"one instance too big", []ark.ServiceConfig{c("arkserve.local.small", 1), c("modelarts.vm.cpu.8u", 1)}, ark.ENoSpec,
			"(modelarts.vm.cpu.8u): one instance needs 8 CPU, 32768 MB; the resource pool has 2 CPU, 16384 MB in all."},
		{"no GPU here", []ark.ServiceConfig{c("modelarts.vm.gpu.pnt004", 1)}, ark.ENoSpec, "1 GPU"},
		{"all together too big", []ark.ServiceConfig{c("modelarts.vm.cpu.2u", 1), c("arkserve.local.small", 1)}, ark.EInsufficient,
			"The 2 instances of this configuration need 2.25 CPU, 8448 MB together"},
		{"custom too big", []ark.ServiceConfig{{Specification: "custom", InstanceCount: 1, CustomSpec: &ark.CustomSpec{CPU: 1, Memory: 20000}}}, ark.ENoSpec, "20000 MB"},
		{"unknown", []ark.ServiceConfig{c("nope", 1)}, ark.ENoSpec, "(nope)"},
	}
	for _, tt := range tests {
		err := ark.CheckCapacity(tt.cfg, cat, pool)
		if code := ark.ErrorCode(err); code != tt.code || !strings.Contains(ark.ErrorMessage(err), tt.msg) {
			t.Errorf("%s: CheckCapacity = %q, %q; want %q containing %q", tt.name, code, ark.ErrorMessage(err), tt.code, tt.msg)
		}
	}
}

func TestLedger(t *testing.T) {
	small := ark.Resources{CPU: 0.25, MemoryMB: 256}
	big := ark.Resources{CPU: 2, MemoryMB: 8192}
	type step struct {
		op   string // reserve | release
		id   string
		r    ark.Resources
		code string // of reserve
		used ark.Resources
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"reserve and release", []step{
			{"reserve", "a", small, "", small},
			{"reserve", "b", small, "", small.Mul(2)},
			{"release", "a", ark.Resources{}, "", small},
			{"release", "b", ark.Resources{}, "", ark.Resources{}},
		}},
		{"idempotent", []step{
			{"reserve", "a", small, "", small},
			{"reserve", "a", small, "", small},
			{"release", "a", ark.Resources{}, "", ark.Resources{}},
			{"release", "a", ark.Resources{}, "", ark.Resources{}},
			{"release", "never", ark.Resources{}, "", ark.Resources{}},
		}},
		{"insufficient now", []step{
			{"reserve", "a", big, "", big},
			{"reserve", "b", small, ark.EInsufficient, big},
			{"release", "a", ark.Resources{}, "", ark.Resources{}},
			{"reserve", "b", small, "", small},
		}},
		{"never fits", []step{
			{"reserve", "a", ark.Resources{CPU: 4, MemoryMB: 1}, ark.ENoSpec, ark.Resources{}},
			{"reserve", "a", ark.Resources{CPU: 1, MemoryMB: 8193}, ark.ENoSpec, ark.Resources{}},
			{"reserve", "a", ark.Resources{GPU: 0.5}, ark.ENoSpec, ark.Resources{}},
		}},
		{"resize", []step{
			{"reserve", "a", small, "", small},
			{"reserve", "a", big, "", big}, // what a held counts as free for its own resize
			{"reserve", "b", small, ark.EInsufficient, big},
			{"reserve", "a", small, "", small},
			{"reserve", "b", small, "", small.Mul(2)},
		}},
		{"fills exactly", []step{
			{"reserve", "1", ark.Resources{CPU: 0.5, MemoryMB: 2048}, "", ark.Resources{CPU: 0.5, MemoryMB: 2048}},
			{"reserve", "2", ark.Resources{CPU: 0.5, MemoryMB: 2048}, "", ark.Resources{CPU: 1, MemoryMB: 4096}},
			{"reserve", "3", ark.Resources{CPU: 1, MemoryMB: 4096}, "", big},
			{"reserve", "4", ark.Resources{MemoryMB: 1}, ark.EInsufficient, big},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := ark.NewLedger(big)
			for i, s := range tt.steps {
				switch s.op {
				case "reserve":
					err := l.Reserve(s.id, s.r)
					if got := ark.ErrorCode(err); got != s.code {
						t.Fatalf("step %d: Reserve(%q, %v) = %v; want code %q", i, s.id, s.r, err, s.code)
					}
				case "release":
					l.Release(s.id)
				}
				if used, capacity := l.Usage(); used != s.used || capacity != big {
					t.Fatalf("step %d (%s %s): Usage = %v, %v; want %v, %v", i, s.op, s.id, used, capacity, s.used, big)
				}
			}
		})
	}
}

func TestLedgerMessages(t *testing.T) {
	l := ark.NewLedger(ark.Resources{CPU: 2, MemoryMB: 4096})
	if err := l.Reserve("a", ark.Resources{CPU: 1.5, MemoryMB: 1024}); err != nil {
		t.Fatal(err)
	}
	err := l.Reserve("b", ark.Resources{CPU: 1, MemoryMB: 1024})
	if got, want := ark.ErrorMessage(err), "Insufficient resources. Please try later. An instance needs 1 CPU, 1024 MB; 0.5 CPU, 3072 MB of 2 CPU, 4096 MB is free now."; got != want {
		t.Errorf("Reserve message = %q; want %q", got, want)
	}
	err = l.Reserve("c", ark.Resources{CPU: 1, MemoryMB: 8192})
	if got, want := ark.ErrorMessage(err), "No resources are available for the selected specification: an instance needs 1 CPU, 8192 MB; the resource pool has 2 CPU, 4096 MB in all."; got != want {
		t.Errorf("Reserve message = %q; want %q", got, want)
	}
	if err := l.Reserve("d", ark.Resources{CPU: -1}); err == nil || ark.ErrorCode(err) != ark.EInternal {
		t.Errorf("Reserve of negative resources = %v; want an internal error", err)
	}
	if r, ok := l.Held("a"); !ok || r.CPU != 1.5 {
		t.Errorf("Held(a) = %v, %v; want 1.5 CPU", r, ok)
	}
}

// TestLedgerConcurrent: many goroutines reserve and release; the pool is never overcommitted
// and ends empty.
func TestLedgerConcurrent(t *testing.T) {
	capacity := ark.Resources{CPU: 2, MemoryMB: 2048}
	l := ark.NewLedger(capacity)
	one := ark.Resources{CPU: 0.1, MemoryMB: 100}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				id := fmt.Sprintf("%d-%d", g, i%5)
				if err := l.Reserve(id, one); err != nil && ark.ErrorCode(err) != ark.EInsufficient {
					t.Errorf("Reserve: %v", err)
					return
				}
				if used, _ := l.Usage(); !used.Fits(capacity) {
					t.Errorf("used %v exceeds the capacity %v", used, capacity)
					return
				}
				if i%3 == 0 {
					l.Release(id)
				}
			}
			for i := range 5 {
				l.Release(fmt.Sprintf("%d-%d", g, i))
			}
		}()
	}
	wg.Wait()
	if used, _ := l.Usage(); !used.IsZero() {
		t.Errorf("Usage after every release = %v; want zero", used)
	}
}

func TestValidateSpecs(t *testing.T) {
	if err := ark.ValidateSpecs(ark.DefaultSpecs()); err != nil {
		t.Fatalf("ValidateSpecs(DefaultSpecs()) = %v", err)
	}
	ok := ark.Spec{Name: "my.flavor-1", Category: "CPU", CPU: 1, MemoryMB: 512}
	for name, mod := range map[string]func(*ark.Spec){
		"empty name":       func(s *ark.Spec) { s.Name = "" },
		"custom":           func(s *ark.Spec) { s.Name = "custom" },
		"slash":            func(s *ark.Spec) { s.Name = "a/b" },
		"zero cpu":         func(s *ark.Spec) { s.CPU = 0 },
		"NaN cpu":          func(s *ark.Spec) { s.CPU = math.NaN() },
		"zero memory":      func(s *ark.Spec) { s.MemoryMB = 0 },
		"negative gpu":     func(s *ark.Spec) { s.GPU = -1 },
		"negative npu":     func(s *ark.Spec) { s.NPU = -1 },
		"unknown category": func(s *ark.Spec) { s.Category = "TPU" },
	} {
		s := ok
		mod(&s)
		if err := ark.ValidateSpecs([]ark.Spec{s}); err == nil {
			t.Errorf("%s: ValidateSpecs(%+v) = nil; want an error", name, s)
		}
	}
	if err := ark.ValidateSpecs([]ark.Spec{ok, ok}); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("ValidateSpecs with a duplicate = %v; want an error saying defined twice", err)
	}
}
