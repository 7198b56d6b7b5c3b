// Package gateway is Kubernaut's HTTP front door: it receives Alertmanager webhooks and turns
// them into RemediationRequests. This file holds the server itself: routing, health,
// readiness and metrics.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Config is the gateway's configuration; cmd/kubernaut fills it from flags.
type Config struct {
	// Addr is the listen address, e.g. ":8080".
	Addr string
	// MetricsAddr, when set, is where /metrics is served instead of Addr: a NetworkPolicy can
	// then let only Alertmanager reach the webhooks and only Prometheus the metrics.
	MetricsAddr string
	// Profiling serves Go's runtime profiles (/debug/pprof/) beside /metrics on MetricsAddr —
	// only there, never beside the webhooks: a profile names code paths and costs CPU.
	Profiling bool
	// ReadHeaderTimeout bounds reading a request's headers.
	ReadHeaderTimeout time.Duration
	// RequestTimeout bounds a whole request (reading the body included).
	RequestTimeout time.Duration
	// ShutdownTimeout bounds the graceful shutdown.
	ShutdownTimeout time.Duration
	// MaxHeaderBytes bounds the request headers.
	MaxHeaderBytes int
	// MaxBodyBytes bounds a webhook body (413 beyond).
	MaxBodyBytes int64
	// Limits bound the alerts of one payload.
	Limits DecodeLimits
	// RetryAfter is the Retry-After of a 503 answer.
	RetryAfter time.Duration
	// RatePerSecond and RateBurst limit the webhook requests of one source address (503 with
	// Retry-After beyond); 0 turns the limit off.
	RatePerSecond float64
	// RateBurst is the burst of the per-source limit.
	RateBurst int
}

// DefaultConfig is a configuration that suits a production gateway.
func DefaultConfig() Config {
	return Config{
		Addr: ":8090", ReadHeaderTimeout: 5 * time.Second, RequestTimeout: 15 * time.Second,
		ShutdownTimeout: 15 * time.Second, MaxHeaderBytes: 16 << 10, MaxBodyBytes: 4 << 20,
		Limits: DefaultDecodeLimits, RetryAfter: 5 * time.Second, RatePerSecond: 100, RateBurst: 200,
	}
}

// ReadyCheck reports whether the gateway can do its work (the API server answers).
type ReadyCheck func(ctx context.Context) error

// Deps are the parts the server delegates to.
type Deps struct {
	// Ready reports readiness (the API server answers, the cache is synced).
	Ready ReadyCheck
	// Auth authenticates webhook requests.
	Auth Authenticator
	// Recorder records the signals.
	Recorder SignalRecorder
	// Pending reports the re-deliveries not yet written (a metric); may be nil.
	Pending func() int64
	// Log receives a line per recorded alert and per failure.
	Log logr.Logger
}

// Server is the gateway's HTTP server.
type Server struct {
	cfg      Config
	engine   *gin.Engine
	registry *prometheus.Registry
	ready    ReadyCheck
	auth     Authenticator
	recorder SignalRecorder
	limiter  *sourceLimiter
	metrics  *metrics
	log      logr.Logger
}

// NewServer builds the server. Its metrics are registered on a registry of its own, served
// at /metrics.
func NewServer(cfg Config, deps Deps) *Server {
	gin.SetMode(gin.ReleaseMode)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	pending := func() float64 { return 0 }
	if deps.Pending != nil {
		pending = func() float64 { return float64(deps.Pending()) }
	}
	s := &Server{cfg: cfg, engine: gin.New(), registry: reg, ready: deps.Ready, auth: deps.Auth,
		recorder: deps.Recorder, metrics: newMetrics(reg, pending), log: deps.Log}
	s.engine.Use(gin.Recovery())
	s.engine.HandleMethodNotAllowed = true
	s.engine.NoMethod(func(c *gin.Context) {
		writeProblem(c, Problem{Type: ProblemMethodInvalid, Title: "Method not allowed", Status: http.StatusMethodNotAllowed,
			Detail: fmt.Sprintf("%s %s: use POST", c.Request.Method, c.Request.URL.Path)})
	})
	s.engine.GET("/healthz", s.healthz)
	s.engine.GET("/readyz", s.readyz)
	if cfg.MetricsAddr == "" {
		s.engine.GET("/metrics", gin.WrapH(s.MetricsHandler()))
	}
	chain := []gin.HandlerFunc{s.observe}
	if cfg.RatePerSecond > 0 {
		s.limiter = newSourceLimiter(cfg.RatePerSecond, max(cfg.RateBurst, 1), 10000)
		chain = append(chain, s.rateLimit)
	}
	chain = append(chain, s.authenticate, s.handleAlertmanager)
	s.engine.POST(AlertmanagerPath, chain...)
	return s
}

