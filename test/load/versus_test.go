package load

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/gateway"
	"github.com/kubernaut/kubernaut/test/cluster"
	"github.com/kubernaut/kubernaut/test/gen"
)

// The side-by-side intake benchmark (issue 19): a real Alertmanager's own intake
// (POST /api/v2/alerts) and the gateway's webhook, in the same run, with the same load
// generator over loopback HTTP: 8 concurrent clients for 10 s, every alert already known (pure
// re-sends, as Alertmanager makes them), in three shapes. Only what must hold is asserted (no
// 5xx while the API server is healthy); the numbers are reported.
const (
	versusClients  = 8
	versusDuration = 10 * time.Second
)

// startAlertmanager starts a real Alertmanager, alone, routing to a receiver that sends
// nothing.
func startAlertmanager(tb testing.TB) *cluster.Alertmanager {
	tb.Helper()
	am, err := cluster.StartAlertmanager(context.Background(), tb.TempDir(), "route:\n  receiver: none\n  group_by: [alertname, namespace]\nreceivers:\n- name: none\n")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(am.Stop)
	return am
}

// rssMiB is a process' resident memory.
func rssMiB(pid int) float64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

// shape is one load shape: the requests, each a list of alerts.
type shape struct {
	name     string
	requests [][]map[string]string // per request, the alerts' labels
}

func (s shape) alerts() int {
	n := 0
	for _, r := range s.requests {
		n += len(r)
	}
	return n
}

// versusLabels are an alert's labels as kube-state-metrics' rules write them.
func versusLabels(alertname, ns, pod string) map[string]string {
	return map[string]string{"alertname": alertname, "namespace": ns, "pod": pod, "severity": "critical", "container": "app",
		"job": "kube-state-metrics", "service": "kube-state-metrics", "instance": "10.0.0.7:8080"}
}

var versusStart = time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)

// amBody is the body of POST /api/v2/alerts.
func amBody(tb testing.TB, alerts []map[string]string) []byte {
	var out []map[string]any
	for _, l := range alerts {
		out = append(out, map[string]any{"labels": l, "annotations": map[string]string{"summary": "Pod is crash looping."},
			"startsAt": versusStart, "generatorURL": "http://prometheus:9090/graph"})
	}
	body, err := json.Marshal(out)
	if err != nil {
		tb.Fatal(err)
	}
	return body
}

// gatewayBody is the body of Alertmanager's webhook notification of alerts.
func gatewayBody(tb testing.TB, alerts []map[string]string) []byte {
	var out []map[string]any
	for _, l := range alerts {
		out = append(out, map[string]any{"status": "firing", "labels": l, "annotations": map[string]string{"summary": "Pod is crash looping."},
			"startsAt": versusStart, "endsAt": time.Time{}, "generatorURL": "http://prometheus:9090/graph", "fingerprint": gateway.Fingerprint(l)})
	}
	body, err := json.Marshal(map[string]any{"version": "4", "groupKey": `{}:{alertname="KubePodCrashLooping"}`, "status": "firing", "receiver": "kubernaut",
		"groupLabels": map[string]string{"alertname": "KubePodCrashLooping"}, "commonLabels": map[string]string{}, "commonAnnotations": map[string]string{},
		"externalURL": "http://alertmanager:9093", "truncatedAlerts": 0, "alerts": out})
	if err != nil {
		tb.Fatal(err)
	}
	return body
}

// intake is one receiver of the load: where to post, and how to encode a request.
type intake struct {
	name   string
	url    string
	token  string
	encode func(testing.TB, []map[string]string) []byte
}

// versusDials counts the connections the load generator opened: a sender that reuses its
// connections (as Alertmanager's does) opens about one per client.
var versusDials atomic.Int64

var versusClient = &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 2 * versusClients,
	DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		versusDials.Add(1)
		return (&net.Dialer{}).DialContext(ctx, network, addr)
	}}, Timeout: 10 * time.Second}

