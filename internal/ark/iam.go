package ark

import "time"

// Roles a user can hold on a project.
const (
	RoleAdmin  = "admin"  // everything in the project
	RoleMember = "member" // read and write models and services
	RoleReader = "reader" // read only
)

// ValidRole reports whether r is one of the roles above.
func ValidRole(r string) bool { return r == RoleAdmin || r == RoleMember || r == RoleReader }

// The bootstrap identity created on first start.
const (
	DefaultDomainID   = "default"
	DefaultDomainName = "Default"
	DefaultProject    = "default"
	AdminUser         = "admin"
)

// Domain is a Keystone domain: a namespace of users and projects.
type Domain struct {
	ID      string
	Name    string
	Enabled bool
}

// Project is a tenant: every model, service and log belongs to exactly one.
type Project struct {
	ID          string // 32 lower-case hex characters
	DomainID    string
	Name        string
	Description string
	Enabled     bool
	CreatedAt   time.Time
}

// User is an identity that can obtain tokens.
type User struct {
	ID           string // 32 lower-case hex characters
	DomainID     string
	Name         string
	PasswordHash string
	Enabled      bool
	CreatedAt    time.Time
}

// RoleAssignment grants a role on a project to a user.
type RoleAssignment struct {
	UserID    string
	ProjectID string
	Role      string
}

// AccessKey is a user's permanent access key (AK/SK) for signing requests (SDK-HMAC-SHA256). The
// signature is an HMAC, so the server needs the secret itself: stores keep it only sealed
// (SealedSecret, AES-256-GCM under a key derived from the server's key; see internal/iam).
type AccessKey struct {
	ID           string // the access key id (AK): 20 upper-case letters and digits
	UserID       string
	Description  string
	SealedSecret []byte
	CreatedAt    time.Time
}

// Principal is an authenticated caller: who, in which project, with which roles. Tokens carry it,
// so that a request is authorized without a database round trip.
type Principal struct {
	TokenID     string
	UserID      string
	UserName    string
	DomainID    string
	DomainName  string
	ProjectID   string
	ProjectName string
	Roles       []string
	Methods     []string
	IssuedAt    time.Time
	ExpiresAt   time.Time
}

// HasRole reports whether p holds role r.
func (p *Principal) HasRole(r string) bool {
	for _, x := range p.Roles {
		if x == r {
			return true
		}
	}
	return false
}

// CanWrite reports whether p may change models and services (admin or member).
func (p *Principal) CanWrite() bool { return p.HasRole(RoleAdmin) || p.HasRole(RoleMember) }

// TokenKey is one key of the token keyring shared by every server on a database. Key is the
// token key sealed by internal/iam with the master key (stores keep the bytes as given). The newest
// key signs; a key with a NotAfter verifies the tokens it signed until then and nothing after.
type TokenKey struct {
	ID        string    // 16 lower-case hex digits
	SealedKey []byte    // sealed by iam; never the key itself
	CreatedAt time.Time // millisecond precision
	NotAfter  time.Time // zero: not superseded yet
}
