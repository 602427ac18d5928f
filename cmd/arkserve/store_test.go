package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/arkserve/arkserve/internal/postgres"
	"github.com/arkserve/arkserve/internal/postgres/pgtest"
)

func TestParseDatabase(t *testing.T) {
	for _, c := range []struct {
		in, engine, dsn string
		bad             bool
	}{
		{in: "", engine: "sqlite", dsn: "/data/arkserve.db"},
		{in: "sqlite:/x/y.db", engine: "sqlite", dsn: "/x/y.db"},
		{in: "sqlite:rel.db", engine: "sqlite", dsn: "rel.db"},
		{in: "sqlite:///abs.db", engine: "sqlite", dsn: "/abs.db"},
		{in: "postgres://u:secret@h:5432/db?sslmode=disable", engine: "postgres", dsn: "postgres://u:secret@h:5432/db?sslmode=disable"},
		{in: "postgresql://h/db", engine: "postgres", dsn: "postgresql://h/db"},
		{in: "sqlite:", bad: true},
		{in: "mysql://h/db", bad: true},
		{in: "/plain/path.db", bad: true},
	} {
		d, err := parseDatabase(c.in, "/data")
		if c.bad {
			if err == nil {
				t.Errorf("parseDatabase(%q) = %+v; want an error", c.in, d)
			}
			continue
		}
		if err != nil || d.engine != c.engine || d.dsn != c.dsn {
			t.Errorf("parseDatabase(%q) = %+v, %v; want %s %s", c.in, d, err, c.engine, c.dsn)
		}
	}
	d, _ := parseDatabase("postgres://u:secret@h/db", "")
	if s := d.String(); s != "postgres://u:xxxxx@h/db" {
		t.Errorf("String() = %q; want the password hidden", s)
	}
}

func TestDatabaseConfig(t *testing.T) {
	env := map[string]string{"ARKSERVE_DATABASE": "postgres://env/db"}
	cfg, err := loadServerConfig(nil, func(k string) string { return env[k] })
	if err != nil || cfg.Database != "postgres://env/db" {
		t.Fatalf("from env: %q, %v", cfg.Database, err)
	}
	cfg, err = loadServerConfig([]string{"--database", "sqlite:/tmp/x.db"}, func(k string) string { return env[k] })
	if err != nil || cfg.Database != "sqlite:/tmp/x.db" {
		t.Fatalf("flag over env: %q, %v", cfg.Database, err)
	}
	file := filepath.Join(t.TempDir(), "arkserve.toml")
	if err := os.WriteFile(file, []byte(`database = "postgresql://file/db"`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err = loadServerConfig([]string{"--config", file}, func(string) string { return "" })
	if err != nil || cfg.Database != "postgresql://file/db" {
		t.Fatalf("from file: %q, %v", cfg.Database, err)
	}
	if _, err := loadServerConfig([]string{"--database", "mysql://h/db"}, func(string) string { return "" }); err == nil {
		t.Fatal("--database mysql://: no error")
	}
}

// TestServerOnPostgres runs the server with --database postgres://...: deploy, update, and the
// update logs, then a restart on the same database that finds them all.
func TestServerOnPostgres(t *testing.T) {
	t.Setenv("ARKSERVE_ADMIN_PASSWORD", testPassword)
	dsn := pgtest.NewDatabase(t)
	dir := dataDir(t)
	open := func() *Main {
		cfg := DefaultConfig()
		cfg.Listen, cfg.DataDir, cfg.Database = "127.0.0.1:0", dir, dsn
		cfg.ShutdownTimeout = duration{20 * time.Second}
		m := &Main{Config: cfg, Logger: newLogger(Config{LogLevel: "warn", LogFormat: "text"}, os.Stderr)}
		if err := m.Open(context.Background()); err != nil {
			m.Close()
			t.Fatal(err)
		}
		return m
	}
	m := open()
	if _, ok := m.DB.(*postgres.DB); !ok {
		t.Fatalf("store is %T; want *postgres.DB", m.DB)
	}
	if _, err := os.Stat(filepath.Join(dir, "arkserve.db")); !os.IsNotExist(err) {
		t.Errorf("a server on PostgreSQL made DATA/arkserve.db (%v)", err)
	}
	c := newClient(t, m)
	pid := c.login()
	mid := c.createModel(pid, "mnist", "1.0.0", httpServerCmd)
	sid := c.deploy(pid, "mnist", mid, nil)
	if r := obj(c.waitFinal(pid, sid)["logs"].([]any)[0], "result"); r != "SUCCESS" {
		t.Fatalf("deployment entry = %v; want SUCCESS (events: %v)", r, c.events(pid, sid))
	}
	status, _, doc := c.do("PUT", "/v1/"+pid+"/services/"+sid, map[string]any{"config": []any{
		map[string]any{"model_id": mid, "weight": 100, "specification": "arkserve.local.small", "instance_count": 2}}})
	if status != 200 {
		t.Fatalf("update: %d %v", status, doc)
	}
	before := c.waitFinal(pid, sid)
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}

	m = open()
	defer m.Close()
	c2 := newClient(t, m)
	c2.login()
	_, _, after := c2.do("GET", "/v1/"+pid+"/services/"+sid+"/logs", nil)
	entries, _ := obj(after, "logs").([]any)
	if len(entries) != 2 || obj(entries[0], "result") != "SUCCESS" || obj(entries[1], "result") != "SUCCESS" {
		t.Fatalf("after restart logs = %v; before %v", after, before)
	}
}

// TestSQLiteFileMode: the SQLite file (and so its -wal and -shm files) is created 0600.
func TestSQLiteFileMode(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub.db")
	db, err := openStore(context.Background(), database{"sqlite", path}, newLogger(Config{LogLevel: "warn", LogFormat: "text"}, os.Stderr))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	for _, p := range []string{path, path + "-wal"} {
		if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v, %v; want mode 0600", p, st.Mode().Perm(), err)
		}
	}
}
