package process

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Instance logs. An instance's stdout and stderr go to instance.log in its directory, through a
// descriptor the server opened and keeps. The file is bounded: when it grows beyond MaxLogBytes,
// its older half is dropped (the server keeps the newer half and truncates; the instance appends
// after it, O_APPEND). When the instance is stopped, and when StopStale finds the directory of an
// instance a crashed server left behind, the log's content is copied into LogDir (a directory only
// the server can write: nothing an instance plants there is followed) and the KeepLogs newest
// copies are kept.

// Defaults of the Runtime's log fields.
const (
	DefaultMaxLogBytes = 16 << 20
	DefaultKeepLogs    = 200
)

// logCheckInterval is how often an instance's log size is checked.
const logCheckInterval = 2 * time.Second

func (r *Runtime) maxLogBytes() int64 {
	if r.MaxLogBytes > 0 {
		return r.MaxLogBytes
	}
	return DefaultMaxLogBytes
}

// logDir is where the logs of ended instances are kept: Dir/logs.
func (r *Runtime) logDir() string { return filepath.Join(r.Dir, "logs") }

// boundLog keeps the instance's log within MaxLogBytes until the instance exits.
func (in *Instance) boundLog() {
	defer in.logWG.Done()
	t := time.NewTicker(logCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-in.exited:
			return
		case <-t.C:
		}
		if err := in.trimLog(in.rt.maxLogBytes()); err != nil {
			in.rt.logger().Warn("bound instance log", "instance", in.ID, "err", err)
		}
	}
}

// trimLog drops the older half of the log once it is larger than max. Lines the instance writes
// while it runs (a few milliseconds) can be lost.
func (in *Instance) trimLog(max int64) error {
	in.logMu.Lock()
	defer in.logMu.Unlock()
	if in.log == nil {
		return nil
	}
	fi, err := in.log.Stat()
	if err != nil || fi.Size() <= max {
		return err
	}
	keep := make([]byte, max/2)
	n, err := in.log.ReadAt(keep, fi.Size()-int64(len(keep)))
	if err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	if err := in.log.Truncate(0); err != nil {
		return err
	}
	note := fmt.Sprintf("[arkserve: %d bytes of older output dropped; the log is kept under %d bytes]\n", fi.Size()-int64(n), max)
	_, err = in.log.Write(append([]byte(note), keep[:n]...))
	return err
}

// keepLog copies what src holds (at most MaxLogBytes, its end) into LogDir as
// <end time ms>-<instance id>.log and removes the oldest copies beyond KeepLogs.
func (r *Runtime) keepLog(id string, src *os.File) error {
	if r.KeepLogs < 0 {
		return nil
	}
	dir := r.logDir()
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	fi, err := src.Stat()
	if err != nil {
		return err
	}
	off := max(0, fi.Size()-r.maxLogBytes())
	dst, err := os.OpenFile(filepath.Join(dir, fmt.Sprintf("%d-%s.log", time.Now().UnixMilli(), id)),
		os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	_, err = io.Copy(dst, io.NewSectionReader(src, off, fi.Size()-off))
	if err = errors.Join(err, dst.Close()); err != nil {
		return err
	}
	return r.pruneLogs()
}

// keepStaleLog keeps the log of an instance directory a crashed server left behind. The
// directory belongs to the instance's user: the file is opened without following a symlink and
// must be a regular file.
func (r *Runtime) keepStaleLog(id, path string) error {
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	if fi, err := f.Stat(); err != nil || !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", path)
	}
	return r.keepLog(id, f)
}

// pruneLogs removes the oldest kept logs beyond KeepLogs (their names start with the end time).
func (r *Runtime) pruneLogs() error {
	keep := r.KeepLogs
	if keep == 0 {
		keep = DefaultKeepLogs
	}
	entries, err := os.ReadDir(r.logDir())
	if err != nil {
		return err
	}
	var names []string
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".log") && e.Type().IsRegular() {
			names = append(names, e.Name())
		}
	}
	if len(names) <= keep {
		return nil
	}
	slices.SortFunc(names, func(a, b string) int { return compareByTime(a, b) })
	var errs []error
	for _, n := range names[:len(names)-keep] {
		errs = append(errs, os.Remove(filepath.Join(r.logDir(), n)))
	}
	return errors.Join(errs...)
}

// compareByTime orders kept log names by their leading end time (numerically), then by name.
func compareByTime(a, b string) int {
	ta, _, _ := strings.Cut(a, "-")
	tb, _, _ := strings.Cut(b, "-")
	if len(ta) != len(tb) {
		return len(ta) - len(tb)
	}
	return strings.Compare(a, b)
}
