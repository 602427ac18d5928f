package process_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/arkserve/arkserve/internal/runtime/process"
)

// limitedRuntime is a runtime that enforces limits, as nobody when the tests run as root. The
// test is skipped (loudly) only when this host has no writable cgroup hierarchy at all.
func limitedRuntime(t *testing.T) *process.Runtime {
	t.Helper()
	rt := newRuntime(t)
	if os.Getuid() == 0 {
		rt.RunAs = &process.Credential{UID: 65534, GID: 65534}
	}
	if how := rt.Limits(); strings.HasPrefix(how, "none") {
		t.Skipf("SKIPPED: RESOURCE LIMITS ARE NOT TESTED: this host has no writable cgroup hierarchy with CPU and memory control (%s)", how)
	}
	return rt
}

// cgroupFile reads a control file of the instance's group: v2 names (memory.max, cpu.max) are
// looked up in the one directory, v1 names in the cpu or the memory hierarchy's.
func cgroupFile(t *testing.T, in *process.Instance, name string) string {
	t.Helper()
	for _, d := range process.InstanceCgroupDirs(in) {
		if b, err := os.ReadFile(filepath.Join(d, name)); err == nil {
			return strings.TrimSpace(string(b))
		}
	}
	t.Fatalf("no %s in the cgroup of %s (%v)", name, in.ID, process.InstanceCgroupDirs(in))
	return ""
}

func isV2(in *process.Instance) bool { return len(process.InstanceCgroupDirs(in)) == 1 }

// inGroup reports whether process pid is in the instance's cgroups (every hierarchy of them).
func inGroup(t *testing.T, pid int, id string) bool {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(line, ":", 3)
		ctrl := "," + parts[1] + ","
		if parts[1] == "" || strings.Contains(ctrl, ",cpu,") || strings.Contains(ctrl, ",memory,") {
			if strings.HasSuffix(parts[2], "/"+id) {
				n++
			}
		}
	}
	return n > 0
}

