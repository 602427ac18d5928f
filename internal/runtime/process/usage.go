package process

import (
	"os"
	"strconv"
	"strings"
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
	var u Usage
	select {
	case <-in.exited:
		return u
	default:
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return u
	}
	page := os.Getpagesize()
	var rssPages int64
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
		if len(f) < 22 || f[2] != strconv.Itoa(in.PID) {
			continue
		}
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		stime, _ := strconv.ParseInt(f[12], 10, 64)
		rss, _ := strconv.ParseInt(f[21], 10, 64)
		u.CPUSeconds += float64(ut+stime) / clockTicks
		rssPages += rss
	}
	u.MemoryMB = int(rssPages * int64(page) >> 20)
	return u
}
