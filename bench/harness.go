package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// benchPassword is the admin password of the servers the benchmarks start.
const benchPassword = "arkbench-password-1"

// header prints what every benchmark reports first: the exact command, the core count, Go.
func header(name string) {
	fmt.Printf("# bench %s\ncommand: go run ./bench %s\ncores: %d (runtime.NumCPU), GOMAXPROCS %d, %s %s/%s\nload average at start: %s\nstarted: %s\n\n",
		name, strings.Join(os.Args[1:], " "), runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(), runtime.GOOS, runtime.GOARCH,
		loadavg(), time.Now().UTC().Format(time.RFC3339))
}

// loadavg is the 1-minute load average (the machine is shared: report it beside each figure).
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	return strings.Fields(string(b))[0]
}

// repoRoot is the module's directory (the benchmarks run from anywhere inside it).
func repoRoot() (string, error) {
	out, err := exec.Command(goTool(), "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run the benchmarks inside the arkserve module")
	}
	return filepath.Dir(mod), nil
}

func goTool() string {
	if p, err := exec.LookPath("go"); err == nil {
		return p
	}
	return filepath.Join(runtime.GOROOT(), "bin", "go")
}

// buildArkserve builds cmd/arkserve into dir, as users build it; with ARKBENCH_BIN set it uses that
// binary instead (to compare builds: before and after a change).
func buildArkserve(dir string) (string, error) {
	if bin := os.Getenv("ARKBENCH_BIN"); bin != "" {
		fmt.Printf("arkserve binary: %s (ARKBENCH_BIN)\n", bin)
		return bin, nil
	}
	root, err := repoRoot()
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "arkserve")
	cmd := exec.Command(goTool(), "build", "-o", bin, "./cmd/arkserve")
	cmd.Dir = root
	cmd.Stderr = os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/arkserve: %w", err)
	}
	return bin, nil
}

// freeAddr returns a loopback address with a port that was free a moment ago.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// proc is a subprocess the benchmark started (a server or a baseline).
type proc struct {
	cmd   *exec.Cmd
	addr  string
	log   string // its stderr and stdout
	start time.Time
	ready time.Duration // from exec to the first answer
}

// startProc runs bin with args and waits until GET http://addr+probe answers (any status).
func startProc(addr, logPath, probe string, env []string, bin string, args ...string) (*proc, error) {
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, err
	}
	defer lf.Close()
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = lf, lf
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	p := &proc{cmd: cmd, addr: addr, log: logPath, start: time.Now()}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	client := &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}}
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			tail, _ := os.ReadFile(logPath)
			return nil, fmt.Errorf("%s exited: %s", filepath.Base(bin), lastLines(string(tail), 10))
		default:
		}
		res, err := client.Get("http://" + addr + probe)
		if err == nil {
			res.Body.Close()
			p.ready = time.Since(p.start)
			return p, nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	p.stop()
	return nil, fmt.Errorf("%s did not answer on %s within 2 minutes", bin, addr)
}

