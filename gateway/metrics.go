package gateway

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// metrics are the gateway's own collectors, on the server's registry.
type metrics struct {
	signals   *prometheus.CounterVec
	rejected  *prometheus.CounterVec
	requests  *prometheus.HistogramVec
	pending   prometheus.GaugeFunc
	flushErrs prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, pending func() float64) *metrics {
	f := promauto.With(reg)
	return &metrics{
		signals: f.NewCounterVec(prometheus.CounterOpts{
			Name: "kubernaut_gateway_signals_total",
			Help: "Alerts received, by source and outcome (created, duplicate, storm, resolved, resolved-unknown, invalid, failed).",
		}, []string{"source", "outcome"}),
		rejected: f.NewCounterVec(prometheus.CounterOpts{
			Name: "kubernaut_gateway_rejected_requests_total",
			Help: "Requests refused before their alerts were looked at, by reason.",
		}, []string{"reason"}),
		requests: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "kubernaut_gateway_request_duration_seconds",
			Help:    "Time to answer a webhook delivery, by outcome and HTTP status code.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"outcome", "code"}),
		pending: f.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "kubernaut_gateway_pending_duplicates",
			Help: "Re-deliveries counted in memory and not yet written to their RemediationRequest.",
		}, pending),
		flushErrs: f.NewCounter(prometheus.CounterOpts{
			Name: "kubernaut_gateway_flush_errors_total",
			Help: "Failed writes of batched occurrence counts (retried at the next flush).",
		}),
	}
}

func (m *metrics) signal(outcome string) {
	m.signals.WithLabelValues("alertmanager", outcome).Inc()
}

func (m *metrics) reject(reason string) { m.rejected.WithLabelValues(reason).Inc() }

func (m *metrics) observeRequest(outcome string, code int, d time.Duration) {
	m.requests.WithLabelValues(outcome, strconv.Itoa(code)).Observe(d.Seconds())
}
