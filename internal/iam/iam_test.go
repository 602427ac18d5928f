package iam_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/arkserve/arkserve/internal/ark"
	"github.com/arkserve/arkserve/internal/iam"
	"github.com/arkserve/arkserve/internal/sqlite"
)

const adminPW = "admin-password-1"

// clock is an injectable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type env struct {
	svc   *iam.Service
	db    *sqlite.DB
	clock *clock
	path  string
	key   []byte
}

func openDB(t testing.TB, path string, c *clock) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	db.Now = c.Now
	t.Cleanup(func() { db.Close() })
	return db
}

func newService(t testing.TB, db iam.Store, key []byte, c *clock) *iam.Service {
	t.Helper()
	s := &iam.Service{Store: db, Key: key, Now: c.Now}
	if err := s.Open(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// newEnv opens a real SQLite store in a temporary directory and bootstraps it.
func newEnv(t testing.TB) *env {
	t.Helper()
	c := &clock{t: time.Date(2031, 3, 4, 5, 6, 7, 0, time.UTC)}
	path := filepath.Join(t.TempDir(), "ark.db")
	db := openDB(t, path, c)
	key := make([]byte, iam.KeySize)
	rand.Read(key)
	e := &env{svc: newService(t, db, key, c), db: db, clock: c, path: path, key: key}
	if created, err := e.svc.Bootstrap(context.Background(), adminPW); err != nil || !created {
		t.Fatalf("Bootstrap = %v, %v", created, err)
	}
	return e
}

// TestMain lowers the bcrypt cost: at cost 10 each hash takes about a second under the race
// detector. TestBcryptCost checks the real cost.
func TestMain(m *testing.M) {
	iam.SetBcryptCost(bcrypt.MinCost)
	os.Exit(m.Run())
}

func TestBcryptCost(t *testing.T) {
	defer iam.SetBcryptCost(10)()
	h, err := iam.HashPassword("some-password")
	if err != nil {
		t.Fatal(err)
	}
	if c, err := bcrypt.Cost([]byte(h)); err != nil || c != 10 {
		t.Fatalf("bcrypt cost %d, %v", c, err)
	}
}

func code(err error) string { return ark.ErrorCode(err) }

func mustCode(t *testing.T, err error, want string) {
	t.Helper()
	if got := code(err); got != want {
		t.Fatalf("error = %v (code %q), want code %s", err, got, want)
	}
}

func adminAuth(scope iam.Scope) iam.PasswordAuth {
	return iam.PasswordAuth{UserName: ark.AdminUser, DomainName: ark.DefaultDomainName, Password: adminPW, Scope: scope}
}

var defaultScope = iam.Scope{ProjectName: ark.DefaultProject, DomainName: ark.DefaultDomainName}

func TestBootstrapIdempotent(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	for range 2 {
		created, err := e.svc.Bootstrap(ctx, "another-password")
		if err != nil || created {
			t.Fatalf("second Bootstrap = %v, %v; want false, nil", created, err)
		}
	}
	d, _ := e.db.FindDomain(ctx, ark.DefaultDomainID)
	if d == nil || d.ID != "default" || d.Name != "Default" || !d.Enabled {
		t.Fatalf("domain = %+v", d)
	}
	p, _ := e.db.FindProjectByName(ctx, "default", "default")
	if p == nil || !ark.IsHexID(p.ID) {
		t.Fatalf("project = %+v", p)
	}
	u, _ := e.db.FindUserByName(ctx, "default", "admin")
	if u == nil || !ark.IsHexID(u.ID) || strings.Contains(u.PasswordHash, adminPW) || !strings.HasPrefix(u.PasswordHash, "$2a$") {
		t.Fatalf("user = %+v", u)
	}
	as, _ := e.db.RoleAssignments(ctx, u.ID)
	if want := []ark.RoleAssignment{{UserID: u.ID, ProjectID: p.ID, Role: "admin"}}; !reflect.DeepEqual(as, want) {
		t.Fatalf("assignments = %+v, want %+v", as, want)
	}
	// The first password still works; the second was not applied.
	if _, _, err := e.svc.AuthPassword(ctx, adminAuth(defaultScope)); err != nil {
		t.Fatal(err)
	}
	users, _ := e.db.ListUsers(ctx)
	projects, _ := e.db.ListProjects(ctx)
	if len(users) != 1 || len(projects) != 1 {
		t.Fatalf("%d users, %d projects after repeated bootstrap", len(users), len(projects))
	}
}

func TestBootstrapRejectsBadPasswordBeforeWriting(t *testing.T) {
	c := &clock{t: time.Now()}
	db := openDB(t, filepath.Join(t.TempDir(), "ark.db"), c)
	svc := newService(t, db, make([]byte, 32), c)
	for _, pw := range []string{"", "short", strings.Repeat("x", 73)} {
		_, err := svc.Bootstrap(context.Background(), pw)
		mustCode(t, err, ark.EInvalidParam)
	}
	if d, _ := db.FindDomain(context.Background(), "default"); d != nil {
		t.Fatalf("domain created despite a bad password: %+v", d)
	}
}

func TestAuthPasswordForms(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	u, _ := e.db.FindUserByName(ctx, "default", "admin")
	p, _ := e.db.FindProjectByName(ctx, "default", "default")
	scoped := []iam.Scope{
		{ProjectID: p.ID},
		{ProjectName: "default", DomainName: "Default"},
		{ProjectName: "default", DomainID: "default"},
	}
	users := []iam.PasswordAuth{
		{UserID: u.ID},
		{UserName: "admin", DomainName: "Default"},
		{UserName: "admin", DomainID: "default"},
	}
	for _, ua := range users {
		for _, sc := range append(scoped, iam.Scope{}) {
			a := ua
			a.Password, a.Scope = adminPW, sc
			tok, pr, err := e.svc.AuthPassword(ctx, a)
			if err != nil {
				t.Fatalf("%+v: %v", a, err)
			}
			want := &ark.Principal{
				TokenID: pr.TokenID, UserID: u.ID, UserName: "admin", DomainID: "default", DomainName: "Default",
				Methods: []string{"password"}, IssuedAt: e.clock.Now(), ExpiresAt: e.clock.Now().Add(24 * time.Hour),
			}
			if !sc.Unscoped() {
				want.ProjectID, want.ProjectName, want.Roles = p.ID, "default", []string{"admin"}
			}
			if !reflect.DeepEqual(pr, want) {
				t.Fatalf("%+v:\nprincipal %+v\nwant      %+v", a, pr, want)
			}
			got, err := e.svc.Verify(tok)
			if err != nil || !reflect.DeepEqual(got, want) {
				t.Fatalf("Verify = %+v, %v\nwant %+v", got, err, want)
			}
			if !strings.HasPrefix(tok, "ark2.") || len(tok) > 320 {
				t.Fatalf("token %q (%d chars)", tok, len(tok))
			}
		}
	}
}

func TestAuthFailures(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	// A disabled user with a known password, and a user without a role on "default".
	hash, err := iam.HashPassword("disabled-pw-1")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.db.CreateUser(ctx, &ark.User{ID: ark.NewHexID(), DomainID: "default", Name: "off", PasswordHash: hash}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.CreateUser(ctx, "", "norole", "norole-pw-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.CreateProject(ctx, "", "other", "other project"); err != nil {
		t.Fatal(err)
	}

	credentials := ""
	tests := []struct {
		name string
		a    iam.PasswordAuth
		code string
		msg  *string // the same message for every credential failure
	}{
		{"wrong password", iam.PasswordAuth{UserName: "admin", DomainName: "Default", Password: "wrong-password"}, ark.EAuthFailed, &credentials},
		{"unknown user", iam.PasswordAuth{UserName: "nobody", DomainName: "Default", Password: adminPW}, ark.EAuthFailed, &credentials},
		{"unknown user id", iam.PasswordAuth{UserID: ark.NewHexID(), Password: adminPW}, ark.EAuthFailed, &credentials},
		{"unknown domain", iam.PasswordAuth{UserName: "admin", DomainName: "Nowhere", Password: adminPW}, ark.EAuthFailed, &credentials},
		{"domain name given as id", iam.PasswordAuth{UserName: "admin", DomainID: "Default", Password: adminPW}, ark.EAuthFailed, &credentials},
		{"empty password", iam.PasswordAuth{UserName: "admin", DomainName: "Default"}, ark.EAuthFailed, &credentials},
		{"password over 72 bytes", iam.PasswordAuth{UserName: "admin", DomainName: "Default", Password: adminPW + strings.Repeat("x", 72)}, ark.EAuthFailed, &credentials},
		{"disabled user", iam.PasswordAuth{UserName: "off", DomainName: "Default", Password: "disabled-pw-1"}, ark.EAuthFailed, &credentials},
		{"no role on project", iam.PasswordAuth{UserName: "norole", DomainName: "Default", Password: "norole-pw-1", Scope: defaultScope}, ark.EAuthFailed, nil},
		{"unknown project", adminAuth(iam.Scope{ProjectName: "nope", DomainID: "default"}), ark.EAuthFailed, nil},
		{"role on another project only", adminAuth(iam.Scope{ProjectName: "other", DomainID: "default"}), ark.EAuthFailed, nil},
		{"project name without domain", adminAuth(iam.Scope{ProjectName: "default"}), ark.EInvalidArgument, nil},
		{"user name without domain", iam.PasswordAuth{UserName: "admin", Password: adminPW}, ark.EInvalidArgument, nil},
		{"no user", iam.PasswordAuth{Password: adminPW}, ark.EInvalidArgument, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, p, err := e.svc.AuthPassword(ctx, tt.a)
			mustCode(t, err, tt.code)
			if tok != "" || p != nil {
				t.Fatalf("got a token with an error")
			}
			if tt.msg != nil {
				msg := ark.ErrorMessage(err)
				if *tt.msg == "" {
					*tt.msg = msg
				} else if msg != *tt.msg {
					t.Fatalf("message %q differs from %q: it tells which part was wrong", msg, *tt.msg)
				}
			}
		})
	}
	// Unscoped authentication works for a user without roles; its principal has none.
	_, p, err := e.svc.AuthPassword(ctx, iam.PasswordAuth{UserName: "norole", DomainID: "default", Password: "norole-pw-1"})
	if err != nil || p.ProjectID != "" || p.Roles != nil {
		t.Fatalf("unscoped = %+v, %v", p, err)
	}
}

func TestTamper(t *testing.T) {
	e := newEnv(t)
	tok, _, err := e.svc.AuthPassword(context.Background(), adminAuth(defaultScope))
	if err != nil {
		t.Fatal(err)
	}
	prefix := tok[:len("ark2.0123456789abcdef.")]
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(tok, prefix))
	if err != nil {
		t.Fatal(err)
	}
	for i := range raw {
		for _, bit := range []byte{0x01, 0x80} {
			b := bytes.Clone(raw)
			b[i] ^= bit
			_, err := e.svc.Verify(prefix + base64.RawURLEncoding.EncodeToString(b))
			mustCode(t, err, ark.ETokenInvalid)
		}
	}
	// Every character of the text form, the prefix included.
	for i := range tok {
		for _, c := range []byte{'A', 'z', '_', '.'} {
			if tok[i] == c {
				continue
			}
			bad := tok[:i] + string(c) + tok[i+1:]
			_, err := e.svc.Verify(bad)
			mustCode(t, err, ark.ETokenInvalid)
		}
	}
	for _, bad := range []string{"x", "ark1.", "ark1.AAAA", "ark1." + tok[5:], "ark2." + tok[len(prefix):], "ark2." + strings.Repeat("0", 16) + "." + tok[len(prefix):], tok + "A", tok[:len(tok)-1], " " + tok, strings.Repeat("a", 5000)} {
		_, err := e.svc.Verify(bad)
		mustCode(t, err, ark.ETokenInvalid)
	}
	_, err = e.svc.Verify("")
	mustCode(t, err, ark.ETokenMissing)

	// The same token under another master key (and so another keyring, on another database).
	other := make([]byte, 32)
	rand.Read(other)
	_, err = newService(t, openDB(t, filepath.Join(t.TempDir(), "other.db"), e.clock), other, e.clock).Verify(tok)
	mustCode(t, err, ark.ETokenInvalid)
}

func TestExpiry(t *testing.T) {
	e := newEnv(t)
	e.svc.TTL = time.Hour
	tok, p, err := e.svc.AuthPassword(context.Background(), adminAuth(defaultScope))
	if err != nil {
		t.Fatal(err)
	}
	if got := p.ExpiresAt.Sub(p.IssuedAt); got != time.Hour {
		t.Fatalf("lifetime %v", got)
	}
	e.clock.Add(time.Hour - time.Second)
	if _, err := e.svc.Verify(tok); err != nil {
		t.Fatalf("just before expiry: %v", err)
	}
	e.clock.Add(time.Second)
	_, err = e.svc.Verify(tok)
	mustCode(t, err, ark.ETokenExpired)
	_, _, err = e.svc.AuthToken(context.Background(), tok, iam.Scope{})
	mustCode(t, err, ark.ETokenExpired)
	err = e.svc.Revoke(context.Background(), tok)
	mustCode(t, err, ark.ETokenExpired)
}

func TestRevocationSurvivesRestart(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	tok1, _, err := e.svc.AuthPassword(ctx, adminAuth(defaultScope))
	if err != nil {
		t.Fatal(err)
	}
	tok2, _, err := e.svc.AuthPassword(ctx, adminAuth(defaultScope))
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.Revoke(ctx, tok1); err != nil {
		t.Fatal(err)
	}
	_, err = e.svc.Verify(tok1)
	mustCode(t, err, ark.ETokenInvalid)
	mustCode(t, e.svc.Revoke(ctx, tok1), ark.ETokenInvalid)
	if _, err := e.svc.Verify(tok2); err != nil {
		t.Fatalf("other token: %v", err)
	}

	// A new Service on a reopened database file.
	e.db.Close()
	db := openDB(t, e.path, e.clock)
	svc := newService(t, db, e.key, e.clock)
	_, err = svc.Verify(tok1)
	mustCode(t, err, ark.ETokenInvalid)
	if _, err := svc.Verify(tok2); err != nil {
		t.Fatalf("other token after restart: %v", err)
	}
	// Re-scoping a revoked token is refused too.
	_, _, err = svc.AuthToken(ctx, tok1, defaultScope)
	mustCode(t, err, ark.ETokenInvalid)
}

func TestAuthTokenRescope(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	unscoped, p0, err := e.svc.AuthPassword(ctx, adminAuth(iam.Scope{}))
	if err != nil {
		t.Fatal(err)
	}
	e.clock.Add(time.Minute)
	tok, p, err := e.svc.AuthToken(ctx, unscoped, defaultScope)
	if err != nil {
		t.Fatal(err)
	}
	if p.ProjectName != "default" || !reflect.DeepEqual(p.Roles, []string{"admin"}) ||
		!reflect.DeepEqual(p.Methods, []string{"password", "token"}) || p.TokenID == p0.TokenID {
		t.Fatalf("rescoped principal %+v", p)
	}
	if !p.ExpiresAt.Equal(p0.ExpiresAt) || !p.IssuedAt.Equal(e.clock.Now()) {
		t.Fatalf("rescoped token expires %v (original %v), issued %v", p.ExpiresAt, p0.ExpiresAt, p.IssuedAt)
	}
	if got, err := e.svc.Verify(tok); err != nil || !reflect.DeepEqual(got, p) {
		t.Fatalf("Verify = %+v, %v", got, err)
	}
	// Scoped → unscoped, and to a project without a role.
	if _, p2, err := e.svc.AuthToken(ctx, tok, iam.Scope{}); err != nil || p2.ProjectID != "" || p2.Roles != nil {
		t.Fatalf("unscope = %+v, %v", p2, err)
	}
	if _, err := e.svc.CreateProject(ctx, "", "other", ""); err != nil {
		t.Fatal(err)
	}
	_, _, err = e.svc.AuthToken(ctx, tok, iam.Scope{ProjectName: "other", DomainName: "Default"})
	mustCode(t, err, ark.EAuthFailed)
	_, _, err = e.svc.AuthToken(ctx, "", defaultScope)
	mustCode(t, err, ark.ETokenMissing)
	_, _, err = e.svc.AuthToken(ctx, "ark1.garbage", defaultScope)
	mustCode(t, err, ark.ETokenInvalid)
}

func TestAdministration(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	proj, err := e.svc.CreateProject(ctx, "Default", "team-a.prod_1", "Team A")
	if err != nil {
		t.Fatal(err)
	}
	if !ark.IsHexID(proj.ID) || proj.DomainID != "default" {
		t.Fatalf("project %+v", proj)
	}
	u, err := e.svc.CreateUser(ctx, "default", "alice", "alice-password")
	if err != nil {
		t.Fatal(err)
	}
	if u.PasswordHash != "" {
		t.Fatal("CreateUser returned the password hash")
	}
	for _, tt := range []struct{ user, project, role string }{
		{"alice", "team-a.prod_1", "member"},
		{u.ID, proj.ID, "reader"},
		{"Default/alice", "default/team-a.prod_1", "member"}, // again: idempotent
		{"alice", "default", "reader"},
	} {
		if err := e.svc.AssignRole(ctx, tt.user, tt.project, tt.role); err != nil {
			t.Fatalf("AssignRole(%q, %q, %q): %v", tt.user, tt.project, tt.role, err)
		}
	}
	_, p, err := e.svc.AuthPassword(ctx, iam.PasswordAuth{UserName: "alice", DomainID: "default", Password: "alice-password",
		Scope: iam.Scope{ProjectID: proj.ID}})
	if err != nil || !reflect.DeepEqual(p.Roles, []string{"member", "reader"}) {
		t.Fatalf("alice = %+v, %v", p, err)
	}

	bad := []struct {
		name string
		err  error
	}{
		{"empty project name", func() error { _, err := e.svc.CreateProject(ctx, "", "", ""); return err }()},
		{"bad project name", func() error { _, err := e.svc.CreateProject(ctx, "", "a b", ""); return err }()},
		{"long project name", func() error { _, err := e.svc.CreateProject(ctx, "", strings.Repeat("a", 65), ""); return err }()},
		{"duplicate project", func() error { _, err := e.svc.CreateProject(ctx, "", "team-a.prod_1", ""); return err }()},
		{"unknown domain", func() error { _, err := e.svc.CreateProject(ctx, "nope", "x", ""); return err }()},
		{"bad user name", func() error { _, err := e.svc.CreateUser(ctx, "", "bob/x", "bob-password"); return err }()},
		{"short password", func() error { _, err := e.svc.CreateUser(ctx, "", "bob", "1234567"); return err }()},
		{"long password", func() error { _, err := e.svc.CreateUser(ctx, "", "bob", strings.Repeat("p", 73)); return err }()},
		{"duplicate user", func() error { _, err := e.svc.CreateUser(ctx, "", "alice", "alice-password"); return err }()},
		{"bad role", e.svc.AssignRole(ctx, "alice", "default", "owner")},
		{"unknown user", e.svc.AssignRole(ctx, "bob", "default", "reader")},
		{"unknown project", e.svc.AssignRole(ctx, "alice", "nope", "reader")},
	}
	for _, b := range bad {
		if c := code(b.err); c != ark.EInvalidParam && c != ark.ERequired {
			t.Errorf("%s: %v (code %q)", b.name, b.err, c)
		}
	}
	if _, err := e.svc.CreateUser(ctx, "", "bob", strings.Repeat("p", 72)); err != nil {
		t.Fatalf("72-byte password: %v", err)
	}
	if err := e.svc.SetPassword(ctx, "bob", "new-bob-password"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.svc.AuthPassword(ctx, iam.PasswordAuth{UserName: "bob", DomainID: "default", Password: "new-bob-password"}); err != nil {
		t.Fatalf("after SetPassword: %v", err)
	}

	users, err := e.svc.ListUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, ui := range users {
		names = append(names, ui.User.Name)
		if ui.User.PasswordHash != "" {
			t.Fatal("ListUsers leaks password hashes")
		}
	}
	if want := []string{"admin", "alice", "bob"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("users %v, want %v", names, want)
	}
	if n := len(users[1].Roles); n != 3 {
		t.Fatalf("alice has %d roles: %+v", n, users[1].Roles)
	}
	projects, err := e.svc.ListProjects(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(projects) != 2 || projects[0].Project.Name != "default" || len(projects[0].Roles) != 2 || len(projects[1].Roles) != 2 {
		t.Fatalf("projects %+v", projects)
	}
	mine, err := e.svc.ProjectsForUser(ctx, u.ID)
	if err != nil || len(mine) != 2 {
		t.Fatalf("ProjectsForUser = %v, %v", mine, err)
	}

	// Visibility: alice sees her two projects; the cloud admin sees all, a plain member only its own.
	if err := e.svc.UnassignRole(ctx, "alice", "default", "reader"); err != nil {
		t.Fatal(err)
	}
	_, ap, err := e.svc.AuthPassword(ctx, iam.PasswordAuth{UserName: "alice", DomainID: "default", Password: "alice-password"})
	if err != nil {
		t.Fatal(err)
	}
	if vis, _ := e.svc.ProjectsVisibleTo(ctx, ap); len(vis) != 1 || vis[0].ID != proj.ID {
		t.Fatalf("alice sees %v", vis)
	}
	_, admin, err := e.svc.AuthPassword(ctx, adminAuth(defaultScope))
	if err != nil {
		t.Fatal(err)
	}
	if !iam.IsCloudAdmin(admin) || iam.IsCloudAdmin(ap) {
		t.Fatal("IsCloudAdmin")
	}
	if vis, _ := e.svc.ProjectsVisibleTo(ctx, admin); len(vis) != 2 {
		t.Fatalf("admin sees %v", vis)
	}
}

func TestLoadOrCreateKey(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "token.key")
	key, err := iam.LoadOrCreateKey(path)
	if err != nil || len(key) != 32 {
		t.Fatalf("create: %d bytes, %v", len(key), err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 || fi.Size() != 32 {
		t.Fatalf("key file %v, %v", fi.Mode(), err)
	}
	again, err := iam.LoadOrCreateKey(path)
	if err != nil || !bytes.Equal(again, key) {
		t.Fatalf("load: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("temporary files left: %v", ents)
	}

	for _, mode := range []os.FileMode{0o640, 0o604, 0o660} {
		os.Chmod(path, mode)
		if _, err := iam.LoadOrCreateKey(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
			t.Fatalf("mode %o: %v", mode, err)
		}
	}
	os.Chmod(path, 0o600)
	os.WriteFile(path, key[:16], 0o600)
	if _, err := iam.LoadOrCreateKey(path); err == nil || !strings.Contains(err.Error(), "16 bytes") {
		t.Fatalf("short key: %v", err)
	}
	if _, err := iam.LoadOrCreateKey(dir); err == nil {
		t.Fatal("a directory was accepted as a key")
	}
	if _, err := iam.LoadOrCreateKey(filepath.Join(dir, "missing", "token.key")); err == nil {
		t.Fatal("no error for a missing directory")
	}

	// Concurrent first starts agree on one key.
	path2 := filepath.Join(dir, "race.key")
	keys := make([][]byte, 8)
	var wg sync.WaitGroup
	for i := range keys {
		wg.Go(func() {
			k, err := iam.LoadOrCreateKey(path2)
			if err != nil {
				t.Error(err)
			}
			keys[i] = k
		})
	}
	wg.Wait()
	for _, k := range keys[1:] {
		if !bytes.Equal(k, keys[0]) {
			t.Fatal("concurrent creators got different keys")
		}
	}
}

func TestOpenChecksConfig(t *testing.T) {
	c := &clock{t: time.Now()}
	db := openDB(t, filepath.Join(t.TempDir(), "ark.db"), c)
	if err := (&iam.Service{Store: db, Key: make([]byte, 16)}).Open(context.Background()); err == nil {
		t.Fatal("16-byte key accepted")
	}
	if err := (&iam.Service{Key: make([]byte, 32)}).Open(context.Background()); err == nil {
		t.Fatal("nil store accepted")
	}
	if _, err := (&iam.Service{}).Verify("ark1.x"); err == nil {
		t.Fatal("Verify before Open succeeded")
	}
}

func TestPasswordLimits(t *testing.T) {
	if _, err := iam.HashPassword(strings.Repeat("é", 4)); code(err) != ark.EInvalidParam { // 8 bytes, 4 characters
		t.Fatalf("4 characters: %v", err)
	}
	if _, err := iam.HashPassword(strings.Repeat("é", 36)); err != nil { // 72 bytes
		t.Fatalf("72 bytes: %v", err)
	}
	if _, err := iam.HashPassword(strings.Repeat("é", 36) + "x"); code(err) != ark.EInvalidParam {
		t.Fatalf("73 bytes: %v", err)
	}
}

func BenchmarkVerify(b *testing.B) {
	e := newEnv(b)
	tok, _, err := e.svc.AuthPassword(context.Background(), adminAuth(defaultScope))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.Logf("token: %d characters", len(tok))
	for b.Loop() {
		if _, err := e.svc.Verify(tok); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerifyParallel(b *testing.B) {
	e := newEnv(b)
	tok, _, err := e.svc.AuthPassword(context.Background(), adminAuth(defaultScope))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := e.svc.Verify(tok); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestRevocationReachesOtherServers: two servers on one database; a token revoked through one is
// refused by the other once it has reloaded the revocations (Run does every RevocationSync).
func TestRevocationReachesOtherServers(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	other := newService(t, e.db, e.key, e.clock)
	tok, _, err := e.svc.AuthPassword(ctx, adminAuth(defaultScope))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.Verify(tok); err != nil {
		t.Fatalf("the other server before the revocation: %v", err)
	}
	if err := e.svc.Revoke(ctx, tok); err != nil {
		t.Fatal(err)
	}
	other.RevocationSync = 10 * time.Millisecond
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- other.Run(runCtx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run = %v", err)
		}
	}()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := other.Verify(tok)
		if ark.ErrorCode(err) == ark.ETokenInvalid {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the other server still accepts the revoked token: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
