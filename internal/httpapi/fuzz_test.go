package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/arkserve/arkserve/internal/ark"
	"github.com/arkserve/arkserve/internal/httpapi"
	"github.com/arkserve/arkserve/internal/iam"
	"github.com/arkserve/arkserve/internal/sqlite"
)

// FuzzRequestDecoding sends arbitrary bodies (and query strings) to the routes that decode
// requests, through the whole handler on a real SQLite store: every answer is a ModelArts JSON
// body, never a 5xx. Corpus: testdata/fuzz/FuzzRequestDecoding (route byte, query, body).
func FuzzRequestDecoding(f *testing.F) {
	ctx := context.Background()
	dir := f.TempDir()
	db, err := sqlite.Open(ctx, filepath.Join(dir, "arkserve.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { db.Close() })
	key, err := iam.LoadOrCreateKey(filepath.Join(dir, "token.key"))
	if err != nil {
		f.Fatal(err)
	}
	ids := &iam.Service{Store: db, Key: key}
	if err := ids.Open(ctx); err != nil {
		f.Fatal(err)
	}
	if _, err := ids.Bootstrap(ctx, testPassword); err != nil {
		f.Fatal(err)
	}
	tok, p, err := ids.AuthPassword(ctx, iam.PasswordAuth{UserName: "admin", DomainName: "Default", Password: testPassword,
		Scope: iam.Scope{ProjectName: "default", DomainName: "Default"}})
	if err != nil {
		f.Fatal(err)
	}
	modelDir := f.TempDir()
	h := (&httpapi.Server{Store: db, IAM: ids}).Handler()
	v1 := "/v1/" + p.ProjectID
	// A model and a service for the routes that need one.
	do := func(method, path string, body []byte) *httptest.ResponseRecorder {
		r := httptest.NewRequest(method, path, bytes.NewReader(body))
		r.Header.Set("X-Auth-Token", tok)
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	w := do("POST", v1+"/models", []byte(`{"model_name":"m","model_version":"1.0.0","model_type":"Image","source_location":"`+modelDir+`"}`))
	var created struct {
		ModelID string `json:"model_id"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &created); err != nil || created.ModelID == "" {
		f.Fatalf("create model: %d %s", w.Code, w.Body)
	}
	w = do("POST", v1+"/services", []byte(`{"infer_type":"real-time","service_name":"s","config":[{"model_id":"`+created.ModelID+`","weight":100,"specification":"arkserve.local.small","instance_count":1}]}`))
	var svc struct {
		ServiceID string `json:"service_id"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &svc); err != nil || svc.ServiceID == "" {
		f.Fatalf("deploy: %d %s", w.Code, w.Body)
	}
	routes := []struct{ method, path string }{
		{"POST", v1 + "/services"},
		{"PUT", v1 + "/services/" + svc.ServiceID},
		{"POST", v1 + "/models"},
		{"GET", v1 + "/services/" + svc.ServiceID + "/logs"},
		{"GET", v1 + "/services"},
		{"POST", "/v3/auth/tokens"},
		{"POST", "/v3.0/OS-CREDENTIAL/credentials"},
	}
	f.Add(uint8(0), "", []byte(`{"infer_type":"real-time","service_name":"x","config":[{"model_id":"`+created.ModelID+`","weight":"100","specification":"arkserve.local.small","instance_count":2}]}`))
	f.Add(uint8(1), "", []byte(`{"config":[{"model_id":"`+created.ModelID+`","weight":100,"specification":"custom","custom_spec":{"cpu":0.5,"memory":64},"instance_count":1}]}`))
	f.Add(uint8(3), "update_time=1", []byte(nil))
	f.Add(uint8(4), "limit=10&offset=0&sort_by=service_name&order=asc", []byte(nil))
	f.Fuzz(func(t *testing.T, route uint8, query string, body []byte) {
		rt := routes[int(route)%len(routes)]
		r := httptest.NewRequest(rt.method, rt.path, bytes.NewReader(body))
		if query != "" {
			r.URL.RawQuery = query
		}
		r.Header.Set("X-Auth-Token", tok)
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code >= 500 {
			t.Fatalf("%s %s?%q %q: %d %s", rt.method, rt.path, query, body, w.Code, w.Body)
		}
		if w.Code >= 400 {
			var e struct {
				Code string `json:"error_code"`
				Msg  string `json:"error_msg"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &e); err != nil || e.Code == "" || e.Code == ark.EInternal || e.Msg == "" {
				t.Fatalf("%s %s?%q %q: %d %s: not a ModelArts error body", rt.method, rt.path, query, body, w.Code, w.Body)
			}
		}
	})
}
