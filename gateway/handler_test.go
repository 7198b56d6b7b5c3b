package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// memRecorder records signals in memory; it stands for the API server only where the
// HTTP behaviour is under test (the Recorder is tested against a real API server in
// test/integration).
type memRecorder struct {
	mu      sync.Mutex
	signals []Signal
	err     func(Signal) error
}

func (m *memRecorder) Record(_ context.Context, signals []Signal) []Recorded {
	out := make([]Recorded, len(signals))
	for i, s := range signals {
		if m.err != nil {
			if err := m.err(s); err != nil {
				out[i].Err = err
				continue
			}
		}
		m.mu.Lock()
		m.signals = append(m.signals, s)
		m.mu.Unlock()
		out[i] = Recorded{Outcome: OutcomeCreated, Name: "rr-" + s.Fingerprint}
		if !s.Firing {
			out[i].Outcome = OutcomeResolved
		}
	}
	return out
}

const testToken = "s3cret"

func newTestServer(t *testing.T, cfg Config, rec SignalRecorder) *Server {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(path, []byte(testToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tf, err := NewTokenFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return NewServer(cfg, Deps{Ready: func(context.Context) error { return nil }, Auth: tf, Recorder: rec})
}

func post(s *Server, body []byte, mods ...func(*http.Request)) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, AlertmanagerPath, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.RemoteAddr = "192.0.2.10:51000"
	for _, m := range mods {
		m(req)
	}
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	return rec
}

func decodeProblem(t *testing.T, rec *httptest.ResponseRecorder) Problem {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q, want application/problem+json; body %s", ct, rec.Body)
	}
	var p Problem
	if err := json.Unmarshal(rec.Body.Bytes(), &p); err != nil {
		t.Fatal(err)
	}
	if p.Status != rec.Code {
		t.Fatalf("problem status %d != HTTP status %d", p.Status, rec.Code)
	}
	return p
}

func TestWebhookAcceptsARealPayload(t *testing.T) {
	mem := &memRecorder{}
	s := newTestServer(t, DefaultConfig(), mem)
	rec := post(s, mustRead(t, "mixed.json"))
	if rec.Code != http.StatusOK {
		t.Fatalf("got %d: %s", rec.Code, rec.Body)
	}
	var res Result
	if err := json.Unmarshal(rec.Body.Bytes(), &res); err != nil {
		t.Fatal(err)
	}
	if res.Alerts != 2 || res.Created != 1 || res.Resolved != 1 {
		t.Fatalf("result %+v", res)
	}
	fired, resolved := mem.signals[0], mem.signals[1]
	if fired.Target.Kind != "Deployment" || fired.Severity != "critical" || fired.ExternalURL != "http://alertmanager:9093" || !fired.Firing {
		t.Errorf("firing signal %+v", fired)
	}
	if resolved.Firing || resolved.Target.Kind != "Node" || resolved.EndsAt.IsZero() || resolved.Fingerprint != "ea1422c9463cb0ec" {
		t.Errorf("resolved signal %+v", resolved)
	}
}

func TestWebhookAuthComesBeforeTheBody(t *testing.T) {
	read := false
	body := &spyReader{r: bytes.NewReader(mustRead(t, "crashloop.json")), read: &read}
	s := newTestServer(t, DefaultConfig(), &memRecorder{})
	for _, tc := range []struct {
		name, header string
	}{{"no header", ""}, {"wrong token", "Bearer nope"}, {"basic auth", "Basic dXNlcjpwYXNz"}} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodPost, AlertmanagerPath, body)
			req.Header.Set("Content-Type", "application/json")
			if tc.header != "" {
				req.Header.Set("Authorization", tc.header)
			}
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, req)
			if rec.Code != http.StatusUnauthorized || rec.Header().Get("WWW-Authenticate") == "" {
				t.Fatalf("got %d %v", rec.Code, rec.Header())
			}
			p := decodeProblem(t, rec)
			if p.Type != ProblemUnauthorized {
				t.Fatalf("problem %+v", p)
			}
			if read {
				t.Fatal("the body was read before authentication")
			}
		})
	}
}

type spyReader struct {
	r    *bytes.Reader
	read *bool
}

func (s *spyReader) Read(p []byte) (int, error) { *s.read = true; return s.r.Read(p) }

