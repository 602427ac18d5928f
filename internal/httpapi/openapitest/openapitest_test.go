package openapitest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/arkserve/arkserve/internal/httpapi"
)

func loadDoc(t testing.TB) *Validator {
	t.Helper()
	v, err := Load(httpapi.OpenAPI())
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return v
}

func rawDoc(t testing.TB) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(httpapi.OpenAPI(), &doc); err != nil {
		t.Fatalf("openapi.json is not JSON: %v", err)
	}
	return doc
}

var docMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// TestDocumentShape checks the document as OpenAPI 3.0.3: every $ref resolves, every operation
// has a unique operationId and responses, path parameters are declared, /v1 operations take
// X-Auth-Token, and every response is a status code or default.
func TestDocumentShape(t *testing.T) {
	doc := rawDoc(t)
	if doc["openapi"] != "3.0.3" {
		t.Errorf("openapi = %v, want 3.0.3", doc["openapi"])
	}
	for _, k := range []string{"info", "paths", "components"} {
		if _, ok := doc[k].(map[string]any); !ok {
			t.Errorf("%s is missing", k)
		}
	}
	var refs []string
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if r, ok := x["$ref"].(string); ok {
				refs = append(refs, r)
			}
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(doc)
	if len(refs) == 0 {
		t.Fatal("no $ref at all")
	}
	for _, r := range refs {
		if _, err := lookup(any(doc), r); err != nil {
			t.Errorf("%v", err)
		}
	}

	ids := map[string]string{}
	paramRE := regexp.MustCompile(`\{([^}]+)\}`)
	for path, pv := range doc["paths"].(map[string]any) {
		item := pv.(map[string]any)
		for _, m := range docMethods {
			ov, ok := item[m]
			if !ok {
				continue
			}
			op := ov.(map[string]any)
			name := strings.ToUpper(m) + " " + path
			id, _ := op["operationId"].(string)
			if id == "" {
				t.Errorf("%s: no operationId", name)
			} else if other, dup := ids[id]; dup {
				t.Errorf("%s: operationId %s is also used by %s", name, id, other)
			}
			ids[id] = name
			rs, _ := op["responses"].(map[string]any)
			if len(rs) == 0 {
				t.Errorf("%s: no responses", name)
			}
			for code, rv := range rs {
				if !isStatusKey(code) {
					t.Errorf("%s: response key %q", name, code)
				}
				r, err := deref(doc, rv)
				if err != nil {
					t.Errorf("%s %s: %v", name, code, err)
					continue
				}
				if d, _ := r["description"].(string); d == "" {
					t.Errorf("%s %s: response has no description", name, code)
				}
			}
			// Parameters: path item's plus operation's, resolved.
			declared := map[string]bool{}
			for _, src := range []any{item["parameters"], op["parameters"]} {
				list, _ := src.([]any)
				for _, p := range list {
					pm, err := deref(doc, p)
					if err != nil {
						t.Errorf("%s: %v", name, err)
						continue
					}
					declared[fmt.Sprint(pm["in"], ":", pm["name"])] = true
					if pm["in"] == "path" && pm["required"] != true {
						t.Errorf("%s: path parameter %v is not required", name, pm["name"])
					}
					if _, ok := pm["schema"]; !ok {
						t.Errorf("%s: parameter %v has no schema", name, pm["name"])
					}
				}
			}
			for _, mm := range paramRE.FindAllStringSubmatch(path, -1) {
				if !declared["path:"+mm[1]] {
					t.Errorf("%s: path parameter %s is not declared", name, mm[1])
				}
			}
			// The agent API authenticates with a node credential (security NodeCredential), not a token.
			agentAPI := strings.Contains(fmt.Sprint(op["security"]), "NodeCredential")
			if strings.HasPrefix(path, "/v1/") && !agentAPI && !declared["header:X-Auth-Token"] {
				t.Errorf("%s: X-Auth-Token is not declared", name)
			}
			if (m == "post" || m == "put") && op["requestBody"] == nil {
				t.Errorf("%s: no requestBody", name)
			}
		}
	}

	// The error body is the reference's.
	eb := doc["components"].(map[string]any)["schemas"].(map[string]any)["ErrorBody"].(map[string]any)
	props := eb["properties"].(map[string]any)
	if p := props["error_code"].(map[string]any)["pattern"]; p != `^ModelArts\.[0-9]{4}$` {
		t.Errorf("error_code pattern = %v", p)
	}
	resps := doc["components"].(map[string]any)["responses"].(map[string]any)
	for _, name := range []string{"BadRequest", "Unauthorized", "Forbidden", "NotFound", "MethodNotAllowed",
		"Conflict", "PayloadTooLarge", "UnsupportedMediaType", "InternalError"} {
		r, ok := resps[name].(map[string]any)
		if !ok {
			t.Errorf("components/responses/%s is missing", name)
			continue
		}
		s := r["content"].(map[string]any)["application/json"].(map[string]any)["schema"].(map[string]any)
		if s["$ref"] != "#/components/schemas/ErrorBody" {
			t.Errorf("components/responses/%s: schema %v, want ErrorBody", name, s)
		}
	}

	if _, err := Load(httpapi.OpenAPI()); err != nil {
		t.Errorf("Load: %v", err)
	}
}

