package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/arkserve/arkserve/internal/ark"
	"github.com/arkserve/arkserve/internal/gateway"
	"github.com/arkserve/arkserve/internal/httpapi"
	"github.com/arkserve/arkserve/internal/iam"
)

// inferEnv is the real server with the gateway, a running service of the default project routed
// to an instance that reports what it received, an unrouted one, and tokens.
type inferEnv struct {
	*testServer
	gw       *gateway.Gateway
	plain    *http.Client // for proxied answers, which the OpenAPI document describes only as "any"
	svc      string       // routed
	unrouted string       // exists, no ready instance
	admin    string
	reader   string
	other    string // admin of another project
	seen     chan received
}

type received struct {
	URI    string
	Header http.Header
	Body   int
}

const inferLimit = 4 << 20

func newInferEnv(t *testing.T, inference bool) *inferEnv {
	t.Helper()
	ctx := context.Background()
	e := &inferEnv{gw: &gateway.Gateway{}, plain: &http.Client{}, seen: make(chan received, 1)}
	e.testServer = startServer(t, "", func(s *httpapi.Server) {
		if inference {
			s.Inference = e.gw
		}
		s.MaxInferBodyBytes = inferLimit
	})
	ids, db := e.IAM, e.DB
	_, err := ids.CreateUser(ctx, "Default", "rita", testPassword)
	must(t, err)
	must(t, ids.AssignRole(ctx, "rita", "default", ark.RoleReader))
	_, err = ids.CreateProject(ctx, "Default", "other", "")
	must(t, err)
	must(t, ids.AssignRole(ctx, "admin", "other", ark.RoleAdmin))
	login := func(user, project string) string {
		tok, _, err := ids.AuthPassword(ctx, iam.PasswordAuth{UserName: user, DomainName: "Default", Password: testPassword,
			Scope: iam.Scope{ProjectName: project, DomainName: "Default"}})
		must(t, err)
		return tok
	}
	e.admin, e.reader, e.other = login("admin", "default"), login("rita", "default"), login("admin", "other")

	m := &ark.Model{ID: ark.NewUUID(), ProjectID: e.ProjectID, Name: "m", Version: "1.0.0", Health: ark.DefaultHealth()}
	must(t, db.CreateModel(ctx, m))
	for _, id := range []*string{&e.svc, &e.unrouted} {
		s := &ark.Service{ID: ark.NewUUID(), ProjectID: e.ProjectID, Name: "s" + ark.NewHexID()[:8], InferType: ark.InferRealTime,
			Config: []ark.ServiceConfig{{ModelID: m.ID, Weight: 100, InstanceCount: 1}}}
		_, err := db.CreateService(ctx, s)
		must(t, err)
		lease, _, err := db.AcquireLease(ctx, s.ID, "test", time.Minute)
		must(t, err)
		must(t, db.SetStatus(ctx, lease, ark.StatusChange{Status: ark.StatusRunning, Progress: 100}))
		*id = s.ID
	}
	inst := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		e.seen <- received{URI: r.RequestURI, Header: r.Header, Body: int(n)}
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "prediction")
	}))
	t.Cleanup(inst.Close)
	e.gw.Publish(e.svc, ark.Route{ProjectID: e.ProjectID, Entries: []ark.RouteEntry{{ModelID: m.ID, Weight: 100,
		Backends: []ark.Backend{{InstanceID: "i1", Addr: inst.Listener.Addr().String()}}}}})
	return e
}

// infer sends a request with token through c and returns the status, the error code (if the body
// is a ModelArts error) and the body.
func (e *inferEnv) infer(t *testing.T, c *http.Client, method, path, token string, body io.Reader, hdr map[string]string) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(method, e.URL+path, body)
	must(t, err)
	if token != "" {
		req.Header.Set("X-Auth-Token", token)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := c.Do(req)
	must(t, err)
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	var eb struct {
		Code string `json:"error_code"`
	}
	if res.Header.Get("Content-Type") == "application/json" {
		_ = json.Unmarshal(raw, &eb)
	}
	return res.StatusCode, eb.Code, string(raw)
}

