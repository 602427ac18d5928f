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
// arkserve access-key (the caller's own keys, over HTTP) create, list and delete keys; the
// running server verifies signatures with a key the admin command made, until it is deleted.
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
	adminAK, adminSK := mm[1], mm[2]
	if out, err := cli(t, append(dd, "access-key", "create")...); err == nil || !strings.Contains(err.Error(), "--user") {
		t.Fatalf("create without --user: %q, %v", out, err)
	}

	cr := login(t, url)
	// The running server verifies requests signed with the key the admin command just made.
	sdk := newSDKClient(t, url, adminAK, adminSK, cr.ProjectID)
	if st, body, err := sdkCall(sdk, sdkLogs(), &sdkRequest{ServiceID: "195c1f2d-136d-40af-a0f3-db5717d2634a"}); err == nil || !strings.Contains(err.Error(), "ModelArts.3502") {
		t.Fatalf("signed call with the admin-made key: %d %s %v; want 404 ModelArts.3502", st, body, err)
	}
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
	if _, _, err := sdkCall(sdk, sdkLogs(), &sdkRequest{ServiceID: "195c1f2d-136d-40af-a0f3-db5717d2634a"}); err == nil || !strings.Contains(err.Error(), "ModelArts.0203") {
		t.Fatalf("signed call with a deleted key: %v; want 401 ModelArts.0203", err)
	}
	if all := mustCLI(t, append(dd, "access-key", "list", "--user", "admin")...); strings.Contains(all, adminAK) {
		t.Fatalf("after delete: %q", all)
	}
}
