package iam_test

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net/http"
	"os"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/auth/signer"
	"github.com/huaweicloud/huaweicloud-sdk-go-v3/core/request"

	"github.com/arkserve/arkserve/internal/ark"
	"github.com/arkserve/arkserve/internal/iam"
)

// sdkRequest is a request as the Huawei Cloud SDK signs it (its own signer, core/auth/signer),
// passed through the HTTP wire format and read back as a server reads it.
type sdkRequest struct {
	method, path string
	query        map[string]string
	header       map[string]string
	body         any
}

func (s sdkRequest) sign(t *testing.T, ak, sk string) *http.Request {
	t.Helper()
	b := request.NewHttpRequestBuilder().WithEndpoint("http://127.0.0.1:8111").WithPath(s.path).WithMethod(s.method)
	for k, v := range s.query {
		b.AddQueryParam(k, reflect.ValueOf(v))
	}
	for k, v := range s.header {
		b.AddHeaderParam(k, v)
	}
	if s.body != nil {
		b.WithBody("application/json", s.body)
	}
	req := b.Build()
	hdrs, err := signer.Sign(req, ak, sk)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdrs {
		req.AddHeaderParam(k, v)
	}
	hr, err := req.ConvertRequest()
	if err != nil {
		t.Fatal(err)
	}
	var wire bytes.Buffer
	if err := hr.Write(&wire); err != nil {
		t.Fatal(err)
	}
	sr, err := http.ReadRequest(bufio.NewReader(&wire))
	if err != nil {
		t.Fatal(err)
	}
	return sr
}

func signedRequest(t *testing.T, r *http.Request) *iam.SignedRequest {
	t.Helper()
	body, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return &iam.SignedRequest{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Host: r.Host, Header: r.Header, Body: body}
}

