// Package holmesgpt is the analyzer that asks a HolmesGPT server (REFERENCE §2): the current
// `POST /api/chat` with `response_format` set to the JSON schema of Kubernaut's
// recommendation, and `POST /api/investigate` with `sections` on older servers (detected by a
// 404). Retries with jitter only on 5xx, 429 and timeouts; a circuit breaker stops calling a
// server that keeps failing, so that the rules analyzer answers at once.
package holmesgpt

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/controllers/aianalysis"
)

// Config configures the client; cmd/kubernaut fills it from flags.
type Config struct {
	// URL is the server's base URL, e.g. http://holmesgpt.holmes.svc:80.
	URL string
	// Model is a key of the server's model list ("" = its default).
	Model string
	// Attempts bounds the calls per analysis (the first and the retries).
	Attempts int
	// RetryBase is the first retry's delay; each next doubles it, with ±50 % jitter.
	RetryBase time.Duration
	// BreakerThreshold consecutive failed analyses open the breaker for BreakerCooldown.
	BreakerThreshold int
	// BreakerCooldown is how long an open breaker refuses calls.
	BreakerCooldown time.Duration
	// HTTP is the HTTP client (its own timeout should be 0: the analysis' context bounds it);
	// HTTPClient builds one that trusts a CA bundle.
	HTTP *http.Client
	// TokenFile holds a bearer token sent as the Authorization header (for HolmesGPT behind an
	// authenticating proxy), re-read at every call so that a rotated token takes effect;
	// "" sends none. New refuses it with a plain-http URL: the token would cross the network in
	// clear.
	TokenFile string
}

// HTTPClient returns an HTTP client for HolmesGPT that trusts the PEM CA bundle in caFile
// (besides the system's roots); a plain client when caFile is "".
func HTTPClient(caFile string) (*http.Client, error) {
	if caFile == "" {
		return &http.Client{}, nil
	}
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("holmesgpt: reading the CA bundle: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("holmesgpt: %s holds no PEM certificate", caFile)
	}
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: t}, nil
}

// Client asks HolmesGPT.
type Client struct {
	cfg    Config
	prompt *promptBuilder

	// legacy is set once the server answered 404 to /api/chat: it is an older generation.
	legacy atomic.Bool

	mu        sync.Mutex
	failures  int
	openUntil time.Time
	now       func() time.Time
}

// New returns a client.
func New(cfg Config) (*Client, error) {
	if cfg.URL == "" {
		return nil, errors.New("holmesgpt: no server URL")
	}
	u, err := url.Parse(cfg.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("holmesgpt: %q is not an http(s) URL", cfg.URL)
	}
	if cfg.TokenFile != "" && u.Scheme != "https" {
		return nil, fmt.Errorf("holmesgpt: a token (%s) is sent only over https, not to %s", cfg.TokenFile, cfg.URL)
	}
	if cfg.HTTP == nil {
		cfg.HTTP = &http.Client{}
	}
	if cfg.Attempts < 1 {
		cfg.Attempts = 1
	}
	p, err := newPromptBuilder()
	if err != nil {
		return nil, err
	}
	return &Client{cfg: cfg, prompt: p, now: time.Now}, nil
}

// Name is "holmesgpt".
func (c *Client) Name() kubernautv1.AnalyzerName { return kubernautv1.AnalyzerHolmesGPT }

// Generation reports which API the server speaks: "chat" or "investigate".
func (c *Client) Generation() string {
	if c.legacy.Load() {
		return "investigate"
	}
	return "chat"
}

// ErrBreakerOpen: the server failed too often lately; it is not called.
var ErrBreakerOpen = errors.New("holmesgpt circuit breaker open")

// statusError is a non-2xx answer.
type statusError struct {
	code int
	body string
}

func (e *statusError) Error() string {
	what := http.StatusText(e.code)
	if e.code == http.StatusUnauthorized {
		what = "its LLM provider rejected its API key"
	}
	return fmt.Sprintf("HTTP %d (%s): %.300s", e.code, what, e.body)
}

// Analyze asks the server for a root cause and a recommendation.
func (c *Client) Analyze(ctx context.Context, aia *kubernautv1.AIAnalysis) (*aianalysis.Result, error) {
	if until, open := c.breakerOpen(); open {
		return nil, fmt.Errorf("%w until %s", ErrBreakerOpen, until.UTC().Format(time.RFC3339))
	}
	res, err := c.analyze(ctx, aia)
	c.record(err)
	return res, err
}

