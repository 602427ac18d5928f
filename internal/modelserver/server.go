package modelserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Defaults of Server's limits.
const (
	DefaultMaxBatch     = 256
	DefaultMaxBodyBytes = 8 << 20
)

// Server serves a Model over HTTP:
//
//	GET  /health    200 {"status":"ok"} once the model is loaded (503 before)
//	GET  /metadata  the model's name, input size, layers and labels
//	POST /predict   {"inputs": [[x, ...], ...]} or {"input": [x, ...]} →
//	                {"predictions": [{"label": "7", "class": 7, "probabilities": [...]}, ...]}
//	POST /          the same as POST /predict (the default inference path of ModelArts models)
//
// Errors are JSON: {"error_code": "...", "error_msg": "..."}, with status 400 for invalid input,
// 413 for a body larger than MaxBodyBytes, 404 and 405 for unknown paths and methods. When the last
// layer is not a softmax the outputs are returned as "scores" instead of "probabilities".
//
// Set the fields, then call Open; Close shuts down gracefully. Server is also an http.Handler. The
// fields must not change once it serves.
type Server struct {
	Model        *Model
	Addr         string       // host:port to listen on; port 0 picks one
	Logger       *slog.Logger // nil means slog.Default()
	MaxBatch     int          // inputs per request (default DefaultMaxBatch)
	MaxBodyBytes int64        // request body limit (default DefaultMaxBodyBytes)

	ln    net.Listener
	srv   *http.Server
	serve chan error // receives Serve's result

	labelsOnce sync.Once
	labels     [][]byte // the model's labels as JSON strings

	wsPool   sync.Pool // *Workspace
	bufPool  sync.Pool // *[]byte: response bodies
	rowsPool sync.Pool // *[]float32: decoded inputs
}

// Open listens on Addr and serves in a goroutine that Close waits for.
func (s *Server) Open() error {
	if s.Model == nil {
		return errors.New("modelserver: no model")
	}
	ln, err := net.Listen("tcp", s.Addr)
	if err != nil {
		return err
	}
	s.ln = ln
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: time.Minute,
		WriteTimeout: time.Minute, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10,
		ErrorLog: slog.NewLogLogger(s.logger().Handler(), slog.LevelWarn)}
	s.serve = make(chan error, 1)
	go func() { s.serve <- s.srv.Serve(ln) }()
	return nil
}

// ListenAddr is the address the server listens on (after Open).
func (s *Server) ListenAddr() string { return s.ln.Addr().String() }

// Close stops accepting connections and waits for in-flight requests to finish, or for ctx to end,
// after which it closes the remaining connections.
func (s *Server) Close(ctx context.Context) error {
	if s.srv == nil {
		return nil
	}
	err := s.srv.Shutdown(ctx)
	if err != nil {
		s.srv.Close()
	}
	if serr := <-s.serve; !errors.Is(serr, http.ErrServerClosed) {
		err = errors.Join(err, serr)
	}
	return err
}

func (s *Server) logger() *slog.Logger {
	if s.Logger != nil {
		return s.Logger
	}
	return slog.Default()
}

// ServeHTTP routes a request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var allow string
	switch r.URL.Path {
	case "/health":
		if allow = "GET, HEAD"; r.Method == http.MethodGet || r.Method == http.MethodHead {
			s.handleHealth(w)
			return
		}
	case "/metadata":
		if allow = "GET, HEAD"; r.Method == http.MethodGet || r.Method == http.MethodHead {
			s.handleMetadata(w)
			return
		}
	case "/predict", "/":
		if allow = "POST"; r.Method == http.MethodPost {
			s.handlePredict(w, r)
			return
		}
	default:
		writeError(w, http.StatusNotFound, "not_found", fmt.Sprintf("no route %s; use POST /predict, GET /health or GET /metadata", r.URL.Path))
		return
	}
	w.Header().Set("Allow", allow)
	writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", fmt.Sprintf("%s %s: use %s", r.Method, r.URL.Path, allow))
}

