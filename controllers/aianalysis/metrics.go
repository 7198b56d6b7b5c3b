package aianalysis

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// Metrics are the analysis' collectors.
type Metrics struct {
	latency    *prometheus.HistogramVec
	confidence prometheus.Histogram
	decisions  *prometheus.CounterVec
	fallbacks  prometheus.Counter
	rejected   prometheus.Counter
	tokens     *prometheus.CounterVec
}

// NewMetrics registers the analysis' collectors on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	return &Metrics{
		latency: f.NewHistogramVec(prometheus.HistogramOpts{Name: "kubernaut_analysis_duration_seconds",
			Help: "Time an analyzer took to answer, by analyzer and outcome.", Buckets: []float64{.01, .1, .5, 1, 5, 15, 30, 60, 120, 180, 300}},
			[]string{"analyzer", "outcome"}),
		confidence: f.NewHistogram(prometheus.HistogramOpts{Name: "kubernaut_analysis_confidence",
			Help: "Confidence of completed analyses (after adjustments).", Buckets: []float64{.1, .2, .3, .4, .5, .6, .7, .8, .9, .95, 1}}),
		decisions: f.NewCounterVec(prometheus.CounterOpts{Name: "kubernaut_analysis_decisions_total",
			Help: "Approval decisions by mode."}, []string{"mode"}),
		fallbacks: f.NewCounter(prometheus.CounterOpts{Name: "kubernaut_analysis_fallbacks_total",
			Help: "Analyses the rules answered because the configured analyzer failed."}),
		rejected: f.NewCounter(prometheus.CounterOpts{Name: "kubernaut_analysis_rejected_recommendations_total",
			Help: "Recommendations refused by validation."}),
		tokens: f.NewCounterVec(prometheus.CounterOpts{Name: "kubernaut_analysis_tokens_total",
			Help: "LLM tokens an analyzer reported."}, []string{"analyzer"}),
	}
}

func (m *Metrics) analyzed(name kubernautv1.AnalyzerName, err error, d time.Duration, tokens int) {
	if m == nil {
		return
	}
	outcome := "ok"
	if err != nil {
		outcome = "error"
	}
	m.latency.WithLabelValues(string(name), outcome).Observe(d.Seconds())
	if tokens > 0 {
		m.tokens.WithLabelValues(string(name)).Add(float64(tokens))
	}
}

func (m *Metrics) fallback() {
	if m != nil {
		m.fallbacks.Inc()
	}
}

func (m *Metrics) refused() {
	if m != nil {
		m.rejected.Inc()
	}
}

func (m *Metrics) decided(mode kubernautv1.ApprovalMode, confidence float64) {
	if m != nil {
		m.decisions.WithLabelValues(string(mode)).Inc()
		m.confidence.Observe(confidence)
	}
}
