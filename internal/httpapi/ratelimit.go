package httpapi

import (
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/arkserve/arkserve/internal/ark"
)

// Token issuance (POST /v3/auth/tokens) is rate-limited per user and source address: each pair
// has a bucket of TokenBurst attempts that refills one attempt every TokenRefill. Every attempt
// counts, successful or not, so that guessing passwords costs the same as asking for tokens.
const (
	DefaultTokenBurst  = 10
	DefaultTokenRefill = 6 * time.Second // 10 per minute once the burst is spent
	maxBuckets         = 100_000
)

// rateLimiter is a token bucket per key. Buckets that have refilled completely are dropped, so
// its memory follows the number of recently active keys; past maxBuckets live keys new keys are
// refused until some refill.
type rateLimiter struct {
	burst  float64
	refill time.Duration

	mu      sync.Mutex
	buckets map[string]*bucket
	swept   time.Time
}

type bucket struct {
	tokens float64
	at     time.Time
}

// allow takes one attempt from key's bucket; when there is none it says how long until there is.
func (l *rateLimiter) allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buckets == nil {
		l.buckets = map[string]*bucket{}
	}
	full := l.refill * time.Duration(l.burst)
	if now.Sub(l.swept) > full || len(l.buckets) >= maxBuckets {
		for k, b := range l.buckets {
			if now.Sub(b.at) >= full {
				delete(l.buckets, k)
			}
		}
		l.swept = now
	}
	b, ok := l.buckets[key]
	if !ok {
		if len(l.buckets) >= maxBuckets {
			return false, l.refill
		}
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[key] = b
	}
	if el := now.Sub(b.at); el > 0 {
		b.tokens = min(l.burst, b.tokens+float64(el)/float64(l.refill))
		b.at = now
	}
	if b.tokens < 1 {
		return false, time.Duration((1 - b.tokens) * float64(l.refill))
	}
	b.tokens--
	return true, 0
}

// allowTokenIssue applies the token-issuance limit to user (as the request names it) from the
// request's source address, answering 429 ModelArts.2799 with Retry-After when it is spent.
func (s *Server) allowTokenIssue(w http.ResponseWriter, r *http.Request, user string) bool {
	s.tokenLimitOnce.Do(func() {
		burst, refill := s.TokenBurst, s.TokenRefill
		if burst <= 0 {
			burst = DefaultTokenBurst
		}
		if refill <= 0 {
			refill = DefaultTokenRefill
		}
		s.tokenLimit = &rateLimiter{burst: float64(burst), refill: refill}
	})
	src, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		src = r.RemoteAddr
	}
	ok, wait := s.tokenLimit.allow(user+"\x00"+src, s.Now())
	if ok {
		return true
	}
	w.Header().Set("Retry-After", strconv.Itoa(int(wait/time.Second)+1))
	s.ksError(w, r, ark.Errorf(ark.ETooManyRequests, "Too many token requests for this user from this address; try again in %d s.", int(wait/time.Second)+1))
	return false
}

// tokenUser names the user a token request is for, as the rate limit keys it.
func (s *Server) tokenUser(req *ksAuthRequest, r *http.Request) string {
	id := req.Auth.Identity
	switch {
	case id.Password != nil && id.Password.User != nil:
		u := id.Password.User
		if u.ID != "" {
			return "id:" + u.ID
		}
		d := ""
		if u.Domain != nil {
			d = u.Domain.ID + "/" + u.Domain.Name
		}
		return "name:" + d + "/" + u.Name
	case id.Token != nil || r.Header.Get("X-Auth-Token") != "":
		tok := r.Header.Get("X-Auth-Token")
		if id.Token != nil && id.Token.ID != "" {
			tok = id.Token.ID
		}
		if p, err := s.IAM.Verify(tok); err == nil {
			return "id:" + p.UserID
		}
		return "token"
	}
	return ""
}
