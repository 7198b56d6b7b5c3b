package gateway

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Body.String()
}

func TestReadinessFollowsTheAPIServer(t *testing.T) {
	var apiErr error
	s := NewServer(Config{}, Deps{Ready: func(context.Context) error { return apiErr }})

	if code, body := get(t, s.Handler(), "/readyz"); code != http.StatusOK || body != "ok" {
		t.Fatalf("ready: got %d %q", code, body)
	}
	apiErr = errors.New("API server not ready: connection refused")
	code, body := get(t, s.Handler(), "/readyz")
	if code != http.StatusServiceUnavailable || !strings.Contains(body, "connection refused") {
		t.Fatalf("not ready: got %d %q, want 503 naming the cause", code, body)
	}
	if code, _ := get(t, s.Handler(), "/healthz"); code != http.StatusOK {
		t.Fatalf("healthz must not depend on the API server, got %d", code)
	}
}

func TestMetricsAreServedFromTheServersOwnRegistry(t *testing.T) {
	s := NewServer(Config{}, Deps{Ready: func(context.Context) error { return nil }})
	code, body := get(t, s.Handler(), "/metrics")
	if code != http.StatusOK || !strings.Contains(body, "go_goroutines") || !strings.Contains(body, "process_") {
		t.Fatalf("metrics: got %d, body starts %.200q", code, body)
	}
	if code, _ := get(t, s.Handler(), "/nothing-here"); code != http.StatusNotFound {
		t.Fatalf("unknown path: got %d, want 404", code)
	}
}

func TestRunShutsDownWhenTheContextEnds(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(Config{RequestTimeout: time.Second, ShutdownTimeout: time.Second}, Deps{Ready: func(context.Context) error { return nil }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, ln) }()

	resp, err := http.Get("http://" + ln.Addr().String() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || string(body) != "ok" {
		t.Fatalf("healthz over TCP: %d %q", resp.StatusCode, body)
	}
	stopRun(t, cancel, done)
}

func TestRunReportsABusyAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ln.Close() }()
	s := NewServer(Config{Addr: ln.Addr().String(), ShutdownTimeout: time.Second}, Deps{Ready: func(context.Context) error { return nil }})
	err = s.Run(context.Background(), nil)
	if err == nil || !strings.Contains(err.Error(), "gateway listening on "+ln.Addr().String()) {
		t.Fatalf("want an error naming the busy address, got %v", err)
	}
}

// stopRun cancels a running server and checks that Run returns nil, soon.
func stopRun(t *testing.T, cancel context.CancelFunc, done <-chan error) {
	t.Helper()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run returned %v after cancellation, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after cancellation")
	}
}

// freeAddr is a loopback address nothing listens on (a port the kernel just handed out).
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

// With a metrics address, /metrics is served there and not beside the webhooks, so that a
// NetworkPolicy can keep Prometheus off the webhook port and Alertmanager off the metrics.
func TestMetricsOnTheirOwnAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	metricsAddr := freeAddr(t)
	s := NewServer(Config{MetricsAddr: metricsAddr, Profiling: true, RequestTimeout: time.Second, ShutdownTimeout: time.Second},
		Deps{Ready: func(context.Context) error { return nil }})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx, ln) }()

	if code, _ := get(t, s.Handler(), "/metrics"); code != http.StatusNotFound {
		t.Errorf("/metrics on the webhook port: %d, want 404", code)
	}
	var resp *http.Response
	for range 50 { // the metrics listener opens in Run
		if resp, err = http.Get("http://" + metricsAddr + "/metrics"); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), "kubernaut_gateway_pending_duplicates") {
		t.Errorf("metrics address: %d, body starts %.200q", resp.StatusCode, body)
	}
	// Profiling on: Go's profiles beside the metrics, never beside the webhooks.
	if code, _ := get(t, s.Handler(), "/debug/pprof/"); code != http.StatusNotFound {
		t.Errorf("/debug/pprof/ on the webhook port: %d, want 404", code)
	}
	if resp, err := http.Get("http://" + metricsAddr + "/debug/pprof/goroutine?debug=1"); err != nil || resp.StatusCode != http.StatusOK {
		t.Errorf("profiles on the metrics address: %v %v", resp, err)
	} else {
		_ = resp.Body.Close()
	}
	stopRun(t, cancel, done)
	if _, err := http.Get("http://" + metricsAddr + "/metrics"); err == nil {
		t.Error("the metrics listener is still open after Run returned")
	}
}

func TestRunReportsABusyMetricsAddress(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = busy.Close() }()
	s := NewServer(Config{Addr: freeAddr(t), MetricsAddr: busy.Addr().String(), ShutdownTimeout: time.Second}, Deps{Ready: func(context.Context) error { return nil }})
	err = s.Run(context.Background(), nil)
	if err == nil || !strings.Contains(err.Error(), "gateway metrics listening on "+busy.Addr().String()) {
		t.Fatalf("want an error naming the busy metrics address, got %v", err)
	}
}
