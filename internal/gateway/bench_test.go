package gateway_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/arkserve/arkserve/internal/ark"
	"github.com/arkserve/arkserve/internal/gateway"
)

const (
	benchRequest  = `{"instances":[[0.1,0.2,0.3,0.4,0.5,0.6,0.7,0.8,0.9,1.0,1.1,1.2,1.3,1.4,1.5,1.6]],"signature":"serving_default"}`
	benchResponse = `{"predictions":[[0.01,0.02,0.9,0.07]],"model":"mnist","version":"1.0.0"}`
)

// BenchmarkProxy compares one inference call (a small JSON POST and answer, keep-alive
// connections) sent to an instance directly, through the gateway, and through
// httputil.ReverseProxy doing the same job. Serial reports the median latency (p50-µs);
// Parallel the throughput (ns/op across GOMAXPROCS*4 clients). Client, proxy and instance share
// the machine's cores.
func BenchmarkProxy(b *testing.B) {
	inst := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", "72")
		io.WriteString(w, benchResponse)
	}))
	defer inst.Close()
	if len(benchResponse) != 72 {
		b.Fatalf("response is %d bytes", len(benchResponse))
	}
	g := &gateway.Gateway{}
	g.Publish(testService, ark.Route{ProjectID: testProject, Entries: []ark.RouteEntry{{ModelID: "m", Weight: 100,
		Backends: []ark.Backend{{InstanceID: "i", Addr: inst.Listener.Addr().String()}}}}})
	const prefix = "/v1/infers/" + testService
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path := strings.TrimPrefix(r.URL.EscapedPath(), prefix)
		if err := g.Forward(w, r, testService, path, func(p string) bool { return p == testProject }); err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
		}
	}))
	defer gw.Close()
	target, _ := url.Parse(inst.URL)
	rp := httptest.NewServer(&httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.SetURL(target)
			pr.Out.URL.Path = strings.TrimPrefix(pr.In.URL.Path, prefix)
			pr.Out.URL.RawPath = ""
			pr.Out.Header.Del("X-Auth-Token")
			pr.SetXForwarded()
		},
		Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 512, DisableCompression: true},
	})
	defer rp.Close()

	for _, c := range []struct{ name, url string }{
		{"Direct", inst.URL + "/predict"},
		{"Gateway", gw.URL + prefix + "/predict"},
		{"ReverseProxy", rp.URL + prefix + "/predict"},
	} {
		client := &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 512, DisableCompression: true}}
		do := func(b *testing.B) {
			req, _ := http.NewRequest("POST", c.url, strings.NewReader(benchRequest))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Auth-Token", "token")
			res, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			n, _ := io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != 200 || n != 72 {
				b.Fatalf("%s: status %d, %d bytes", c.name, res.StatusCode, n)
			}
		}
		b.Run(c.name+"/Serial", func(b *testing.B) {
			b.ReportAllocs()
			var lat []time.Duration
			for b.Loop() {
				start := time.Now()
				do(b)
				lat = append(lat, time.Since(start))
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1e3, "p50-µs")
		})
		b.Run(c.name+"/Parallel", func(b *testing.B) {
			b.ReportAllocs()
			b.SetParallelism(4)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					do(b)
				}
			})
		})
		client.CloseIdleConnections()
	}
}
