package process

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// Resource limits (Spec.CPU, Spec.MemoryMB) are enforced with cgroups where the host lets the
// server create them, detected once per Runtime:
//
//   - cgroup v2, when the server's own cgroup offers the cpu and memory controllers: a group
//     <own cgroup>/arkserve-<hash>/ with both controllers delegated to its children, and one child
//     per instance with cpu.max and memory.max (and memory.swap.max 0). The no-internal-processes
//     rule forbids delegating controllers from a group that has processes, so when the server's
//     own group refuses, the server moves itself into a leaf <own cgroup>/arkserve-server first, as
//     systemd's delegation documentation asks of a service with Delegate=yes.
//   - cgroup v1, when the cpu and memory hierarchies are mounted and writable: per hierarchy a group
//     <mount>/<own cgroup>/arkserve-<hash>/<instance-id> with cpu.cfs_period_us and cpu.cfs_quota_us,
//     or memory.limit_in_bytes (and memory.memsw.limit_in_bytes, so swap does not stretch it).
//   - neither: nothing is enforced, the runtime logs so once, and the specifications are only
//     accounted (by the engine's ledger).
//
// <hash> is derived from Runtime.Dir, so two servers (or two test runtimes) on one host never
// share a group, and a server restarted on the same data dir finds what its predecessor left.
//
// An instance with limits is started through a gate: /bin/sh waits on a pipe until the server has
// written its pid into the group, then execs `/bin/sh -c CMD` in place (same pid, same process
// group). So nothing of the model runs outside its group, and everything it starts inherits it.
// When the instance has exited, the server kills whatever is left in the group (also processes
// that left the process group with setsid), reads whether the kernel's OOM killer struck, and
// removes the group.

// cgroupPeriod is the CFS period (µs) of CPU limits: quota = cores × period.
const cgroupPeriod = 100000

// gateScript waits for the server's go-ahead on fd 3, closes it and becomes the instance's shell.
// $1 is the instance's command. A closed pipe without the go-ahead means the server gave up.
const gateScript = `IFS= read -r go <&3 || exit 125; exec 3<&-; exec /bin/sh -c "$1"`

// cgroups places instances in per-instance groups of one hierarchy layout. Its zero value is
// not usable; detectCgroups returns one or nil.
type cgroups struct {
	version int // 1 or 2
	// parents are the directories instance groups are created in: one for v2, the cpu and the
	// memory hierarchy's for v1.
	cpuParent, memParent string

	mu   sync.Mutex // serialises creating and removing parents and groups
	live int        // groups this Runtime created and has not removed
}

// cgroupName is the name of a Runtime's parent group.
func cgroupName(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		abs = dir
	}
	h := sha256.Sum256([]byte("arkserve-instances:" + abs))
	return "arkserve-" + hex.EncodeToString(h[:4])
}

// cgroupHost is where detection looks: the real files in production, a fake tree in tests.
type cgroupHost struct {
	mountinfo  []byte // /proc/self/mountinfo
	selfCgroup []byte // /proc/self/cgroup
	pid        int    // the server's pid, moved into a leaf group when cgroup v2 needs it
}

func realCgroupHost() (cgroupHost, error) {
	mi, err1 := os.ReadFile("/proc/self/mountinfo")
	cg, err2 := os.ReadFile("/proc/self/cgroup")
	return cgroupHost{mountinfo: mi, selfCgroup: cg, pid: os.Getpid()}, errors.Join(err1, err2)
}

// mount is a cgroup mount from mountinfo.
type mount struct {
	root, point, fstype string
	opts                map[string]bool // super options: the v1 controllers
}

