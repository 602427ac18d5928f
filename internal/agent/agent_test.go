package agent

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/arkserve/arkserve/internal/ark"
)

// TestNodeID: the first start makes an id (mode 0600), later starts read the same one, and a file
// that holds no id is an error rather than a new identity.
func TestNodeID(t *testing.T) {
	dir := t.TempDir()
	id, err := NodeID(dir)
	if err != nil || !ark.IsUUID(id) {
		t.Fatalf("NodeID = %q, %v; want a new UUID", id, err)
	}
	if st, err := os.Stat(filepath.Join(dir, "node-id")); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("node-id: %v, %v; want mode 0600", st, err)
	}
	if again, err := NodeID(dir); err != nil || again != id {
		t.Fatalf("NodeID again = %q, %v; want %q", again, err, id)
	}
	if err := os.WriteFile(filepath.Join(dir, "node-id"), []byte("not an id\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NodeID(dir); err == nil {
		t.Fatal("NodeID accepted a file without an id")
	}
}

func TestHostFacts(t *testing.T) {
	dir := t.TempDir()
	osr := filepath.Join(dir, "os-release")
	meminfo := filepath.Join(dir, "meminfo")
	os.WriteFile(osr, []byte("PRETTY_NAME=\"Debian 12\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\n"), 0o644)
	os.WriteFile(meminfo, []byte("MemTotal:       16384000 kB\nMemFree: 1 kB\n"), 0o644)
	if name, version := osRelease(osr); name != "Debian GNU/Linux" || version != "12" {
		t.Errorf("osRelease = %q, %q", name, version)
	}
	if mb := MemTotalMB(meminfo); mb != 16000 {
		t.Errorf("MemTotalMB = %d; want 16000", mb)
	}
	f := HostFacts("edge-1")
	if err := f.Validate(); err != nil || f.Name != "edge-1" || f.CPU < 1 || len(f.HostIPs) == 0 {
		t.Errorf("HostFacts = %+v (%v); want valid facts with CPUs and addresses", f, err)
	}
}

// TestNVIDIAGPUs: GPUs from the driver's /proc directory, else from the device nodes (nvidiactl
// and nvidia-uvm are not GPUs).
func TestNVIDIAGPUs(t *testing.T) {
	proc, dev := t.TempDir(), t.TempDir()
	if n := nvidiaGPUs(filepath.Join(proc, "absent"), dev); n != 0 {
		t.Errorf("no driver, no devices: %d GPUs", n)
	}
	for _, name := range []string{"nvidia0", "nvidia1", "nvidiactl", "nvidia-uvm", "null"} {
		os.WriteFile(filepath.Join(dev, name), nil, 0o644)
	}
	if n := nvidiaGPUs(filepath.Join(proc, "absent"), dev); n != 2 {
		t.Errorf("from /dev: %d GPUs; want 2", n)
	}
	for _, gpu := range []string{"0000:3b:00.0", "0000:5e:00.0", "0000:86:00.0"} {
		os.Mkdir(filepath.Join(proc, gpu), 0o755)
	}
	if n := nvidiaGPUs(proc, dev); n != 3 {
		t.Errorf("from /proc/driver/nvidia/gpus: %d GPUs; want 3", n)
	}
}
