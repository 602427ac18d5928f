// Package agent is arkserve's edge agent: it registers an edge node with a server, sends
// heartbeats, long-polls the placements of its node and runs them as local processes with the
// process runtime, reporting their state with each heartbeat (docs/edge.md).
//
// The agent is a reconcile loop too: what should run is the server's answer to the last long
// poll; what runs is the instances it holds. Each change of either (a new answer, an instance that
// became ready or exited) starts the instances that are missing, stops those no longer wanted,
// and sends a heartbeat at once, so that the server's edge rollout sees the outcome without
// waiting for the next interval.
package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/arkserve/arkserve/internal/ark"
	"github.com/arkserve/arkserve/internal/runtime/process"
)

// Defaults of Agent.
const (
	DefaultRestartDelay = 5 * time.Second
	retryDelay          = 2 * time.Second // after a failed request to the server
	// PollWait is how long a long poll of the placements may wait for a change (below the
	// server's MaxPlacementsWait and its clients' 60 s timeout).
	PollWait = 25 * time.Second
)

// ErrRefused is returned by Run when the server refuses the agent's credential (revoked, of
// another project, or the node belongs to another project): retrying cannot help.
var ErrRefused = errors.New("agent: the server refused the node credential")

// Agent runs one edge node. Set its fields, then call Run.
type Agent struct {
	Server     string        // base URL of the arkserve server, e.g. http://10.0.0.1:8111
	Credential string        // the node credential (arkn1.<project>.<id>.<secret>)
	ProjectID  string        // the credential's project
	NodeID     string        // the node's id (kept in the agent's data dir)
	Facts      ark.NodeFacts // what the node registers
	Runtime    *process.Runtime
	Logger     *slog.Logger
	// RestartDelay is how long an instance that exited after it was ready waits before it is
	// started again (default DefaultRestartDelay). An instance that never became ready is not
	// restarted: its placement failed, and the server decides what the node runs next.
	RestartDelay time.Duration
	HTTP         *http.Client // nil: a client with a 60 s timeout
	// ModelDir is where the agent keeps the copies of models it downloads from the server
	// (models.go); "" runs each model from its source_location, which must then exist on the
	// node.
	ModelDir string

	mu        sync.Mutex // protects the fields below
	interval  time.Duration
	desired   map[string]ark.EdgeAssignment // by service id
	running   map[string]*instance          // by service id
	agentErr  string
	changed   chan struct{} // a reconcile and a heartbeat are due
	watchers  sync.WaitGroup
	restartAt map[string]time.Time // by service id

	fetchMu sync.Mutex // one model download at a time
}

// instance is one instance of a placement and what the agent knows of it. It is launched in a
// goroutine of its own (its model may have to be downloaded first): until launched is closed,
// inst is not set.
type instance struct {
	a        ark.EdgeAssignment
	cancel   context.CancelFunc // ends the launch and the watch
	launched chan struct{}      // closed once inst is set (or its start failed)
	inst     *process.Instance  // nil when it could not be started
	modelDir string             // the copy of the model it runs, when the agent keeps copies
	status   string             // running | notReady | failed
	message  string
	ready    bool // it was ready once

	sampledAt  time.Time // the previous CPU sample (its start at first)
	sampledCPU float64
}

func (a *Agent) log() *slog.Logger {
	if a.Logger != nil {
		return a.Logger
	}
	return slog.Default()
}

// Run registers the node and runs it until ctx ends; then it stops every instance (SIGTERM, then
// SIGKILL after each one's grace period) and returns nil once every goroutine it started has
// ended. It returns ErrRefused (after stopping its instances) when the server refuses the
// credential, at registration or later.
func (a *Agent) Run(ctx context.Context) error {
	if a.HTTP == nil {
		a.HTTP = &http.Client{Timeout: 60 * time.Second}
	}
	a.desired, a.running, a.restartAt = map[string]ark.EdgeAssignment{}, map[string]*instance{}, map[string]time.Time{}
	a.changed = make(chan struct{}, 1)
	if err := a.register(ctx); err != nil || ctx.Err() != nil {
		return err
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.poll(ctx, cancel)
	}()
	a.loop(ctx, cancel)
	wg.Wait()
	a.stopAll(context.WithoutCancel(ctx))
	a.watchers.Wait()
	if err := context.Cause(ctx); errors.Is(err, ErrRefused) {
		return err
	}
	return nil
}

