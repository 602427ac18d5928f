package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"
)

// The load generator: closed loop, conns keep-alive connections, each sends its next request as
// soon as the previous answer has been read. Requests are prebuilt bytes written to a raw
// connection and answers are read with http.ReadResponse, so the client's own cost stays small
// (it shares the machine's cores with the servers).

// request is one prebuilt HTTP/1.1 request.
type request struct {
	addr string
	raw  []byte
}

// newRequest builds method path on addr with headers (pairs) and body.
func newRequest(addr, method, path string, body []byte, headers ...string) request {
	b := fmt.Appendf(nil, "%s %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: arkbench\r\n", method, path, addr)
	for i := 0; i+1 < len(headers); i += 2 {
		b = fmt.Appendf(b, "%s: %s\r\n", headers[i], headers[i+1])
	}
	if body != nil {
		b = fmt.Appendf(b, "Content-Length: %d\r\n", len(body))
	}
	b = append(b, "\r\n"...)
	b = append(b, body...)
	return request{addr: addr, raw: b}
}

// loadResult is one run's figures.
type loadResult struct {
	Conns    int
	Requests int
	Errors   int
	Elapsed  time.Duration
	P50, P99 time.Duration
	Load     string // 1-minute load average at the end
}

func (r loadResult) RPS() float64 { return float64(r.Requests) / r.Elapsed.Seconds() }

// runLoad loads req with conns connections: warm-up, then dur measured. want checks each answer
// (status and body length).
func runLoad(req request, conns int, warm, dur time.Duration, want func(status int, n int64) bool) loadResult {
	var wg sync.WaitGroup
	lat := make([][]time.Duration, conns)
	errs := make([]int, conns)
	begin := time.Now()
	measureFrom, end := begin.Add(warm), begin.Add(warm+dur)
	for c := 0; c < conns; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := make([]time.Duration, 0, 1<<14)
			var conn net.Conn
			var br *bufio.Reader
			for {
				t0 := time.Now()
				if t0.After(end) {
					break
				}
				if conn == nil {
					var err error
					if conn, err = net.Dial("tcp", req.addr); err != nil {
						errs[c]++
						time.Sleep(10 * time.Millisecond)
						continue
					}
					br = bufio.NewReaderSize(conn, 64<<10)
				}
				ok := false
				if _, err := conn.Write(req.raw); err == nil {
					if res, err := http.ReadResponse(br, nil); err == nil {
						n, err := io.Copy(io.Discard, res.Body)
						res.Body.Close()
						ok = err == nil && want(res.StatusCode, n)
						if res.Close {
							conn.Close()
							conn = nil
						}
					}
				}
				if !ok {
					if conn != nil {
						conn.Close()
						conn = nil
					}
					if t0.After(measureFrom) {
						errs[c]++
					}
					continue
				}
				if t0.After(measureFrom) {
					l = append(l, time.Since(t0))
				}
			}
			if conn != nil {
				conn.Close()
			}
			lat[c] = l
		}()
	}
	wg.Wait()
	var all []time.Duration
	r := loadResult{Conns: conns, Elapsed: dur, Load: loadavg()}
	for c := range lat {
		all = append(all, lat[c]...)
		r.Errors += errs[c]
	}
	slices.Sort(all)
	r.Requests = len(all)
	r.P50, r.P99 = percentile(all, 0.50), percentile(all, 0.99)
	return r
}
