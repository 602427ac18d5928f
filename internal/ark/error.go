// Package ark is the domain of arkserve: the types of the ModelArts v1 API (models, services, update
// logs, events, projects, users), their validation rules and the one error type that carries a
// ModelArts error code. It imports only the standard library; storage, HTTP and processes live in
// packages around it.
package ark

import (
	"errors"
	"fmt"
)

// ModelArts error codes used by arkserve. The reference's appendix defines them (status | code |
// message); codes in the 04xx range are arkserve's own for transport-level conditions the reference
// has no code for (unknown API, wrong method, oversized body), chosen in a range the reference leaves
// unused so that no client can mistake them for a documented condition.
const (
	EInternal           = "ModelArts.0010" // 500 Internal error.
	EInvalidArgument    = "ModelArts.0101" // 400 Invalid Argument.
	EForbidden          = "ModelArts.0108" // 403 You are not authorized to perform the ({0}) operation.
	ETokenMissing       = "ModelArts.0201" // 401 Token doesn't exist.
	ETokenExpired       = "ModelArts.0202" // 401 Invalid token header because the token has expired.
	ETokenInvalid       = "ModelArts.0203" // 401 Invalid token.
	EProjectMismatch    = "ModelArts.0210" // 403 The project id in the request URL does not match the token.
	ETokenNoProject     = "ModelArts.0212" // 401 Invalid token header because the token does not contain a project.
	EAuthFailed         = "ModelArts.0213" // 401 arkserve: wrong user name or password (Keystone answers 401 here)
	EAccessKeyNotFound  = "ModelArts.0214" // 404 arkserve: no such access key (among those the caller may see)
	ENodeNotFound       = "ModelArts.0215" // 404 arkserve: no such edge node in the project
	ECredentialNotFound = "ModelArts.0216" // 404 arkserve: no such node credential
	ETooManyRequests    = "ModelArts.2799" // 429 TooManyRequests (arkserve: token issuance per user and source)
	EModelNotFound      = "ModelArts.3001" // 404 Model ({0}) does not exist.
	EModelExists        = "ModelArts.3002" // 409 Model ({0}, {1}) already exists.
	EModelInUse         = "ModelArts.3009" // Failed to delete model, model ({0}) already deploy service.
	EModelConfig        = "ModelArts.3015" // 400 Config json file does not conform to the specification.
	ERequired           = "ModelArts.3036" // 400 Parameter verification failed, parameter ({0}) is required.
	EInvalidParam       = "ModelArts.3037" // 400 Parameter ({0}:{1}) is invalid.
	EServiceNotFound    = "ModelArts.3502" // 404 Service {name} does not exist.
	EServiceExists      = "ModelArts.3503" // 409 Service {name} already exists.
	EServiceModelAbsent = "ModelArts.3507" // 404 Model {name} does not exist.
	EDuplicateVersion   = "ModelArts.3516" // 400 ... the version of the model ... is the same.
	EServiceBusy        = "ModelArts.3519" // 400 the service cannot be updated in its current state
	ENotEnabled         = "ModelArts.3518" // 400 The {service_type} service has not been enabled or authorized.
	EEmpty              = "ModelArts.3610" // 400 Parameter {name} cannot be empty.
	ENoSpec             = "ModelArts.3976" // 400 No resources are available for the selected specification.
	EInsufficient       = "ModelArts.3952" // 400 Insufficient resources. Please try later.
	EClusterNotFound    = "ModelArts.3547" // 400 Cluster {id} does not exist.
	ENoRoute            = "ModelArts.0404" // 404 arkserve: no such API
	EMethod             = "ModelArts.0405" // 405 arkserve: method not allowed on this API
	ETooLarge           = "ModelArts.0413" // 413 arkserve: request body too large
	EMediaType          = "ModelArts.0415" // 415 arkserve: the body must be JSON
	EBadGateway         = "ModelArts.0502" // 502 arkserve: the service instance could not be reached
	EUnavailable        = "ModelArts.0503" // 503 arkserve: no ready instance of the service
	EGatewayTimeout     = "ModelArts.0504" // 504 arkserve: the service instance did not answer in time
)

// Error is the domain error: a ModelArts code and a message meant for the user. Anything that is not
// an *Error is internal and reaches clients only as "Internal error.".
type Error struct {
	Code    string
	Message string
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf returns an *Error with the given code and a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of err, EInternal when err is not an *Error, "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EInternal
}

// ErrorMessage returns the user message of err; internal errors say only "Internal error.".
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "Internal error."
}