func parseMountinfo(b []byte) []mount {
	var out []mount
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		sep := -1
		for i, x := range f {
			if x == "-" && i >= 6 {
				sep = i
				break
			}
		}
		if sep < 0 || len(f) < sep+4 {
			continue
		}
		fstype := f[sep+1]
		if fstype != "cgroup" && fstype != "cgroup2" {
			continue
		}
		m := mount{root: unescapeMount(f[3]), point: unescapeMount(f[4]), fstype: fstype, opts: map[string]bool{}}
		for _, o := range strings.Split(f[sep+3], ",") {
			m.opts[o] = true
		}
		out = append(out, m)
	}
	return out
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// ownCgroups maps "" (v2) and each v1 controller to the server's cgroup path in that hierarchy.
func ownCgroups(b []byte) map[string]string {
	out := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[1] == "" {
			out[""] = parts[2]
			continue
		}
		for _, c := range strings.Split(parts[1], ",") {
			out[c] = parts[2]
		}
	}
	return out
}

// groupDir is the directory of cgroup path p (as /proc/self/cgroup names it) under mount m.
func groupDir(m mount, p string) string {
	rel := p
	if m.root != "/" {
		rel = strings.TrimPrefix(p, m.root) // the mount shows a subtree (a container's)
	}
	return filepath.Join(m.point, filepath.FromSlash(rel))
}

// detectCgroups finds a writable cgroup layout with CPU and memory control, v2 before v1. It
// returns nil and the reason when there is none.
func detectCgroups(h cgroupHost, name string) (*cgroups, string) {
	mounts := parseMountinfo(h.mountinfo)
	own := ownCgroups(h.selfCgroup)
	var reasons []string
	if cg, why := detectV2(h, mounts, own, name); cg != nil {
		return cg, ""
	} else {
		reasons = append(reasons, "cgroup v2: "+why)
	}
	if cg, why := detectV1(mounts, own, name); cg != nil {
		return cg, ""
	} else {
		reasons = append(reasons, "cgroup v1: "+why)
	}
	return nil, strings.Join(reasons, "; ")
}

func detectV2(h cgroupHost, mounts []mount, own map[string]string, name string) (*cgroups, string) {
	p, ok := own[""]
	if !ok {
		return nil, "the server is in no v2 group"
	}
	var m *mount
	for i := range mounts {
		if mounts[i].fstype == "cgroup2" {
			m = &mounts[i]
			break
		}
	}
	if m == nil {
		return nil, "not mounted"
	}
	base := groupDir(*m, p)
	ctrl, err := os.ReadFile(filepath.Join(base, "cgroup.controllers"))
	if err != nil {
		return nil, err.Error()
	}
	if !hasWords(string(ctrl), "cpu", "memory") {
		return nil, fmt.Sprintf("the controllers of %s are %q, without cpu and memory", base, strings.TrimSpace(string(ctrl)))
	}
	if err := enableControllers(base); err != nil {
		if !errors.Is(err, syscall.EBUSY) {
			return nil, err.Error()
		}
		// The group has processes (the server): move the server into a leaf, then delegate.
		leaf := filepath.Join(base, "arkserve-server")
		if err := os.Mkdir(leaf, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
			return nil, err.Error()
		}
		if err := writeFile(filepath.Join(leaf, "cgroup.procs"), strconv.Itoa(h.pid)); err != nil {
			return nil, fmt.Sprintf("move the server into %s: %v", leaf, err)
		}
		if err := enableControllers(base); err != nil {
			return nil, fmt.Sprintf("%s has processes other than the server: %v", base, err)
		}
	}
	parent := filepath.Join(base, name)
	if err := os.Mkdir(parent, 0o755); err != nil && !errors.Is(err, fs.ErrExist) {
		return nil, err.Error()
	}
	if err := enableControllers(parent); err != nil {
		return nil, err.Error()
	}
	return &cgroups{version: 2, cpuParent: parent, memParent: parent}, ""
}

// enableControllers delegates cpu and memory to the children of group dir, unless it already does.
func enableControllers(dir string) error {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control"))
	if err == nil && hasWords(string(b), "cpu", "memory") {
		return nil
	}
	return writeFile(filepath.Join(dir, "cgroup.subtree_control"), "+cpu +memory")
}

func hasWords(s string, words ...string) bool {
	have := map[string]bool{}
	for _, w := range strings.Fields(s) {
		have[w] = true
	}
	for _, w := range words {
		if !have[w] {
			return false
		}
	}
	return true
}

