package process

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// procStat is what StopStale needs from /proc/PID/stat.
type procStat struct {
	pgrp      int
	startTime uint64
}

func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	// The command name (field 2) is in parentheses and may contain anything; the fields after the
	// last ')' start with field 3 (state).
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 20 {
		return procStat{}, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	pgrp, err1 := strconv.Atoi(f[2])                // field 5
	start, err2 := strconv.ParseUint(f[19], 10, 64) // field 22
	if err := errors.Join(err1, err2); err != nil {
		return procStat{}, fmt.Errorf("/proc/%d/stat: %w", pid, err)
	}
	return procStat{pgrp: pgrp, startTime: start}, nil
}

// StopStale kills (SIGKILL) the instances that an earlier server process left running, after it
// crashed or was killed, and removes their directories and records. Call it once at startup,
// before starting instances; instances started by this Runtime are never touched.
//
// A process is recognised by the record the server wrote when it started the instance: it is the
// group leader with the recorded pid and start time, or a member of that process group whose
// environment names the instance (ARKSERVE_INSTANCE_ID). Nothing else is ever signalled. It returns
// the number of instances it killed.
func (r *Runtime) StopStale(ctx context.Context) (int, error) {
	if r.Dir == "" {
		return 0, errors.New("process: Runtime.Dir is not set")
	}
	entries, err := os.ReadDir(r.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	} else if err != nil {
		return 0, fmt.Errorf("process: stale instances: %w", err)
	}
	r.mu.Lock()
	live := make(map[string]bool, len(r.live))
	for id := range r.live {
		live[id] = true
	}
	r.mu.Unlock()

	type stale struct {
		id  string
		rec record
	}
	byGroup := map[int]stale{}
	var dirs []string
	for _, e := range entries {
		name := e.Name()
		switch {
		case live[strings.TrimSuffix(strings.TrimSuffix(name, ".tmp"), ".pid")]:
		case strings.HasSuffix(name, ".pid") && e.Type().IsRegular():
			id := strings.TrimSuffix(name, ".pid")
			var rec record
			b, err := os.ReadFile(filepath.Join(r.Dir, name))
			if err == nil && json.Unmarshal(b, &rec) == nil && rec.PID > 1 {
				byGroup[rec.PID] = stale{id: id, rec: rec}
			}
			_ = os.Remove(filepath.Join(r.Dir, name))
		case strings.HasSuffix(name, ".pid.tmp"):
			_ = os.Remove(filepath.Join(r.Dir, name))
		case e.IsDir() && instanceIDRE.MatchString(name):
			if _, err := os.Lstat(filepath.Join(r.Dir, name, "instance.log")); err == nil {
				dirs = append(dirs, name)
			}
		}
	}
	killed := map[string]bool{}
	if len(byGroup) > 0 {
		procs, err := os.ReadDir("/proc")
		if err != nil {
			return 0, fmt.Errorf("process: stale instances: %w", err)
		}
		for _, p := range procs {
			if ctx.Err() != nil {
				return len(killed), ctx.Err()
			}
			pid, err := strconv.Atoi(p.Name())
			if err != nil {
				continue
			}
			st, err := readStat(pid)
			if err != nil {
				continue
			}
			s, ok := byGroup[st.pgrp]
			if !ok {
				continue
			}
			switch {
			case pid == s.rec.PID && st.startTime == s.rec.StartTime:
				_ = syscall.Kill(-pid, syscall.SIGKILL)
			case hasEnv(pid, "ARKSERVE_INSTANCE_ID="+s.id):
				_ = syscall.Kill(pid, syscall.SIGKILL)
			default:
				continue
			}
			if !killed[s.id] {
				killed[s.id] = true
				r.logger().Warn("killed an instance left running by an earlier server process", "instance", s.id,
					"service", s.rec.ServiceID, "pid", s.rec.PID)
			}
		}
	}
	for _, d := range dirs {
		if err := r.keepStaleLog(d, filepath.Join(r.Dir, d, "instance.log")); err != nil {
			r.logger().Warn("keep the log of a stale instance", "dir", d, "err", err)
		}
		if err := os.RemoveAll(filepath.Join(r.Dir, d)); err != nil {
			r.logger().Warn("remove stale instance directory", "dir", d, "err", err)
		}
	}
	// Groups of stale instances: anything still in them is an instance's (only instances are
	// ever put there), also a process that left its process group.
	if r.Limits(); r.cg != nil {
		if _, err := r.cg.removeStale(live); err != nil {
			r.logger().Warn("remove stale instance cgroups", "err", err)
		}
	}
	return len(killed), nil
}

// hasEnv reports whether the initial environment of pid contains the entry kv.
func hasEnv(pid int, kv string) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		return false
	}
	for _, e := range bytes.Split(b, []byte{0}) {
		if string(e) == kv {
			return true
		}
	}
	return false
}
