package httpapi

import (
	"net/http"
	"strings"
	"time"

	"github.com/arkserve/arkserve/internal/ark"
)

// DefaultMaxInferBodyBytes bounds inference request bodies (images, batches of inputs): larger
// than the API's limit, still bounded.
const DefaultMaxInferBodyBytes = 64 << 20

// InferReadTimeout bounds how long an inference request's body may take to arrive.
const InferReadTimeout = 10 * time.Minute

// Forwarder proxies inference requests to the instances of a service (internal/gateway).
type Forwarder interface {
	// Forward serves the request, or returns an *ark.Error before writing anything; path is the
	// escaped rest of the URL path after /v1/infers/{service_id}. allowed says whether the caller
	// may use a service of a project.
	Forward(w http.ResponseWriter, r *http.Request, serviceID, path string, allowed func(projectID string) bool) error
}

// Peers forwards a request to the server that drives a service (internal/cluster).
type Peers interface {
	// Forward serves r through the server that drives the service and reports true; it reports
	// false, writing nothing, when this server drives it or none does. An error comes before
	// anything is written (that server could not be reached: ark.EUnavailable).
	Forward(w http.ResponseWriter, r *http.Request, serviceID string) (bool, error)
}

// viaPeer serves r through the server that drives the service, when that is another one.
func (s *Server) viaPeer(w http.ResponseWriter, r *http.Request, serviceID string) bool {
	if s.Peers == nil {
		return false
	}
	done, err := s.Peers.Forward(w, r, serviceID)
	if err != nil {
		s.writeError(w, r, err)
		return true
	}
	return done
}

const infersPrefix = "/v1/infers/"

// withInference sends /v1/infers/... to the inference routes and everything else to api. The
// inference routes have their own mux because ServeMux finds /v1/infers/{service_id} and
// /v1/{project_id}/models in conflict (both match /v1/infers/models), and they bypass api's
// middleware: no 1 MiB limit, no JSON checks. They take any method.
func (s *Server) withInference(api http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/infers/{service_id}", s.handleInfer)
	mux.HandleFunc("/v1/infers/{service_id}/{path...}", s.handleInfer)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, r, ark.Errorf(ark.ENoRoute, "The API %s %s does not exist.", r.Method, r.URL.Path))
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, infersPrefix) {
			mux.ServeHTTP(w, r)
			return
		}
		api.ServeHTTP(w, r)
	})
}

// handleInfer authenticates an inference request as the ModelArts routes do (X-Auth-Token scoped
// to a project, or a signature with X-Project-Id; every role may call) and hands it to
// Inference, which serves only services of the caller's project. A service that Inference cannot
// serve (503) and that does not exist in the caller's project answers 404, so callers cannot tell
// other projects' services from missing ones.
func (s *Server) handleInfer(w http.ResponseWriter, r *http.Request) {
	p, err := s.authenticate(r, "", s.MaxInferBodyBytes, true)
	if err != nil {
		s.writeError(w, r, err)
		return
	}
	if p.ProjectID == "" {
		s.writeError(w, r, ark.Errorf(ark.ETokenNoProject, "Invalid token header because the token does not contain a project."))
		return
	}
	id := r.PathValue("service_id")
	if s.Inference == nil {
		err = ark.Errorf(ark.EUnavailable, "No instance of the service is ready.")
	} else {
		// The server's timeouts are for API calls: an inference response streams for as long as
		// the instance sends (the gateway bounds the wait for its headers), and a large body gets
		// longer to arrive.
		rc := http.NewResponseController(w)
		_ = rc.SetWriteDeadline(time.Time{})
		_ = rc.SetReadDeadline(time.Now().Add(InferReadTimeout))
		if r.ContentLength > s.MaxInferBodyBytes {
			s.writeError(w, r, ark.Errorf(ark.ETooLarge, "The request body is larger than %d bytes.", s.MaxInferBodyBytes))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, s.MaxInferBodyBytes)
		r.Header.Set("X-Request-Id", requestID(r.Context())) // the instance can log the same id
		if s.viaPeer(w, r, id) {
			return
		}
		err = s.Inference.Forward(w, r, id, inferPath(r.URL.EscapedPath()), func(pid string) bool { return pid == p.ProjectID })
		if err == nil {
			return
		}
	}
	if ark.ErrorCode(err) == ark.EUnavailable {
		if _, ferr := s.Store.FindService(r.Context(), p.ProjectID, id); ark.ErrorCode(ferr) == ark.EServiceNotFound {
			err = ferr
		}
	}
	s.writeError(w, r, err)
}

// inferPath is the escaped path after /v1/infers/{service_id}: "" or "/...".
func inferPath(escaped string) string {
	rest := strings.TrimPrefix(escaped, infersPrefix)
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		return rest[i:]
	}
	return ""
}
