package gateway

import (
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
)

// Problem is an RFC 7807 problem details document, with the fields that say where a payload
// went wrong and what was recorded anyway.
type Problem struct {
	// Type is a URI naming the kind of problem.
	Type string `json:"type"`
	// Title is a short summary of the kind of problem.
	Title string `json:"title"`
	// Status repeats the HTTP status.
	Status int `json:"status"`
	// Detail explains this occurrence.
	Detail string `json:"detail,omitempty"`
	// Errors locate each problem in the payload (JSON pointers).
	Errors []FieldError `json:"errors,omitempty"`
	// Result says what the gateway recorded from the good alerts of the payload.
	Result *Result `json:"result,omitempty"`
}

// Problem types.
const (
	problemBase          = "https://kubernaut.io/problems/"
	ProblemInvalid       = problemBase + "invalid-payload"
	ProblemUnauthorized  = problemBase + "unauthorized"
	ProblemForbidden     = problemBase + "forbidden"
	ProblemTooLarge      = problemBase + "payload-too-large"
	ProblemUnavailable   = problemBase + "unavailable"
	ProblemRateLimited   = problemBase + "rate-limited"
	ProblemUnsupported   = problemBase + "unsupported-media-type"
	ProblemMethodInvalid = problemBase + "method-not-allowed"
)

// writeProblem answers with a problem document and aborts the request.
func writeProblem(c *gin.Context, p Problem) {
	c.Header("Content-Type", "application/problem+json")
	c.AbortWithStatusJSON(p.Status, p)
}

// writeUnavailable answers 503 with Retry-After, so Alertmanager retries (it drops 4xx).
func writeUnavailable(c *gin.Context, typ, title, detail string, retryAfter time.Duration, result *Result) {
	secs := int(retryAfter.Round(time.Second) / time.Second)
	if secs < 1 {
		secs = 1
	}
	c.Header("Retry-After", strconv.Itoa(secs))
	writeProblem(c, Problem{Type: typ, Title: title, Status: http.StatusServiceUnavailable, Detail: detail, Result: result})
}

// sortFieldErrors orders errors by pointer so answers are stable.
func sortFieldErrors(errs []FieldError) {
	sort.SliceStable(errs, func(i, j int) bool { return errs[i].Pointer < errs[j].Pointer })
}
