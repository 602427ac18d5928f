package iam

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/arkserve/arkserve/internal/ark"
)

// Request signing as the Huawei Cloud SDKs do it (core/auth/signer, "SDK-HMAC-SHA256"):
//
//	Authorization: SDK-HMAC-SHA256 Access=AK, SignedHeaders=h1;h2, Signature=hex
//	X-Sdk-Date:    20060102T150405Z
//
//	canonical request = METHOD \n URI \n QUERY \n HEADERS \n h1;h2 \n hex(sha256(body))
//	string to sign    = "SDK-HMAC-SHA256" \n X-Sdk-Date \n hex(sha256(canonical request))
//	signature         = hex(hmac-sha256(SK, string to sign))
//
// URI is the decoded path with each segment escaped (RFC 3986 unreserved characters stay) and a
// trailing "/"; QUERY the parameters sorted by name, then value, each name and value escaped the
// same way, joined name=value with "&"; HEADERS one "name:value" line per signed header (lower
// case, value trimmed, several values sorted), "host" being the request's Host. A request may
// send X-Sdk-Content-Sha256 (then signed) instead of the body hash: its value must be the body's
// hash, or UNSIGNED-PAYLOAD where the caller allows it (the SDK sends that for bodies that are not
// JSON).
const (
	SignatureAlgorithm   = "SDK-HMAC-SHA256"
	SdkDateFormat        = "20060102T150405Z"
	MaxClockSkew         = 15 * time.Minute
	UnsignedPayload      = "UNSIGNED-PAYLOAD"
	MaxAuthorizationLen  = 4096 // longer Authorization values are refused before parsing
	maxSignedHeaders     = 64
	maxReplayEntries     = 1 << 18
	headerSdkDate        = "X-Sdk-Date"
	headerContentSha256  = "X-Sdk-Content-Sha256"
	headerProjectID      = "X-Project-Id"
	headerSecurityToken  = "X-Security-Token"
	signaturePrefix      = SignatureAlgorithm + " "
	hexSignatureLen      = 2 * sha256.Size
	maxAccessKeyIDLength = 128
)

// IsSignature reports whether an Authorization header value claims an SDK-HMAC-SHA256 signature.
func IsSignature(authorization string) bool { return strings.HasPrefix(authorization, signaturePrefix) }

// Authorization is a parsed SDK-HMAC-SHA256 Authorization header.
type Authorization struct {
	AccessKey     string
	SignedHeaders []string // lower case, strictly ascending
	Signature     string   // 64 lower-case hex characters
}

func errSignature(why string) error {
	return ark.Errorf(ark.ETokenInvalid, "Invalid request signature: %s.", why)
}

// ParseAuthorization parses "SDK-HMAC-SHA256 Access=..., SignedHeaders=..., Signature=..." (the
// three fields once each, in any order, separated by commas and optional spaces). Errors are
// ark.ETokenInvalid.
func ParseAuthorization(v string) (Authorization, error) {
	var a Authorization
	if len(v) > MaxAuthorizationLen {
		return a, errSignature("the Authorization header is too long")
	}
	rest, ok := strings.CutPrefix(v, signaturePrefix)
	if !ok {
		return a, errSignature("the Authorization header is not " + SignatureAlgorithm)
	}
	var haveA, haveH, haveS bool
	for part := range strings.SplitSeq(rest, ",") {
		name, val, ok := strings.Cut(strings.Trim(part, " "), "=")
		if !ok {
			return a, errSignature("malformed Authorization header")
		}
		switch name {
		case "Access":
			if haveA || val == "" || len(val) > maxAccessKeyIDLength || !alnum(val) {
				return a, errSignature("malformed Access")
			}
			a.AccessKey, haveA = val, true
		case "SignedHeaders":
			if haveH || val == "" {
				return a, errSignature("malformed SignedHeaders")
			}
			hs := strings.Split(val, ";")
			if len(hs) > maxSignedHeaders {
				return a, errSignature("too many SignedHeaders")
			}
			for i, h := range hs {
				if h == "" || !headerToken(h) || (i > 0 && hs[i-1] >= h) {
					return a, errSignature("SignedHeaders must be lower-case header names in ascending order")
				}
			}
			a.SignedHeaders, haveH = hs, true
		case "Signature":
			if haveS || len(val) != hexSignatureLen || !lowerHex(val) {
				return a, errSignature("malformed Signature")
			}
			a.Signature, haveS = val, true
		default:
			return a, errSignature("malformed Authorization header")
		}
	}
	if !haveA || !haveH || !haveS {
		return a, errSignature("the Authorization header needs Access, SignedHeaders and Signature")
	}
	return a, nil
}

