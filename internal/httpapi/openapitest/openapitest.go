// Package openapitest checks HTTP responses against an OpenAPI 3.0 document, so that tests of
// other packages can assert that what the server sends is what the document describes.
//
// Load compiles every response schema of the document into a JSON Schema (draft 2020-12) validator;
// ValidateResponse finds the operation for a concrete method and path, the response for the status
// (or "default"), and validates the JSON body. RoundTripper wraps an http.RoundTripper and records
// every violation it sees:
//
//	v, err := openapitest.Load(httpapi.OpenAPI())
//	rt := openapitest.NewRoundTripper(v, nil)
//	client := &http.Client{Transport: rt}
//	... use client ...
//	for _, err := range rt.Errors() { t.Error(err) }
//
// Requests that match no operation are checked against the document's root extension
// "x-arkserve-unrouted-responses" (a map from status to response), which describes what the server
// answers for unknown paths (404) and methods (405).
package openapitest

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"mime"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// docURL is the URL the document is registered under in the schema compiler; $refs such as
// "#/components/schemas/X" resolve against it.
const docURL = "https://arkserve.invalid/openapi.json"

// unroutedKey is the root extension with the responses for requests that match no operation.
const unroutedKey = "x-arkserve-unrouted-responses"

var methods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// Validator validates responses against an OpenAPI 3.0 document. It is safe for concurrent use.
type Validator struct {
	paths    []*pathItem
	unrouted map[string]*response
}

type pathItem struct {
	template string
	segs     []segment
	ops      map[string]*operation // upper-case method
}

type segment struct {
	lit   string
	param bool
}

type operation struct {
	method, template string
	responses        map[string]*response // "200", "4XX", "default"
}

type response struct {
	where   string             // JSON pointer of the response object, for messages
	schema  *jsonschema.Schema // nil: no JSON content
	media   string             // "" when the response has no content
	headers []string           // required headers (canonical form)
}

// Load parses an OpenAPI 3.0 document and compiles the schema of every response it describes.
func Load(doc []byte) (*Validator, error) {
	root, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return nil, fmt.Errorf("openapitest: document is not JSON: %w", err)
	}
	top, ok := root.(map[string]any)
	if !ok {
		return nil, errors.New("openapitest: document is not a JSON object")
	}
	if v, _ := top["openapi"].(string); !strings.HasPrefix(v, "3.0.") {
		return nil, fmt.Errorf("openapitest: openapi is %q, want 3.0.x", v)
	}
	toJSONSchema(root)

	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	if err := c.AddResource(docURL, root); err != nil {
		return nil, fmt.Errorf("openapitest: %w", err)
	}
	l := &loader{root: root, c: c, cache: map[string]*response{}}
	v := &Validator{}

	paths, ok := top["paths"].(map[string]any)
	if !ok {
		return nil, errors.New("openapitest: document has no paths object")
	}
	templates := make([]string, 0, len(paths))
	for t := range paths {
		templates = append(templates, t)
	}
	sort.Strings(templates)
	for _, t := range templates {
		item, err := l.deref(paths[t], "/paths/"+escapePtr(t))
		if err != nil {
			return nil, err
		}
		itemObj, ok := item.v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("openapitest: path %s is not an object", t)
		}
		if !strings.HasPrefix(t, "/") {
			return nil, fmt.Errorf("openapitest: path %q does not start with /", t)
		}
		pi := &pathItem{template: t, segs: parseTemplate(t), ops: map[string]*operation{}}
		for _, m := range methods {
			opv, ok := itemObj[m]
			if !ok {
				continue
			}
			opObj, ok := opv.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("openapitest: %s %s is not an object", m, t)
			}
			op := &operation{method: strings.ToUpper(m), template: t, responses: map[string]*response{}}
			rs, ok := opObj["responses"].(map[string]any)
			if !ok || len(rs) == 0 {
				return nil, fmt.Errorf("openapitest: %s %s has no responses", op.method, t)
			}
			for status, rv := range rs {
				if !isStatusKey(status) {
					if strings.HasPrefix(status, "x-") {
						continue
					}
					return nil, fmt.Errorf("openapitest: %s %s: %q is not a status code", op.method, t, status)
				}
				r, err := l.response(rv, item.ptr+"/"+m+"/responses/"+escapePtr(status))
				if err != nil {
					return nil, fmt.Errorf("openapitest: %s %s response %s: %w", op.method, t, status, err)
				}
				op.responses[strings.ToUpper(status)] = r
			}
			pi.ops[op.method] = op
		}
		v.paths = append(v.paths, pi)
	}
	if u, ok := top[unroutedKey].(map[string]any); ok {
		v.unrouted = map[string]*response{}
		for status, rv := range u {
			if !isStatusKey(status) {
				continue // "description", extensions
			}
			r, err := l.response(rv, "/"+unroutedKey+"/"+escapePtr(status))
			if err != nil {
				return nil, fmt.Errorf("openapitest: %s %s: %w", unroutedKey, status, err)
			}
			v.unrouted[strings.ToUpper(status)] = r
		}
	}
	return v, nil
}

