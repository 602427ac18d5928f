package process_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/arkserve/arkserve/internal/ark"
	"github.com/arkserve/arkserve/internal/runtime/process"
	"github.com/arkserve/arkserve/internal/runtime/process/processtest"
)

// model is the test model server's binary, built once by TestMain.
var model string

func TestMain(m *testing.M) {
	if bin := os.Getenv("PROCESS_TEST_SERVER_MODEL"); bin != "" {
		serve(bin) // TestInstancesDieWithTheServer's server: never returns
	}
	os.Exit(processtest.Main(m, &model))
}

// serve plays a server that starts one instance of the model, prints its pid and waits to be
// killed.
func serve(bin string) {
	rt := &process.Runtime{Dir: os.Getenv("PROCESS_TEST_SERVER_DIR"), Logger: slog.New(slog.DiscardHandler)}
	in, err := rt.Start(context.Background(), process.Spec{InstanceID: "tied", ServiceID: "svc-1", ModelID: "model-1",
		ModelDir: os.TempDir(), Cmd: `exec "` + bin + `"`, GracePeriod: time.Second})
	if err != nil {
		fmt.Println("error:", err)
		os.Exit(1)
	}
	fmt.Println(in.PID)
	select {}
}

// openDir returns a new temporary directory that every user can traverse (t.TempDir's are 0700),
// for instances that run as nobody.
func openDir(t *testing.T) string {
	t.Helper()
	d := t.TempDir() // TMPDIR/TestName123/001; the first is 0700
	for _, p := range []string{filepath.Dir(d), d} {
		if err := os.Chmod(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return d
}

func ownerOf(t *testing.T, path string) (uid, gid uint32) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	return st.Uid, st.Gid
}

func newRuntime(t *testing.T) *process.Runtime {
	t.Helper()
	return &process.Runtime{Dir: filepath.Join(openDir(t), "instances"), Logger: slog.New(slog.DiscardHandler)}
}

var ids int

// spec returns the Spec of a test model instance; env adds TESTMODEL_* knobs.
func spec(t *testing.T, env map[string]string) process.Spec {
	t.Helper()
	ids++
	return process.Spec{
		InstanceID:  fmt.Sprintf("inst-%d", ids),
		ServiceID:   "svc-1",
		ModelID:     "model-1",
		ModelDir:    openDir(t),
		Cmd:         `exec "` + model + `"`,
		Env:         env,
		Health:      ark.Health{PeriodSeconds: 1, TimeoutSeconds: 2, FailureThreshold: 2},
		GracePeriod: 5 * time.Second,
	}
}

func start(t *testing.T, rt *process.Runtime, s process.Spec) *process.Instance {
	t.Helper()
	in, err := rt.Start(context.Background(), s)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := in.Stop(ctx); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	return in
}

func get(t *testing.T, in *process.Instance, path string) string {
	t.Helper()
	resp, err := http.Get("http://" + in.Addr() + path)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET %s: %d %v", path, resp.StatusCode, err)
	}
	return string(b)
}

func mustReady(t *testing.T, in *process.Instance) {
	t.Helper()
	if err := in.WaitReady(context.Background(), 30*time.Second); err != nil {
		t.Fatalf("WaitReady: %v\nlog:\n%s", err, in.LogTail(20))
	}
}

// gone reports whether pid has exited (a zombie nobody reaped counts as exited).
func gone(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && strings.HasPrefix(s[i+1:], " Z")
}

// waitGone polls until pid has exited; it fails the test after a generous deadline.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !gone(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("process %d still runs", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestReady(t *testing.T) {
	rt := newRuntime(t)
	in := start(t, rt, spec(t, map[string]string{"TESTMODEL_VERSION": "v1", "TESTMODEL_SLEEP": "300ms"}))
	mustReady(t, in)
	if got := get(t, in, "/version"); got != "v1" {
		t.Errorf("GET /version = %q; want v1", got)
	}
	if err := in.Healthy(context.Background()); err != nil {
		t.Errorf("Healthy = %v; want nil", err)
	}
	if in.ExitError() != nil {
		t.Errorf("ExitError while running = %v; want nil", in.ExitError())
	}
	if _, err := os.Stat(filepath.Join(in.Dir, "instance.log")); err != nil {
		t.Errorf("instance.log: %v", err)
	}
	if !strings.Contains(in.LogTail(5), "listening on port "+strconv.Itoa(in.Port)) {
		t.Errorf("LogTail = %q; want the model's output", in.LogTail(5))
	}
	if err := in.Stop(context.Background()); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	select {
	case <-in.Exited():
	default:
		t.Fatal("Exited not closed after Stop")
	}
	if _, err := os.Stat(in.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("instance directory after Stop: %v; want it removed", err)
	}
	if _, err := os.Stat(filepath.Join(rt.Dir, in.ID+".pid")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("pid record after Stop: %v; want it removed", err)
	}
	if err := in.Healthy(context.Background()); !errors.Is(err, process.ErrExited) {
		t.Errorf("Healthy after Stop = %v; want ErrExited", err)
	}
}

