package process

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParseMountinfo(t *testing.T) {
	mi := `31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu,cpuacct rw,relatime shared:9 - cgroup cgroup rw,cpu,cpuacct
35 31 0:32 /docker/abc /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/with\040space rw,relatime - cgroup2 cgroup2 rw,nsdelegate
`
	got := parseMountinfo([]byte(mi))
	want := []mount{
		{root: "/", point: "/sys/fs/cgroup/cpu,cpuacct", fstype: "cgroup", opts: map[string]bool{"rw": true, "cpu": true, "cpuacct": true}},
		{root: "/docker/abc", point: "/sys/fs/cgroup/memory", fstype: "cgroup", opts: map[string]bool{"rw": true, "memory": true}},
		{root: "/", point: "/sys/fs/cgroup/with space", fstype: "cgroup2", opts: map[string]bool{"rw": true, "nsdelegate": true}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("parseMountinfo = %+v\nwant %+v", got, want)
	}
	if got := groupDir(want[1], "/docker/abc/sub"); got != "/sys/fs/cgroup/memory/sub" {
		t.Errorf("groupDir in a container's subtree = %s", got)
	}
	own := ownCgroups([]byte("4:memory:/a/b\n2:cpu,cpuacct:/c\n0::/user.slice\n"))
	if want := map[string]string{"memory": "/a/b", "cpu": "/c", "cpuacct": "/c", "": "/user.slice"}; !reflect.DeepEqual(own, want) {
		t.Errorf("ownCgroups = %v; want %v", own, want)
	}
}

func write(t *testing.T, path, s string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestDetectCgroups runs detection and group setup on plain directory trees laid out like the
// cgroup file systems (the kernel's behaviour is tested on the real hierarchy by TestLimits).
func TestDetectCgroups(t *testing.T) {
	t.Run("V2", func(t *testing.T) {
		root := t.TempDir()
		write(t, filepath.Join(root, "svc", "cgroup.controllers"), "cpuset cpu io memory pids\n")
		h := cgroupHost{
			mountinfo:  []byte("41 31 0:38 / " + root + " rw - cgroup2 cgroup2 rw\n"),
			selfCgroup: []byte("0::/svc\n"),
			pid:        4242,
		}
		cg, why := detectCgroups(h, "arkserve-x")
		if cg == nil || cg.version != 2 {
			t.Fatalf("detectCgroups = %v, %q; want cgroup v2", cg, why)
		}
		parent := filepath.Join(root, "svc", "arkserve-x")
		if cg.cpuParent != parent || cg.memParent != parent {
			t.Errorf("parents %s, %s; want %s", cg.cpuParent, cg.memParent, parent)
		}
		for _, d := range []string{filepath.Join(root, "svc"), parent} {
			if got := read(t, filepath.Join(d, "cgroup.subtree_control")); got != "+cpu +memory" {
				t.Errorf("%s/cgroup.subtree_control = %q; want +cpu +memory", d, got)
			}
		}
		if err := cg.create("i1", 1.5, 512); err != nil {
			t.Fatal(err)
		}
		if err := cg.add("i1", 99); err != nil {
			t.Fatal(err)
		}
		for file, want := range map[string]string{"cpu.max": "150000 100000", "memory.max": "536870912", "cgroup.procs": "99"} {
			if got := read(t, filepath.Join(parent, "i1", file)); got != want {
				t.Errorf("%s = %q; want %q", file, got, want)
			}
		}
		write(t, filepath.Join(parent, "i1", "memory.events"), "low 0\nhigh 0\nmax 3\noom 1\noom_kill 1\n")
		if n := cg.oomKills("i1"); n != 1 {
			t.Errorf("oomKills = %d; want 1", n)
		}
		if got := cg.stale(); !reflect.DeepEqual(got, []string{"i1"}) {
			t.Errorf("stale = %v; want [i1]", got)
		}
	})

	t.Run("V1", func(t *testing.T) {
		root := t.TempDir()
		for _, d := range []string{"cpu,cpuacct/srv", "memory/srv"} {
			if err := os.MkdirAll(filepath.Join(root, d), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		h := cgroupHost{
			// cgroup2 is mounted without controllers (a hybrid layout): v2 is not usable.
			mountinfo: []byte("41 31 0:38 / " + root + "/unified rw - cgroup2 cgroup2 rw\n" +
				"32 31 0:29 / " + root + "/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct\n" +
				"35 31 0:32 / " + root + "/memory rw - cgroup cgroup rw,memory\n"),
			selfCgroup: []byte("4:memory:/srv\n2:cpu,cpuacct:/srv\n0::/\n"),
		}
		write(t, filepath.Join(root, "unified", "cgroup.controllers"), "\n")
		cg, why := detectCgroups(h, "arkserve-x")
		if cg == nil || cg.version != 1 {
			t.Fatalf("detectCgroups = %v, %q; want cgroup v1", cg, why)
		}
		cpu, mem := filepath.Join(root, "cpu,cpuacct", "srv", "arkserve-x"), filepath.Join(root, "memory", "srv", "arkserve-x")
		if cg.cpuParent != cpu || cg.memParent != mem {
			t.Errorf("parents %s, %s; want %s, %s", cg.cpuParent, cg.memParent, cpu, mem)
		}
		if err := cg.create("i1", 0.25, 100); err != nil {
			t.Fatal(err)
		}
		for file, want := range map[string]string{
			filepath.Join(cpu, "i1", "cpu.cfs_quota_us"):      "25000",
			filepath.Join(cpu, "i1", "cpu.cfs_period_us"):     "100000",
			filepath.Join(mem, "i1", "memory.limit_in_bytes"): "104857600",
		} {
			if got := read(t, file); got != want {
				t.Errorf("%s = %q; want %q", file, got, want)
			}
		}
		if _, err := os.Stat(filepath.Join(mem, "i1", "memory.memsw.limit_in_bytes")); err == nil {
			t.Error("memory.memsw.limit_in_bytes written where the kernel has no swap accounting")
		}
		// A CPU quota below the kernel's minimum (1 ms per period) is raised to it.
		if err := cg.create("i2", 0.001, 0); err != nil {
			t.Fatal(err)
		}
		if got := read(t, filepath.Join(cpu, "i2", "cpu.cfs_quota_us")); got != "1000" {
			t.Errorf("quota of 0.001 CPU = %s; want 1000", got)
		}
		if _, err := os.Stat(filepath.Join(mem, "i2", "memory.limit_in_bytes")); err == nil {
			t.Error("memory limit written for MemoryMB 0")
		}
	})

	t.Run("None", func(t *testing.T) {
		h := cgroupHost{
			mountinfo:  []byte("41 31 0:38 / /nonexistent/unified rw - cgroup2 cgroup2 rw\n"),
			selfCgroup: []byte("0::/\n"),
		}
		cg, why := detectCgroups(h, "arkserve-x")
		if cg != nil || !strings.Contains(why, "cgroup v2:") || !strings.Contains(why, "cgroup v1: the server is in no cpu group") {
			t.Errorf("detectCgroups = %v, %q; want none, with both reasons", cg, why)
		}
	})
}

func TestCgroupName(t *testing.T) {
	a, b := cgroupName("/data/a/instances"), cgroupName("/data/b/instances")
	if a == b || !strings.HasPrefix(a, "arkserve-") || len(a) != len("arkserve-")+8 || a != cgroupName("/data/a/instances") {
		t.Errorf("cgroupName = %q, %q; want stable, distinct arkserve-<8 hex>", a, b)
	}
}