func (s *Server) handleHealth(w http.ResponseWriter) {
	if s.Model == nil {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "loading"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

func (s *Server) handleMetadata(w http.ResponseWriter) {
	m := s.Model
	if m == nil {
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the model is not loaded yet")
		return
	}
	layers := make([]manifestLayer, len(m.Layers))
	for i, l := range m.Layers {
		layers[i] = manifestLayer{Units: l.Units, Activation: l.Activation}
	}
	labels := make([]string, m.Outputs())
	for i := range labels {
		labels[i] = m.Label(i)
	}
	writeJSON(w, http.StatusOK, map[string]any{"name": m.Name, "format": Format, "format_version": FormatVersion,
		"input_size": m.InputSize, "outputs": m.Outputs(), "layers": layers, "labels": labels,
		"parameters": m.Params(), "max_batch": s.maxBatch()})
}

func (s *Server) maxBatch() int {
	if s.MaxBatch > 0 {
		return s.MaxBatch
	}
	return DefaultMaxBatch
}

// testHookPredict, when set by a test, is called when a predict request starts.
var testHookPredict func()

func (s *Server) handlePredict(w http.ResponseWriter, r *http.Request) {
	if testHookPredict != nil {
		testHookPredict()
	}
	m := s.Model
	if m == nil {
		writeError(w, http.StatusServiceUnavailable, "unavailable", "the model is not loaded yet")
		return
	}
	limit := s.MaxBodyBytes
	if limit <= 0 {
		limit = DefaultMaxBodyBytes
	}
	body := http.MaxBytesReader(w, r.Body, limit)

	rowsp, _ := s.rowsPool.Get().(*[]float32)
	if rowsp == nil {
		rowsp = new([]float32)
	}
	defer s.rowsPool.Put(rowsp)
	rows, n, err := decodeInputs(body, (*rowsp)[:0], m.InputSize, s.maxBatch())
	*rowsp = rows[:0]
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			writeError(w, http.StatusRequestEntityTooLarge, "too_large", fmt.Sprintf("request body larger than %d bytes", limit))
			return
		}
		writeError(w, http.StatusBadRequest, "invalid_input", err.Error())
		return
	}

	ws, _ := s.wsPool.Get().(*Workspace)
	if ws == nil {
		ws = m.NewWorkspace()
	}
	defer s.wsPool.Put(ws)
	bufp, _ := s.bufPool.Get().(*[]byte)
	if bufp == nil {
		bufp = new([]byte)
	}
	defer s.bufPool.Put(bufp)

	s.labelsOnce.Do(func() {
		for i := range m.Outputs() {
			q, _ := json.Marshal(m.Label(i)) // a string always marshals
			s.labels = append(s.labels, q)
		}
	})
	field := `,"probabilities":[`
	if !m.Probabilistic() {
		field = `,"scores":[`
	}
	b := append((*bufp)[:0], `{"predictions":[`...)
	for i := range n {
		out, err := m.Predict(ws, rows[i*m.InputSize:(i+1)*m.InputSize])
		if err != nil {
			writeError(w, http.StatusInternalServerError, "internal", "evaluation failed")
			s.logger().Error("predict", "err", err)
			return
		}
		if nonFinite(out) >= 0 {
			writeError(w, http.StatusBadRequest, "invalid_input", fmt.Sprintf("%s: the model's outputs overflow for this input (values too large)", rowName(i, n)))
			return
		}
		c := Classify(out)
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"label":`...)
		b = append(b, s.labels[c]...)
		b = append(b, `,"class":`...)
		b = strconv.AppendInt(b, int64(c), 10)
		b = append(b, field...)
		for j, v := range out {
			if j > 0 {
				b = append(b, ',')
			}
			b = strconv.AppendFloat(b, float64(v), 'g', -1, 32)
		}
		b = append(b, "]}"...)
	}
	b = append(b, "]}\n"...)
	*bufp = b
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	w.Write(b)
}

// rowName names input i of a request with n inputs in error messages.
func rowName(i, n int) string {
	if n < 0 {
		return "input"
	}
	return "inputs[" + strconv.Itoa(i) + "]"
}

// decodeInputs reads a predict request, {"inputs": [[...], ...]} or {"input": [...]}, appending
// the values to dst (rows of size values each). It stops at the first error: at more than maxBatch
// rows, or at a row of the wrong length, before reading the rest of the body.
func decodeInputs(r io.Reader, dst []float32, size, maxBatch int) ([]float32, int, error) {
	dec := json.NewDecoder(r)
	if err := expectDelim(dec, '{', "the request body must be a JSON object"); err != nil {
		return dst, 0, err
	}
	n := -1 // rows; -1 until input or inputs is read
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return dst, 0, jsonError(err)
		}
		key, _ := tok.(string)
		switch key {
		case "inputs":
			if n >= 0 {
				return dst, 0, errors.New(`give either "input" or "inputs", once`)
			}
			if err := expectDelim(dec, '[', `"inputs" must be an array of arrays of numbers`); err != nil {
				return dst, 0, err
			}
			n = 0
			for dec.More() {
				if n == maxBatch {
					return dst, 0, fmt.Errorf("more than %d inputs; send at most %d per request", maxBatch, maxBatch)
				}
				p := rowParser{dst: dst, size: size, name: rowName(n, n+1)}
				if err := dec.Decode(&p); err != nil {
					return dst, 0, jsonError(err)
				}
				dst = p.dst
				n++
			}
			if _, err := dec.Token(); err != nil { // ]
				return dst, 0, jsonError(err)
			}
			if n == 0 {
				return dst, 0, errors.New(`"inputs" is empty`)
			}
		case "input":
			if n >= 0 {
				return dst, 0, errors.New(`give either "input" or "inputs", once`)
			}
			p := rowParser{dst: dst, size: size, name: "input"}
			if err := dec.Decode(&p); err != nil {
				return dst, 0, jsonError(err)
			}
			dst = p.dst
			n = 1
		default:
			return dst, 0, fmt.Errorf("unknown field %q; send \"inputs\" (an array of inputs) or \"input\"", key)
		}
	}
	if _, err := dec.Token(); err != nil { // }
		return dst, 0, jsonError(err)
	}
	if _, err := dec.Token(); err != io.EOF {
		if err == nil {
			err = errors.New("data after the JSON object")
		}
		return dst, 0, jsonError(err)
	}
	if n < 0 {
		return dst, 0, errors.New(`"inputs" is required: {"inputs": [[...], ...]} or {"input": [...]}`)
	}
	return dst, n, nil
}

func expectDelim(dec *json.Decoder, d json.Delim, msg string) error {
	tok, err := dec.Token()
	if err != nil {
		return jsonError(err)
	}
	if tok != d {
		return errors.New(msg)
	}
	return nil
}

// jsonError makes a decoding error readable; a body-limit error passes through unchanged so that
// the handler can tell it apart.
func jsonError(err error) error {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return err
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("invalid JSON: unexpected end of the request body")
	}
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		return fmt.Errorf("invalid JSON at byte %d: %s", syn.Offset, syn.Error())
	}
	var rowErr *inputError
	if errors.As(err, &rowErr) {
		return rowErr
	}
	return fmt.Errorf("invalid JSON: %w", err)
}

// inputError is a problem with one input row.
type inputError struct{ msg string }

func (e *inputError) Error() string { return e.msg }

// rowParser decodes one input, a JSON array of exactly size numbers, appending it to dst. It parses
// the array itself (the decoder has already checked that it is valid JSON) so that it allocates
// nothing per value and rejects null, strings and nested arrays, which encoding/json would turn
// into zeros or errors without a position.
type rowParser struct {
	dst  []float32
	size int
	name string
}

func (p *rowParser) UnmarshalJSON(data []byte) error {
	fail := func(format string, args ...any) error {
		return &inputError{p.name + ": " + fmt.Sprintf(format, args...)}
	}
	i := skipSpace(data, 0)
	if i >= len(data) || data[i] != '[' {
		return fail("must be an array of %d numbers", p.size)
	}
	i = skipSpace(data, i+1)
	k := 0
	if i < len(data) && data[i] == ']' {
		return fail("0 values; the model takes %d", p.size)
	}
	for i < len(data) {
		start := i
		if c := data[i]; c != '-' && (c < '0' || c > '9') {
			return fail("value %d is not a number", k)
		}
		for i < len(data) && isNumberByte(data[i]) {
			i++
		}
		if k == p.size {
			return fail("more than %d values; the model takes %d", p.size, p.size)
		}
		v, err := strconv.ParseFloat(string(data[start:i]), 32)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return fail("value %d (%s) is out of the float32 range", k, data[start:i])
		}
		p.dst = append(p.dst, float32(v))
		k++
		i = skipSpace(data, i)
		if i < len(data) && data[i] == ']' {
			break
		}
		if i >= len(data) || data[i] != ',' {
			return fail("must be an array of %d numbers", p.size)
		}
		i = skipSpace(data, i+1)
	}
	if k != p.size {
		return fail("%d values; the model takes %d", k, p.size)
	}
	return nil
}

func isNumberByte(c byte) bool {
	return c >= '0' && c <= '9' || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E'
}

func skipSpace(data []byte, i int) int {
	for i < len(data) && (data[i] == ' ' || data[i] == '\t' || data[i] == '\n' || data[i] == '\r') {
		i++
	}
	return i
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		status = http.StatusInternalServerError
		buf.Reset()
		buf.WriteString(`{"error_code":"internal","error_msg":"encoding the response failed"}` + "\n")
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(buf.Len()))
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]string{"error_code": code, "error_msg": msg})
}
