package httpapi_test

import (
	"context"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/arkserve/arkserve/internal/ark"
	"github.com/arkserve/arkserve/internal/httpapi"
	"github.com/arkserve/arkserve/internal/httpapi/openapitest"
	"github.com/arkserve/arkserve/internal/iam"
	"github.com/arkserve/arkserve/internal/sqlite"
)

// testPassword is the bootstrap admin's password in every test server.
const testPassword = "Api-Test-Secret-1"

// testServer is the real HTTP API on loopback over a real SQLite file, bootstrapped (domain
// Default, project default, user admin), wired as cmd/arkserve wires it but without the rollout
// engine: update-log entries stay RUNNING.
type testServer struct {
	URL       string
	HTTP      *http.Client // validates every response it receives against the OpenAPI document
	DB        *sqlite.DB
	IAM       *iam.Service
	ProjectID string // of project "default"
}

// startServer starts a test server; opts adjust the httpapi.Server before it opens.
func startServer(t *testing.T, publicURL string, opts ...func(*httpapi.Server)) *testServer {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "arkserve.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	key, err := iam.LoadOrCreateKey(filepath.Join(dir, "token.key"))
	if err != nil {
		t.Fatal(err)
	}
	ids := &iam.Service{Store: db, Key: key}
	if err := ids.Open(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := ids.Bootstrap(ctx, testPassword); err != nil {
		t.Fatal(err)
	}
	p, err := db.FindProjectByName(ctx, ark.DefaultDomainID, ark.DefaultProject)
	if err != nil || p == nil {
		t.Fatalf("default project: %v, %v", p, err)
	}
	srv := &httpapi.Server{Addr: "127.0.0.1:0", Store: db, IAM: ids, PublicURL: publicURL}
	for _, o := range opts {
		o(srv)
	}
	if err := srv.Open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Close(ctx); err != nil {
			t.Error(err)
		}
	})
	v, err := openapitest.Load(httpapi.OpenAPI())
	if err != nil {
		t.Fatal(err)
	}
	rt := openapitest.NewRoundTripper(v, nil)
	t.Cleanup(func() {
		for _, err := range rt.Errors() {
			t.Errorf("OpenAPI: %v", err)
		}
	})
	return &testServer{URL: "http://" + srv.ListenAddr(), HTTP: &http.Client{Transport: rt}, DB: db, IAM: ids, ProjectID: p.ID}
}