func TestNotReady(t *testing.T) {
	rt := newRuntime(t)
	t.Run("NeverListens", func(t *testing.T) {
		s := spec(t, nil)
		s.Cmd = "exec sleep 60"
		in := start(t, rt, s)
		err := in.WaitReady(context.Background(), time.Second)
		if !errors.Is(err, process.ErrNotReady) || !strings.Contains(err.Error(), "within 1s") {
			t.Fatalf("WaitReady = %v; want ErrNotReady within 1s", err)
		}
		if !strings.Contains(err.Error(), "connection refused") {
			t.Errorf("WaitReady = %v; want the last check's error", err)
		}
	})
	t.Run("Answers500", func(t *testing.T) {
		in := start(t, rt, spec(t, map[string]string{"TESTMODEL_HEALTH": "500"}))
		err := in.WaitReady(context.Background(), 60*time.Second)
		if !errors.Is(err, process.ErrNotReady) || !strings.Contains(err.Error(), "failed 2 times in a row") ||
			!strings.Contains(err.Error(), "answered 500") {
			t.Fatalf("WaitReady = %v; want ErrNotReady after failure_threshold (2) answers of 500", err)
		}
	})
	t.Run("Context", func(t *testing.T) {
		s := spec(t, nil)
		s.Cmd = "exec sleep 60"
		in := start(t, rt, s)
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := in.WaitReady(ctx, time.Minute); !errors.Is(err, context.Canceled) {
			t.Fatalf("WaitReady = %v; want context.Canceled", err)
		}
	})
}

func TestExitBeforeReady(t *testing.T) {
	rt := newRuntime(t)
	in := start(t, rt, spec(t, map[string]string{"TESTMODEL_EXIT": "3"}))
	// A deadline far beyond the test's timeout: only the exit can end this wait.
	err := in.WaitReady(context.Background(), time.Hour)
	if !errors.Is(err, process.ErrExited) || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("WaitReady = %v; want ErrExited naming exit status 3", err)
	}
	<-in.Exited()
	if got := in.ExitError(); got == nil || got.Error() != "exit status 3" {
		t.Errorf("ExitError = %v; want exit status 3", got)
	}
	if tail := in.LogTail(3); !strings.Contains(tail, "failing on purpose with code 3") {
		t.Errorf("LogTail = %q; want the model's stderr", tail)
	}
}

func TestCleanEnvironment(t *testing.T) {
	t.Setenv("ARKSERVE_SERVER_SECRET", "do-not-leak")
	rt := newRuntime(t)
	s := spec(t, map[string]string{"FOO": "bar baz", "LANG": "en_US.UTF-8"})
	in := start(t, rt, s)
	mustReady(t, in)
	got := map[string]string{}
	for _, kv := range strings.Split(get(t, in, "/env"), "\n") {
		k, v, _ := strings.Cut(kv, "=")
		got[k] = v
	}
	want := map[string]string{
		"PATH":                 process.DefaultPath,
		"HOME":                 in.Dir,
		"LANG":                 "en_US.UTF-8",
		"PORT":                 strconv.Itoa(in.Port),
		"MODEL_DIR":            s.ModelDir,
		"ARKSERVE_SERVICE_ID":  "svc-1",
		"ARKSERVE_MODEL_ID":    "model-1",
		"ARKSERVE_INSTANCE_ID": s.InstanceID,
		"FOO":                  "bar baz",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q; want %q", k, got[k], v)
		}
	}
	for k := range got {
		// The shell itself may add PWD, SHLVL and _; nothing else may appear.
		if _, ok := want[k]; !ok && k != "PWD" && k != "SHLVL" && k != "_" {
			t.Errorf("unexpected variable %s=%q in the instance's environment", k, got[k])
		}
	}
}