func detectV1(mounts []mount, own map[string]string, name string) (*cgroups, string) {
	dirs := map[string]string{}
	for _, c := range []string{"cpu", "memory"} {
		p, ok := own[c]
		if !ok {
			return nil, "the server is in no " + c + " group"
		}
		for _, m := range mounts {
			if m.fstype == "cgroup" && m.opts[c] {
				dirs[c] = filepath.Join(groupDir(m, p), name)
				break
			}
		}
		if dirs[c] == "" {
			return nil, "no " + c + " hierarchy is mounted"
		}
		// Writable: the parent group can be created (it is removed again with the last instance).
		if err := os.MkdirAll(dirs[c], 0o755); err != nil {
			return nil, err.Error()
		}
		_ = os.Remove(dirs[c])
	}
	return &cgroups{version: 1, cpuParent: dirs["cpu"], memParent: dirs["memory"]}, ""
}

// String describes the layout for the log.
func (cg *cgroups) String() string {
	if cg.version == 2 {
		return "cgroup v2 under " + cg.cpuParent
	}
	return "cgroup v1 under " + cg.cpuParent + " and " + cg.memParent
}

// dirs are the group directories of instance id (one for v2, two for v1).
func (cg *cgroups) dirs(id string) []string {
	if cg.version == 2 {
		return []string{filepath.Join(cg.cpuParent, id)}
	}
	return []string{filepath.Join(cg.cpuParent, id), filepath.Join(cg.memParent, id)}
}

func (cg *cgroups) memDir(id string) string { return filepath.Join(cg.memParent, id) }

// create makes the group of instance id with the given limits (0: none of that kind).
func (cg *cgroups) create(id string, cpu float64, memoryMB int) (err error) {
	cg.mu.Lock()
	defer cg.mu.Unlock()
	var made []string
	defer func() {
		if err != nil {
			for _, d := range made {
				_ = os.Remove(d)
			}
			cg.removeParentsLocked()
		}
	}()
	for _, d := range cg.dirs(id) {
		// Another Runtime on the same Dir (a server and its crashed predecessor's StopStale, say)
		// may remove the parent between MkdirAll and Mkdir: then make it again.
		for try := 0; ; try++ {
			if err := os.MkdirAll(filepath.Dir(d), 0o755); err != nil {
				return fmt.Errorf("process: cgroup: %w", err)
			}
			if cg.version == 2 {
				if err := enableControllers(filepath.Dir(d)); err != nil {
					return fmt.Errorf("process: cgroup: %w", err)
				}
			}
			err := os.Mkdir(d, 0o755)
			if err == nil {
				break
			}
			if !errors.Is(err, fs.ErrNotExist) || try == 2 {
				return fmt.Errorf("process: cgroup: %w", err)
			}
		}
		made = append(made, d)
	}
	quota := max(1000, int64(cpu*cgroupPeriod+0.5)) // the kernel's minimum quota is 1 ms
	mem := int64(memoryMB) << 20
	var writes [][2]string
	switch cg.version {
	case 2:
		d := made[0]
		if cpu > 0 {
			writes = append(writes, [2]string{filepath.Join(d, "cpu.max"), fmt.Sprintf("%d %d", quota, cgroupPeriod)})
		}
		if memoryMB > 0 {
			writes = append(writes, [2]string{filepath.Join(d, "memory.max"), strconv.FormatInt(mem, 10)})
			if _, err := os.Stat(filepath.Join(d, "memory.swap.max")); err == nil {
				writes = append(writes, [2]string{filepath.Join(d, "memory.swap.max"), "0"})
			}
		}
	case 1:
		if cpu > 0 {
			writes = append(writes, [2]string{filepath.Join(made[0], "cpu.cfs_period_us"), strconv.Itoa(cgroupPeriod)},
				[2]string{filepath.Join(made[0], "cpu.cfs_quota_us"), strconv.FormatInt(quota, 10)})
		}
		if memoryMB > 0 {
			writes = append(writes, [2]string{filepath.Join(made[1], "memory.limit_in_bytes"), strconv.FormatInt(mem, 10)})
			if _, err := os.Stat(filepath.Join(made[1], "memory.memsw.limit_in_bytes")); err == nil {
				writes = append(writes, [2]string{filepath.Join(made[1], "memory.memsw.limit_in_bytes"), strconv.FormatInt(mem, 10)})
			}
		}
	}
	for _, w := range writes {
		if err := writeFile(w[0], w[1]); err != nil {
			return fmt.Errorf("process: cgroup limit: %w", err)
		}
	}
	cg.live++
	return nil
}

