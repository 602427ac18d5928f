package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	"github.com/gophercloud/gophercloud/v2/openstack"
	hc "github.com/huaweicloud/huaweicloud-sdk-go-v3/core"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/auth/basic"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/config"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/def"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/sdkerr"
)

// The ModelArts v1 calls as request definitions of the Huawei Cloud Go SDK (core), sent by its
// HcHttpClient, signed with AK/SK by its signer. {project_id} is filled in by the credentials.

type sdkRequest struct {
	ServiceID  string  `json:"service_id"`
	UpdateTime *string `json:"update_time,omitempty"`
	Body       *string `json:"body,omitempty"`
}

type sdkResponse struct {
	HttpStatusCode int     `json:"-"`
	Body           *string `json:"body,omitempty"`
}

func sdkDef(method, path string) *def.HttpRequestDef {
	b := def.NewHttpRequestDefBuilder().WithMethod(method).WithPath(path).WithResponse(new(sdkResponse)).
		WithContentType("application/json;charset=UTF-8")
	b.WithRequestField(def.NewFieldDef().WithName("ServiceID").WithJsonTag("service_id").WithLocationType(def.Path))
	b.WithRequestField(def.NewFieldDef().WithName("UpdateTime").WithJsonTag("update_time").WithLocationType(def.Query))
	b.WithRequestField(def.NewFieldDef().WithName("Body").WithJsonTag("body").WithLocationType(def.Body))
	b.WithResponseField(def.NewFieldDef().WithName("Body").WithJsonTag("body").WithLocationType(def.Body))
	return b.Build()
}

const sdkService = "/v1/{project_id}/services/{service_id}"

func sdkDeploy() *def.HttpRequestDef { return sdkDef(http.MethodPost, "/v1/{project_id}/services") }
func sdkShow() *def.HttpRequestDef   { return sdkDef(http.MethodGet, sdkService) }
func sdkUpdate() *def.HttpRequestDef { return sdkDef(http.MethodPut, sdkService) }
func sdkDelete() *def.HttpRequestDef { return sdkDef(http.MethodDelete, sdkService) }
func sdkLogs() *def.HttpRequestDef   { return sdkDef(http.MethodGet, sdkService+"/logs") }
func sdkEvents() *def.HttpRequestDef { return sdkDef(http.MethodGet, sdkService+"/events") }