func TestInference(t *testing.T) {
	e := newInferEnv(t, true)
	unknown := ark.NewUUID()

	// Through the gateway: any role of the project, any method and content type, bodies above
	// the API's 1 MiB limit; the instance sees the path and query, not the token.
	big := bytes.Repeat([]byte("x"), 2<<20)
	for _, c := range []struct {
		method, path, token string
		body                []byte
		wantURI             string
	}{
		{"POST", "/v1/infers/" + e.svc + "/v1/predict?top_k=3&q=a%2Fb", e.admin, big, "/v1/predict?top_k=3&q=a%2Fb"},
		{"GET", "/v1/infers/" + e.svc, e.reader, nil, "/"},
		{"DELETE", "/v1/infers/" + e.svc + "/", e.admin, nil, "/"},
		{"PATCH", "/v1/infers/" + e.svc + "/x", e.admin, []byte("\x89PNG"), "/x"},
	} {
		var body io.Reader
		if c.body != nil {
			body = bytes.NewReader(c.body)
		}
		status, _, got := e.infer(t, e.plain, c.method, c.path, c.token, body, map[string]string{"Content-Type": "image/png",
			"X-Request-Id": "req-1"})
		if status != 200 || got != "prediction" {
			t.Fatalf("%s %s: %d %q; want 200 prediction", c.method, c.path, status, got)
		}
		r := <-e.seen
		if r.URI != c.wantURI || r.Body != len(c.body) {
			t.Errorf("%s %s: instance saw %s with %d bytes; want %s with %d", c.method, c.path, r.URI, r.Body, c.wantURI, len(c.body))
		}
		if r.Header.Get("X-Auth-Token") != "" || r.Header.Get("X-Request-Id") != "req-1" {
			t.Errorf("instance saw X-Auth-Token %q, X-Request-Id %q; want none and req-1", r.Header.Get("X-Auth-Token"), r.Header.Get("X-Request-Id"))
		}
	}

	// Refusals: the ModelArts error body, checked against the OpenAPI document.
	for _, c := range []struct {
		name, method, path, token string
		body                      io.Reader
		status                    int
		code                      string
	}{
		{"no token", "POST", "/v1/infers/" + e.svc + "/predict", "", nil, 401, ark.ETokenMissing},
		{"bad token", "GET", "/v1/infers/" + e.svc, "nope", nil, 401, ark.ETokenInvalid},
		{"other project's service", "POST", "/v1/infers/" + e.svc + "/predict", e.other, nil, 404, ark.EServiceNotFound},
		{"other project's unrouted service", "GET", "/v1/infers/" + e.unrouted, e.other, nil, 404, ark.EServiceNotFound},
		{"unknown service", "GET", "/v1/infers/" + unknown + "/predict", e.admin, nil, 404, ark.EServiceNotFound},
		{"no ready instance", "GET", "/v1/infers/" + e.unrouted + "/predict", e.admin, nil, 503, ark.EUnavailable},
		{"body over the inference limit", "POST", "/v1/infers/" + e.svc + "/predict", e.admin,
			bytes.NewReader(make([]byte, inferLimit+1)), 413, ark.ETooLarge},
		{"chunked body over the limit", "POST", "/v1/infers/" + e.svc + "/predict", e.admin,
			io.MultiReader(bytes.NewReader(make([]byte, inferLimit+1))), 413, ark.ETooLarge},
		{"no service id", "GET", "/v1/infers/", e.admin, nil, 404, ark.ENoRoute},
	} {
		status, code, body := e.infer(t, e.HTTP, c.method, c.path, c.token, c.body, nil)
		if status != c.status || code != c.code {
			t.Errorf("%s: %d %s %s; want %d %s", c.name, status, code, body, c.status, c.code)
		}
		if c.name == "chunked body over the limit" {
			<-e.seen // the instance got the first part of the stream
		}
	}

	// access_address in the service details is the gateway's route for the service.
	status, doc := (&apiEnv{url: e.URL, http: e.HTTP}).call(t, "GET", "/v1/"+e.ProjectID+"/services/"+e.svc, e.admin, nil, nil)
	if want := e.URL + "/v1/infers/" + e.svc; status != 200 || doc["access_address"] != want {
		t.Fatalf("service details: %d access_address %v; want %s", status, doc["access_address"], want)
	}
	if status, _, got := e.infer(t, e.plain, "POST", strings.TrimPrefix(doc["access_address"].(string), e.URL), e.admin, strings.NewReader("{}"), nil); status != 200 || got != "prediction" {
		t.Fatalf("POST access_address: %d %q", status, got)
	}
	<-e.seen
	if st := e.gw.Stats(e.svc); st.Invocations != 6 || st.Failures != 0 {
		t.Errorf("gateway stats %+v; want 6 invocations (the chunked body reached the instance), no failure", st)
	}
}

