package httpapi

import (
	"net/http"

	"github.com/arkserve/arkserve/internal/ark"
	"github.com/arkserve/arkserve/internal/iam"
)

// Access keys through Huawei Cloud IAM's permanent-credential API (/v3.0/OS-CREDENTIAL). The
// caller authenticates with a token (scoped or not) or a signature; everyone manages their own
// keys, a cloud admin (iam.IsCloudAdmin: admin of project "default", by a token scoped to it or
// a signature with its X-Project-Id) anyone's. Keys the caller may not manage answer 404 as
// missing ones do.
func (s *Server) registerCredentials(mux *http.ServeMux) {
	seen := map[string]bool{}
	route(mux, seen, s, "POST /v3.0/OS-CREDENTIAL/credentials", s.handleCredentialCreate)
	route(mux, seen, s, "GET /v3.0/OS-CREDENTIAL/credentials", s.handleCredentialList)
	route(mux, seen, s, "GET /v3.0/OS-CREDENTIAL/credentials/{access_key}", s.handleCredentialShow)
	route(mux, seen, s, "DELETE /v3.0/OS-CREDENTIAL/credentials/{access_key}", s.handleCredentialDelete)
}

type credential struct {
	UserID      string `json:"user_id"`
	Access      string `json:"access"`
	Secret      string `json:"secret,omitempty"`
	Status      string `json:"status"`
	CreateTime  string `json:"create_time"`
	Description string `json:"description"`
}

func toCredential(k *ark.AccessKey, secret string) credential {
	return credential{UserID: k.UserID, Access: k.ID, Secret: secret, Status: "active", CreateTime: ksTime(k.CreatedAt), Description: k.Description}
}

// credCaller authenticates an IAM call: a token, or a signature (project from X-Project-Id).
func (s *Server) credCaller(w http.ResponseWriter, r *http.Request) (*ark.Principal, bool) {
	p, err := s.authenticate(r, "", s.MaxBodyBytes, false)
	if err != nil {
		s.ksError(w, r, err)
		return nil, false
	}
	return p, true
}

func mayManageKeys(p *ark.Principal, userID string) bool {
	return p.UserID == userID || iam.IsCloudAdmin(p)
}

func (s *Server) handleCredentialCreate(w http.ResponseWriter, r *http.Request) {
	p, ok := s.credCaller(w, r)
	if !ok {
		return
	}
	var req struct {
		Credential *struct {
			UserID      string `json:"user_id"`
			Description string `json:"description"`
		} `json:"credential"`
	}
	if err := decodeJSON(r, &req); err != nil {
		s.writeError(w, r, err)
		return
	}
	if req.Credential == nil {
		s.writeError(w, r, ark.Errorf(ark.ERequired, "Parameter verification failed, parameter (credential) is required."))
		return
	}
	if req.Credential.UserID == "" {
		req.Credential.UserID = p.UserID // arkserve: the caller's own key by default
	}
	if !mayManageKeys(p, req.Credential.UserID) {
		s.writeError(w, r, ark.Errorf(ark.EForbidden, "You are not authorized to perform the (create access key) operation."))
		return
	}
	k, secret, err := s.IAM.CreateAccessKey(r.Context(), req.Credential.UserID, req.Credential.Description)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	s.writeJSON(w, http.StatusCreated, map[string]credential{"credential": toCredential(k, secret)})
}

func (s *Server) handleCredentialList(w http.ResponseWriter, r *http.Request) {
	p, ok := s.credCaller(w, r)
	if !ok {
		return
	}
	q, err := newQuery(r)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	user := p.UserID
	if q.v.Has("user_id") {
		user = q.str("user_id", 64)
	}
	if q.err != nil {
		s.writeError(w, r, q.err)
		return
	}
	if !mayManageKeys(p, user) {
		s.writeError(w, r, ark.Errorf(ark.EForbidden, "You are not authorized to perform the (list access keys) operation."))
		return
	}
	ks, err := s.IAM.ListAccessKeys(r.Context(), user)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	out := make([]credential, 0, len(ks))
	for _, k := range ks {
		out = append(out, toCredential(k, ""))
	}
	s.writeJSON(w, http.StatusOK, map[string][]credential{"credentials": out})
}

// credKey finds the key of the path that the caller may manage.
func (s *Server) credKey(w http.ResponseWriter, r *http.Request) (*ark.AccessKey, bool) {
	p, ok := s.credCaller(w, r)
	if !ok {
		return nil, false
	}
	k, err := s.IAM.FindAccessKey(r.Context(), r.PathValue("access_key"))
	if err == nil && !mayManageKeys(p, k.UserID) {
		err = ark.Errorf(ark.EAccessKeyNotFound, "Access key %q does not exist.", k.ID)
	}
	if err != nil {
		s.writeError(w, r, err)
		return nil, false
	}
	return k, true
}

func (s *Server) handleCredentialShow(w http.ResponseWriter, r *http.Request) {
	if k, ok := s.credKey(w, r); ok {
		s.writeJSON(w, http.StatusOK, map[string]credential{"credential": toCredential(k, "")})
	}
}

func (s *Server) handleCredentialDelete(w http.ResponseWriter, r *http.Request) {
	k, ok := s.credKey(w, r)
	if !ok {
		return
	}
	if err := s.IAM.DeleteAccessKey(r.Context(), k.ID); err != nil {
		s.writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
