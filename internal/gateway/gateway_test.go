package gateway_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/arkserve/arkserve/internal/ark"
	"github.com/arkserve/arkserve/internal/gateway"
)

const (
	testService = "5b8a2d8e-8f8e-4b43-9a3e-1f4f4a1c2b3d"
	testProject = "0123456789abcdef0123456789abcdef"
)

// front is a real HTTP server on loopback that serves /v1/infers/{service_id}/... through the
// gateway, as httpapi does, but with a fixed caller project and the error code in a header.
type front struct {
	t   *testing.T
	g   *gateway.Gateway
	srv *httptest.Server
	URL string
	// Client sends requests to the front; its connections stay open between requests.
	Client *http.Client
}

var statusOf = map[string]int{
	ark.EServiceNotFound: http.StatusNotFound, ark.EUnavailable: http.StatusServiceUnavailable,
	ark.EBadGateway: http.StatusBadGateway, ark.EGatewayTimeout: http.StatusGatewayTimeout,
	ark.ETooLarge: http.StatusRequestEntityTooLarge, ark.EInvalidArgument: http.StatusBadRequest,
}

// writeTracker records whether anything was written to the response.
type writeTracker struct {
	http.ResponseWriter
	wrote bool
}

func (w *writeTracker) WriteHeader(code int)        { w.wrote = true; w.ResponseWriter.WriteHeader(code) }
func (w *writeTracker) Write(b []byte) (int, error) { w.wrote = true; return w.ResponseWriter.Write(b) }
func (w *writeTracker) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func newFront(t *testing.T, g *gateway.Gateway) *front {
	t.Helper()
	f := &front{t: t, g: g}
	f.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest, ok := strings.CutPrefix(r.URL.EscapedPath(), "/v1/infers/")
		if !ok {
			http.NotFound(w, r)
			return
		}
		id, path, _ := strings.Cut(rest, "/")
		if path != "" || strings.HasSuffix(rest, "/") {
			path = "/" + path
		}
		tw := &writeTracker{ResponseWriter: w}
		err := g.Forward(tw, r, id, path, func(p string) bool { return p == testProject })
		if err == nil {
			return
		}
		var ae *ark.Error
		if !errors.As(err, &ae) {
			t.Errorf("Forward returned %T %v; want an *ark.Error", err, err)
		}
		if tw.wrote {
			t.Errorf("Forward wrote a response and returned %v", err)
			return
		}
		w.Header().Set("X-Error-Code", ark.ErrorCode(err))
		w.WriteHeader(statusOf[ark.ErrorCode(err)])
	}))
	t.Cleanup(f.srv.Close)
	f.URL = f.srv.URL
	f.Client = &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 64}}
	t.Cleanup(f.Client.CloseIdleConnections)
	return f
}

// call sends a request to the service and returns the response with its body read.
func (f *front) call(method, path string, body io.Reader, hdr http.Header) (*http.Response, string) {
	f.t.Helper()
	return call(f.t, f.Client, method, f.URL+"/v1/infers/"+testService+path, body, hdr)
}

func call(t *testing.T, c *http.Client, method, url string, body io.Reader, hdr http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, vv := range hdr {
		req.Header[k] = vv
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		t.Fatalf("%s %s: reading the body: %v", method, url, err)
	}
	return res, string(b)
}

// get calls GET path and returns the status and the X-Backend header (who answered) or the
// error code.
func (f *front) get(path string) (int, string) {
	f.t.Helper()
	res, _ := f.call("GET", path, nil, nil)
	if c := res.Header.Get("X-Error-Code"); c != "" {
		return res.StatusCode, c
	}
	return res.StatusCode, res.Header.Get("X-Backend")
}

// instance is a model server: a real HTTP server on loopback.
type instance struct {
	ID   string
	srv  *httptest.Server
	hits atomic.Int64
}

func (in *instance) Backend() ark.Backend {
	return ark.Backend{InstanceID: in.ID, Addr: in.srv.Listener.Addr().String()}
}

// startInstance serves h (nil: an empty 200) and names itself in X-Backend.
func startInstance(t *testing.T, id string, h http.HandlerFunc) *instance {
	t.Helper()
	in := &instance{ID: id}
	in.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		in.hits.Add(1)
		w.Header().Set("X-Backend", id)
		if h != nil {
			h(w, r)
		}
	}))
	t.Cleanup(in.srv.Close)
	return in
}

