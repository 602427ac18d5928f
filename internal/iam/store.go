package iam

import (
	"context"
	"time"

	"github.com/arkserve/arkserve/internal/ark"
)

// Store is what IAM needs from the database. Find* return nil, nil when nothing matches; Create*
// return an *ark.Error with code ark.EInvalidParam when the name is taken.
type Store interface {
	// Domains.
	CreateDomain(ctx context.Context, d *ark.Domain) error                // ark.EInvalidParam "exists" on duplicate id or name
	FindDomain(ctx context.Context, idOrName string) (*ark.Domain, error) // nil, nil when absent

	// Projects.
	CreateProject(ctx context.Context, p *ark.Project) error                            // conflict (ark.EInvalidParam) on duplicate name in domain
	FindProject(ctx context.Context, id string) (*ark.Project, error)                   // nil, nil when absent
	FindProjectByName(ctx context.Context, domainID, name string) (*ark.Project, error) // nil, nil when absent
	ListProjects(ctx context.Context) ([]*ark.Project, error)

	// Users.
	CreateUser(ctx context.Context, u *ark.User) error                            // conflict (ark.EInvalidParam) on duplicate name in domain
	FindUser(ctx context.Context, id string) (*ark.User, error)                   // nil, nil when absent
	FindUserByName(ctx context.Context, domainID, name string) (*ark.User, error) // nil, nil when absent
	ListUsers(ctx context.Context) ([]*ark.User, error)
	SetPassword(ctx context.Context, userID, hash string) error

	// Roles.
	AssignRole(ctx context.Context, a ark.RoleAssignment) error // idempotent
	UnassignRole(ctx context.Context, a ark.RoleAssignment) error
	RoleAssignments(ctx context.Context, userID string) ([]ark.RoleAssignment, error)

	// Access keys (AK/SK). The secret is sealed by iam; stores keep the bytes as given.
	CreateAccessKey(ctx context.Context, k *ark.AccessKey) error                 // ark.EInvalidParam on duplicate id
	FindAccessKey(ctx context.Context, id string) (*ark.AccessKey, error)        // nil, nil when absent
	ListAccessKeys(ctx context.Context, userID string) ([]*ark.AccessKey, error) // "" = all users; oldest first
	DeleteAccessKey(ctx context.Context, id string) (bool, error)                // false when absent

	// Node credentials of edge agents (nodecredential.go): stores keep the hash as given.
	CreateNodeCredential(ctx context.Context, c *ark.NodeCredential) error                    // ark.EInvalidParam on duplicate id
	FindNodeCredential(ctx context.Context, id string) (*ark.NodeCredential, error)           // nil, nil when absent
	ListNodeCredentials(ctx context.Context, projectID string) ([]*ark.NodeCredential, error) // "" = all projects; oldest first
	RevokeNodeCredential(ctx context.Context, id string, at time.Time) (bool, error)          // false when absent; keeps the first revocation time

	// Revoked tokens (kept until they would have expired anyway).
	RevokeToken(ctx context.Context, tokenID string, expiresAt time.Time) error
	RevokedTokens(ctx context.Context, now time.Time) (map[string]time.Time, error)

	// Token keyring (keyring.go). The sealed keys are stored as given.
	AddTokenKey(ctx context.Context, k *ark.TokenKey, retireOthers time.Time) error // ark.EInvalidParam on duplicate id; sets NotAfter = retireOthers on the other keys without one (none when zero)
	TokenKeys(ctx context.Context) ([]*ark.TokenKey, error)                         // oldest first
}
