package iam

import (
	"context"
	"slices"
	"time"

	"github.com/arkserve/arkserve/internal/ark"
)

// Scope is the project a token is for: by ProjectID, or by ProjectName within a domain given by
// DomainID or DomainName. The zero Scope asks for an unscoped token (no project, no roles).
type Scope struct {
	ProjectID   string
	ProjectName string
	DomainID    string // the project's domain, with ProjectName
	DomainName  string
}

// Unscoped reports whether sc names no project.
func (sc Scope) Unscoped() bool { return sc.ProjectID == "" && sc.ProjectName == "" }

// PasswordAuth is Keystone's password method: the user by UserID, or by UserName within a domain
// given by DomainID or DomainName.
type PasswordAuth struct {
	UserID     string
	UserName   string
	DomainID   string // the user's domain, with UserName
	DomainName string
	Password   string
	Scope      Scope
}

// AuthPassword checks a user's password and issues a token for the requested scope. Wrong
// credentials of any kind (unknown domain or user, wrong password, disabled user or domain) give
// the same ark.EAuthFailed error after the same bcrypt work; a project the user cannot use gives
// ark.EAuthFailed with another message. Incomplete requests (a name without its domain) give
// ark.EInvalidArgument.
func (s *Service) AuthPassword(ctx context.Context, a PasswordAuth) (string, *ark.Principal, error) {
	if s.aead == nil {
		return "", nil, errNotOpen
	}
	if err := checkScopeShape(a.Scope); err != nil {
		return "", nil, err
	}
	var (
		u   *ark.User
		err error
	)
	switch {
	case a.UserID != "":
		u, err = s.Store.FindUser(ctx, a.UserID)
	case a.UserName != "":
		if a.DomainID == "" && a.DomainName == "" {
			return "", nil, ark.Errorf(ark.EInvalidArgument, "A user name needs its domain (id or name).")
		}
		var d *ark.Domain
		d, err = s.findDomain(ctx, a.DomainID, a.DomainName)
		if err == nil && d != nil {
			u, err = s.Store.FindUserByName(ctx, d.ID, a.UserName)
		}
	default:
		return "", nil, ark.Errorf(ark.EInvalidArgument, "The user (id, or name and domain) is required.")
	}
	if err != nil {
		return "", nil, internal("find user", err)
	}
	hash := ""
	if u != nil {
		hash = u.PasswordHash
	}
	if !passwordMatches(hash, a.Password) {
		s.Logger.Info("iam: password authentication failed", "user_id", a.UserID, "user_name", a.UserName, "known_user", u != nil)
		return "", nil, authFailed()
	}
	d, err := s.usableUser(ctx, u)
	if err != nil {
		return "", nil, err
	}
	return s.grant(ctx, u, d, []string{"password"}, a.Scope, time.Time{})
}

// AuthToken is Keystone's token method: it exchanges a valid token for one with another scope (or
// unscoped). The new token expires when the old one does, so re-scoping never extends a session;
// its methods are the old ones plus "token".
func (s *Service) AuthToken(ctx context.Context, token string, scope Scope) (string, *ark.Principal, error) {
	old, err := s.Verify(token)
	if err != nil {
		return "", nil, err
	}
	if err := checkScopeShape(scope); err != nil {
		return "", nil, err
	}
	u, err := s.Store.FindUser(ctx, old.UserID)
	if err != nil {
		return "", nil, internal("find user", err)
	}
	d, err := s.usableUser(ctx, u)
	if err != nil {
		return "", nil, err
	}
	methods := slices.Clone(old.Methods)
	if !slices.Contains(methods, "token") {
		methods = append(methods, "token")
	}
	return s.grant(ctx, u, d, methods, scope, old.ExpiresAt)
}