// newSDKClient builds an HcHttpClient for the loopback server. It always has a project id
// (without one the SDK asks the cloud's IAM for it) and a key pair (without one it asks a cloud
// metadata address), so it never leaves loopback.
func newSDKClient(t *testing.T, base, ak, sk, projectID string) *hc.HcHttpClient {
	t.Helper()
	cred, err := basic.NewCredentialsBuilder().WithAk(ak).WithSk(sk).WithProjectId(projectID).SafeBuild()
	if err != nil {
		t.Fatal(err)
	}
	cfg := config.DefaultHttpConfig().WithTimeout(30 * time.Second).WithRetries(0)
	c, err := hc.NewHcHttpClientBuilder().WithEndpoints([]string{base}).WithCredential(cred).WithHttpConfig(cfg).SafeBuild()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// sdkCall sends one request and returns the raw body; errors are the SDK's.
func sdkCall(c *hc.HcHttpClient, d *def.HttpRequestDef, req *sdkRequest) (int, string, error) {
	resp, err := c.Sync(req, d)
	if err != nil {
		return 0, "", err
	}
	r := resp.(*sdkResponse)
	body := ""
	if r.Body != nil {
		body = *r.Body
	}
	return r.HttpStatusCode, body, nil
}

func str(s string) *string { return &s }

// TestHuaweiSDK: the official Huawei Cloud Go SDK, signing with an access key made through the
// IAM API, deploys, shows, updates, reads logs (all, and one by update_time) and events, and
// deletes a service on a real server; errors surface as sdkerr.ServiceResponseError with the
// status, code and message. gophercloud (token auth) reads the same update logs.
func TestHuaweiSDK(t *testing.T) {
	t.Setenv("ARKSERVE_ADMIN_PASSWORD", testPassword)
	m := MustRunMain(t, dataDir(t))
	defer m.Close()
	c := newClient(t, m)
	pid := c.login()
	// An access key for the admin, through the IAM API with the token.
	status, _, doc := c.do("POST", "/v3.0/OS-CREDENTIAL/credentials", map[string]any{"credential": map[string]any{
		"user_id": userIDOf(t, c), "description": "sdk test"}})
	if status != http.StatusCreated {
		t.Fatalf("create access key: %d %v", status, doc)
	}
	ak, sk := obj(doc, "credential", "access").(string), obj(doc, "credential", "secret").(string)
	sdk := newSDKClient(t, c.base, ak, sk, pid)

	mid := c.createModel(pid, "mnist", "1.0.0", httpServerCmd)
	cfg := func(n int) string {
		b, _ := json.Marshal([]any{map[string]any{"model_id": mid, "weight": 100, "specification": "arkserve.local.small", "instance_count": n}})
		return string(b)
	}
	st, body, err := sdkCall(sdk, sdkDeploy(), &sdkRequest{Body: str(`{"infer_type":"real-time","service_name":"sdk","config":` + cfg(1) + `}`)})
	if err != nil || st != http.StatusOK {
		t.Fatalf("deploy: %d %s %v", st, body, err)
	}
	var created struct {
		ServiceID string `json:"service_id"`
	}
	if err := json.Unmarshal([]byte(body), &created); err != nil || created.ServiceID == "" {
		t.Fatalf("deploy answer %s: %v", body, err)
	}
	sid := created.ServiceID
	c.waitFinal(pid, sid)
	st, body, err = sdkCall(sdk, sdkShow(), &sdkRequest{ServiceID: sid})
	if err != nil || st != http.StatusOK || obj(decode(t, body), "service_name") != "sdk" {
		t.Fatalf("show: %d %s %v", st, body, err)
	}
	st, body, err = sdkCall(sdk, sdkUpdate(), &sdkRequest{ServiceID: sid, Body: str(`{"config":` + cfg(2) + `}`)})
	if err != nil || st != http.StatusOK || body != "{}" {
		t.Fatalf("update: %d %s %v", st, body, err)
	}
	c.waitFinal(pid, sid)

	st, sdkLogsBody, err := sdkCall(sdk, sdkLogs(), &sdkRequest{ServiceID: sid})
	if err != nil || st != http.StatusOK {
		t.Fatalf("logs: %d %s %v", st, sdkLogsBody, err)
	}
	logs, _ := obj(decode(t, sdkLogsBody), "logs").([]any)
	if len(logs) != 2 || obj(logs[0], "result") != "SUCCESS" || obj(logs[1], "result") != "SUCCESS" {
		t.Fatalf("logs through the SDK: %s", sdkLogsBody)
	}
	older := obj(logs[1], "update_time").(json.Number).String()
	st, body, err = sdkCall(sdk, sdkLogs(), &sdkRequest{ServiceID: sid, UpdateTime: str(older)})
	one, _ := obj(decode(t, body), "logs").([]any)
	if err != nil || st != http.StatusOK || len(one) != 1 || obj(one[0], "update_time").(json.Number).String() != older {
		t.Fatalf("logs?update_time=%s: %d %s %v", older, st, body, err)
	}
	st, body, err = sdkCall(sdk, sdkEvents(), &sdkRequest{ServiceID: sid})
	if err != nil || st != http.StatusOK {
		t.Fatalf("events: %d %s %v", st, body, err)
	}
	if n, _ := strconv.Atoi(obj(decode(t, body), "total_count").(json.Number).String()); n < 2 {
		t.Fatalf("events: %s", body)
	}

	// gophercloud, with a Keystone token, sees the same update logs.
	ctx := context.Background()
	provider, err := openstack.AuthenticatedClient(ctx, gophercloud.AuthOptions{
		IdentityEndpoint: c.base + "/v3", Username: "admin", Password: testPassword, DomainName: "Default", TenantName: "default"})
	if err != nil {
		t.Fatal(err)
	}
	sc := &gophercloud.ServiceClient{ProviderClient: provider, Endpoint: c.base + "/v1/" + pid + "/", Type: "modelarts"}
	var viaGC any
	if _, err := sc.Get(ctx, sc.ServiceURL("services", sid, "logs"), &viaGC, nil); err != nil {
		t.Fatal(err)
	}
	gcJSON, _ := json.Marshal(viaGC)
	sdkJSON, _ := json.Marshal(decode(t, sdkLogsBody))
	if string(gcJSON) != string(sdkJSON) {
		t.Fatalf("update logs differ:\ngophercloud %s\nSDK         %s", gcJSON, sdkJSON)
	}

	// Errors: status, code and message reach the SDK's ServiceResponseError.
	wantErr := func(name string, err error, status int, code string) {
		t.Helper()
		var se *sdkerr.ServiceResponseError
		if !errors.As(err, &se) || se.StatusCode != status || se.ErrorCode != code || se.ErrorMessage == "" || se.RequestId == "" {
			t.Fatalf("%s: %#v; want ServiceResponseError %d %s with a message", name, err, status, code)
		}
	}
	_, _, err = sdkCall(sdk, sdkShow(), &sdkRequest{ServiceID: "195c1f2d-136d-40af-a0f3-db5717d2634a"})
	wantErr("unknown service", err, http.StatusNotFound, "ModelArts.3502")
	_, _, err = sdkCall(sdk, sdkUpdate(), &sdkRequest{ServiceID: sid, Body: str(`{"config":[{"model_id":"` + mid + `","weight":50,"specification":"arkserve.local.small","instance_count":1}]}`)})
	wantErr("weights not 100", err, http.StatusBadRequest, "ModelArts.3037")
	wrong := newSDKClient(t, c.base, ak, sk[:len(sk)-1]+"x", pid)
	_, _, err = sdkCall(wrong, sdkShow(), &sdkRequest{ServiceID: sid})
	wantErr("wrong secret", err, http.StatusUnauthorized, "ModelArts.0203")
	otherProject := newSDKClient(t, c.base, ak, sk, "0123456789abcdef0123456789abcdef")
	_, _, err = sdkCall(otherProject, sdkShow(), &sdkRequest{ServiceID: sid})
	wantErr("project without a role", err, http.StatusForbidden, "ModelArts.0210")

	st, body, err = sdkCall(sdk, sdkDelete(), &sdkRequest{ServiceID: sid})
	if err != nil || st != http.StatusOK || body != "{}" {
		t.Fatalf("delete: %d %s %v", st, body, err)
	}
	_, _, err = sdkCall(sdk, sdkShow(), &sdkRequest{ServiceID: sid})
	wantErr("deleted service", err, http.StatusNotFound, "ModelArts.3502")

	// A deleted key signs nothing any more.
	status, _, doc = c.do("DELETE", "/v3.0/OS-CREDENTIAL/credentials/"+ak, nil)
	if status != http.StatusNoContent {
		t.Fatalf("delete access key: %d %v", status, doc)
	}
	_, _, err = sdkCall(sdk, sdkShow(), &sdkRequest{ServiceID: sid})
	wantErr("deleted key", err, http.StatusUnauthorized, "ModelArts.0203")
}

func decode(t *testing.T, body string) any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(body))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("not JSON: %q", body)
	}
	return v
}

// userIDOf returns the id of the user of c's token.
func userIDOf(t *testing.T, c *client) string {
	t.Helper()
	req, err := http.NewRequest("GET", c.base+"/v3/auth/tokens", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Auth-Token", c.token)
	req.Header.Set("X-Subject-Token", c.token)
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var v struct {
		Token struct {
			User struct {
				ID string `json:"id"`
			} `json:"user"`
		} `json:"token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil || v.Token.User.ID == "" {
		t.Fatalf("validate token: %v %+v", err, v)
	}
	return v.Token.User.ID
}
