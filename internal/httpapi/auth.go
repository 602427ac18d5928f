package httpapi

import (
	"net/http"

	"github.com/arkserve/arkserve/internal/ark"
)

// projectHandler handles a /v1/{project_id}/... request for an authorized principal.
type projectHandler func(w http.ResponseWriter, r *http.Request, p *ark.Principal)

// project authenticates the X-Auth-Token of a /v1/{project_id}/... request and authorizes it:
// the token must be scoped to that project, and writes need the admin or member role.
func (s *Server) project(write bool, h projectHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		p, err := s.IAM.Verify(r.Header.Get("X-Auth-Token"))
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		if p.ProjectID == "" {
			s.writeError(w, r, ark.Errorf(ark.ETokenNoProject, "Invalid token header because the token does not contain a project."))
			return
		}
		pid := r.PathValue("project_id")
		if pid != p.ProjectID || (r.Header.Get("X-Project-Id") != "" && r.Header.Get("X-Project-Id") != pid) {
			s.writeError(w, r, ark.Errorf(ark.EProjectMismatch, "The project id in the request URL does not match the token."))
			return
		}
		if write && !p.CanWrite() {
			s.writeError(w, r, ark.Errorf(ark.EForbidden, "You are not authorized to perform the (%s) operation.", r.Pattern))
			return
		}
		h(w, r, p)
	}
}
