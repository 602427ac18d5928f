package iam_test

import (
	"context"
	"strings"
	"testing"

	"github.com/arkserve/arkserve/internal/ark"
	"github.com/arkserve/arkserve/internal/iam"
)

// TestNodeCredentials: a credential verifies for its project only; a changed secret, id or project
// part, a malformed string and a revoked credential are refused; the store keeps no secret.
func TestNodeCredentials(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	other, err := e.svc.CreateProject(ctx, "", "other", "")
	if err != nil {
		t.Fatal(err)
	}
	c, token, err := e.svc.CreateNodeCredential(ctx, "default", "edge nodes")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := e.svc.VerifyNodeCredential(ctx, token, c.ProjectID); err != nil || got.ID != c.ID {
		t.Fatalf("VerifyNodeCredential = %+v, %v; want %s", got, err, c.ID)
	}
	if p := iam.NodeCredentialProject(token); p != c.ProjectID {
		t.Fatalf("NodeCredentialProject = %q; want %q", p, c.ProjectID)
	}
	stored, _ := e.db.FindNodeCredential(ctx, c.ID)
	if secret := token[strings.LastIndex(token, ".")+1:]; strings.Contains(string(stored.SecretHash), secret) || len(stored.SecretHash) != 32 {
		t.Fatalf("stored %x; want a SHA-256, not the secret", stored.SecretHash)
	}
	mustCode(t, func() error { _, err := e.svc.VerifyNodeCredential(ctx, token, other.ID); return err }(), ark.EProjectMismatch)

	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	for name, bad := range map[string]string{
		"secret changed":  flip(token, len(token)-3),
		"id changed":      strings.Replace(token, c.ID, "nc0000000000000000", 1),
		"project changed": strings.Replace(token, c.ProjectID, other.ID, 1),
		"no secret":       token[:strings.LastIndex(token, ".")],
		"other scheme":    "arkn2" + token[5:],
		"too long":        token + strings.Repeat("A", 200),
		"user token":      "MIIxyz",
	} {
		pid := c.ProjectID
		if name == "project changed" {
			pid = other.ID
		}
		_, err := e.svc.VerifyNodeCredential(ctx, bad, pid)
		mustCode(t, err, ark.ETokenInvalid)
	}
	mustCode(t, func() error { _, err := e.svc.VerifyNodeCredential(ctx, "", c.ProjectID); return err }(), ark.ETokenMissing)

	if err := e.svc.RevokeNodeCredential(ctx, c.ID); err != nil {
		t.Fatal(err)
	}
	mustCode(t, func() error { _, err := e.svc.VerifyNodeCredential(ctx, token, c.ProjectID); return err }(), ark.ETokenInvalid)
	mustCode(t, e.svc.RevokeNodeCredential(ctx, "nc-unknown"), ark.ECredentialNotFound)
	cs, err := e.svc.ListNodeCredentials(ctx, "default")
	if err != nil || len(cs) != 1 || cs[0].RevokedAt.IsZero() || cs[0].SecretHash != nil {
		t.Fatalf("ListNodeCredentials = %+v, %v; want the revoked credential without its hash", cs, err)
	}
	_, _, err = e.svc.CreateNodeCredential(ctx, "no-such-project", "")
	if code(err) == "" || code(err) == ark.EInternal {
		t.Fatalf("credential of an unknown project: %v", err)
	}
}
