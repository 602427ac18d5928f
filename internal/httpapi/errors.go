package httpapi

import (
	"net/http"

	"github.com/arkserve/arkserve/internal/ark"
)

// statusOf is the one table from ModelArts codes to HTTP statuses.
var statusOf = map[string]int{
	ark.EInternal:           http.StatusInternalServerError,
	ark.EInvalidArgument:    http.StatusBadRequest,
	ark.EForbidden:          http.StatusForbidden,
	ark.ETokenMissing:       http.StatusUnauthorized,
	ark.ETokenExpired:       http.StatusUnauthorized,
	ark.ETokenInvalid:       http.StatusUnauthorized,
	ark.EProjectMismatch:    http.StatusForbidden,
	ark.ETokenNoProject:     http.StatusUnauthorized,
	ark.EAuthFailed:         http.StatusUnauthorized,
	ark.EAccessKeyNotFound:  http.StatusNotFound,
	ark.ENodeNotFound:       http.StatusNotFound,
	ark.ECredentialNotFound: http.StatusNotFound,
	ark.ETooManyRequests:    http.StatusTooManyRequests,
	ark.EModelNotFound:      http.StatusNotFound,
	ark.EModelExists:        http.StatusConflict,
	ark.EModelInUse:         http.StatusBadRequest,
	ark.EModelConfig:        http.StatusBadRequest,
	ark.ERequired:           http.StatusBadRequest,
	ark.EInvalidParam:       http.StatusBadRequest,
	ark.EServiceNotFound:    http.StatusNotFound,
	ark.EServiceExists:      http.StatusConflict,
	ark.EServiceModelAbsent: http.StatusNotFound,
	ark.EDuplicateVersion:   http.StatusBadRequest,
	ark.ENotEnabled:         http.StatusBadRequest,
	ark.EServiceBusy:        http.StatusBadRequest,
	ark.EEmpty:              http.StatusBadRequest,
	ark.ENoSpec:             http.StatusBadRequest,
	ark.EInsufficient:       http.StatusBadRequest,
	ark.EClusterNotFound:    http.StatusBadRequest,
	ark.ENoRoute:            http.StatusNotFound,
	ark.EMethod:             http.StatusMethodNotAllowed,
	ark.ETooLarge:           http.StatusRequestEntityTooLarge,
	ark.EMediaType:          http.StatusUnsupportedMediaType,
	ark.EBadGateway:         http.StatusBadGateway,
	ark.EUnavailable:        http.StatusServiceUnavailable,
	ark.EGatewayTimeout:     http.StatusGatewayTimeout,
}

// errorBody is the reference's error body.
type errorBody struct {
	ErrorCode string `json:"error_code"`
	ErrorMsg  string `json:"error_msg"`
}

// writeError is the single exit for errors: domain errors keep their code and message; anything
// else is logged with the request id and reaches the client as ModelArts.0010.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	code := ark.ErrorCode(err)
	status, ok := statusOf[code]
	if !ok {
		status = http.StatusBadRequest
	}
	if code == ark.EInternal {
		s.Logger.Error("internal error", "request_id", requestID(r.Context()), "method", r.Method,
			"path", r.URL.Path, "err", err)
	}
	if status == http.StatusMethodNotAllowed {
		w.Header().Set("Allow", "GET, POST, PUT, DELETE")
	}
	s.writeJSON(w, status, errorBody{ErrorCode: code, ErrorMsg: ark.ErrorMessage(err)})
}
