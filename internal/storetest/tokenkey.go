package storetest

import (
	"bytes"
	"testing"
	"time"

	"github.com/arkserve/arkserve/internal/ark"
)

// testTokenKeys: an empty keyring, adding keys (the first retires nothing, a later one sets
// NotAfter on the keys without one and only on those), oldest first, duplicate ids.
func testTokenKeys(t *testing.T, f *fixture) {
	keys, err := f.s.TokenKeys(f.ctx)
	must(t, err)
	if len(keys) != 0 {
		t.Fatalf("TokenKeys on a new store = %d keys; want none", len(keys))
	}
	t0 := f.clock.Now()
	k1 := &ark.TokenKey{ID: "00000000000000a1", SealedKey: []byte("sealed-1\x00\xff"), CreatedAt: t0}
	must(t, f.s.AddTokenKey(f.ctx, k1, time.Time{}))
	// A second key added without retiring (two servers creating the first key at once).
	k2 := &ark.TokenKey{ID: "00000000000000a2", SealedKey: []byte("sealed-2"), CreatedAt: t0}
	must(t, f.s.AddTokenKey(f.ctx, k2, time.Time{}))
	wantCode(t, f.s.AddTokenKey(f.ctx, &ark.TokenKey{ID: k1.ID, SealedKey: []byte("x"), CreatedAt: t0}, time.Time{}), ark.EInvalidParam)

	f.clock.Advance(time.Hour)
	retire1 := f.clock.Now().Add(24 * time.Hour)
	k3 := &ark.TokenKey{ID: "00000000000000a3", SealedKey: []byte("sealed-3"), CreatedAt: f.clock.Now()}
	must(t, f.s.AddTokenKey(f.ctx, k3, retire1))
	f.clock.Advance(time.Hour)
	retire2 := f.clock.Now().Add(24 * time.Hour)
	k4 := &ark.TokenKey{ID: "00000000000000a4", SealedKey: []byte("sealed-4"), CreatedAt: f.clock.Now()}
	must(t, f.s.AddTokenKey(f.ctx, k4, retire2))

	keys, err = f.s.TokenKeys(f.ctx)
	must(t, err)
	want := []struct {
		k        *ark.TokenKey
		notAfter time.Time
	}{{k1, retire1}, {k2, retire1}, {k3, retire2}, {k4, time.Time{}}}
	if len(keys) != len(want) {
		t.Fatalf("TokenKeys = %d keys; want %d", len(keys), len(want))
	}
	for i, w := range want {
		g := keys[i]
		if g.ID != w.k.ID || !bytes.Equal(g.SealedKey, w.k.SealedKey) || !g.CreatedAt.Equal(w.k.CreatedAt) || !g.NotAfter.Equal(w.notAfter) {
			t.Errorf("TokenKeys[%d] = %+v; want id %s created %v not_after %v", i, g, w.k.ID, w.k.CreatedAt, w.notAfter)
		}
	}
}
