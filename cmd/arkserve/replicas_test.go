package main

import (
	"bytes"
	"context"
	crand "crypto/rand"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/arkserve/arkserve/internal/postgres/pgtest"
)

// replicaSet is n arkserve servers, each a process of its own with a data dir of its own, on one
// PostgreSQL database and one master key: several replicas behind a load balancer.
type replicaSet struct {
	t       *testing.T
	dsn     string
	keyFile string
	dirs    []string
	addrs   []string
	procs   []*serverProcess
	clients []*client
}

const testLeaseTTL = "3s"

func startReplicas(t *testing.T, n int) *replicaSet {
	t.Helper()
	rs := &replicaSet{t: t, dsn: pgtest.NewDatabase(t), keyFile: filepath.Join(t.TempDir(), "master.key")}
	key := make([]byte, 32)
	crand.Read(key)
	if err := os.WriteFile(rs.keyFile, key, 0o600); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		rs.dirs = append(rs.dirs, dataDir(t))
		rs.addrs = append(rs.addrs, freeAddr(t))
		rs.procs = append(rs.procs, rs.start(i))
		c := &client{tb: t, base: "http://" + rs.addrs[i], http: &http.Client{Timeout: 30 * time.Second}}
		c.login()
		rs.clients = append(rs.clients, c)
	}
	return rs
}

func (rs *replicaSet) start(i int) *serverProcess {
	return startServerProcess(rs.t, rs.dirs[i], rs.addrs[i], "--database", rs.dsn, "--master-key-file", rs.keyFile,
		"--lease-ttl", testLeaseTTL, "--log-level", "error")
}

// owner returns the index of the replica that holds the service's lease, -1 for none.
func (rs *replicaSet) owner(sid string) int {
	rs.t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, rs.dsn)
	if err != nil {
		rs.t.Fatal(err)
	}
	defer conn.Close(ctx)
	var holder string
	err = conn.QueryRow(ctx, `SELECT holder FROM service_leases WHERE service_id = $1 AND expires_at > $2`,
		sid, time.Now().UnixMilli()).Scan(&holder)
	if err == pgx.ErrNoRows {
		return -1
	}
	if err != nil {
		rs.t.Fatal(err)
	}
	for i, d := range rs.dirs {
		if id, err := replicaID(d); err == nil && id == holder {
			return i
		}
	}
	rs.t.Fatalf("the lease holder %q is none of the replicas", holder)
	return -1
}

