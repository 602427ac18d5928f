package iam_test

import (
	"context"
	"crypto/rand"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/arkserve/arkserve/internal/ark"
	"github.com/arkserve/arkserve/internal/iam"
	"github.com/arkserve/arkserve/internal/postgres"
	"github.com/arkserve/arkserve/internal/postgres/pgtest"
)

// keyID is the key id of an "ark2." token.
func keyID(t *testing.T, tok string) string {
	t.Helper()
	if !strings.HasPrefix(tok, "ark2.") || len(tok) < 22 || tok[21] != '.' {
		t.Fatalf("token %.40q... is not an ark2 token", tok)
	}
	return tok[5:21]
}

// replicas returns a function opening a new store on one shared database, each time a new
// connection (as another server would), for SQLite and for PostgreSQL.
func replicaStores(t *testing.T, engine string, c *clock) func() iam.Store {
	switch engine {
	case "sqlite":
		path := filepath.Join(t.TempDir(), "ark.db")
		return func() iam.Store { return openDB(t, path, c) }
	default:
		dsn := pgtest.NewDatabase(t)
		return func() iam.Store {
			db, err := postgres.Open(context.Background(), dsn)
			if err != nil {
				t.Fatal(err)
			}
			db.Now = c.Now
			t.Cleanup(func() { db.Close() })
			return db
		}
	}
}

// TestKeyringReplicas: servers sharing a database and the master key accept each other's tokens,
// across a rotation; the superseded key keeps verifying until its NotAfter, then is retired.
func TestKeyringReplicas(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			ctx := context.Background()
			c := &clock{t: time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)}
			open := replicaStores(t, engine, c)
			master := make([]byte, iam.KeySize)
			rand.Read(master)
			replica := func(ttl time.Duration) *iam.Service {
				s := &iam.Service{Store: open(), Key: master, Now: c.Now, TTL: ttl}
				if err := s.Open(ctx); err != nil {
					t.Fatal(err)
				}
				return s
			}
			a, b := replica(time.Hour), replica(time.Hour)
			if _, err := a.Bootstrap(ctx, adminPW); err != nil {
				t.Fatal(err)
			}
			login := func(s *iam.Service) string {
				t.Helper()
				tok, _, err := s.AuthPassword(ctx, adminAuth(defaultScope))
				if err != nil {
					t.Fatal(err)
				}
				return tok
			}
			verify := func(s *iam.Service, tok, who string) {
				t.Helper()
				if p, err := s.Verify(tok); err != nil || p.UserName != "admin" {
					t.Fatalf("%s: Verify = %+v, %v", who, p, err)
				}
			}
			tokA1 := login(a)
			verify(b, tokA1, "B verifies A's token")
			verify(a, login(b), "A verifies B's token")
			k1 := keyID(t, tokA1)

			// Rotation on A: A signs with the new key; B accepts it at once (an unknown key id
			// reloads its keyring) and signs with it from then on; old tokens stay valid.
			c.Add(time.Minute)
			k2, err := a.RotateTokenKey(ctx)
			if err != nil {
				t.Fatal(err)
			}
			tokA2 := login(a)
			if got := keyID(t, tokA2); got != k2 || k2 == k1 {
				t.Fatalf("after rotation A signs with %s; want the new key %s (old %s)", got, k2, k1)
			}
			verify(b, tokA2, "B verifies A's token of the new key")
			if got := keyID(t, login(b)); got != k2 {
				t.Fatalf("after reloading B signs with %s; want %s", got, k2)
			}
			verify(a, tokA1, "A verifies its token of the old key")
			verify(b, tokA1, "B verifies A's token of the old key")

			// A server with a longer TTL signs a token that outlives the old key's NotAfter
			// (set from the rotating server's TTL): once the key is retired it is refused.
			long := replica(24 * time.Hour)
			tokLong := login(long)
			if got := keyID(t, tokLong); got != k2 {
				t.Fatalf("a new replica signs with %s; want %s", got, k2)
			}
			c.Add(30 * time.Minute)
			k3, err := b.RotateTokenKey(ctx)
			if err != nil {
				t.Fatal(err)
			}
			verify(a, tokLong, "k2 accepted after the rotation to k3")
			c.Add(time.Hour + iam.RotationGrace - time.Second)
			if err := a.ReloadKeyring(ctx); err != nil {
				t.Fatal(err)
			}
			verify(a, tokLong, "k2 accepted until its NotAfter")
			c.Add(time.Second)
			for name, s := range map[string]*iam.Service{"A": a, "B": b, "long": long, "new": replica(time.Hour)} {
				// (Servers reload the keyring within ReloadEvery of wall-clock time; this
				// test's clock is not the wall clock.)
				if err := s.ReloadKeyring(ctx); err != nil {
					t.Fatal(err)
				}
				_, err := s.Verify(tokLong)
				mustCode(t, err, ark.ETokenInvalid) // retired key, not an expired token
				// k1's tokens expired long ago, and k1 is retired too.
				_, err = s.Verify(tokA1)
				mustCode(t, err, ark.ETokenInvalid)
				if got := keyID(t, login(s)); got != k3 {
					t.Fatalf("%s signs with %s; want %s", name, got, k3)
				}
			}
			info, err := a.TokenKeys(ctx)
			if err != nil {
				t.Fatal(err)
			}
			var states []string
			for _, k := range info {
				states = append(states, k.ID+":"+k.State)
			}
			want := []string{k1 + ":retired", k2 + ":retired", k3 + ":active"}
			if strings.Join(states, " ") != strings.Join(want, " ") {
				t.Fatalf("TokenKeys = %v; want %v", states, want)
			}
		})
	}
}

