package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"time"

	"github.com/arkserve/arkserve/internal/ark"
	"github.com/arkserve/arkserve/internal/iam"
)

// The Keystone v3 subset: enough for OpenStack clients (gophercloud, openstacksdk/keystoneauth)
// to discover the identity API, get and re-scope tokens, list projects and find the ModelArts
// endpoint in the catalog. Errors carry the ModelArts body; Keystone clients look only at the
// status.

// Keystone API version advertised by discovery.
const (
	ksVersion        = "v3.14"
	ksVersionUpdated = "2020-04-07T00:00:00Z"
	ksRegion         = "RegionOne"
	ksTimeFormat     = "2006-01-02T15:04:05.000000Z"
)

func (s *Server) registerKeystone(mux *http.ServeMux) {
	seen := map[string]bool{}
	route(mux, seen, s, "GET /{$}", s.handleKeystoneVersions)
	route(mux, seen, s, "GET /v3", s.handleKeystoneV3)
	route(mux, seen, s, "GET /v3/{$}", s.handleKeystoneV3)
	route(mux, seen, s, "POST /v3/auth/tokens", s.handleIssueToken)
	route(mux, seen, s, "GET /v3/auth/tokens", s.handleValidateToken) // HEAD too (ServeMux)
	route(mux, seen, s, "DELETE /v3/auth/tokens", s.handleRevokeToken)
	route(mux, seen, s, "GET /v3/auth/projects", s.handleAuthProjects)
	route(mux, seen, s, "GET /v3/projects", s.handleListProjects)
}

// Version discovery.

type ksLink struct {
	Rel  string `json:"rel"`
	Href string `json:"href"`
}

type ksMediaType struct {
	Base string `json:"base"`
	Type string `json:"type"`
}

type ksVersionDoc struct {
	ID         string        `json:"id"`
	Status     string        `json:"status"`
	Updated    string        `json:"updated"`
	Links      []ksLink      `json:"links"`
	MediaTypes []ksMediaType `json:"media-types"`
}

func (s *Server) ksVersionDoc(r *http.Request) ksVersionDoc {
	return ksVersionDoc{
		ID:      ksVersion,
		Status:  "stable",
		Updated: ksVersionUpdated,
		Links:   []ksLink{{Rel: "self", Href: s.serviceBase(r) + "/v3/"}},
		MediaTypes: []ksMediaType{{Base: "application/json",
			Type: "application/vnd.openstack.identity-v3+json"}},
	}
}

// handleKeystoneVersions answers GET / as Keystone does: 300 Multiple Choices listing v3.
func (s *Server) handleKeystoneVersions(w http.ResponseWriter, r *http.Request) {
	type values struct {
		Values []ksVersionDoc `json:"values"`
	}
	s.writeJSON(w, http.StatusMultipleChoices, map[string]values{"versions": {Values: []ksVersionDoc{s.ksVersionDoc(r)}}})
}

func (s *Server) handleKeystoneV3(w http.ResponseWriter, r *http.Request) {
	s.writeJSON(w, http.StatusOK, map[string]ksVersionDoc{"version": s.ksVersionDoc(r)})
}

// Tokens.

type ksRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type ksAuthRequest struct {
	Auth *struct {
		Identity *struct {
			Methods  []string `json:"methods"`
			Password *struct {
				User *struct {
					ID       string `json:"id"`
					Name     string `json:"name"`
					Password string `json:"password"`
					Domain   *ksRef `json:"domain"`
				} `json:"user"`
			} `json:"password"`
			Token *struct {
				ID string `json:"id"`
			} `json:"token"`
		} `json:"identity"`
		Scope json.RawMessage `json:"scope"`
	} `json:"auth"`
}

type ksScopeRequest struct {
	Project *struct {
		ID     string `json:"id"`
		Name   string `json:"name"`
		Domain *ksRef `json:"domain"`
	} `json:"project"`
	Domain json.RawMessage `json:"domain"`
	System json.RawMessage `json:"system"`
	Trust  json.RawMessage `json:"OS-TRUST:trust"`
}

