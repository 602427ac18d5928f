package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/arkserve/arkserve/internal/postgres/pgtest"
)

// TestReplicasShareTokens: two servers on one PostgreSQL database, with data dirs of their own
// and only the master key file in common, accept each other's tokens, before and after
// `arkserve admin rotate-token-key`.
func TestReplicasShareTokens(t *testing.T) {
	t.Setenv("ARKSERVE_ADMIN_PASSWORD", testPassword)
	dsn := pgtest.NewDatabase(t)
	keyFile := filepath.Join(t.TempDir(), "master.key")
	key := make([]byte, 32)
	rand.Read(key)
	if err := os.WriteFile(keyFile, key, 0o600); err != nil {
		t.Fatal(err)
	}
	open := func() (*Main, string) {
		dir := dataDir(t)
		cfg := DefaultConfig()
		cfg.Listen, cfg.DataDir, cfg.Database, cfg.MasterKeyFile = "127.0.0.1:0", dir, dsn, keyFile
		cfg.ShutdownTimeout = duration{20 * time.Second}
		m := &Main{Config: cfg, Logger: newLogger(Config{LogLevel: "warn", LogFormat: "text"}, os.Stderr)}
		if err := m.Open(context.Background()); err != nil {
			m.Close()
			t.Fatal(err)
		}
		t.Cleanup(func() { m.Close() })
		if _, err := os.Stat(filepath.Join(dir, "token.key")); !os.IsNotExist(err) {
			t.Errorf("a server with --master-key-file made DATA/token.key (%v)", err)
		}
		return m, dir
	}
	m1, dir1 := open()
	m2, _ := open()
	c1, c2 := newClient(t, m1), newClient(t, m2)
	pid := c1.login()
	c2.login()
	if !strings.HasPrefix(c1.token, "ark2.") || c1.token[:22] != c2.token[:22] {
		t.Fatalf("tokens %.30q... and %.30q...: want ark2 tokens of one key", c1.token, c2.token)
	}
	// each answers the other's token
	cross := func(name string, tok string, servers ...*Main) {
		t.Helper()
		for i, m := range servers {
			c := newClient(t, m)
			c.token = tok
			if status, _, doc := c.do("GET", "/v1/"+pid+"/models", nil); status != 200 {
				t.Fatalf("%s on server %d: GET models = %d %v", name, i+1, status, doc)
			}
		}
	}
	cross("server 1's token", c1.token, m1, m2)
	cross("server 2's token", c2.token, m1, m2)

	// Rotation, in the database only: a server started afterwards signs with the new key, and
	// the running ones accept its tokens at once; the old tokens stay valid everywhere.
	var out, errb bytes.Buffer
	if err := runAdmin(context.Background(), []string{"--data-dir", dir1, "--database", dsn, "--master-key-file", keyFile, "rotate-token-key"}, &out, &errb); err != nil {
		t.Fatalf("rotate-token-key: %v (%s)", err, errb.String())
	}
	id := strings.TrimSuffix(strings.Fields(out.String())[3], ":") // "new token key ID: ..."
	m3, _ := open()
	c3 := newClient(t, m3)
	c3.login()
	if !strings.HasPrefix(c3.token, "ark2."+id+".") {
		t.Fatalf("after rotation (%q) a new server's token is %.30q...", out.String(), c3.token)
	}
	cross("server 3's token of the new key", c3.token, m1, m2, m3)
	cross("server 1's token of the old key", c1.token, m1, m2, m3)

	out.Reset()
	if err := runAdmin(context.Background(), []string{"--data-dir", dir1, "--database", dsn, "--master-key-file", keyFile, "token-key", "list"}, &out, &errb); err != nil {
		t.Fatalf("token-key list: %v (%s)", err, errb.String())
	}
	if lines := strings.Split(strings.TrimSpace(out.String()), "\n"); len(lines) != 3 || !strings.HasSuffix(lines[1], "accepted") || !strings.HasSuffix(lines[2], "active") {
		t.Fatalf("token-key list:\n%s", out.String())
	}

	// Another master key: the server refuses to start on this database.
	other := filepath.Join(t.TempDir(), "other.key")
	rand.Read(key)
	if err := os.WriteFile(other, key, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Listen, cfg.DataDir, cfg.Database, cfg.MasterKeyFile = "127.0.0.1:0", dataDir(t), dsn, other
	m := &Main{Config: cfg, Logger: newLogger(Config{LogLevel: "warn", LogFormat: "text"}, os.Stderr)}
	err := m.Open(context.Background())
	m.Close()
	if err == nil || !strings.Contains(err.Error(), "master key") {
		t.Fatalf("a server with another master key: Open = %v; want a master key error", err)
	}
}
