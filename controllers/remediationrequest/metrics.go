package remediationrequest

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// Metrics are the orchestrator's collectors.
type Metrics struct {
	phaseEntered *prometheus.CounterVec
	outcomes     *prometheus.CounterVec
	phaseTime    *prometheus.HistogramVec
	duration     *prometheus.HistogramVec
}

// NewMetrics registers the orchestrator's collectors on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	return &Metrics{
		phaseEntered: f.NewCounterVec(prometheus.CounterOpts{
			Name: "kubernaut_remediation_phase_entered_total",
			Help: "RemediationRequests that entered each phase.",
		}, []string{"phase"}),
		outcomes: f.NewCounterVec(prometheus.CounterOpts{
			Name: "kubernaut_remediations_total",
			Help: "Finished RemediationRequests by outcome (Completed, Failed, Rejected, Skipped, TimedOut, Cancelled).",
		}, []string{"outcome"}),
		phaseTime: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "kubernaut_remediation_phase_duration_seconds",
			Help:    "Time RemediationRequests spent in each phase.",
			Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600},
		}, []string{"phase"}),
		duration: f.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "kubernaut_remediation_duration_seconds",
			Help:    "Time from a RemediationRequest's creation (the alert's arrival) to its outcome, by outcome.",
			Buckets: []float64{1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200},
		}, []string{"outcome"}),
	}
}

func (m *Metrics) entered(p kubernautv1.RemediationPhase) {
	if m != nil {
		m.phaseEntered.WithLabelValues(string(p)).Inc()
	}
}

func (m *Metrics) finished(p kubernautv1.RemediationPhase, took time.Duration) {
	if m != nil {
		m.outcomes.WithLabelValues(string(p)).Inc()
		m.duration.WithLabelValues(string(p)).Observe(took.Seconds())
	}
}

func (m *Metrics) observePhase(p kubernautv1.RemediationPhase, d time.Duration) {
	if m != nil {
		m.phaseTime.WithLabelValues(string(p)).Observe(d.Seconds())
	}
}
