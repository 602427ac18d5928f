package storetest

import (
	"bytes"
	"testing"
	"time"

	"github.com/arkserve/arkserve/internal/ark"
)

// testAccessKeys: create, find, list (per user and all, oldest first), duplicate ids, delete.
func testAccessKeys(t *testing.T, f *fixture) {
	u1 := &ark.User{ID: ark.NewHexID(), DomainID: "default", Name: "u1", PasswordHash: "x", Enabled: true}
	u2 := &ark.User{ID: ark.NewHexID(), DomainID: "default", Name: "u2", PasswordHash: "x", Enabled: true}
	must(t, f.s.CreateUser(f.ctx, u1))
	must(t, f.s.CreateUser(f.ctx, u2))
	sealed := []byte{0, 1, 2, 0xff, 'x'} // binary, with a NUL byte
	k1 := &ark.AccessKey{ID: "AK00000000000000000A", UserID: u1.ID, Description: "ci", SealedSecret: sealed, CreatedAt: f.clock.Now()}
	must(t, f.s.CreateAccessKey(f.ctx, k1))
	f.clock.Advance(time.Second)
	k2 := &ark.AccessKey{ID: "AK00000000000000000B", UserID: u2.ID, SealedSecret: []byte("s2"), CreatedAt: f.clock.Now()}
	must(t, f.s.CreateAccessKey(f.ctx, k2))
	f.clock.Advance(time.Second)
	k3 := &ark.AccessKey{ID: "AK00000000000000000C", UserID: u1.ID, SealedSecret: []byte("s3"), CreatedAt: f.clock.Now()}
	must(t, f.s.CreateAccessKey(f.ctx, k3))
	wantCode(t, f.s.CreateAccessKey(f.ctx, &ark.AccessKey{ID: k1.ID, UserID: u2.ID, SealedSecret: []byte("x"), CreatedAt: f.clock.Now()}), ark.EInvalidParam)

	got, err := f.s.FindAccessKey(f.ctx, k1.ID)
	must(t, err)
	if got == nil || got.UserID != u1.ID || got.Description != "ci" || !bytes.Equal(got.SealedSecret, sealed) || !got.CreatedAt.Equal(k1.CreatedAt) {
		t.Fatalf("FindAccessKey = %+v; want %+v", got, k1)
	}
	if got, err := f.s.FindAccessKey(f.ctx, "AK0000000000000000ZZ"); err != nil || got != nil {
		t.Fatalf("FindAccessKey(unknown) = %+v, %v; want nil, nil", got, err)
	}
	ids := func(ks []*ark.AccessKey) (out []string) {
		for _, k := range ks {
			out = append(out, k.ID)
		}
		return out
	}
	list, err := f.s.ListAccessKeys(f.ctx, u1.ID)
	must(t, err)
	if g := ids(list); len(g) != 2 || g[0] != k1.ID || g[1] != k3.ID {
		t.Fatalf("ListAccessKeys(u1) = %v; want [%s %s]", g, k1.ID, k3.ID)
	}
	list, err = f.s.ListAccessKeys(f.ctx, "")
	must(t, err)
	if g := ids(list); len(g) != 3 || g[0] != k1.ID || g[1] != k2.ID || g[2] != k3.ID {
		t.Fatalf("ListAccessKeys(all) = %v; want oldest first", g)
	}
	ok, err := f.s.DeleteAccessKey(f.ctx, k1.ID)
	must(t, err)
	if !ok {
		t.Fatal("DeleteAccessKey = false; want true")
	}
	ok, err = f.s.DeleteAccessKey(f.ctx, k1.ID)
	must(t, err)
	if ok {
		t.Fatal("DeleteAccessKey(deleted) = true; want false")
	}
	if got, _ := f.s.FindAccessKey(f.ctx, k1.ID); got != nil {
		t.Fatalf("FindAccessKey(deleted) = %+v; want nil", got)
	}
	list, err = f.s.ListAccessKeys(f.ctx, u1.ID)
	must(t, err)
	if g := ids(list); len(g) != 1 || g[0] != k3.ID {
		t.Fatalf("ListAccessKeys(u1) after delete = %v; want [%s]", g, k3.ID)
	}
}
