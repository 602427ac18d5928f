package iam

import (
	"cmp"
	"context"
	"regexp"
	"slices"
	"strings"

	"github.com/arkserve/arkserve/internal/ark"
)

var iamNameRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// ValidateName checks a user, project or domain name: 1 to 64 letters, digits, "-", "_" and ".".
func ValidateName(field, name string) error {
	if name == "" {
		return ark.Errorf(ark.ERequired, "Parameter verification failed, parameter (%s) is required.", field)
	}
	if !iamNameRE.MatchString(name) {
		return ark.Errorf(ark.EInvalidParam, "Parameter (%s) is invalid: use 1 to 64 letters, digits, \"-\", \"_\" and \".\".", field)
	}
	return nil
}

// Bootstrap creates what a fresh store needs: domain Default (id "default"), project "default",
// user "admin" with adminPassword and role admin on that project. It completes a bootstrap that
// was interrupted and is a no-op once the domain and the admin user exist. created reports whether
// the admin user was created now (that is, whether adminPassword is now its password).
func (s *Service) Bootstrap(ctx context.Context, adminPassword string) (created bool, err error) {
	d, err := s.Store.FindDomain(ctx, ark.DefaultDomainID)
	if err != nil {
		return false, internal("find domain", err)
	}
	if d != nil && d.ID == ark.DefaultDomainID {
		u, err := s.Store.FindUserByName(ctx, ark.DefaultDomainID, ark.AdminUser)
		if err != nil {
			return false, internal("find user", err)
		}
		if u != nil {
			return false, nil
		}
	}
	hash, err := HashPassword(adminPassword) // before anything is written
	if err != nil {
		return false, err
	}
	if d == nil || d.ID != ark.DefaultDomainID {
		d = &ark.Domain{ID: ark.DefaultDomainID, Name: ark.DefaultDomainName, Enabled: true}
		if err := s.Store.CreateDomain(ctx, d); err != nil {
			return false, internal("create domain", err)
		}
	}
	p, err := s.Store.FindProjectByName(ctx, d.ID, ark.DefaultProject)
	if err != nil {
		return false, internal("find project", err)
	}
	if p == nil {
		p = &ark.Project{ID: ark.NewHexID(), DomainID: d.ID, Name: ark.DefaultProject,
			Description: "Created at bootstrap", Enabled: true, CreatedAt: s.Now().UTC()}
		if err := s.Store.CreateProject(ctx, p); err != nil {
			return false, internal("create project", err)
		}
	}
	u := &ark.User{ID: ark.NewHexID(), DomainID: d.ID, Name: ark.AdminUser, PasswordHash: hash,
		Enabled: true, CreatedAt: s.Now().UTC()}
	if err := s.Store.CreateUser(ctx, u); err != nil {
		return false, internal("create user", err)
	}
	if err := s.Store.AssignRole(ctx, ark.RoleAssignment{UserID: u.ID, ProjectID: p.ID, Role: ark.RoleAdmin}); err != nil {
		return false, internal("assign role", err)
	}
	s.Logger.Info("iam: bootstrap created domain, project and admin user",
		"domain", d.Name, "project", p.Name, "project_id", p.ID, "user", u.Name)
	return true, nil
}

// domainOrDefault finds the domain ref (id or name; "" means the default domain).
func (s *Service) domainOrDefault(ctx context.Context, ref string) (*ark.Domain, error) {
	if ref == "" {
		ref = ark.DefaultDomainID
	}
	d, err := s.Store.FindDomain(ctx, ref)
	if err != nil {
		return nil, internal("find domain", err)
	}
	if d == nil {
		return nil, ark.Errorf(ark.EInvalidParam, "Parameter (domain:%s) is invalid: no such domain.", ref)
	}
	return d, nil
}

// CreateProject creates a project in a domain (id or name; "" = the default domain).
func (s *Service) CreateProject(ctx context.Context, domain, name, description string) (*ark.Project, error) {
	if err := ValidateName("name", name); err != nil {
		return nil, err
	}
	if err := ark.CheckText("description", description, 255); err != nil {
		return nil, err
	}
	d, err := s.domainOrDefault(ctx, domain)
	if err != nil {
		return nil, err
	}
	old, err := s.Store.FindProjectByName(ctx, d.ID, name)
	if err != nil {
		return nil, internal("find project", err)
	}
	if old != nil {
		return nil, ark.Errorf(ark.EInvalidParam, "Parameter (name:%s) is invalid: the project exists in domain %s.", name, d.Name)
	}
	p := &ark.Project{ID: ark.NewHexID(), DomainID: d.ID, Name: name, Description: description,
		Enabled: true, CreatedAt: s.Now().UTC()}
	if err := s.Store.CreateProject(ctx, p); err != nil {
		return nil, err // the store's own duplicate error is an *ark.Error
	}
	return p, nil
}

