package main

import (
	"context"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"
)

var akLineRE = regexp.MustCompile(`(?m)^access key: ([A-Z0-9]{20})\nsecret key: ([A-Za-z0-9]{40})$`)

// TestAccessKeyCLI: arkserve admin access-key (on the data dir, while the server runs) and
// arkserve access-key (the caller's own keys, over HTTP) create, list and delete keys.
func TestAccessKeyCLI(t *testing.T) {
	clientTestEnv(t)
	cfg := DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	cfg.DataDir = t.TempDir()
	cfg.ShutdownTimeout.Duration = 10 * time.Second
	m := &Main{Config: cfg, Logger: slog.New(slog.DiscardHandler)}
	if err := m.Open(context.Background()); err != nil {
		m.Close()
		t.Fatal(err)
	}
	defer m.Close()
	url := "http://" + m.HTTP.ListenAddr()
	dd := []string{"admin", "--data-dir", cfg.DataDir}

	out := mustCLI(t, append(dd, "access-key", "create", "--user", "admin", "--description", "from admin")...)
	mm := akLineRE.FindStringSubmatch(out)
	if mm == nil {
		t.Fatalf("admin access-key create printed %q", out)
	}
	adminAK := mm[1]
	if out, err := cli(t, append(dd, "access-key", "create")...); err == nil || !strings.Contains(err.Error(), "--user") {
		t.Fatalf("create without --user: %q, %v", out, err)
	}

	login(t, url)
	out = mustCLI(t, "access-key", "create", "--description", "mine")
	mm = akLineRE.FindStringSubmatch(out)
	if mm == nil {
		t.Fatalf("access-key create printed %q", out)
	}
	ownAK := mm[1]
	list := mustCLI(t, "access-key", "list")
	if !strings.Contains(list, adminAK) || !strings.Contains(list, ownAK) || !strings.Contains(list, "from admin") || strings.Contains(list, mm[2]) {
		t.Fatalf("access-key list = %q", list)
	}
	// A third key is refused (two per user).
	if _, err := cli(t, "access-key", "create"); err == nil || !strings.Contains(err.Error(), "ModelArts.3037") {
		t.Fatalf("third key: %v", err)
	}
	mustCLI(t, "access-key", "delete", ownAK)
	if _, err := cli(t, "access-key", "delete", ownAK); err == nil || !strings.Contains(err.Error(), "ModelArts.0214") {
		t.Fatalf("delete twice: %v", err)
	}
	all := mustCLI(t, append(dd, "access-key", "list")...)
	if !strings.Contains(all, adminAK) || strings.Contains(all, ownAK) {
		t.Fatalf("admin access-key list = %q", all)
	}
	mustCLI(t, append(dd, "access-key", "delete", adminAK)...)
	if all := mustCLI(t, append(dd, "access-key", "list", "--user", "admin")...); strings.Contains(all, adminAK) {
		t.Fatalf("after delete: %q", all)
	}
}
