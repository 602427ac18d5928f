package gateway_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/arkserve/arkserve/internal/gateway"
)

// connCounter counts an instance's connections: opened, and open now.
type connCounter struct {
	mu          sync.Mutex
	opened, now int
	closed      chan struct{} // receives when one closes
}

// startCountedInstance is startInstance with its connections counted.
func startCountedInstance(t *testing.T, id string, h http.HandlerFunc) (*instance, *connCounter) {
	t.Helper()
	c := &connCounter{closed: make(chan struct{}, 100)}
	in := &instance{ID: id}
	in.srv = httptest.NewUnstartedServer(h)
	in.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		c.mu.Lock()
		defer c.mu.Unlock()
		switch s {
		case http.StateNew:
			c.opened++
			c.now++
		case http.StateClosed, http.StateHijacked:
			c.now--
			c.closed <- struct{}{}
		}
	}
	in.srv.Start()
	t.Cleanup(in.srv.Close)
	return in, c
}

func (c *connCounter) counts() (opened, now int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.opened, c.now
}

// TestKeepAlive: requests with bodies in memory reuse the gateway's connection to the instance;
// one the instance closed while it was idle is not used again (the request after it succeeds on a
// new connection, as a POST could not be sent twice); connections to an instance no table routes
// any more are closed.
func TestKeepAlive(t *testing.T) {
	g := &gateway.Gateway{}
	f := newFront(t, g)
	echo, conns := startCountedInstance(t, "echo", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Write(b)
	})
	g.Publish(testService, route("", entry("m", 100, echo)))
	post := func(i int) {
		t.Helper()
		body := strings.Repeat("x", i)
		if res, got := f.call("POST", "/predict", strings.NewReader(body), nil); res.StatusCode != 200 || got != body {
			t.Fatalf("POST %d: %d, %d bytes; want 200 and the body back", i, res.StatusCode, len(got))
		}
	}
	for i := range 20 {
		post(i)
	}
	if opened, _ := conns.counts(); opened != 1 {
		t.Fatalf("20 requests in turn opened %d connections to the instance; want 1", opened)
	}

	// The instance closes its idle connections (a keep-alive timeout, a restart).
	echo.srv.CloseClientConnections()
	<-conns.closed
	time.Sleep(50 * time.Millisecond) // the FIN reaches the gateway's side
	post(1)
	if opened, _ := conns.counts(); opened != 2 {
		t.Fatalf("after the instance closed the connection: %d connections opened; want 2", opened)
	}
	if st := g.Stats(testService); st.Failures != 0 {
		t.Fatalf("stats %+v; want no failure", st)
	}

	// No table routes the instance: its idle connection is closed.
	g.Publish(testService, route(""))
	select {
	case <-conns.closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the connection to an instance no longer routed stayed open")
	}
}

// TestCancel: when the client goes away while the instance works, the gateway's connection to the
// instance is closed (the instance sees its request canceled) and the call is not a failure.
func TestCancel(t *testing.T) {
	g := &gateway.Gateway{}
	f := newFront(t, g)
	arrived, canceled := make(chan struct{}), make(chan struct{})
	slow := startInstance(t, "slow", func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body) // net/http notices a closed connection once the body is read
		close(arrived)
		select {
		case <-r.Context().Done():
			close(canceled)
		case <-time.After(10 * time.Second):
		}
	})
	g.Publish(testService, route("", entry("m", 100, slow)))
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", f.URL+"/v1/infers/"+testService+"/predict", strings.NewReader("{}"))
	done := make(chan error)
	go func() {
		res, err := f.Client.Do(req)
		if err == nil {
			res.Body.Close()
		}
		done <- err
	}()
	<-arrived
	cancel()
	if err := <-done; err == nil {
		t.Fatal("a canceled request got a response")
	}
	select {
	case <-canceled:
	case <-time.After(5 * time.Second):
		t.Fatal("the instance did not see the request canceled")
	}
	// Forward counts the call when it returns, after the instance's handler noticed.
	deadline := time.Now().Add(10 * time.Second)
	for g.Stats(testService).Invocations == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if st := g.Stats(testService); st.Invocations != 1 || st.Failures != 0 {
		t.Fatalf("stats %+v; want 1 invocation, no failure", st)
	}
}