func alnum(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

func lowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// headerToken reports whether s is a lower-case HTTP header name (RFC 9110 token).
func headerToken(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 'A' && c <= 'Z' || c <= ' ' || c >= 0x7f || strings.IndexByte("\"(),/:;<=>?@[\\]{}", c) >= 0 {
			return false
		}
	}
	return true
}

// SignedRequest is what signature verification reads of an HTTP request.
type SignedRequest struct {
	Method   string
	Path     string // decoded (url.URL.Path)
	RawQuery string
	Host     string
	Header   http.Header
	Body     []byte // the whole body; unused with X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD
	// AllowUnsignedPayload accepts X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD (the body is then not
	// covered by the signature).
	AllowUnsignedPayload bool
}

// canonicalRequest builds the canonical request of r for the signed headers; errors are
// ark.ETokenInvalid.
func canonicalRequest(r *SignedRequest, signed []string, payloadHash string) (string, error) {
	var b strings.Builder
	b.WriteString(r.Method)
	b.WriteByte('\n')
	for i, seg := range strings.Split(r.Path, "/") {
		if i > 0 {
			b.WriteByte('/')
		}
		b.WriteString(sdkEscape(seg))
	}
	if !strings.HasSuffix(r.Path, "/") {
		b.WriteByte('/')
	}
	b.WriteByte('\n')
	q, err := url.ParseQuery(r.RawQuery)
	if err != nil {
		return "", errSignature("malformed query string")
	}
	keys := make([]string, 0, len(q))
	for k := range q {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	first := true
	for _, k := range keys {
		vs := q[k]
		slices.Sort(vs)
		for _, v := range vs {
			if !first {
				b.WriteByte('&')
			}
			first = false
			b.WriteString(sdkEscape(k))
			b.WriteByte('=')
			b.WriteString(sdkEscape(v))
		}
	}
	b.WriteByte('\n')
	for _, h := range signed {
		var vs []string
		if h == "host" {
			vs = []string{r.Host}
		} else {
			vs = slices.Clone(r.Header.Values(h))
		}
		slices.Sort(vs)
		for _, v := range vs {
			b.WriteString(h)
			b.WriteByte(':')
			b.WriteString(strings.TrimSpace(v))
			b.WriteByte('\n')
		}
	}
	b.WriteByte('\n')
	b.WriteString(strings.Join(signed, ";"))
	b.WriteByte('\n')
	b.WriteString(payloadHash)
	return b.String(), nil
}

// sdkEscape percent-encodes every byte but A-Z a-z 0-9 - _ . ~ with upper-case hex, as the SDK
// signer does.
func sdkEscape(s string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if shouldEscape(s[i]) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	const hexUpper = "0123456789ABCDEF"
	t := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if shouldEscape(c) {
			t = append(t, '%', hexUpper[c>>4], hexUpper[c&15])
		} else {
			t = append(t, c)
		}
	}
	return string(t)
}

func shouldEscape(c byte) bool {
	return !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~')
}

