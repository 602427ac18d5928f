// Package process runs model-server instances as operating-system processes on this host: the
// default runtime of arkserve.
//
// Each instance is `/bin/sh -c CMD` started in the model's directory, in a process group of its own,
// with a clean environment (only PATH, HOME, LANG, PORT, MODEL_DIR, ARKSERVE_SERVICE_ID,
// ARKSERVE_MODEL_ID, ARKSERVE_INSTANCE_ID, ARKSERVE_MOUNT_ROOT with volumes, and the configured
// envs), a private working and HOME
// directory Dir/<instance-id>/ and its stdout and stderr in Dir/<instance-id>/instance.log. When the
// server runs as root, Runtime.RunAs makes instances run as an unprivileged user without
// supplementary groups. Stopping an instance signals its whole process group (SIGTERM, then SIGKILL
// after the grace period), so nothing the model started outlives it.
//
// A record Dir/<instance-id>.pid (written by the server, in a directory the instances cannot write)
// lets the next server process find and kill instances that a crashed server left behind
// (Runtime.StopStale).
//
// Spec.CPU and Spec.MemoryMB are enforced with a cgroup per instance where the host allows it
// (Runtime.Limits; see cgroup.go), and Spec.Volumes are directories under Runtime.VolumeDir that
// the instance reaches through $ARKSERVE_MOUNT_ROOT (see volume.go).
package process

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/arkserve/arkserve/internal/ark"
)

// DefaultPath is the PATH instances get when Runtime.Path is empty.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// Credential is the user and group instances run as. Instances never get supplementary groups.
type Credential struct {
	UID uint32
	GID uint32
}

// Runtime starts instances as processes. Set its fields before the first Start; it is safe for
// concurrent use afterwards.
type Runtime struct {
	// Dir holds one directory per instance (its HOME, working files and instance.log) and the pid
	// records. It is created with mode 0711 when missing: instances running as RunAs must be able
	// to traverse it (and every directory above it) to reach their HOME.
	Dir string
	// RunAs, when set, is the user and group instances run as (the server must be root to use it).
	// nil runs them as the server's own user.
	RunAs *Credential
	// Path is the PATH of instances; empty means DefaultPath.
	Path string
	// Logger receives the runtime's own messages; nil means slog.Default(). Instance output goes to
	// instance.log, never here, and neither do environment values.
	Logger *slog.Logger
	// VolumeDir holds the directories that stand in for volumes (Spec.Volumes), one tree per
	// project: VolumeDir/<project id>/... Empty: instances with volumes are refused.
	VolumeDir string
	// NoLimits turns off the enforcement of Spec.CPU and Spec.MemoryMB even where the host allows
	// it (see cgroup.go); the specifications are then accounted only.
	NoLimits bool
	// MaxLogBytes bounds each instance.log (default DefaultMaxLogBytes; see logs.go).
	MaxLogBytes int64
	// KeepLogs is how many logs of ended instances Dir/logs keeps (default DefaultKeepLogs;
	// negative: none).
	KeepLogs int

	cgOnce sync.Once
	cg     *cgroups // nil: limits are not enforced
	cgHow  string   // what Limits reports

	mu   sync.Mutex
	live map[string]*Instance // instances this Runtime started and has not seen stopped, by id

	usageMu sync.Mutex
	usage   map[int]Usage // by process group, read at usageAt (usage.go)
	usageAt time.Time
}

// Spec describes one instance to start.
type Spec struct {
	InstanceID string // unique; letters, digits, '-', '_' and '.'; names the instance directory
	ServiceID  string
	ModelID    string
	ModelDir   string // absolute; the working directory of the command (MODEL_DIR)
	Cmd        string // run with /bin/sh -c
	Env        map[string]string
	Health     ark.Health
	// GracePeriod is how long Stop waits after SIGTERM before it sends SIGKILL; 0 kills at once.
	GracePeriod time.Duration
	// CPU (cores) and MemoryMB limit the instance, all its processes together, where the host
	// allows it (Runtime.Limits); 0 means no limit of that kind.
	CPU      float64
	MemoryMB int
	// ProjectID names the instance's tree of volume directories; required with Volumes.
	ProjectID string
	// Volumes are directories given to the instance in place of mounts (see VolumesOf).
	Volumes []Volume
}

// Limits says how Spec.CPU and Spec.MemoryMB are enforced on this host: "cgroup v2 under DIR",
// "cgroup v1 under DIR and DIR", or "none: REASON" (then they are accounted only). The first call
// detects it (see cgroup.go) and logs the answer.
func (r *Runtime) Limits() string {
	r.cgOnce.Do(func() {
		switch {
		case r.NoLimits:
			r.cgHow = "none: turned off by configuration"
		default:
			h, err := realCgroupHost()
			if err != nil {
				r.cgHow = "none: " + err.Error()
				break
			}
			cg, why := detectCgroups(h, cgroupName(r.Dir))
			if cg == nil {
				r.cgHow = "none: " + why
				break
			}
			r.cg, r.cgHow = cg, cg.String()
		}
		if r.cg != nil {
			r.logger().Info("instance resource limits are enforced", "how", r.cgHow)
		} else {
			r.logger().Warn("instance resource limits are not enforced; specifications are accounted only", "why", strings.TrimPrefix(r.cgHow, "none: "))
		}
	})
	return r.cgHow
}