// loader resolves $refs inside the document and compiles schemas, once per location.
type loader struct {
	root  any
	c     *jsonschema.Compiler
	cache map[string]*response
}

type located struct {
	v   any
	ptr string // JSON pointer (without "#")
}

// deref follows $ref (local JSON pointers only) until it reaches a non-reference object.
func (l *loader) deref(v any, ptr string) (located, error) {
	for range 32 {
		obj, ok := v.(map[string]any)
		if !ok {
			return located{v, ptr}, nil
		}
		ref, ok := obj["$ref"].(string)
		if !ok {
			return located{v, ptr}, nil
		}
		target, err := lookup(l.root, ref)
		if err != nil {
			return located{}, err
		}
		v, ptr = target, strings.TrimPrefix(ref, "#")
	}
	return located{}, fmt.Errorf("$ref chain too long at %s", ptr)
}

func (l *loader) response(v any, ptr string) (*response, error) {
	loc, err := l.deref(v, ptr)
	if err != nil {
		return nil, err
	}
	if r, ok := l.cache[loc.ptr]; ok {
		return r, nil
	}
	obj, ok := loc.v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("response at %s is not an object", loc.ptr)
	}
	r := &response{where: loc.ptr}
	if hs, ok := obj["headers"].(map[string]any); ok {
		for name, hv := range hs {
			h, err := l.deref(hv, loc.ptr+"/headers/"+escapePtr(name))
			if err != nil {
				return nil, err
			}
			if hobj, ok := h.v.(map[string]any); ok && hobj["required"] == true {
				r.headers = append(r.headers, http.CanonicalHeaderKey(name))
			}
		}
		sort.Strings(r.headers)
	}
	if content, ok := obj["content"].(map[string]any); ok && len(content) > 0 {
		if len(content) != 1 {
			return nil, fmt.Errorf("response at %s has %d media types; this validator handles one", loc.ptr, len(content))
		}
		for media, mv := range content {
			r.media = media
			mobj, ok := mv.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("media type %s at %s is not an object", media, loc.ptr)
			}
			if _, ok := mobj["schema"]; !ok {
				return nil, fmt.Errorf("media type %s at %s has no schema", media, loc.ptr)
			}
			sch, err := l.c.Compile(docURL + "#" + fragment(loc.ptr+"/content/"+escapePtr(media)+"/schema"))
			if err != nil {
				return nil, fmt.Errorf("schema at %s: %w", loc.ptr, err)
			}
			r.schema = sch
		}
	}
	l.cache[loc.ptr] = r
	return r, nil
}

// lookup resolves a local reference "#/a/b" in doc.
func lookup(doc any, ref string) (any, error) {
	if !strings.HasPrefix(ref, "#") {
		return nil, fmt.Errorf("$ref %q: only local references are supported", ref)
	}
	frag, err := url.PathUnescape(ref[1:])
	if err != nil {
		return nil, fmt.Errorf("$ref %q: %w", ref, err)
	}
	if frag == "" {
		return doc, nil
	}
	if !strings.HasPrefix(frag, "/") {
		return nil, fmt.Errorf("$ref %q: not a JSON pointer", ref)
	}
	cur := doc
	for _, tok := range strings.Split(frag[1:], "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		switch c := cur.(type) {
		case map[string]any:
			v, ok := c[tok]
			if !ok {
				return nil, fmt.Errorf("$ref %q does not resolve: no %q", ref, tok)
			}
			cur = v
		case []any:
			i, err := strconv.Atoi(tok)
			if err != nil || i < 0 || i >= len(c) {
				return nil, fmt.Errorf("$ref %q does not resolve: bad index %q", ref, tok)
			}
			cur = c[i]
		default:
			return nil, fmt.Errorf("$ref %q does not resolve at %q", ref, tok)
		}
	}
	return cur, nil
}

func escapePtr(s string) string {
	return strings.ReplaceAll(strings.ReplaceAll(s, "~", "~0"), "/", "~1")
}