// TestInferenceStreaming: server-sent events pass the server's middleware unbuffered.
func TestInferenceStreaming(t *testing.T) {
	e := newInferEnv(t, true)
	next := make(chan struct{})
	inst := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: one\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-next:
			io.WriteString(w, "data: two\n\n")
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(inst.Close)
	id := ark.NewUUID()
	e.gw.Publish(id, ark.Route{ProjectID: e.ProjectID, Entries: []ark.RouteEntry{{ModelID: "m", Weight: 100,
		Backends: []ark.Backend{{InstanceID: "sse", Addr: inst.Listener.Addr().String()}}}}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "POST", e.URL+"/v1/infers/"+id+"/stream", strings.NewReader("{}"))
	req.Header.Set("X-Auth-Token", e.admin)
	res, err := e.plain.Do(req)
	must(t, err)
	defer res.Body.Close()
	br := bufio.NewReader(res.Body)
	if line, err := br.ReadString('\n'); err != nil || line != "data: one\n" {
		t.Fatalf("first event %q, %v; want it before the instance sends the second", line, err)
	}
	close(next)
	if rest, err := io.ReadAll(br); err != nil || string(rest) != "\ndata: two\n\n" {
		t.Fatalf("rest %q, %v", rest, err)
	}
}

// TestInferenceDisabled: a server without a gateway answers 503 for its project's services and
// 404 for others.
func TestInferenceDisabled(t *testing.T) {
	e := newInferEnv(t, false)
	if status, code, _ := e.infer(t, e.HTTP, "POST", "/v1/infers/"+e.svc+"/predict", e.admin, nil, nil); status != 503 || code != ark.EUnavailable {
		t.Errorf("own service: %d %s; want 503 %s", status, code, ark.EUnavailable)
	}
	if status, code, _ := e.infer(t, e.HTTP, "POST", "/v1/infers/"+e.svc+"/predict", e.other, nil, nil); status != 404 || code != ark.EServiceNotFound {
		t.Errorf("other project's service: %d %s; want 404 %s", status, code, ark.EServiceNotFound)
	}
}

// TestInferenceOutlivesTimeout: an inference response may stream for longer than the API's
// request timeout.
func TestInferenceOutlivesTimeout(t *testing.T) {
	gw := &gateway.Gateway{}
	env := startServer(t, "", func(s *httpapi.Server) {
		s.Inference = gw
		s.Timeout = 300 * time.Millisecond
	})
	inst := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "data: one\n\n")
		w.(http.Flusher).Flush()
		time.Sleep(time.Second) // longer than the server's Timeout
		io.WriteString(w, "data: two\n\n")
	}))
	t.Cleanup(inst.Close)
	id := ark.NewUUID()
	gw.Publish(id, ark.Route{ProjectID: env.ProjectID, Entries: []ark.RouteEntry{{ModelID: "m", Weight: 100,
		Backends: []ark.Backend{{InstanceID: "slow", Addr: inst.Listener.Addr().String()}}}}})
	req, _ := http.NewRequest("GET", env.URL+"/v1/infers/"+id+"/stream", nil)
	tok, _, err := env.IAM.AuthPassword(context.Background(), iam.PasswordAuth{UserName: "admin", DomainName: "Default",
		Password: testPassword, Scope: iam.Scope{ProjectName: "default", DomainName: "Default"}})
	must(t, err)
	req.Header.Set("X-Auth-Token", tok)
	res, err := http.DefaultClient.Do(req)
	must(t, err)
	defer res.Body.Close()
	if b, err := io.ReadAll(res.Body); err != nil || string(b) != "data: one\n\ndata: two\n\n" {
		t.Fatalf("body %q, %v; want both events", b, err)
	}
}