// CreateUser creates an enabled user in a domain (id or name; "" = the default domain).
func (s *Service) CreateUser(ctx context.Context, domain, name, password string) (*ark.User, error) {
	if err := ValidateName("name", name); err != nil {
		return nil, err
	}
	hash, err := HashPassword(password)
	if err != nil {
		return nil, err
	}
	d, err := s.domainOrDefault(ctx, domain)
	if err != nil {
		return nil, err
	}
	old, err := s.Store.FindUserByName(ctx, d.ID, name)
	if err != nil {
		return nil, internal("find user", err)
	}
	if old != nil {
		return nil, ark.Errorf(ark.EInvalidParam, "Parameter (name:%s) is invalid: the user exists in domain %s.", name, d.Name)
	}
	u := &ark.User{ID: ark.NewHexID(), DomainID: d.ID, Name: name, PasswordHash: hash,
		Enabled: true, CreatedAt: s.Now().UTC()}
	if err := s.Store.CreateUser(ctx, u); err != nil {
		return nil, err
	}
	u.PasswordHash = ""
	return u, nil
}

// SetPassword changes a user's password (user: see AssignRole).
func (s *Service) SetPassword(ctx context.Context, user, password string) error {
	hash, err := HashPassword(password)
	if err != nil {
		return err
	}
	u, err := s.resolveUser(ctx, user)
	if err != nil {
		return err
	}
	if err := s.Store.SetPassword(ctx, u.ID, hash); err != nil {
		return internal("set password", err)
	}
	return nil
}

// splitRef splits "domain/name" (names cannot contain "/"); a bare ref has domain "".
func splitRef(ref string) (domain, name string) {
	if i := strings.IndexByte(ref, '/'); i >= 0 {
		return ref[:i], ref[i+1:]
	}
	return "", ref
}

// resolveUser finds a user by id, by name in the default domain, or by "domain/name".
func (s *Service) resolveUser(ctx context.Context, ref string) (*ark.User, error) {
	dom, name := splitRef(ref)
	if dom == "" {
		u, err := s.Store.FindUser(ctx, ref)
		if err != nil {
			return nil, internal("find user", err)
		}
		if u != nil {
			return u, nil
		}
	}
	d, err := s.domainOrDefault(ctx, dom)
	if err != nil {
		return nil, err
	}
	u, err := s.Store.FindUserByName(ctx, d.ID, name)
	if err != nil {
		return nil, internal("find user", err)
	}
	if u == nil {
		return nil, ark.Errorf(ark.EInvalidParam, "Parameter (user:%s) is invalid: no such user.", ref)
	}
	return u, nil
}

// resolveProject finds a project by id, by name in the default domain, or by "domain/name".
func (s *Service) resolveProject(ctx context.Context, ref string) (*ark.Project, error) {
	dom, name := splitRef(ref)
	if dom == "" {
		p, err := s.Store.FindProject(ctx, ref)
		if err != nil {
			return nil, internal("find project", err)
		}
		if p != nil {
			return p, nil
		}
	}
	d, err := s.domainOrDefault(ctx, dom)
	if err != nil {
		return nil, err
	}
	p, err := s.Store.FindProjectByName(ctx, d.ID, name)
	if err != nil {
		return nil, internal("find project", err)
	}
	if p == nil {
		return nil, ark.Errorf(ark.EInvalidParam, "Parameter (project:%s) is invalid: no such project.", ref)
	}
	return p, nil
}

// AssignRole grants role on project to user. user and project are ids, names in the default
// domain, or "domain/name"; both must be in the same domain. Assigning a role twice is harmless.
func (s *Service) AssignRole(ctx context.Context, user, project, role string) error {
	a, err := s.assignment(ctx, user, project, role)
	if err != nil {
		return err
	}
	if err := s.Store.AssignRole(ctx, a); err != nil {
		return internal("assign role", err)
	}
	return nil
}

// UnassignRole withdraws a role (arguments as for AssignRole). Tokens already issued keep their
// roles until they expire or are revoked.
func (s *Service) UnassignRole(ctx context.Context, user, project, role string) error {
	a, err := s.assignment(ctx, user, project, role)
	if err != nil {
		return err
	}
	if err := s.Store.UnassignRole(ctx, a); err != nil {
		return internal("unassign role", err)
	}
	return nil
}

func (s *Service) assignment(ctx context.Context, user, project, role string) (ark.RoleAssignment, error) {
	if !ark.ValidRole(role) {
		return ark.RoleAssignment{}, ark.Errorf(ark.EInvalidParam, "Parameter (role:%s) is invalid: use %s, %s or %s.",
			role, ark.RoleAdmin, ark.RoleMember, ark.RoleReader)
	}
	u, err := s.resolveUser(ctx, user)
	if err != nil {
		return ark.RoleAssignment{}, err
	}
	p, err := s.resolveProject(ctx, project)
	if err != nil {
		return ark.RoleAssignment{}, err
	}
	if u.DomainID != p.DomainID {
		return ark.RoleAssignment{}, ark.Errorf(ark.EInvalidParam,
			"Parameter (project:%s) is invalid: the user and the project must be in the same domain.", project)
	}
	return ark.RoleAssignment{UserID: u.ID, ProjectID: p.ID, Role: role}, nil
}