// fragment percent-encodes a JSON pointer for use as a URL fragment.
func fragment(ptr string) string {
	return (&url.URL{Fragment: ptr}).EscapedFragment()
}

func parseTemplate(t string) []segment {
	parts := strings.Split(t, "/")[1:]
	segs := make([]segment, len(parts))
	for i, p := range parts {
		if len(p) > 2 && p[0] == '{' && p[len(p)-1] == '}' {
			segs[i] = segment{param: true}
		} else {
			segs[i] = segment{lit: p}
		}
	}
	return segs
}

// match returns the path item for a concrete path: among the templates that match, the one with a
// literal segment where the others have a parameter, leftmost difference first.
func (v *Validator) match(path string) *pathItem {
	if strings.Contains(path, "://") {
		if u, err := url.Parse(path); err == nil {
			path = u.EscapedPath()
		}
	}
	if i := strings.IndexAny(path, "?#"); i >= 0 {
		path = path[:i]
	}
	if !strings.HasPrefix(path, "/") {
		return nil
	}
	parts := strings.Split(path, "/")[1:]
	for i, p := range parts {
		if u, err := url.PathUnescape(p); err == nil {
			parts[i] = u
		}
	}
	var best *pathItem
	for _, pi := range v.paths {
		if len(pi.segs) != len(parts) {
			continue
		}
		ok := true
		for i, s := range pi.segs {
			if s.param && parts[i] == "" || !s.param && s.lit != parts[i] {
				ok = false
				break
			}
		}
		if ok && (best == nil || moreSpecific(pi, best)) {
			best = pi
		}
	}
	return best
}

func moreSpecific(a, b *pathItem) bool {
	for i := range a.segs {
		if a.segs[i].param != b.segs[i].param {
			return !a.segs[i].param
		}
	}
	return false
}

// Operation names the documented operation for method and path ("GET /v1/{project_id}/services"),
// or "" when none matches.
func (v *Validator) Operation(method, path string) string {
	op, _ := v.operation(method, path)
	if op == nil {
		return ""
	}
	return op.method + " " + op.template
}

func (v *Validator) operation(method, path string) (*operation, *pathItem) {
	pi := v.match(path)
	if pi == nil {
		return nil, nil
	}
	m := strings.ToUpper(method)
	if op, ok := pi.ops[m]; ok {
		return op, pi
	}
	if m == http.MethodHead {
		return pi.ops[http.MethodGet], pi // ServeMux serves HEAD with the GET handler
	}
	return nil, pi
}

// find returns the documented response for a request and status, and a name for messages.
func (v *Validator) find(method, path string, status int) (*response, string, error) {
	code := strconv.Itoa(status)
	op, pi := v.operation(method, path)
	if op == nil {
		name := "unrouted request"
		if pi != nil {
			name = "unrouted method on " + pi.template
		}
		name = fmt.Sprintf("%s %s (%s)", strings.ToUpper(method), path, name)
		if r := pick(v.unrouted, code); r != nil {
			return r, name, nil
		}
		if pi == nil {
			return nil, name, fmt.Errorf("%s → %d: no documented path matches", name, status)
		}
		return nil, name, fmt.Errorf("%s → %d: method not documented for this path (documented: %s)",
			name, status, strings.Join(slices.Sorted(maps.Keys(pi.ops)), ", "))
	}
	name := fmt.Sprintf("%s %s (%s %s)", strings.ToUpper(method), path, op.method, op.template)
	if r := pick(op.responses, code); r != nil {
		return r, name, nil
	}
	return nil, name, fmt.Errorf("%s → %d: status not documented (documented: %s)", name, status,
		strings.Join(slices.Sorted(maps.Keys(op.responses)), ", "))
}

// isStatusKey reports whether k names a response in a responses object: a status code, a range
// such as 4XX, or default.
func isStatusKey(k string) bool {
	if strings.EqualFold(k, "default") {
		return true
	}
	if len(k) != 3 || k[0] < '1' || k[0] > '5' {
		return false
	}
	if strings.EqualFold(k[1:], "XX") {
		return true
	}
	_, err := strconv.Atoi(k)
	return err == nil
}

func pick(rs map[string]*response, code string) *response {
	if r, ok := rs[code]; ok {
		return r
	}
	if r, ok := rs[code[:1]+"XX"]; ok {
		return r
	}
	return rs["DEFAULT"]
}

