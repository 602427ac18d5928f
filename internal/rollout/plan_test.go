package rollout

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/arkserve/arkserve/internal/ark"
)

func TestPlanGroup(t *testing.T) {
	grace := 7
	launch := map[string]string{"tf2.1": "serve-tf2", ark.ModelTypeTensorFlow: "serve-tf", ark.ModelTypeMindSpore: ""}
	base := ark.ServiceConfig{ModelID: "m1", ModelName: "echo", ModelVersion: "1.0.0", InstanceCount: 2,
		Envs: map[string]string{"A": "b"}}
	model := func(cmd, typ, runtime string) *ark.Model {
		return &ark.Model{ID: "m1", Name: "echo", Version: "1.0.0", SourceLocation: "/models/echo", Cmd: cmd,
			ModelType: typ, Runtime: runtime}
	}
	for _, tc := range []struct {
		name        string
		cfg         func(*ark.ServiceConfig)
		model       *ark.Model
		wantCmd     string
		wantGrace   time.Duration
		wantTimeout time.Duration
		wantErr     string
	}{
		{name: "OwnCmd", model: model("python serve.py", ark.ModelTypeImage, ""), wantCmd: "python serve.py",
			wantGrace: ark.DefaultGracePeriod * time.Second, wantTimeout: time.Minute},
		{name: "ByRuntime", model: model("", ark.ModelTypeTensorFlow, "tf2.1"), wantCmd: "serve-tf2",
			wantGrace: ark.DefaultGracePeriod * time.Second, wantTimeout: time.Minute},
		{name: "ByModelType", model: model("", ark.ModelTypeTensorFlow, "tf1.8"), wantCmd: "serve-tf",
			wantGrace: ark.DefaultGracePeriod * time.Second, wantTimeout: time.Minute},
		{name: "GraceAndTimeout", model: model("x", ark.ModelTypeImage, ""), wantCmd: "x",
			cfg: func(c *ark.ServiceConfig) {
				c.DeployTimeoutSeconds = 90
				c.AdditionalProperties = map[string]ark.ModelAdditionalProperties{"m1": {TerminationGracePeriodSeconds: &grace}}
			},
			wantGrace: 7 * time.Second, wantTimeout: 90 * time.Second},
		{name: "ErrNoCommand", model: model("", ark.ModelTypeMindSpore, "ms1"), wantErr: `model echo@1.0.0 has no cmd and this server has no launch command for its runtime "ms1"`},
		{name: "ErrNoInstances", model: model("x", ark.ModelTypeImage, ""), cfg: func(c *ark.ServiceConfig) { c.InstanceCount = 0 },
			wantErr: "instance_count 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := base
			if tc.cfg != nil {
				tc.cfg(&c)
			}
			g, err := planGroup(c, tc.model, launch, true, time.Minute)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("planGroup error = %v; want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if g.spec.Cmd != tc.wantCmd || g.spec.GracePeriod != tc.wantGrace || g.timeout != tc.wantTimeout {
				t.Errorf("cmd %q, grace %s, timeout %s; want %q, %s, %s", g.spec.Cmd, g.spec.GracePeriod, g.timeout,
					tc.wantCmd, tc.wantGrace, tc.wantTimeout)
			}
			if g.cfg.InstanceCount != 2 || g.spec.ModelDir != "/models/echo" || g.spec.Env["A"] != "b" || g.label != "echo@1.0.0" {
				t.Errorf("group = %+v", g)
			}
			if g.period != time.Second || g.threshold != 3 {
				t.Errorf("liveness every %s, threshold %d; want the defaults 1s, 3", g.period, g.threshold)
			}
		})
	}
}