func deref(doc map[string]any, v any) (map[string]any, error) {
	for range 10 {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%v is not an object", v)
		}
		r, ok := m["$ref"].(string)
		if !ok {
			return m, nil
		}
		var err error
		if v, err = lookup(any(doc), r); err != nil {
			return nil, err
		}
	}
	return nil, fmt.Errorf("$ref loop")
}

// sourceRoutes reads the route patterns registered by the non-test Go files of internal/httpapi:
// "METHOD /path" literals, "METHOD " + v1 + "/path" with v1 a string constant of the file, and
// method-less HandleFunc("/path/{x}") patterns, which serve every method ("ANY /path/{x}"). A
// trailing wildcard {name...} is listed as {name}.
func sourceRoutes(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("../*.go")
	if err != nil {
		t.Fatal(err)
	}
	pat := regexp.MustCompile(`"(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS) (/[^"\s:]*)?"(?:\s*\+\s*(\w+)\s*\+\s*"(/[^"\s:]*)")?`)
	constRE := regexp.MustCompile(`const (\w+)\s*=\s*"([^"]*)"`)
	anyRE := regexp.MustCompile(`HandleFunc\("(/[^"\s:]*\{[^"\s:]*)"`)
	restRE := regexp.MustCompile(`\{(\w+)\.\.\.\}`)
	var out []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		consts := map[string]string{}
		for _, m := range constRE.FindAllStringSubmatch(string(src), -1) {
			consts[m[1]] = m[2]
		}
		for _, m := range pat.FindAllStringSubmatch(string(src), -1) {
			path := m[2]
			if m[3] != "" {
				prefix, ok := consts[m[3]]
				if !ok {
					t.Fatalf("%s: route %q uses %s, which is not a string constant of the file", f, m[0], m[3])
				}
				path = prefix + m[4]
			}
			if path == "" {
				continue
			}
			path = strings.TrimSuffix(path, "{$}")
			out = append(out, m[1]+" "+path)
		}
		for _, m := range anyRE.FindAllStringSubmatch(string(src), -1) {
			out = append(out, "ANY "+restRE.ReplaceAllString(m[1], "{$1}"))
		}
	}
	sort.Strings(out)
	return slices.Compact(out)
}

// TestRoutesDocumented compares the routes registered in the source with the operations of the
// document, both ways (HEAD operations are served by GET handlers).
func TestRoutesDocumented(t *testing.T) {
	routes := sourceRoutes(t)
	must := []string{
		"GET /v1/{project_id}/services/{service_id}/logs",
		"GET /v1/{project_id}/services/specifications",
		"POST /v1/{project_id}/models",
		"GET /openapi.json",
		"ANY /v1/infers/{service_id}/{path}",
	}
	for _, m := range must {
		if !slices.Contains(routes, m) {
			t.Fatalf("route parser found %v; it misses %s", routes, m)
		}
	}
	doc := rawDoc(t)
	var ops []string
	for path, pv := range doc["paths"].(map[string]any) {
		for _, m := range docMethods {
			if _, ok := pv.(map[string]any)[m]; ok && m != "head" {
				ops = append(ops, strings.ToUpper(m)+" "+path)
			}
		}
	}
	sort.Strings(ops)
	for _, r := range routes {
		if p, ok := strings.CutPrefix(r, "ANY "); ok {
			if !slices.ContainsFunc(ops, func(o string) bool { return strings.HasSuffix(o, " "+p) }) {
				t.Errorf("route %s is not documented", r)
			}
		} else if !slices.Contains(ops, r) {
			t.Errorf("route %s is not documented", r)
		}
	}
	for _, o := range ops {
		_, p, _ := strings.Cut(o, " ")
		if !slices.Contains(routes, o) && !slices.Contains(routes, "ANY "+p) {
			t.Errorf("operation %s is documented but not registered", o)
		}
	}
}