// limited reports whether an instance of spec runs in a cgroup of its own.
func (r *Runtime) limited(spec Spec) bool {
	r.Limits()
	return r.cg != nil && (spec.CPU > 0 || spec.MemoryMB > 0)
}

var instanceIDRE = regexp.MustCompile(`^[A-Za-z0-9_-][A-Za-z0-9._-]{0,127}$`)

func (r *Runtime) logger() *slog.Logger {
	if r.Logger != nil {
		return r.Logger
	}
	return slog.Default()
}

// Start starts an instance and returns at once; use WaitReady to learn when it serves. The process
// is not bound to ctx: it runs until Stop (ctx only cancels a Start that has not begun).
func (r *Runtime) Start(ctx context.Context, spec Spec) (*Instance, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if r.Dir == "" {
		return nil, errors.New("process: Runtime.Dir is not set")
	}
	if !instanceIDRE.MatchString(spec.InstanceID) {
		return nil, fmt.Errorf("process: invalid instance id %q", spec.InstanceID)
	}
	if spec.Cmd == "" {
		return nil, errors.New("process: empty command")
	}
	if !filepath.IsAbs(spec.ModelDir) {
		return nil, fmt.Errorf("process: model directory %q is not an absolute path", spec.ModelDir)
	}
	if fi, err := os.Stat(spec.ModelDir); err != nil {
		return nil, fmt.Errorf("process: model directory: %w", err)
	} else if !fi.IsDir() {
		return nil, fmt.Errorf("process: model directory %s is not a directory", spec.ModelDir)
	}
	health, err := normalizeHealth(spec.Health)
	if err != nil {
		return nil, err
	}
	if math.IsNaN(spec.CPU) || spec.CPU < 0 || spec.CPU > 1<<16 || spec.MemoryMB < 0 || spec.MemoryMB > 1<<30 {
		return nil, fmt.Errorf("process: invalid limits: %g CPU, %d MB", spec.CPU, spec.MemoryMB)
	}
	if err := os.MkdirAll(r.Dir, 0o711); err != nil {
		return nil, fmt.Errorf("process: instance root: %w", err)
	}
	if r.RunAs != nil {
		if err := reachable(r.Dir, *r.RunAs); err != nil {
			return nil, err
		}
	}
	home := filepath.Join(r.Dir, spec.InstanceID)
	if err := os.Mkdir(home, 0o700); err != nil {
		return nil, fmt.Errorf("process: instance directory: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			_ = os.RemoveAll(home)
		}
	}()
	if r.RunAs != nil {
		if err := os.Lchown(home, int(r.RunAs.UID), int(r.RunAs.GID)); err != nil {
			return nil, fmt.Errorf("process: instance directory: %w", err)
		}
	}
	if err := r.prepareVolumes(spec, home); err != nil {
		return nil, err
	}
	// The server opens the log (O_EXCL, no symlink can be planted first) and keeps the descriptor:
	// the instance may delete or replace the file, but LogTail reads what the instance wrote.
	logf, err := os.OpenFile(filepath.Join(home, "instance.log"), os.O_RDWR|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if err != nil {
		return nil, fmt.Errorf("process: instance log: %w", err)
	}
	defer func() {
		if !ok {
			logf.Close()
		}
	}()
	port, err := freePort()
	if err != nil {
		return nil, fmt.Errorf("process: pick a port: %w", err)
	}
	in := &Instance{
		ID:     spec.InstanceID,
		Port:   port,
		Dir:    home,
		rt:     r,
		spec:   spec,
		health: health,
		log:    logf,
		exited: make(chan struct{}),
	}
	in.env = r.environ(spec, home, port)
	cmd := exec.Command("/bin/sh", "-c", spec.Cmd)
	var gate *os.File // with limits: the write end of the pipe the gate waits on
	if r.limited(spec) {
		if err := r.cg.create(spec.InstanceID, spec.CPU, spec.MemoryMB); err != nil {
			return nil, err
		}
		in.cg = r.cg
		defer func() {
			if !ok {
				_ = r.cg.remove(spec.InstanceID)
			}
		}()
		pr, pw, err := os.Pipe()
		if err != nil {
			return nil, fmt.Errorf("process: start instance: %w", err)
		}
		defer pr.Close()
		defer pw.Close()
		gate = pw
		cmd = exec.Command("/bin/sh", "-c", gateScript, "arkserve-gate", spec.Cmd)
		cmd.ExtraFiles = []*os.File{pr} // fd 3
	}
	cmd.Dir = spec.ModelDir
	cmd.Env = in.env
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.SysProcAttr = r.sysProcAttr()
	if err := startTied(cmd); err != nil {
		return nil, fmt.Errorf("process: start instance: %w", err)
	}
	in.PID = cmd.Process.Pid
	in.cmd = cmd
	if gate != nil {
		// The gate runs nothing of the model until its pid is in the group.
		err := r.cg.add(spec.InstanceID, in.PID)
		if err == nil {
			_, err = gate.WriteString("go\n")
		}
		if err != nil {
			_ = syscall.Kill(-in.PID, syscall.SIGKILL)
			_ = cmd.Wait()
			return nil, fmt.Errorf("process: start instance in its cgroup: %w", err)
		}
		gate.Close()
	}
	if err := r.writeRecord(in); err != nil {
		// Without a record a crash of the server would orphan the instance; better not to run it.
		r.logger().Error("instance record", "instance", in.ID, "err", err)
		_ = syscall.Kill(-in.PID, syscall.SIGKILL)
		_ = cmd.Wait()
		return nil, fmt.Errorf("process: instance record: %w", err)
	}
	ok = true
	r.mu.Lock()
	if r.live == nil {
		r.live = map[string]*Instance{}
	}
	r.live[in.ID] = in
	r.mu.Unlock()
	go in.wait() // owned by the instance: it ends when the process does, and closes in.exited
	in.logWG.Add(1)
	go in.boundLog() // owned by the instance: it ends after in.exited; Stop waits for it
	r.logger().Info("instance started", "instance", in.ID, "service", spec.ServiceID, "model", spec.ModelID,
		"pid", in.PID, "port", in.Port)
	return in, nil
}

// environ is the whole environment of an instance, sorted. Spec.Env may replace PATH and LANG but
// never the variables that identify and reach the instance.
func (r *Runtime) environ(spec Spec, home string, port int) []string {
	path := r.Path
	if path == "" {
		path = DefaultPath
	}
	env := map[string]string{"PATH": path, "LANG": "C.UTF-8"}
	for k, v := range spec.Env {
		env[k] = v
	}
	for k, v := range map[string]string{
		"HOME":                 home,
		"PORT":                 strconv.Itoa(port),
		"MODEL_DIR":            spec.ModelDir,
		"ARKSERVE_SERVICE_ID":  spec.ServiceID,
		"ARKSERVE_MODEL_ID":    spec.ModelID,
		"ARKSERVE_INSTANCE_ID": spec.InstanceID,
	} {
		env[k] = v
	}
	if len(spec.Volumes) > 0 {
		env[MountRootEnv] = filepath.Join(home, "mnt")
	}
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// sysProcAttr puts a command in its own process group, ties its life to the server's (spawn.go)
// and, with RunAs, drops to that user with no supplementary groups (an empty Groups with
// NoSetGroups false makes the child call setgroups(0)). Go sets the parent-death signal after the
// credentials, which would clear it otherwise.
func (r *Runtime) sysProcAttr() *syscall.SysProcAttr {
	a := &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if r.RunAs != nil {
		a.Credential = &syscall.Credential{Uid: r.RunAs.UID, Gid: r.RunAs.GID, Groups: []uint32{}}
	}
	return a
}

// CheckReachable reports whether instances (RunAs) can reach their directories under Dir; Start
// fails with the same error when they cannot.
func (r *Runtime) CheckReachable() error {
	if r.RunAs == nil {
		return nil
	}
	if err := os.MkdirAll(r.Dir, 0o711); err != nil {
		return fmt.Errorf("process: instance root: %w", err)
	}
	return reachable(r.Dir, *r.RunAs)
}

// reachable checks that user c can traverse dir and every directory above it, so that an
// instance can reach its HOME: a data directory of mode 0700 above Dir would make every HOME
// unreachable, and failing loudly beats instances that fail in odd ways.
func reachable(dir string, c Credential) error {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return err
	}
	for p := abs; ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("process: instance root: %w", err)
		}
		st, ok := fi.Sys().(*syscall.Stat_t)
		mode := fi.Mode().Perm()
		switch {
		case !ok:
		case st.Uid == c.UID && mode&0o100 != 0:
		case st.Uid != c.UID && st.Gid == c.GID && mode&0o010 != 0:
		case st.Uid != c.UID && st.Gid != c.GID && mode&0o001 != 0:
		default:
			return fmt.Errorf("process: instances run as uid %d cannot reach their directories under %s: %s has mode %#o",
				c.UID, abs, p, mode)
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}

// freePort returns a loopback TCP port that was free a moment ago. Another process may take it
// before the instance binds it; the instance then fails to start and the engine reports that.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (r *Runtime) forget(in *Instance) {
	r.mu.Lock()
	delete(r.live, in.ID)
	r.mu.Unlock()
}

// record is what Dir/<id>.pid holds: enough to recognise the process group later without trusting
// anything an instance could have written.
type record struct {
	PID       int    `json:"pid"`
	StartTime uint64 `json:"start_time"` // clock ticks after boot, field 22 of /proc/PID/stat
	ServiceID string `json:"service_id,omitempty"`
}

func (r *Runtime) recordPath(id string) string { return filepath.Join(r.Dir, id+".pid") }

func (r *Runtime) writeRecord(in *Instance) error {
	st, err := readStat(in.PID)
	if err != nil {
		return err
	}
	b, _ := json.Marshal(record{PID: in.PID, StartTime: st.startTime, ServiceID: in.spec.ServiceID})
	tmp := r.recordPath(in.ID) + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, r.recordPath(in.ID))
}
