package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/arkserve/arkserve/internal/agent"
)

// The edge tests run a real server and real agents: `arkserve agent` processes (this test binary,
// see TestMain) with data dirs of their own, registering with node credentials made by `arkserve
// admin node credential create`, and running real model processes.

// edgeTimings are short heartbeats and timeouts, so that a lost node is noticed within seconds.
func edgeTimings(c *Config) {
	c.Edge = EdgeConfig{HeartbeatInterval: duration{time.Second}, HeartbeatTimeout: duration{3 * time.Second},
		UnconnectedTimeout: duration{4 * time.Second}, ParallelNodes: 2}
}

// agentProcess is an `arkserve agent` running as a separate process.
type agentProcess struct {
	dir    string
	cmd    *exec.Cmd
	done   chan struct{}
	stderr *bytes.Buffer // guarded by done: read only after it is closed
}

func startAgent(t *testing.T, server, name, dir, credFile string) *agentProcess {
	t.Helper()
	p := &agentProcess{dir: dir, stderr: &bytes.Buffer{}}
	// Registered before startSelf's cleanup, so it runs after the agent has stopped.
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("agent %s stderr:\n%s", name, p.stderr)
		}
	})
	p.cmd, p.done = startSelf(t, p.stderr, nil, "agent", "--server", server, "--node-name", name, "--data-dir", dir,
		"--credential-file", credFile, "--log-level", "warn")
	return p
}

// exited waits for the agent to end by itself and returns its exit code and output.
func (p *agentProcess) exited(t *testing.T, within time.Duration) (int, string) {
	t.Helper()
	select {
	case <-p.done:
		return p.cmd.ProcessState.ExitCode(), p.stderr.String()
	case <-time.After(within):
		t.Fatalf("the agent in %s still runs after %s", p.dir, within)
		return 0, ""
	}
}

// nodeID waits for the agent to have made its node id.
func (p *agentProcess) nodeID(t *testing.T) string {
	t.Helper()
	var id string
	waitFor(t, 30*time.Second, "the agent's node id", func() bool {
		b, err := os.ReadFile(filepath.Join(p.dir, "node-id"))
		id = strings.TrimSpace(string(b))
		return err == nil && id != ""
	})
	return id
}

// waitFor polls cond until it holds, failing the test after within.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// runAdminCmd runs an arkserve admin command on the data dir and returns its output.
func runAdminCmd(t *testing.T, dir string, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if err := run(context.Background(), append([]string{"admin", "--data-dir", dir}, args...), &out, &errb); err != nil {
		t.Fatalf("admin %v: %v\n%s", args, err, errb.String())
	}
	return out.String()
}

// nodeCredential makes a node credential of a project (arkserve admin with the data dir and the
// flags) and writes it to a file; it returns the file and the credential's id.
func nodeCredential(t *testing.T, dir, project string, flags ...string) (file, id string) {
	t.Helper()
	out := runAdminCmd(t, dir, append(flags, "node", "credential", "create", "--project", project)...)
	var token string
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "arkn1.") {
			token = line
		}
		if rest, ok := strings.CutPrefix(line, "node credential "); ok {
			id, _, _ = strings.Cut(rest, " ")
		}
	}
	if token == "" || id == "" {
		t.Fatalf("admin node credential create printed %q", out)
	}
	file = filepath.Join(t.TempDir(), "credential")
	if err := os.WriteFile(file, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return file, id
}

