package main

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// lockedBuffer is a bytes.Buffer safe for the writer's goroutine and the test.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// TestLogWriter: every line arrives whole and in each writer's order, also past the backlog
// limit; Close writes what is left; lines after Close are written at once.
func TestLogWriter(t *testing.T) {
	var out lockedBuffer
	l := newLogWriter(&out)
	const writers, lines = 4, 2000
	long := strings.Repeat("x", maxLogBacklog/100) // 100 of them fill the backlog
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range lines {
				fmt.Fprintf(l, "w%d %d %s\n", w, i, long[:i%len(long)])
			}
		})
	}
	wg.Wait()
	l.Close()
	fmt.Fprintf(l, "after close\n")

	next := make([]int, writers)
	got := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(got) != writers*lines+1 || got[len(got)-1] != "after close" {
		t.Fatalf("%d lines, the last %.40q; want %d and %q", len(got), got[len(got)-1], writers*lines+1, "after close")
	}
	for _, line := range got[:len(got)-1] {
		var w, i int
		if _, err := fmt.Sscanf(line, "w%d %d", &w, &i); err != nil || w >= writers {
			t.Fatalf("line %.40q: %v", line, err)
		}
		if i != next[w] || len(line) != len(fmt.Sprintf("w%d %d ", w, i))+i%len(long) {
			t.Fatalf("writer %d: line %d (%d bytes) came when %d was due", w, i, len(line), next[w])
		}
		next[w]++
	}
}
