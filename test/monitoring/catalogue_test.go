// Package monitoring tests manifests/monitoring: the PrometheusRule is checked as `promtool
// check rules` checks it and its alerts are evaluated by Prometheus' own rule engine on
// recorded series; every query of the rules and the Grafana dashboards names only metrics and
// labels Kubernaut exports; the Alertmanager example loads in Alertmanager's config loader and
// routes as documented; the component renders and applies to a real API server.
package monitoring

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	_ "sigs.k8s.io/controller-runtime/pkg/controller" // registers the reconcile metrics
	crmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/kubernaut/kubernaut/controllers/aianalysis"
	"github.com/kubernaut/kubernaut/controllers/aianalysis/holmesgpt"
	"github.com/kubernaut/kubernaut/controllers/kubernetesexecution"
	"github.com/kubernaut/kubernaut/controllers/remediationprocessing"
	"github.com/kubernaut/kubernaut/controllers/remediationrequest"
	"github.com/kubernaut/kubernaut/controllers/workflowexecution"
	"github.com/kubernaut/kubernaut/gateway"
)

// targetLabels are the labels Prometheus adds to every series it scrapes through a
// ServiceMonitor; a query may select on them whatever the metric.
var targetLabels = []string{"job", "instance", "namespace", "pod", "service", "endpoint", "container"}

// controllerRuntimeHistograms are the histogram families of controller-runtime and client-go
// that the dashboards read; the catalogue checks that the registry declares them.
var controllerRuntimeHistograms = []string{"workqueue_queue_duration_seconds", "workqueue_work_duration_seconds", "controller_runtime_reconcile_time_seconds"}

// catalogue maps every series name the controller's and the gateway's /metrics can serve to
// the labels its series carry.
type catalogue map[string]map[string]bool

var (
	descName   = regexp.MustCompile(`fqName: "([^"]+)"`)
	descLabels = regexp.MustCompile(`variableLabels: \{([^}]*)\}`)
	descConst  = regexp.MustCompile(`constLabels: \{([^}]*)\}`)
)

// add records a family from its descriptor; a histogram's series are name_bucket (with le),
// name_sum and name_count, a summary's name (with quantile), name_sum and name_count.
func (c catalogue) add(t *testing.T, d *prometheus.Desc, kind dto.MetricType) {
	t.Helper()
	s := d.String()
	m := descName.FindStringSubmatch(s)
	if m == nil {
		t.Fatalf("descriptor without a name: %s", s)
	}
	labels := map[string]bool{}
	for _, re := range []*regexp.Regexp{descLabels, descConst} {
		l := re.FindStringSubmatch(s)
		if l == nil {
			continue
		}
		for _, name := range strings.Split(l[1], ",") {
			name, _, _ = strings.Cut(strings.TrimSpace(name), "=")
			if name = strings.TrimSuffix(strings.TrimPrefix(name, "c("), ")"); name != "" {
				labels[name] = true
			}
		}
	}
	with := func(extra string) map[string]bool {
		out := map[string]bool{extra: true}
		for l := range labels {
			out[l] = true
		}
		return out
	}
	switch kind {
	case dto.MetricType_HISTOGRAM:
		c[m[1]+"_bucket"], c[m[1]+"_sum"], c[m[1]+"_count"] = with("le"), labels, labels
	case dto.MetricType_SUMMARY:
		c[m[1]], c[m[1]+"_sum"], c[m[1]+"_count"] = with("quantile"), labels, labels
	default:
		c[m[1]] = labels
	}
}

// recorder is a Registerer that catalogues what Kubernaut's packages register, telling
// histograms by their collector's type.
type recorder struct {
	t   *testing.T
	cat catalogue
}

func (r recorder) Register(c prometheus.Collector) error {
	kind := dto.MetricType_UNTYPED
	switch c.(type) {
	case *prometheus.HistogramVec, prometheus.Histogram:
		kind = dto.MetricType_HISTOGRAM
	case *prometheus.SummaryVec, prometheus.Summary:
		kind = dto.MetricType_SUMMARY
	}
	ch := make(chan *prometheus.Desc, 16)
	go func() { c.Describe(ch); close(ch) }()
	for d := range ch {
		r.cat.add(r.t, d, kind)
	}
	return nil
}