// raw GETs path from replica i and returns the status and body.
func (rs *replicaSet) raw(i int, path string) (int, []byte) {
	rs.t.Helper()
	c := rs.clients[i]
	req, _ := http.NewRequest("GET", c.base+path, nil)
	req.Header.Set("X-Auth-Token", c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		rs.t.Fatalf("GET %s from replica %d: %v", path, i, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// sameLogs fails the test unless the replicas answer the service's update logs byte for byte the
// same.
func (rs *replicaSet) sameLogs(pid, sid string, replicas ...int) {
	rs.t.Helper()
	var first []byte
	for _, i := range replicas {
		status, body := rs.raw(i, "/v1/"+pid+"/services/"+sid+"/logs")
		if status != 200 {
			rs.t.Fatalf("logs from replica %d: %d %s", i, status, body)
		}
		if first == nil {
			first = body
		} else if !bytes.Equal(first, body) {
			rs.t.Fatalf("replicas %d and %d answer different logs for %s:\n%s\n%s", replicas[0], i, sid, first, body)
		}
	}
}

// TestReplicaKilledMidRollout: three replicas on one database. The replica that drives a rolling
// update is killed with SIGKILL; another one takes the service over once the lease expires and
// finishes the entry. Exactly one final entry, no instance of the killed replica left, no
// duplicate instances, and every surviving replica answers the same logs, the inference requests
// and the monitor.
func TestReplicaKilledMidRollout(t *testing.T) {
	rs := startReplicas(t, 3)
	c := rs.clients[0]
	pid := c.login()
	v1 := c.createModel(pid, "echo", "1.0.1", httpServerCmd)
	slow := c.createModel(pid, "echo", "1.0.3", `sleep 3; `+httpServerCmd)
	sid := c.deployWait(pid, "replicated", conf(v1, 100, 2, 1, 0))
	owner := rs.owner(sid)
	if owner < 0 {
		t.Fatal("nobody holds the lease of a running service")
	}
	other := (owner + 1) % 3
	rs.clients[other].update(pid, sid, conf(slow, 100, 2, 1, 0)) // any replica takes the update
	waitStarted(t, slow)                                         // the first surge instance
	before := append(processesOf(v1), processesOf(slow)...)
	rs.procs[owner].cmd.Process.Kill()
	<-rs.procs[owner].done

	logs := rs.clients[other].waitFinal(pid, sid)
	entries := logs["logs"].([]any)
	if len(entries) != 2 {
		t.Fatalf("%d entries; want the deployment and the update: %v", len(entries), entries)
	}
	result := newestResult(logs)
	if result != "SUCCESS" {
		t.Fatalf("the update ended %v; events %v", result, rs.clients[other].events(pid, sid))
	}
	for _, p := range before {
		if alive(p) {
			t.Errorf("process %s of the killed replica still runs", p)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for n, m := len(processesOf(slow)), len(processesOf(v1)); n != 2 || m != 0; n, m = len(processesOf(slow)), len(processesOf(v1)) {
		if time.Now().After(deadline) {
			t.Fatalf("%d instances of the new version, %d of the old; want 2 and 0", n, m)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if o := rs.owner(sid); o == owner || o < 0 {
		t.Fatalf("the lease is with replica %d after replica %d died", o, owner)
	}

	survivors := []int{(owner + 1) % 3, (owner + 2) % 3}
	rs.sameLogs(pid, sid, survivors...)
	for _, i := range survivors {
		// Inference and the monitor through every replica, whichever runs the instances.
		if status, body := rs.raw(i, "/v1/infers/"+sid+"/version"); status != 200 || strings.TrimSpace(string(body)) != "1.0.3" {
			t.Fatalf("inference through replica %d: %d %q", i, status, body)
		}
		status, body := rs.raw(i, "/v1/"+pid+"/services/"+sid+"/monitor")
		if status != 200 || !bytes.Contains(body, []byte(`"service_running_instance_count":2`)) {
			t.Fatalf("monitor through replica %d: %d %s", i, status, body)
		}
	}
}

// TestReplicasUnderLoad: three replicas on one database under a bounded concurrent load of
// deployments, updates and log reads, each request to a random replica, for a fixed time. No
// request answers 5xx; every accepted deployment or update has exactly one entry, which ends
// final; every replica reads the same entries back.
func TestReplicasUnderLoad(t *testing.T) {
	rs := startReplicas(t, 3)
	pid := rs.clients[0].login()
	model := rs.clients[0].createModel(pid, "echo", "1.0.1", httpServerCmd)

	const workers, maxServices = 6, 6
	duration := 12 * time.Second
	var (
		mu        sync.Mutex
		services  []string
		deploying int
		accepted  = map[string]int{} // service id → accepted deployments and updates
		counts    = map[string]int{} // "op status" → requests
		bad       []string
	)
	record := func(op string, status int, doc any) {
		mu.Lock()
		defer mu.Unlock()
		counts[fmt.Sprintf("%s %d", op, status)]++
		if status >= 500 {
			bad = append(bad, fmt.Sprintf("%s: %d %v", op, status, doc))
		}
	}
	stop := time.Now().Add(duration)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// A client of its own per worker and replica: the shared ones are not safe for
			// concurrent use by several goroutines' Fatal.
			for n := 0; time.Now().Before(stop); n++ {
				c := *rs.clients[rand.IntN(3)]
				mu.Lock()
				have := append([]string(nil), services...)
				deploy := rand.IntN(10) < 2 && deploying+len(services) < maxServices
				if deploy {
					deploying++ // a slot of maxServices
				}
				mu.Unlock()
				switch r := rand.IntN(10); {
				case deploy:
					cfg := conf(model, 100, 1, 1, 0)
					status, _, doc := c.do("POST", "/v1/"+pid+"/services", map[string]any{"infer_type": "real-time",
						"service_name": fmt.Sprintf("load-%d-%d", w, n), "config": []any{cfg}})
					record("deploy", status, doc)
					mu.Lock()
					deploying--
					if status == 200 {
						sid := obj(doc, "service_id").(string)
						services = append(services, sid)
						accepted[sid]++
					}
					mu.Unlock()
				case r < 6 && len(have) > 0:
					sid := have[rand.IntN(len(have))]
					cfg := conf(model, 100, 1, 1, 0)
					cfg["envs"] = map[string]string{"REVISION": fmt.Sprint(w*100000 + n)}
					status, _, doc := c.do("PUT", "/v1/"+pid+"/services/"+sid, map[string]any{"config": []any{cfg}})
					record("update", status, doc)
					if status == 200 {
						mu.Lock()
						accepted[sid]++
						mu.Unlock()
					}
				case len(have) > 0:
					sid := have[rand.IntN(len(have))]
					status, _, doc := c.do("GET", "/v1/"+pid+"/services/"+sid+"/logs", nil)
					record("logs", status, doc)
				}
			}
		}()
	}
	wg.Wait()
	if len(bad) > 0 {
		t.Fatalf("%d requests answered 5xx: %v", len(bad), bad)
	}

	entries, results := 0, map[string]int{}
	for _, sid := range services {
		logs := rs.clients[0].waitFinal(pid, sid)
		n := len(logs["logs"].([]any))
		if n != accepted[sid] {
			t.Errorf("service %s: %d entries for %d accepted deployments and updates", sid, n, accepted[sid])
		}
		entries += n
		rs.sameLogs(pid, sid, 0, 1, 2)
		for _, e := range logs["logs"].([]any) {
			r := obj(e, "result").(string)
			if r != "SUCCESS" && r != "FAIL" {
				t.Errorf("service %s: an entry ended %s", sid, r)
			}
			results[r]++
		}
	}
	owners := map[int]int{}
	for _, sid := range services {
		owners[rs.owner(sid)]++
	}
	t.Logf("%s across 3 replicas, %d workers: requests %v; %d services, %d entries (%v), all final and the same on every replica; services per lease holder %v",
		duration, workers, counts, len(services), entries, results, owners)
}
