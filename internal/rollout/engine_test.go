package rollout

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/arkserve/arkserve/internal/ark"
	"github.com/arkserve/arkserve/internal/runtime/process"
	"github.com/arkserve/arkserve/internal/runtime/process/processtest"
)

// The engine tests run real model-server processes (processtest) against the real SQLite store
// (testStore in store_test.go).

var testModel string

func TestMain(m *testing.M) { os.Exit(processtest.Main(m, &testModel)) }

type harness struct {
	store  *testStore
	engine *Engine
	dir    string // the runtime's instance directory
	cancel context.CancelFunc
	done   chan error
}

// run starts an engine on store with a process runtime in dir and stops it when the test ends.
func run(t *testing.T, store *testStore, dir string, mod func(*Engine)) *harness {
	t.Helper()
	rt := &process.Runtime{Dir: dir, Logger: slog.New(slog.DiscardHandler)}
	e := &Engine{Store: store, Runtime: ProcessRuntime(rt), Logger: slog.New(slog.DiscardHandler),
		ResyncInterval: 100 * time.Millisecond, DefaultDeployTimeout: 30 * time.Second, Holder: testHolder}
	if mod != nil {
		mod(e)
	}
	ctx, cancel := context.WithCancel(context.Background())
	h := &harness{store: store, engine: e, dir: dir, cancel: cancel, done: make(chan error, 1)}
	go func() { h.done <- e.Run(ctx) }()
	t.Cleanup(h.stop)
	return h
}

// stop ends Run and waits for it; safe to call twice.
func (h *harness) stop() {
	h.cancel()
	if h.done != nil {
		<-h.done
		h.done = nil
	}
}

func newHarness(t *testing.T) *harness {
	return run(t, newTestStore(t), filepath.Join(t.TempDir(), "instances"), nil)
}

// model registers a test model that answers /version with version; env are TESTMODEL_* knobs put
// in its cmd.
func (h *harness) model(t *testing.T, version string, env ...string) string {
	t.Helper()
	return addModel(t, h.store, version, env...)
}

func addModel(t *testing.T, store *testStore, version string, env ...string) string {
	t.Helper()
	id := ark.NewUUID()
	store.addModel(&ark.Model{
		ID: id, Name: "echo", Version: version, SourceLocation: t.TempDir(),
		Cmd:    strings.Join(append(append([]string{"TESTMODEL_VERSION=" + version}, env...), "exec", testModel), " "),
		Health: ark.Health{PeriodSeconds: 1, FailureThreshold: 2},
	})
	return id
}

func conf(modelID string, weight, n int) ark.ServiceConfig {
	grace := 2
	return ark.ServiceConfig{ModelID: modelID, Weight: weight, InstanceCount: n, Specification: "arkserve.local.small",
		AdditionalProperties: map[string]ark.ModelAdditionalProperties{modelID: {TerminationGracePeriodSeconds: &grace}}}
}

