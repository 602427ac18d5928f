package iam_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/arkserve/arkserve/internal/ark"
	"github.com/arkserve/arkserve/internal/iam"
)

// FuzzParseAuthorization: the signature header parser never panics, refuses with
// ModelArts.0203 only, and what it accepts is well formed and survives a round trip. Corpus:
// testdata/fuzz/FuzzParseAuthorization.
func FuzzParseAuthorization(f *testing.F) {
	f.Add("SDK-HMAC-SHA256 Access=AK1, SignedHeaders=host;x-sdk-date, Signature=" + strings.Repeat("0f", 32))
	f.Fuzz(func(t *testing.T, v string) {
		a, err := iam.ParseAuthorization(v)
		if err != nil {
			if ark.ErrorCode(err) != ark.ETokenInvalid {
				t.Fatalf("ParseAuthorization(%q) = %v; want code %s", v, err, ark.ETokenInvalid)
			}
			return
		}
		if a.AccessKey == "" || len(a.SignedHeaders) == 0 || len(a.Signature) != 64 {
			t.Fatalf("ParseAuthorization(%q) = %+v", v, a)
		}
		again := iam.SignatureAlgorithm + " Access=" + a.AccessKey + ", SignedHeaders=" + strings.Join(a.SignedHeaders, ";") + ", Signature=" + a.Signature
		b, err := iam.ParseAuthorization(again)
		if err != nil || b.AccessKey != a.AccessKey || strings.Join(b.SignedHeaders, ";") != strings.Join(a.SignedHeaders, ";") || b.Signature != a.Signature {
			t.Fatalf("round trip of %q: %+v, %v", again, b, err)
		}
	})
}

// FuzzVerifyToken: the token parser never panics and refuses anything but the tokens this key
// sealed with 0201, 0202 or 0203. Corpus: testdata/fuzz/FuzzVerifyToken.
func FuzzVerifyToken(f *testing.F) {
	e := newEnv(f)
	// Made-up key ids reload the keyring: at the default rate limit each would wait.
	e.svc.SetMinReloadInterval(time.Nanosecond)
	tok, _, err := e.svc.AuthPassword(context.Background(), adminAuth(iam.Scope{ProjectName: "default", DomainName: "Default"}))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(tok)
	f.Add(tok[:len(tok)-1])
	f.Add("ark1.")
	f.Add("ark2.")
	f.Add(tok[:len("ark2.0123456789abcdef.")])
	f.Fuzz(func(t *testing.T, v string) {
		p, err := e.svc.Verify(v)
		if err != nil {
			switch ark.ErrorCode(err) {
			case ark.ETokenMissing, ark.ETokenExpired, ark.ETokenInvalid:
				return
			}
			t.Fatalf("Verify(%q) = %v", v, err)
		}
		if v != tok && !strings.HasPrefix(v, "ark1.") && !strings.HasPrefix(v, "ark2.") {
			t.Fatalf("Verify(%q) accepted a token without the prefix", v)
		}
		if p.UserName != "admin" || p.ExpiresAt.Before(e.clock.Now().Add(-time.Second)) {
			t.Fatalf("Verify(%q) = %+v", v, p)
		}
	})
}
