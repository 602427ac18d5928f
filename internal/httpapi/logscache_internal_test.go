package httpapi

import (
	"bytes"
	"testing"
)

// TestLogsCacheBounds: an answer is served only at the generation it was read at, older reads
// never replace newer ones, and the bytes kept stay within the bound.
func TestLogsCacheBounds(t *testing.T) {
	var c logsCache
	k := logsKey{projectID: "p", serviceID: "s", updateTime: -1}
	if b := c.get(0, k); b != nil {
		t.Fatalf("empty cache: get = %q", b)
	}
	c.put(5, k, []byte("five"))
	if b := c.get(5, k); string(b) != "five" {
		t.Fatalf("get(5) = %q; want five", b)
	}
	if b := c.get(6, k); b != nil {
		t.Fatalf("get(6) = %q; want nil (the store changed)", b)
	}
	c.put(4, k, []byte("four")) // read before the newer answer was kept
	if b := c.get(5, k); string(b) != "five" {
		t.Fatalf("after an older put: get(5) = %q; want five", b)
	}
	c.put(6, k, []byte("six"))
	if b := c.get(6, k); string(b) != "six" || c.get(5, k) != nil {
		t.Fatalf("after put(6): get(6) = %q, get(5) = %q", b, c.get(5, k))
	}
	big := bytes.Repeat([]byte("x"), logsCacheMaxBytes/8)
	for i := range 20 {
		c.put(6, logsKey{serviceID: string(rune('a' + i))}, big)
		if c.bytes > logsCacheMaxBytes {
			t.Fatalf("after %d answers: %d bytes kept; bound %d", i+1, c.bytes, logsCacheMaxBytes)
		}
	}
	c.put(6, k, []byte("six"))
	c.put(6, k, bytes.Repeat([]byte("x"), logsCacheMaxBytes/4+1))
	if b := c.get(6, k); string(b) != "six" {
		t.Fatalf("an oversized answer replaced the kept one: %d bytes", len(b))
	}
}
