package httpapi

import (
	_ "embed"
	"net/http"
)

// openAPIDocument describes every route of this package (OpenAPI 3.0); tests validate the
// responses they receive against it.
//
//go:embed openapi.json
var openAPIDocument []byte

// OpenAPI returns the OpenAPI document.
func OpenAPI() []byte { return openAPIDocument }

func (s *Server) handleOpenAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openAPIDocument)
}
