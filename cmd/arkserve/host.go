package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"strconv"
	"strings"
)

func poolID(dir string) string {
	h := sha256.Sum256([]byte("arkserve-local-pool:" + dir))
	return hex.EncodeToString(h[:16])
}

// hostMemoryMB reads MemTotal from /proc/meminfo; 0 when it cannot.
func hostMemoryMB() int {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "MemTotal:"); ok {
			fields := strings.Fields(rest)
			if len(fields) > 0 {
				kb, _ := strconv.Atoi(fields[0])
				return kb / 1024
			}
		}
	}
	return 0
}
