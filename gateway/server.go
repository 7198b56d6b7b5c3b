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
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Config is the gateway's configuration; cmd/kubernaut fills it from flags.
type Config struct {
	// Addr is the listen address, e.g. ":8080".
	Addr string
	// ReadHeaderTimeout bounds reading a request's headers.
	ReadHeaderTimeout time.Duration
	// RequestTimeout bounds a whole request.
	RequestTimeout time.Duration
	// ShutdownTimeout bounds the graceful shutdown.
	ShutdownTimeout time.Duration
}

// ReadyCheck reports whether the gateway can do its work (the API server answers).
type ReadyCheck func(ctx context.Context) error

// Server is the gateway's HTTP server.
type Server struct {
	cfg      Config
	engine   *gin.Engine
	registry *prometheus.Registry
	ready    ReadyCheck
}

// NewServer builds the server. Its metrics are registered on a registry of its own, served
// at /metrics.
func NewServer(cfg Config, ready ReadyCheck) *Server {
	gin.SetMode(gin.ReleaseMode)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	s := &Server{cfg: cfg, engine: gin.New(), registry: reg, ready: ready}
	s.engine.Use(gin.Recovery())
	s.engine.GET("/healthz", s.healthz)
	s.engine.GET("/readyz", s.readyz)
	s.engine.GET("/metrics", gin.WrapH(promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})))
	return s
}

// Registry is the server's metrics registry, for the gateway's own collectors.
func (s *Server) Registry() *prometheus.Registry { return s.registry }

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

// Run serves on ln (or on cfg.Addr when ln is nil) until ctx ends, then shuts down
// gracefully.
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
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: s.cfg.ReadHeaderTimeout}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("gateway server: %w", err)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		return fmt.Errorf("gateway shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("gateway server: %w", err)
	}
	return nil
}