// nodeInstances returns the pids of the service's instance processes that the agent with data dir
// dir started (their HOME is under it).
func nodeInstances(t *testing.T, serviceID, dir string) []string {
	t.Helper()
	var pids []string
	for _, pid := range instancePIDs(t, serviceID) {
		env, err := os.ReadFile(filepath.Join("/proc", pid, "environ"))
		if err == nil && bytes.Contains(env, []byte("\x00HOME="+filepath.Join(dir, "instances")+"/")) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// nodeState returns the state of a node as the nodes API reports it.
func (c *client) nodeState(pid, nodeID string) any {
	status, _, doc := c.do("GET", "/v1/"+pid+"/nodes/"+nodeID, nil)
	if status != http.StatusOK {
		return fmt.Sprintf("status %d", status)
	}
	return obj(doc, "state")
}

func edgeConfig(modelID string, env string, nodes ...string) []map[string]any {
	return []map[string]any{{"model_id": modelID, "specification": "arkserve.local.small", "instance_count": 1,
		"envs": map[string]any{"GREETING": env}, "nodes": nodes}}
}

// checkModelContent: the agent API serves a node the models of its placements (nodes 1 and 2 run
// model, from dir), as a gzip-compressed tar of the model's files with an ETag that If-None-Match
// answers with 304, and nothing else: not a file the server's instances could not read (when the
// server runs as root, they run as nobody), another model of the project, or the model to a node
// that does not run it, which are 404 ModelArts.3001.
func checkModelContent(t *testing.T, server, pid, credFile string, nodes [3]string, model, dir, other string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "secret.key"), []byte("only root reads this"), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(credFile)
	if err != nil {
		t.Fatal(err)
	}
	cred := strings.TrimSpace(string(b))
	get := func(node, model, etag string) (*http.Response, []byte) {
		req, _ := http.NewRequest("GET", server+"/v1/"+pid+"/nodes/"+node+"/models/"+model+"/content", nil)
		req.Header.Set("Authorization", "Bearer "+cred)
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, b
	}
	resp, body := get(nodes[0], model, "")
	etag := resp.Header.Get("ETag")
	if resp.StatusCode != http.StatusOK || etag == "" || resp.Header.Get("Content-Type") != "application/gzip" {
		t.Fatalf("model content: %d %v", resp.StatusCode, resp.Header)
	}
	zr, err := gzip.NewReader(bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for tr := tar.NewReader(zr); ; {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		files[hdr.Name] = string(b)
	}
	want := 2 // health and version
	if os.Geteuid() != 0 {
		want = 3 // instances run as the server's user, who reads secret.key too
	}
	if len(files) != want || files["version"] != "1.0.1\n" || files["health"] != "ok\n" {
		t.Fatalf("model content = %v; want the model's files that its instances could read", files)
	}
	if resp, _ := get(nodes[0], model, etag); resp.StatusCode != http.StatusNotModified {
		t.Fatalf("model content with If-None-Match: %d; want 304", resp.StatusCode)
	}
	for _, q := range []struct{ node, model string }{{nodes[1], other}, {nodes[2], model}} {
		resp, body := get(q.node, q.model, "")
		if resp.StatusCode != http.StatusNotFound || !bytes.Contains(body, []byte(`"ModelArts.3001"`)) {
			t.Fatalf("model %s to node %s, which does not run it: %d %s", q.model, q.node, resp.StatusCode, body)
		}
	}
}

type opRow struct{ op, node string }

// resultRows returns the newest entry's result_detail as operation+node → result.
func resultRows(t *testing.T, logs map[string]any) map[opRow]any {
	t.Helper()
	entry := logs["logs"].([]any)[0]
	rows := map[opRow]any{}
	for _, r := range obj(entry, "result_detail").([]any) {
		rows[opRow{obj(r, "operation").(string), obj(r, "node_id").(string)}] = obj(r, "result")
	}
	return rows
}

// TestEdgeServices: three agents register; an edge service deploys to two of them; an update moves
// it to nodes 2 and 3 (delete on node 1, deploy on node 3, node 2 untouched); a killed agent's node
// becomes UNCONNECTED and an update that includes it ends FAIL within the documented timeout with
// that node's row false and the other true; revoked and other-project credentials are refused.
// Every response is validated against the OpenAPI document (newClient).
func TestEdgeServices(t *testing.T) {
	t.Setenv("ARKSERVE_ADMIN_PASSWORD", testPassword)
	dir := dataDir(t)
	m := MustRunMain(t, dir, edgeTimings)
	closed := false
	t.Cleanup(func() {
		if !closed {
			m.Close()
		}
	})
	c := newClient(t, m)
	pid := c.login()
	server := "http://" + m.HTTP.ListenAddr()
	cred, _ := nodeCredential(t, dir, "default")

	var agents [3]*agentProcess
	var nodes [3]string
	for i := range agents {
		agents[i] = startAgent(t, server, fmt.Sprintf("node-%d", i+1), dataDir(t), cred)
		nodes[i] = agents[i].nodeID(t)
	}
	for i, id := range nodes {
		waitFor(t, 30*time.Second, fmt.Sprintf("node %d RUNNING", i+1), func() bool { return c.nodeState(pid, id) == "RUNNING" })
	}
	status, _, doc := c.do("GET", "/v1/"+pid+"/nodes", nil)
	if status != http.StatusOK || obj(doc, "count") != jsonInt(3) {
		t.Fatalf("nodes: %d %v", status, doc)
	}
	// The CLI shows the same nodes.
	t.Setenv("ARKSERVE_CREDENTIALS", filepath.Join(t.TempDir(), "credentials.json"))
	t.Setenv("ARKSERVE_URL", server)
	t.Setenv("ARKSERVE_TOKEN", c.token)
	t.Setenv("ARKSERVE_PROJECT", pid)
	table := mustCLI(t, "nodes", "list")
	if lines := strings.Split(strings.TrimSpace(table), "\n"); len(lines) != 4 || !strings.HasPrefix(lines[0], "ID ") {
		t.Fatalf("arkserve nodes list printed:\n%s", table)
	}
	for i, id := range nodes {
		if !strings.Contains(table, id+"  node-"+strconv.Itoa(i+1)+" ") || !strings.Contains(table, "RUNNING") {
			t.Fatalf("arkserve nodes list does not show node %d (%s):\n%s", i+1, id, table)
		}
	}
	var shown map[string]any
	if err := json.Unmarshal([]byte(mustCLI(t, "nodes", "show", nodes[1])), &shown); err != nil || shown["name"] != "node-2" {
		t.Fatalf("arkserve nodes show: %v %v", shown, err)
	}

	// Deploy to nodes 1 and 2.
	model := c.createModel(pid, "echo", "1.0.1", httpServerCmd)
	status, _, doc = c.do("POST", "/v1/"+pid+"/services", map[string]any{"infer_type": "edge", "service_name": "edge-echo",
		"config": edgeConfig(model, "hello", nodes[0], nodes[1])})
	if status != http.StatusOK {
		t.Fatalf("deploy: %d %v", status, doc)
	}
	sid := obj(doc, "service_id").(string)
	logs := c.waitFinal(pid, sid)
	entry := logs["logs"].([]any)[0]
	if obj(entry, "result") != "SUCCESS" || obj(entry, "success_num") != jsonInt(2) || obj(entry, "failed_num") != jsonInt(0) {
		t.Fatalf("deployment entry = %v; events %v", entry, c.events(pid, sid))
	}
	if rows := resultRows(t, logs); len(rows) != 2 || rows[opRow{"deploy", nodes[0]}] != true || rows[opRow{"deploy", nodes[1]}] != true {
		t.Fatalf("deployment result_detail = %v", rows)
	}
	for i, want := range []int{1, 1, 0} {
		if got := len(nodeInstances(t, sid, agents[i].dir)); got != want {
			t.Fatalf("node %d runs %d instances after the deployment; want %d", i+1, got, want)
		}
	}
	// Each node runs its own copy of the model, downloaded into the agent's data dir.
	for i := range 2 {
		cwd, err := os.Readlink(filepath.Join("/proc", nodeInstances(t, sid, agents[i].dir)[0], "cwd"))
		if err != nil || !strings.HasPrefix(cwd, filepath.Join(agents[i].dir, "models", model)+"/") {
			t.Fatalf("node %d runs its instance in %q (%v); want the agent's copy of the model", i+1, cwd, err)
		}
		if b, err := os.ReadFile(filepath.Join(cwd, "version")); err != nil || string(b) != "1.0.1\n" {
			t.Fatalf("node %d's copy of the model: version file %q, %v", i+1, b, err)
		}
	}
	_, _, modelDoc := c.do("GET", "/v1/"+pid+"/models/"+model, nil)
	checkModelContent(t, server, pid, cred, nodes, model, obj(modelDoc, "source_location").(string),
		c.createModel(pid, "other", "1.0.1", httpServerCmd))
	if _, err := cli(t, "nodes", "delete", nodes[0]); err == nil || !strings.Contains(err.Error(), "ModelArts.") {
		t.Fatalf("arkserve nodes delete of a node that runs a service: %v; want the API's refusal", err)
	}
	// Details: config[].nodes[] with the reference's fields; no access_address (real-time only).
	status, _, doc = c.do("GET", "/v1/"+pid+"/services/"+sid, nil)
	if status != http.StatusOK || obj(doc, "access_address") != nil {
		t.Fatalf("details: %d %v", status, doc)
	}
	ns := obj(doc, "config").([]any)[0].(map[string]any)["nodes"].([]any)
	if len(ns) != 2 {
		t.Fatalf("details config[0].nodes = %v", ns)
	}
	for _, n := range ns {
		for _, f := range []string{"id", "name", "state", "instance_status", "host_ips", "os_type", "arch", "cpu", "memory", "gpu_num"} {
			if obj(n, f) == nil {
				t.Errorf("details node has no %s: %v", f, n)
			}
		}
		if obj(n, "instance_status") != "running" || obj(n, "state") != "RUNNING" {
			t.Errorf("details node = %v; want RUNNING with instance_status running", n)
		}
	}
	// The monitor of one node.
	status, _, doc = c.do("GET", "/v1/"+pid+"/services/"+sid+"/monitor?node_id="+nodes[1], nil)
	mons, _ := obj(doc, "monitors").([]any)
	if status != http.StatusOK || len(mons) != 1 || obj(mons[0], "node_id") != nodes[1] || obj(mons[0], "node_name") != "node-2" {
		t.Fatalf("monitor of node 2: %d %v", status, doc)
	}

	// Move to nodes 2 and 3, node 2's configuration unchanged: delete on 1, deploy on 3.
	c.update(pid, sid, edgeConfig(model, "hello", nodes[1], nodes[2])...)
	logs = c.waitFinal(pid, sid)
	entry = logs["logs"].([]any)[0]
	rows := resultRows(t, logs)
	if obj(entry, "result") != "SUCCESS" || obj(entry, "success_num") != jsonInt(2) || obj(entry, "failed_num") != jsonInt(0) ||
		len(rows) != 2 || rows[opRow{"delete", nodes[0]}] != true || rows[opRow{"deploy", nodes[2]}] != true {
		t.Fatalf("move entry = %v; events %v", entry, c.events(pid, sid))
	}
	for i, want := range []int{0, 1, 1} {
		waitFor(t, 30*time.Second, fmt.Sprintf("node %d runs %d instances", i+1, want), func() bool {
			return len(nodeInstances(t, sid, agents[i].dir)) == want
		})
	}

	// Kill agent 3: its node becomes UNCONNECTED, and its instance dies with it (the process
	// runtime's parent-death signal), so nothing runs there unmanaged.
	agents[2].cmd.Process.Signal(syscall.SIGKILL)
	<-agents[2].done
	waitFor(t, 30*time.Second, "node 3 UNCONNECTED", func() bool { return c.nodeState(pid, nodes[2]) == "UNCONNECTED" })
	waitFor(t, 30*time.Second, "the killed agent's instance gone", func() bool { return len(nodeInstances(t, sid, agents[2].dir)) == 0 })

	// An update of both nodes' configuration: node 2 succeeds, node 3 fails after the
	// unconnected timeout (4 s) plus a heartbeat timeout (3 s) at most, and the entry is FAIL.
	started := time.Now()
	c.update(pid, sid, edgeConfig(model, "bonjour", nodes[1], nodes[2])...)
	logs = c.waitFinal(pid, sid)
	took := time.Since(started)
	entry = logs["logs"].([]any)[0]
	rows = resultRows(t, logs)
	if obj(entry, "result") != "FAIL" || obj(entry, "success_num") != jsonInt(1) || obj(entry, "failed_num") != jsonInt(1) ||
		len(rows) != 2 || rows[opRow{"deploy", nodes[1]}] != true || rows[opRow{"deploy", nodes[2]}] != false {
		t.Fatalf("update with a lost node = %v; events %v", entry, c.events(pid, sid))
	}
	// The lost node's operation failed because it waited the unconnected timeout (4 s), not
	// earlier; node 2's succeeded meanwhile (rows above). An upper bound would only measure how
	// busy the machine is.
	if took < 4*time.Second {
		t.Errorf("the update with a lost node ended after %s, before the unconnected timeout", took)
	}
	events := fmt.Sprint(c.events(pid, sid))
	if !strings.Contains(events, "UNCONNECTED") || !strings.Contains(events, "keep the new version") {
		t.Errorf("events do not say what happened: %s", events)
	}
	waitFor(t, 30*time.Second, "node 2 runs the new configuration", func() bool {
		ps := nodeInstances(t, sid, agents[1].dir)
		if len(ps) != 1 {
			return false
		}
		env, _ := os.ReadFile(filepath.Join("/proc", ps[0], "environ"))
		return slices.Contains(strings.Split(string(env), "\x00"), "GREETING=bonjour")
	})

	// A revoked credential and another project's credential are refused.
	revoked, revokedID := nodeCredential(t, dir, "default")
	runAdminCmd(t, dir, "node", "credential", "revoke", revokedID)
	if code, out := startAgent(t, server, "node-r", dataDir(t), revoked).exited(t, 30*time.Second); code == 0 || !strings.Contains(out, "refused") {
		t.Errorf("agent with a revoked credential: exit %d, %s", code, out)
	}
	runAdminCmd(t, dir, "project", "create", "other")
	other, _ := nodeCredential(t, dir, "other")
	// Node 1's data dir: the node belongs to project default.
	agents[0].cmd.Process.Signal(syscall.SIGTERM)
	if code, _ := agents[0].exited(t, 30*time.Second); code != 0 {
		t.Errorf("agent 1 stopped with exit %d on SIGTERM", code)
	}
	if code, out := startAgent(t, server, "node-1", agents[0].dir, other).exited(t, 30*time.Second); code == 0 || !strings.Contains(out, "refused") {
		t.Errorf("agent with another project's credential: exit %d, %s", code, out)
	}

	// The server does not wait for agent 2's long poll to end: a shutdown held by it would take
	// the poll's whole wait.
	start := time.Now()
	closed = true
	if err := m.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if took := time.Since(start); took >= agent.PollWait {
		t.Errorf("the server took %s to shut down with an agent connected: the long poll held it", took)
	}
}

// jsonInt is how c.do decodes an integer.
func jsonInt(n int) any { return json.Number(strconv.Itoa(n)) }

// pollWatch is a proxy between an agent and a server that watches the agent's long polls of its
// placements (the calls with a version).
type pollWatch struct {
	url     string
	mu      sync.Mutex        // protects what follows
	next    int               // the number of the next long poll
	open    map[int]time.Time // the long polls in flight, by number: when each began
	changed map[int]bool      // the long polls that ended: whether each answered other placements
}

func watchPolls(t *testing.T, server string) *pollWatch {
	t.Helper()
	target, err := url.Parse(server)
	if err != nil {
		t.Fatal(err)
	}
	proxy := httputil.NewSingleHostReverseProxy(target)
	// The agent's calls in flight when the test ends fail: no need to log them.
	proxy.ErrorHandler = func(w http.ResponseWriter, _ *http.Request, _ error) { w.WriteHeader(http.StatusBadGateway) }
	w := &pollWatch{open: map[int]time.Time{}, changed: map[int]bool{}}
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		version := r.URL.Query().Get("version")
		if !strings.HasSuffix(r.URL.Path, "/placements") || version == "" {
			proxy.ServeHTTP(rw, r)
			return
		}
		w.mu.Lock()
		n := w.next
		w.next++
		w.open[n] = time.Now()
		w.mu.Unlock()
		tee := &teeWriter{ResponseWriter: rw}
		proxy.ServeHTTP(tee, r)
		var resp struct {
			Version string `json:"version"`
		}
		json.Unmarshal(tee.body.Bytes(), &resp) // a failed call leaves the version empty
		w.mu.Lock()
		delete(w.open, n)
		w.changed[n] = resp.Version != "" && resp.Version != version
		w.mu.Unlock()
	}))
	t.Cleanup(srv.Close) // after the agent's cleanup: its long poll is over
	w.url = srv.URL
	return w
}

