package gateway

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// The gateway's own HTTP/1.1 client for requests whose body is in memory (none, or buffered for
// retries: nearly every inference call). net/http's Transport serves each connection with a read
// goroutine and a write goroutine and hands every request and response between them and the
// caller over channels: three goroutine wake-ups per request, which cost the gateway more than its
// own code (profile of `go run ./bench gateway`). Here the request's goroutine writes the request
// and reads the response on a pooled keep-alive connection itself. Streamed bodies (large or
// chunked) still go through the Transport, which handles Expect: 100-continue and bodies of
// unknown length.
//
// The wire format is net/http's own: Request.Write and ReadResponse.

// Bounds of the connection pool of one backend, for this client and the Transport alike.
const (
	maxIdlePerBackend = 512
	idleTimeout       = 90 * time.Second
)

// aLongTimeAgo is a deadline in the past: set on a connection, it makes blocked reads and writes
// return at once.
var aLongTimeAgo = time.Unix(1, 0)

// clientConn is a keep-alive connection to an instance.
type clientConn struct {
	nc        net.Conn
	br        *bufio.Reader
	bw        *bufio.Writer
	idleSince time.Time
}

// connPool holds a backend's idle connections. The most recently used is taken first: it is the
// most likely to be alive, and under light load the others age out.
type connPool struct {
	mu     sync.Mutex // protects the following
	idle   []*clientConn
	closed bool // the backend is forgotten: connections are closed instead of kept
}

// get returns an idle connection that is still usable, or nil.
func (p *connPool) get(now time.Time) *clientConn {
	for {
		p.mu.Lock()
		n := len(p.idle)
		if n == 0 {
			p.mu.Unlock()
			return nil
		}
		c := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		// The instance may have closed the connection while it was idle (its keep-alive timeout,
		// a restart): a request sent on it could fail after the instance read it, and could then
		// not be sent again. The Transport learns this from its read goroutine; here one
		// non-blocking peek before reuse does.
		if now.Sub(c.idleSince) < idleTimeout && idleConnAlive(c.nc) {
			return c
		}
		c.nc.Close()
	}
}

// put keeps c for the next request, or closes it when the pool is full or closed.
func (p *connPool) put(c *clientConn, now time.Time) {
	c.idleSince = now
	p.mu.Lock()
	if p.closed || len(p.idle) >= maxIdlePerBackend {
		p.mu.Unlock()
		c.nc.Close()
		return
	}
	// The oldest connection goes when it has been idle too long: a burst's extra connections do
	// not stay open for ever.
	var stale *clientConn
	if len(p.idle) > 0 && now.Sub(p.idle[0].idleSince) >= idleTimeout {
		stale = p.idle[0]
		p.idle = append(p.idle[:0], p.idle[1:]...)
	}
	p.idle = append(p.idle, c)
	p.mu.Unlock()
	if stale != nil {
		stale.nc.Close()
	}
}

// close closes the idle connections, and those put back later.
func (p *connPool) close() {
	p.mu.Lock()
	idle := p.idle
	p.idle, p.closed = nil, true
	p.mu.Unlock()
	for _, c := range idle {
		c.nc.Close()
	}
}

var dialer = &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}

// send sends out (whose body, if any, is in memory) to b on a pooled connection and returns the
// response with its headers read; the caller reads and closes the body, which gives the
// connection back. Connection errors are *net.OpError, Op "dial" when nothing was sent; a
// response that does not begin within the gateway's ResponseTimeout is a timeout error.
func (g *Gateway) send(b *backend, out *http.Request) (*http.Response, error) {
	ctx := out.Context()
	c := b.pool.get(time.Now())
	if c == nil {
		nc, err := dialer.DialContext(ctx, "tcp", b.addr)
		if err != nil {
			return nil, err
		}
		c = &clientConn{nc: nc, br: bufio.NewReader(nc), bw: bufio.NewWriter(nc)}
	}
	// A canceled request (the client went away) unblocks whatever the connection is doing.
	stop := context.AfterFunc(ctx, func() { c.nc.SetDeadline(aLongTimeAgo) })
	res, err := c.roundTrip(out, g.ResponseTimeout)
	if err == nil && ctx.Err() == nil {
		res.Body = &clientBody{rc: res.Body, c: c, pool: &b.pool, stop: stop, keep: !res.Close && res.StatusCode != http.StatusSwitchingProtocols}
		return res, nil
	}
	stop()
	c.nc.Close()
	if err == nil {
		res.Body.Close()
		err = ctx.Err()
	}
	return nil, err
}

// roundTrip writes req and reads the response's headers, skipping informational (1xx) ones as the
// Transport does.
func (c *clientConn) roundTrip(req *http.Request, timeout time.Duration) (*http.Response, error) {
	if err := req.Write(c.bw); err != nil {
		return nil, err
	}
	if err := c.bw.Flush(); err != nil {
		return nil, err
	}
	if timeout > 0 {
		c.nc.SetReadDeadline(time.Now().Add(timeout))
	}
	for {
		res, err := http.ReadResponse(c.br, req)
		if err != nil {
			return nil, err
		}
		if res.StatusCode >= 100 && res.StatusCode < 200 && res.StatusCode != http.StatusSwitchingProtocols {
			continue // 100 Continue, 103 Early Hints: the final response follows
		}
		if timeout > 0 {
			// The timeout bounds the wait for the headers, not a streamed body. A cancellation
			// that set the deadline meanwhile is seen by the caller (ctx.Err).
			c.nc.SetReadDeadline(time.Time{})
		}
		return res, nil
	}
}

// clientBody is a response body read from a pooled connection: read to its end, it gives the
// connection back to the pool; closed before, it closes the connection (what is left of the
// response would have to be read first).
type clientBody struct {
	rc   io.ReadCloser
	c    *clientConn
	pool *connPool
	stop func() bool // stops the cancellation; false when it already ran
	keep bool        // the connection may serve another request
	done bool
}

func (b *clientBody) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	n, err := b.rc.Read(p)
	if errors.Is(err, io.EOF) {
		b.finish(true)
	}
	return n, err
}

func (b *clientBody) Close() error {
	if !b.done {
		b.finish(false)
	}
	return nil
}

// finish releases the connection once the body was read to its end (eof) or abandoned.
func (b *clientBody) finish(eof bool) {
	b.done = true
	// Bytes after the response's end would be taken for the start of the next one.
	if b.stop() && eof && b.keep && b.c.br.Buffered() == 0 {
		b.pool.put(b.c, time.Now())
		return
	}
	b.c.nc.Close()
}
