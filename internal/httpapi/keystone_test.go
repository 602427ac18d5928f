package httpapi_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/projects"
	"github.com/gophercloud/gophercloud/v2/openstack/identity/v3/tokens"

	"github.com/arkserve/arkserve/internal/ark"
	"github.com/arkserve/arkserve/internal/iam"
)

// ksEnv is a test server as the Keystone tests see it.
type ksEnv struct {
	base      string
	iam       *iam.Service
	projectID string // of project "default"
}

func ksStart(t *testing.T, publicURL string) *ksEnv {
	t.Helper()
	s := startServer(t, publicURL)
	return &ksEnv{base: s.URL, iam: s.IAM, projectID: s.ProjectID}
}

type ksResponse struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func ksDo(t *testing.T, method, url string, header map[string]string, body string) ksResponse {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	out := ksResponse{status: resp.StatusCode, header: resp.Header, raw: string(data)}
	if len(data) > 0 && method != http.MethodHead {
		if err := json.Unmarshal(data, &out.body); err != nil {
			t.Fatalf("%s %s: %d, body is not a JSON object: %q", method, url, resp.StatusCode, data)
		}
	}
	return out
}

// ksPath walks a decoded JSON document: keys for objects, ints for arrays.
func ksPath(v any, path ...any) any {
	for _, p := range path {
		switch k := p.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			a, _ := v.([]any)
			if k >= len(a) {
				return nil
			}
			v = a[k]
		}
	}
	return v
}

func ksPasswordBody(user, password, scope string) string {
	return `{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"` + user +
		`","domain":{"name":"Default"},"password":"` + password + `"}}}` + scope + `}}`
}

const ksDefaultScope = `,"scope":{"project":{"name":"default","domain":{"name":"Default"}}}`