// inFlight waits for a long poll that began less than 10 s ago (one that is about to time out
// could not be woken) and returns the numbers of the long polls in flight.
func (w *pollWatch) inFlight(t *testing.T) []int {
	t.Helper()
	var open []int
	waitFor(t, 30*time.Second, "a fresh long poll", func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		open = open[:0]
		fresh := false
		for n, at := range w.open {
			open = append(open, n)
			fresh = fresh || time.Since(at) < 10*time.Second
		}
		return fresh
	})
	return open
}

// answeredChange waits for the long polls to end and reports whether one of them answered other
// placements than the agent had.
func (w *pollWatch) answeredChange(t *testing.T, polls []int) bool {
	t.Helper()
	waitFor(t, 60*time.Second, "the long polls to end", func() bool {
		w.mu.Lock()
		defer w.mu.Unlock()
		for _, n := range polls {
			if _, ok := w.open[n]; ok {
				return false
			}
		}
		return true
	})
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, n := range polls {
		if w.changed[n] {
			return true
		}
	}
	return false
}

// teeWriter keeps a copy of the body it writes.
type teeWriter struct {
	http.ResponseWriter
	body bytes.Buffer
}

func (w *teeWriter) Write(b []byte) (int, error) {
	w.body.Write(b)
	return w.ResponseWriter.Write(b)
}

