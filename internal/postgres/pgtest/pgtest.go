// Package pgtest gives tests a fresh PostgreSQL database of their own on the server named by
// ARKSERVE_TEST_POSTGRES_DSN, so that tests run in parallel and leave nothing behind.
//
// Without that variable a test that needs PostgreSQL fails when CI or ARKSERVE_REQUIRE_POSTGRES=1
// is set, and is skipped with a loud message otherwise: it never passes silently.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// EnvDSN names the variable that holds the DSN of a PostgreSQL server tests may create databases
// on, e.g. postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable.
const EnvDSN = "ARKSERVE_TEST_POSTGRES_DSN"

// ServerDSN returns the DSN of the test server, or ends the test: it fails when PostgreSQL is
// required (CI or ARKSERVE_REQUIRE_POSTGRES=1 set) and skips, loudly, otherwise.
func ServerDSN(tb testing.TB) string {
	tb.Helper()
	dsn := os.Getenv(EnvDSN)
	if dsn != "" {
		return dsn
	}
	if os.Getenv("CI") != "" || os.Getenv("ARKSERVE_REQUIRE_POSTGRES") == "1" {
		tb.Fatalf("PostgreSQL is required here (CI or ARKSERVE_REQUIRE_POSTGRES=1) but %s is not set", EnvDSN)
	}
	tb.Skipf("SKIPPED: NOT TESTED ON POSTGRESQL: set %s=postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable (see README)", EnvDSN)
	return ""
}

// NewDatabase creates an empty database arkserve_test_<random> on the test server, drops it when
// the test ends, and returns its DSN.
func NewDatabase(tb testing.TB) string {
	tb.Helper()
	server := ServerDSN(tb)
	var b [8]byte
	_, _ = rand.Read(b[:])
	name := "arkserve_test_" + hex.EncodeToString(b[:])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, server)
	if err != nil {
		tb.Fatalf("connect to %s: %v", EnvDSN, err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, `CREATE DATABASE `+name); err != nil {
		tb.Fatalf("create test database: %v", err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, server)
		if err != nil {
			tb.Errorf("drop test database %s: %v", name, err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, `DROP DATABASE IF EXISTS `+name+` WITH (FORCE)`); err != nil {
			tb.Errorf("drop test database %s: %v", name, err)
		}
	})
	return WithDatabase(server, name)
}

// WithDatabase returns dsn with its database replaced by name; dsn is a URL or key=value pairs.
func WithDatabase(dsn, name string) string {
	if u, err := url.Parse(dsn); err == nil && (u.Scheme == "postgres" || u.Scheme == "postgresql") {
		u.Path = "/" + name
		return u.String()
	}
	return strings.TrimSpace(dsn) + " dbname=" + name
}