// deadAddr is a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func route(policy string, entries ...ark.RouteEntry) ark.Route {
	return ark.Route{ProjectID: testProject, Policy: policy, Entries: entries}
}

func entry(model string, weight int, ins ...*instance) ark.RouteEntry {
	e := ark.RouteEntry{ModelID: model, ModelName: model, ModelVersion: "1.0.0", Weight: weight}
	for _, in := range ins {
		e.Backends = append(e.Backends, in.Backend())
	}
	return e
}

func TestWeightedSplit(t *testing.T) {
	g := &gateway.Gateway{}
	f := newFront(t, g)
	a, b := startInstance(t, "a", nil), startInstance(t, "b", nil)
	idle := startInstance(t, "idle", nil)
	g.Publish(testService, route("", entry("m-a", 80, a), entry("m-none", 10), entry("m-b", 20, b), entry("m-zero", 0, idle)))
	counts := map[string]int{}
	for range 1000 {
		status, who := f.get("/predict")
		if status != 200 {
			t.Fatalf("status %d (%s); want 200", status, who)
		}
		counts[who]++
	}
	// Sequential requests follow the smooth weighted round robin exactly: the entry without
	// instances and the one with weight 0 get nothing, and their share goes to the others.
	if counts["a"] != 800 || counts["b"] != 200 || counts["idle"] != 0 {
		t.Fatalf("split = %v; want a 800, b 200", counts)
	}
}

func TestPolicies(t *testing.T) {
	t.Run("RoundRobin", func(t *testing.T) {
		g := &gateway.Gateway{}
		f := newFront(t, g)
		ins := []*instance{startInstance(t, "i1", nil), startInstance(t, "i2", nil), startInstance(t, "i3", nil)}
		g.Publish(testService, route("ROUND_ROBIN", entry("m", 100, ins...)))
		var order []string
		for range 300 {
			_, who := f.get("/")
			order = append(order, who)
		}
		for _, in := range ins {
			if n := in.hits.Load(); n != 100 {
				t.Errorf("%s got %d of 300; want 100", in.ID, n)
			}
		}
		if order[0] == order[1] || order[1] == order[2] || order[0] == order[2] {
			t.Errorf("first picks %v; want each instance in turn", order[:3])
		}
	})

	t.Run("LeastConnections", func(t *testing.T) {
		g := &gateway.Gateway{}
		f := newFront(t, g)
		started, release := make(chan string, 1), make(chan struct{})
		slow := func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/slow" {
				started <- w.Header().Get("X-Backend")
				<-release
			}
		}
		i1, i2 := startInstance(t, "i1", slow), startInstance(t, "i2", slow)
		g.Publish(testService, route("LEAST_CONNECTIONS", entry("m", 100, i1, i2)))
		done := make(chan int)
		go func() {
			res, err := f.Client.Get(f.URL + "/v1/infers/" + testService + "/slow")
			if err != nil {
				done <- 0
				return
			}
			res.Body.Close()
			done <- res.StatusCode
		}()
		busy := <-started
		for range 10 {
			if _, who := f.get("/fast"); who == busy {
				t.Fatalf("request went to %s, which has a request in flight; want the idle one", who)
			}
		}
		close(release)
		if s := <-done; s != 200 {
			t.Fatalf("slow request: status %d; want 200", s)
		}
	})

	t.Run("SourceIP", func(t *testing.T) {
		g := &gateway.Gateway{}
		f := newFront(t, g)
		ins := []*instance{startInstance(t, "i1", nil), startInstance(t, "i2", nil), startInstance(t, "i3", nil),
			startInstance(t, "i4", nil)}
		g.Publish(testService, route("SOURCE_IP", entry("m", 100, ins...)))
		// Clients from 127.0.0.2 to 127.0.0.21 (all of 127/8 is loopback).
		whoFor := func(ip string) string {
			c := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true,
				DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}).DialContext}}
			res, _ := call(t, c, "GET", f.URL+"/v1/infers/"+testService+"/", nil, nil)
			return res.Header.Get("X-Backend")
		}
		first := map[string]string{}
		used := map[string]bool{}
		for i := 2; i <= 21; i++ {
			ip := fmt.Sprintf("127.0.0.%d", i)
			first[ip] = whoFor(ip)
			used[first[ip]] = true
		}
		if len(used) < 2 {
			t.Errorf("20 clients all went to %v; want a spread", used)
		}
		// The same backend set in another order: every client stays where it was.
		g.Publish(testService, route("SOURCE_IP", entry("m", 100, ins[3], ins[1], ins[2], ins[0])))
		for ip, want := range first {
			for range 3 {
				if got := whoFor(ip); got != want {
					t.Fatalf("client %s went to %s; want %s as before", ip, got, want)
				}
			}
		}
	})
}