// ksScope turns auth.scope into an iam.Scope: absent, null or "unscoped" is unscoped; only
// project scopes are supported.
func ksScope(raw json.RawMessage) (iam.Scope, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" || string(raw) == `"unscoped"` {
		return iam.Scope{}, nil
	}
	var sc ksScopeRequest
	if raw[0] != '{' || json.Unmarshal(raw, &sc) != nil {
		return iam.Scope{}, ark.Errorf(ark.EInvalidParam, "Parameter (auth.scope) is invalid: a project scope object or \"unscoped\" is expected.")
	}
	if sc.Domain != nil || sc.System != nil || sc.Trust != nil {
		return iam.Scope{}, ark.Errorf(ark.EInvalidParam, "Parameter (auth.scope) is invalid: only project scopes are supported.")
	}
	if sc.Project == nil {
		return iam.Scope{}, nil // {} asks for nothing in particular
	}
	p := sc.Project
	out := iam.Scope{ProjectID: p.ID, ProjectName: p.Name}
	if p.Domain != nil {
		out.DomainID, out.DomainName = p.Domain.ID, p.Domain.Name
	}
	if out.ProjectID == "" && out.ProjectName == "" {
		return iam.Scope{}, ark.Errorf(ark.ERequired, "Parameter verification failed, parameter (auth.scope.project.id or name) is required.")
	}
	if out.ProjectID == "" && out.DomainID == "" && out.DomainName == "" {
		return iam.Scope{}, ark.Errorf(ark.ERequired, "Parameter verification failed, parameter (auth.scope.project.domain) is required.")
	}
	return out, nil
}

func (s *Server) handleIssueToken(w http.ResponseWriter, r *http.Request) {
	var req ksAuthRequest
	if err := decodeJSON(r, &req); err != nil {
		s.ksError(w, r, err)
		return
	}
	if req.Auth == nil || req.Auth.Identity == nil {
		s.ksError(w, r, ark.Errorf(ark.ERequired, "Parameter verification failed, parameter (auth.identity) is required."))
		return
	}
	if !s.allowTokenIssue(w, r, s.tokenUser(&req, r)) {
		return
	}
	id := req.Auth.Identity
	scope, err := ksScope(req.Auth.Scope)
	if err != nil {
		s.ksError(w, r, err)
		return
	}
	var (
		token string
		p     *ark.Principal
	)
	switch {
	case len(id.Methods) == 0:
		err = ark.Errorf(ark.ERequired, "Parameter verification failed, parameter (auth.identity.methods) is required.")
	case len(id.Methods) > 1:
		err = ark.Errorf(ark.EInvalidParam, "Parameter (auth.identity.methods) is invalid: use one method, password or token.")
	case id.Methods[0] == "password":
		if id.Password == nil || id.Password.User == nil {
			err = ark.Errorf(ark.ERequired, "Parameter verification failed, parameter (auth.identity.password.user) is required.")
			break
		}
		u := id.Password.User
		a := iam.PasswordAuth{UserID: u.ID, UserName: u.Name, Password: u.Password, Scope: scope}
		if u.Domain != nil {
			a.DomainID, a.DomainName = u.Domain.ID, u.Domain.Name
		}
		token, p, err = s.IAM.AuthPassword(r.Context(), a)
	case id.Methods[0] == "token":
		old := r.Header.Get("X-Auth-Token")
		if id.Token != nil && id.Token.ID != "" {
			old = id.Token.ID
		}
		if old == "" {
			err = ark.Errorf(ark.ERequired, "Parameter verification failed, parameter (auth.identity.token.id) is required.")
			break
		}
		token, p, err = s.IAM.AuthToken(r.Context(), old, scope)
	default:
		err = ark.Errorf(ark.EAuthFailed, "Attempted to authenticate with an unsupported method.")
	}
	if err != nil {
		s.ksError(w, r, err)
		return
	}
	w.Header().Set("X-Subject-Token", token)
	s.writeJSON(w, http.StatusCreated, s.ksTokenBody(r, p))
}

// ksCaller authenticates the X-Auth-Token of a Keystone call.
func (s *Server) ksCaller(w http.ResponseWriter, r *http.Request) (*ark.Principal, bool) {
	p, err := s.IAM.Verify(r.Header.Get("X-Auth-Token"))
	if err != nil {
		s.ksError(w, r, err)
		return nil, false
	}
	return p, true
}

// ksSubject verifies X-Subject-Token; an invalid, expired or revoked one is 404, as in Keystone.
func (s *Server) ksSubject(w http.ResponseWriter, r *http.Request) (string, *ark.Principal, bool) {
	tok := r.Header.Get("X-Subject-Token")
	if tok == "" {
		s.ksError(w, r, ark.Errorf(ark.ERequired, "Parameter verification failed, parameter (X-Subject-Token) is required."))
		return "", nil, false
	}
	p, err := s.IAM.Verify(tok)
	if err != nil {
		s.ksTokenNotFound(w, r, err)
		return "", nil, false
	}
	return tok, p, true
}

