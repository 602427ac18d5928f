package httpapi

import (
	"bytes"
	"errors"
	"io"
	"net/http"

	"github.com/arkserve/arkserve/internal/ark"
	"github.com/arkserve/arkserve/internal/iam"
)

// projectHandler handles a /v1/{project_id}/... request for an authorized principal.
type projectHandler func(w http.ResponseWriter, r *http.Request, p *ark.Principal)

// project authenticates a /v1/{project_id}/... request (an X-Auth-Token or an AK/SK signature,
// see authenticate) and authorizes it: the principal must be of that project, and writes need the
// admin or member role.
func (s *Server) project(write bool, h projectHandler) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		pid := r.PathValue("project_id")
		p, err := s.authenticate(r, pid, s.MaxBodyBytes, false)
		if err == nil {
			err = authorize(r, p, pid, write)
		}
		if err != nil {
			s.writeError(w, r, err)
			return
		}
		h(w, r, p)
	}
}

// authenticate finds the caller of a request: the principal of its X-Auth-Token, or, when its
// Authorization header carries an SDK-HMAC-SHA256 signature, the key's user with its roles on the
// project named by X-Project-Id, else by pathProject. A signed request's body (at most maxBody
// bytes) is read to check its hash and put back for the handler; inference calls may leave it
// unsigned (X-Sdk-Content-Sha256: UNSIGNED-PAYLOAD, as the SDK does for bodies that are not
// JSON). Both ways end in the same *ark.Principal, which authorize checks.
func (s *Server) authenticate(r *http.Request, pathProject string, maxBody int64, inference bool) (*ark.Principal, error) {
	authz := r.Header.Get("Authorization")
	if !iam.IsSignature(authz) {
		return s.IAM.Verify(r.Header.Get("X-Auth-Token"))
	}
	if r.Header.Get("X-Auth-Token") != "" {
		return nil, ark.Errorf(ark.ETokenInvalid, "A request carries either X-Auth-Token or a signature, not both.")
	}
	pid := r.Header.Get("X-Project-Id")
	if pid == "" {
		pid = pathProject
	}
	sr := &iam.SignedRequest{Method: r.Method, Path: r.URL.Path, RawQuery: r.URL.RawQuery, Host: r.Host, Header: r.Header,
		AllowUnsignedPayload: inference}
	if !(inference && r.Header.Get("X-Sdk-Content-Sha256") == iam.UnsignedPayload) && r.Body != nil {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
		var mbe *http.MaxBytesError
		switch {
		case errors.As(err, &mbe) || int64(len(body)) > maxBody:
			return nil, ark.Errorf(ark.ETooLarge, "The request body is larger than %d bytes.", maxBody)
		case err != nil:
			return nil, ark.Errorf(ark.EInvalidArgument, "The request body could not be read.")
		}
		sr.Body = body
		r.Body = io.NopCloser(bytes.NewReader(body))
	}
	return s.IAM.VerifySignature(r.Context(), sr, pid)
}

// authorize is the one authorization rule of project APIs, whichever way p was authenticated: p
// is of project pid (and X-Project-Id, when sent, names the same project); writes need admin or
// member.
func authorize(r *http.Request, p *ark.Principal, pid string, write bool) error {
	if p.ProjectID == "" {
		return ark.Errorf(ark.ETokenNoProject, "Invalid token header because the token does not contain a project.")
	}
	if pid != p.ProjectID || (r.Header.Get("X-Project-Id") != "" && r.Header.Get("X-Project-Id") != pid) {
		return ark.Errorf(ark.EProjectMismatch, "The project id in the request URL does not match the token.")
	}
	if write && !p.CanWrite() {
		return ark.Errorf(ark.EForbidden, "You are not authorized to perform the (%s) operation.", r.Pattern)
	}
	return nil
}