// TestKeyringForgery: the database alone does not let anyone forge a token. The keys in it are
// sealed with the master key, a server with another master key refuses to start on it, and a key
// written into it by someone without the master key is never used.
func TestKeyringForgery(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	tok, _, err := e.svc.AuthPassword(ctx, adminAuth(defaultScope))
	if err != nil {
		t.Fatal(err)
	}
	// Another master key on this database: refused.
	other := make([]byte, iam.KeySize)
	rand.Read(other)
	if err := (&iam.Service{Store: e.db, Key: other, Now: e.clock.Now}).Open(ctx); err == nil || !strings.Contains(err.Error(), "master key") {
		t.Fatalf("Open with another master key = %v; want a master key error", err)
	}

	// An attacker with write access to the database but not the master key: a server of their
	// own (another master key, the same users) makes a key, which they copy into the database,
	// and signs a token with it.
	x := newEnv(t)
	xtok, _, err := x.svc.AuthPassword(ctx, adminAuth(defaultScope))
	if err != nil {
		t.Fatal(err)
	}
	xkeys, err := x.db.TokenKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range xkeys {
		if err := e.db.AddTokenKey(ctx, k, time.Time{}); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(600 * time.Millisecond) // past the reload rate limit: the unknown key id reloads
	_, err = e.svc.Verify(xtok)
	mustCode(t, err, ark.ETokenInvalid)
	// A server starting now ignores that key: it still signs with the real one and accepts
	// the real tokens, not the forged one.
	s2 := newService(t, e.db, e.key, e.clock)
	if _, err := s2.Verify(tok); err != nil {
		t.Fatal(err)
	}
	_, err = s2.Verify(xtok)
	mustCode(t, err, ark.ETokenInvalid)
	tok2, _, err := s2.AuthPassword(ctx, adminAuth(defaultScope))
	if err != nil {
		t.Fatal(err)
	}
	if keyID(t, tok2) != keyID(t, tok) {
		t.Fatalf("the new server signs with %s; want the real key %s", keyID(t, tok2), keyID(t, tok))
	}
}

// TestLegacyTokens: "ark1." tokens of servers before the keyring (sealed with the key file, now
// the master key) stay valid until they expire; under another master key they are refused.
func TestLegacyTokens(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t)
	_, p, err := e.svc.AuthPassword(ctx, adminAuth(defaultScope))
	if err != nil {
		t.Fatal(err)
	}
	old, err := e.svc.IssueLegacy(p)
	if err != nil || !strings.HasPrefix(old, "ark1.") {
		t.Fatalf("IssueLegacy = %q, %v", old, err)
	}
	got, err := newService(t, e.db, e.key, e.clock).Verify(old)
	if err != nil || got.TokenID != p.TokenID || got.UserName != "admin" {
		t.Fatalf("Verify(ark1) = %+v, %v", got, err)
	}
	other := make([]byte, iam.KeySize)
	rand.Read(other)
	_, err = newService(t, openDB(t, filepath.Join(t.TempDir(), "other.db"), e.clock), other, e.clock).Verify(old)
	mustCode(t, err, ark.ETokenInvalid)
	e.clock.Add(24 * time.Hour)
	_, err = e.svc.Verify(old)
	mustCode(t, err, ark.ETokenExpired)
}
