package main

import (
	"crypto/sha256"
	"encoding/hex"

	"github.com/arkserve/arkserve/internal/agent"
)

func poolID(dir string) string {
	h := sha256.Sum256([]byte("arkserve-local-pool:" + dir))
	return hex.EncodeToString(h[:16])
}

// hostMemoryMB reads MemTotal from /proc/meminfo; 0 when it cannot.
func hostMemoryMB() int { return agent.MemTotalMB("/proc/meminfo") }