// TestDrain: a request in flight to a removed instance finishes; Drain waits for it; no new
// request reaches the instance while the others keep serving.
func TestDrain(t *testing.T) {
	g := &gateway.Gateway{}
	f := newFront(t, g)
	started, release := make(chan struct{}), make(chan struct{})
	a := startInstance(t, "a", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(started)
			<-release
			io.WriteString(w, "slow done")
		}
	})
	b := startInstance(t, "b", nil)
	g.Publish(testService, route("", entry("m", 100, a)))

	type result struct {
		status int
		body   string
	}
	slow := make(chan result, 1)
	go func() {
		res, err := f.Client.Get(f.URL + "/v1/infers/" + testService + "/slow")
		if err != nil {
			slow <- result{}
			return
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		slow <- result{res.StatusCode, string(body)}
	}()
	<-started

	g.Publish(testService, route("", entry("m", 100, b)))
	drained := make(chan struct{})
	go func() {
		g.Drain(context.Background(), "a")
		close(drained)
	}()
	hitsA := a.hits.Load()
	for range 20 {
		if status, who := f.get("/fast"); status != 200 || who != "b" {
			t.Fatalf("during the drain: %d from %q; want 200 from b", status, who)
		}
	}
	select {
	case <-drained:
		t.Fatal("Drain returned while a request was in flight")
	case <-time.After(100 * time.Millisecond):
	}
	if n := a.hits.Load(); n != hitsA {
		t.Fatalf("the drained instance got %d new requests", n-hitsA)
	}
	close(release)
	if r := <-slow; r.status != 200 || r.body != "slow done" {
		t.Fatalf("the request in flight: %d %q; want 200 slow done", r.status, r.body)
	}
	select {
	case <-drained:
	case <-time.After(5 * time.Second):
		t.Fatal("Drain did not return after the request finished")
	}

	// Unknown and idle instances drain at once; a busy one until ctx ends.
	g.Drain(context.Background(), "nope")
	g.Drain(context.Background(), "a")
	blocked := make(chan struct{})
	c := startInstance(t, "c", func(w http.ResponseWriter, r *http.Request) { <-blocked })
	defer close(blocked)
	g.Publish(testService, route("", entry("m", 100, c)))
	go func() {
		res, err := f.Client.Get(f.URL + "/v1/infers/" + testService + "/")
		if err == nil {
			res.Body.Close()
		}
	}()
	for c.hits.Load() == 0 {
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	g.Drain(ctx, "c") // the request never ends: only ctx can end the wait
	if ctx.Err() == nil {
		t.Fatal("Drain of a busy instance returned before its context ended")
	}
}

// TestRollingUpdateNoFailures replaces every instance, one at a time, as the engine does
// (publish without it, drain, stop), under constant load: no request fails.
func TestRollingUpdateNoFailures(t *testing.T) {
	g := &gateway.Gateway{}
	f := newFront(t, g)
	work := func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Millisecond)
		io.WriteString(w, "ok")
	}
	live := []*instance{startInstance(t, "v1-a", work), startInstance(t, "v1-b", work)}
	g.Publish(testService, route("", entry("m1", 100, live...)))

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				res, err := f.Client.Get(f.URL + "/v1/infers/" + testService + "/predict")
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != 200 || string(body) != "ok" {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("%d %s %q", res.StatusCode, res.Header.Get("X-Error-Code"), body))
					continue
				}
				ok.Add(1)
			}
		}()
	}
	// traffic waits until 10 more requests have succeeded, so that every step of the update
	// happens under load however slow the machine is.
	traffic := func() {
		t.Helper()
		want := ok.Load() + 10
		deadline := time.Now().Add(30 * time.Second)
		for ok.Load() < want && failed.Load() == 0 {
			if time.Now().After(deadline) {
				t.Fatalf("no traffic: %d requests succeeded", ok.Load())
			}
			time.Sleep(time.Millisecond)
		}
	}
	traffic()
	for i := range 4 {
		// Surge one new instance, then take the oldest out: publish, drain, stop.
		next := startInstance(t, fmt.Sprintf("v2-%d", i), work)
		live = append(live, next)
		g.Publish(testService, route("", entry("m1", 100, live...)))
		traffic()
		old := live[0]
		live = live[1:]
		g.Publish(testService, route("", entry("m1", 100, live...)))
		dctx, dcancel := context.WithTimeout(context.Background(), 5*time.Second)
		g.Drain(dctx, old.ID)
		dcancel()
		old.srv.Close() // the instance stops
		traffic()
	}
	cancel()
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d of %d requests failed during the rolling update; first: %v", failed.Load(), failed.Load()+ok.Load(), firstErr.Load())
	}
	st := g.Stats(testService)
	if st.Failures != 0 || st.Invocations != ok.Load() {
		t.Fatalf("stats %+v; want %d invocations, no failure", st, ok.Load())
	}
}