// FlushErrors counts a failed flush of occurrence counts, for the gateway_flush_errors metric.
func (s *Server) FlushErrors() { s.metrics.flushErrs.Inc() }

// Registry is the server's metrics registry, for the gateway's own collectors.
func (s *Server) Registry() *prometheus.Registry { return s.registry }

// MetricsHandler serves the server's registry in Prometheus' exposition format.
func (s *Server) MetricsHandler() http.Handler {
	return promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{Registry: s.registry})
}

// Handler is the server's HTTP handler.
func (s *Server) Handler() http.Handler { return s.engine }

func (s *Server) healthz(c *gin.Context) { c.String(http.StatusOK, "ok") }

func (s *Server) readyz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 2*time.Second)
	defer cancel()
	if err := s.ready(ctx); err != nil {
		c.String(http.StatusServiceUnavailable, "not ready: %v", err)
		return
	}
	c.String(http.StatusOK, "ok")
}

// Run serves on ln (or on cfg.Addr when ln is nil), and /metrics on cfg.MetricsAddr when
// set, until ctx ends, then shuts down gracefully.
func (s *Server) Run(ctx context.Context, ln net.Listener) error {
	if ln == nil {
		var err error
		if ln, err = net.Listen("tcp", s.cfg.Addr); err != nil {
			return fmt.Errorf("gateway listening on %s: %w", s.cfg.Addr, err)
		}
	}
	handler := http.Handler(s.engine)
	if s.cfg.RequestTimeout > 0 {
		handler = http.TimeoutHandler(handler, s.cfg.RequestTimeout, "request timed out")
	}
	servers := []*http.Server{{
		Handler:           handler,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		ReadTimeout:       s.cfg.RequestTimeout,
		WriteTimeout:      s.cfg.RequestTimeout + time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    s.cfg.MaxHeaderBytes,
	}}
	listeners := []net.Listener{ln}
	if s.cfg.MetricsAddr != "" {
		mln, err := net.Listen("tcp", s.cfg.MetricsAddr)
		if err != nil {
			_ = ln.Close()
			return fmt.Errorf("gateway metrics listening on %s: %w", s.cfg.MetricsAddr, err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", s.MetricsHandler())
		if s.cfg.Profiling {
			mux.HandleFunc("/debug/pprof/", pprof.Index)
			mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
			mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
			mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
			mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
		}
		servers = append(servers, &http.Server{Handler: mux, ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
			WriteTimeout: 30 * time.Second, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: s.cfg.MaxHeaderBytes})
		listeners = append(listeners, mln)
	}
	errc := make(chan error, len(servers))
	for i, srv := range servers {
		go func() { errc <- srv.Serve(listeners[i]) }()
	}
	var failed error
	select {
	case err := <-errc:
		failed = fmt.Errorf("gateway server: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	for _, srv := range servers {
		if err := srv.Shutdown(shutdown); err != nil && failed == nil {
			failed = fmt.Errorf("gateway shutdown: %w", err)
		}
	}
	if failed != nil {
		return failed
	}
	for range servers {
		if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
			return fmt.Errorf("gateway server: %w", err)
		}
	}
	return nil
}
