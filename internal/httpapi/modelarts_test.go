package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/arkserve/arkserve/internal/ark"
	"github.com/arkserve/arkserve/internal/httpapi"
	"github.com/arkserve/arkserve/internal/iam"
	"github.com/arkserve/arkserve/internal/sqlite"
)

// apiEnv is a real server (SQLite file, IAM, no engine) on loopback with tokens for an admin, a
// reader, an admin of another project, and an expired one.
type apiEnv struct {
	url      string
	http     *http.Client
	db       *sqlite.DB
	iam      *iam.Service
	pid      string
	admin    string
	reader   string
	other    string
	expired  string
	modelDir string
}

func newAPIEnv(t *testing.T, opts ...func(*httpapi.Server)) *apiEnv {
	t.Helper()
	ctx := context.Background()
	srv := startServer(t, "", opts...)
	db, ids := srv.DB, srv.IAM
	_, err := ids.CreateUser(ctx, "Default", "rita", testPassword)
	must(t, err)
	must(t, ids.AssignRole(ctx, "rita", "default", ark.RoleReader))
	_, err = ids.CreateProject(ctx, "Default", "other", "")
	must(t, err)
	must(t, ids.AssignRole(ctx, "admin", "other", ark.RoleAdmin))
	e := &apiEnv{url: srv.URL, http: srv.HTTP, db: db, iam: ids, modelDir: t.TempDir()}
	login := func(svc *iam.Service, user, project string) (string, string) {
		tok, p, err := svc.AuthPassword(ctx, iam.PasswordAuth{UserName: user, DomainName: "Default", Password: testPassword,
			Scope: iam.Scope{ProjectName: project, DomainName: "Default"}})
		must(t, err)
		return tok, p.ProjectID
	}
	e.admin, e.pid = login(ids, "admin", "default")
	e.reader, _ = login(ids, "rita", "default")
	e.other, _ = login(ids, "admin", "other")
	// A token issued two days ago by the same key has expired.
	old := &iam.Service{Store: db, Key: ids.Key, Now: func() time.Time { return time.Now().Add(-48 * time.Hour) }}
	must(t, old.Open(ctx))
	e.expired, _ = login(old, "admin", "default")
	return e
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// call sends a raw request; hdr may set headers ("" values delete).
func (e *apiEnv) call(t *testing.T, method, path, token string, body []byte, hdr map[string]string) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, e.url+path, rd)
	must(t, err)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if token != "" {
		req.Header.Set("X-Auth-Token", token)
	}
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := e.http.Do(req)
	must(t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("%s %s: %d, body is not a JSON object: %q", method, path, resp.StatusCode, raw)
	}
	return resp.StatusCode, doc
}

func (e *apiEnv) model(t *testing.T, version string) string {
	t.Helper()
	b, _ := json.Marshal(map[string]any{"model_name": "m", "model_version": version, "model_type": "Image",
		"source_location": e.modelDir, "initial_config": `{"cmd":"exec true"}`})
	status, doc := e.call(t, "POST", "/v1/"+e.pid+"/models", e.admin, b, nil)
	if status != 200 {
		t.Fatalf("create model: %d %v", status, doc)
	}
	return doc["model_id"].(string)
}

// snapshot is the state that a refused request must leave unchanged.
func (e *apiEnv) snapshot(t *testing.T) string {
	t.Helper()
	ctx := context.Background()
	ms, nm, err := e.db.ListModels(ctx, ark.ModelFilter{ProjectID: e.pid, Limit: 1000})
	must(t, err)
	ss, ns, err := e.db.ListServices(ctx, ark.ServiceFilter{ProjectID: e.pid, Limit: 1000})
	must(t, err)
	var b strings.Builder
	json.NewEncoder(&b).Encode([]any{nm, ns})
	keys, err := e.db.ListAccessKeys(ctx, "")
	must(t, err)
	users, err := e.db.ListUsers(ctx)
	must(t, err)
	projects, err := e.db.ListProjects(ctx)
	must(t, err)
	json.NewEncoder(&b).Encode([]any{keys, users, projects})
	for _, m := range ms {
		json.NewEncoder(&b).Encode(m)
	}
	for _, s := range ss {
		_, logs, err := e.db.UpdateLogs(ctx, e.pid, s.ID, nil)
		must(t, err)
		json.NewEncoder(&b).Encode([]any{s, logs})
	}
	return b.String()
}