func TestRetry(t *testing.T) {
	g := &gateway.Gateway{}
	f := newFront(t, g)
	echo := startInstance(t, "b-live", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Write(body)
	})
	dead := ark.Backend{InstanceID: "a-dead", Addr: deadAddr(t)}
	liveEntry := entry("m", 100, echo)
	withDead := liveEntry
	withDead.Backends = append([]ark.Backend{dead}, liveEntry.Backends...)
	g.Publish(testService, route("", withDead))

	// Replayable requests: no body, or a small one. Round robin sends every other one to the
	// dead instance first; each is retried on the live one.
	for i := range 10 {
		if status, who := f.get("/"); status != 200 || who != "b-live" {
			t.Fatalf("GET %d: %d %s; want 200 from b-live", i, status, who)
		}
		body := fmt.Sprintf(`{"n":%d}`, i)
		res, got := f.call("POST", "/predict", strings.NewReader(body), nil)
		if res.StatusCode != 200 || got != body {
			t.Fatalf("POST %d: %d %q; want 200 %q", i, res.StatusCode, got, body)
		}
	}
	if st := g.Stats(testService); st.Invocations != 20 || st.Failures != 0 {
		t.Fatalf("stats %+v; want 20 invocations, no failure", st)
	}

	// A body above the retry limit is streamed: when its first pick is the dead instance it
	// fails with 502; the next request goes to the live one.
	big := strings.Repeat("x", gateway.DefaultRetryBodyLimit+1)
	codes := map[int]int{}
	for range 2 {
		res, got := f.call("POST", "/predict", strings.NewReader(big), nil)
		codes[res.StatusCode]++
		if res.StatusCode == 200 && got != big {
			t.Fatalf("big body came back with %d bytes; want %d", len(got), len(big))
		}
		if res.StatusCode == 502 && res.Header.Get("X-Error-Code") != ark.EBadGateway {
			t.Fatalf("502 with code %q; want %s", res.Header.Get("X-Error-Code"), ark.EBadGateway)
		}
	}
	if codes[200] != 1 || codes[502] != 1 {
		t.Fatalf("two big bodies: statuses %v; want one 200 and one 502", codes)
	}
	// So is a chunked body (no Content-Length).
	codes = map[int]int{}
	for range 2 {
		res, _ := f.call("POST", "/predict", io.MultiReader(strings.NewReader("chunked")), nil)
		codes[res.StatusCode]++
	}
	if codes[200] != 1 || codes[502] != 1 {
		t.Fatalf("two chunked bodies: statuses %v; want one 200 and one 502", codes)
	}

	// Only dead instances: 502 after the retries.
	g.Publish(testService, route("", ark.RouteEntry{ModelID: "m", Weight: 100, Backends: []ark.Backend{
		dead, {InstanceID: "dead-2", Addr: deadAddr(t)}, {InstanceID: "dead-3", Addr: deadAddr(t)}, {InstanceID: "dead-4", Addr: deadAddr(t)}}}))
	if status, code := f.get("/"); status != 502 || code != ark.EBadGateway {
		t.Fatalf("all dead: %d %s; want 502 %s", status, code, ark.EBadGateway)
	}
	if st := g.Stats(testService); st.Failures != 3 || st.Models["m"].Failures != 3 {
		t.Fatalf("stats %+v; want 3 failures", st)
	}
}