func TestGroupKey(t *testing.T) {
	one := 1.0
	a := ark.ServiceConfig{ModelID: "m1", ModelName: "echo", ModelVersion: "1.0.0", Weight: 80, InstanceCount: 1,
		Envs: map[string]string{"A": "1"}}
	for name, change := range map[string]func(*ark.ServiceConfig){
		"weight":         func(c *ark.ServiceConfig) { c.Weight = 20 },
		"instance_count": func(c *ark.ServiceConfig) { c.InstanceCount = 5 },
		"deploy timeout": func(c *ark.ServiceConfig) { c.DeployTimeoutSeconds = 90 },
		"names":          func(c *ark.ServiceConfig) { c.ModelName, c.ModelVersion = "", "" },
		"rolling bounds": func(c *ark.ServiceConfig) {
			c.AdditionalProperties = map[string]ark.ModelAdditionalProperties{"m1": {MaxSurge: &one, MaxUnavailable: &one}}
		},
	} {
		b := a
		change(&b)
		if groupKey(a) != groupKey(b) {
			t.Errorf("a change of the %s changed the group key: it would restart instances", name)
		}
	}
	for name, change := range map[string]func(*ark.ServiceConfig){
		"envs":  func(c *ark.ServiceConfig) { c.Envs = map[string]string{"A": "2"} },
		"model": func(c *ark.ServiceConfig) { c.ModelID = "m2" },
		"spec":  func(c *ark.ServiceConfig) { c.Specification = "modelarts.vm.cpu.2u" },
	} {
		b := a
		change(&b)
		if groupKey(a) == groupKey(b) {
			t.Errorf("a change of the %s kept the group key: the instances would not be replaced", name)
		}
	}
	if !strings.HasPrefix(groupKey(a), "m1-") {
		t.Errorf("groupKey = %q; want it to start with the model id", groupKey(a))
	}
	b := a
	b.Weight = 20
	if configKey([]ark.ServiceConfig{a}) == configKey([]ark.ServiceConfig{b}) {
		t.Error("configKey ignores weights; it must not")
	}
}

func TestRedact(t *testing.T) {
	env := map[string]string{"API_KEY": "abcd1234", "DB_PASSWORD": "abcd1234-long", "MODEL": "resnet50", "TOKEN": "x"}
	got := redact("key abcd1234 pw abcd1234-long model resnet50 x", env)
	if want := "key ****** pw ****** model resnet50 x"; got != want {
		t.Errorf("redact = %q; want %q", got, want)
	}
}

func TestBackoff(t *testing.T) {
	for n, want := range map[int]time.Duration{0: time.Second, 1: time.Second, 2: 2 * time.Second, 4: 8 * time.Second,
		9: 256 * time.Second, 10: 5 * time.Minute, 100: 5 * time.Minute} {
		if got := backoff(n); got != want {
			t.Errorf("backoff(%d) = %s; want %s", n, got, want)
		}
	}
}

func TestQueue(t *testing.T) {
	q := newQueue()
	q.add("a")
	q.add("b")
	q.add("a") // already queued
	if k, _ := q.get(); k != "a" {
		t.Fatalf("get = %q; want a", k)
	}
	q.add("a") // while a worker holds it: not handed to another worker
	if k, _ := q.get(); k != "b" {
		t.Fatalf("get = %q; want b", k)
	}
	q.mu.Lock()
	n := len(q.items)
	q.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d items queued while a is held; want 0", n)
	}
	q.done("a") // queued again, once
	q.done("b")
	if k, _ := q.get(); k != "a" {
		t.Fatalf("get = %q; want a again", k)
	}
	got := make(chan bool)
	go func() {
		_, ok := q.get()
		got <- ok
	}()
	q.close()
	if ok := <-got; ok {
		t.Error("get after close reported a key")
	}
	q.add("c") // no effect, no block
}

func TestRunNeedsStoreAndRuntime(t *testing.T) {
	var e Engine
	e.Notify("before-run") // never blocks, even before Run
	if err := e.Run(context.Background()); err == nil {
		t.Fatal("Run without Store and Runtime succeeded")
	}
}
