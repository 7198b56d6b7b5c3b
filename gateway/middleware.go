package gateway

import (
	"errors"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"golang.org/x/time/rate"
)

// outcomeKey is the gin context key under which a webhook delivery's outcome is kept for
// its request metric.
const outcomeKey = "kubernaut.outcome"

// reject counts a request refused before its alerts were looked at, and names its outcome.
func (s *Server) reject(c *gin.Context, reason string) {
	s.metrics.reject(reason)
	c.Set(outcomeKey, reason)
}

// observe times every webhook delivery and counts it by outcome and HTTP status code,
// including the ones the rate limit or the authentication refused and the ones that panicked
// (counted as 500 before gin's recovery answers them).
func (s *Server) observe(c *gin.Context) {
	start := time.Now()
	defer func() {
		code, outcome := c.Writer.Status(), c.GetString(outcomeKey)
		p := recover()
		if p != nil {
			code, outcome = http.StatusInternalServerError, "panic"
		}
		if outcome == "" {
			outcome = "unknown"
		}
		s.metrics.observeRequest(outcome, code, time.Since(start))
		if p != nil {
			panic(p)
		}
	}()
	c.Next()
}

// authenticate checks the bearer token before anything reads the body.
func (s *Server) authenticate(c *gin.Context) {
	token, ok := bearerToken(c.GetHeader("Authorization"))
	if !ok {
		s.reject(c, "unauthenticated")
		c.Header("WWW-Authenticate", `Bearer realm="kubernaut"`)
		writeProblem(c, Problem{Type: ProblemUnauthorized, Title: "Unauthorized", Status: http.StatusUnauthorized,
			Detail: "an Authorization: Bearer <token> header is required"})
		return
	}
	id, err := s.auth.Authenticate(c.Request.Context(), token)
	switch {
	case err == nil:
		c.Set("identity", id)
		c.Next()
	case errors.Is(err, ErrForbidden):
		s.reject(c, "forbidden")
		writeProblem(c, Problem{Type: ProblemForbidden, Title: "Forbidden", Status: http.StatusForbidden,
			Detail: "the token's identity may not deliver signals"})
	case errors.Is(err, ErrUnauthenticated):
		s.reject(c, "unauthenticated")
		c.Header("WWW-Authenticate", `Bearer realm="kubernaut", error="invalid_token"`)
		writeProblem(c, Problem{Type: ProblemUnauthorized, Title: "Unauthorized", Status: http.StatusUnauthorized,
			Detail: "the bearer token is not valid"})
	default:
		// The authenticator itself failed (TokenReview unreachable): retryable. The caller is
		// not authenticated yet, so it learns nothing of why (API server messages name
		// ServiceAccounts and addresses): the log has it.
		s.log.Error(err, "cannot authenticate a webhook request now; answering 503")
		s.reject(c, "auth-unavailable")
		writeUnavailable(c, ProblemUnavailable, "Cannot authenticate now", "the authenticator is unavailable; retry later", s.cfg.RetryAfter, nil)
	}
}

// sourceLimiter limits requests per source address. It answers 503 with Retry-After, never
// 429: Alertmanager drops a 4xx for good but retries a 5xx.
type sourceLimiter struct {
	limit rate.Limit
	burst int
	max   int

	mu       sync.Mutex
	limiters map[string]*limiterEntry
}

type limiterEntry struct {
	l    *rate.Limiter
	seen time.Time
}

func newSourceLimiter(perSecond float64, burst, maxSources int) *sourceLimiter {
	return &sourceLimiter{limit: rate.Limit(perSecond), burst: burst, max: maxSources, limiters: map[string]*limiterEntry{}}
}

// reserve returns 0 when the source may go on, or how long it should wait.
func (sl *sourceLimiter) reserve(source string, now time.Time) time.Duration {
	sl.mu.Lock()
	defer sl.mu.Unlock()
	e := sl.limiters[source]
	if e == nil {
		if len(sl.limiters) >= sl.max {
			sl.evict(now)
		}
		e = &limiterEntry{l: rate.NewLimiter(sl.limit, sl.burst)}
		sl.limiters[source] = e
	}
	e.seen = now
	r := e.l.ReserveN(now, 1)
	if !r.OK() {
		return time.Second
	}
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d
	}
	return 0
}

// evict drops the sources not seen for a minute, or the oldest half when all are recent, so
// the table stays bounded.
func (sl *sourceLimiter) evict(now time.Time) {
	for k, e := range sl.limiters {
		if now.Sub(e.seen) > time.Minute {
			delete(sl.limiters, k)
		}
	}
	for k := range sl.limiters {
		if len(sl.limiters) < sl.max/2 {
			break
		}
		delete(sl.limiters, k)
	}
}

func (s *Server) rateLimit(c *gin.Context) {
	src, _, err := net.SplitHostPort(c.Request.RemoteAddr)
	if err != nil {
		src = c.Request.RemoteAddr
	}
	if wait := s.limiter.reserve(src, time.Now()); wait > 0 {
		s.reject(c, "rate-limited")
		writeUnavailable(c, ProblemRateLimited, "Too many requests from this source",
			"the per-source rate limit is exceeded; retry later", wait, nil)
		return
	}
	c.Next()
}