// ValidateResponse checks that status is documented for the operation matching method and path
// (a concrete, escaped URL path such as /v1/p1/services/specifications, optionally with a query
// string; a full URL is reduced to its path) and
// that body is what that response describes: valid JSON against its schema, or empty when the
// response has no content. HEAD requests are checked against GET and must have an empty body.
func (v *Validator) ValidateResponse(method, path string, status int, body []byte) error {
	r, name, err := v.find(method, path, status)
	if err != nil {
		return err
	}
	return r.validateBody(name, strings.EqualFold(method, http.MethodHead), status, body)
}

// ValidateHTTPResponse is ValidateResponse plus the headers: the Content-Type of a JSON response
// and every header the response declares as required.
func (v *Validator) ValidateHTTPResponse(method, path string, status int, header http.Header, body []byte) error {
	r, name, err := v.find(method, path, status)
	if err != nil {
		return err
	}
	var errs []error
	for _, h := range r.headers {
		if header.Get(h) == "" {
			errs = append(errs, fmt.Errorf("%s → %d: required header %s is missing", name, status, h))
		}
	}
	if r.media != "" && len(body) > 0 {
		ct := header.Get("Content-Type")
		mt, _, perr := mime.ParseMediaType(ct)
		if perr != nil || mt != r.media {
			errs = append(errs, fmt.Errorf("%s → %d: Content-Type is %q, want %s", name, status, ct, r.media))
		}
	}
	if err := r.validateBody(name, strings.EqualFold(method, http.MethodHead), status, body); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (r *response) validateBody(name string, head bool, status int, body []byte) error {
	if head || r.media == "" {
		if len(bytes.TrimSpace(body)) != 0 {
			return fmt.Errorf("%s → %d: body must be empty, got %d bytes: %s", name, status, len(body), clip(body))
		}
		return nil
	}
	if r.schema == nil {
		return nil
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("%s → %d: body is not JSON (%v): %s", name, status, err, clip(body))
	}
	if err := r.schema.Validate(inst); err != nil {
		where := ""
		if strings.HasPrefix(r.where, "/components/") {
			where = " (#" + r.where + ")"
		}
		return &BodyError{Op: name, Status: status, Body: body, Err: err,
			msg: fmt.Sprintf("%s → %d: body does not match the schema%s:%s\nbody: %s", name, status, where,
				details(err), clip(body))}
	}
	return nil
}

// BodyError is a response body that does not match its schema.
type BodyError struct {
	Op     string // "GET /v1/p/services/s/logs (GET /v1/{project_id}/services/{service_id}/logs)"
	Status int
	Body   []byte
	Err    error // the *jsonschema.ValidationError
	msg    string
}

func (e *BodyError) Error() string { return e.msg }
func (e *BodyError) Unwrap() error { return e.Err }

// details drops the first line of a jsonschema error ("jsonschema validation failed with <url>"),
// keeping the list of violations.
func details(err error) string {
	msg := err.Error()
	if i := strings.IndexByte(msg, '\n'); i >= 0 && strings.HasPrefix(msg, "jsonschema validation failed") {
		return msg[i:]
	}
	return " " + msg
}

func clip(b []byte) string {
	const max = 2000
	if len(b) > max {
		return string(b[:max]) + "..."
	}
	return string(b)
}

// toJSONSchema rewrites the OpenAPI 3.0 schema dialect in place into JSON Schema 2020-12:
// "nullable: true" adds "null" to type (and to enum), and the boolean forms of exclusiveMinimum and
// exclusiveMaximum become numbers. It walks the whole document; only objects that carry these
// keywords with OpenAPI's types change.
func toJSONSchema(v any) {
	switch x := v.(type) {
	case []any:
		for _, e := range x {
			toJSONSchema(e)
		}
	case map[string]any:
		for _, e := range x {
			toJSONSchema(e)
		}
		if n, ok := x["nullable"].(bool); ok {
			delete(x, "nullable")
			if n {
				if t, ok := x["type"].(string); ok {
					x["type"] = []any{t, "null"}
				}
				if e, ok := x["enum"].([]any); ok && !slices.Contains(e, nil) {
					x["enum"] = append(e, nil)
				}
			}
		}
		for _, k := range [][2]string{{"exclusiveMinimum", "minimum"}, {"exclusiveMaximum", "maximum"}} {
			if b, ok := x[k[0]].(bool); ok {
				if b {
					if lim, ok := x[k[1]]; ok {
						x[k[0]] = lim
						delete(x, k[1])
						continue
					}
				}
				delete(x, k[0])
			}
		}
	}
}