// stop ends the process gracefully (SIGTERM, then SIGKILL after 30 s) and waits for it.
func (p *proc) stop() {
	if p == nil || p.cmd.Process == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() {
		for p.cmd.ProcessState == nil {
			if err := syscall.Kill(p.cmd.Process.Pid, 0); err != nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

// rssKB is the process's resident set size (VmRSS) in KiB.
func (p *proc) rssKB() (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			return strconv.Atoi(f[1])
		}
	}
	return 0, errors.New("no VmRSS")
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// arkserve is a running arkserve server with a token.
type arkserve struct {
	*proc
	dataDir string
	token   string
	project string
	user    string
	client  *http.Client
}

// startArkserve starts `arkserve server` on a free loopback port with dataDir.
func startArkserve(bin, dataDir string, extra ...string) (*arkserve, error) {
	addr, err := freeAddr()
	if err != nil {
		return nil, err
	}
	args := append([]string{"server", "--listen", addr, "--data-dir", dataDir}, extra...)
	p, err := startProc(addr, filepath.Join(filepath.Dir(dataDir), filepath.Base(dataDir)+".log"), "/openapi.json",
		[]string{"ARKSERVE_ADMIN_PASSWORD=" + benchPassword}, bin, args...)
	if err != nil {
		return nil, err
	}
	return &arkserve{proc: p, dataDir: dataDir, client: &http.Client{Timeout: time.Minute,
		Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 16}}}, nil
}

// login gets a project-scoped token for admin (Keystone v3 password method).
func (a *arkserve) login() error {
	body := `{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"admin","password":"` + benchPassword +
		`","domain":{"name":"Default"}}}},"scope":{"project":{"name":"default","domain":{"name":"Default"}}}}}`
	res, err := a.client.Post("http://"+a.addr+"/v3/auth/tokens", "application/json", strings.NewReader(body))
	if err != nil {
		return err
	}
	defer res.Body.Close()
	var doc struct {
		Token struct {
			Project struct {
				ID string `json:"id"`
			} `json:"project"`
			User struct {
				ID string `json:"id"`
			} `json:"user"`
		} `json:"token"`
	}
	if err := json.NewDecoder(res.Body).Decode(&doc); err != nil || res.StatusCode != http.StatusCreated {
		return fmt.Errorf("login: %d %v", res.StatusCode, err)
	}
	a.token, a.project, a.user = res.Header.Get("X-Subject-Token"), doc.Token.Project.ID, doc.Token.User.ID
	return nil
}

// call sends a ModelArts request with the token and decodes a 200 answer into out (when not nil).
func (a *arkserve) call(ctx context.Context, method, path string, in, out any) ([]byte, error) {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return nil, err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://"+a.addr+path, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("X-Auth-Token", a.token)
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := a.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	if res.StatusCode != http.StatusOK {
		return b, fmt.Errorf("%s %s: %d %s", method, path, res.StatusCode, b)
	}
	if out != nil {
		return b, json.Unmarshal(b, out)
	}
	return b, nil
}

// startLoggedIn is startArkserve followed by login; the server is stopped when login fails.
func startLoggedIn(bin, dataDir string, extra ...string) (*arkserve, error) {
	a, err := startArkserve(bin, dataDir, extra...)
	if err != nil {
		return nil, err
	}
	if err := a.login(); err != nil {
		a.stop()
		return nil, err
	}
	return a, nil
}

// bootstrapDataDir starts a server once on a fresh data dir (creating the admin, the project and
// the token key), reads the project and user ids, and stops it.
func bootstrapDataDir(bin, dataDir string) (project, user string, err error) {
	a, err := startLoggedIn(bin, dataDir)
	if err != nil {
		return "", "", err
	}
	defer a.stop()
	return a.project, a.user, nil
}

// percentile of sorted durations (nearest rank).
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3f", float64(d)/float64(time.Millisecond)) }

// cpuTime is the CPU time (user and system) the process has used so far, from /proc/PID/stat.
// CPU per request is steadier than throughput on a shared machine.
func cpuTime(pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+1:]
	}
	f := strings.Fields(s) // f[0] is field 3 (state): utime and stime are fields 14 and 15
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	const hz = 100 // USER_HZ
	return time.Duration(ut+st) * time.Second / hz
}

// loadWithCPU runs runLoad and reports the CPU the process pid used per request, in µs.
func loadWithCPU(pid int, req request, conns int, warm, dur time.Duration, want func(int, int64) bool) (loadResult, float64) {
	// The warm-up is not measured by runLoad: neither is its CPU.
	c0 := time.Now()
	var before time.Duration
	done := make(chan struct{})
	go func() {
		time.Sleep(warm - time.Since(c0))
		before = cpuTime(pid)
		close(done)
	}()
	r := runLoad(req, conns, warm, dur, want)
	<-done
	used := cpuTime(pid) - before
	if r.Requests == 0 {
		return r, 0
	}
	return r, float64(used.Microseconds()) / float64(r.Requests)
}
