package gateway

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"sync"

	"github.com/arkserve/arkserve/internal/ark"
)

// Forward proxies one inference request to the service. path is what follows
// /v1/infers/{service_id} in the request's escaped path ("" or "/..."); the query is taken from r
// as it came. allowed(projectID) says whether the caller may use a service of that project (nil:
// any project).
//
// Forward returns an *ark.Error before it writes anything when it cannot serve the request:
// ark.EServiceNotFound when the service belongs to a project the caller may not use (the same
// answer as for a service that does not exist, so other projects' services are not revealed);
// ark.EUnavailable when the gateway routes no ready instance of the service, which includes a
// service it does not know at all (it cannot tell an unknown service from one not yet ready: the
// caller decides, see httpapi); ark.EBadGateway when no instance could be reached;
// ark.EGatewayTimeout when the instance did not answer in time; ark.ETooLarge or
// ark.EInvalidArgument when the body could not be read. It returns nil once it has written a
// response: the instance's status, headers and body, streamed. When the instance breaks off a
// response that was already started, Forward panics with http.ErrAbortHandler so that the client
// sees a broken response rather than a complete-looking one (net/http recovers it).
//
// The instance does not see X-Auth-Token, Authorization, Proxy-* or hop-by-hop headers; it gets
// X-Forwarded-For (appended to), X-Forwarded-Proto and X-Forwarded-Host.
func (g *Gateway) Forward(w http.ResponseWriter, r *http.Request, serviceID, path string, allowed func(projectID string) bool) error {
	svc := g.lookup(serviceID)
	if svc == nil {
		return errUnavailable()
	}
	if allowed != nil && !allowed(svc.project) {
		return ark.Errorf(ark.EServiceNotFound, "Service %s does not exist.", serviceID)
	}

	// The body: none, buffered (replayable) or streamed.
	var body []byte
	replayable := true
	switch {
	case r.ContentLength == 0:
	case r.ContentLength > 0 && r.ContentLength <= g.RetryBodyLimit:
		body = make([]byte, r.ContentLength)
		if _, err := io.ReadFull(r.Body, body); err != nil {
			return bodyError(err)
		}
	default:
		replayable = false
	}

	h := hashString(clientIP(r.RemoteAddr))
	now := g.Now().Unix()
	var tried [maxRetries + 1]*backend
	var model *modelStats
	var lastErr error
	svc.inflight.Add(1)
	defer svc.inflight.Add(-1)
	for attempt := 0; attempt <= maxRetries; attempt++ {
		svc.mu.Lock()
		var b *backend
		if svc.tbl != nil {
			var e *entry
			e, b = svc.tbl.pick(h, tried[:attempt])
			if attempt == 0 && e != nil {
				model = e.model
			}
		}
		if attempt == 0 {
			svc.inv.Add(1)
			svc.win.add(now)
			if model != nil {
				model.inv.Add(1)
				model.win.add(now)
			}
		}
		if b != nil {
			b.acquire()
		}
		svc.mu.Unlock()
		if b == nil {
			break
		}
		tried[attempt] = b
		res, err := g.roundTrip(r, b, path, body, replayable)
		if err == nil {
			failed, aborted := g.writeResponse(w, r, res)
			b.release()
			if failed {
				svc.countFailure(model)
			}
			if aborted {
				panic(http.ErrAbortHandler)
			}
			return nil
		}
		b.release()
		lastErr = err
		if !replayable || !isDialError(err) || r.Context().Err() != nil {
			break
		}
		g.Logger.Debug("gateway: retrying on another instance", "service", serviceID, "instance", b.id, "err", err)
	}

	var err error
	switch {
	case lastErr == nil:
		err = errUnavailable()
	case r.Context().Err() != nil:
		// The client went away: not the service's failure.
		return ark.Errorf(ark.EBadGateway, "The request was canceled.")
	default:
		err = g.transportError(serviceID, lastErr)
		if ark.ErrorCode(err) == ark.ETooLarge {
			return err // the client's fault
		}
	}
	svc.countFailure(model)
	return err
}

func (s *service) countFailure(m *modelStats) {
	s.fail.Add(1)
	if m != nil {
		m.fail.Add(1)
	}
}

func errUnavailable() error {
	return ark.Errorf(ark.EUnavailable, "No instance of the service is ready.")
}

func bodyError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return ark.Errorf(ark.ETooLarge, "The request body is larger than %d bytes.", mbe.Limit)
	}
	return ark.Errorf(ark.EInvalidArgument, "The request body could not be read.")
}

// transportError maps a failed round trip to the error the client gets and logs the details.
func (g *Gateway) transportError(serviceID string, err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return bodyError(err) // a streamed body went over the server's limit
	}
	var ne net.Error
	if !isDialError(err) && (errors.As(err, &ne) && ne.Timeout() || errors.Is(err, context.DeadlineExceeded)) {
		g.Logger.Warn("gateway: instance timeout", "service", serviceID, "err", err)
		return ark.Errorf(ark.EGatewayTimeout, "The service instance did not answer in time.")
	}
	g.Logger.Warn("gateway: instance unreachable", "service", serviceID, "err", err)
	return ark.Errorf(ark.EBadGateway, "The service instance could not be reached.")
}

// isDialError reports whether err happened while connecting: the request was not sent.
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// replayBody is a buffered request body; GetBody makes a fresh one for each attempt. It is an
// io.NopCloser around a *bytes.Reader because net/http's transport recognises that as a body in
// memory and writes it in the same segment as the headers; with any other type it flushes the
// headers first, and every request costs one more write (a tenth of the gateway's time).
func replayBody(b []byte) io.ReadCloser { return io.NopCloser(bytes.NewReader(b)) }