// TestErrors: what Forward answers, as *ark.Error and before writing anything, when it cannot serve.
func TestErrors(t *testing.T) {
	g := &gateway.Gateway{ResponseTimeout: 200 * time.Millisecond}
	f := newFront(t, g)
	sleepy := startInstance(t, "sleepy", func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
		}
	})
	other := "ffffffffffffffffffffffffffffffff"
	for _, c := range []struct {
		name   string
		route  *ark.Route // nil: Remove
		status int
		code   string
	}{
		{"unknown service", nil, 503, ark.EUnavailable},
		{"another project's service", &ark.Route{ProjectID: other, Entries: []ark.RouteEntry{entry("m", 100, sleepy)}}, 404, ark.EServiceNotFound},
		{"no entry", &ark.Route{ProjectID: testProject}, 503, ark.EUnavailable},
		{"no ready instance", &ark.Route{ProjectID: testProject, Entries: []ark.RouteEntry{entry("m", 100)}}, 503, ark.EUnavailable},
		{"weight 0 only", &ark.Route{ProjectID: testProject, Entries: []ark.RouteEntry{entry("m", 0, sleepy)}}, 503, ark.EUnavailable},
		{"timeout", &ark.Route{ProjectID: testProject, Entries: []ark.RouteEntry{entry("m", 100, sleepy)}}, 504, ark.EGatewayTimeout},
	} {
		if c.route == nil {
			g.Remove(testService)
		} else {
			g.Publish(testService, *c.route)
		}
		if status, code := f.get("/"); status != c.status || code != c.code {
			t.Errorf("%s: %d %s; want %d %s", c.name, status, code, c.status, c.code)
		}
	}
	// The service's counts start with "no entry" (the project changed): 503, 503, 503, 504 are
	// failures; only the timeout picked a model.
	st := g.Stats(testService)
	if st.Invocations != 4 || st.Failures != 4 || st.Models["m"].Failures != 1 {
		t.Errorf("stats %+v; want 4 invocations, 4 failures, 1 of them for model m", st)
	}
	// The engine's empty route (a service it stopped) keeps the project and the counters.
	g.Publish(testService, ark.Route{})
	if status, code := f.get("/"); status != 503 || code != ark.EUnavailable {
		t.Errorf("empty route: %d %s; want 503 %s", status, code, ark.EUnavailable)
	}
	if st := g.Stats(testService); st.Invocations != 5 || st.Failures != 5 {
		t.Errorf("after an empty route: stats %+v; want 5 invocations, 5 failures", st)
	}
	g.Remove(testService)
	if status, code := f.get("/"); status != 503 || code != ark.EUnavailable {
		t.Errorf("removed: %d %s; want 503 %s", status, code, ark.EUnavailable)
	}
	g.Publish(testService, ark.Route{}) // after Remove: still nothing
	if st := g.Stats(testService); st.Invocations != 0 || st.Models != nil {
		t.Errorf("an empty route after Remove made the service known again: %+v", st)
	}
	g.Publish(testService, route("", entry("m", 100, sleepy)))

	// A body larger than the server allows: 413 before anything is sent, not a failure.
	f2 := newFront(t, g)
	f2.srv.Config.Handler = http.MaxBytesHandler(f2.srv.Config.Handler, 10)
	res, _ := f2.call("POST", "/", strings.NewReader(strings.Repeat("x", 100)), nil)
	if res.StatusCode != 413 || res.Header.Get("X-Error-Code") != ark.ETooLarge {
		t.Errorf("oversized body: %d %s; want 413 %s", res.StatusCode, res.Header.Get("X-Error-Code"), ark.ETooLarge)
	}
}