// errorCase is a request that must be refused with status and code.
type errorCase struct {
	name, method, path, token string
	body                      []byte
	hdr                       map[string]string
	status                    int
	code                      string
}

// TestErrors: each documented error and a table of malformed and hostile requests across every
// route (hostile_test.go adds signatures, the IAM APIs and more hostile bodies), with the status
// and ModelArts code each must get, never a 5xx, and no change of state.
func TestErrors(t *testing.T) {
	e := newAPIEnv(t)
	m1 := e.model(t, "1.0.0")
	m2 := e.model(t, "1.0.1")
	// A service whose deployment stays RUNNING (no engine here): updates are refused with 3519.
	status, doc := e.call(t, "POST", "/v1/"+e.pid+"/services", e.admin, []byte(`{"infer_type":"real-time","service_name":"busy",
		"config":[{"model_id":"`+m1+`","weight":100,"specification":"arkserve.local.small","instance_count":1}]}`), nil)
	if status != 200 {
		t.Fatalf("deploy: %d %v", status, doc)
	}
	sid := doc["service_id"].(string)
	v1 := "/v1/" + e.pid
	svc := v1 + "/services"
	one := svc + "/" + sid
	unknownSvc := svc + "/195c1f2d-136d-40af-a0f3-db5717d2634a"
	cfg := func(fields string) []byte {
		return []byte(`{"infer_type":"real-time","service_name":"s2","config":[{"model_id":"` + m1 + `",` + fields + `}]}`)
	}
	good := `"weight":100,"specification":"arkserve.local.small","instance_count":1`
	edge := func(fields string) []byte {
		return []byte(`{"infer_type":"edge","service_name":"e2","config":[{"model_id":"` + m1 + `",` + fields + `}]}`)
	}
	edgeGood := `"specification":"arkserve.local.small","instance_count":1`
	big := bytes.Repeat([]byte("a"), 2<<20)
	deep := []byte(strings.Repeat("[", 20000) + strings.Repeat("]", 20000))
	modelBody := func(fields string) []byte {
		return []byte(`{"model_name":"x","model_version":"1.0.0","model_type":"Image","source_location":"` + e.modelDir + `"` + fields + `}`)
	}

	tests := []errorCase{
		// Authentication and authorization.
		{"no token", "GET", one + "/logs", "", nil, nil, 401, ark.ETokenMissing},
		{"garbage token", "GET", one + "/logs", strings.Repeat("garbage", 10), nil, nil, 401, ark.ETokenInvalid},
		{"tampered token", "GET", one + "/logs", tamper(e.admin), nil, nil, 401, ark.ETokenInvalid},
		{"expired token", "GET", one + "/logs", e.expired, nil, nil, 401, ark.ETokenExpired},
		{"other project's token", "GET", one + "/logs", e.other, nil, nil, 403, ark.EProjectMismatch},
		{"zero project id", "GET", "/v1/" + strings.Repeat("0", 32) + "/services/" + sid + "/logs", e.admin, nil, nil, 403, ark.EProjectMismatch},
		{"X-Project-Id mismatch", "GET", one, e.admin, nil, map[string]string{"X-Project-Id": strings.Repeat("1", 32)}, 403, ark.EProjectMismatch},
		{"reader deploys", "POST", svc, e.reader, cfg(good), nil, 403, ark.EForbidden},
		{"reader updates", "PUT", one, e.reader, []byte(`{"description":"x"}`), nil, 403, ark.EForbidden},
		{"reader deletes", "DELETE", one, e.reader, nil, nil, 403, ark.EForbidden},
		{"reader creates model", "POST", v1 + "/models", e.reader, modelBody(""), nil, 403, ark.EForbidden},
		// Routing.
		{"unknown route", "GET", v1 + "/nothing", e.admin, nil, nil, 404, ark.ENoRoute},
		{"wrong method", "PATCH", one, e.admin, nil, nil, 405, ark.EMethod},
		{"PUT on specifications", "PUT", svc + "/specifications", e.admin, []byte(`{}`), nil, 405, ark.EMethod},
		{"DELETE on specifications", "DELETE", svc + "/specifications", e.admin, nil, nil, 405, ark.EMethod},
		{"POST on openapi.json", "POST", "/openapi.json", "", []byte(`{}`), nil, 405, ark.EMethod},
		{"POST on logs", "POST", one + "/logs", e.admin, []byte(`{}`), nil, 405, ark.EMethod},
		// Not found.
		{"unknown service logs", "GET", unknownSvc + "/logs", e.admin, nil, nil, 404, ark.EServiceNotFound},
		{"unknown service show", "GET", unknownSvc, e.admin, nil, nil, 404, ark.EServiceNotFound},
		{"unknown service events", "GET", unknownSvc + "/events", e.admin, nil, nil, 404, ark.EServiceNotFound},
		{"unknown service update", "PUT", unknownSvc, e.admin, []byte(`{"description":"x"}`), nil, 404, ark.EServiceNotFound},
		{"unknown service delete", "DELETE", unknownSvc, e.admin, nil, nil, 404, ark.EServiceNotFound},
		{"delete known and unknown", "DELETE", one + ",195c1f2d-136d-40af-a0f3-db5717d2634a", e.admin, nil, nil, 404, ark.EServiceNotFound},
		{"SQL in service id", "GET", svc + "/x'%20OR%20'1'='1/logs", e.admin, nil, nil, 404, ark.EServiceNotFound},
		{"unknown model show", "GET", v1 + "/models/0e07b41b-173e-42db-8c16-8e1b44cc0d44", e.admin, nil, nil, 404, ark.EModelNotFound},
		{"unknown model delete", "DELETE", v1 + "/models/0e07b41b-173e-42db-8c16-8e1b44cc0d44", e.admin, nil, nil, 404, ark.EModelNotFound},
		{"deploy unknown model", "POST", svc, e.admin, []byte(`{"infer_type":"real-time","service_name":"s2","config":[{"model_id":"0e07b41b-173e-42db-8c16-8e1b44cc0d44",` + good + `}]}`), nil, 404, ark.EServiceModelAbsent},
		// Conflicts and state.
		{"duplicate service name", "POST", svc, e.admin, []byte(`{"infer_type":"real-time","service_name":"busy","config":[{"model_id":"` + m1 + `",` + good + `}]}`), nil, 409, ark.EServiceExists},
		{"duplicate model", "POST", v1 + "/models", e.admin, []byte(`{"model_name":"m","model_version":"1.0.0","model_type":"Image","source_location":"` + e.modelDir + `"}`), nil, 409, ark.EModelExists},
		{"update while deploying", "PUT", one, e.admin, []byte(`{"config":[{"model_id":"` + m2 + `",` + good + `}]}`), nil, 400, ark.EServiceBusy},
		{"stop while deploying", "PUT", one, e.admin, []byte(`{"status":"stopped"}`), nil, 400, ark.EServiceBusy},
		// Bodies.
		{"empty body", "POST", svc, e.admin, []byte(``), nil, 400, ark.EInvalidArgument},
		{"not JSON", "POST", svc, e.admin, []byte(`infer_type=real-time`), nil, 400, ark.EInvalidArgument},
		{"truncated JSON", "POST", svc, e.admin, []byte(`{"infer_type":"real-time","config":[`), nil, 400, ark.EInvalidArgument},
		{"array body", "POST", svc, e.admin, []byte(`[]`), nil, 400, ark.EInvalidArgument},
		{"trailing data", "POST", svc, e.admin, append(cfg(good), []byte(`{}`)...), nil, 400, ark.EInvalidArgument},
		{"invalid UTF-8", "POST", svc, e.admin, []byte("{\"infer_type\":\"real-time\",\"service_name\":\"\xff\xfe\"}"), nil, 400, ark.EInvalidArgument},
		{"deeply nested", "POST", svc, e.admin, deep, nil, 400, ark.EInvalidArgument},
		{"oversized body", "POST", svc, e.admin, big, nil, 413, ark.ETooLarge},
		{"form content type", "POST", svc, e.admin, cfg(good), map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, 415, ark.EMediaType},
		// Types and values.
		{"infer_type missing", "POST", svc, e.admin, []byte(`{"service_name":"s2","config":[]}`), nil, 400, ark.ERequired},
		{"infer_type batch", "POST", svc, e.admin, []byte(`{"infer_type":"batch","service_name":"s2","config":[]}`), nil, 400, ark.ENotEnabled},
		{"infer_type edge empty config", "POST", svc, e.admin, []byte(`{"infer_type":"edge","service_name":"s2","config":[]}`), nil, 400, ark.EEmpty},
		{"edge without nodes", "POST", svc, e.admin, edge(`"specification":"arkserve.local.small","instance_count":1`), nil, 400, ark.ERequired},
		{"edge unknown node", "POST", svc, e.admin, edge(edgeGood + `,"nodes":["195c1f2d-136d-40af-a0f3-db5717d2634a"]`), nil, 404, ark.ENodeNotFound},
		{"edge node not an id", "POST", svc, e.admin, edge(edgeGood + `,"nodes":["n1"]`), nil, 400, ark.EInvalidParam},
		{"edge node twice", "POST", svc, e.admin, edge(edgeGood + `,"nodes":["195c1f2d-136d-40af-a0f3-db5717d2634a","195c1f2d-136d-40af-a0f3-db5717d2634a"]`), nil, 400, ark.EInvalidParam},
		{"edge with a schedule", "POST", svc, e.admin, []byte(`{"infer_type":"edge","service_name":"e2","schedule":[{"type":"stop","time_unit":"HOURS","duration":1}],"config":[{"model_id":"` + m1 + `",` + edgeGood + `,"nodes":["195c1f2d-136d-40af-a0f3-db5717d2634a"]}]}`), nil, 400, ark.EInvalidParam},
		{"edge with a load-balancer policy", "POST", svc, e.admin, []byte(`{"infer_type":"edge","service_name":"e2","load_balancer_policy":"SOURCE_IP","config":[{"model_id":"` + m1 + `",` + edgeGood + `,"nodes":["195c1f2d-136d-40af-a0f3-db5717d2634a"]}]}`), nil, 400, ark.EInvalidParam},
		{"edge two instances", "POST", svc, e.admin, edge(`"specification":"arkserve.local.small","instance_count":2,"nodes":["195c1f2d-136d-40af-a0f3-db5717d2634a"]`), nil, 400, ark.EInvalidParam},
		{"unknown node", "GET", v1 + "/nodes/195c1f2d-136d-40af-a0f3-db5717d2634a", e.admin, nil, nil, 404, ark.ENodeNotFound},
		{"delete unknown node", "DELETE", v1 + "/nodes/195c1f2d-136d-40af-a0f3-db5717d2634a", e.admin, nil, nil, 404, ark.ENodeNotFound},
		{"reader deletes a node", "DELETE", v1 + "/nodes/195c1f2d-136d-40af-a0f3-db5717d2634a", e.reader, nil, nil, 403, ark.EForbidden},
		{"agent API without credential", "POST", v1 + "/nodes/195c1f2d-136d-40af-a0f3-db5717d2634a/heartbeat", "", []byte(`{}`), nil, 401, ark.ETokenMissing},
		{"agent API with a user token", "GET", v1 + "/nodes/195c1f2d-136d-40af-a0f3-db5717d2634a/placements", e.admin, nil, nil, 401, ark.ETokenMissing},
		{"agent API with a forged credential", "PUT", v1 + "/nodes/195c1f2d-136d-40af-a0f3-db5717d2634a/registration", "", []byte(`{"name":"n"}`),
			map[string]string{"Authorization": "Bearer arkn1." + e.pid + ".nc0000000000000000.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}, 401, ark.ETokenInvalid},
		{"infer_type unknown", "POST", svc, e.admin, []byte(`{"infer_type":"x","service_name":"s2","config":[]}`), nil, 400, ark.EInvalidParam},
		{"service_name missing", "POST", svc, e.admin, []byte(`{"infer_type":"real-time","config":[]}`), nil, 400, ark.ERequired},
		{"service_name number", "POST", svc, e.admin, []byte(`{"infer_type":"real-time","service_name":5}`), nil, 400, ark.EInvalidParam},
		{"service_name too long", "POST", svc, e.admin, []byte(`{"infer_type":"real-time","service_name":"` + strings.Repeat("a", 65) + `"}`), nil, 400, ark.EInvalidParam},
		{"service_name shell", "POST", svc, e.admin, []byte(`{"infer_type":"real-time","service_name":"a;rm -rf /"}`), nil, 400, ark.EInvalidParam},
		{"description forbidden", "POST", svc, e.admin, []byte(`{"infer_type":"real-time","service_name":"s2","description":"<script>"}`), nil, 400, ark.EInvalidParam},
		{"config missing", "POST", svc, e.admin, []byte(`{"infer_type":"real-time","service_name":"s2"}`), nil, 400, ark.ERequired},
		{"config empty", "POST", svc, e.admin, []byte(`{"infer_type":"real-time","service_name":"s2","config":[]}`), nil, 400, ark.EEmpty},
		{"config object", "POST", svc, e.admin, []byte(`{"infer_type":"real-time","service_name":"s2","config":{}}`), nil, 400, ark.EInvalidParam},
		{"weight missing", "POST", svc, e.admin, cfg(`"specification":"arkserve.local.small","instance_count":1`), nil, 400, ark.ERequired},
		{"weight fraction", "POST", svc, e.admin, cfg(`"weight":99.5,"specification":"arkserve.local.small","instance_count":1`), nil, 400, ark.EInvalidParam},
		{"weight NaN string", "POST", svc, e.admin, cfg(`"weight":"NaN","specification":"arkserve.local.small","instance_count":1`), nil, 400, ark.EInvalidParam},
		{"weight bool", "POST", svc, e.admin, cfg(`"weight":true,"specification":"arkserve.local.small","instance_count":1`), nil, 400, ark.EInvalidParam},
		{"weight 50", "POST", svc, e.admin, cfg(`"weight":50,"specification":"arkserve.local.small","instance_count":1`), nil, 400, ark.EInvalidParam},
		{"weight negative", "POST", svc, e.admin, cfg(`"weight":-100,"specification":"arkserve.local.small","instance_count":1`), nil, 400, ark.EInvalidParam},
		{"weight huge", "POST", svc, e.admin, cfg(`"weight":1e300,"specification":"arkserve.local.small","instance_count":1`), nil, 400, ark.EInvalidParam},
		{"instance_count 0", "POST", svc, e.admin, cfg(`"weight":100,"specification":"arkserve.local.small","instance_count":0`), nil, 400, ark.EInvalidParam},
		{"instance_count 129", "POST", svc, e.admin, cfg(`"weight":100,"specification":"arkserve.local.small","instance_count":129`), nil, 400, ark.EInvalidParam},
		{"instance_count missing", "POST", svc, e.admin, cfg(`"weight":100,"specification":"arkserve.local.small"`), nil, 400, ark.ERequired},
		{"specification missing", "POST", svc, e.admin, cfg(`"weight":100,"instance_count":1`), nil, 400, ark.ERequired},
		{"specification unknown", "POST", svc, e.admin, cfg(`"weight":100,"specification":"x.y","instance_count":1`), nil, 400, ark.ENoSpec},
		{"specification closed", "POST", svc, e.admin, cfg(`"weight":100,"specification":"modelarts.vm.ai1.snt3","instance_count":1`), nil, 400, ark.ENoSpec},
		{"custom without custom_spec", "POST", svc, e.admin, cfg(`"weight":100,"specification":"custom","instance_count":1`), nil, 400, ark.ERequired},
		{"custom cpu 0", "POST", svc, e.admin, cfg(`"weight":100,"specification":"custom","custom_spec":{"cpu":0,"memory":10},"instance_count":1`), nil, 400, ark.EInvalidParam},
		{"duplicate model versions", "POST", svc, e.admin, []byte(`{"infer_type":"real-time","service_name":"s2","config":[{"model_id":"` + m1 + `","weight":50,"specification":"arkserve.local.small","instance_count":1},{"model_id":"` + m1 + `","weight":50,"specification":"arkserve.local.small","instance_count":1}]}`), nil, 400, ark.EDuplicateVersion},
		{"env PORT", "POST", svc, e.admin, cfg(good + `,"envs":{"PORT":"1"}`), nil, 400, ark.EInvalidParam},
		{"env bad name", "POST", svc, e.admin, cfg(good + `,"envs":{"A=B":"1"}`), nil, 400, ark.EInvalidParam},
		{"env number value", "POST", svc, e.admin, cfg(good + `,"envs":{"A":1}`), nil, 400, ark.EInvalidParam},
		{"props key other model", "POST", svc, e.admin, cfg(good + `,"additional_properties":{"` + m2 + `":{"max_surge":1}}`), nil, 400, ark.EInvalidParam},
		{"max_surge negative", "POST", svc, e.admin, cfg(good + `,"additional_properties":{"` + m1 + `":{"max_surge":-1}}`), nil, 400, ark.EInvalidParam},
		{"grace too long", "POST", svc, e.admin, cfg(good + `,"additional_properties":{"` + m1 + `":{"termination_grace_period_seconds":99999}}`), nil, 400, ark.EInvalidParam},
		{"mount path traversal", "POST", svc, e.admin, cfg(good + `,"additional_properties":{"` + m1 + `":{"persistent_volumes":[{"mount_path":"/data/../etc"}]}}`), nil, 400, ark.EInvalidParam},
		{"mount system dir", "POST", svc, e.admin, cfg(good + `,"additional_properties":{"` + m1 + `":{"persistent_volumes":[{"mount_path":"/var/run"}]}}`), nil, 400, ark.EInvalidParam},
		{"deploy timeout negative", "POST", svc, e.admin, cfg(good + `,"deploy_timeout_in_seconds":-1`), nil, 400, ark.EInvalidParam},
		{"unknown cluster", "POST", svc, e.admin, cfg(good + `,"cluster_id":"nope"`), nil, 400, ark.EClusterNotFound},
		{"nodes of a real-time service", "POST", svc, e.admin, cfg(good + `,"nodes":["195c1f2d-136d-40af-a0f3-db5717d2634a"]`), nil, 400, ark.EInvalidParam},
		{"schedule unit", "POST", svc, e.admin, []byte(`{"infer_type":"real-time","service_name":"s2","schedule":[{"type":"stop","time_unit":"YEARS","duration":1}],"config":[{"model_id":"` + m1 + `",` + good + `}]}`), nil, 400, ark.EInvalidParam},
		{"priority 4", "POST", svc, e.admin, []byte(`{"infer_type":"real-time","service_name":"s2","priority":4,"config":[{"model_id":"` + m1 + `",` + good + `}]}`), nil, 400, ark.EInvalidParam},
		{"lb policy", "POST", svc, e.admin, []byte(`{"infer_type":"real-time","service_name":"s2","load_balancer_policy":"RANDOM","config":[{"model_id":"` + m1 + `",` + good + `}]}`), nil, 400, ark.EInvalidParam},
		{"status unknown", "PUT", one, e.admin, []byte(`{"status":"paused"}`), nil, 400, ark.EInvalidParam},
		{"update description forbidden", "PUT", one, e.admin, []byte(`{"description":"a=b"}`), nil, 400, ark.EInvalidParam},
		// Models.
		{"model version pattern", "POST", v1 + "/models", e.admin, []byte(`{"model_name":"x","model_version":"01.1.1","model_type":"Image","source_location":"/tmp"}`), nil, 400, ark.EInvalidParam},
		{"model version words", "POST", v1 + "/models", e.admin, []byte(`{"model_name":"x","model_version":"latest","model_type":"Image","source_location":"/tmp"}`), nil, 400, ark.EInvalidParam},
		{"model name missing", "POST", v1 + "/models", e.admin, []byte(`{"model_version":"1.0.0","model_type":"Image","source_location":"/tmp"}`), nil, 400, ark.ERequired},
		{"model type unknown", "POST", v1 + "/models", e.admin, []byte(`{"model_name":"x","model_version":"1.0.0","model_type":"Caffe","source_location":"/tmp"}`), nil, 400, ark.EInvalidParam},
		{"model source missing", "POST", v1 + "/models", e.admin, []byte(`{"model_name":"x","model_version":"1.0.0","model_type":"Image"}`), nil, 400, ark.ERequired},
		{"model source traversal", "POST", v1 + "/models", e.admin, []byte(`{"model_name":"x","model_version":"1.0.0","model_type":"Image","source_location":"` + e.modelDir + `/../../etc"}`), nil, 400, ark.EInvalidParam},
		{"model source relative", "POST", v1 + "/models", e.admin, []byte(`{"model_name":"x","model_version":"1.0.0","model_type":"Image","source_location":"models/x"}`), nil, 400, ark.EInvalidParam},
		{"model source obs", "POST", v1 + "/models", e.admin, []byte(`{"model_name":"x","model_version":"1.0.0","model_type":"Image","source_location":"obs://bucket/x"}`), nil, 400, ark.EInvalidParam},
		{"model source missing dir", "POST", v1 + "/models", e.admin, []byte(`{"model_name":"x","model_version":"1.0.0","model_type":"Image","source_location":"/nonexistent/dir"}`), nil, 400, ark.EInvalidParam},
		{"model initial_config not JSON", "POST", v1 + "/models", e.admin, modelBody(`,"initial_config":"{"`), nil, 400, ark.EModelConfig},
		{"model health bad number", "POST", v1 + "/models", e.admin, modelBody(`,"initial_config":"{\"health\":{\"period_seconds\":\"often\"}}"`), nil, 400, ark.EInvalidParam},
		{"model input_params object", "POST", v1 + "/models", e.admin, modelBody(`,"input_params":{}`), nil, 400, ark.EInvalidParam},
		{"model template", "POST", v1 + "/models", e.admin, []byte(`{"model_name":"x","model_version":"1.0.0","model_type":"Template","source_location":"/tmp"}`), nil, 400, ark.ENotEnabled},
		// Query parameters.
		{"update_time not a number", "GET", one + "/logs?update_time=abc", e.admin, nil, nil, 400, ark.EInvalidParam},
		{"update_time negative", "GET", one + "/logs?update_time=-5", e.admin, nil, nil, 400, ark.EInvalidParam},
		{"update_time float", "GET", one + "/logs?update_time=1.5", e.admin, nil, nil, 400, ark.EInvalidParam},
		{"update_time twice", "GET", one + "/logs?update_time=1&update_time=2", e.admin, nil, nil, 400, ark.EInvalidParam},
		{"bad query escape", "GET", svc + "?service_name=%zz", e.admin, nil, nil, 400, ark.EInvalidArgument},
		{"limit 0", "GET", svc + "?limit=0", e.admin, nil, nil, 400, ark.EInvalidParam},
		{"limit huge", "GET", svc + "?limit=99999999999999999999", e.admin, nil, nil, 400, ark.EInvalidParam},
		{"offset negative", "GET", svc + "?offset=-1", e.admin, nil, nil, 400, ark.EInvalidParam},
		{"sort_by unknown", "GET", svc + "?sort_by=owner", e.admin, nil, nil, 400, ark.EInvalidParam},
		{"order unknown", "GET", v1 + "/models?order=up", e.admin, nil, nil, 400, ark.EInvalidParam},
		{"status filter unknown", "GET", svc + "?status=idling", e.admin, nil, nil, 400, ark.EInvalidParam},
		{"event_info forbidden", "GET", one + "/events?event_info=a%3Bb", e.admin, nil, nil, 400, ark.EInvalidParam},
		{"event_type unknown", "GET", one + "/events?event_type=warning", e.admin, nil, nil, 400, ark.EInvalidParam},
		{"cascade not bool", "DELETE", v1 + "/models/" + m2 + "?cascade=yes", e.admin, nil, nil, 400, ark.EInvalidParam},
		{"model_type and not_model_type", "GET", v1 + "/models?model_type=Image&not_model_type=Image", e.admin, nil, nil, 400, ark.EInvalidParam},
	}
	tests = append(tests, e.hostileCases(t, sid, m1, m2)...)
	before := e.snapshot(t)
	t.Logf("hostile-input table: %d cases", len(tests))
	if len(tests) < 150 {
		t.Errorf("hostile-input table: %d cases; want at least 150", len(tests))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, doc := e.call(t, tt.method, tt.path, tt.token, tt.body, tt.hdr)
			if status != tt.status || doc["error_code"] != tt.code || status >= 500 {
				t.Errorf("%s %.200s = %d %v; want %d %s", tt.method, tt.path, status, doc, tt.status, tt.code)
			}
			if msg, _ := doc["error_msg"].(string); msg == "" || len(msg) > 400 {
				t.Errorf("error_msg = %q; want a short message", msg)
			}
		})
	}
	if after := e.snapshot(t); after != before {
		t.Errorf("refused requests changed the state:\nbefore %s\nafter  %s", before, after)
	}
}

