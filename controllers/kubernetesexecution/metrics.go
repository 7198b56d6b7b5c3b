package kubernetesexecution

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// Metrics are the step metrics.
type Metrics struct {
	executions    *prometheus.CounterVec
	duration      *prometheus.HistogramVec
	verifyFailed  *prometheus.CounterVec
	compensations *prometheus.CounterVec
}

// NewMetrics registers the step metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	return &Metrics{
		executions: f.NewCounterVec(prometheus.CounterOpts{Name: "kubernaut_executions_total",
			Help: "Finished steps by action, mode and phase (Succeeded, Failed, Rejected)."}, []string{"action", "mode", "phase"}),
		duration: f.NewHistogramVec(prometheus.HistogramOpts{Name: "kubernaut_execution_duration_seconds",
			Help: "Time from validation to the end of a step, by action.", Buckets: prometheus.ExponentialBuckets(0.05, 2, 14)}, []string{"action"}),
		verifyFailed: f.NewCounterVec(prometheus.CounterOpts{Name: "kubernaut_verification_failures_total",
			Help: "Steps whose health check failed after the action ran, by action."}, []string{"action"}),
		compensations: f.NewCounterVec(prometheus.CounterOpts{Name: "kubernaut_compensations_total",
			Help: "Finished compensations by action and phase."}, []string{"action", "phase"}),
	}
}

func (m *Metrics) finished(ke *kubernautv1.KubernetesExecution, now time.Time) {
	if m == nil {
		return
	}
	a := string(ke.Spec.Action)
	m.executions.WithLabelValues(a, string(ke.Spec.Mode), string(ke.Status.Phase)).Inc()
	if ke.Spec.Mode == kubernautv1.ExecutionModeCompensate {
		m.compensations.WithLabelValues(a, string(ke.Status.Phase)).Inc()
	}
	if ke.Status.StartedAt != nil {
		m.duration.WithLabelValues(a).Observe(now.Sub(ke.Status.StartedAt.Time).Seconds())
	}
}

func (m *Metrics) verificationFailed(ke *kubernautv1.KubernetesExecution) {
	if m != nil {
		m.verifyFailed.WithLabelValues(string(ke.Spec.Action)).Inc()
	}
}
