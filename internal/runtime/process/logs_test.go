package process_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/arkserve/arkserve/internal/runtime/process"
)

// TestLogsBoundedAndKept: an instance that writes more than MaxLogBytes keeps only the newer
// half; stopped instances leave a copy of their log in Dir/logs, of which KeepLogs are kept.
func TestLogsBoundedAndKept(t *testing.T) {
	rt := newRuntime(t)
	rt.MaxLogBytes, rt.KeepLogs = 8192, 2
	s := spec(t, nil)
	// 50,000 bytes of numbered lines, then the model server, which logs on.
	s.Cmd = `i=0; while [ $i -lt 5000 ]; do echo "line-$i xxx"; i=$((i+1)); done; echo LAST-LINE; exec "` + model + `"`
	in := start(t, rt, s)
	mustReady(t, in)
	logPath := filepath.Join(in.Dir, "instance.log")
	deadline := time.Now().Add(20 * time.Second)
	for {
		fi, err := os.Stat(logPath)
		if err == nil && fi.Size() <= 8192 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("instance.log not bounded: %v, %v", fi.Size(), err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	tail := in.LogTail(200)
	if !strings.Contains(tail, "LAST-LINE") || strings.Contains(tail, "line-0 ") {
		t.Errorf("the bounded log should keep the newest output and drop the oldest:\n%s", tail)
	}
	b, _ := os.ReadFile(logPath)
	if !strings.Contains(string(b), "bytes of older output dropped") {
		t.Errorf("the bounded log does not say that output was dropped:\n%.300s", b)
	}
	if err := in.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	kept, _ := filepath.Glob(filepath.Join(rt.Dir, "logs", "*-"+in.ID+".log"))
	if len(kept) != 1 {
		t.Fatalf("kept logs of %s: %v; want one", in.ID, kept)
	}
	if b, _ := os.ReadFile(kept[0]); !strings.Contains(string(b), "LAST-LINE") {
		t.Errorf("the kept log lacks the instance's last output:\n%.300s", b)
	}

	// Two more instances: only the KeepLogs = 2 newest logs stay.
	for range 2 {
		other := start(t, rt, spec(t, nil))
		if err := other.Stop(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	all, _ := filepath.Glob(filepath.Join(rt.Dir, "logs", "*.log"))
	if len(all) != 2 {
		t.Errorf("kept logs %v; want the 2 newest", all)
	}
	for _, p := range all {
		if strings.Contains(p, in.ID) {
			t.Errorf("the oldest log %s was not removed", p)
		}
	}
}

// TestUsage: a running instance's process group uses memory; a stopped one reports nothing.
func TestUsage(t *testing.T) {
	rt := newRuntime(t)
	in := start(t, rt, spec(t, nil))
	mustReady(t, in)
	if u := in.Usage(); u.MemoryMB <= 0 || u.CPUSeconds < 0 {
		t.Errorf("Usage of a running instance = %+v; want resident memory", u)
	}
	if err := in.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if u := in.Usage(); u != (process.Usage{}) {
		t.Errorf("Usage of a stopped instance = %+v; want zero", u)
	}
}