// TestSignatureSDK: requests signed by the SDK's own signer verify; each kind of tampering,
// replay, skew, unknown or deleted key fails with 401 ModelArts.0203; a project without a role
// is 403 ModelArts.0210.
func TestSignatureSDK(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	e.clock.t = time.Now().UTC() // the SDK signer stamps X-Sdk-Date with the real clock
	k, sk, err := e.svc.CreateAccessKey(ctx, "admin", "ci")
	if err != nil {
		t.Fatal(err)
	}
	if len(k.ID) != 20 || len(sk) != 40 || k.SealedSecret != nil {
		t.Fatalf("CreateAccessKey = %+v, %q", k, sk)
	}
	proj, err := e.db.FindProjectByName(ctx, ark.DefaultDomainID, ark.DefaultProject)
	if err != nil || proj == nil {
		t.Fatal(proj, err)
	}
	pid := proj.ID
	other, err := e.svc.CreateProject(ctx, "Default", "other", "")
	if err != nil {
		t.Fatal(err)
	}
	post := sdkRequest{method: "POST", path: "/v1/" + pid + "/services",
		header: map[string]string{"X-Project-Id": pid, "Content-Type": "application/json;charset=UTF-8"},
		body:   map[string]any{"service_name": "s ü/é", "config": []any{map[string]any{"weight": 100}}}}
	get := sdkRequest{method: "GET", path: "/v1/" + pid + "/services/a b%c/logs",
		query:  map[string]string{"update_time": "1574770228888", "q": "a+b c/é&=", "empty": ""},
		header: map[string]string{"X-Project-Id": pid}}

	verify := func(r *http.Request, project string) (*ark.Principal, error) {
		return e.svc.VerifySignature(ctx, signedRequest(t, r), project)
	}
	loopPost := post
	loopPost.header = map[string]string{"X-Project-Id": pid, "Content-Type": "application/json", "X-Client": "loop"}
	for _, rq := range []sdkRequest{loopPost, get} {
		p, err := verify(rq.sign(t, k.ID, sk), pid)
		if err != nil {
			t.Fatalf("%s %s: %v", rq.method, rq.path, err)
		}
		if p.UserName != "admin" || p.ProjectID != pid || !p.HasRole(ark.RoleAdmin) {
			t.Fatalf("principal = %+v", p)
		}
	}
	// A GET may come twice in a second (same signature); a POST may not.
	g := get.sign(t, k.ID, sk)
	g2 := g.Clone(ctx)
	if _, err := verify(g, pid); err != nil {
		t.Fatal(err)
	}
	if _, err := verify(g2, pid); err != nil {
		t.Fatalf("repeated GET: %v", err)
	}
	p1 := post.sign(t, k.ID, sk)
	body, _ := io.ReadAll(p1.Body)
	p1.Body = io.NopCloser(bytes.NewReader(body))
	if _, err := verify(p1, pid); err != nil {
		t.Fatal(err)
	}
	p1.Body = io.NopCloser(bytes.NewReader(body))
	mustCode(t, errOf(verify(p1, pid)), ark.ETokenInvalid)

	tamper := map[string]func(r *http.Request){
		"method":      func(r *http.Request) { r.Method = "PUT" },
		"path":        func(r *http.Request) { r.URL.Path += "x" },
		"query added": func(r *http.Request) { r.URL.RawQuery += "&x=1" },
		"query value": func(r *http.Request) {
			r.URL.RawQuery = strings.Replace(r.URL.RawQuery, "1574770228888", "1574770228889", 1)
		},
		"project header": func(r *http.Request) { r.Header.Set("X-Project-Id", other.ID) },
		"date": func(r *http.Request) {
			r.Header.Set("X-Sdk-Date", time.Now().UTC().Add(time.Second).Format(iam.SdkDateFormat))
		},
		"no date": func(r *http.Request) { r.Header.Del("X-Sdk-Date") },
		"signature": func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), "Signature=", "Signature=0", 1)[:len(r.Header.Get("Authorization"))])
		},
		"unknown key": func(r *http.Request) {
			r.Header.Set("Authorization", strings.Replace(r.Header.Get("Authorization"), k.ID, "AAAAAAAAAAAAAAAAAAAA", 1))
		},
		"unsigned body":  func(r *http.Request) { r.Header.Set("X-Sdk-Content-Sha256", iam.UnsignedPayload) },
		"security token": func(r *http.Request) { r.Header.Set("X-Security-Token", "x") },
		"bad query":      func(r *http.Request) { r.URL.RawQuery += "&%zz" },
	}
	for name, f := range tamper {
		r := get.sign(t, k.ID, sk)
		f(r)
		if _, err := verify(r, pid); ark.ErrorCode(err) != ark.ETokenInvalid {
			t.Errorf("%s: error %v; want %s", name, err, ark.ETokenInvalid)
		}
	}
	// The body is covered.
	r := post.sign(t, k.ID, sk)
	r.Body = io.NopCloser(strings.NewReader(`{"service_name":"evil"}`))
	mustCode(t, errOf(verify(r, pid)), ark.ETokenInvalid)

	// A project the user holds no role on is 403.
	u, err := e.svc.CreateUser(ctx, "Default", "bob", "bob-password-1")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.AssignRole(ctx, "bob", "other", ark.RoleReader); err != nil {
		t.Fatal(err)
	}
	bk, bsk, err := e.svc.CreateAccessKey(ctx, u.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	mustCode(t, errOf(verify(get.sign(t, bk.ID, bsk), pid)), ark.EProjectMismatch)
	if p, err := verify(get.sign(t, bk.ID, bsk), ""); err != nil || p.ProjectID != "" || p.UserName != "bob" {
		t.Fatalf("no project: %+v, %v", p, err)
	}

	// Skew: 15 minutes either way pass, one second more does not.
	for _, d := range []time.Duration{MaxSkew, -MaxSkew} {
		r := get.sign(t, k.ID, sk)
		at, err := time.Parse(iam.SdkDateFormat, r.Header.Get("X-Sdk-Date"))
		if err != nil {
			t.Fatal(err)
		}
		e.clock.t = at.Add(d)
		if _, err := verify(r.Clone(ctx), pid); err != nil {
			t.Fatalf("skew %v: %v", d, err)
		}
		e.clock.t = at.Add(d + d/time.Duration(abs(int64(d)))*time.Second)
		mustCode(t, errOf(verify(r, pid)), ark.ETokenInvalid)
	}
	e.clock.t = time.Now().UTC()

	// Limit and deletion.
	if _, _, err := e.svc.CreateAccessKey(ctx, "admin", ""); err != nil {
		t.Fatal(err)
	}
	_, _, err = e.svc.CreateAccessKey(ctx, "admin", "")
	mustCode(t, err, ark.EInvalidParam)
	ks, err := e.svc.ListAccessKeys(ctx, "admin")
	if err != nil || len(ks) != 2 || ks[0].ID != k.ID || ks[0].SealedSecret != nil {
		t.Fatalf("ListAccessKeys = %v, %v", ks, err)
	}
	if err := e.svc.DeleteAccessKey(ctx, k.ID); err != nil {
		t.Fatal(err)
	}
	mustCode(t, e.svc.DeleteAccessKey(ctx, k.ID), ark.EAccessKeyNotFound)
	mustCode(t, errOf(verify(get.sign(t, k.ID, sk), pid)), ark.ETokenInvalid)

	// The secret is not in the database file in plain text; another server key cannot open it.
	raw, err := os.ReadFile(e.path)
	if err != nil {
		t.Fatal(err)
	}
	wal, _ := os.ReadFile(e.path + "-wal")
	if bytes.Contains(raw, []byte(bsk)) || bytes.Contains(wal, []byte(bsk)) {
		t.Fatal("the secret key is stored in plain text")
	}
	// A server with another master key refuses to start on this database rather than lose them.
	key2 := bytes.Clone(e.key)
	key2[0] ^= 1
	s2 := &iam.Service{Store: e.db, Key: key2, Now: e.clock.Now}
	if err := s2.Open(ctx); err == nil || !strings.Contains(err.Error(), "master key") {
		t.Fatalf("Open with another master key = %v; want a master key error", err)
	}
}