func TestPortCannotBeOverridden(t *testing.T) {
	rt := newRuntime(t)
	in := start(t, rt, spec(t, map[string]string{"PORT": "1", "HOME": "/root"}))
	mustReady(t, in) // it listens on the port the runtime chose
	if got := get(t, in, "/env"); !strings.Contains(got, "HOME="+in.Dir+"\n") {
		t.Errorf("HOME was overridden: %q", got)
	}
}

func TestRunAsNobody(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("needs root to switch users")
	}
	rt := newRuntime(t)
	rt.RunAs = &process.Credential{UID: 65534, GID: 65534}
	in := start(t, rt, spec(t, nil))
	mustReady(t, in)
	if got := get(t, in, "/id"); got != "65534 65534 []" {
		t.Errorf("GET /id = %q; want uid 65534, gid 65534, no supplementary groups", got)
	}
	if uid, gid := ownerOf(t, in.Dir); uid != 65534 || gid != 65534 {
		t.Errorf("instance directory owned by %d:%d; want 65534:65534", uid, gid)
	}

	// The EXEC check runs as the same user.
	s := spec(t, nil)
	s.Cmd = "exec sleep 60"
	s.Health = ark.Health{CheckMethod: "EXEC", Command: `test "$(id -u):$(id -g)" = 65534:65534 && touch "$HOME/ok"`}
	in = start(t, rt, s)
	mustReady(t, in)
	if uid, _ := ownerOf(t, filepath.Join(in.Dir, "ok")); uid != 65534 {
		t.Errorf("a file the check wrote in HOME is owned by %d; want 65534", uid)
	}

	// A root directory nobody cannot traverse is refused with a clear error.
	private := t.TempDir()
	if err := os.Chmod(private, 0o700); err != nil {
		t.Fatal(err)
	}
	closed := &process.Runtime{Dir: filepath.Join(private, "instances"), RunAs: rt.RunAs}
	if in, err := closed.Start(context.Background(), spec(t, nil)); err == nil || !strings.Contains(err.Error(), "cannot reach") {
		if in != nil {
			in.Stop(context.Background())
		}
		t.Errorf("Start under a 0700 directory = %v; want an error saying the instances cannot reach it", err)
	}
}

func TestStopEscalatesToKill(t *testing.T) {
	rt := newRuntime(t)
	s := spec(t, map[string]string{"TESTMODEL_IGNORE_TERM": "1"})
	s.GracePeriod = 300 * time.Millisecond
	in := start(t, rt, s)
	mustReady(t, in)
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = in.Stop(context.Background())
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("Stop #%d = %v", i, err)
		}
	}
	if got := in.ExitError(); got == nil || got.Error() != "killed by signal SIGKILL" {
		t.Errorf("ExitError = %v; want killed by signal SIGKILL (SIGTERM was ignored)", got)
	}
	if err := in.Stop(context.Background()); err != nil {
		t.Errorf("second Stop = %v", err)
	}
}

func TestStopContextKills(t *testing.T) {
	rt := newRuntime(t)
	s := spec(t, map[string]string{"TESTMODEL_IGNORE_TERM": "1"})
	s.GracePeriod = time.Hour
	in := start(t, rt, s)
	mustReady(t, in)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := in.Stop(ctx); err != nil {
		t.Fatalf("Stop = %v", err)
	}
	if got := in.ExitError(); got == nil || !strings.Contains(got.Error(), "killed") {
		t.Errorf("ExitError = %v; want killed", got)
	}
}

var childRE = regexp.MustCompile(`child (\d+)`)

func childPID(t *testing.T, in *process.Instance) int {
	t.Helper()
	m := childRE.FindStringSubmatch(in.LogTail(10))
	if m == nil {
		t.Fatalf("no child pid in the log: %q", in.LogTail(10))
	}
	pid, _ := strconv.Atoi(m[1])
	return pid
}