func (r recorder) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		_ = r.Register(c)
	}
}

func (r recorder) Unregister(prometheus.Collector) bool { return false }

// okRecorder accepts every signal as a new RemediationRequest.
type okRecorder struct{}

func (okRecorder) Record(_ context.Context, signals []gateway.Signal) []gateway.Recorded {
	out := make([]gateway.Recorded, len(signals))
	for i := range out {
		out[i] = gateway.Recorded{Outcome: gateway.OutcomeCreated, Name: "rr"}
	}
	return out
}

// exportedMetrics builds the catalogue: Kubernaut's controller collectors as cmd/kubernaut
// registers them; controller-runtime's registry (reconciles, work queues, leader election,
// client, Go and process), whose histograms are named in controllerRuntimeHistograms; and
// the gateway's registry after it served a good and an unauthenticated delivery (so that its
// families have series, whose types the gather tells).
func exportedMetrics(t *testing.T) catalogue {
	t.Helper()
	cat := catalogue{"up": {}} // Prometheus' own, per target
	rec := recorder{t: t, cat: cat}
	remediationrequest.NewMetrics(rec)
	remediationprocessing.NewMetrics(rec)
	aianalysis.NewMetrics(rec)
	workflowexecution.NewMetrics(rec)
	kubernetesexecution.NewMetrics(rec)
	rec.MustRegister(remediationrequest.NewInventory(fake.NewClientBuilder().Build(), nil))
	hc, err := holmesgpt.New(holmesgpt.Config{URL: "http://holmesgpt.invalid"})
	if err != nil {
		t.Fatal(err)
	}
	rec.MustRegister(hc.BreakerGauge())

	crHist := map[string]bool{}
	for _, n := range controllerRuntimeHistograms {
		crHist[n] = true
	}
	ch := make(chan *prometheus.Desc, 64)
	go func() { crmetrics.Registry.(*prometheus.Registry).Describe(ch); close(ch) }()
	for d := range ch {
		kind := dto.MetricType_UNTYPED
		if m := descName.FindStringSubmatch(d.String()); m != nil && crHist[m[1]] {
			kind = dto.MetricType_HISTOGRAM
			delete(crHist, m[1])
		}
		cat.add(t, d, kind)
	}
	for n := range crHist {
		t.Errorf("controller-runtime's registry does not declare histogram %s", n)
	}

	tokens := filepath.Join(t.TempDir(), "tokens")
	if err := os.WriteFile(tokens, []byte("t0ken\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	auth, err := gateway.NewTokenFile(tokens)
	if err != nil {
		t.Fatal(err)
	}
	gw := gateway.NewServer(gateway.DefaultConfig(), gateway.Deps{Ready: func(context.Context) error { return nil }, Auth: auth, Recorder: okRecorder{}})
	body, err := os.ReadFile(filepath.Join("..", "..", "gateway", "testdata", "crashloop.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, token := range []string{"t0ken", "wrong"} {
		req := httptest.NewRequest(http.MethodPost, gateway.AlertmanagerPath, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		w := httptest.NewRecorder()
		gw.Handler().ServeHTTP(w, req)
		if token == "t0ken" && w.Code != http.StatusOK {
			t.Fatalf("the gateway refused a good delivery: %d %s", w.Code, w.Body)
		}
	}
	mfs, err := gw.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		labels := map[string]bool{}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = true
			}
		}
		d := prometheus.NewDesc(mf.GetName(), mf.GetHelp(), keys(labels), nil)
		cat.add(t, d, mf.GetType())
	}
	for _, want := range []string{"kubernaut_gateway_request_duration_seconds_bucket", "kubernaut_gateway_signals_total", "kubernaut_gateway_rejected_requests_total"} {
		if _, ok := cat[want]; !ok {
			t.Fatalf("the gateway's registry has no %s after two deliveries", want)
		}
	}
	return cat
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