// register registers the node, retrying while the server cannot be reached.
func (a *Agent) register(ctx context.Context) error {
	for {
		var resp struct {
			HeartbeatIntervalSeconds int `json:"heartbeat_interval_seconds"`
		}
		err := a.call(ctx, "PUT", "registration", nil, a.Facts, &resp)
		if err == nil {
			a.interval = time.Duration(max(1, resp.HeartbeatIntervalSeconds)) * time.Second
			a.log().Info("node registered", "node", a.NodeID, "name", a.Facts.Name, "heartbeat", a.interval)
			return nil
		}
		if errors.Is(err, ErrRefused) {
			return err
		}
		a.log().Warn("register the node", "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(retryDelay):
		}
	}
}

// loop reconciles and sends heartbeats: every interval, and at once after every change.
func (a *Agent) loop(ctx context.Context, cancel context.CancelCauseFunc) {
	t := time.NewTicker(a.interval)
	defer t.Stop()
	for {
		a.reconcile(ctx)
		if err := a.heartbeat(ctx); err != nil && ctx.Err() == nil {
			if errors.Is(err, ErrRefused) {
				cancel(err)
				return
			}
			a.log().Warn("heartbeat", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-a.changed:
		}
	}
}

// kick asks the loop for a reconcile and a heartbeat now.
func (a *Agent) kick() {
	select {
	case a.changed <- struct{}{}:
	default:
	}
}

// poll long-polls the node's placements and records each new answer.
func (a *Agent) poll(ctx context.Context, cancel context.CancelCauseFunc) {
	version := ""
	for ctx.Err() == nil {
		var resp struct {
			Version    string               `json:"version"`
			Placements []ark.EdgeAssignment `json:"placements"`
		}
		q := url.Values{"version": {version}, "wait": {strconv.Itoa(int(PollWait / time.Second))}}
		err := a.call(ctx, "GET", "placements", q, nil, &resp)
		switch {
		case errors.Is(err, ErrRefused):
			cancel(err)
			return
		case err != nil:
			if ctx.Err() == nil {
				a.log().Warn("fetch placements", "err", err)
			}
			select {
			case <-ctx.Done():
			case <-time.After(retryDelay):
			}
			continue
		case resp.Version == version:
			continue
		}
		version = resp.Version
		want := map[string]ark.EdgeAssignment{}
		for _, p := range resp.Placements {
			want[p.ServiceID] = p
		}
		a.mu.Lock()
		a.desired = want
		a.mu.Unlock()
		a.log().Info("placements", "count", len(want), "version", version)
		a.kick()
	}
}

// reconcile stops the instances that are not wanted (or of another placement) and starts the
// missing ones.
func (a *Agent) reconcile(ctx context.Context) {
	a.mu.Lock()
	var stop []*instance
	var start []ark.EdgeAssignment
	now := time.Now()
	for sid, in := range a.running {
		want, ok := a.desired[sid]
		restart := in.ready && in.status == ark.InstanceFailed && !now.Before(a.restartAt[sid])
		if !ok || want.UpdateTime != in.a.UpdateTime || restart {
			stop = append(stop, in)
			delete(a.running, sid)
		}
	}
	for sid, want := range a.desired {
		if _, ok := a.running[sid]; !ok {
			start = append(start, want)
		}
	}
	a.mu.Unlock()
	a.stop(context.WithoutCancel(ctx), stop)
	for _, want := range start {
		if ctx.Err() != nil {
			return
		}
		a.start(ctx, want)
	}
}

// start launches the instance of a placement: it counts as not ready while its model is
// downloaded and its process starts.
func (a *Agent) start(ctx context.Context, as ark.EdgeAssignment) {
	ctx, cancel := context.WithCancel(ctx)
	in := &instance{a: as, cancel: cancel, launched: make(chan struct{}), status: ark.InstanceNotReady, sampledAt: time.Now()}
	a.mu.Lock()
	a.running[as.ServiceID] = in
	a.mu.Unlock()
	a.watchers.Add(1)
	go func() {
		defer a.watchers.Done()
		if a.launch(ctx, in) {
			a.watch(ctx, in)
		}
	}()
}

// launch fetches the instance's model (when the agent keeps copies) and starts its process; it
// reports whether the process runs.
func (a *Agent) launch(ctx context.Context, in *instance) bool {
	spec := in.a.Instance
	var p *process.Instance
	var err error
	started := false // the runtime was asked: an error of it means the node cannot run instances
	switch {
	case spec.Error != "":
		err = errors.New(spec.Error)
	case a.ModelDir != "" && spec.ModelDir != "":
		err = a.fetchModel(ctx, in)
	}
	if err == nil {
		dir := spec.ModelDir
		a.mu.Lock()
		if in.modelDir != "" {
			dir = in.modelDir
		}
		a.mu.Unlock()
		started = true
		p, err = a.Runtime.Start(ctx, process.Spec{InstanceID: ark.NewUUID(), ServiceID: in.a.ServiceID,
			ModelID: spec.ModelID, ModelDir: dir, Cmd: spec.Cmd, Env: spec.Envs, Health: spec.Health,
			GracePeriod: time.Duration(spec.GracePeriodSeconds) * time.Second, CPU: spec.CPU, MemoryMB: spec.MemoryMB,
			ProjectID: a.ProjectID})
	}
	a.mu.Lock()
	defer close(in.launched)
	defer a.mu.Unlock()
	in.inst = p
	if ctx.Err() != nil {
		return false // stopped meanwhile: stop takes it from here
	}
	if err != nil {
		in.status, in.message = ark.InstanceFailed, fmt.Sprintf("could not be started: %v", err)
		a.log().Warn("start instance", "service", in.a.ServiceID, "err", err)
		if started {
			a.agentErr = in.message // the node cannot run instances: its state is FAIL
		}
		a.kick() // report it now, not at the next interval
		return false
	}
	a.agentErr = ""
	a.log().Info("instance started", "service", in.a.ServiceID, "update_time", in.a.UpdateTime, "addr", p.Addr())
	return true
}

// deployTimeout is how long an instance may take to be ready, its model's download included.
func deployTimeout(spec ark.EdgeInstance) time.Duration {
	if spec.DeployTimeoutSeconds > 0 {
		return time.Duration(spec.DeployTimeoutSeconds) * time.Second
	}
	return ark.DefaultDeployTimout * time.Second
}

// watch follows an instance: readiness within the deploy timeout, then its exit.
func (a *Agent) watch(ctx context.Context, in *instance) {
	err := in.inst.WaitReady(ctx, deployTimeout(in.a.Instance))
	if ctx.Err() != nil {
		return
	}
	a.mu.Lock()
	if err != nil {
		in.status, in.message = ark.InstanceFailed, tail(fmt.Sprintf("not ready: %v", err), in.inst)
	} else {
		in.status, in.ready = ark.InstanceRunning, true
	}
	a.mu.Unlock()
	a.kick()
	if err != nil {
		return
	}
	select {
	case <-ctx.Done():
		return
	case <-in.inst.Exited():
	}
	a.mu.Lock()
	in.status, in.message = ark.InstanceFailed, tail(fmt.Sprintf("exited: %v", in.inst.ExitError()), in.inst)
	delay := a.RestartDelay
	if delay <= 0 {
		delay = DefaultRestartDelay
	}
	a.restartAt[in.a.ServiceID] = time.Now().Add(delay)
	a.mu.Unlock()
	a.log().Warn("instance exited; restarting it later", "service", in.a.ServiceID, "err", in.inst.ExitError(), "after", delay)
	a.kick()
	select {
	case <-ctx.Done():
	case <-time.After(delay):
		a.kick()
	}
}

// tail adds the last lines of an instance's log to a message.
func tail(msg string, in *process.Instance) string {
	if t := strings.TrimSpace(in.LogTail(5)); t != "" {
		msg += ". Last lines of its log: " + t
	}
	if len(msg) > 900 {
		msg = strings.ToValidUTF8(msg[:900], "") + "..."
	}
	return msg
}

// stop stops instances in parallel and waits for them (a launch in progress is ended first).
func (a *Agent) stop(ctx context.Context, ins []*instance) {
	var wg sync.WaitGroup
	for _, in := range ins {
		in.cancel()
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-in.launched
			if in.inst == nil {
				return
			}
			if err := in.inst.Stop(ctx); err != nil {
				a.log().Warn("stop instance", "service", in.a.ServiceID, "err", err)
			}
			a.log().Info("instance stopped", "service", in.a.ServiceID, "update_time", in.a.UpdateTime)
		}()
	}
	wg.Wait()
}

