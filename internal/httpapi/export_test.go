package httpapi

// Waiting returns how many long polls of the node wait for a Wake.
func (h *NodeHub) Waiting(nodeID string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.waiters[nodeID])
}
