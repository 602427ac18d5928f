package process

import (
	"os"
	"strconv"
	"strings"
	"time"
)

// Usage is what an instance's processes use: CPU time so far and resident memory now.
type Usage struct {
	CPUSeconds float64
	MemoryMB   int
}

// clockTicks is USER_HZ, the unit of CPU times in /proc/<pid>/stat; 100 on every Linux platform Go
// supports.
const clockTicks = 100

// Usage sums CPU time and resident memory over the instance's process group (the shell and
// everything it started), read from /proc. It is zero once the instance has exited.
func (in *Instance) Usage() Usage {
	select {
	case <-in.exited:
		return Usage{}
	default:
	}
	return in.rt.groupUsage(in.PID)
}

// usageMaxAge is how long one read of /proc serves the Usage of every instance: a monitor call
// asks for each instance of a service, and each read walks every process of the host.
const usageMaxAge = time.Second

// groupUsage is the usage of process group pgrp from a /proc snapshot at most usageMaxAge old.
func (r *Runtime) groupUsage(pgrp int) Usage {
	r.usageMu.Lock()
	defer r.usageMu.Unlock()
	if now := time.Now(); now.Sub(r.usageAt) > usageMaxAge {
		r.usage, r.usageAt = readGroupUsage(), now
	}
	return r.usage[pgrp]
}

// readGroupUsage walks /proc once and sums CPU time and resident memory per process group.
func readGroupUsage() map[int]Usage {
	out := map[int]Usage{}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return out
	}
	page := int64(os.Getpagesize())
	rssPages := map[int]int64{}
	for _, e := range ents {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// The command name may hold spaces and parentheses: fields start after the last ')'.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		// f[0] is field 3 (state); pgrp is field 5, utime 14, stime 15, rss 24.
		if len(f) < 22 {
			continue
		}
		pgrp, err := strconv.Atoi(f[2])
		if err != nil {
			continue
		}
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		rss, _ := strconv.ParseInt(f[21], 10, 64)
		u := out[pgrp]
		u.CPUSeconds += float64(ut+st) / clockTicks
		out[pgrp] = u
		rssPages[pgrp] += rss
	}
	for g, n := range rssPages {
		u := out[g]
		u.MemoryMB = int(n * page >> 20)
		out[g] = u
	}
	return out
}