// add moves process pid (with all its threads) into the group of instance id.
func (cg *cgroups) add(id string, pid int) error {
	for _, d := range cg.dirs(id) {
		if err := writeFile(filepath.Join(d, "cgroup.procs"), strconv.Itoa(pid)); err != nil {
			return fmt.Errorf("process: cgroup: %w", err)
		}
	}
	return nil
}

// procs lists the processes in the group of instance id.
func (cg *cgroups) procs(id string) []int {
	b, err := os.ReadFile(filepath.Join(cg.memDir(id), "cgroup.procs"))
	if err != nil {
		return nil
	}
	var out []int
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
			out = append(out, pid)
		}
	}
	return out
}

// oomKills is the number of processes the kernel's OOM killer killed in the group of instance id.
func (cg *cgroups) oomKills(id string) int {
	file := "memory.oom_control" // v1
	if cg.version == 2 {
		file = "memory.events"
	}
	b, err := os.ReadFile(filepath.Join(cg.memDir(id), file))
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "oom_kill "); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return 0
}

// remove kills what is left in the group of instance id and removes the group, and the parents
// when they became empty. The group of an instance that exited empties at once; remove waits for
// stragglers at most a few seconds and then leaves the group behind (StopStale retries).
func (cg *cgroups) remove(id string) error {
	err := cg.clean(id)
	cg.mu.Lock()
	if err == nil {
		cg.live = max(0, cg.live-1)
	}
	cg.removeParentsLocked()
	cg.mu.Unlock()
	return err
}

// clean kills the processes in the group of instance id and removes the group, waiting at most
// a few seconds for the processes to go.
func (cg *cgroups) clean(id string) error {
	deadline := time.Now().Add(5 * time.Second)
	for {
		for _, pid := range cg.procs(id) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		var errs []error
		for _, d := range cg.dirs(id) {
			if err := os.Remove(d); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
		}
		err := errors.Join(errs...)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("process: remove cgroup: %w", err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// removeStale removes the groups under the parents whose instances are not in live: what an
// earlier server process left. It returns how many it removed.
func (cg *cgroups) removeStale(live map[string]bool) (int, error) {
	n := 0
	var errs []error
	for _, id := range cg.stale() {
		if live[id] {
			continue
		}
		if err := cg.clean(id); err != nil {
			errs = append(errs, err)
			continue
		}
		n++
	}
	cg.mu.Lock()
	cg.removeParentsLocked()
	cg.mu.Unlock()
	return n, errors.Join(errs...)
}

// removeParentsLocked removes the parent groups when this Runtime has no group left in them;
// rmdir fails harmlessly when another one has.
func (cg *cgroups) removeParentsLocked() {
	if cg.live > 0 {
		return
	}
	_ = os.Remove(cg.cpuParent)
	if cg.memParent != cg.cpuParent {
		_ = os.Remove(cg.memParent)
	}
}

// stale lists the instance groups under the parents (left by an earlier server process).
func (cg *cgroups) stale() []string {
	seen := map[string]bool{}
	var out []string
	for _, p := range []string{cg.cpuParent, cg.memParent} {
		entries, _ := os.ReadDir(p)
		for _, e := range entries {
			if e.IsDir() && instanceIDRE.MatchString(e.Name()) && !seen[e.Name()] {
				seen[e.Name()] = true
				out = append(out, e.Name())
			}
		}
	}
	return out
}

// writeFile writes s to a control file in one write, without truncating it (cgroup files do not
// truncate). O_CREATE never creates anything in a cgroup file system (the files exist, or the
// write fails); it lets the tests run on a plain directory tree.
func writeFile(path, s string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	_, err = f.WriteString(s)
	return errors.Join(err, f.Close())
}