// usableUser checks that u exists and that it and its domain are enabled, and returns the domain.
func (s *Service) usableUser(ctx context.Context, u *ark.User) (*ark.Domain, error) {
	if u == nil {
		return nil, authFailed()
	}
	if !u.Enabled {
		s.Logger.Info("iam: authentication of a disabled user refused", "user_id", u.ID)
		return nil, authFailed()
	}
	d, err := s.Store.FindDomain(ctx, u.DomainID)
	if err != nil {
		return nil, internal("find domain", err)
	}
	if d == nil || d.ID != u.DomainID || !d.Enabled {
		s.Logger.Info("iam: authentication in a missing or disabled domain refused", "user_id", u.ID, "domain_id", u.DomainID)
		return nil, authFailed()
	}
	return d, nil
}

func checkScopeShape(sc Scope) error {
	if sc.ProjectID == "" && sc.ProjectName != "" && sc.DomainID == "" && sc.DomainName == "" {
		return ark.Errorf(ark.EInvalidArgument, "A project name in the scope needs its domain (id or name).")
	}
	return nil
}

// findDomain finds a domain by id (when id is set) or by name; nil when absent.
func (s *Service) findDomain(ctx context.Context, id, name string) (*ark.Domain, error) {
	key := id
	if key == "" {
		key = name
	}
	d, err := s.Store.FindDomain(ctx, key)
	if err != nil || d == nil {
		return nil, err
	}
	if (id != "" && d.ID != id) || (id == "" && d.Name != name) {
		return nil, nil
	}
	return d, nil
}

// grant resolves the scope for an authenticated user u of domain d and issues the token. A
// non-zero capExp caps the expiry.
func (s *Service) grant(ctx context.Context, u *ark.User, d *ark.Domain, methods []string, sc Scope, capExp time.Time) (string, *ark.Principal, error) {
	now := s.Now()
	iat := time.Unix(now.Unix(), 0).UTC()
	exp := time.Unix(now.Add(s.TTL).Unix(), 0).UTC()
	if !capExp.IsZero() && capExp.Before(exp) {
		exp = capExp.UTC()
	}
	_, idHex := newTokenID()
	p := &ark.Principal{
		TokenID:    idHex,
		UserID:     u.ID,
		UserName:   u.Name,
		DomainID:   d.ID,
		DomainName: d.Name,
		Methods:    methods,
		IssuedAt:   iat,
		ExpiresAt:  exp,
	}
	if !sc.Unscoped() {
		proj, roles, err := s.projectRoles(ctx, u, sc)
		if err != nil {
			return "", nil, err
		}
		p.ProjectID, p.ProjectName, p.Roles = proj.ID, proj.Name, roles
	}
	tok, err := s.issue(p)
	if err != nil {
		return "", nil, err
	}
	return tok, p, nil
}

// projectRoles finds the scope's project and u's roles on it (in the order admin, member,
// reader). A missing or disabled project, one of another domain, or one u has no role on all give
// the same scopeFailed error.
func (s *Service) projectRoles(ctx context.Context, u *ark.User, sc Scope) (*ark.Project, []string, error) {
	var (
		proj *ark.Project
		err  error
	)
	if sc.ProjectID != "" {
		proj, err = s.Store.FindProject(ctx, sc.ProjectID)
	} else {
		var d *ark.Domain
		d, err = s.findDomain(ctx, sc.DomainID, sc.DomainName)
		if err == nil && d != nil {
			proj, err = s.Store.FindProjectByName(ctx, d.ID, sc.ProjectName)
		}
	}
	if err != nil {
		return nil, nil, internal("find project", err)
	}
	if proj == nil || !proj.Enabled || proj.DomainID != u.DomainID {
		return nil, nil, scopeFailed()
	}
	as, err := s.Store.RoleAssignments(ctx, u.ID)
	if err != nil {
		return nil, nil, internal("role assignments", err)
	}
	var roles []string
	for _, r := range roleNames {
		for _, a := range as {
			if a.ProjectID == proj.ID && a.Role == r {
				roles = append(roles, r)
				break
			}
		}
	}
	if len(roles) == 0 {
		return nil, nil, scopeFailed()
	}
	return proj, roles, nil
}