func TestLimits(t *testing.T) {
	rt := limitedRuntime(t)
	t.Logf("limits: %s", rt.Limits())

	t.Run("Files", func(t *testing.T) {
		s := spec(t, nil)
		s.CPU, s.MemoryMB = 0.5, 96
		s.Cmd = `sleep 300 & echo "child $!"; exec "` + model + `"`
		in := start(t, rt, s)
		mustReady(t, in)
		dirs := process.InstanceCgroupDirs(in)
		if len(dirs) == 0 {
			t.Fatal("the instance has no cgroup")
		}
		if isV2(in) {
			if got := cgroupFile(t, in, "memory.max"); got != strconv.Itoa(96<<20) {
				t.Errorf("memory.max = %s; want %d", got, 96<<20)
			}
			if got := cgroupFile(t, in, "cpu.max"); got != "50000 100000" {
				t.Errorf("cpu.max = %s; want 50000 100000", got)
			}
		} else {
			if got := cgroupFile(t, in, "memory.limit_in_bytes"); got != strconv.Itoa(96<<20) {
				t.Errorf("memory.limit_in_bytes = %s; want %d (96 MB)", got, 96<<20)
			}
			if got := cgroupFile(t, in, "cpu.cfs_quota_us"); got != "50000" {
				t.Errorf("cpu.cfs_quota_us = %s; want 50000", got)
			}
			if got := cgroupFile(t, in, "cpu.cfs_period_us"); got != "100000" {
				t.Errorf("cpu.cfs_period_us = %s; want 100000", got)
			}
		}
		// The instance and what it started are in the group.
		child := childPID(t, in)
		for _, pid := range []int{in.PID, child} {
			if !inGroup(t, pid, in.ID) {
				t.Errorf("process %d is not in the instance's cgroup", pid)
			}
		}
		if got := get(t, in, "/env"); strings.Contains(got, "go=") {
			t.Errorf("the gate leaked a variable into the environment: %q", got)
		}
		if err := in.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		waitGone(t, child)
		for _, d := range dirs {
			if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("cgroup %s after Stop: %v; want it removed", d, err)
			}
		}
	})

	t.Run("OutOfMemory", func(t *testing.T) {
		s := spec(t, map[string]string{"TESTMODEL_ALLOC_MB": "256"})
		s.MemoryMB = 48
		in := start(t, rt, s)
		err := in.WaitReady(context.Background(), time.Minute)
		if !errors.Is(err, process.ErrExited) {
			t.Fatalf("WaitReady = %v; want ErrExited (killed for want of memory)\nlog:\n%s", err, in.LogTail(10))
		}
		got := in.ExitError()
		if got == nil || !strings.Contains(got.Error(), "killed by signal SIGKILL") || !strings.Contains(got.Error(), "out of memory (the specification allows 48 MB)") {
			t.Errorf("ExitError = %v; want killed by SIGKILL, out of memory", got)
		}
		if strings.Contains(in.LogTail(10), "allocated 256 MB") {
			t.Errorf("the model allocated 256 MB with a 48 MB limit: %q", in.LogTail(10))
		}
		for _, d := range process.InstanceCgroupDirs(in) {
			if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("cgroup %s after the instance exited: %v; want it removed", d, err)
			}
		}
	})

	t.Run("CPUThrottled", func(t *testing.T) {
		s := spec(t, nil)
		s.CPU = 0.1
		s.Cmd = `while :; do :; done`
		in := start(t, rt, s)
		time.Sleep(1500 * time.Millisecond)
		throttled := cgroupFile(t, in, "cpu.stat")
		ticks := cpuTicks(t, in.PID)
		// 1.5 s of wall time at 0.1 CPU is 0.15 s of CPU, 15 ticks of 10 ms; unlimited, a
		// busy loop takes 150.
		if ticks > 60 {
			t.Errorf("a busy loop limited to 0.1 CPU used %d ticks (10 ms) in 1.5 s; want about 15", ticks)
		}
		if !strings.Contains(throttled, "nr_throttled") || strings.Contains(throttled, "nr_throttled 0\n") {
			t.Errorf("cpu.stat = %q; want nr_throttled > 0", throttled)
		}
	})

	t.Run("EscapedProcessIsKilled", func(t *testing.T) {
		// setsid leaves the process group, not the cgroup: Stop still ends it.
		s := spec(t, nil)
		s.MemoryMB = 128
		s.Cmd = `setsid sh -c 'echo "child $$"; exec sleep 300' & exec "` + model + `"`
		in := start(t, rt, s)
		mustReady(t, in)
		var child int
		for deadline := time.Now().Add(5 * time.Second); child == 0 && time.Now().Before(deadline); {
			if strings.Contains(in.LogTail(10), "child ") {
				child = childPID(t, in)
			}
			time.Sleep(20 * time.Millisecond)
		}
		if child == 0 || !inGroup(t, child, in.ID) {
			t.Fatalf("child %d is not in the group; log %q", child, in.LogTail(10))
		}
		if err := in.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
		waitGone(t, child)
	})

	t.Run("Off", func(t *testing.T) {
		off := newRuntime(t)
		off.NoLimits = true
		if got := off.Limits(); !strings.HasPrefix(got, "none: turned off") {
			t.Errorf("Limits = %q; want none: turned off", got)
		}
		s := spec(t, nil)
		s.CPU, s.MemoryMB = 0.5, 64
		in := start(t, off, s)
		mustReady(t, in)
		if d := process.InstanceCgroupDirs(in); d != nil {
			t.Errorf("cgroups %v with NoLimits; want none", d)
		}
	})

	t.Run("NoLimitsInSpec", func(t *testing.T) {
		in := start(t, rt, spec(t, nil))
		mustReady(t, in)
		if d := process.InstanceCgroupDirs(in); d != nil {
			t.Errorf("cgroups %v for a spec without limits; want none", d)
		}
	})
}

// cpuTicks is the user and system time of pid in clock ticks.
func cpuTicks(t *testing.T, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b)[strings.LastIndexByte(string(b), ')')+1:])
	u, _ := strconv.Atoi(f[11]) // field 14
	s, _ := strconv.Atoi(f[12]) // field 15
	return u + s
}
