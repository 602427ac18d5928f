package agent

import (
	"bufio"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"

	"github.com/arkserve/arkserve/internal/ark"
)

// HostFacts gathers what a node registers about this machine: host name, the addresses of its
// interfaces (loopback left out unless it has nothing else), the OS from /etc/os-release, the
// architecture, CPUs, memory and NVIDIA GPUs.
func HostFacts(name string) ark.NodeFacts {
	f := ark.NodeFacts{Name: name, OSType: runtime.GOOS, Arch: runtime.GOARCH, CPU: runtime.NumCPU(), HostIPs: []string{}}
	f.HostName, _ = os.Hostname()
	var loopback []string
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			ipn, ok := a.(*net.IPNet)
			if !ok {
				continue
			}
			if ipn.IP.IsLoopback() {
				loopback = append(loopback, ipn.IP.String())
			} else if len(f.HostIPs) < ark.MaxNodeIPs {
				f.HostIPs = append(f.HostIPs, ipn.IP.String())
			}
		}
	}
	if len(f.HostIPs) == 0 {
		f.HostIPs = loopback
	}
	f.OSName, f.OSVersion = osRelease("/etc/os-release")
	f.MemoryMB = MemTotalMB("/proc/meminfo")
	f.GPUNum = nvidiaGPUs("/proc/driver/nvidia/gpus", "/dev")
	return f
}

// nvidiaGPUs counts the NVIDIA GPUs the driver reports: one directory per GPU under procDir
// (/proc/driver/nvidia/gpus), else, where /proc does not show them (some containers), the device
// nodes nvidia0, nvidia1, ... in devDir.
func nvidiaGPUs(procDir, devDir string) int {
	if gpus, err := os.ReadDir(procDir); err == nil && len(gpus) > 0 {
		return len(gpus)
	}
	devs, _ := os.ReadDir(devDir)
	n := 0
	for _, d := range devs {
		if num, ok := strings.CutPrefix(d.Name(), "nvidia"); ok {
			if _, err := strconv.Atoi(num); err == nil {
				n++
			}
		}
	}
	return n
}

// osRelease returns NAME and VERSION_ID of an os-release file ("" when unknown).
func osRelease(path string) (name, version string) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", ""
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		v = strings.Trim(v, `"'`)
		switch k {
		case "NAME":
			name = v
		case "VERSION_ID":
			version = v
		}
	}
	return name, version
}

// MemTotalMB returns MemTotal of a meminfo file (/proc/meminfo) in MB (0 when unknown).
func MemTotalMB(path string) int {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, _ := strconv.Atoi(fields[1])
			return kb / 1024
		}
	}
	return 0
}