func (w *teeWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// TestEdgeAcrossReplicas: two replicas on one PostgreSQL database, an agent long-polling each. An
// update of an edge service on both nodes, driven by the replica that holds the service's lease,
// reaches the agent of the other replica through the long poll it had open when the update was
// made: the database's notification woke it, not the end of the poll (MaxPlacementsWait), which
// would have answered the placements the agent already had.
func TestEdgeAcrossReplicas(t *testing.T) {
	rs := startReplicas(t, 2)
	c := rs.clients[0]
	pid := c.login()
	cred, _ := nodeCredential(t, rs.dirs[0], "default", "--database", rs.dsn, "--master-key-file", rs.keyFile)
	var watches [2]*pollWatch
	var nodes [2]string
	for i := range 2 {
		watches[i] = watchPolls(t, "http://"+rs.addrs[i])
		nodes[i] = startAgent(t, watches[i].url, fmt.Sprintf("node-%d", i+1), dataDir(t), cred).nodeID(t)
	}
	for i, id := range nodes {
		waitFor(t, 30*time.Second, fmt.Sprintf("node %d RUNNING", i+1), func() bool { return c.nodeState(pid, id) == "RUNNING" })
	}
	model := c.createModel(pid, "echo", "1.0.1", httpServerCmd)
	status, _, doc := c.do("POST", "/v1/"+pid+"/services", map[string]any{"infer_type": "edge", "service_name": "edge-echo",
		"config": edgeConfig(model, "hello", nodes[0], nodes[1])})
	if status != http.StatusOK {
		t.Fatalf("deploy: %d %v", status, doc)
	}
	sid := obj(doc, "service_id").(string)
	if r := newestResult(c.waitFinal(pid, sid)); r != "SUCCESS" {
		t.Fatalf("deployment ended %v; events %v", r, c.events(pid, sid))
	}
	owner := rs.owner(sid)
	if owner < 0 {
		t.Fatal("nobody holds the lease of a running service")
	}
	far := watches[1-owner] // the agent of the replica that does not drive the service

	polls := far.inFlight(t)
	rs.clients[1-owner].update(pid, sid, edgeConfig(model, "bonjour", nodes[0], nodes[1])...)
	if r := newestResult(c.waitFinal(pid, sid)); r != "SUCCESS" {
		t.Fatalf("update ended %v; events %v", r, c.events(pid, sid))
	}
	if !far.answeredChange(t, polls) {
		t.Fatalf("the long polls %v that the agent of replica %d had open during the update ended without the new placements", polls, 1-owner)
	}
	if o := rs.owner(sid); o != owner {
		t.Fatalf("the lease moved from replica %d to %d during the update", owner, o)
	}
}
