package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/auth/signer"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/request"

	"github.com/arkserve/arkserve/internal/ark"
	"github.com/arkserve/arkserve/internal/httpapi"
)

// sdkSign returns the headers the Huawei Cloud SDK's signer adds to a request to e.url (its
// X-Sdk-Date, Authorization and, when projectID is set, X-Project-Id), signed with ak/sk.
// pathQuery may carry a query string; body is sent as JSON.
// extra headers are signed too.
func (e *apiEnv) sdkSign(t *testing.T, ak, sk, method, pathQuery string, body []byte, projectID string, extra ...map[string]string) map[string]string {
	t.Helper()
	u, err := url.Parse(e.url + pathQuery)
	must(t, err)
	b := request.NewHttpRequestBuilder().WithEndpoint(e.url).WithPath(u.Path).WithMethod(method)
	for k, vs := range u.Query() {
		b.AddQueryParam(k, reflect.ValueOf(vs[0]))
	}
	if projectID != "" {
		b.AddHeaderParam("X-Project-Id", projectID)
	}
	for _, x := range extra {
		for k, v := range x {
			b.AddHeaderParam(k, v)
		}
	}
	if body != nil {
		b.AddHeaderParam("Content-Type", "application/json")
		b.WithBody("", string(body))
	}
	hdrs, err := signer.Sign(b.Build(), ak, sk)
	must(t, err)
	if projectID != "" {
		hdrs["X-Project-Id"] = projectID
	}
	for _, x := range extra {
		for k, v := range x {
			hdrs[k] = v
		}
	}
	return hdrs
}

// accessKey creates an access key for user through iam and returns it.
func (e *apiEnv) accessKey(t *testing.T, user string) (string, string) {
	t.Helper()
	k, sk, err := e.iam.CreateAccessKey(context.Background(), user, "")
	must(t, err)
	return k.ID, sk
}

func userID(t *testing.T, e *apiEnv, name string) string {
	t.Helper()
	u, err := e.db.FindUserByName(context.Background(), ark.DefaultDomainID, name)
	must(t, err)
	return u.ID
}

// TestCredentialsAPI: the IAM access-key API: everyone manages their own keys, the cloud admin
// anyone's; the secret is shown once; others' keys look missing.
func TestCredentialsAPI(t *testing.T) {
	e := newAPIEnv(t)
	const base = "/v3.0/OS-CREDENTIAL/credentials"
	admin, rita := userID(t, e, "admin"), userID(t, e, "rita")
	create := func(token, user string) (int, map[string]any) {
		return e.call(t, "POST", base, token, []byte(`{"credential":{"user_id":"`+user+`","description":"d"}}`), nil)
	}
	status, doc := create(e.admin, admin)
	cred, _ := doc["credential"].(map[string]any)
	if status != 201 || cred["user_id"] != admin || len(cred["access"].(string)) != 20 || len(cred["secret"].(string)) != 40 || cred["status"] != "active" {
		t.Fatalf("create: %d %v", status, doc)
	}
	ak, sk := cred["access"].(string), cred["secret"].(string)
	status, doc = e.call(t, "GET", base+"/"+ak, e.admin, nil, nil)
	if got, _ := doc["credential"].(map[string]any); status != 200 || got["access"] != ak || got["secret"] != nil {
		t.Fatalf("show: %d %v", status, doc)
	}
	// The reader manages its own keys only; the admin's key looks missing to it.
	if status, doc = create(e.reader, admin); status != 403 || doc["error_code"] != ark.EForbidden {
		t.Fatalf("reader creates admin's key: %d %v", status, doc)
	}
	if status, doc = create(e.reader, rita); status != 201 {
		t.Fatalf("reader creates own key: %d %v", status, doc)
	}
	ritaKey := doc["credential"].(map[string]any)["access"].(string)
	if status, doc = e.call(t, "GET", base+"/"+ak, e.reader, nil, nil); status != 404 || doc["error_code"] != ark.EAccessKeyNotFound {
		t.Fatalf("reader shows admin's key: %d %v", status, doc)
	}
	if status, doc = e.call(t, "GET", base+"?user_id="+admin, e.reader, nil, nil); status != 403 {
		t.Fatalf("reader lists admin's keys: %d %v", status, doc)
	}
	status, doc = e.call(t, "GET", base, e.reader, nil, nil)
	if ks, _ := doc["credentials"].([]any); status != 200 || len(ks) != 1 || ks[0].(map[string]any)["access"] != ritaKey || ks[0].(map[string]any)["secret"] != nil {
		t.Fatalf("reader lists own keys: %d %v", status, doc)
	}
	// The cloud admin sees and deletes anyone's.
	status, doc = e.call(t, "GET", base+"?user_id="+rita, e.admin, nil, nil)
	if ks, _ := doc["credentials"].([]any); status != 200 || len(ks) != 1 {
		t.Fatalf("admin lists rita's keys: %d %v", status, doc)
	}
	// A signed request (the key itself) may use the API too, and the limit is 2 keys.
	hdr := e.sdkSign(t, ak, sk, "POST", base, []byte(`{"credential":{"user_id":"`+admin+`"}}`), "")
	if status, doc = e.call(t, "POST", base, "", []byte(`{"credential":{"user_id":"`+admin+`"}}`), hdr); status != 201 {
		t.Fatalf("signed create: %d %v", status, doc)
	}
	if status, doc = create(e.admin, admin); status != 400 || doc["error_code"] != ark.EInvalidParam {
		t.Fatalf("third key: %d %v", status, doc)
	}
	if status := e.noBody(t, "DELETE", base+"/"+ritaKey, e.admin); status != 204 {
		t.Fatalf("admin deletes rita's key: %d", status)
	}
	if status, doc = e.call(t, "DELETE", base+"/"+ritaKey, e.admin, nil, nil); status != 404 || doc["error_code"] != ark.EAccessKeyNotFound {
		t.Fatalf("delete again: %d %v", status, doc)
	}
}