// TestHeaders: hop-by-hop and credential headers stay behind, X-Forwarded-* are set, the path
// and query arrive as sent, and the response comes back with its status, headers and trailers.
func TestHeaders(t *testing.T) {
	g := &gateway.Gateway{}
	f := newFront(t, g)
	type seen struct {
		Method     string
		RequestURI string
		Host       string
		Header     http.Header
		Body       string
	}
	echo := startInstance(t, "echo", func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Trailer", "X-Checksum")
		w.Header().Set("Keep-Alive", "timeout=5")
		w.Header().Set("Connection", "X-Resp-Hop")
		w.Header().Set("X-Resp-Hop", "1")
		w.Header().Set("X-Resp-Keep", "yes")
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		json.NewEncoder(w).Encode(seen{r.Method, r.RequestURI, r.Host, r.Header, string(body)})
		w.Header().Set("X-Checksum", "42")
	})
	g.Publish(testService, route("", entry("m", 100, echo)))

	hdr := http.Header{
		"Connection":          {"X-Hop, keep-alive"},
		"X-Hop":               {"1"},
		"Keep-Alive":          {"timeout=5"},
		"Te":                  {"trailers"},
		"Upgrade":             {"something"},
		"Proxy-Authorization": {"Basic eDp5"},
		"X-Auth-Token":        {"MIIsecret"},
		"Authorization":       {"Bearer secret"},
		"X-Forwarded-For":     {"10.0.0.1"},
		"X-Forwarded-Host":    {"spoofed"},
		"X-Keep":              {"yes"},
		"Content-Type":        {"application/json"},
	}
	res, body := f.call("PUT", "/a%2Fb/c?x=1&y=%2F&z", strings.NewReader(`{"k":1}`), hdr)
	if res.StatusCode != http.StatusCreated {
		t.Fatalf("status %d; want 201 (%s)", res.StatusCode, body)
	}
	var s seen
	if err := json.Unmarshal([]byte(body), &s); err != nil {
		t.Fatal(err)
	}
	if s.Method != "PUT" || s.RequestURI != "/a%2Fb/c?x=1&y=%2F&z" || s.Body != `{"k":1}` {
		t.Errorf("instance saw %s %s body %q; want PUT /a%%2Fb/c?x=1&y=%%2F&z body {\"k\":1}", s.Method, s.RequestURI, s.Body)
	}
	for _, h := range []string{"X-Hop", "Keep-Alive", "Te", "Upgrade", "Proxy-Authorization", "X-Auth-Token", "Authorization"} {
		if v, ok := s.Header[h]; ok {
			t.Errorf("instance saw %s: %v; want it stripped", h, v)
		}
	}
	if c := s.Header.Get("Connection"); c != "" && !strings.EqualFold(c, "keep-alive") {
		t.Errorf("instance saw Connection: %q; want the client's stripped", c)
	}
	front, _ := url.Parse(f.URL)
	for h, want := range map[string]string{"X-Keep": "yes", "Content-Type": "application/json",
		"X-Forwarded-For": "10.0.0.1, 127.0.0.1", "X-Forwarded-Proto": "http", "X-Forwarded-Host": front.Host} {
		if got := strings.Join(s.Header[h], ","); got != want {
			t.Errorf("instance saw %s: %q; want %q", h, got, want)
		}
	}
	if s.Host != echo.Backend().Addr {
		t.Errorf("instance saw Host %q; want its own address %q", s.Host, echo.Backend().Addr)
	}
	for _, h := range []string{"Keep-Alive", "X-Resp-Hop"} {
		if v, ok := res.Header[h]; ok {
			t.Errorf("client saw %s: %v; want it stripped", h, v)
		}
	}
	if res.Header.Get("X-Resp-Keep") != "yes" || res.Header.Get("Content-Type") != "application/json" {
		t.Errorf("client headers %v; want X-Resp-Keep and Content-Type", res.Header)
	}
	if got := res.Trailer.Get("X-Checksum"); got != "42" {
		t.Errorf("trailer X-Checksum = %q; want 42", got)
	}

	// The exact service path: the instance sees "/".
	res, body = f.call("GET", "", nil, nil)
	if err := json.Unmarshal([]byte(body), &s); err != nil || s.RequestURI != "/" {
		t.Errorf("GET /v1/infers/{id}: instance saw %q (%v); want /", s.RequestURI, err)
	}
	// HEAD passes through without a body.
	res, body = f.call("HEAD", "/x", nil, nil)
	if res.StatusCode != http.StatusCreated || body != "" {
		t.Errorf("HEAD: %d %q; want 201 and no body", res.StatusCode, body)
	}
}

