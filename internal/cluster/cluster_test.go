package cluster_test

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

	"github.com/arkserve/arkserve/internal/cluster"
)

// owners is a cluster.Store of fixed answers (the real stores' ServiceOwner is in the conformance
// suite).
type owners struct {
	mu      sync.Mutex
	holder  map[string]string // service → holder
	url     map[string]string // holder → URL
	lookups int
}

func (o *owners) RegisterReplica(_ context.Context, id, url string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.url[id] = url
	return nil
}

// lookupCount is how often ServiceOwner was called.
func (o *owners) lookupCount() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.lookups
}

func (o *owners) ServiceOwner(_ context.Context, serviceID string) (string, string, bool, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.lookups++
	h, ok := o.holder[serviceID]
	return h, o.url[h], ok, nil
}

// replica is a server whose handler answers what Peers does not forward with its own name.
func replica(t *testing.T, name string, p *cluster.Peers) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ok, err := p.Forward(w, r, strings.TrimPrefix(r.URL.Path, "/v1/infers/")); ok || err != nil {
			if err != nil {
				http.Error(w, err.Error(), 503)
			}
			return
		}
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Served-By", name)
		io.WriteString(w, name+" host="+r.Host+" forwarded-by="+r.Header.Get(cluster.ForwardedHeader)+" body="+string(body))
	}))
}

func TestForwardToOwner(t *testing.T) {
	st := &owners{holder: map[string]string{}, url: map[string]string{}}
	// An hour: the cache check below must not depend on how fast the machine is.
	pa := &cluster.Peers{Store: st, Self: "a", CacheTTL: time.Hour}
	pb := &cluster.Peers{Store: st, Self: "b", CacheTTL: time.Hour}
	a, b := replica(t, "a", pa), replica(t, "b", pb)
	defer a.Close()
	defer b.Close()
	pa.URL, pb.URL = a.URL, b.URL
	for _, p := range []*cluster.Peers{pa, pb} {
		if err := p.Register(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	st.holder["svc-b"], st.holder["svc-a"] = "b", "a"

	call := func(base, svc string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", base+"/v1/infers/"+svc, strings.NewReader("input"))
		req.Host = "api.example.com"
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if _, got := call(a.URL, "svc-b"); got != "b host=api.example.com forwarded-by=a body=input" {
		t.Fatalf("a service of b through a: %q", got)
	}
	if _, got := call(a.URL, "svc-a"); got != "a host=api.example.com forwarded-by= body=input" {
		t.Fatalf("a service of a through a: %q", got)
	}
	if _, got := call(a.URL, "nobody's"); !strings.HasPrefix(got, "a ") {
		t.Fatalf("a service nobody holds is served where it arrives: %q", got)
	}

	// The lookups are cached: a second call does not ask the store again.
	n := st.lookupCount()
	call(a.URL, "svc-b")
	if st.lookupCount() != n {
		t.Fatalf("%d store lookups for a cached owner", st.lookupCount()-n)
	}

	// A forwarded request is not forwarded again (b believes a holds it: the lease moved).
	st.holder["moving"] = "a"
	req, _ := http.NewRequest("GET", b.URL+"/v1/infers/moving", nil)
	req.Header.Set(cluster.ForwardedHeader, "a")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("X-Served-By") != "b" {
		t.Fatalf("a forwarded request went on to %q", resp.Header.Get("X-Served-By"))
	}
}

func TestOwnerUnreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String()
	ln.Close() // nothing listens there any more
	st := &owners{holder: map[string]string{"svc": "dead"}, url: map[string]string{"dead": dead}}
	pa := &cluster.Peers{Store: st, Self: "a", CacheTTL: time.Hour} // a re-lookup is the forgetting, not the expiry
	a := replica(t, "a", pa)
	defer a.Close()
	resp, err := http.Get(a.URL + "/v1/infers/svc")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 503 || !strings.Contains(string(body), "ModelArts.0503") {
		t.Fatalf("owner unreachable: %d %s", resp.StatusCode, body)
	}
	// The failed owner is forgotten: the next request looks the owner up again.
	n := st.lookupCount()
	resp, err = http.Get(a.URL + "/v1/infers/svc")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if st.lookupCount() == n {
		t.Fatal("the unreachable owner is still cached")
	}
}