// TestDocumentedRoutesAreServed sends one request per documented operation to the real handler
// (without a store or IAM) and checks that the router knows it: anything but the unknown-API and
// wrong-method errors.
func TestDocumentedRoutesAreServed(t *testing.T) {
	var h http.Handler
	func() {
		defer func() {
			if r := recover(); r != nil {
				t.Fatalf("httpapi.Server.Handler panics while registering routes: %v", r)
			}
		}()
		h = (&httpapi.Server{}).Handler()
	}()
	doc := rawDoc(t)
	fill := strings.NewReplacer("{project_id}", "p1", "{service_id}", "s1", "{model_id}", "m1", "{path}", "predict")
	for path, pv := range doc["paths"].(map[string]any) {
		for _, m := range docMethods {
			if _, ok := pv.(map[string]any)[m]; !ok {
				continue
			}
			req := httptest.NewRequest(strings.ToUpper(m), fill.Replace(path), nil)
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			var body struct {
				Code string `json:"error_code"`
			}
			_ = json.Unmarshal(rec.Body.Bytes(), &body)
			if body.Code == "ModelArts.0404" || body.Code == "ModelArts.0405" {
				t.Errorf("%s %s: %d %s", req.Method, req.URL.Path, rec.Code, rec.Body.String())
			}
		}
	}
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const logsPath = "/v1/0a1b2c/services/195c1f2d-136d-40af-a0f3-db5717d2634a/logs"

// TestLogsReferenceExample: the example response of the reference's update-logs page validates.
func TestLogsReferenceExample(t *testing.T) {
	v := loadDoc(t)
	if err := v.ValidateResponse("GET", logsPath, 200, readTestdata(t, "logs_reference_example.json")); err != nil {
		t.Fatal(err)
	}
	if got := v.Operation("GET", logsPath); got != "GET /v1/{project_id}/services/{service_id}/logs" {
		t.Errorf("operation = %q", got)
	}
}

// mutateLogs decodes the reference example, applies f and re-encodes it.
func mutateLogs(t *testing.T, f func(body map[string]any)) []byte {
	t.Helper()
	var body map[string]any
	if err := json.Unmarshal(readTestdata(t, "logs_reference_example.json"), &body); err != nil {
		t.Fatal(err)
	}
	f(body)
	b, err := json.Marshal(body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func firstLog(body map[string]any) map[string]any {
	return body["logs"].([]any)[0].(map[string]any)
}

func firstConfig(body map[string]any) map[string]any {
	return firstLog(body)["config"].([]any)[0].(map[string]any)
}

func TestLogsSchema(t *testing.T) {
	v := loadDoc(t)
	cases := []struct {
		name  string
		f     func(map[string]any)
		valid bool
		want  string // part of the error
	}{
		{"extra field in Log", func(b map[string]any) { firstLog(b)["previous"] = []any{} }, false, "additional properties 'previous'"},
		{"extra field in ServiceLogConfig", func(b map[string]any) { firstConfig(b)["pool_name"] = "p" }, false, "additional properties 'pool_name'"},
		{"string update_time", func(b map[string]any) { firstLog(b)["update_time"] = "1574770228888" }, false, "update_time"},
		{"fractional update_time", func(b map[string]any) { firstLog(b)["update_time"] = 1.5 }, false, "update_time"},
		{"unknown result", func(b map[string]any) { firstLog(b)["result"] = "DONE" }, false, "result"},
		{"string weight", func(b map[string]any) { firstConfig(b)["weight"] = "100" }, false, "weight"},
		{"missing result", func(b map[string]any) { delete(firstLog(b), "result") }, false, "result"},
		{"missing config", func(b map[string]any) { delete(firstLog(b), "config") }, false, "config"},
		// weight and instance_count are returned for real-time services only (edge entries omit them).
		{"missing weight", func(b map[string]any) { delete(firstConfig(b), "weight") }, true, ""},
		{"null logs", func(b map[string]any) { b["logs"] = nil }, false, "logs"},
		{"extra top-level field", func(b map[string]any) { b["total_count"] = 1 }, false, "total_count"},
		{"empty logs", func(b map[string]any) { b["logs"] = []any{} }, true, ""},
		{"RUNNING and FAIL", func(b map[string]any) {
			firstLog(b)["result"] = "RUNNING"
			l2 := map[string]any{"update_time": 1, "result": "FAIL", "config": []any{}}
			b["logs"] = append(b["logs"].([]any), l2)
		}, true, ""},
		{"every documented field", func(b map[string]any) {
			l := firstLog(b)
			l["cluster_id"] = "pool-1"
			l["extend_config"] = []any{"a"}
			l["success_num"] = 1
			l["failed_num"] = 0
			l["result_detail"] = []any{map[string]any{"result": true, "node_name": "n", "operation": "deploy", "node_id": "id"}}
			c := firstConfig(b)
			c["custom_spec"] = map[string]any{"cpu": 1.5, "memory": 7500, "gpu_p4": 0.5}
			c["envs"] = map[string]any{"A": "b"}
			c["cluster_id"] = "pool-1"
			c["additional_properties"] = map[string]any{"m": map[string]any{
				"log_volume": []any{map[string]any{"host_path": "/a", "mount_path": "/b"}}, "max_surge": 0.5,
				"max_unavailable": 1, "termination_grace_period_seconds": 30,
				"persistent_volumes": []any{map[string]any{"mount_path": "/c", "storage_type": "sfs_turbo"}}}}
		}, true, ""},
		{"UpdateResult.result is boolean", func(b map[string]any) {
			firstLog(b)["result_detail"] = []any{map[string]any{"result": "SUCCESS"}}
		}, false, "result_detail"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := v.ValidateResponse("GET", logsPath, 200, mutateLogs(t, c.f))
			switch {
			case c.valid && err != nil:
				t.Fatalf("want valid: %v", err)
			case !c.valid && err == nil:
				t.Fatal("want a violation")
			case !c.valid && !strings.Contains(err.Error(), c.want):
				t.Fatalf("error does not mention %q: %v", c.want, err)
			}
		})
	}
}

func TestErrorBody(t *testing.T) {
	v := loadDoc(t)
	ok := `{"error_code":"ModelArts.3502","error_msg":"Service s1 does not exist."}`
	for _, c := range []struct {
		method, path string
		status       int
		body         string
		valid        bool
	}{
		{"GET", "/v1/p1/services/s1", 404, ok, true},
		{"GET", "/v1/p1/services/s1/logs", 404, ok, true},
		{"DELETE", "/v1/p1/models/m1", 404, `{"error_code":"ModelArts.3001","error_msg":"Model (m1) does not exist."}`, true},
		{"GET", "/v1/p1/services/s1", 404, `{"error_code":"AS.0001","error_msg":"x"}`, false},
		{"GET", "/v1/p1/services/s1", 404, `{"error_code":"ModelArts.35021","error_msg":"x"}`, false},
		{"GET", "/v1/p1/services/s1", 404, `{"error_code":"ModelArts.3502"}`, false},
		{"GET", "/v1/p1/services/s1", 404, `{"error_code":"ModelArts.3502","error_msg":"x","request_id":"r"}`, false},
		{"GET", "/v1/p1/services/s1", 404, `not json`, false},
		{"GET", "/v1/p1/services/s1", 418, ok, false}, // undocumented status
		{"POST", "/v1/p1/services", 409, `{"error_code":"ModelArts.3503","error_msg":"exists"}`, true},
		{"POST", "/v1/p1/services", 415, `{"error_code":"ModelArts.0415","error_msg":"json"}`, true},
		{"GET", "/v1/p1/services", 415, `{"error_code":"ModelArts.0415","error_msg":"json"}`, false}, // no body, no 415
		{"GET", "/nowhere", 404, `{"error_code":"ModelArts.0404","error_msg":"no such API"}`, true},
		{"PATCH", "/v1/p1/services/s1", 405, `{"error_code":"ModelArts.0405","error_msg":"method"}`, true},
		{"GET", "/nowhere", 200, `{}`, false},
	} {
		err := v.ValidateResponse(c.method, c.path, c.status, []byte(c.body))
		if (err == nil) != c.valid {
			t.Errorf("%s %s %d %s: valid=%v, err=%v", c.method, c.path, c.status, c.body, c.valid, err)
		}
	}
}

func TestPathMatching(t *testing.T) {
	v := loadDoc(t)
	for _, c := range []struct{ method, path, want string }{
		{"GET", "/v1/p1/services/specifications", "GET /v1/{project_id}/services/specifications"},
		{"GET", "/v1/p1/services/specifications?limit=2", "GET /v1/{project_id}/services/specifications"},
		{"GET", "/v1/p1/services/s1", "GET /v1/{project_id}/services/{service_id}"},
		{"get", "/v1/p1/services/s1", "GET /v1/{project_id}/services/{service_id}"},
		{"PUT", "/v1/p1/services/s1", "PUT /v1/{project_id}/services/{service_id}"},
		{"DELETE", "/v1/p1/services/a%2Cb", "DELETE /v1/{project_id}/services/{service_id}"},
		{"HEAD", "/v1/p1/services", "GET /v1/{project_id}/services"},
		{"HEAD", "/v3/auth/tokens", "HEAD /v3/auth/tokens"},
		{"GET", "/", "GET /"},
		{"GET", "/v3", "GET /v3"},
		{"GET", "/v3/", "GET /v3/"},
		{"GET", "/openapi.json", "GET /openapi.json"},
		{"GET", "http://127.0.0.1:8111/v1/p1/services/s1/logs?update_time=1", "GET /v1/{project_id}/services/{service_id}/logs"},
		{"PUT", "/v1/p1/services/specifications", ""},
		{"GET", "/v1/p1/services/", ""},
		{"GET", "/v1//services", ""},
		{"GET", "/v1/p1/services/s1/monitor", "GET /v1/{project_id}/services/{service_id}/monitor"},
		{"GET", "/v1/p1/services/s1/metrics", ""},
	} {
		if got := v.Operation(c.method, c.path); got != c.want {
			t.Errorf("Operation(%s %s) = %q, want %q", c.method, c.path, got, c.want)
		}
	}
}

func TestEmptyAndHeadBodies(t *testing.T) {
	v := loadDoc(t)
	if err := v.ValidateResponse("DELETE", "/v3/auth/tokens", 204, nil); err != nil {
		t.Error(err)
	}
	if err := v.ValidateResponse("DELETE", "/v3/auth/tokens", 204, []byte(`{}`)); err == nil {
		t.Error("a 204 with a body passed")
	}
	if err := v.ValidateResponse("HEAD", "/v1/p1/services", 200, nil); err != nil {
		t.Error(err)
	}
	if err := v.ValidateResponse("GET", "/v1/p1/services", 200, nil); err == nil {
		t.Error("an empty 200 passed for GET")
	}
	if err := v.ValidateResponse("PUT", "/v1/p1/services/s1", 200, []byte(`{}`)); err != nil {
		t.Error(err)
	}
	if err := v.ValidateResponse("PUT", "/v1/p1/services/s1", 200, []byte(`{"a":1}`)); err == nil {
		t.Error("PUT 200 with a field passed")
	}
}

func TestNullableAndHeaders(t *testing.T) {
	v := loadDoc(t)
	model := map[string]any{
		"owner": "u", "model_version": "1.0.0", "model_type": "Custom", "description": "", "project": "p",
		"source_type": "", "model_id": "m", "model_source": "custom", "install_type": []any{"real-time"},
		"model_size": 10, "workspace_id": "0", "model_status": "published", "market_flag": false, "tunable": false,
		"model_name": "a", "create_at": 1, "publishable_flag": true, "source_copy": "true", "tenant": "p",
		"specification": map[string]any{}, "source_location": "/m", "model_algorithm": "",
		"health": map[string]any{"protocol": "http", "check_method": "HTTP", "url": "/health",
			"initial_delay_seconds": "0", "timeout_seconds": "5", "period_seconds": "1", "failure_threshold": "3"},
		"model_labels": []any{}, "labels_map": map[string]any{"labels": []any{}}, "input_params": nil,
	}
	b, _ := json.Marshal(model)
	if err := v.ValidateResponse("GET", "/v1/p/models/m", 200, b); err != nil {
		t.Errorf("null input_params: %v", err)
	}
	model["health"].(map[string]any)["timeout_seconds"] = 5
	b, _ = json.Marshal(model)
	if err := v.ValidateResponse("GET", "/v1/p/models/m", 200, b); err == nil {
		t.Error("a numeric health.timeout_seconds passed")
	}

	body := []byte(`{"error_code":"ModelArts.0201","error_msg":"Token doesn't exist."}`)
	h := http.Header{"Content-Type": {"application/json"}, "X-Request-Id": {"r1"}}
	if err := v.ValidateHTTPResponse("GET", "/v3/projects", 401, h, body); err == nil ||
		!strings.Contains(err.Error(), "Www-Authenticate") {
		t.Errorf("missing WWW-Authenticate: %v", err)
	}
	h.Set("WWW-Authenticate", `Keystone uri="http://x/v3"`)
	if err := v.ValidateHTTPResponse("GET", "/v3/projects", 401, h, body); err != nil {
		t.Error(err)
	}
	h.Set("Content-Type", "text/plain")
	if err := v.ValidateHTTPResponse("GET", "/v3/projects", 401, h, body); err == nil {
		t.Error("text/plain passed")
	}
}

// TestRoundTripper runs a fake server behind the RoundTripper: good responses pass, bad ones are
// recorded, and the caller still reads every body.
func TestRoundTripper(t *testing.T) {
	v := loadDoc(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Request-Id", "rid")
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/v1/p1/services/s1/logs":
			_, _ = w.Write(readTestdata(t, "logs_reference_example.json"))
		case "/v1/p1/services/s2/logs":
			_, _ = w.Write(mutateLogs(t, func(b map[string]any) { firstLog(b)["update_time"] = "x" }))
		default:
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"error_code":"ModelArts.0404","error_msg":"no such API"}`)
		}
	}))
	defer srv.Close()
	rt := NewRoundTripper(v, nil)
	client := &http.Client{Transport: rt}
	get := func(path string) []byte {
		resp, err := client.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if b := get("/v1/p1/services/s1/logs"); !json.Valid(b) {
				t.Errorf("body not passed on: %q", b)
			}
			get("/nowhere")
		}()
	}
	wg.Wait()
	if errs := rt.Errors(); len(errs) != 0 {
		t.Fatalf("violations on valid responses: %v", errs)
	}
	if b := get("/v1/p1/services/s2/logs"); !strings.Contains(string(b), `"update_time":"x"`) {
		t.Errorf("body not passed on: %s", b)
	}
	errs := rt.Errors()
	if len(errs) != 1 || !strings.Contains(errs[0].Error(), "update_time") {
		t.Fatalf("errors = %v, want one about update_time", errs)
	}
	if n := rt.Validated(); n != 17 {
		t.Errorf("Validated = %d, want 17", n)
	}
	rt.Reset()
	if len(rt.Errors()) != 0 || rt.Validated() != 0 {
		t.Error("Reset kept state")
	}
}

func TestLoadRejects(t *testing.T) {
	for _, doc := range []string{
		`not json`,
		`[]`,
		`{"openapi":"3.1.0","paths":{}}`,
		`{"openapi":"3.0.3"}`,
		`{"openapi":"3.0.3","paths":{"/a":{"get":{"responses":{"200":{"$ref":"#/components/responses/Nope"}}}}}}`,
		`{"openapi":"3.0.3","paths":{"/a":{"get":{"responses":{"200":{"description":"x","content":{"application/json":{"schema":{"$ref":"#/components/schemas/Nope"}}}}}}}}}`,
		`{"openapi":"3.0.3","paths":{"/a":{"get":{"responses":{}}}}}`,
	} {
		if _, err := Load([]byte(doc)); err == nil {
			t.Errorf("Load(%s) succeeded", doc)
		}
	}
	// nullable and the boolean exclusiveMinimum of OpenAPI 3.0.
	v, err := Load([]byte(`{"openapi":"3.0.3","paths":{"/a":{"get":{"responses":{"200":{"description":"x",
		"content":{"application/json":{"schema":{"type":"object","properties":{
		"n":{"type":"integer","nullable":true,"minimum":0,"exclusiveMinimum":true},
		"e":{"type":"string","enum":["a"],"nullable":true}}}}}}}}}}}`))
	if err != nil {
		t.Fatal(err)
	}
	for body, valid := range map[string]bool{`{"n":null,"e":null}`: true, `{"n":1,"e":"a"}`: true, `{"n":0}`: false, `{"e":"b"}`: false} {
		if err := v.ValidateResponse("GET", "/a", 200, []byte(body)); (err == nil) != valid {
			t.Errorf("%s: valid=%v, err=%v", body, valid, err)
		}
	}
}