func hashHex(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// StringToSign returns the string an SDK signs for r under the parsed Authorization a, with the
// X-Sdk-Date value date. Exposed for tests and tools; VerifySignature uses it.
func StringToSign(r *SignedRequest, a Authorization, date string) (string, error) {
	payload := hashHex(r.Body)
	if v := r.Header.Get(headerContentSha256); v == UnsignedPayload && r.AllowUnsignedPayload {
		payload = v
	}
	cr, err := canonicalRequest(r, a.SignedHeaders, payload)
	if err != nil {
		return "", err
	}
	return SignatureAlgorithm + "\n" + date + "\n" + hashHex([]byte(cr)), nil
}

// VerifySignature authenticates an SDK-HMAC-SHA256 signed request and returns its principal:
// the key's user with its roles on projectID ("" for a principal without a project, used by the
// IAM APIs). Every failure of the signature itself (malformed header, unknown or deleted key,
// wrong signature, tampered method, path, query, signed header or body, X-Sdk-Date missing or
// more than MaxClockSkew away from the server's clock, a state-changing request replayed) is 401
// ark.ETokenInvalid; a project the user holds no role on is 403 ark.EProjectMismatch.
//
// Replays: the signature of every verified request other than GET, HEAD and OPTIONS is
// remembered until its X-Sdk-Date is MaxClockSkew old, and the same signature is refused again.
// Reads are not checked: X-Sdk-Date has one-second resolution, so a client that reads the same
// resource twice in a second sends the same signature twice, legitimately.
func (s *Service) VerifySignature(ctx context.Context, r *SignedRequest, projectID string) (*ark.Principal, error) {
	if s.skAEAD == nil {
		return nil, errNotOpen
	}
	a, err := ParseAuthorization(r.Header.Get("Authorization"))
	if err != nil {
		return nil, err
	}
	date := r.Header.Get(headerSdkDate)
	if date == "" {
		return nil, errSignature("X-Sdk-Date is required")
	}
	t, err := time.Parse(SdkDateFormat, date)
	if err != nil || t.Format(SdkDateFormat) != date {
		return nil, errSignature("X-Sdk-Date must look like 20060102T150405Z")
	}
	now := s.Now()
	if d := now.Sub(t); d > MaxClockSkew || d < -MaxClockSkew {
		return nil, errSignature("X-Sdk-Date is more than 15 minutes away from the server's time")
	}
	for _, h := range []string{headerSdkDate, headerProjectID, headerContentSha256} {
		if (h == headerSdkDate || len(r.Header.Values(h)) > 0) && !slices.Contains(a.SignedHeaders, strings.ToLower(h)) {
			return nil, errSignature(h + " must be a signed header")
		}
	}
	if len(r.Header.Values(headerSecurityToken)) > 0 {
		return nil, errSignature("temporary credentials (X-Security-Token) are not supported")
	}
	if v := r.Header.Get(headerContentSha256); v != "" {
		if v == UnsignedPayload && !r.AllowUnsignedPayload {
			return nil, errSignature("UNSIGNED-PAYLOAD is not accepted here: sign the body")
		}
		if v != UnsignedPayload && v != hashHex(r.Body) {
			return nil, errSignature("X-Sdk-Content-Sha256 does not match the body")
		}
	}
	sts, err := StringToSign(r, a, date)
	if err != nil {
		return nil, err
	}
	k, err := s.Store.FindAccessKey(ctx, a.AccessKey)
	if err != nil {
		return nil, internal("find access key", err)
	}
	if k == nil {
		s.Logger.Info("iam: signature with an unknown access key", "access_key", a.AccessKey)
		return nil, errSignature("the access key or the signature is wrong")
	}
	sk, err := s.openSecret(k)
	if err != nil {
		return nil, err
	}
	mac := hmac.New(sha256.New, sk)
	mac.Write([]byte(sts))
	want := make([]byte, hexSignatureLen)
	hex.Encode(want, mac.Sum(nil))
	if !hmac.Equal(want, []byte(a.Signature)) {
		s.Logger.Info("iam: wrong request signature", "access_key", a.AccessKey)
		return nil, errSignature("the access key or the signature is wrong")
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
	default:
		if !s.replay.add(a.Signature, t.Add(MaxClockSkew).Unix(), now.Unix()) {
			return nil, errSignature("this signed request was received before (replay); sign every request anew")
		}
	}
	u, err := s.Store.FindUser(ctx, k.UserID)
	if err != nil {
		return nil, internal("find user", err)
	}
	d, err := s.usableUser(ctx, u)
	if err != nil {
		return nil, errSignature("the key's user is disabled")
	}
	p := &ark.Principal{UserID: u.ID, UserName: u.Name, DomainID: d.ID, DomainName: d.Name, Methods: []string{"aksk"},
		IssuedAt: t.UTC(), ExpiresAt: t.Add(MaxClockSkew).UTC()}
	if projectID != "" {
		proj, roles, err := s.projectRoles(ctx, u, Scope{ProjectID: projectID})
		if err != nil {
			if ark.ErrorCode(err) == ark.EAuthFailed {
				return nil, ark.Errorf(ark.EProjectMismatch, "The access key's user has no role on the project of the request.")
			}
			return nil, err
		}
		p.ProjectID, p.ProjectName, p.Roles = proj.ID, proj.Name, roles
	}
	return p, nil
}

// replayCache remembers signatures until their request date is too old to be accepted anyway.
type replayCache struct {
	mu    sync.Mutex
	seen  map[string]int64 // signature → unix second after which it is forgotten
	swept int64
}

// add records sig until until; false when it is already there, or when the cache is full of
// live entries (then the request is refused rather than unprotected).
func (c *replayCache) add(sig string, until, now int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.seen == nil {
		c.seen = map[string]int64{}
	}
	if exp, ok := c.seen[sig]; ok && exp >= now {
		return false
	}
	if len(c.seen) >= maxReplayEntries || now-c.swept >= 60 {
		for k, exp := range c.seen {
			if exp < now {
				delete(c.seen, k)
			}
		}
		c.swept = now
		if len(c.seen) >= maxReplayEntries {
			return false
		}
	}
	c.seen[sig] = until
	return true
}