func TestWebhookBadRequests(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxBodyBytes = 2048
	s := newTestServer(t, cfg, &memRecorder{})
	big := bytes.Repeat([]byte(" "), 4096)

	rec := post(s, big)
	if p := decodeProblem(t, rec); rec.Code != http.StatusRequestEntityTooLarge || !strings.Contains(p.Detail, "2048 bytes") {
		t.Errorf("oversized body: %d %+v", rec.Code, p)
	}
	rec = post(s, []byte(`{"version":"4"`))
	if p := decodeProblem(t, rec); rec.Code != http.StatusBadRequest || p.Type != ProblemInvalid || !strings.Contains(p.Detail, "truncated") {
		t.Errorf("truncated JSON: %d %+v", rec.Code, p)
	}
	rec = post(s, []byte(`{}`), func(r *http.Request) { r.Header.Set("Content-Type", "text/plain") })
	if p := decodeProblem(t, rec); rec.Code != http.StatusUnsupportedMediaType || !strings.Contains(p.Detail, "text/plain") {
		t.Errorf("wrong content type: %d %+v", rec.Code, p)
	}
	req := httptest.NewRequest(http.MethodGet, AlertmanagerPath, nil)
	w := httptest.NewRecorder()
	s.Handler().ServeHTTP(w, req)
	if p := decodeProblem(t, w); w.Code != http.StatusMethodNotAllowed || p.Type != ProblemMethodInvalid {
		t.Errorf("GET on the webhook: %d %+v, want a 405 problem", w.Code, p)
	}
}

func TestWebhookRecordsTheGoodAlertsAndNamesTheBadOne(t *testing.T) {
	mem := &memRecorder{}
	s := newTestServer(t, DefaultConfig(), mem)
	var msg map[string]any
	if err := json.Unmarshal(mustRead(t, "mixed.json"), &msg); err != nil {
		t.Fatal(err)
	}
	alerts := msg["alerts"].([]any)
	bad := map[string]any{"status": "firing", "labels": map[string]any{"severity": "critical"}, "startsAt": "2026-11-25T10:00:00Z"}
	msg["alerts"] = []any{alerts[0], bad, alerts[1]}
	body, _ := json.Marshal(msg)

	rec := post(s, body)
	p := decodeProblem(t, rec)
	if rec.Code != http.StatusBadRequest || p.Result == nil || p.Result.Created != 1 || p.Result.Resolved != 1 || p.Result.Invalid != 1 {
		t.Fatalf("got %d %+v", rec.Code, p)
	}
	var pointers []string
	for _, e := range p.Errors {
		pointers = append(pointers, e.Pointer)
	}
	if strings.Join(pointers, ",") != "/alerts/1/labels,/alerts/1/labels/alertname" {
		t.Errorf("errors %+v; want the second alert's missing alertname and target", p.Errors)
	}
	if len(mem.signals) != 2 {
		t.Errorf("the two good alerts must be recorded, got %d", len(mem.signals))
	}
}

func TestWebhookAnswers503WhenItCannotWrite(t *testing.T) {
	unavailable := apierrors.NewServiceUnavailable("etcd is down")
	mem := &memRecorder{err: func(s Signal) error {
		if s.Firing {
			return unavailable
		}
		return nil
	}}
	s := newTestServer(t, DefaultConfig(), mem)
	rec := post(s, mustRead(t, "mixed.json"))
	p := decodeProblem(t, rec)
	if rec.Code != http.StatusServiceUnavailable || rec.Header().Get("Retry-After") != "5" || p.Result.Failed != 1 || p.Result.Resolved != 1 {
		t.Fatalf("got %d Retry-After=%q %+v", rec.Code, rec.Header().Get("Retry-After"), p)
	}

	// An object the API server refuses can never be written: 400, not an endless retry.
	mem.err = func(Signal) error {
		return apierrors.NewInvalid(schema.GroupKind{Group: "kubernaut.io", Kind: "RemediationRequest"}, "rr-x", nil)
	}
	rec = post(s, mustRead(t, "crashloop.json"))
	if p := decodeProblem(t, rec); rec.Code != http.StatusBadRequest || p.Result.Invalid != 1 || !strings.Contains(p.Errors[0].Detail, "refused by the API server") {
		t.Fatalf("got %d %+v", rec.Code, p)
	}
	mem.err = func(Signal) error { return errors.New("connection refused") }
	if rec = post(s, mustRead(t, "crashloop.json")); rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("a transport error must be retryable: %d", rec.Code)
	}
}

func TestWebhookRateLimitAnswers503NeverA4xx(t *testing.T) {
	cfg := DefaultConfig()
	cfg.RatePerSecond, cfg.RateBurst = 1, 2
	s := newTestServer(t, cfg, &memRecorder{})
	body := mustRead(t, "crashloop.json")
	for i := range 2 {
		if rec := post(s, body); rec.Code != http.StatusOK {
			t.Fatalf("request %d within the burst: %d", i, rec.Code)
		}
	}
	rec := post(s, body)
	p := decodeProblem(t, rec)
	if rec.Code != http.StatusServiceUnavailable || p.Type != ProblemRateLimited || rec.Header().Get("Retry-After") == "" {
		t.Fatalf("over the limit: %d %v %+v", rec.Code, rec.Header(), p)
	}
	other := post(s, body, func(r *http.Request) { r.RemoteAddr = "192.0.2.99:1234" })
	if other.Code != http.StatusOK {
		t.Fatalf("another source must not be limited: %d", other.Code)
	}
}