func (in intake) post(body []byte) (int, time.Duration, error) {
	req, _ := http.NewRequest(http.MethodPost, in.url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if in.token != "" {
		req.Header.Set("Authorization", "Bearer "+in.token)
	}
	t0 := time.Now()
	resp, err := versusClient.Do(req)
	if err != nil {
		return 0, time.Since(t0), err
	}
	// Read to the end, as Alertmanager's notifier does (notify.Drain): a body closed unread
	// costs the connection, and every request then opens a new one.
	_, _ = io.Copy(io.Discard, resp.Body)
	_ = resp.Body.Close()
	return resp.StatusCode, time.Since(t0), nil
}

// run is what one intake did with one shape.
type run struct {
	requests, alerts, failed int64
	took                     time.Duration
}

func (r run) perSecond() (float64, float64) {
	return float64(r.requests) / r.took.Seconds(), float64(r.alerts) / r.took.Seconds()
}

// firstDelivery sends every request of the shape once, in order, and returns the latencies.
func firstDelivery(t *testing.T, in intake, bodies [][]byte) []time.Duration {
	t.Helper()
	var lat []time.Duration
	for i, b := range bodies {
		code, d, err := in.post(b)
		if err != nil || code/100 != 2 {
			t.Fatalf("%s: first delivery of request %d: %d %v", in.name, i, code, err)
		}
		lat = append(lat, d)
	}
	return lat
}

// resend posts the shape's requests round-robin from versusClients clients for versusDuration.
func resend(in intake, bodies [][]byte, perRequest []int) run {
	var next, reqs, alerts, failed atomic.Int64
	t0 := time.Now()
	deadline := t0.Add(versusDuration)
	var wg sync.WaitGroup
	for range versusClients {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				i := int(next.Add(1)-1) % len(bodies)
				code, _, err := in.post(bodies[i])
				reqs.Add(1)
				if err != nil || code/100 != 2 {
					failed.Add(1)
					continue
				}
				alerts.Add(int64(perRequest[i]))
			}
		})
	}
	wg.Wait()
	return run{requests: reqs.Load(), alerts: alerts.Load(), failed: failed.Load(), took: time.Since(t0)}
}

// TestGatewayVersusAlertmanager is `make bench-gateway`'s side-by-side part.
func TestGatewayVersusAlertmanager(t *testing.T) {
	e := start(t)
	am := startAlertmanager(t)
	ctx := t.Context()
	// The gateway as it runs in production: `kubernaut gateway`, its own process with the
	// product's defaults (storms, flush), tracking 10,000 remediations of earlier alerts
	// besides the ones the shapes create, so that its memory is measured where it matters.
	const rrNS = "versus"
	tracked := 10000
	if v := os.Getenv("KUBERNAUT_VERSUS_TRACKED"); v != "" { // an experiment's knob
		n, err := strconv.Atoi(v)
		if err != nil {
			t.Fatalf("KUBERNAUT_VERSUS_TRACKED=%q: %v", v, err)
		}
		tracked = n
	}
	if err := e.client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: rrNS}}); err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	createTracked(t, e, rrNS, tracked)
	t.Logf("created %d tracked RemediationRequests in %s", tracked, time.Since(t0).Round(time.Second))
	// make bench-gateway runs the gateway's own binary; without it, `kubernaut gateway`.
	bin := os.Getenv("KUBERNAUT_VERSUS_GATEWAY_BINARY")
	own := bin != ""
	if !own {
		var err error
		if bin, err = cluster.BuildKubernaut(ctx, e.cluster.Dir); err != nil {
			t.Fatal(err)
		}
	}
	if v := os.Getenv("KUBERNAUT_VERSUS_GOMEMLIMIT"); v != "" { // an experiment's knob
		t.Setenv("GOMEMLIMIT", v)
	}
	args := []string{"--gateway-namespace=" + rrNS, "--gateway-rate-limit=0"}
	// An experiment's knob: CPU profiles of the gateway process while each shape is re-sent.
	profiles, profileAddr := os.Getenv("KUBERNAUT_VERSUS_PROFILE"), ""
	if profiles != "" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		profileAddr = ln.Addr().String()
		_ = ln.Close()
		args = append(args, "--gateway-metrics-bind-address="+profileAddr, "--gateway-profiling")
	}
	gw, err := e.cluster.StartKubernaut(ctx, cluster.KubernautOptions{Binary: bin, Name: "gateway", Command: "gateway", GatewayBinary: own, Args: args})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gw.Stop)
	t.Logf("RESULT gateway RSS once ready, %d RemediationRequests tracked: %.0f MiB", tracked, rssMiB(gw.PID()))
	if profileAddr != "" {
		profile(t, profileAddr, "heap", filepath.Join(profiles, "heap-ready.pprof"))
	}
	intakes := []intake{
		{name: "alertmanager", url: am.URL + "/api/v2/alerts", encode: amBody},
		{name: "gateway", url: gw.GatewayURL + gateway.AlertmanagerPath, token: gw.Token, encode: gatewayBody},
	}

	var single, storm, groups shape
	single.name, storm.name, groups.name = "single alerts, each in a namespace of its own", "single alerts, 300 pods of one namespace (a storm)", "100-alert notifications, one namespace each (a storm per group)"
	for i := range 300 {
		single.requests = append(single.requests, []map[string]string{versusLabels("KubePodCrashLooping", fmt.Sprintf("solo-%d", i), "web-0")})
		storm.requests = append(storm.requests, []map[string]string{versusLabels("KubePodCrashLooping", "stormy", fmt.Sprintf("web-%d", i))})
	}
	for g := range 50 {
		var alerts []map[string]string
		for i := range 100 {
			alerts = append(alerts, versusLabels("KubePodCrashLooping", fmt.Sprintf("group-%d", g), fmt.Sprintf("web-%d", i)))
		}
		groups.requests = append(groups.requests, alerts)
	}
	for shapeIndex, s := range []shape{single, storm, groups} {
		per := make([]int, len(s.requests))
		for i, r := range s.requests {
			per[i] = len(r)
		}
		var runs [2]run
		for k, in := range intakes {
			bodies := make([][]byte, len(s.requests))
			for i, r := range s.requests {
				bodies[i] = in.encode(t, r)
			}
			lat := firstDelivery(t, in, bodies)
			if s.name == groups.name {
				p50, p95, p99, mx := quantiles(lat)
				t.Logf("RESULT %s: a new 100-alert storm notification, %d of them: p50=%s p95=%s p99=%s max=%s", in.name, len(lat),
					p50.Round(100*time.Microsecond), p95.Round(100*time.Microsecond), p99.Round(100*time.Microsecond), mx.Round(100*time.Microsecond))
			}
			time.Sleep(2 * time.Second) // the gateway's cache sees what it created: every alert below is known
			var profiled sync.WaitGroup
			if profileAddr != "" && in.name == "gateway" {
				profiled.Go(func() {
					profile(t, profileAddr, "profile?seconds=8", filepath.Join(profiles, fmt.Sprintf("shape-%d.pprof", shapeIndex)))
				})
			}
			dials := versusDials.Load()
			runs[k] = resend(in, bodies, per)
			profiled.Wait()
			if opened := versusDials.Load() - dials; opened > 2*versusClients {
				t.Errorf("%s, %s: the load generator opened %d connections for %d requests: it must reuse them, as Alertmanager does",
					in.name, s.name, opened, runs[k].requests)
			}
			rps, aps := runs[k].perSecond()
			t.Logf("RESULT %s, %s: %.0f req/s, %.0f alerts/s, %d of %d requests failed", in.name, s.name, rps, aps, runs[k].failed, runs[k].requests)
			if in.name == "gateway" && runs[k].failed > 0 {
				t.Errorf("%s: the gateway failed %d requests with a healthy API server", s.name, runs[k].failed)
			}
		}
		_, amAPS := runs[0].perSecond()
		_, gwAPS := runs[1].perSecond()
		t.Logf("RESULT ratio gateway/alertmanager, %s: %.2f", s.name, gwAPS/amAPS)
	}
	if profileAddr != "" {
		profile(t, profileAddr, "heap", filepath.Join(profiles, "heap-after.pprof"))
	}
	t.Logf("RESULT RSS after the run: alertmanager %.0f MiB; the gateway (%s, %d RemediationRequests tracked besides the shapes') %.0f MiB",
		rssMiB(am.PID()), filepath.Base(bin), tracked, rssMiB(gw.PID()))
}