const MaxSkew = iam.MaxClockSkew

func abs(x int64) int64 {
	if x < 0 {
		return -x
	}
	return x
}

func errOf[T any](_ T, err error) error { return err }

// TestParseAuthorization: the header grammar.
func TestParseAuthorization(t *testing.T) {
	sig := strings.Repeat("ab", 32)
	ok := []string{
		"SDK-HMAC-SHA256 Access=AK1, SignedHeaders=host;x-sdk-date, Signature=" + sig,
		"SDK-HMAC-SHA256 Signature=" + sig + ",Access=AK1,SignedHeaders=x-sdk-date",
	}
	for _, v := range ok {
		if _, err := iam.ParseAuthorization(v); err != nil {
			t.Errorf("ParseAuthorization(%q) = %v; want ok", v, err)
		}
	}
	bad := []string{
		"", "SDK-HMAC-SHA256", "SDK-HMAC-SHA256 ", "Bearer x", "sdk-hmac-sha256 Access=a, SignedHeaders=h, Signature=" + sig,
		"SDK-HMAC-SHA256 Access=AK1, SignedHeaders=x-sdk-date",
		"SDK-HMAC-SHA256 Access=AK1, Access=AK2, SignedHeaders=x-sdk-date, Signature=" + sig,
		"SDK-HMAC-SHA256 Access=A-K, SignedHeaders=x-sdk-date, Signature=" + sig,
		"SDK-HMAC-SHA256 Access=AK1, SignedHeaders=x-sdk-date;host, Signature=" + sig,
		"SDK-HMAC-SHA256 Access=AK1, SignedHeaders=host;host, Signature=" + sig,
		"SDK-HMAC-SHA256 Access=AK1, SignedHeaders=Host, Signature=" + sig,
		"SDK-HMAC-SHA256 Access=AK1, SignedHeaders=, Signature=" + sig,
		"SDK-HMAC-SHA256 Access=AK1, SignedHeaders=a;;b, Signature=" + sig,
		"SDK-HMAC-SHA256 Access=AK1, SignedHeaders=x-sdk-date, Signature=" + strings.ToUpper(sig),
		"SDK-HMAC-SHA256 Access=AK1, SignedHeaders=x-sdk-date, Signature=" + sig[:62],
		"SDK-HMAC-SHA256 Access=AK1, SignedHeaders=x-sdk-date, Signature=" + sig + ", Extra=1",
		"SDK-HMAC-SHA256 Access=AK1, SignedHeaders=x-sdk-date, Signature=" + sig + strings.Repeat(" ", 5000),
	}
	for _, v := range bad {
		if _, err := iam.ParseAuthorization(v); ark.ErrorCode(err) != ark.ETokenInvalid {
			t.Errorf("ParseAuthorization(%.80q) = %v; want %s", v, err, ark.ETokenInvalid)
		}
	}
}