func (a *Agent) stopAll(ctx context.Context) {
	a.mu.Lock()
	var all []*instance
	for sid, in := range a.running {
		all = append(all, in)
		delete(a.running, sid)
	}
	a.mu.Unlock()
	a.stop(ctx, all)
}

// heartbeat reports the node's instances.
func (a *Agent) heartbeat(ctx context.Context) error {
	a.mu.Lock()
	body := struct {
		Error     string             `json:"error"`
		Instances []ark.NodeInstance `json:"instances"`
	}{Error: a.agentErr, Instances: []ark.NodeInstance{}}
	type running struct {
		in   *instance
		inst *process.Instance
	}
	var ins []running
	for _, in := range a.running {
		ins = append(ins, running{in, in.inst})
	}
	a.mu.Unlock()
	for _, r := range ins {
		in := r.in
		var u process.Usage
		if r.inst != nil {
			u = r.inst.Usage() // reads /proc: outside the lock
		}
		now := time.Now()
		a.mu.Lock()
		cores := 0.0
		if d := now.Sub(in.sampledAt).Seconds(); d > 0 {
			cores = max(0, u.CPUSeconds-in.sampledCPU) / d
		}
		in.sampledAt, in.sampledCPU = now, u.CPUSeconds
		body.Instances = append(body.Instances, ark.NodeInstance{ServiceID: in.a.ServiceID, UpdateTime: in.a.UpdateTime,
			Status: in.status, Message: in.message, MemoryMB: u.MemoryMB, CPUCores: cores})
		a.mu.Unlock()
	}
	err := a.call(ctx, "POST", "heartbeat", nil, body, nil)
	var apiErr *APIError
	if errors.As(err, &apiErr) && apiErr.Code == ark.ENodeNotFound {
		// The node was deleted on the server: register it again.
		return a.call(ctx, "PUT", "registration", nil, a.Facts, nil)
	}
	return err
}