// handleValidateToken: anyone holding a token may read it (they could present it as
// X-Auth-Token as well), so the caller needs only a valid token of its own.
func (s *Server) handleValidateToken(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.ksCaller(w, r); !ok {
		return
	}
	tok, p, ok := s.ksSubject(w, r)
	if !ok {
		return
	}
	w.Header().Set("X-Subject-Token", tok)
	s.writeJSON(w, http.StatusOK, s.ksTokenBody(r, p))
}

func (s *Server) handleRevokeToken(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.ksCaller(w, r); !ok {
		return
	}
	tok, _, ok := s.ksSubject(w, r)
	if !ok {
		return
	}
	if err := s.IAM.Revoke(r.Context(), tok); err != nil {
		if c := ark.ErrorCode(err); c == ark.ETokenInvalid || c == ark.ETokenExpired {
			s.ksTokenNotFound(w, r, err) // revoked meanwhile, or expired just now
			return
		}
		s.ksError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// ksError is writeError plus Keystone's WWW-Authenticate challenge on 401.
func (s *Server) ksError(w http.ResponseWriter, r *http.Request, err error) {
	if statusOf[ark.ErrorCode(err)] == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Keystone uri="`+s.serviceBase(r)+`/v3"`)
	}
	s.writeError(w, r, err)
}

// ksTokenNotFound answers 404 for a subject token that is not valid: Keystone's status (a 401
// would tell a client that its own token was refused), with the ModelArts body of the reason.
func (s *Server) ksTokenNotFound(w http.ResponseWriter, r *http.Request, err error) {
	if ark.ErrorCode(err) == ark.EInternal {
		s.writeError(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusNotFound, errorBody{ErrorCode: ark.ErrorCode(err), ErrorMsg: "Could not find token: " + ark.ErrorMessage(err)})
}

type ksTokenResponse struct {
	Token ksToken `json:"token"`
}

type ksToken struct {
	Methods   []string     `json:"methods"`
	User      ksUser       `json:"user"`
	AuditIDs  []string     `json:"audit_ids"`
	ExpiresAt string       `json:"expires_at"`
	IssuedAt  string       `json:"issued_at"`
	Project   *ksProject   `json:"project,omitempty"`
	IsDomain  *bool        `json:"is_domain,omitempty"`
	Roles     []ksRef      `json:"roles,omitempty"`
	Catalog   *[]ksService `json:"catalog,omitempty"`
}

type ksUser struct {
	ID                string  `json:"id"`
	Name              string  `json:"name"`
	Domain            ksRef   `json:"domain"`
	PasswordExpiresAt *string `json:"password_expires_at"`
}

type ksProject struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Domain ksRef  `json:"domain"`
}

type ksService struct {
	ID        string       `json:"id"`
	Type      string       `json:"type"`
	Name      string       `json:"name"`
	Endpoints []ksEndpoint `json:"endpoints"`
}

type ksEndpoint struct {
	ID        string `json:"id"`
	Interface string `json:"interface"`
	Region    string `json:"region"`
	RegionID  string `json:"region_id"`
	URL       string `json:"url"`
}

func ksTime(t time.Time) string { return t.UTC().Format(ksTimeFormat) }

// ksTokenBody renders a principal as Keystone's token body. Roles are named by their names (ids
// equal names). Project-scoped tokens carry the catalog unless ?nocatalog is given.
func (s *Server) ksTokenBody(r *http.Request, p *ark.Principal) ksTokenResponse {
	t := ksToken{
		Methods:   p.Methods,
		User:      ksUser{ID: p.UserID, Name: p.UserName, Domain: ksRef{ID: p.DomainID, Name: p.DomainName}},
		AuditIDs:  []string{ksAuditID(p.TokenID)},
		ExpiresAt: ksTime(p.ExpiresAt),
		IssuedAt:  ksTime(p.IssuedAt),
	}
	if p.ProjectID != "" {
		// iam keeps users and their projects in one domain, so the project's domain is the user's.
		t.Project = &ksProject{ID: p.ProjectID, Name: p.ProjectName, Domain: ksRef{ID: p.DomainID, Name: p.DomainName}}
		f := false
		t.IsDomain = &f
		t.Roles = make([]ksRef, len(p.Roles))
		for i, role := range p.Roles {
			t.Roles[i] = ksRef{ID: role, Name: role}
		}
		if !r.URL.Query().Has("nocatalog") {
			c := s.ksCatalog(r, p.ProjectID)
			t.Catalog = &c
		}
	}
	return ksTokenResponse{Token: t}
}

// ksAuditID is a short, non-secret id of a token (Keystone's audit ids are 22 characters).
func ksAuditID(tokenID string) string {
	if len(tokenID) > 22 {
		return tokenID[:22]
	}
	return tokenID
}

// ksCatalog lists the ModelArts endpoint of a project under the service types OpenStack-based
// clients look up ("modelarts", "modelartsv1"), and the identity endpoint.
func (s *Server) ksCatalog(r *http.Request, projectID string) []ksService {
	base := s.serviceBase(r)
	endpoints := func(svc, url string) []ksEndpoint {
		var eps []ksEndpoint
		for _, iface := range []string{"public", "internal", "admin"} {
			eps = append(eps, ksEndpoint{ID: svc + "-" + iface, Interface: iface, Region: ksRegion, RegionID: ksRegion, URL: url})
		}
		return eps
	}
	ma := base + "/v1/" + projectID
	return []ksService{
		{ID: "modelarts", Type: "modelarts", Name: "modelarts", Endpoints: endpoints("modelarts", ma)},
		{ID: "modelartsv1", Type: "modelartsv1", Name: "modelarts", Endpoints: endpoints("modelartsv1", ma)},
		{ID: "identity", Type: "identity", Name: "keystone", Endpoints: endpoints("identity", base+"/v3")},
	}
}

// Projects.

type ksProjectEntry struct {
	ID          string            `json:"id"`
	Name        string            `json:"name"`
	DomainID    string            `json:"domain_id"`
	Description string            `json:"description"`
	Enabled     bool              `json:"enabled"`
	IsDomain    bool              `json:"is_domain"`
	ParentID    string            `json:"parent_id"`
	Tags        []string          `json:"tags"`
	Links       map[string]string `json:"links"`
}

type ksListLinks struct {
	Self     string  `json:"self"`
	Previous *string `json:"previous"`
	Next     *string `json:"next"`
}

type ksProjectList struct {
	Projects []ksProjectEntry `json:"projects"`
	Links    ksListLinks      `json:"links"`
}

func (s *Server) ksProjectList(r *http.Request, ps []*ark.Project, self string) ksProjectList {
	base := s.serviceBase(r)
	out := ksProjectList{Projects: []ksProjectEntry{}, Links: ksListLinks{Self: base + self}}
	for _, p := range ps {
		out.Projects = append(out.Projects, ksProjectEntry{
			ID: p.ID, Name: p.Name, DomainID: p.DomainID, Description: p.Description, Enabled: p.Enabled,
			ParentID: p.DomainID, Tags: []string{}, Links: map[string]string{"self": base + "/v3/projects/" + p.ID},
		})
	}
	return out
}

// handleAuthProjects lists the projects the caller holds a role on (any token, unscoped too).
func (s *Server) handleAuthProjects(w http.ResponseWriter, r *http.Request) {
	p, ok := s.ksCaller(w, r)
	if !ok {
		return
	}
	ps, err := s.IAM.ProjectsForUser(r.Context(), p.UserID)
	if err != nil {
		s.ksError(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusOK, s.ksProjectList(r, ps, "/v3/auth/projects"))
}

// handleListProjects lists the projects visible to the caller (iam.Service.ProjectsVisibleTo),
// filtered by ?name= and ?domain_id=.
func (s *Server) handleListProjects(w http.ResponseWriter, r *http.Request) {
	p, ok := s.ksCaller(w, r)
	if !ok {
		return
	}
	ps, err := s.IAM.ProjectsVisibleTo(r.Context(), p)
	if err != nil {
		s.ksError(w, r, err)
		return
	}
	q := r.URL.Query()
	kept := ps[:0]
	for _, pr := range ps {
		if (!q.Has("name") || pr.Name == q.Get("name")) && (!q.Has("domain_id") || pr.DomainID == q.Get("domain_id")) {
			kept = append(kept, pr)
		}
	}
	self := "/v3/projects"
	if r.URL.RawQuery != "" {
		self += "?" + q.Encode()
	}
	s.writeJSON(w, http.StatusOK, s.ksProjectList(r, kept, self))
}
