package httpapi_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/arkserve/arkserve/internal/ark"
	"github.com/arkserve/arkserve/internal/iam"
)

// hostileCases are the rest of TestErrors' table: forged, stale, replayed onto other requests
// and misplaced signatures; the IAM access-key and token APIs; SQL and shell metacharacters,
// huge and odd values in bodies, paths and queries. sid is a service that is deploying; m1 and
// m2 are models.
func (e *apiEnv) hostileCases(t *testing.T, sid, m1, m2 string) []errorCase {
	t.Helper()
	ctx := context.Background()
	v1 := "/v1/" + e.pid
	svc := v1 + "/services"
	one := svc + "/" + sid
	unknownSvc := svc + "/195c1f2d-136d-40af-a0f3-db5717d2634a"
	const creds = "/v3.0/OS-CREDENTIAL/credentials"
	other, err := e.db.FindProjectByName(ctx, ark.DefaultDomainID, "other")
	must(t, err)
	_, err = e.iam.CreateUser(ctx, "Default", "nobody", testPassword)
	must(t, err)
	ak, sk := e.accessKey(t, "admin")
	rak, rsk := e.accessKey(t, "rita")
	nak, nsk := e.accessKey(t, "nobody")
	dak, dsk := e.accessKey(t, "nobody")
	must(t, e.iam.DeleteAccessKey(ctx, dak))
	sign := func(ak, sk, method, path string, body []byte, project string, extra ...map[string]string) map[string]string {
		return e.sdkSign(t, ak, sk, method, path, body, project, extra...)
	}
	with := func(h map[string]string, k, v string) map[string]string {
		out := map[string]string{}
		for a, b := range h {
			out[a] = b
		}
		out[k] = v
		return out
	}
	get := sign(ak, sk, "GET", one, nil, e.pid)
	forged := get["Authorization"]
	forged = forged[:len(forged)-1] + map[bool]string{true: "0", false: "1"}[forged[len(forged)-1] != '0']
	sdkDate := func(d time.Duration) map[string]string {
		return map[string]string{"X-Sdk-Date": time.Now().UTC().Add(d).Format(iam.SdkDateFormat)}
	}
	descA, descB := []byte(`{"description":"a"}`), []byte(`{"description":"b"}`)
	logs1 := one + "/logs?update_time=1"
	ritaID, adminID := userID(t, e, "rita"), userID(t, e, "admin")
	credBody := func(fields string) []byte { return []byte(`{"credential":{` + fields + `}}`) }
	tok := func(identity string) []byte { return []byte(`{"auth":{"identity":` + identity + `}}`) }
	pw := func(user string) string {
		return `{"methods":["password"],"password":{"user":{"name":"` + user + `","password":"x","domain":{"name":"Default"}}}}`
	}
	good := `"weight":100,"specification":"arkserve.local.small","instance_count":1`
	deploy := func(fields string) []byte {
		return []byte(`{"infer_type":"real-time","service_name":"s3",` + fields + `}`)
	}
	cfg := func(fields string) []byte {
		return deploy(`"config":[{"model_id":"` + m1 + `",` + fields + `}]`)
	}
	model := func(fields string) []byte {
		return []byte(`{"model_version":"1.0.0","model_type":"Image","source_location":"` + e.modelDir + `",` + fields + `}`)
	}
	many := strings.Repeat(`{"model_id":"`+m1+`",`+good+`},`, 11)
	ids101 := strings.TrimSuffix(strings.Repeat(sid+",", 101), ",")
	infer := "/v1/infers/" + sid + "/predict"

	return []errorCase{
		// Signatures (AK/SK): the same authorization as tokens, and any change breaks them.
		{"sig forged", "GET", one, "", nil, with(get, "Authorization", forged), 401, ark.ETokenInvalid},
		{"sig unknown key", "GET", one, "", nil, sign("ZZZZZZZZZZZZZZZZZZZZ", sk, "GET", one, nil, e.pid), 401, ark.ETokenInvalid},
		{"sig deleted key", "GET", one, "", nil, sign(dak, dsk, "GET", one, nil, e.pid), 401, ark.ETokenInvalid},
		{"sig wrong secret", "GET", one, "", nil, sign(ak, rsk, "GET", one, nil, e.pid), 401, ark.ETokenInvalid},
		{"sig date 16 min ago", "GET", one, "", nil, sign(ak, sk, "GET", one, nil, e.pid, sdkDate(-16*time.Minute)), 401, ark.ETokenInvalid},
		{"sig date 16 min ahead", "GET", one, "", nil, sign(ak, sk, "GET", one, nil, e.pid, sdkDate(16*time.Minute)), 401, ark.ETokenInvalid},
		{"sig date years ago", "GET", one, "", nil, sign(ak, sk, "GET", one, nil, e.pid, map[string]string{"X-Sdk-Date": "20000101T000000Z"}), 401, ark.ETokenInvalid},
		{"sig date malformed", "GET", one, "", nil, with(get, "X-Sdk-Date", "2026-11-27T10:00:00Z"), 401, ark.ETokenInvalid},
		{"sig date missing", "GET", one, "", nil, with(get, "X-Sdk-Date", ""), 401, ark.ETokenInvalid},
		{"sig header truncated", "GET", one, "", nil, with(get, "Authorization", "SDK-HMAC-SHA256 Access="+ak), 401, ark.ETokenInvalid},
		{"sig header huge", "GET", one, "", nil, with(get, "Authorization", "SDK-HMAC-SHA256 Access="+strings.Repeat("A", 5000)), 401, ark.ETokenInvalid},
		{"sig header NUL", "GET", one, "", nil, with(get, "Authorization", "SDK-HMAC-SHA256 Access=A\tB, SignedHeaders=x, Signature=y"), 401, ark.ETokenInvalid},
		{"sig lower-case scheme", "GET", one, "", nil, with(get, "Authorization", strings.ToLower(get["Authorization"])), 401, ark.ETokenMissing},
		{"sig and token", "GET", one, e.admin, nil, get, 401, ark.ETokenInvalid},
		{"sig for another path", "GET", one, "", nil, sign(ak, sk, "GET", unknownSvc, nil, e.pid), 401, ark.ETokenInvalid},
		{"sig for another method", "DELETE", one, "", nil, get, 401, ark.ETokenInvalid},
		{"sig query changed", "GET", one + "/logs?update_time=2", "", nil, sign(ak, sk, "GET", logs1, nil, e.pid), 401, ark.ETokenInvalid},
		{"sig query added", "GET", one + "?x=1", "", nil, get, 401, ark.ETokenInvalid},
		{"sig body changed", "PUT", one, "", descB, sign(ak, sk, "PUT", one, descA, e.pid), 401, ark.ETokenInvalid},
		{"sig project header unsigned", "GET", one, "", nil, with(sign(ak, sk, "GET", one, nil, ""), "X-Project-Id", e.pid), 401, ark.ETokenInvalid},
		{"sig other project header", "GET", one, "", nil, sign(ak, sk, "GET", one, nil, other.ID), 403, ark.EProjectMismatch},
		{"sig path of another project", "GET", "/v1/" + other.ID + "/services", "", nil, sign(ak, sk, "GET", "/v1/"+other.ID+"/services", nil, e.pid), 403, ark.EProjectMismatch},
		{"sig unsigned payload", "PUT", one, "", descA, sign(ak, sk, "PUT", one, descA, e.pid, map[string]string{"X-Sdk-Content-Sha256": iam.UnsignedPayload}), 401, ark.ETokenInvalid},
		{"sig wrong content hash", "PUT", one, "", descA, sign(ak, sk, "PUT", one, descA, e.pid, map[string]string{"X-Sdk-Content-Sha256": strings.Repeat("0", 64)}), 401, ark.ETokenInvalid},
		{"sig security token", "GET", one, "", nil, sign(ak, sk, "GET", one, nil, e.pid, map[string]string{"X-Security-Token": "t"}), 401, ark.ETokenInvalid},
		{"sig reader writes", "PUT", one, "", descA, sign(rak, rsk, "PUT", one, descA, e.pid), 403, ark.EForbidden},
		{"sig user without role", "GET", one, "", nil, sign(nak, nsk, "GET", one, nil, e.pid), 403, ark.EProjectMismatch},
		{"sig inference without project", "GET", infer, "", nil, sign(ak, sk, "GET", infer, nil, ""), 401, ark.ETokenNoProject},
		{"sig inference forged", "GET", infer, "", nil, with(sign(ak, sk, "GET", infer, nil, e.pid), "Authorization", forged), 401, ark.ETokenInvalid},
		{"inference no token", "POST", infer, "", []byte(`{}`), nil, 401, ark.ETokenMissing},
		{"inference garbage token", "GET", infer, "x", nil, nil, 401, ark.ETokenInvalid},
		{"inference unscoped principal", "GET", infer, "", nil, sign(nak, nsk, "GET", infer, nil, ""), 401, ark.ETokenNoProject},
		// The IAM access-key API.
		{"cred create no auth", "POST", creds, "", credBody(`"user_id":"` + adminID + `"`), nil, 401, ark.ETokenMissing},
		{"cred create expired token", "POST", creds, e.expired, credBody(``), nil, 401, ark.ETokenExpired},
		{"cred create forged sig", "POST", creds, "", credBody(``), with(sign(ak, sk, "POST", creds, credBody(``), ""), "Authorization", forged), 401, ark.ETokenInvalid},
		{"cred create for another user", "POST", creds, e.reader, credBody(`"user_id":"` + adminID + `"`), nil, 403, ark.EForbidden},
		{"cred create no credential", "POST", creds, e.admin, []byte(`{}`), nil, 400, ark.ERequired},
		{"cred create null credential", "POST", creds, e.admin, []byte(`{"credential":null}`), nil, 400, ark.ERequired},
		{"cred create description long", "POST", creds, e.admin, credBody(`"description":"` + strings.Repeat("d", 256) + `"`), nil, 400, ark.EInvalidParam},
		{"cred create description number", "POST", creds, e.admin, credBody(`"description":5`), nil, 400, ark.EInvalidParam},
		{"cred create user_id array", "POST", creds, e.admin, credBody(`"user_id":["a"]`), nil, 400, ark.EInvalidParam},
		{"cred create unknown user", "POST", creds, e.admin, credBody(`"user_id":"0123456789abcdef0123456789abcdef"`), nil, 400, ark.EInvalidParam},
		{"cred create SQL user", "POST", creds, e.admin, credBody(`"user_id":"x' OR '1'='1"`), nil, 400, ark.EInvalidParam},
		{"cred create not JSON", "POST", creds, e.admin, []byte(`credential=1`), nil, 400, ark.EInvalidArgument},
		{"cred create array", "POST", creds, e.admin, []byte(`[{}]`), nil, 400, ark.EInvalidArgument},
		{"cred create form", "POST", creds, e.admin, credBody(``), map[string]string{"Content-Type": "text/plain"}, 415, ark.EMediaType},
		{"cred create oversized", "POST", creds, e.admin, append(credBody(`"description":"`), bytes2MiB()...), nil, 413, ark.ETooLarge},
		{"cred show unknown", "GET", creds + "/AAAAAAAAAAAAAAAAAAAA", e.admin, nil, nil, 404, ark.EAccessKeyNotFound},
		{"cred show others", "GET", creds + "/" + ak, e.reader, nil, nil, 404, ark.EAccessKeyNotFound},
		{"cred show huge id", "GET", creds + "/" + strings.Repeat("A", 2000), e.admin, nil, nil, 404, ark.EAccessKeyNotFound},
		{"cred show SQL id", "GET", creds + "/x'%20OR%20'1'='1", e.admin, nil, nil, 404, ark.EAccessKeyNotFound},
		{"cred delete unknown", "DELETE", creds + "/AAAAAAAAAAAAAAAAAAAA", e.admin, nil, nil, 404, ark.EAccessKeyNotFound},
		{"cred delete others", "DELETE", creds + "/" + ak, e.reader, nil, nil, 404, ark.EAccessKeyNotFound},
		{"cred delete by user without role", "DELETE", creds + "/" + ak, "", nil, sign(nak, nsk, "DELETE", creds+"/"+ak, nil, ""), 404, ark.EAccessKeyNotFound},
		{"cred list others", "GET", creds + "?user_id=" + adminID, e.reader, nil, nil, 403, ark.EForbidden},
		{"cred list user_id twice", "GET", creds + "?user_id=" + ritaID + "&user_id=" + adminID, e.admin, nil, nil, 400, ark.EInvalidParam},
		{"cred list bad escape", "GET", creds + "?user_id=%zz", e.admin, nil, nil, 400, ark.EInvalidArgument},
		{"cred PUT", "PUT", creds + "/" + ak, e.admin, []byte(`{}`), nil, 405, ark.EMethod},
		{"cred PATCH list", "PATCH", creds, e.admin, []byte(`{}`), nil, 405, ark.EMethod},
		// Keystone tokens.
		{"token wrong password", "POST", "/v3/auth/tokens", "", tok(pw("admin")), nil, 401, ark.EAuthFailed},
		{"token SQL user", "POST", "/v3/auth/tokens", "", tok(pw(`admin' --`)), nil, 401, ark.EAuthFailed},
		{"token shell user", "POST", "/v3/auth/tokens", "", tok(pw(`$(reboot)`)), nil, 401, ark.EAuthFailed},
		{"token empty body", "POST", "/v3/auth/tokens", "", []byte(``), nil, 400, ark.EInvalidArgument},
		{"token no identity", "POST", "/v3/auth/tokens", "", []byte(`{"auth":{}}`), nil, 400, ark.ERequired},
		{"token no methods", "POST", "/v3/auth/tokens", "", tok(`{"methods":[]}`), nil, 400, ark.ERequired},
		{"token two methods", "POST", "/v3/auth/tokens", "", tok(`{"methods":["password","token"]}`), nil, 400, ark.EInvalidParam},
		{"token unsupported method", "POST", "/v3/auth/tokens", "", tok(`{"methods":["totp"]}`), nil, 401, ark.EAuthFailed},
		{"token methods string", "POST", "/v3/auth/tokens", "", tok(`{"methods":"password"}`), nil, 400, ark.EInvalidParam},
		{"token domain scope", "POST", "/v3/auth/tokens", "", []byte(`{"auth":{"identity":` + pw("admin") + `,"scope":{"domain":{"id":"default"}}}}`), nil, 400, ark.EInvalidParam},
		{"token user without domain", "POST", "/v3/auth/tokens", "", tok(`{"methods":["password"],"password":{"user":{"name":"admin","password":"x"}}}`), nil, 400, ark.EInvalidArgument},
		{"token method token garbage", "POST", "/v3/auth/tokens", "", tok(`{"methods":["token"],"token":{"id":"garbage"}}`), nil, 401, ark.ETokenInvalid},
		{"projects no token", "GET", "/v3/projects", "", nil, nil, 401, ark.ETokenMissing},
		{"auth projects forged sig", "GET", "/v3/auth/projects", "", nil, with(get, "X-Auth-Token", ""), 401, ark.ETokenMissing},
		{"revoke no subject", "DELETE", "/v3/auth/tokens", e.admin, nil, nil, 400, ark.ERequired},
		// Hostile strings and values in the ModelArts API.
		{"service_name SQL", "POST", svc, e.admin, []byte(`{"infer_type":"real-time","service_name":"x' OR '1'='1","config":[{"model_id":"` + m1 + `",` + good + `}]}`), nil, 400, ark.EInvalidParam},
		{"service_name NUL", "POST", svc, e.admin, []byte(`{"infer_type":"real-time","service_name":"a\u0000b","config":[{"model_id":"` + m1 + `",` + good + `}]}`), nil, 400, ark.EInvalidParam},
		{"service_name unicode", "POST", svc, e.admin, []byte(`{"infer_type":"real-time","service_name":"sérvice","config":[{"model_id":"` + m1 + `",` + good + `}]}`), nil, 400, ark.EInvalidParam},
		{"service_name huge", "POST", svc, e.admin, []byte(`{"infer_type":"real-time","service_name":"` + strings.Repeat("a", 500000) + `"}`), nil, 400, ark.EInvalidParam},
		{"description SQL", "POST", svc, e.admin, deploy(`"description":"1' OR 1=1 --","config":[{"model_id":"` + m1 + `",` + good + `}]`), nil, 400, ark.EInvalidParam},
		{"description quote", "PUT", one, e.admin, []byte(`{"description":"x'; DROP TABLE services;--"}`), nil, 400, ark.EInvalidParam},
		{"description long", "PUT", one, e.admin, []byte(`{"description":"` + strings.Repeat("d", 101) + `"}`), nil, 400, ark.EInvalidParam},
		{"config 11 entries", "POST", svc, e.admin, deploy(`"config":[` + strings.TrimSuffix(many, ",") + `]`), nil, 400, ark.EInvalidParam},
		{"config null entry", "POST", svc, e.admin, deploy(`"config":[null]`), nil, 400, ark.ERequired},
		{"config huge array", "POST", svc, e.admin, deploy(`"config":[` + strings.TrimSuffix(strings.Repeat(`{},`, 200000), ",") + `]`), nil, 400, ark.EInvalidParam},
		{"model_id SQL", "POST", svc, e.admin, deploy(`"config":[{"model_id":"x' OR '1'='1",` + good + `}]`), nil, 404, ark.EServiceModelAbsent},
		{"instance_count -1", "POST", svc, e.admin, cfg(`"weight":100,"specification":"arkserve.local.small","instance_count":-1`), nil, 400, ark.EInvalidParam},
		{"instance_count string", "POST", svc, e.admin, cfg(`"weight":100,"specification":"arkserve.local.small","instance_count":"abc"`), nil, 400, ark.EInvalidParam},
		{"instance_count 1e309", "POST", svc, e.admin, cfg(`"weight":100,"specification":"arkserve.local.small","instance_count":1e309`), nil, 400, ark.EInvalidParam},
		{"instance_count 2^63", "POST", svc, e.admin, cfg(`"weight":100,"specification":"arkserve.local.small","instance_count":9223372036854775808`), nil, 400, ark.EInvalidParam},
		{"weight Infinity string", "POST", svc, e.admin, cfg(`"weight":"Infinity","specification":"arkserve.local.small","instance_count":1`), nil, 400, ark.EInvalidParam},
		{"weight null", "POST", svc, e.admin, cfg(`"weight":null,"specification":"arkserve.local.small","instance_count":1`), nil, 400, ark.ERequired},
		{"weights sum 110", "POST", svc, e.admin, deploy(`"config":[{"model_id":"` + m1 + `","weight":60,"specification":"arkserve.local.small","instance_count":1},{"model_id":"` + m2 + `","weight":50,"specification":"arkserve.local.small","instance_count":1}]`), nil, 400, ark.EInvalidParam},
		{"weights sum 90", "POST", svc, e.admin, deploy(`"config":[{"model_id":"` + m1 + `","weight":40,"specification":"arkserve.local.small","instance_count":1},{"model_id":"` + m2 + `","weight":50,"specification":"arkserve.local.small","instance_count":1}]`), nil, 400, ark.EInvalidParam},
		{"specification shell", "POST", svc, e.admin, cfg(`"weight":100,"specification":"$(reboot)","instance_count":1`), nil, 400, ark.ENoSpec},
		{"env value shell", "POST", svc, e.admin, cfg(good + `,"envs":{"A;rm -rf /":"1"}`), nil, 400, ark.EInvalidParam},
		{"null body", "POST", svc, e.admin, []byte(`null`), nil, 400, ark.ERequired},
		{"number body", "POST", svc, e.admin, []byte(`5`), nil, 400, ark.EInvalidArgument},
		{"string body", "PUT", one, e.admin, []byte(`"x"`), nil, 400, ark.EInvalidArgument},
		{"nested objects", "PUT", one, e.admin, []byte(strings.Repeat(`{"a":`, 20000) + `1` + strings.Repeat(`}`, 20000)), nil, 400, ark.EInvalidArgument},
		{"PUT text/plain", "PUT", one, e.admin, descA, map[string]string{"Content-Type": "text/plain"}, 415, ark.EMediaType},
		{"PUT bad media type", "PUT", one, e.admin, descA, map[string]string{"Content-Type": "application/json; ;;"}, 415, ark.EMediaType},
		{"update status and SQL", "PUT", one, e.admin, []byte(`{"status":"running' --"}`), nil, 400, ark.EInvalidParam},
		{"delete 101 ids", "DELETE", svc + "/" + ids101, e.admin, nil, nil, 400, ark.EInvalidParam},
		{"service id traversal", "GET", svc + "/..%2F..%2Fetc%2Fpasswd", e.admin, nil, nil, 404, ark.EServiceNotFound},
		{"service id NUL", "GET", svc + "/a%00b/logs", e.admin, nil, nil, 404, ark.EServiceNotFound},
		{"update_time huge", "GET", one + "/logs?update_time=99999999999999999999", e.admin, nil, nil, 400, ark.EInvalidParam},
		{"update_time NaN", "GET", one + "/logs?update_time=NaN", e.admin, nil, nil, 400, ark.EInvalidParam},
		{"offset not a number", "GET", svc + "?offset=abc", e.admin, nil, nil, 400, ark.EInvalidParam},
		{"limit NaN", "GET", v1 + "/models?limit=NaN", e.admin, nil, nil, 400, ark.EInvalidParam},
		{"limit twice", "GET", v1 + "/models?limit=1&limit=2", e.admin, nil, nil, 400, ark.EInvalidParam},
		{"model_name shell", "POST", v1 + "/models", e.admin, model(`"model_name":"$(reboot)"`), nil, 400, ark.EInvalidParam},
		{"model_name SQL", "POST", v1 + "/models", e.admin, model(`"model_name":"m'; DROP TABLE models;--"`), nil, 400, ark.EInvalidParam},
		{"model_version NaN", "POST", v1 + "/models", e.admin, []byte(`{"model_name":"x","model_version":"NaN","model_type":"Image","source_location":"/tmp"}`), nil, 400, ark.EInvalidParam},
		{"model source file traversal", "POST", v1 + "/models", e.admin, []byte(`{"model_name":"x","model_version":"1.0.0","model_type":"Image","source_location":"file://` + e.modelDir + `/../.."}`), nil, 400, ark.EInvalidParam},
		{"model source NUL", "POST", v1 + "/models", e.admin, []byte(`{"model_name":"x","model_version":"1.0.0","model_type":"Image","source_location":"` + e.modelDir + `\u0000/x"}`), nil, 400, ark.EInvalidParam},
		{"model source shell", "POST", v1 + "/models", e.admin, []byte(`{"model_name":"x","model_version":"1.0.0","model_type":"Image","source_location":"/tmp;rm -rf /"}`), nil, 400, ark.EInvalidParam},
		{"model runtime huge", "POST", v1 + "/models", e.admin, model(`"model_name":"x","runtime":"` + strings.Repeat("r", 300) + `"`), nil, 400, ark.EInvalidParam},
		{"model list SQL filter", "GET", v1 + "/models?model_name=x'%20OR%20'1'='1&model_type=Caffe", e.admin, nil, nil, 400, ark.EInvalidParam},
		{"events limit negative", "GET", one + "/events?limit=-1", e.admin, nil, nil, 400, ark.EInvalidParam},
		{"monitor of unknown service", "GET", unknownSvc + "/monitor", e.admin, nil, nil, 404, ark.EServiceNotFound},
		{"clusters wrong method", "DELETE", v1 + "/clusters", e.admin, nil, nil, 405, ark.EMethod},
		{"project id traversal", "GET", "/v1/..%2F..%2Fetc/services", e.admin, nil, nil, 403, ark.EProjectMismatch},
	}
}

// bytes2MiB is a body tail that makes any body larger than the 1 MiB limit.
func bytes2MiB() []byte { return []byte(strings.Repeat("a", 2<<20) + `"}}`) }