// APIError is an error answer of the server.
type APIError struct {
	Status  int
	Code    string `json:"error_code"`
	Message string `json:"error_msg"`
}

func (e *APIError) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

// call sends one request of the agent API for the agent's node and decodes the answer into out.
// 401 and 403 are ErrRefused.
func (a *Agent) call(ctx context.Context, method, path string, q url.Values, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	req, err := a.newRequest(ctx, method, path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := a.HTTP.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		e := apiError(resp.StatusCode, raw)
		if resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden {
			return fmt.Errorf("%w: %v", ErrRefused, e)
		}
		return e
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(raw, out)
}

// newRequest is a request for path (and query) in the agent API of the agent's node, with the
// node credential.
func (a *Agent) newRequest(ctx context.Context, method, path string, body io.Reader) (*http.Request, error) {
	u := strings.TrimRight(a.Server, "/") + "/v1/" + a.ProjectID + "/nodes/" + a.NodeID + "/" + path
	req, err := http.NewRequestWithContext(ctx, method, u, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+a.Credential)
	return req, nil
}

// apiError is the server's error answer with the status and body given.
func apiError(status int, body []byte) *APIError {
	e := &APIError{Status: status}
	_ = json.Unmarshal(body, e)
	return e
}

// NodeID returns the node id kept in dir/node-id, creating it (a new UUID, file mode 0600) on the
// first start: the node keeps its identity across restarts of the agent.
func NodeID(dir string) (string, error) {
	path := filepath.Join(dir, "node-id")
	b, err := os.ReadFile(path)
	if err == nil {
		id := strings.TrimSpace(string(b))
		if !ark.IsUUID(id) {
			return "", fmt.Errorf("%s does not hold a node id", path)
		}
		return id, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", err
	}
	id := ark.NewUUID()
	if err := os.WriteFile(path, []byte(id+"\n"), 0o600); err != nil {
		return "", err
	}
	return id, nil
}