// profile saves a profile (a CPU profile: "profile?seconds=8"; "heap") of the process serving
// pprof at addr into path.
func profile(t *testing.T, addr, which, path string) {
	resp, err := http.Get("http://" + addr + "/debug/pprof/" + which)
	if err != nil {
		t.Errorf("profiling the gateway: %v", err)
		return
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s: %s", resp.Status, data)
	}
	if err == nil {
		err = os.WriteFile(path, data, 0o644)
	}
	if err != nil {
		t.Errorf("profiling the gateway: %v", err)
	}
}

// createTracked creates n RemediationRequests of distinct alerts in namespace ns, 16 at a
// time, without the client's rate limit.
func createTracked(t *testing.T, e *env, ns string, n int) {
	t.Helper()
	cfg := rest.CopyConfig(e.cluster.Config)
	cfg.QPS, cfg.Burst = -1, 0
	c, err := client.New(cfg, client.Options{Scheme: cluster.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for range 16 {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				labels := versusLabels("KubePodCrashLooping", fmt.Sprintf("tracked-%d", i), "web-0")
				fp := gateway.Fingerprint(labels)
				rr := gen.RemediationRequest(ns, gateway.RRName(fp, versusStart), func(rr *kubernautv1.RemediationRequest) {
					rr.Labels = map[string]string{kubernautv1.LabelFingerprint: fp, kubernautv1.LabelAlertName: "KubePodCrashLooping",
						kubernautv1.LabelTargetNamespace: labels["namespace"], kubernautv1.LabelTargetKind: "Pod"}
					rr.Spec.Signal.Fingerprint, rr.Spec.Signal.Labels = fp, labels
					rr.Spec.Target = kubernautv1.Target{Kind: kubernautv1.TargetKindPod, Namespace: labels["namespace"], Name: "web-0"}
				})
				if err := c.Create(context.Background(), rr); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("creating tracked RemediationRequests: %v", err)
	}
}