var ksTimeRE = regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$`)

func TestKeystoneDiscovery(t *testing.T) {
	e := ksStart(t, "")
	r := ksDo(t, "GET", e.base+"/", nil, "")
	if r.status != http.StatusMultipleChoices || ksPath(r.body, "versions", "values", 0, "id") != "v3.14" ||
		ksPath(r.body, "versions", "values", 0, "status") != "stable" ||
		ksPath(r.body, "versions", "values", 0, "links", 0, "href") != e.base+"/v3/" {
		t.Fatalf("GET / = %d %s", r.status, r.raw)
	}
	for _, path := range []string{"/v3", "/v3/"} {
		r := ksDo(t, "GET", e.base+path, map[string]string{"X-Forwarded-Proto": "https"}, "")
		want := "https://" + strings.TrimPrefix(e.base, "http://") + "/v3/"
		if r.status != http.StatusOK || ksPath(r.body, "version", "id") != "v3.14" ||
			ksPath(r.body, "version", "links", 0, "rel") != "self" || ksPath(r.body, "version", "links", 0, "href") != want ||
			ksPath(r.body, "version", "media-types", 0, "type") != "application/vnd.openstack.identity-v3+json" {
			t.Fatalf("GET %s = %d %s", path, r.status, r.raw)
		}
	}
	// A configured public URL wins over the request.
	e2 := ksStart(t, "https://ark.example.com:8443/")
	r = ksDo(t, "GET", e2.base+"/v3", nil, "")
	if ksPath(r.body, "version", "links", 0, "href") != "https://ark.example.com:8443/v3/" {
		t.Fatalf("GET /v3 with PublicURL = %s", r.raw)
	}
}

func TestKeystoneTokenLifecycle(t *testing.T) {
	e := ksStart(t, "")
	r := ksDo(t, "POST", e.base+"/v3/auth/tokens", nil, ksPasswordBody("admin", testPassword, ksDefaultScope))
	tok := r.header.Get("X-Subject-Token")
	if r.status != http.StatusCreated || tok == "" {
		t.Fatalf("POST /v3/auth/tokens = %d %s", r.status, r.raw)
	}
	checkToken := func(r ksResponse, methods ...string) {
		t.Helper()
		b := r.body
		var gotMethods []string
		for _, m := range ksPath(b, "token", "methods").([]any) {
			gotMethods = append(gotMethods, m.(string))
		}
		if !slices.Equal(gotMethods, methods) {
			t.Errorf("methods %v, want %v", gotMethods, methods)
		}
		for _, c := range []struct {
			path []any
			want any
		}{
			{[]any{"token", "user", "name"}, "admin"},
			{[]any{"token", "user", "domain", "id"}, "default"},
			{[]any{"token", "user", "domain", "name"}, "Default"},
			{[]any{"token", "project", "id"}, e.projectID},
			{[]any{"token", "project", "name"}, "default"},
			{[]any{"token", "project", "domain", "id"}, "default"},
			{[]any{"token", "project", "domain", "name"}, "Default"},
			{[]any{"token", "roles", 0, "name"}, "admin"},
			{[]any{"token", "roles", 0, "id"}, "admin"},
		} {
			if got := ksPath(b, c.path...); got != c.want {
				t.Errorf("%v = %v, want %v", c.path, got, c.want)
			}
		}
		if id, _ := ksPath(b, "token", "user", "id").(string); !ark.IsHexID(id) {
			t.Errorf("user id %q", id)
		}
		iat, _ := ksPath(b, "token", "issued_at").(string)
		exp, _ := ksPath(b, "token", "expires_at").(string)
		ti, err1 := time.Parse(time.RFC3339, iat)
		te, err2 := time.Parse(time.RFC3339, exp)
		// 24 h (the TTL); a token made with the token method keeps the expiry of the token it came
		// from, so it is shorter by the seconds between the two.
		if !ksTimeRE.MatchString(iat) || !ksTimeRE.MatchString(exp) || err1 != nil || err2 != nil ||
			te.Sub(ti) > 24*time.Hour || te.Sub(ti) < 24*time.Hour-time.Minute {
			t.Errorf("issued_at %q, expires_at %q", iat, exp)
		}
		// The catalog: ModelArts under both types, identity, three interfaces each.
		want := map[string]string{
			"modelarts":   e.base + "/v1/" + e.projectID,
			"modelartsv1": e.base + "/v1/" + e.projectID,
			"identity":    e.base + "/v3",
		}
		cat, _ := ksPath(b, "token", "catalog").([]any)
		if len(cat) != len(want) {
			t.Fatalf("catalog %v", cat)
		}
		for _, entry := range cat {
			typ, _ := ksPath(entry, "type").(string)
			eps, _ := ksPath(entry, "endpoints").([]any)
			var ifaces []string
			for _, ep := range eps {
				ifaces = append(ifaces, ksPath(ep, "interface").(string))
				if ksPath(ep, "url") != want[typ] || ksPath(ep, "region") != "RegionOne" || ksPath(ep, "region_id") != "RegionOne" {
					t.Errorf("catalog %s endpoint %v", typ, ep)
				}
			}
			if !slices.Equal(ifaces, []string{"public", "internal", "admin"}) {
				t.Errorf("catalog %s interfaces %v", typ, ifaces)
			}
		}
	}
	checkToken(r, "password")

	// Validate (GET and HEAD), with and without the catalog.
	h := map[string]string{"X-Auth-Token": tok, "X-Subject-Token": tok}
	r = ksDo(t, "GET", e.base+"/v3/auth/tokens", h, "")
	if r.status != http.StatusOK || r.header.Get("X-Subject-Token") != tok {
		t.Fatalf("GET /v3/auth/tokens = %d %s", r.status, r.raw)
	}
	checkToken(r, "password")
	if r = ksDo(t, "HEAD", e.base+"/v3/auth/tokens", h, ""); r.status != http.StatusOK {
		t.Fatalf("HEAD /v3/auth/tokens = %d", r.status)
	}
	if r = ksDo(t, "GET", e.base+"/v3/auth/tokens?nocatalog", h, ""); r.status != http.StatusOK || ksPath(r.body, "token", "catalog") != nil {
		t.Fatalf("nocatalog: %d %s", r.status, r.raw)
	}

	// Unscoped, then re-scoped with the token method (token in the body, then in X-Auth-Token).
	r = ksDo(t, "POST", e.base+"/v3/auth/tokens", nil, ksPasswordBody("admin", testPassword, `,"scope":"unscoped"`))
	unscoped := r.header.Get("X-Subject-Token")
	if r.status != http.StatusCreated || ksPath(r.body, "token", "project") != nil || ksPath(r.body, "token", "catalog") != nil ||
		ksPath(r.body, "token", "roles") != nil {
		t.Fatalf("unscoped = %d %s", r.status, r.raw)
	}
	r = ksDo(t, "POST", e.base+"/v3/auth/tokens", nil,
		`{"auth":{"identity":{"methods":["token"],"token":{"id":"`+unscoped+`"}},"scope":{"project":{"id":"`+e.projectID+`"}}}}`)
	if r.status != http.StatusCreated {
		t.Fatalf("token method = %d %s", r.status, r.raw)
	}
	checkToken(r, "password", "token")
	r = ksDo(t, "POST", e.base+"/v3/auth/tokens", map[string]string{"X-Auth-Token": unscoped},
		`{"auth":{"identity":{"methods":["token"],"token":{}},"scope":{"project":{"name":"default","domain":{"id":"default"}}}}}`)
	if r.status != http.StatusCreated {
		t.Fatalf("token method, header = %d %s", r.status, r.raw)
	}

	// Revoke: 204, then the token is gone for validation (404) and for use (401).
	other := r.header.Get("X-Subject-Token")
	if r = ksDo(t, "DELETE", e.base+"/v3/auth/tokens", map[string]string{"X-Auth-Token": tok, "X-Subject-Token": other}, ""); r.status != http.StatusNoContent || r.raw != "" {
		t.Fatalf("DELETE = %d %q", r.status, r.raw)
	}
	if r = ksDo(t, "GET", e.base+"/v3/auth/tokens", map[string]string{"X-Auth-Token": tok, "X-Subject-Token": other}, ""); r.status != http.StatusNotFound ||
		r.body["error_code"] != ark.ETokenInvalid {
		t.Fatalf("GET revoked = %d %s", r.status, r.raw)
	}
	if r = ksDo(t, "DELETE", e.base+"/v3/auth/tokens", map[string]string{"X-Auth-Token": tok, "X-Subject-Token": other}, ""); r.status != http.StatusNotFound {
		t.Fatalf("DELETE again = %d %s", r.status, r.raw)
	}
	if r = ksDo(t, "GET", e.base+"/v3/auth/projects", map[string]string{"X-Auth-Token": other}, ""); r.status != http.StatusUnauthorized ||
		r.body["error_code"] != ark.ETokenInvalid {
		t.Fatalf("revoked token as caller = %d %s", r.status, r.raw)
	}
	// The ModelArts API refuses it too.
	if r = ksDo(t, "GET", e.base+"/v1/"+e.projectID+"/services", map[string]string{"X-Auth-Token": other}, ""); r.status != http.StatusUnauthorized ||
		r.body["error_code"] != ark.ETokenInvalid {
		t.Fatalf("revoked token on /v1 = %d %s", r.status, r.raw)
	}
}

// TestKeystoneErrors: every malformed or unauthorized request gets its status and the ModelArts
// error body, never a 500.
func TestKeystoneErrors(t *testing.T) {
	e := ksStart(t, "")
	r := ksDo(t, "POST", e.base+"/v3/auth/tokens", nil, ksPasswordBody("admin", testPassword, ksDefaultScope))
	tok := r.header.Get("X-Subject-Token")
	if tok == "" {
		t.Fatalf("no token: %s", r.raw)
	}
	auth := map[string]string{"X-Auth-Token": tok}
	tokens := e.base + "/v3/auth/tokens"
	tests := []struct {
		name   string
		method string
		url    string
		header map[string]string
		body   string
		status int
		code   string
	}{
		{"wrong password", "POST", tokens, nil, ksPasswordBody("admin", "wrong-password", ksDefaultScope), 401, ark.EAuthFailed},
		{"unknown user", "POST", tokens, nil, ksPasswordBody("nobody", testPassword, ksDefaultScope), 401, ark.EAuthFailed},
		{"unknown project", "POST", tokens, nil, ksPasswordBody("admin", testPassword, `,"scope":{"project":{"id":"0123456789abcdef0123456789abcdef"}}`), 401, ark.EAuthFailed},
		{"unsupported method", "POST", tokens, nil, `{"auth":{"identity":{"methods":["totp"]}}}`, 401, ark.EAuthFailed},
		{"invalid token method", "POST", tokens, nil, `{"auth":{"identity":{"methods":["token"],"token":{"id":"ark1.AAAA"}}}}`, 401, ark.ETokenInvalid},
		{"empty body", "POST", tokens, nil, " ", 400, ark.EInvalidArgument},
		{"not JSON", "POST", tokens, nil, "{auth", 400, ark.EInvalidArgument},
		{"array", "POST", tokens, nil, "[]", 400, ark.EInvalidArgument},
		{"trailing data", "POST", tokens, nil, `{"auth":{}} {}`, 400, ark.EInvalidArgument},
		{"no auth", "POST", tokens, nil, `{}`, 400, ark.ERequired},
		{"no identity", "POST", tokens, nil, `{"auth":{}}`, 400, ark.ERequired},
		{"no methods", "POST", tokens, nil, `{"auth":{"identity":{"methods":[]}}}`, 400, ark.ERequired},
		{"two methods", "POST", tokens, nil, `{"auth":{"identity":{"methods":["password","token"]}}}`, 400, ark.EInvalidParam},
		{"methods not an array", "POST", tokens, nil, `{"auth":{"identity":{"methods":"password"}}}`, 400, ark.EInvalidParam},
		{"no password object", "POST", tokens, nil, `{"auth":{"identity":{"methods":["password"]}}}`, 400, ark.ERequired},
		{"no user", "POST", tokens, nil, `{"auth":{"identity":{"methods":["password"],"password":{"user":{"password":"x"}}}}}`, 400, ark.EInvalidArgument},
		{"user name without domain", "POST", tokens, nil, `{"auth":{"identity":{"methods":["password"],"password":{"user":{"name":"admin","password":"x"}}}}}`, 400, ark.EInvalidArgument},
		{"password not a string", "POST", tokens, nil, `{"auth":{"identity":{"methods":["password"],"password":{"user":{"id":"x","password":1}}}}}`, 400, ark.EInvalidParam},
		{"no token id", "POST", tokens, nil, `{"auth":{"identity":{"methods":["token"],"token":{}}}}`, 400, ark.ERequired},
		{"domain scope", "POST", tokens, nil, ksPasswordBody("admin", testPassword, `,"scope":{"domain":{"id":"default"}}`), 400, ark.EInvalidParam},
		{"system scope", "POST", tokens, nil, ksPasswordBody("admin", testPassword, `,"scope":{"system":{"all":true}}`), 400, ark.EInvalidParam},
		{"scope string", "POST", tokens, nil, ksPasswordBody("admin", testPassword, `,"scope":"everything"`), 400, ark.EInvalidParam},
		{"scope number", "POST", tokens, nil, ksPasswordBody("admin", testPassword, `,"scope":7`), 400, ark.EInvalidParam},
		{"project without id or name", "POST", tokens, nil, ksPasswordBody("admin", testPassword, `,"scope":{"project":{}}`), 400, ark.ERequired},
		{"project name without domain", "POST", tokens, nil, ksPasswordBody("admin", testPassword, `,"scope":{"project":{"name":"default"}}`), 400, ark.ERequired},
		{"project not an object", "POST", tokens, nil, ksPasswordBody("admin", testPassword, `,"scope":{"project":"default"}`), 400, ark.EInvalidParam},
		{"validate without caller", "GET", tokens, map[string]string{"X-Subject-Token": tok}, "", 401, ark.ETokenMissing},
		{"validate with bad caller", "GET", tokens, map[string]string{"X-Auth-Token": "nope", "X-Subject-Token": tok}, "", 401, ark.ETokenInvalid},
		{"validate without subject", "GET", tokens, auth, "", 400, ark.ERequired},
		{"validate bad subject", "GET", tokens, map[string]string{"X-Auth-Token": tok, "X-Subject-Token": tok + "x"}, "", 404, ark.ETokenInvalid},
		{"revoke without caller", "DELETE", tokens, map[string]string{"X-Subject-Token": tok}, "", 401, ark.ETokenMissing},
		{"revoke bad subject", "DELETE", tokens, map[string]string{"X-Auth-Token": tok, "X-Subject-Token": "garbage"}, "", 404, ark.ETokenInvalid},
		{"auth projects without token", "GET", e.base + "/v3/auth/projects", nil, "", 401, ark.ETokenMissing},
		{"projects without token", "GET", e.base + "/v3/projects", nil, "", 401, ark.ETokenMissing},
		{"PUT tokens", "PUT", tokens, auth, `{}`, 405, ark.EMethod},
		{"POST /v3", "POST", e.base + "/v3", nil, `{}`, 405, ark.EMethod},
		{"DELETE /", "DELETE", e.base + "/", nil, "", 405, ark.EMethod},
		{"POST projects", "POST", e.base + "/v3/projects", auth, `{}`, 405, ark.EMethod},
		{"unknown identity API", "GET", e.base + "/v3/users", auth, "", 404, ark.ENoRoute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := ksDo(t, tt.method, tt.url, tt.header, tt.body)
			if r.status != tt.status || r.body["error_code"] != tt.code || r.body["error_msg"] == "" {
				t.Fatalf("%d %s, want %d %s", r.status, r.raw, tt.status, tt.code)
			}
			if r.status == 401 && !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Keystone uri=") {
				t.Errorf("401 without WWW-Authenticate: %v", r.header)
			}
		})
	}
	// A body that is not JSON by its media type.
	req, _ := http.NewRequest("POST", tokens, strings.NewReader(ksPasswordBody("admin", testPassword, "")))
	req.Header.Set("Content-Type", "text/plain")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnsupportedMediaType {
		t.Fatalf("text/plain body: %d", resp.StatusCode)
	}
}

func TestKeystoneProjects(t *testing.T) {
	e := ksStart(t, "")
	ctx := context.Background()
	p2, err := e.iam.CreateProject(ctx, "", "team-b", "Team B")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.iam.CreateUser(ctx, "", "bob", "bob-password"); err != nil {
		t.Fatal(err)
	}
	if err := e.iam.AssignRole(ctx, "bob", "team-b", ark.RoleReader); err != nil {
		t.Fatal(err)
	}
	login := func(user, pw, scope string) string {
		r := ksDo(t, "POST", e.base+"/v3/auth/tokens", nil, ksPasswordBody(user, pw, scope))
		if r.status != http.StatusCreated {
			t.Fatalf("login %s: %d %s", user, r.status, r.raw)
		}
		return r.header.Get("X-Subject-Token")
	}
	admin := login("admin", testPassword, ksDefaultScope)
	bob := login("bob", "bob-password", "") // unscoped
	names := func(r ksResponse) []string {
		t.Helper()
		if r.status != http.StatusOK || ksPath(r.body, "links", "self") == nil {
			t.Fatalf("%d %s", r.status, r.raw)
		}
		var out []string
		for _, p := range ksPath(r.body, "projects").([]any) {
			out = append(out, ksPath(p, "name").(string))
		}
		return out
	}
	for _, c := range []struct {
		token, path string
		want        []string
	}{
		{admin, "/v3/projects", []string{"default", "team-b"}},
		{admin, "/v3/projects?name=team-b", []string{"team-b"}},
		{admin, "/v3/projects?domain_id=default", []string{"default", "team-b"}},
		{admin, "/v3/projects?domain_id=other", nil},
		{admin, "/v3/auth/projects", []string{"default"}},
		{bob, "/v3/projects", []string{"team-b"}},
		{bob, "/v3/auth/projects", []string{"team-b"}},
	} {
		got := names(ksDo(t, "GET", e.base+c.path, map[string]string{"X-Auth-Token": c.token}, ""))
		if !slices.Equal(got, c.want) {
			t.Errorf("%s: %v, want %v", c.path, got, c.want)
		}
	}
	r := ksDo(t, "GET", e.base+"/v3/auth/projects", map[string]string{"X-Auth-Token": bob}, "")
	p := ksPath(r.body, "projects", 0)
	if ksPath(p, "id") != p2.ID || ksPath(p, "domain_id") != "default" || ksPath(p, "enabled") != true ||
		ksPath(p, "links", "self") != e.base+"/v3/projects/"+p2.ID {
		t.Fatalf("project entry %v", p)
	}
	// bob re-scopes his unscoped token to team-b and gets the reader role.
	r = ksDo(t, "POST", e.base+"/v3/auth/tokens", nil,
		`{"auth":{"identity":{"methods":["token"],"token":{"id":"`+bob+`"}},"scope":{"project":{"name":"team-b","domain":{"name":"Default"}}}}}`)
	if r.status != http.StatusCreated || ksPath(r.body, "token", "roles", 0, "name") != "reader" || ksPath(r.body, "token", "project", "id") != p2.ID {
		t.Fatalf("bob re-scoped: %d %s", r.status, r.raw)
	}
	// but not to the default project.
	r = ksDo(t, "POST", e.base+"/v3/auth/tokens", nil,
		`{"auth":{"identity":{"methods":["token"],"token":{"id":"`+bob+`"}},"scope":{"project":{"id":"`+e.projectID+`"}}}}`)
	if r.status != http.StatusUnauthorized || r.body["error_code"] != ark.EAuthFailed {
		t.Fatalf("bob to default: %d %s", r.status, r.raw)
	}
}

// TestGophercloud authenticates with a real OpenStack client library and finds the ModelArts
// endpoint in the catalog, both with a versioned identity endpoint and through version discovery.
func TestGophercloud(t *testing.T) {
	e := ksStart(t, "")
	ctx := context.Background()
	for _, identity := range []string{e.base + "/v3", e.base + "/"} {
		t.Run(identity, func(t *testing.T) {
			provider, err := openstack.AuthenticatedClient(ctx, gophercloud.AuthOptions{
				IdentityEndpoint: identity,
				Username:         "admin",
				Password:         testPassword,
				DomainName:       "Default",
				TenantName:       "default",
			})
			if err != nil {
				t.Fatal(err)
			}
			want := e.base + "/v1/" + e.projectID + "/"
			for _, typ := range []string{"modelarts", "modelartsv1"} {
				for _, av := range []gophercloud.Availability{gophercloud.AvailabilityPublic, gophercloud.AvailabilityInternal} {
					url, err := provider.EndpointLocator(gophercloud.EndpointOpts{Type: typ, Region: "RegionOne", Availability: av})
					if err != nil || url != want {
						t.Fatalf("EndpointLocator(%s, %s) = %q, %v; want %q", typ, av, url, err, want)
					}
				}
			}

			// The identity service client from the catalog: validate, list projects, revoke.
			ident, err := openstack.NewIdentityV3(provider, gophercloud.EndpointOpts{})
			if err != nil {
				t.Fatal(err)
			}
			tok := provider.Token()
			res := tokens.Get(ctx, ident, tok)
			project, err := res.ExtractProject()
			if err != nil || project.ID != e.projectID || project.Name != "default" {
				t.Fatalf("tokens.Get project = %+v, %v", project, err)
			}
			catalog, err := res.ExtractServiceCatalog()
			if err != nil {
				t.Fatal(err)
			}
			if url, err := openstack.V3EndpointURL(catalog, gophercloud.EndpointOpts{Type: "modelarts", Availability: gophercloud.AvailabilityPublic}); err != nil || url != want {
				t.Fatalf("V3EndpointURL = %q, %v", url, err)
			}
			token, err := res.ExtractToken()
			if err != nil || token.ExpiresAt.Sub(time.Now()) < 23*time.Hour {
				t.Fatalf("token %+v, %v", token, err)
			}
			if ok, err := tokens.Validate(ctx, ident, tok); err != nil || !ok {
				t.Fatalf("tokens.Validate = %v, %v", ok, err)
			}
			pages, err := projects.List(ident, projects.ListOpts{Name: "default"}).AllPages(ctx)
			if err != nil {
				t.Fatal(err)
			}
			ps, err := projects.ExtractProjects(pages)
			if err != nil || len(ps) != 1 || ps[0].ID != e.projectID {
				t.Fatalf("projects.List = %+v, %v", ps, err)
			}
			pages, err = projects.ListAvailable(ident).AllPages(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if ps, err = projects.ExtractProjects(pages); err != nil || len(ps) != 1 {
				t.Fatalf("projects.ListAvailable = %+v, %v", ps, err)
			}

			// The ModelArts API through a service client built from the catalog. A full walk
			// (deploy, update, logs) through gophercloud belongs to the end-to-end tests; here a
			// logs call for an unknown service proves the token and the endpoint are accepted.
			ma := &gophercloud.ServiceClient{ProviderClient: provider, Endpoint: want}
			_, err = ma.Get(ctx, ma.ServiceURL("services", ark.NewUUID(), "logs"), nil, nil)
			var unexpected gophercloud.ErrUnexpectedResponseCode
			if !errors.As(err, &unexpected) || unexpected.Actual != http.StatusNotFound || !strings.Contains(string(unexpected.Body), ark.EServiceNotFound) {
				t.Fatalf("logs of an unknown service through gophercloud: %v", err)
			}

			// Revoke our own token; the next validation says it is gone.
			other, err := openstack.AuthenticatedClient(ctx, gophercloud.AuthOptions{
				IdentityEndpoint: identity, Username: "admin", Password: testPassword, DomainName: "Default", TenantName: "default",
			})
			if err != nil {
				t.Fatal(err)
			}
			if err := tokens.Revoke(ctx, ident, other.Token()).Err; err != nil {
				t.Fatal(err)
			}
			if ok, err := tokens.Validate(ctx, ident, other.Token()); err != nil || ok {
				t.Fatalf("revoked token validates: %v, %v", ok, err)
			}
		})
	}
}
