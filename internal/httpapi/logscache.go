package httpapi

import (
	"encoding/json"
	"net/http"
	"sync"
)

// Update-log answers are cached, encoded, while the store has not changed: an entry is finished
// once and never edited, and a service's history is read far more often than it grows. The store
// says when it changed with a generation (sqlite.DB.Generation: every committed write changes
// it); a store without one (one shared by several servers, like PostgreSQL) is not cached.
// The cache is keyed by project, so an answer is never served to a caller of another project,
// and authentication still runs for every request.

// generationer is a store that reports when its data changed.
type generationer interface {
	Generation() uint64
}

// logsCacheMaxBytes bounds the encoded answers kept; an answer larger than a quarter of it is not
// kept.
const logsCacheMaxBytes = 32 << 20

type logsKey struct {
	projectID, serviceID string
	updateTime           int64 // -1: all entries
}

// logsCache holds encoded answers read at one store generation.
type logsCache struct {
	mu    sync.RWMutex // protects the following fields
	gen   uint64
	m     map[logsKey][]byte
	bytes int
}

// get returns the answer for k read at generation gen, nil when there is none.
func (c *logsCache) get(gen uint64, k logsKey) []byte {
	c.mu.RLock()
	defer c.mu.RUnlock()
	if c.gen != gen {
		return nil
	}
	return c.m[k]
}

// put keeps b, read at generation gen (the store's generation before the read), as the answer
// for k. Answers of older generations are dropped.
func (c *logsCache) put(gen uint64, k logsKey, b []byte) {
	if len(b) > logsCacheMaxBytes/4 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case gen < c.gen:
		return
	case gen > c.gen || c.m == nil:
		c.gen, c.m, c.bytes = gen, map[logsKey][]byte{}, 0
	}
	if old, ok := c.m[k]; ok {
		c.bytes -= len(old)
	}
	for k2, v := range c.m { // over the bound: drop arbitrary answers
		if c.bytes+len(b) <= logsCacheMaxBytes {
			break
		}
		delete(c.m, k2)
		c.bytes -= len(v)
	}
	c.m[k] = b
	c.bytes += len(b)
}

// writeLogs answers ShowServiceUpdateLogs: all the service's entries, or with updateTime the one
// accepted then; from the cache while the store is unchanged.
func (s *Server) writeLogs(w http.ResponseWriter, r *http.Request, projectID, serviceID string, updateTime *int64) {
	key := logsKey{projectID: projectID, serviceID: serviceID, updateTime: -1}
	if updateTime != nil {
		key.updateTime = *updateTime
	}
	gs, cached := s.Store.(generationer)
	var gen uint64
	if cached {
		gen = gs.Generation() // before the read: see logsCache.put
		if b := s.logs.get(gen, key); b != nil {
			writeJSONBytes(w, b)
			return
		}
	}
	svc, logs, err := s.Store.UpdateLogs(r.Context(), projectID, serviceID, updateTime)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	b, err := json.Marshal(toLogsResponse(svc, logs))
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if cached {
		s.logs.put(gen, key, b)
	}
	writeJSONBytes(w, b)
}

// writeJSONBytes writes an encoded JSON answer with status 200.
func writeJSONBytes(w http.ResponseWriter, b []byte) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}
