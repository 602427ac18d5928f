package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/arkserve/arkserve/internal/httpapi"
)

// clientTestServer is a test server as the client tests see it.
type clientTestServer struct {
	URL  string
	HTTP *http.Client // validates every response against the OpenAPI document
}

func newClientTestServer(t *testing.T) *clientTestServer {
	t.Helper()
	s := startServer(t, "")
	return &clientTestServer{URL: s.URL, HTTP: s.HTTP}
}

// login returns a client with an admin token and the default project's id.
func (s *clientTestServer) login(t *testing.T) (*httpapi.Client, string) {
	t.Helper()
	c := &httpapi.Client{BaseURL: s.URL, HTTP: s.HTTP}
	tok, pid, err := c.Login(context.Background(), "admin", testPassword, "Default", "default")
	if err != nil {
		t.Fatal(err)
	}
	c.Token = tok
	return c, pid
}

// wantAPIError checks that err is an *APIError with the status and code.
func wantAPIError(t *testing.T, err error, status int, code string) *httpapi.APIError {
	t.Helper()
	var ae *httpapi.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("err = %v (%T), want *APIError %d %s", err, err, status, code)
	}
	if ae.Status != status || ae.Code != code || ae.Message == "" {
		t.Fatalf("err = %+v, want status %d code %s and a message", ae, status, code)
	}
	return ae
}

func TestClientLogin(t *testing.T) {
	s := newClientTestServer(t)
	ctx := context.Background()
	c := &httpapi.Client{BaseURL: s.URL + "/", HTTP: s.HTTP} // a trailing slash is fine
	res, err := c.Authenticate(ctx, "admin", testPassword, "Default", "default")
	if err != nil {
		t.Fatal(err)
	}
	if res.Token == "" || !regexp.MustCompile(`^[0-9a-f]{32}$`).MatchString(res.ProjectID) {
		t.Fatalf("Authenticate = %+v, want a token and a 32-hex project id", res)
	}
	if d := time.Until(res.ExpiresAt); d < 23*time.Hour || d > 25*time.Hour {
		t.Errorf("ExpiresAt = %v, want about 24h from now", res.ExpiresAt)
	}
	if c.Token != "" {
		t.Error("Authenticate set c.Token")
	}

	for _, tc := range []struct {
		name, user, password, domain, project string
	}{
		{"wrong password", "admin", "nope", "Default", "default"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := c.Login(ctx, tc.user, tc.password, tc.domain, tc.project)
			var ae *httpapi.APIError
			if !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized || ae.Message == "" {
				t.Fatalf("err = %v, want a 401 APIError with a message", err)
			}
		})
	}
}