func TestGroupDies(t *testing.T) {
	rt := newRuntime(t)
	t.Run("OnStop", func(t *testing.T) {
		s := spec(t, nil)
		s.Cmd = `sleep 300 & echo "child $!"; exec "` + model + `"`
		in := start(t, rt, s)
		mustReady(t, in)
		child := childPID(t, in)
		if gone(child) {
			t.Fatal("the child is not running before Stop")
		}
		if err := in.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		waitGone(t, child)
	})
	t.Run("WhenTheShellExits", func(t *testing.T) {
		s := spec(t, nil)
		s.Cmd = `sleep 300 & echo "child $!"; sleep 0.2; exit 4`
		in := start(t, rt, s)
		<-in.Exited()
		if got := in.ExitError(); got == nil || got.Error() != "exit status 4" {
			t.Errorf("ExitError = %v; want exit status 4", got)
		}
		waitGone(t, childPID(t, in))
	})
}

func TestExecHealth(t *testing.T) {
	rt := newRuntime(t)
	s := spec(t, nil)
	s.Health = ark.Health{CheckMethod: "EXEC", Command: `test -n "$PORT" && test -f "$MODEL_DIR/ready"`, PeriodSeconds: 1}
	in := start(t, rt, s)
	if err := in.WaitReady(context.Background(), 1500*time.Millisecond); !errors.Is(err, process.ErrNotReady) {
		t.Fatalf("WaitReady without the file = %v; want ErrNotReady", err)
	}
	if err := os.WriteFile(filepath.Join(s.ModelDir, "ready"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	mustReady(t, in)
}

func TestStopStale(t *testing.T) {
	dir := filepath.Join(openDir(t), "instances")
	old := &process.Runtime{Dir: dir, Logger: slog.New(slog.DiscardHandler)} // the server that crashed
	s := spec(t, nil)
	s.Cmd = `sleep 300 & echo "child $!"; "` + model + `"` // the model is a child of the shell
	in := start(t, old, s)
	mustReady(t, in)
	child := childPID(t, in)

	cur := &process.Runtime{Dir: dir, Logger: slog.New(slog.DiscardHandler)} // the server that started afterwards
	mine := start(t, cur, spec(t, nil))
	n, err := cur.StopStale(context.Background())
	if err != nil || n != 1 {
		t.Fatalf("StopStale = %d, %v; want 1, nil", n, err)
	}
	<-in.Exited()
	waitGone(t, child)
	if _, err := os.Stat(in.Dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale instance directory: %v; want it removed", err)
	}
	if kept, _ := filepath.Glob(filepath.Join(dir, "logs", "*-"+in.ID+".log")); len(kept) != 1 {
		t.Errorf("kept logs of the stale instance: %v; want one", kept)
	} else if b, _ := os.ReadFile(kept[0]); !strings.Contains(string(b), "child ") {
		t.Errorf("the kept log of the stale instance lacks its output: %q", b)
	}
	mustReady(t, mine) // the current server's own instance is untouched
	if n, err := cur.StopStale(context.Background()); err != nil || n != 0 {
		t.Errorf("second StopStale = %d, %v; want 0, nil", n, err)
	}
}

func TestStartErrors(t *testing.T) {
	rt := newRuntime(t)
	for name, mod := range map[string]func(*process.Spec){
		"BadID":        func(s *process.Spec) { s.InstanceID = "../x" },
		"NoCmd":        func(s *process.Spec) { s.Cmd = "" },
		"RelativeDir":  func(s *process.Spec) { s.ModelDir = "model" },
		"MissingDir":   func(s *process.Spec) { s.ModelDir = "/nonexistent/model" },
		"BadHealthURL": func(s *process.Spec) { s.Health.URL = "health" },
	} {
		t.Run(name, func(t *testing.T) {
			s := spec(t, nil)
			mod(&s)
			if in, err := rt.Start(context.Background(), s); err == nil {
				in.Stop(context.Background())
				t.Fatal("Start succeeded; want an error")
			}
		})
	}
}

// A server that dies (SIGKILL: no chance to stop anything) takes its instances with it, so that
// nothing keeps running that no gateway routes to and a successor would duplicate.
func TestInstancesDieWithTheServer(t *testing.T) {
	server := exec.Command(os.Args[0], "-test.run=^$")
	server.Env = append(os.Environ(), "PROCESS_TEST_SERVER_MODEL="+model, "PROCESS_TEST_SERVER_DIR="+filepath.Join(openDir(t), "instances"))
	out, err := server.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	pid, perr := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || perr != nil {
		server.Process.Kill()
		t.Fatalf("server said %q (%v)", line, err)
	}
	if gone(pid) {
		t.Fatalf("instance %d is not running", pid)
	}
	if err := server.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = server.Wait()
	waitGone(t, pid)
}