// TestStreaming: server-sent events and chunked bodies reach the client as the instance writes
// them.
func TestStreaming(t *testing.T) {
	g := &gateway.Gateway{}
	f := newFront(t, g)
	next := make(chan struct{})
	sse := startInstance(t, "sse", func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/events" {
			w.Header().Set("Content-Type", "text/event-stream")
			w.Header().Set("Content-Length", "") // no length either way
		}
		io.WriteString(w, "data: one\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-next:
		case <-r.Context().Done():
			return
		}
		io.WriteString(w, "data: two\n\n")
	})
	g.Publish(testService, route("", entry("m", 100, sse)))
	for _, path := range []string{"/events", "/chunked"} {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		req, _ := http.NewRequestWithContext(ctx, "GET", f.URL+"/v1/infers/"+testService+path, nil)
		res, err := f.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		br := bufio.NewReader(res.Body)
		line, err := br.ReadString('\n')
		if err != nil || line != "data: one\n" {
			t.Fatalf("%s: first line %q, %v; want it before the instance sends the second event", path, line, err)
		}
		next <- struct{}{}
		rest, err := io.ReadAll(br)
		if err != nil || string(rest) != "\ndata: two\n\n" {
			t.Fatalf("%s: rest %q, %v", path, rest, err)
		}
		res.Body.Close()
		cancel()
	}

	// An instance that breaks off its response: the client sees an error, not a short body.
	broken := startInstance(t, "broken", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100")
		io.WriteString(w, "short")
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	})
	g.Publish(testService, route("", entry("m2", 100, broken)))
	// A new connection, so that the client does not retry the GET on a connection it reused.
	c := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}}
	res, err := c.Get(f.URL + "/v1/infers/" + testService + "/")
	if err == nil {
		_, err = io.ReadAll(res.Body)
		res.Body.Close()
	}
	if err == nil {
		t.Fatal("a broken-off response reached the client as complete")
	}
	if st := g.Stats(testService); st.Models["m2"].Failures != 1 {
		t.Fatalf("stats %+v; want the broken response counted as failed", st)
	}
}

// TestCounters: invocations, failures (gateway errors and instance 5xx) and the per-minute window,
// per service and per model.
func TestCounters(t *testing.T) {
	clock := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	g := &gateway.Gateway{Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return clock }}
	advance := func(d time.Duration) { mu.Lock(); clock = clock.Add(d); mu.Unlock() }
	f := newFront(t, g)
	good := startInstance(t, "good", nil)
	bad := startInstance(t, "bad", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) })
	notFound := startInstance(t, "nf", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(404) })
	g.Publish(testService, route("", entry("good", 50, good), entry("bad", 25, bad), entry("nf", 25, notFound)))
	for range 8 {
		f.get("/")
	}
	advance(30 * time.Second)
	for range 4 {
		f.get("/")
	}
	want := gateway.Stats{Invocations: 12, Failures: 3, PerMinute: 12, Models: map[string]gateway.ModelStats{
		"good": {Invocations: 6, PerMinute: 6}, "bad": {Invocations: 3, Failures: 3, PerMinute: 3},
		"nf": {Invocations: 3, PerMinute: 3}}}
	if got := g.Stats(testService); !equalStats(got, want) {
		t.Fatalf("Stats = %+v; want %+v", got, want)
	}
	advance(31 * time.Second) // the first 8 requests leave the window
	want.PerMinute = 4
	want.Models = map[string]gateway.ModelStats{"good": {Invocations: 6, PerMinute: 2},
		"bad": {Invocations: 3, Failures: 3, PerMinute: 1}, "nf": {Invocations: 3, PerMinute: 1}}
	if got := g.Stats(testService); !equalStats(got, want) {
		t.Fatalf("after 61 s: Stats = %+v; want %+v", got, want)
	}
	if got := g.Stats("unknown"); got.Invocations != 0 || got.Models != nil {
		t.Fatalf("Stats(unknown) = %+v; want zero", got)
	}
}

func equalStats(a, b gateway.Stats) bool {
	if a.Invocations != b.Invocations || a.Failures != b.Failures || a.PerMinute != b.PerMinute || len(a.Models) != len(b.Models) {
		return false
	}
	for k, v := range a.Models {
		if b.Models[k] != v {
			return false
		}
	}
	return true
}
