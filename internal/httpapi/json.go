package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/arkserve/arkserve/internal/ark"
)

// writeJSON encodes v with the given status.
func (s *Server) writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		// Only our own types are encoded here; a failure is a bug, reported as an internal error.
		s.Logger.Error("encode response", "err", err)
		b = []byte(`{"error_code":"ModelArts.0010","error_msg":"Internal error."}`)
		status = http.StatusInternalServerError
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// decodeJSON reads the (size-limited) body into v and turns every way it can be wrong into a
// ModelArts error: not JSON, wrong types, trailing data, invalid UTF-8, too large, wrong media type.
func decodeJSON(r *http.Request, v any) error {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || !(mt == "application/json" || strings.HasSuffix(mt, "+json")) {
			return ark.Errorf(ark.EMediaType, "Content-Type must be application/json, got %q.", clipString(ct))
		}
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return ark.Errorf(ark.ETooLarge, "The request body is larger than %d bytes.", mbe.Limit)
		}
		return ark.Errorf(ark.EInvalidArgument, "The request body could not be read.")
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return ark.Errorf(ark.EInvalidArgument, "The request body is empty; a JSON object is required.")
	}
	if !utf8.Valid(body) {
		return ark.Errorf(ark.EInvalidArgument, "The request body is not valid UTF-8.")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		return jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return ark.Errorf(ark.EInvalidArgument, "The request body holds data after the JSON object.")
	}
	return nil
}

func jsonError(err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	var de *ark.Error
	switch {
	case errors.As(err, &de):
		return de
	case errors.As(err, &se):
		return ark.Errorf(ark.EInvalidArgument, "The request body is not valid JSON (offset %d).", se.Offset)
	case errors.As(err, &te):
		field := te.Field
		if field == "" {
			return ark.Errorf(ark.EInvalidArgument, "The request body must be a JSON object.")
		}
		return ark.Errorf(ark.EInvalidParam, "Parameter (%s) is invalid: expected %s, got JSON %s.", field, jsonKind(te.Type.String()), te.Value)
	case errors.Is(err, io.ErrUnexpectedEOF):
		return ark.Errorf(ark.EInvalidArgument, "The request body is truncated JSON.")
	}
	return ark.Errorf(ark.EInvalidArgument, "The request body is not valid JSON: %s.", clipString(err.Error()))
}

func jsonKind(goType string) string {
	switch {
	case strings.HasPrefix(goType, "[]"):
		return "an array"
	case strings.HasPrefix(goType, "map["), strings.Contains(goType, "."):
		if strings.HasSuffix(goType, "flexInt") {
			return "an integer"
		}
		return "an object"
	case strings.HasPrefix(goType, "int"), strings.HasPrefix(goType, "uint"):
		return "an integer"
	case strings.HasPrefix(goType, "float"):
		return "a number"
	case goType == "string":
		return "a string"
	case goType == "bool":
		return "a boolean"
	}
	return goType
}

func clipString(s string) string {
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	return strings.ToValidUTF8(s, "?")
}