// TestClientCalls walks every ModelArts call of the client against the real server.
func TestClientCalls(t *testing.T) {
	s := newClientTestServer(t)
	c, pid := s.login(t)
	ctx := context.Background()
	dir := t.TempDir() // a model source; nothing runs it here

	for _, tc := range []struct {
		name   string
		client *httpapi.Client
		pid    string
		status int
		code   string
	}{
		{"no token", &httpapi.Client{BaseURL: s.URL, HTTP: s.HTTP}, pid, 401, "ModelArts.0201"},
		{"bad token", &httpapi.Client{BaseURL: s.URL, HTTP: s.HTTP, Token: "garbage"}, pid, 401, "ModelArts.0203"},
		{"other project", c, strings.Repeat("0", 32), 403, "ModelArts.0210"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := tc.client.ListServices(ctx, tc.pid, nil)
			wantAPIError(t, err, tc.status, tc.code)
		})
	}

	cfg := `{"model_type":"Image","cmd":"exec python3 -m http.server \"$PORT\"","health":{"url":"/"}}`
	m1, err := c.CreateModel(ctx, pid, httpapi.ModelRequest{ModelName: "digits", ModelVersion: "1.0.0",
		SourceLocation: dir, ModelType: "Image", Description: "first", InitialConfig: cfg})
	if err != nil {
		t.Fatal(err)
	}
	m2, err := c.CreateModel(ctx, pid, httpapi.ModelRequest{ModelName: "digits", ModelVersion: "1.0.1",
		SourceLocation: "file://" + dir, ModelType: "Image", InitialConfig: cfg})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.CreateModel(ctx, pid, httpapi.ModelRequest{ModelName: "digits", ModelVersion: "1.0.0",
		SourceLocation: dir, ModelType: "Image", InitialConfig: cfg})
	wantAPIError(t, err, http.StatusConflict, "ModelArts.3002")

	list, raw, err := c.ListModels(ctx, pid, url.Values{"model_name": {"digits"}, "limit": {"1"}})
	if err != nil {
		t.Fatal(err)
	}
	if list.TotalCount != 2 || list.Count != 1 || len(list.Models) != 1 || !json.Valid(raw) {
		t.Fatalf("ListModels = %+v (%s)", list, raw)
	}
	m, raw, err := c.ShowModel(ctx, pid, m1)
	if err != nil {
		t.Fatal(err)
	}
	if m.ModelID != m1 || m.ModelName != "digits" || m.ModelVersion != "1.0.0" || m.Description != "first" ||
		m.SourceLocation != dir || !strings.Contains(m.Cmd, "http.server") || !bytes.Contains(raw, []byte(`"model_id":"`+m1+`"`)) {
		t.Fatalf("ShowModel = %+v\n%s", m, raw)
	}
	_, _, err = c.ShowModel(ctx, pid, "00000000-0000-0000-0000-000000000000")
	wantAPIError(t, err, http.StatusNotFound, "ModelArts.3001")

	svcID, err := c.DeployService(ctx, pid, httpapi.DeployRequest{ServiceName: "digits-svc", InferType: "real-time",
		Description: "svc", Config: []httpapi.ServiceConfigRequest{{ModelID: m1, Weight: 100,
			Specification: "modelarts.vm.cpu.2u", InstanceCount: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	// A raw body goes out unchanged.
	_, err = c.DeployService(ctx, pid, json.RawMessage(`{"service_name":"digits-svc","infer_type":"real-time","config":[{"model_id":"`+
		m1+`","weight":"100","specification":"modelarts.vm.cpu.2u","instance_count":1}]}`))
	wantAPIError(t, err, http.StatusConflict, "ModelArts.3503")
	_, err = c.DeployService(ctx, pid, map[string]any{"service_name": "other", "infer_type": "real-time",
		"config": []map[string]any{{"model_id": "00000000-0000-0000-0000-000000000000", "weight": 100,
			"specification": "modelarts.vm.cpu.2u", "instance_count": 1}}})
	wantAPIError(t, err, http.StatusNotFound, "ModelArts.3507")

	svcs, raw, err := c.ListServices(ctx, pid, url.Values{"service_name": {"digits"}})
	if err != nil {
		t.Fatal(err)
	}
	if svcs.TotalCount != 1 || svcs.Services[0].ServiceID != svcID || svcs.Services[0].InferType != "real-time" || !json.Valid(raw) {
		t.Fatalf("ListServices = %+v", svcs)
	}
	svc, raw, err := c.ShowService(ctx, pid, svcID)
	if err != nil {
		t.Fatal(err)
	}
	if svc.ServiceName != "digits-svc" || len(svc.Config) != 1 || svc.Config[0].ModelID != m1 || svc.Config[0].Weight != 100 ||
		!bytes.Contains(raw, []byte(svcID)) {
		t.Fatalf("ShowService = %+v", svc)
	}

	logs, raw, err := c.ServiceLogs(ctx, pid, svcID, nil)
	if err != nil {
		t.Fatal(err)
	}
	if logs.ServiceID != svcID || logs.ServiceName != "digits-svc" || len(logs.Logs) != 1 {
		t.Fatalf("ServiceLogs = %+v", logs)
	}
	e := logs.Logs[0]
	if e.Result != "RUNNING" || e.UpdateTime == 0 || len(e.Config) != 1 || e.Config[0].ModelName != "digits" ||
		e.Config[0].ModelVersion != "1.0.0" || e.Config[0].InstanceCount != 1 {
		t.Fatalf("log entry = %+v", e)
	}
	// The raw bytes are the response itself: they decode to the same thing.
	var again httpapi.UpdateLogs
	if err := json.Unmarshal(raw, &again); err != nil || again.Logs[0].UpdateTime != e.UpdateTime {
		t.Fatalf("raw logs %s: %v", raw, err)
	}
	one, _, err := c.ServiceLogs(ctx, pid, svcID, &e.UpdateTime)
	if err != nil || len(one.Logs) != 1 || one.Logs[0].UpdateTime != e.UpdateTime {
		t.Fatalf("ServiceLogs(update_time) = %+v, %v", one, err)
	}
	other := e.UpdateTime + 1
	none, raw, err := c.ServiceLogs(ctx, pid, svcID, &other)
	if err != nil || len(none.Logs) != 0 || !bytes.Contains(raw, []byte(`"logs":[]`)) {
		t.Fatalf("ServiceLogs(other time) = %+v %s, %v", none, raw, err)
	}
	_, _, err = c.ServiceLogs(ctx, pid, "00000000-0000-0000-0000-000000000000", nil)
	wantAPIError(t, err, http.StatusNotFound, "ModelArts.3502")

	// Without an engine the deployment stays running, so a config update is refused...
	err = c.UpdateService(ctx, pid, svcID, httpapi.UpdateRequest{Config: []httpapi.ServiceConfigRequest{
		{ModelID: m2, Weight: 100, Specification: "modelarts.vm.cpu.2u", InstanceCount: 1}}})
	wantAPIError(t, err, http.StatusBadRequest, "ModelArts.3519")
	// ...but a description is not a configuration change.
	d := "new description"
	if err := c.UpdateService(ctx, pid, svcID, httpapi.UpdateRequest{Description: &d}); err != nil {
		t.Fatal(err)
	}
	if svc, _, err := c.ShowService(ctx, pid, svcID); err != nil || svc.Description != d {
		t.Fatalf("after update: %+v, %v", svc, err)
	}
	err = c.UpdateService(ctx, pid, svcID, httpapi.UpdateRequest{Status: "paused"})
	if ae := (*httpapi.APIError)(nil); !errors.As(err, &ae) || ae.Status != http.StatusBadRequest || !strings.HasPrefix(ae.Code, "ModelArts.") {
		t.Fatalf("status paused: err = %v, want a 400 ModelArts error", err)
	}

	events, raw, err := c.ServiceEvents(ctx, pid, svcID, url.Values{"order": {"asc"}})
	if err != nil || events.ServiceID != svcID || events.Count != len(events.Events) || !json.Valid(raw) {
		t.Fatalf("ServiceEvents = %+v, %v", events, err)
	}

	// A model in use is not deleted; the API says so in delete_failed_list.
	del, err := c.DeleteModel(ctx, pid, m1, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(del.DeleteSuccessList) != 0 || len(del.DeleteFailedList) != 1 || del.DeleteFailedList[0].ErrorCode != "ModelArts.3009" {
		t.Fatalf("DeleteModel(in use) = %+v", del)
	}

	err = c.DeleteService(ctx, pid, svcID, "00000000-0000-0000-0000-000000000000")
	wantAPIError(t, err, http.StatusNotFound, "ModelArts.3502")
	if err := c.DeleteService(ctx, pid, svcID); err != nil {
		t.Fatal(err)
	}
	_, _, err = c.ShowService(ctx, pid, svcID)
	ae := wantAPIError(t, err, http.StatusNotFound, "ModelArts.3502")
	if got := ae.Error(); !strings.HasPrefix(got, "ModelArts.3502: ") || !strings.HasSuffix(got, " (HTTP 404)") {
		t.Errorf("Error() = %q", got)
	}

	// m2 was never used. (m1 stays "in use" until the engine purges the deleted service, and
	// this server runs without one.)
	del, err = c.DeleteModel(ctx, pid, m2, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(del.DeleteSuccessList) != 1 || del.DeleteSuccessList[0] != m2 || len(del.DeleteFailedList) != 0 {
		t.Fatalf("DeleteModel(unused) = %+v", del)
	}
	if list, _, err := c.ListModels(ctx, pid, nil); err != nil || list.TotalCount != 1 || list.Models[0].ModelID != m1 {
		t.Fatalf("models after delete: %+v, %v", list, err)
	}
}

// TestAPIErrorBodies covers error responses that are not the server's own: the client still
// returns an *APIError with the status and what it could read.
func TestAPIErrorBodies(t *testing.T) {
	for _, tc := range []struct {
		name        string
		status      int
		contentType string
		body        string
		code, msg   string
		text        string
	}{
		{"modelarts", 404, "application/json", `{"error_code":"ModelArts.3502","error_msg":"Service x does not exist."}`,
			"ModelArts.3502", "Service x does not exist.", "ModelArts.3502: Service x does not exist. (HTTP 404)"},
		{"keystone", 401, "application/json", `{"error":{"code":401,"title":"Unauthorized","message":"The request you have made requires authentication."}}`,
			"", "The request you have made requires authentication.", "The request you have made requires authentication. (HTTP 401)"},
		{"text", 502, "text/plain", "upstream down\n", "", "Bad Gateway: upstream down", "Bad Gateway: upstream down (HTTP 502)"},
		{"empty", 503, "", "", "", "", "Service Unavailable (HTTP 503)"},
		{"other json", 500, "application/json", `{"message":"boom"}`, "", `Internal Server Error: {"message":"boom"}`,
			`Internal Server Error: {"message":"boom"} (HTTP 500)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if tc.contentType != "" {
					w.Header().Set("Content-Type", tc.contentType)
				}
				w.WriteHeader(tc.status)
				w.Write([]byte(tc.body))
			}))
			defer hs.Close()
			c := &httpapi.Client{BaseURL: hs.URL, Token: "t"}
			_, _, err := c.ShowService(context.Background(), "p", "s")
			var ae *httpapi.APIError
			if !errors.As(err, &ae) {
				t.Fatalf("err = %v", err)
			}
			if ae.Status != tc.status || ae.Code != tc.code || ae.Message != tc.msg || ae.Error() != tc.text {
				t.Fatalf("APIError = %+v %q", ae, ae.Error())
			}
		})
	}
}

// TestClientRequests checks what the client sends: paths with escaped ids, the token, JSON bodies.
func TestClientRequests(t *testing.T) {
	type seen struct{ method, path, query, token, ctype, body string }
	var got []seen
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var b bytes.Buffer
		b.ReadFrom(r.Body)
		got = append(got, seen{r.Method, r.URL.EscapedPath(), r.URL.RawQuery, r.Header.Get("X-Auth-Token"),
			r.Header.Get("Content-Type"), b.String()})
		w.Write([]byte(`{}`))
	}))
	defer hs.Close()
	c := &httpapi.Client{BaseURL: hs.URL, Token: "tok"}
	ctx := context.Background()
	ut := int64(1574770228888)
	c.ServiceLogs(ctx, "p1", "s/1", &ut)
	c.DeleteService(ctx, "p1", "a", "b")
	c.UpdateService(ctx, "p1", "a", httpapi.UpdateRequest{Status: "stopped"})
	c.DeleteModel(ctx, "p1", "m", true)
	want := []seen{
		{"GET", "/v1/p1/services/s%2F1/logs", "update_time=1574770228888", "tok", "", ""},
		{"DELETE", "/v1/p1/services/a,b", "", "tok", "", ""},
		{"PUT", "/v1/p1/services/a", "", "tok", "application/json", `{"status":"stopped"}`},
		{"DELETE", "/v1/p1/models/m", "cascade=true", "tok", "", ""},
	}
	if len(got) != len(want) {
		t.Fatalf("requests = %+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("request %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}