// TestSignedRequests: the ModelArts API with SDK signatures: the same authorization as tokens
// (project from the path or X-Project-Id, roles), replays of writes refused, reads repeatable.
func TestSignedRequests(t *testing.T) {
	e := newAPIEnv(t)
	ak, sk := e.accessKey(t, "admin")
	rak, rsk := e.accessKey(t, "rita")
	v1 := "/v1/" + e.pid
	body := []byte(`{"model_name":"signed","model_version":"1.0.0","model_type":"Image","source_location":"` + e.modelDir + `"}`)
	hdr := e.sdkSign(t, ak, sk, "POST", v1+"/models", body, e.pid)
	status, doc := e.call(t, "POST", v1+"/models", "", body, hdr)
	if status != 200 {
		t.Fatalf("signed create: %d %v", status, doc)
	}
	// The same signed write again is a replay.
	if status, doc = e.call(t, "POST", v1+"/models", "", body, hdr); status != 401 || doc["error_code"] != ark.ETokenInvalid {
		t.Fatalf("replayed create: %d %v", status, doc)
	}
	// Reads repeat freely; the project may come from the path alone.
	get := e.sdkSign(t, ak, sk, "GET", v1+"/models?model_name=signed", nil, "")
	for range 2 {
		status, doc = e.call(t, "GET", v1+"/models?model_name=signed", "", nil, get)
		if status != 200 || doc["count"] != float64(1) {
			t.Fatalf("signed list: %d %v", status, doc)
		}
	}
	// The reader's key reads and may not write, as its tokens.
	if status, doc = e.call(t, "GET", v1+"/services", "", nil, e.sdkSign(t, rak, rsk, "GET", v1+"/services", nil, e.pid)); status != 200 {
		t.Fatalf("reader reads: %d %v", status, doc)
	}
	b2 := []byte(`{"model_name":"r","model_version":"1.0.0","model_type":"Image","source_location":"` + e.modelDir + `"}`)
	if status, doc = e.call(t, "POST", v1+"/models", "", b2, e.sdkSign(t, rak, rsk, "POST", v1+"/models", b2, e.pid)); status != 403 || doc["error_code"] != ark.EForbidden {
		t.Fatalf("reader writes: %d %v", status, doc)
	}
	// Inference calls take signatures too (X-Project-Id names the project).
	infer := "/v1/infers/195c1f2d-136d-40af-a0f3-db5717d2634a/predict"
	if status, doc = e.call(t, "GET", infer, "", nil, e.sdkSign(t, ak, sk, "GET", infer, nil, e.pid)); status != 404 || doc["error_code"] != ark.EServiceNotFound {
		t.Fatalf("signed inference call: %d %v", status, doc)
	}
	unsigned := e.sdkSign(t, ak, sk, "POST", infer, nil, e.pid, map[string]string{"X-Sdk-Content-Sha256": "UNSIGNED-PAYLOAD"})
	if status, doc = e.call(t, "POST", infer, "", []byte("\x89PNG raw image"), unsigned); status != 404 || doc["error_code"] != ark.EServiceNotFound {
		t.Fatalf("signed inference call with an unsigned body: %d %v", status, doc)
	}
	if status, doc = e.call(t, "GET", infer, "", nil, e.sdkSign(t, ak, sk, "GET", infer, nil, "")); status != 401 || doc["error_code"] != ark.ETokenNoProject {
		t.Fatalf("signed inference call without a project: %d %v", status, doc)
	}
}

// TestTokenRateLimit: token requests per user and source address are limited (429
// ModelArts.2799 with Retry-After); another user is not affected; the bucket refills.
func TestTokenRateLimit(t *testing.T) {
	now := time.Now()
	clock := func() time.Time { return now }
	e := newAPIEnv(t, func(s *httpapi.Server) { s.TokenBurst, s.TokenRefill, s.Now = 3, 10*time.Second, clock })
	ask := func(user, password string) (int, map[string]any) {
		b, _ := json.Marshal(map[string]any{"auth": map[string]any{"identity": map[string]any{"methods": []string{"password"},
			"password": map[string]any{"user": map[string]any{"name": user, "password": password, "domain": map[string]any{"name": "Default"}}}}}})
		return e.call(t, "POST", "/v3/auth/tokens", "", b, nil)
	}
	for i := range 3 {
		pw := testPassword
		if i == 1 {
			pw = "wrong"
		}
		if status, doc := ask("admin", pw); status != 201 && status != 401 {
			t.Fatalf("attempt %d: %d %v", i, status, doc)
		}
	}
	status, doc := ask("admin", testPassword)
	if status != 429 || doc["error_code"] != ark.ETooManyRequests || !strings.Contains(doc["error_msg"].(string), "try again") {
		t.Fatalf("4th attempt: %d %v", status, doc)
	}
	if status, _ := ask("rita", testPassword); status != 201 {
		t.Fatalf("another user: %d", status)
	}
	now = now.Add(10 * time.Second)
	if status, _ := ask("admin", testPassword); status != 201 {
		t.Fatalf("after a refill: %d", status)
	}
	if status, _ := ask("admin", testPassword); status != 429 {
		t.Fatalf("refilled one only: %d", status)
	}
}

// noBody sends a request whose success has no body and returns the status.
func (e *apiEnv) noBody(t *testing.T, method, path, token string) int {
	t.Helper()
	req, err := http.NewRequest(method, e.url+path, nil)
	must(t, err)
	req.Header.Set("X-Auth-Token", token)
	resp, err := e.http.Do(req)
	must(t, err)
	resp.Body.Close()
	return resp.StatusCode
}