func TestBoundAnnotations(t *testing.T) {
	in := map[string]string{}
	for i := range 40 {
		in[string(rune('a'+i%26))+strings.Repeat("x", i)] = strings.Repeat("v", 5000)
	}
	out := boundAnnotations(in)
	if len(out) != maxAnnotations {
		t.Fatalf("%d annotations kept, want %d", len(out), maxAnnotations)
	}
	for k, v := range out {
		if len(v) > maxAnnotationValue {
			t.Fatalf("annotation %s keeps %d bytes", k, len(v))
		}
	}
}

// requestCounts reads the request histogram's counts by outcome and code from the server's
// registry, as a scrape would.
func requestCounts(t *testing.T, s *Server) map[string]uint64 {
	t.Helper()
	mfs, err := s.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]uint64{}
	for _, mf := range mfs {
		if mf.GetName() != "kubernaut_gateway_request_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, lp := range m.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			got[l["outcome"]+" "+l["code"]] += m.GetHistogram().GetSampleCount()
		}
	}
	return got
}

func TestWebhookRequestsAreCountedByOutcomeAndCode(t *testing.T) {
	fail := false
	mem := &memRecorder{err: func(Signal) error {
		if fail {
			return apierrors.NewServiceUnavailable("etcd is down")
		}
		return nil
	}}
	s := newTestServer(t, DefaultConfig(), mem)
	body := mustRead(t, "crashloop.json")
	post(s, body)
	post(s, body, func(r *http.Request) { r.Header.Set("Authorization", "Bearer wrong") })
	post(s, body, func(r *http.Request) { r.Header.Del("Authorization") })
	post(s, []byte(`{"version":"4"`))
	fail = true
	post(s, body)
	post(s, body)

	want := map[string]uint64{"ok 200": 1, "unauthenticated 401": 2, "invalid 400": 1, "unavailable 503": 2}
	got := requestCounts(t, s)
	for k, n := range want {
		if got[k] != n {
			t.Errorf("requests %q: got %d, want %d (all: %v)", k, got[k], n, got)
		}
	}
	if len(got) != len(want) {
		t.Errorf("unexpected series: %v", got)
	}
}

func TestWebhookPanicIsCountedAs500(t *testing.T) {
	s := newTestServer(t, DefaultConfig(), &memRecorder{err: func(Signal) error { panic("recorder bug") }})
	if rec := post(s, mustRead(t, "crashloop.json")); rec.Code != http.StatusInternalServerError {
		t.Fatalf("a panic must answer 500 (gin's recovery), got %d", rec.Code)
	}
	if got := requestCounts(t, s); got["panic 500"] != 1 {
		t.Fatalf("the panic must be counted as 500: %v", got)
	}
}

// failingAuth is an authenticator whose backend fails, with a message an outsider must not see.
type failingAuth struct{}

func (failingAuth) Authenticate(context.Context, string) (string, error) {
	return "", errors.New(`tokenreviews.authentication.k8s.io is forbidden: User "system:serviceaccount:kubernaut-system:kubernaut-gateway" cannot create resource at https://10.96.0.1:443`)
}

// An unauthenticated caller never sees internal error text.
func TestAuthenticatorFailureRevealsNothing(t *testing.T) {
	s := NewServer(DefaultConfig(), Deps{Ready: func(context.Context) error { return nil }, Auth: failingAuth{}, Recorder: &memRecorder{}})
	rec := post(s, []byte(`{}`))
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("status %d", rec.Code)
	}
	for _, secret := range []string{"kubernaut-gateway", "10.96.0.1", "forbidden", "tokenreviews"} {
		if strings.Contains(rec.Body.String(), secret) {
			t.Fatalf("the answer reveals %q: %s", secret, rec.Body)
		}
	}
}

// The recorder forgets storm bookkeeping that can no longer matter: 200,000 distinct alerts
// over a day left 200,000 keys behind.
func TestRecorderForgets(t *testing.T) {
	now := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	r := NewRecorder(RecorderConfig{StormThreshold: 5, StormWindow: time.Minute}, nil)
	r.now = func() time.Time { return now }
	for i := range 200000 {
		r.noteCreated(fmt.Sprintf("KubePodCrashLooping/ns-%d", i))
		if i%1000 == 0 {
			r.mu.Lock()
			r.state(fmt.Sprintf("storm-%d", i), "rr-storm")
			r.mu.Unlock()
		}
	}
	r.noteCreated("recent")
	held := heap()
	now = now.Add(2 * time.Hour)
	r.noteCreated("now")
	if err := r.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Logf("heap: %.1f MiB with 200,001 keys held, %.1f MiB after the flush forgot them", float64(held)/(1<<20), float64(heap())/(1<<20))
	if len(r.created) != 1 || r.created["now"] == nil || len(r.storms) != 0 {
		t.Fatalf("kept %d creation keys and %d storms", len(r.created), len(r.storms))
	}
}

// heap is the live heap after a collection.
func heap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}