// TestModelCmdRole: a member may not register a model that carries a cmd under the default
// setting; a model directory's config.json is read when initial_config is empty.
func TestModelConfigJSON(t *testing.T) {
	e := newAPIEnv(t)
	must(t, os.WriteFile(filepath.Join(e.modelDir, "config.json"), []byte(`{"cmd":"exec srv","health":{"url":"/ready","period_seconds":2}}`), 0o644))
	status, doc := e.call(t, "POST", "/v1/"+e.pid+"/models", e.admin, []byte(`{"model_name":"x","model_version":"1.0.0","model_type":"Image","source_location":"file://`+e.modelDir+`"}`), nil)
	if status != 200 {
		t.Fatalf("create: %d %v", status, doc)
	}
	status, doc = e.call(t, "GET", "/v1/"+e.pid+"/models/"+doc["model_id"].(string), e.admin, nil, nil)
	h, _ := doc["health"].(map[string]any)
	if status != 200 || doc["cmd"] != "exec srv" || h["url"] != "/ready" || h["period_seconds"] != "2" || doc["source_location"] != e.modelDir {
		t.Fatalf("show: %d %v", status, doc)
	}
}

// tamper changes the last character of a token to another base64url character.
func tamper(tok string) string {
	last := byte('A')
	if tok[len(tok)-1] == 'A' {
		last = 'B'
	}
	return tok[:len(tok)-1] + string(last)
}
