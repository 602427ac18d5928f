package main

import (
	"io"
	"sync"
)

// maxLogBacklog is how much logWriter buffers before a Write waits for the destination.
const maxLogBacklog = 1 << 20

// logWriter takes the server's log lines off the request path: Write appends to a buffer and one
// goroutine writes what has accumulated. The access-log line of every request was one write(2)
// before the response was sent (4 to 8% of the server's CPU in the profiles of `go run ./bench
// logs` and `gateway`); now, under load, many lines leave in one write, and a quiet server writes
// each line as soon as that goroutine runs (there is no timer: nothing waits to be written).
// Lines keep their order. Close writes what is left.
type logWriter struct {
	w    io.Writer
	wake chan struct{} // capacity 1: there is something to write
	done chan struct{} // closed when run returned

	mu     sync.Mutex // protects the following
	buf    []byte
	closed bool // lines are written by Write itself

	wmu   sync.Mutex // serializes writes to w: the order of lines
	spare []byte     // the buffer last written, reused; wmu
}

func newLogWriter(w io.Writer) *logWriter {
	l := &logWriter{w: w, wake: make(chan struct{}, 1), done: make(chan struct{})}
	go l.run()
	return l
}

func (l *logWriter) Write(p []byte) (int, error) {
	for {
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			l.wmu.Lock()
			defer l.wmu.Unlock()
			l.flushLocked()
			return l.w.Write(p)
		}
		if len(l.buf) == 0 || len(l.buf)+len(p) <= maxLogBacklog {
			break
		}
		// The destination is slower than the lines come: write the backlog here, as a plain
		// writer would block.
		l.mu.Unlock()
		l.wmu.Lock()
		l.flushLocked()
		l.wmu.Unlock()
	}
	l.buf = append(l.buf, p...)
	select {
	case l.wake <- struct{}{}: // under mu: Close cannot have closed wake
	default: // run is already due
	}
	l.mu.Unlock()
	return len(p), nil
}

func (l *logWriter) run() {
	defer close(l.done)
	for range l.wake {
		l.wmu.Lock()
		l.flushLocked()
		l.wmu.Unlock()
	}
}

// flushLocked writes the buffered lines; the caller holds wmu. Write errors are dropped, as
// slog drops its handler's.
func (l *logWriter) flushLocked() {
	l.mu.Lock()
	out := l.buf
	l.buf, l.spare = l.spare[:0], nil
	l.mu.Unlock()
	if len(out) > 0 {
		_, _ = l.w.Write(out)
	}
	if cap(out) <= 64<<10 {
		l.spare = out // a burst's larger buffer is not kept
	}
}

// Close writes what is buffered and stops the goroutine; later lines are written at once.
func (l *logWriter) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil
	}
	l.closed = true
	close(l.wake)
	l.mu.Unlock()
	<-l.done
	l.wmu.Lock()
	l.flushLocked()
	l.wmu.Unlock()
	return nil
}
