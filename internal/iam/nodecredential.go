package iam

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"unicode/utf8"

	"github.com/arkserve/arkserve/internal/ark"
)

// Node credentials let `arkserve agent` act for the edge nodes of one project. The credential is
// one string, "arkn1.<project id>.<id>.<secret>", shown once at creation (the agent learns its
// project from it). The agent sends it as a bearer token;
// the server needs only to recognise the secret, never to use it, so the store keeps its SHA-256
// (the secret is 32 random bytes: a slow password hash would add nothing) and compares in constant
// time.
const (
	nodeCredentialPrefix = "arkn1."
	nodeSecretBytes      = 32
	maxNodeCredentialLen = 128
)

// CreateNodeCredential creates a credential for the nodes of a project (an id, a name in the
// default domain, or "domain/name") and returns it with the string the agent presents, which is
// shown this once and never again.
func (s *Service) CreateNodeCredential(ctx context.Context, project, description string) (*ark.NodeCredential, string, error) {
	if len(description) > maxKeyDescLen || !utf8.ValidString(description) {
		return nil, "", ark.Errorf(ark.EInvalidParam, "Parameter (description) is invalid: at most %d characters of UTF-8.", maxKeyDescLen)
	}
	p, err := s.resolveProject(ctx, project)
	if err != nil {
		return nil, "", err
	}
	var idb [8]byte
	secret := make([]byte, nodeSecretBytes)
	_, _ = rand.Read(idb[:])
	_, _ = rand.Read(secret)
	hash := sha256.Sum256(secret)
	c := &ark.NodeCredential{ID: "nc" + hex.EncodeToString(idb[:]), ProjectID: p.ID, Description: description,
		SecretHash: hash[:], CreatedAt: s.Now().UTC()}
	if err := s.Store.CreateNodeCredential(ctx, c); err != nil {
		if ark.ErrorCode(err) != ark.EInternal {
			return nil, "", err
		}
		return nil, "", internal("create node credential", err)
	}
	return c, nodeCredentialPrefix + p.ID + "." + c.ID + "." + base64.RawURLEncoding.EncodeToString(secret), nil
}

// NodeCredentialProject returns the project a node credential names ("" when it is malformed).
func NodeCredentialProject(token string) string {
	rest, ok := strings.CutPrefix(token, nodeCredentialPrefix)
	project, _, _ := strings.Cut(rest, ".")
	if !ok || !ark.IsHexID(project) {
		return ""
	}
	return project
}

// VerifyNodeCredential returns the credential that token presents. A malformed, unknown, wrong or
// revoked credential is ark.ETokenInvalid (401), the same answer whatever was wrong; a
// credential of another project than projectID is ark.EProjectMismatch (403).
func (s *Service) VerifyNodeCredential(ctx context.Context, token, projectID string) (*ark.NodeCredential, error) {
	invalid := ark.Errorf(ark.ETokenInvalid, "Invalid node credential.")
	if token == "" {
		return nil, ark.Errorf(ark.ETokenMissing, "Node credential doesn't exist.")
	}
	rest, ok := strings.CutPrefix(token, nodeCredentialPrefix)
	if !ok || len(token) > maxNodeCredentialLen {
		return nil, invalid
	}
	parts := strings.Split(rest, ".")
	if len(parts) != 3 {
		return nil, invalid
	}
	project, id := parts[0], parts[1]
	secret, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil || len(secret) != nodeSecretBytes {
		return nil, invalid
	}
	c, err := s.Store.FindNodeCredential(ctx, id)
	if err != nil {
		return nil, internal("find node credential", err)
	}
	hash := sha256.Sum256(secret)
	if c == nil || subtle.ConstantTimeCompare(hash[:], c.SecretHash) != 1 || !c.RevokedAt.IsZero() || c.ProjectID != project {
		return nil, invalid
	}
	if c.ProjectID != projectID {
		return nil, ark.Errorf(ark.EProjectMismatch, "The project id in the request URL does not match the node credential.")
	}
	return c, nil
}

// ListNodeCredentials lists the node credentials of a project (every project's for ""), without
// their hashes.
func (s *Service) ListNodeCredentials(ctx context.Context, project string) ([]*ark.NodeCredential, error) {
	pid := ""
	if project != "" {
		p, err := s.resolveProject(ctx, project)
		if err != nil {
			return nil, err
		}
		pid = p.ID
	}
	cs, err := s.Store.ListNodeCredentials(ctx, pid)
	if err != nil {
		return nil, internal("list node credentials", err)
	}
	for _, c := range cs {
		c.SecretHash = nil
	}
	return cs, nil
}

// RevokeNodeCredential revokes a node credential: agents presenting it are refused from the next
// request on. ark.ECredentialNotFound when there is none.
func (s *Service) RevokeNodeCredential(ctx context.Context, id string) error {
	ok, err := s.Store.RevokeNodeCredential(ctx, id, s.Now())
	if err != nil {
		return internal("revoke node credential", err)
	}
	if !ok {
		return ark.Errorf(ark.ECredentialNotFound, "Node credential %q does not exist.", clipID(id))
	}
	return nil
}

func clipID(id string) string {
	if len(id) > 64 {
		return id[:64] + "..."
	}
	return id
}