// Assignment is a role assignment with names, for listings.
type Assignment struct {
	UserID      string
	UserName    string
	ProjectID   string
	ProjectName string
	Role        string
}

// ProjectInfo is a project with the roles held on it.
type ProjectInfo struct {
	Project ark.Project
	Roles   []Assignment
}

// UserInfo is a user (PasswordHash cleared) with the roles it holds.
type UserInfo struct {
	User  ark.User
	Roles []Assignment
}

// ListUsers lists every user with its roles, by domain and name.
func (s *Service) ListUsers(ctx context.Context) ([]UserInfo, error) {
	users, _, byUser, err := s.everything(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]UserInfo, 0, len(users))
	for _, u := range users {
		ui := UserInfo{User: *u, Roles: byUser[u.ID]}
		ui.User.PasswordHash = ""
		out = append(out, ui)
	}
	slices.SortFunc(out, func(a, b UserInfo) int {
		return cmp.Or(cmp.Compare(a.User.DomainID, b.User.DomainID), cmp.Compare(a.User.Name, b.User.Name))
	})
	return out, nil
}

// ListProjects lists every project with the roles held on it, by domain and name.
func (s *Service) ListProjects(ctx context.Context) ([]ProjectInfo, error) {
	users, projects, byUser, err := s.everything(ctx)
	if err != nil {
		return nil, err
	}
	byProject := map[string][]Assignment{}
	for _, u := range users {
		for _, a := range byUser[u.ID] {
			byProject[a.ProjectID] = append(byProject[a.ProjectID], a)
		}
	}
	out := make([]ProjectInfo, 0, len(projects))
	for _, p := range projects {
		out = append(out, ProjectInfo{Project: *p, Roles: byProject[p.ID]})
	}
	slices.SortFunc(out, func(a, b ProjectInfo) int {
		return cmp.Or(cmp.Compare(a.Project.DomainID, b.Project.DomainID), cmp.Compare(a.Project.Name, b.Project.Name))
	})
	return out, nil
}

// everything loads users, projects and every user's assignments (with names). Administration
// listings only: a handful of queries per user.
func (s *Service) everything(ctx context.Context) ([]*ark.User, []*ark.Project, map[string][]Assignment, error) {
	users, err := s.Store.ListUsers(ctx)
	if err != nil {
		return nil, nil, nil, internal("list users", err)
	}
	projects, err := s.Store.ListProjects(ctx)
	if err != nil {
		return nil, nil, nil, internal("list projects", err)
	}
	pname := make(map[string]string, len(projects))
	for _, p := range projects {
		pname[p.ID] = p.Name
	}
	byUser := make(map[string][]Assignment, len(users))
	for _, u := range users {
		as, err := s.Store.RoleAssignments(ctx, u.ID)
		if err != nil {
			return nil, nil, nil, internal("role assignments", err)
		}
		for _, a := range as {
			byUser[u.ID] = append(byUser[u.ID], Assignment{UserID: u.ID, UserName: u.Name,
				ProjectID: a.ProjectID, ProjectName: pname[a.ProjectID], Role: a.Role})
		}
	}
	return users, projects, byUser, nil
}

// ProjectsForUser lists the enabled projects the user holds a role on, by name.
func (s *Service) ProjectsForUser(ctx context.Context, userID string) ([]*ark.Project, error) {
	as, err := s.Store.RoleAssignments(ctx, userID)
	if err != nil {
		return nil, internal("role assignments", err)
	}
	seen := map[string]bool{}
	var out []*ark.Project
	for _, a := range as {
		if seen[a.ProjectID] {
			continue
		}
		seen[a.ProjectID] = true
		p, err := s.Store.FindProject(ctx, a.ProjectID)
		if err != nil {
			return nil, internal("find project", err)
		}
		if p != nil && p.Enabled {
			out = append(out, p)
		}
	}
	slices.SortFunc(out, func(a, b *ark.Project) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID))
	})
	return out, nil
}

// IsCloudAdmin reports whether p administers the whole installation: role admin in project
// "default" of domain "default" (the bootstrap project).
func IsCloudAdmin(p *ark.Principal) bool {
	return p != nil && p.DomainID == ark.DefaultDomainID && p.ProjectName == ark.DefaultProject && p.HasRole(ark.RoleAdmin)
}

// ProjectsVisibleTo lists the projects p may see: all of them for a cloud admin (IsCloudAdmin),
// else the enabled ones p's user holds a role on. Sorted by name.
func (s *Service) ProjectsVisibleTo(ctx context.Context, p *ark.Principal) ([]*ark.Project, error) {
	if !IsCloudAdmin(p) {
		return s.ProjectsForUser(ctx, p.UserID)
	}
	ps, err := s.Store.ListProjects(ctx)
	if err != nil {
		return nil, internal("list projects", err)
	}
	slices.SortFunc(ps, func(a, b *ark.Project) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID))
	})
	return ps, nil
}