func (c *Client) analyze(ctx context.Context, aia *kubernautv1.AIAnalysis) (*aianalysis.Result, error) {
	ask := c.prompt.ask(aia)
	if !c.legacy.Load() {
		body, err := c.post(ctx, "/api/chat", chatRequest{Ask: ask, Model: c.cfg.Model, ResponseFormat: c.prompt.responseFormat,
			ConversationHistory: []message{{Role: "system", Content: systemPrompt}}})
		var se *statusError
		switch {
		case errors.As(err, &se) && se.code == http.StatusNotFound:
			c.legacy.Store(true) // an older server: ask /api/investigate from now on
		case err != nil:
			return nil, err
		default:
			var resp chatResponse
			if err := json.Unmarshal(body, &resp); err != nil {
				return nil, fmt.Errorf("decoding the /api/chat answer: %w", err)
			}
			return parseAnswer(resp.Analysis, string(body), resp.Metadata)
		}
	}
	body, err := c.post(ctx, "/api/investigate", investigateRequest{
		Source: string(aia.Spec.Signal.Source), Title: aia.Spec.Signal.Name, Description: systemPrompt + "\n\n" + ask,
		Subject:  map[string]string{"kind": string(aia.Spec.Target.Kind), "namespace": aia.Spec.Target.Namespace, "name": aia.Spec.Target.Name},
		Context:  map[string]any{"issue_type": aia.Spec.Signal.Name, "fingerprint": aia.Spec.Signal.Fingerprint},
		Sections: map[string]string{recommendationSection: "Only a JSON object matching this JSON schema, nothing else: " + c.prompt.schemaJSON},
		Model:    c.cfg.Model,
	})
	if err != nil {
		return nil, err
	}
	var resp investigateResponse
	if err := json.Unmarshal(body, &resp); err != nil {
		return nil, fmt.Errorf("decoding the /api/investigate answer: %w", err)
	}
	answer := resp.Sections[recommendationSection]
	if answer == nil || strings.TrimSpace(*answer) == "" {
		return nil, fmt.Errorf("the /api/investigate answer has no %q section", recommendationSection)
	}
	return parseAnswer(*answer, string(body), resp.Metadata)
}

// post sends a JSON request, retrying 5xx, 429 and transport errors with jittered backoff
// until the attempts or the context run out.
func (c *Client) post(ctx context.Context, path string, payload any) ([]byte, error) {
	data, err := json.Marshal(payload)
	if err != nil {
		return nil, err
	}
	var last error
	for attempt := 0; attempt < c.cfg.Attempts; attempt++ {
		if attempt > 0 {
			d := c.cfg.RetryBase << (attempt - 1)
			d = d/2 + time.Duration(rand.Int64N(int64(d)+1)) // ±50 %
			select {
			case <-ctx.Done():
				return nil, fmt.Errorf("%w (last error: %v)", ctx.Err(), last)
			case <-time.After(d):
			}
		}
		body, err := c.once(ctx, path, data)
		if err == nil {
			return body, nil
		}
		last = err
		if !retryable(err) || ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("POST %s: %w", path, last)
}

func (c *Client) once(ctx context.Context, path string, data []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimRight(c.cfg.URL, "/")+path, bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.cfg.TokenFile != "" {
		token, err := os.ReadFile(c.cfg.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("reading the HolmesGPT token: %w", err)
		}
		req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	}
	resp, err := c.cfg.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		return nil, &statusError{code: resp.StatusCode, body: string(body)}
	}
	return body, nil
}

// retryable: 5xx, 429 (the LLM's rate limit) and transport errors and timeouts. 401 (the
// LLM's key), 404 and 422 are not.
func retryable(err error) bool {
	var se *statusError
	if errors.As(err, &se) {
		return se.code >= 500 || se.code == http.StatusTooManyRequests
	}
	var ne net.Error
	return errors.As(err, &ne) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, context.DeadlineExceeded)
}

// BreakerGauge is a gauge read at each scrape, 1 while the circuit breaker refuses calls
// (every analysis goes to the rules, which never auto-approve) and 0 otherwise.
func (c *Client) BreakerGauge() prometheus.GaugeFunc {
	return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "kubernaut_holmesgpt_breaker_open",
		Help: "1 while the HolmesGPT circuit breaker is open and analyses go to the rules, 0 otherwise.",
	}, func() float64 {
		if _, open := c.breakerOpen(); open {
			return 1
		}
		return 0
	})
}

// breakerOpen reports whether calls are refused, and until when.
func (c *Client) breakerOpen() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.openUntil, c.now().Before(c.openUntil)
}

// record counts consecutive failures and opens the breaker at the threshold.
func (c *Client) record(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err == nil {
		c.failures = 0
		return
	}
	c.failures++
	if c.cfg.BreakerThreshold > 0 && c.failures >= c.cfg.BreakerThreshold {
		c.openUntil = c.now().Add(c.cfg.BreakerCooldown)
		c.failures = 0
	}
}
