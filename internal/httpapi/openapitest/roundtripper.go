package openapitest

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sync"
)

// RoundTripper is an http.RoundTripper that validates every response it passes on against the
// document and records the violations; the response reaches the caller unchanged (its body is
// read in full and replaced by an in-memory copy). It is safe for concurrent use.
type RoundTripper struct {
	v    *Validator
	base http.RoundTripper

	mu        sync.Mutex
	errs      []error
	validated int
}

// NewRoundTripper wraps base (http.DefaultTransport when nil).
func NewRoundTripper(v *Validator, base http.RoundTripper) *RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	return &RoundTripper{v: v, base: base}
}

// RoundTrip implements http.RoundTripper.
func (t *RoundTripper) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	body, rerr := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if rerr != nil {
		resp.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), errReader{rerr}))
		t.record(fmt.Errorf("%s %s → %d: reading the body: %w", req.Method, req.URL.EscapedPath(), resp.StatusCode, rerr))
		return resp, nil
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	t.record(t.v.ValidateHTTPResponse(req.Method, req.URL.EscapedPath(), resp.StatusCode, resp.Header, body))
	return resp, nil
}

type errReader struct{ err error }

func (e errReader) Read([]byte) (int, error) { return 0, e.err }

func (t *RoundTripper) record(err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.validated++
	if err != nil {
		t.errs = append(t.errs, err)
	}
}

// Errors returns the violations recorded so far, in the order the responses arrived.
func (t *RoundTripper) Errors() []error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]error(nil), t.errs...)
}

// Validated returns how many responses were checked, so that a test can tell that its client
// really went through the RoundTripper.
func (t *RoundTripper) Validated() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.validated
}

// Reset forgets the recorded violations and the count.
func (t *RoundTripper) Reset() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.errs, t.validated = nil, 0
}