// waitFor polls the store until cond holds; it fails the test after a generous deadline.
func (h *harness) waitFor(t *testing.T, id, what string, cond func(snapshot) bool) snapshot {
	t.Helper()
	deadline := time.Now().Add(40 * time.Second)
	for {
		s := h.store.get(id)
		if cond(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("waiting for %s: status %q, progress %d, error %q, logs %+v\nevents:\n%s",
				what, s.svc.Status, s.svc.Progress, s.svc.ErrorMsg, s.logs, s.eventText())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (h *harness) waitResult(t *testing.T, id string, updateTime int64, result, status string) snapshot {
	t.Helper()
	return h.waitFor(t, id, "entry "+result+", status "+status, func(s snapshot) bool {
		return s.result(updateTime) == result && s.svc.Status == status
	})
}

func firstEntry(t *testing.T, s snapshot) int64 {
	t.Helper()
	if len(s.logs) == 0 {
		t.Fatal("no update-log entry")
	}
	return s.logs[0].UpdateTime
}

// versions asks every endpoint of the service which version it runs.
func (h *harness) versions(t *testing.T, id string) []string {
	t.Helper()
	var out []string
	for _, ep := range h.engine.Endpoints(id) {
		resp, err := http.Get("http://" + ep.Addr + "/version")
		if err != nil {
			t.Fatalf("GET %s/version: %v", ep.Addr, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		out = append(out, string(b))
	}
	sort.Strings(out)
	return out
}

// pids returns the process ids of the instances the engine holds for a service.
func (h *harness) pids(id string) []int {
	e := h.engine
	e.mu.Lock()
	defer e.mu.Unlock()
	st := e.svcs[id]
	if st == nil {
		return nil
	}
	var out []int
	for _, m := range st.members {
		if m.inst != nil {
			out = append(out, m.inst.(processInstance).PID)
		}
	}
	sort.Ints(out)
	return out
}

// alive reports whether pid runs (a zombie counts as exited).
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || !strings.HasPrefix(s[i+1:], " Z")
}

func waitGone(t *testing.T, pids []int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for _, pid := range pids {
		for alive(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("process %d still runs", pid)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
}

func equal(a, b []string) bool { return strings.Join(a, ",") == strings.Join(b, ",") }

func TestDeployUpdateRollBack(t *testing.T) {
	h := newHarness(t)
	v1, v2 := h.model(t, "1.0.1"), h.model(t, "1.0.2")
	bad := h.model(t, "1.0.9", "TESTMODEL_EXIT=3")

	id := h.store.userDeploy("echo", []ark.ServiceConfig{conf(v1, 100, 2)})
	h.engine.Notify(id)
	s := h.waitResult(t, id, firstEntry(t, h.store.get(id)), ark.ResultSuccess, ark.StatusRunning)
	if !s.hasEvent(ark.EventNormal, "Service echo started.") || s.svc.Progress != 100 {
		t.Errorf("after the first deployment: progress %d, events:\n%s", s.svc.Progress, s.eventText())
	}
	if got := h.versions(t, id); !equal(got, []string{"1.0.1", "1.0.1"}) {
		t.Fatalf("endpoints answer %v; want 2 x 1.0.1", got)
	}
	oldPIDs := h.pids(id)

	// A successful update: v1 scales down to one of its instances (kept, not restarted), v2 starts.
	ut := h.store.userUpdate(t, id, []ark.ServiceConfig{conf(v1, 70, 1), conf(v2, 30, 1)})
	h.engine.Notify(id)
	s = h.waitResult(t, id, ut, ark.ResultSuccess, ark.StatusRunning)
	if !s.hasEvent(ark.EventNormal, eventUpdated) {
		t.Errorf("no update event:\n%s", s.eventText())
	}
	kept := 0
	for _, pid := range oldPIDs {
		if alive(pid) {
			kept++
		}
	}
	if kept != 1 {
		t.Errorf("%d of the v1 instances still run; want 1 (scaled down from 2, not restarted)", kept)
	}
	if got := h.versions(t, id); !equal(got, []string{"1.0.1", "1.0.2"}) {
		t.Fatalf("endpoints answer %v; want 1.0.1 and 1.0.2", got)
	}
	weights := map[string]int{}
	for _, ep := range h.engine.Endpoints(id) {
		weights[ep.ModelID] = ep.Weight
	}
	if weights[v1] != 70 || weights[v2] != 30 {
		t.Errorf("endpoint weights %v; want 70 and 30", weights)
	}
	servingPIDs := h.pids(id)

	// A broken version: FAIL, rolled back, the previous instances still serve.
	ut = h.store.userUpdate(t, id, []ark.ServiceConfig{conf(v1, 50, 1), conf(bad, 50, 1)})
	h.engine.Notify(id)
	s = h.waitResult(t, id, ut, ark.ResultFail, ark.StatusRunning)
	for _, want := range []string{"Model echo@1.0.9", "exit status 3", "failing on purpose with code 3"} {
		if !s.hasEvent(ark.EventAbnormal, want) {
			t.Errorf("no abnormal event with %q:\n%s", want, s.eventText())
		}
	}
	if !s.hasEvent(ark.EventNormal, ark.EventRolledBack) {
		t.Errorf("no rollback event:\n%s", s.eventText())
	}
	// The store records model names and versions in the config; compare with the previous entry's.
	if prev := s.logs[len(s.logs)-2]; configKey(s.svc.Config) != configKey(prev.Config) ||
		prev.Config[0].ModelID != v1 || prev.Config[0].Weight != 70 || prev.Config[1].ModelID != v2 {
		t.Errorf("config after rollback = %+v; want the previous one", s.svc.Config)
	}
	if got := h.versions(t, id); !equal(got, []string{"1.0.1", "1.0.2"}) {
		t.Fatalf("after rollback endpoints answer %v; want 1.0.1 and 1.0.2", got)
	}
	if got := h.pids(id); fmt.Sprint(got) != fmt.Sprint(servingPIDs) {
		t.Errorf("instances after rollback %v; want the same as before %v", got, servingPIDs)
	}
	// Every instance the engine started and gave up is gone: only the serving ones remain.
	h.waitFor(t, id, "no stray instance directories", func(snapshot) bool {
		entries, _ := filepath.Glob(filepath.Join(h.dir, "*.pid"))
		return len(entries) == 2
	})
}

func TestFirstDeploymentFails(t *testing.T) {
	h := newHarness(t)
	bad := h.model(t, "1.0.0", "TESTMODEL_EXIT=7")
	id := h.store.userDeploy("echo", []ark.ServiceConfig{conf(bad, 100, 2)})
	h.engine.Notify(id)
	s := h.waitResult(t, id, firstEntry(t, h.store.get(id)), ark.ResultFail, ark.StatusFailed)
	if !strings.Contains(s.svc.ErrorMsg, "exit status 7") {
		t.Errorf("error_msg = %q; want the exit status", s.svc.ErrorMsg)
	}
	if !s.hasEvent(ark.EventAbnormal, eventDeployFailed) || !s.hasEvent(ark.EventAbnormal, "exit status 7") {
		t.Errorf("events:\n%s", s.eventText())
	}
	if got := h.pids(id); len(got) != 0 {
		t.Errorf("instances after the failure: %v", got)
	}
}

func TestNotReadyInTime(t *testing.T) {
	h := newHarness(t)
	slow := h.model(t, "1.0.0", "TESTMODEL_SLEEP=1h")
	c := conf(slow, 100, 1)
	c.DeployTimeoutSeconds = 1
	id := h.store.userDeploy("echo", []ark.ServiceConfig{c})
	h.engine.Notify(id)
	s := h.waitResult(t, id, firstEntry(t, h.store.get(id)), ark.ResultFail, ark.StatusFailed)
	if !s.hasEvent(ark.EventAbnormal, "not ready within 1s") {
		t.Errorf("events:\n%s", s.eventText())
	}
}

func TestLaunchCommands(t *testing.T) {
	store := newTestStore(t)
	dir := filepath.Join(t.TempDir(), "instances")
	h := run(t, store, dir, func(e *Engine) {
		e.LaunchCommands = map[string]string{"TensorFlow": "TESTMODEL_VERSION=tf exec " + testModel}
	})
	tf := &ark.Model{ID: ark.NewUUID(), Name: "tf", Version: "1.0.0", SourceLocation: t.TempDir(), ModelType: ark.ModelTypeTensorFlow, Runtime: "tf2.1"}
	torch := &ark.Model{ID: ark.NewUUID(), Name: "torch", Version: "1.0.0", SourceLocation: t.TempDir(), ModelType: ark.ModelTypePyTorch, Runtime: "pytorch1.4"}
	store.addModel(tf)
	store.addModel(torch)

	ok := store.userDeploy("tf", []ark.ServiceConfig{conf(tf.ID, 100, 1)})
	h.engine.Notify(ok)
	h.waitResult(t, ok, firstEntry(t, store.get(ok)), ark.ResultSuccess, ark.StatusRunning)
	if got := h.versions(t, ok); !equal(got, []string{"tf"}) {
		t.Errorf("endpoints answer %v; want tf", got)
	}

	none := store.userDeploy("torch", []ark.ServiceConfig{conf(torch.ID, 100, 1)})
	h.engine.Notify(none)
	s := h.waitResult(t, none, firstEntry(t, store.get(none)), ark.ResultFail, ark.StatusFailed)
	if !strings.Contains(s.svc.ErrorMsg, "no cmd") || !strings.Contains(s.svc.ErrorMsg, "pytorch1.4") {
		t.Errorf("error_msg = %q; want it to say there is no command for the runtime", s.svc.ErrorMsg)
	}
}

func TestStopStartDelete(t *testing.T) {
	h := newHarness(t)
	v1 := h.model(t, "1.0.1")
	id := h.store.userDeploy("echo", []ark.ServiceConfig{conf(v1, 100, 2)})
	h.engine.Notify(id)
	h.waitResult(t, id, firstEntry(t, h.store.get(id)), ark.ResultSuccess, ark.StatusRunning)
	pids := h.pids(id)

	h.store.userStatus(id, ark.StatusStopped)
	h.engine.Notify(id)
	s := h.waitFor(t, id, "stopped", func(s snapshot) bool { return s.svc.Status == ark.StatusStopped })
	waitGone(t, pids)
	if !s.hasEvent(ark.EventNormal, ark.EventStopped) {
		t.Errorf("events:\n%s", s.eventText())
	}
	if eps := h.engine.Endpoints(id); len(eps) != 0 {
		t.Errorf("endpoints of a stopped service: %v", eps)
	}

	h.store.userStatus(id, ark.StatusRunning)
	h.engine.Notify(id)
	s = h.waitFor(t, id, "running again", func(s snapshot) bool { return s.svc.Status == ark.StatusRunning })
	if got := h.versions(t, id); !equal(got, []string{"1.0.1", "1.0.1"}) {
		t.Fatalf("endpoints answer %v after the start; want 2 x 1.0.1", got)
	}
	if n := strings.Count(s.eventText(), "Service echo started."); n != 2 {
		t.Errorf("%d start events; want 2 (deployment and start):\n%s", n, s.eventText())
	}
	pids = h.pids(id)

	h.store.userDelete(id)
	h.engine.Notify(id)
	h.waitFor(t, id, "purged", func(s snapshot) bool { return !s.exists })
	waitGone(t, pids)
}

func TestRestoreAfterRestart(t *testing.T) {
	store := newTestStore(t)
	dir := filepath.Join(t.TempDir(), "instances")
	h := run(t, store, dir, nil)
	v1 := h.model(t, "1.0.1")
	id := store.userDeploy("echo", []ark.ServiceConfig{conf(v1, 100, 2)})
	h.engine.Notify(id)
	h.waitResult(t, id, firstEntry(t, store.get(id)), ark.ResultSuccess, ark.StatusRunning)
	pids := h.pids(id)

	h.stop() // a server shutdown: Run returns only after the instances are stopped
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("instance %d still runs after Run returned", pid)
		}
	}

	// An instance left behind by a server that crashed, in the same directory.
	orphanRT := &process.Runtime{Dir: dir, Logger: slog.New(slog.DiscardHandler)}
	orphan, err := orphanRT.Start(context.Background(), process.Spec{InstanceID: "orphan", ModelDir: t.TempDir(),
		Cmd: "exec " + testModel, GracePeriod: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer orphan.Stop(context.Background())

	h2 := run(t, store, dir, nil) // the server starts again: the store still says running
	<-orphan.Exited()
	s := h2.waitFor(t, id, "restored", func(s snapshot) bool {
		return s.svc.Status == ark.StatusRunning && s.hasEvent(ark.EventNormal, eventRestored)
	})
	if !s.hasEvent(ark.EventNormal, eventRestoring) {
		t.Errorf("events:\n%s", s.eventText())
	}
	if got := h2.versions(t, id); !equal(got, []string{"1.0.1", "1.0.1"}) {
		t.Fatalf("endpoints answer %v after the restart; want 2 x 1.0.1", got)
	}
}

func TestRestartMidUpdateRollsBack(t *testing.T) {
	// The server died during an update; the new version cannot run. The entry fails and the
	// previous configuration, which no longer runs anywhere, is started again.
	store := newTestStore(t)
	v1, bad := addModel(t, store, "1.0.1"), addModel(t, store, "1.0.9", "TESTMODEL_EXIT=3")
	id := store.userDeploy("echo", []ark.ServiceConfig{conf(v1, 100, 1)})
	// The first deployment succeeded before.
	if ok, err := store.FinishUpdate(context.Background(), store.lease(id), firstEntry(t, store.get(id)), ark.ResultSuccess,
		ark.StatusChange{Status: ark.StatusRunning, Progress: 100}); err != nil || !ok {
		t.Fatalf("FinishUpdate = %v, %v", ok, err)
	}
	ut := store.userUpdate(t, id, []ark.ServiceConfig{conf(bad, 100, 1)})
	h := run(t, store, filepath.Join(t.TempDir(), "instances"), nil) // found by the first resync
	h.waitResult(t, id, ut, ark.ResultFail, ark.StatusRunning)
	if got := h.versions(t, id); !equal(got, []string{"1.0.1"}) {
		t.Fatalf("endpoints answer %v; want the previous version 1.0.1", got)
	}
}

func TestCrashedInstanceRestarts(t *testing.T) {
	h := newHarness(t)
	v1 := h.model(t, "1.0.1")
	id := h.store.userDeploy("echo", []ark.ServiceConfig{conf(v1, 100, 1)})
	h.engine.Notify(id)
	h.waitResult(t, id, firstEntry(t, h.store.get(id)), ark.ResultSuccess, ark.StatusRunning)
	pids := h.pids(id)
	if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	s := h.waitFor(t, id, "the crash noticed", func(s snapshot) bool { return s.hasEvent(ark.EventAbnormal, "killed by signal") })
	if !s.hasEvent(ark.EventAbnormal, "will be restarted in 1s") {
		t.Errorf("events:\n%s", s.eventText())
	}
	s = h.waitFor(t, id, "running again", func(s snapshot) bool {
		return s.svc.Status == ark.StatusRunning && s.hasEvent(ark.EventNormal, "All 1 instances of the service are ready.")
	})
	if !s.hasEvent(ark.EventAbnormal, "1 of 1 instances of the service are not ready.") {
		t.Errorf("no concerning event:\n%s", s.eventText())
	}
	if got := h.versions(t, id); !equal(got, []string{"1.0.1"}) {
		t.Fatalf("endpoints answer %v after the restart; want 1.0.1", got)
	}
	if got := h.pids(id); len(got) != 1 || got[0] == pids[0] {
		t.Errorf("instances %v; want one new instance", got)
	}
}

func TestSecretsStayOutOfEvents(t *testing.T) {
	h := newHarness(t)
	m := h.model(t, "1.0.0", `TESTMODEL_PRINT="key=$API_KEY"`, "TESTMODEL_EXIT=1")
	c := conf(m, 100, 1)
	c.Envs = map[string]string{"API_KEY": "s3cr3t-value-42", "MODEL_NAME": "resnet"}
	id := h.store.userDeploy("echo", []ark.ServiceConfig{c})
	h.engine.Notify(id)
	s := h.waitResult(t, id, firstEntry(t, h.store.get(id)), ark.ResultFail, ark.StatusFailed)
	if strings.Contains(s.eventText(), "s3cr3t-value-42") {
		t.Errorf("the secret is in the events:\n%s", s.eventText())
	}
	if !s.hasEvent(ark.EventAbnormal, "key=******") {
		t.Errorf("the masked line is not in the events:\n%s", s.eventText())
	}
}

// finishedElsewhere is a store whose RUNNING entry gets finished by someone else just before the
// engine finishes it.
type finishedElsewhere struct{ *testStore }

func (f finishedElsewhere) FinishUpdate(ctx context.Context, l ark.Lease, updateTime int64, result string, st ark.StatusChange, events ...ark.Event) (bool, error) {
	f.testStore.FinishUpdate(ctx, l, updateTime, ark.ResultFail, ark.StatusChange{Status: ark.StatusFailed, ErrorMsg: "cancelled"})
	return f.testStore.FinishUpdate(ctx, l, updateTime, result, st, events...)
}

func TestEntryFinishedElsewhere(t *testing.T) {
	store := newTestStore(t)
	var h *harness
	h = run(t, store, filepath.Join(t.TempDir(), "instances"), func(e *Engine) {
		e.Store = finishedElsewhere{store}
	})
	v1 := h.model(t, "1.0.1")
	id := store.userDeploy("echo", []ark.ServiceConfig{conf(v1, 100, 1)})
	h.engine.Notify(id)
	s := h.waitResult(t, id, firstEntry(t, store.get(id)), ark.ResultFail, ark.StatusFailed)
	if s.svc.ErrorMsg != "cancelled" {
		t.Errorf("error_msg = %q; the other writer's outcome must stand", s.svc.ErrorMsg)
	}
	h.waitFor(t, id, "no instances", func(snapshot) bool { return len(h.pids(id)) == 0 })
}
