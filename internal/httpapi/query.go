package httpapi

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/arkserve/arkserve/internal/ark"
)

// Paging limits for list calls.
const (
	DefaultLimit = 1000
	MaxLimit     = 1000
	MaxOffset    = 1 << 30
)

// query reads query parameters; the first problem sticks in err, so handlers read every parameter
// and check once.
type query struct {
	v   url.Values
	err error
}

// newQuery parses the query string; a malformed one or a repeated parameter is a 400.
func newQuery(r *http.Request) (*query, error) {
	v, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return nil, ark.Errorf(ark.EInvalidArgument, "The query string is malformed.")
	}
	for k, vals := range v {
		if len(vals) > 1 {
			return nil, ark.Errorf(ark.EInvalidParam, "Parameter (%s) is invalid: given %d times.", clipString(k), len(vals))
		}
	}
	return &query{v: v}, nil
}

func (q *query) fail(name, format string, args ...any) {
	if q.err == nil {
		q.err = ark.Errorf(ark.EInvalidParam, "Parameter (%s) is invalid: "+format, append([]any{name}, args...)...)
	}
}

func (q *query) str(name string, max int) string {
	s := q.v.Get(name)
	if err := ark.CheckText(name, s, max); err != nil && q.err == nil {
		q.err = err
	}
	return s
}

func (q *query) enum(name string, allowed ...string) string {
	s := q.v.Get(name)
	if s == "" {
		return ""
	}
	for _, a := range allowed {
		if s == a {
			return s
		}
	}
	q.fail(name, "use one of %s.", strings.Join(allowed, ", "))
	return ""
}

func (q *query) boolean(name string) bool {
	switch s := q.v.Get(name); s {
	case "", "false":
		return false
	case "true":
		return true
	}
	q.fail(name, "use true or false.")
	return false
}

// integer reads an optional integer in [min, max]; ok is false when absent.
func (q *query) integer(name string, min, max int64) (v int64, ok bool) {
	s := q.v.Get(name)
	if s == "" {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < min || n > max {
		q.fail(name, "an integer from %d to %d is required.", min, max)
		return 0, false
	}
	return n, true
}

// page reads offset (a row offset, as existing clients send it) and limit.
func (q *query) page() (offset, limit int) {
	o, _ := q.integer("offset", 0, MaxOffset)
	l, ok := q.integer("limit", 1, MaxLimit)
	if !ok {
		l = DefaultLimit
	}
	return int(o), int(l)
}
