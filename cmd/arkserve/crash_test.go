package main

import (
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// serverProcess is an arkserve server running as a separate process (this test binary, see
// TestMain), so that it can be killed with SIGKILL.
type serverProcess struct {
	cmd  *exec.Cmd
	done chan struct{}
}

// startSelf runs this test binary (which acts as arkserve, see TestMain) with args and env added
// to the test's environment; done is closed once it has exited. When the test ends a process
// still running gets SIGTERM and is waited for.
func startSelf(t *testing.T, stderr io.Writer, env []string, args ...string) (cmd *exec.Cmd, done chan struct{}) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd = exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = os.Stderr, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done = make(chan struct{})
	go func() {
		cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		select {
		case <-done:
		default:
			cmd.Process.Signal(syscall.SIGTERM)
			<-done
		}
	})
	return cmd, done
}

// startServerProcess starts a server on addr with the data dir; extra are more flags.
func startServerProcess(t *testing.T, dataDir, addr string, extra ...string) *serverProcess {
	t.Helper()
	cmd, done := startSelf(t, os.Stderr, []string{"ARKSERVE_ADMIN_PASSWORD=" + testPassword},
		append([]string{"server", "--listen", addr, "--data-dir", dataDir, "--log-level", "warn"}, extra...)...)
	p := &serverProcess{cmd: cmd, done: done}
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := http.Get("http://" + addr + "/v3")
		if err == nil {
			resp.Body.Close()
			return p
		}
		if time.Now().After(deadline) {
			t.Fatalf("the server on %s did not answer: %v", addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// freeAddr returns a loopback address that nothing listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// processesOf returns the pids of the running processes whose environment has ARKSERVE_MODEL_ID=id.
func processesOf(modelID string) []string { return processesWith("ARKSERVE_MODEL_ID=" + modelID) }

// processesWith returns the pids of the running processes whose environment has the variable
// kv ("NAME=value").
func processesWith(kv string) []string {
	var pids []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		env, err := os.ReadFile(filepath.Join("/proc", e.Name(), "environ"))
		if err == nil && slices.Contains(strings.Split(string(env), "\x00"), kv) && alive(e.Name()) {
			pids = append(pids, e.Name())
		}
	}
	return pids
}

// waitStarted waits until an instance of the model runs.
func waitStarted(t *testing.T, modelID string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for len(processesOf(modelID)) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no instance of model %s started", modelID)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// alive reports whether the process runs (a zombie does not).
func alive(pid string) bool {
	b, err := os.ReadFile(filepath.Join("/proc", pid, "stat"))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && !strings.HasPrefix(s[i+1:], " Z")
}

// TestKillMidRollout: the server is killed with SIGKILL while it rolls 2 instances of v1 to a
// version that takes 3 s to become ready. Started again on the same data dir, it finishes the entry
// and no instance is orphaned or doubled: the process table holds exactly the instances of the
// outcome, none of the killed server's.
func TestKillMidRollout(t *testing.T) {
	dir, addr := dataDir(t), freeAddr(t)
	srv := startServerProcess(t, dir, addr)
	c := &client{tb: t, base: "http://" + addr, http: &http.Client{Timeout: 30 * time.Second}}
	pid := c.login()
	v1 := c.createModel(pid, "echo", "1.0.1", httpServerCmd)
	slow := c.createModel(pid, "echo", "1.0.3", `sleep 3; `+httpServerCmd)
	sid := c.deployWait(pid, "crash", conf(v1, 100, 2, 1, 0))
	c.update(pid, sid, conf(slow, 100, 2, 1, 0))
	waitStarted(t, slow) // the first surge instance
	before := append(processesOf(v1), processesOf(slow)...)
	srv.cmd.Process.Kill()
	<-srv.done

	startServerProcess(t, dir, addr)
	c.login() // tokens survive a restart, but log in as a user would
	logs := c.waitFinal(pid, sid)
	result := newestResult(logs)
	if result != "SUCCESS" && result != "FAIL" {
		t.Fatalf("the entry ended %v", result)
	}
	for _, p := range before {
		if alive(p) {
			t.Errorf("process %s of the killed server still runs (orphan)", p)
		}
	}
	// The outcome's instances and nothing else: 2 of the new version after SUCCESS, 2 of the
	// previous one after FAIL.
	want, other := slow, v1
	if result == "FAIL" {
		want, other = v1, slow
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		n, m := len(processesOf(want)), len(processesOf(other))
		if n == 2 && m == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after recovery (%v): %d instances of the outcome, %d of the other version; want 2 and 0", result, n, m)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
