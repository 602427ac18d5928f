package rollout

import "sync"

// queue is a work queue of service ids with the two guarantees the engine relies on: a key waits
// in the queue at most once however often it is added, and no two workers hold the same key at
// once (a key added while a worker holds it is queued again when the worker is done).
type queue struct {
	mu         sync.Mutex
	cond       *sync.Cond
	items      []string        // FIFO of keys ready for a worker
	dirty      map[string]bool // keys that need a run: in items, or waiting for their worker to finish
	processing map[string]bool // keys a worker holds
	closed     bool
}

func newQueue() *queue {
	q := &queue{dirty: map[string]bool{}, processing: map[string]bool{}}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// add queues key; it never blocks (beyond the mutex) and does nothing after close.
func (q *queue) add(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed || q.dirty[key] {
		return
	}
	q.dirty[key] = true
	if q.processing[key] {
		return
	}
	q.items = append(q.items, key)
	q.cond.Signal()
}

// get blocks until a key is ready and hands it to the caller, who must call done with it. It
// reports false once the queue is closed.
func (q *queue) get() (string, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.items) == 0 && !q.closed {
		q.cond.Wait()
	}
	if q.closed {
		return "", false
	}
	key := q.items[0]
	q.items[0] = ""
	q.items = q.items[1:]
	delete(q.dirty, key)
	q.processing[key] = true
	return key, true
}

// done releases key; if it was added meanwhile it is queued again.
func (q *queue) done(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.processing, key)
	if q.dirty[key] && !q.closed {
		q.items = append(q.items, key)
		q.cond.Signal()
	}
}

// close wakes every waiting get; queued keys are dropped.
func (q *queue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	q.cond.Broadcast()
}