// roundTrip sends the request to b.
func (g *Gateway) roundTrip(r *http.Request, b *backend, path string, body []byte, replayable bool) (*http.Response, error) {
	// A shallow copy of r carries its context in one allocation; every field the transport reads
	// is set below.
	out := r.WithContext(r.Context())
	out.URL = &url.URL{Scheme: "http", Host: b.addr, RawQuery: r.URL.RawQuery}
	setPath(out.URL, path)
	out.Host = ""
	out.RequestURI = ""
	out.Close = false
	out.TransferEncoding = nil
	out.Trailer = nil
	out.Form, out.PostForm, out.MultipartForm = nil, nil, nil
	out.GetBody = nil
	switch {
	case !replayable: // streamed
		out.Body = r.Body
		out.ContentLength = r.ContentLength
	case len(body) == 0:
		out.Body = nil
		out.ContentLength = 0
	default:
		out.Body = replayBody(body)
		out.ContentLength = int64(len(body))
		out.GetBody = func() (io.ReadCloser, error) { return replayBody(body), nil }
	}
	out.Header = outHeader(r, len(body) > 0)
	if replayable && g.ownClient {
		return g.send(b, out)
	}
	return g.Transport.RoundTrip(out)
}

// setPath sets the escaped path p on u as it is, so that the instance sees exactly what the
// client sent (%2F stays %2F).
func setPath(u *url.URL, p string) {
	if p == "" || p[0] != '/' {
		p = "/" + p
	}
	if strings.IndexByte(p, '%') < 0 {
		u.Path = p
		return
	}
	dec, err := url.PathUnescape(p)
	if err != nil {
		u.Path = p // not a valid escape: sent as it came, re-escaped
		return
	}
	u.Path, u.RawPath = dec, p
}

// outHeader is the request header for the instance.
func outHeader(r *http.Request, buffered bool) http.Header {
	in := r.Header
	h := make(http.Header, len(in)+3)
	conn := in["Connection"]
	for k, vv := range in {
		switch k {
		case "X-Auth-Token", "Authorization", "X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host":
			continue
		case "Expect":
			if buffered {
				continue // the body is already read: nothing to wait for
			}
		}
		if hopByHop(k) || (len(conn) > 0 && listed(conn, k)) {
			continue
		}
		h[k] = vv // shared with r.Header; neither is modified
	}
	xf := new([3]string)
	xf[0] = clientIP(r.RemoteAddr)
	if prior := in["X-Forwarded-For"]; len(prior) > 0 {
		xf[0] = strings.Join(prior, ", ") + ", " + xf[0]
	}
	xf[1] = "http"
	if r.TLS != nil {
		xf[1] = "https"
	}
	xf[2] = r.Host
	h["X-Forwarded-For"] = xf[0:1:1]
	h["X-Forwarded-Proto"] = xf[1:2:2]
	h["X-Forwarded-Host"] = xf[2:3:3]
	return h
}

// hopByHop reports whether the (canonical) header belongs to one connection only.
func hopByHop(k string) bool {
	switch k {
	case "Connection", "Keep-Alive", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return strings.HasPrefix(k, "Proxy-")
}

// listed reports whether the Connection header values name k.
func listed(conn []string, k string) bool {
	for _, v := range conn {
		for v != "" {
			var name string
			name, v, _ = strings.Cut(v, ",")
			if strings.EqualFold(textproto.TrimString(name), k) {
				return true
			}
		}
	}
	return false
}

var copyBufs = sync.Pool{New: func() any { return new([32 << 10]byte) }}

// writeResponse copies the instance's response to the client. failed: the status is 5xx or the
// instance broke off the body; aborted: the client must see the response broken off.
func (g *Gateway) writeResponse(w http.ResponseWriter, r *http.Request, res *http.Response) (failed, aborted bool) {
	defer res.Body.Close()
	wh := w.Header()
	conn := res.Header["Connection"]
	for k, vv := range res.Header {
		if hopByHop(k) || (len(conn) > 0 && listed(conn, k)) {
			continue
		}
		wh[k] = vv
	}
	w.WriteHeader(res.StatusCode)
	failed = res.StatusCode >= 500

	// Streams (server-sent events, bodies of unknown length) reach the client as they come.
	var rc *http.ResponseController
	if res.ContentLength < 0 || isEventStream(res.Header) {
		rc = http.NewResponseController(w)
	}
	buf := copyBufs.Get().(*[32 << 10]byte)
	defer copyBufs.Put(buf)
	for {
		n, rerr := res.Body.Read(buf[:])
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return failed, false // the client went away
			}
			if rc != nil {
				if err := rc.Flush(); err != nil {
					return failed, false
				}
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			if r.Context().Err() != nil {
				return failed, false // the client went away and the transport gave up
			}
			g.Logger.Warn("gateway: instance broke off the response", "err", rerr)
			return true, true
		}
	}
	for k, vv := range res.Trailer {
		wh[http.TrailerPrefix+k] = vv
	}
	return failed, false
}

// isEventStream reports whether the Content-Type is text/event-stream (parameters and case
// aside), without parsing it.
func isEventStream(h http.Header) bool {
	const es = "text/event-stream"
	ct := h["Content-Type"]
	if len(ct) == 0 || len(ct[0]) < len(es) || !strings.EqualFold(ct[0][:len(es)], es) {
		return false
	}
	rest := ct[0][len(es):]
	return rest == "" || rest[0] == ';' || rest[0] == ' ' || rest[0] == '\t'
}
