package process

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/arkserve/arkserve/internal/ark"
)

// Instance is one running model server. Its exported fields are set by Start and never change.
//
// Every instance must be stopped with Stop, also after it exited on its own: Stop releases its log
// descriptor and removes its directory.
type Instance struct {
	ID   string
	Port int    // loopback port the instance was told to listen on ($PORT)
	PID  int    // process id of the shell, which leads the instance's process group
	Dir  string // the instance's HOME and working files

	rt     *Runtime
	spec   Spec
	health ark.Health // normalised: every field has a value
	env    []string
	cmd    *exec.Cmd
	cg     *cgroups // the instance has a cgroup of its own; nil without limits

	exited  chan struct{} // closed by wait when the process has exited and been reaped
	exitErr error         // written by wait before it closes exited; read only after

	termOnce sync.Once
	termAt   time.Time // written inside termOnce

	logMu   sync.RWMutex
	log     *os.File       // nil after Stop has cleaned up
	logWG   sync.WaitGroup // boundLog
	cleanup sync.Once
}

// wait reaps the process, kills what is left of its group (a model server must run in the
// foreground: when the shell is gone, its children go too) and closes in.exited.
func (in *Instance) wait() {
	err := in.cmd.Wait()
	// The group id cannot be reused while any member lives, so this reaches only our processes.
	_ = syscall.Kill(-in.PID, syscall.SIGKILL)
	in.exitErr = describeExit(err)
	if in.cg != nil {
		if in.cg.oomKills(in.ID) > 0 {
			in.exitErr = fmt.Errorf("%w: out of memory (the specification allows %d MB)", in.exitErr, in.spec.MemoryMB)
		}
		// Kills what left the process group (setsid) but not the cgroup, and removes the group.
		if err := in.cg.remove(in.ID); err != nil {
			in.rt.logger().Warn("instance cgroup", "instance", in.ID, "err", err)
		}
	}
	_ = os.Remove(in.rt.recordPath(in.ID))
	in.rt.logger().Info("instance exited", "instance", in.ID, "pid", in.PID, "status", in.exitErr.Error())
	close(in.exited)
}

// describeExit turns Wait's result into the error ExitError reports: never nil, since an instance
// is not supposed to end.
func describeExit(err error) error {
	var ee *exec.ExitError
	switch {
	case err == nil:
		return errors.New("exit status 0")
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return fmt.Errorf("killed by signal %s", signalName(ws.Signal()))
		}
		return errors.New(ee.Error()) // "exit status N"
	default:
		return err
	}
}

var signalNames = map[syscall.Signal]string{
	syscall.SIGHUP: "SIGHUP", syscall.SIGINT: "SIGINT", syscall.SIGQUIT: "SIGQUIT", syscall.SIGILL: "SIGILL",
	syscall.SIGTRAP: "SIGTRAP", syscall.SIGABRT: "SIGABRT", syscall.SIGBUS: "SIGBUS", syscall.SIGFPE: "SIGFPE",
	syscall.SIGKILL: "SIGKILL", syscall.SIGUSR1: "SIGUSR1", syscall.SIGSEGV: "SIGSEGV", syscall.SIGUSR2: "SIGUSR2",
	syscall.SIGPIPE: "SIGPIPE", syscall.SIGALRM: "SIGALRM", syscall.SIGTERM: "SIGTERM", syscall.SIGXCPU: "SIGXCPU",
	syscall.SIGXFSZ: "SIGXFSZ", syscall.SIGSYS: "SIGSYS",
}

func signalName(s syscall.Signal) string {
	if n, ok := signalNames[s]; ok {
		return n
	}
	return fmt.Sprintf("%d", int(s))
}

// Addr is the instance's host:port.
func (in *Instance) Addr() string { return fmt.Sprintf("127.0.0.1:%d", in.Port) }

// Exited is closed when the instance's process has exited.
func (in *Instance) Exited() <-chan struct{} { return in.exited }

// ExitError is nil while the instance runs. After it exited, it says how: "exit status 3",
// "killed by signal SIGKILL", or "exit status 0" (an instance is not supposed to end, so this is
// never nil after exit).
func (in *Instance) ExitError() error {
	select {
	case <-in.exited:
		return in.exitErr
	default:
		return nil
	}
}

// Stop ends the instance: SIGTERM to its process group, SIGKILL to the group when the grace period
// has passed (counted from the first Stop) or ctx ends, then it waits until the process has exited
// and removes the instance's directory. Stop is idempotent and safe for concurrent use; every call
// returns after the instance has exited. It returns an error only when the instance could not be
// signalled.
func (in *Instance) Stop(ctx context.Context) error {
	var err error
	select {
	case <-in.exited:
	default:
		in.termOnce.Do(func() {
			in.termAt = time.Now()
			err = in.signal(syscall.SIGTERM)
		})
		t := time.NewTimer(max(0, in.spec.GracePeriod-time.Since(in.termAt)))
		select {
		case <-in.exited:
		case <-t.C:
			in.rt.logger().Warn("instance did not stop within its grace period; killing it", "instance", in.ID,
				"grace", in.spec.GracePeriod)
			err = errors.Join(err, in.signal(syscall.SIGKILL))
		case <-ctx.Done():
			err = errors.Join(err, in.signal(syscall.SIGKILL))
		}
		t.Stop()
		<-in.exited
	}
	in.cleanup.Do(func() {
		in.logWG.Wait()
		in.logMu.Lock()
		if err := in.rt.keepLog(in.ID, in.log); err != nil {
			in.rt.logger().Warn("keep instance log", "instance", in.ID, "err", err)
		}
		in.log.Close()
		in.log = nil
		in.logMu.Unlock()
		if rerr := os.RemoveAll(in.Dir); rerr != nil {
			in.rt.logger().Warn("remove instance directory", "instance", in.ID, "err", rerr)
		}
		in.rt.forget(in)
	})
	return err
}

func (in *Instance) signal(sig syscall.Signal) error {
	select {
	case <-in.exited:
		return nil
	default:
	}
	if err := syscall.Kill(-in.PID, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("process: signal instance %s: %w", in.ID, err)
	}
	return nil
}

// maxTailBytes bounds how much of the log LogTail reads.
const maxTailBytes = 64 << 10

// LogTail returns up to n last lines of the instance's output, "" when there is none or the
// instance has been stopped. Control characters other than newline and tab are dropped.
func (in *Instance) LogTail(n int) string {
	in.logMu.RLock()
	defer in.logMu.RUnlock()
	if in.log == nil || n <= 0 {
		return ""
	}
	fi, err := in.log.Stat()
	if err != nil {
		return ""
	}
	off := max(0, fi.Size()-maxTailBytes)
	buf := make([]byte, fi.Size()-off)
	k, err := in.log.ReadAt(buf, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return ""
	}
	buf = bytes.TrimRight(buf[:k], "\n")
	lines := strings.Split(strings.ToValidUTF8(string(buf), "?"), "\n")
	if off > 0 && len(lines) > 1 {
		lines = lines[1:] // the first line was cut
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' || r >= ' ' && r != 0x7f {
			return r
		}
		return -1
	}, strings.Join(lines, "\n"))
}
