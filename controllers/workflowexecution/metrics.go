package workflowexecution

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// Metrics are the plan metrics.
type Metrics struct {
	finished *prometheus.CounterVec
	duration *prometheus.HistogramVec
	waiting  prometheus.Histogram
	nudges   prometheus.Counter
	released *prometheus.CounterVec
}

// NewMetrics registers the plan metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	return &Metrics{
		finished: f.NewCounterVec(prometheus.CounterOpts{Name: "kubernaut_workflows_total",
			Help: "Finished WorkflowExecutions by engine and phase (Completed, Failed, Rejected)."}, []string{"engine", "phase"}),
		duration: f.NewHistogramVec(prometheus.HistogramOpts{Name: "kubernaut_workflow_run_duration_seconds",
			Help: "Time from the start of a plan's run to its end, by engine and phase.", Buckets: prometheus.ExponentialBuckets(0.25, 2, 14)}, []string{"engine", "phase"}),
		waiting: f.NewHistogram(prometheus.HistogramOpts{Name: "kubernaut_approval_wait_seconds",
			Help: "Time from a Manual plan's validation to its approval.", Buckets: prometheus.ExponentialBuckets(1, 2, 16)}),
		nudges: f.NewCounter(prometheus.CounterOpts{Name: "kubernaut_argo_nudges_total",
			Help: "Workflows the argo engine nudged because Argo's controller had not acted on a resume or a terminate (see INFORMER_WRITE_BACK in docs/workflow.md)."}),
		released: f.NewCounterVec(prometheus.CounterOpts{Name: "kubernaut_undo_finalizers_released_total",
			Help: "Deleted WorkflowExecutions let go, by why: settled (nothing to undo, or undone), person (an undo failed and a person released it), deadline (the undo outlived its bound)."}, []string{"reason"}),
	}
}

// observe records a phase change.
func (m *Metrics) observe(we, before *kubernautv1.WorkflowExecution) {
	if m == nil || we.Status.Phase == before.Status.Phase {
		return
	}
	if before.Status.Approval == nil || before.Status.Approval.Decision != "Approved" {
		if a := we.Status.Approval; a != nil && a.Decision == "Approved" && a.Mode == kubernautv1.ApprovalManual &&
			a.DecidedAt != nil && we.Status.Plan != nil && we.Status.Plan.ValidatedAt != nil {
			m.waiting.Observe(a.DecidedAt.Sub(we.Status.Plan.ValidatedAt.Time).Seconds())
		}
	}
	if we.Status.Phase.IsFinished() {
		engine := string(we.Status.Engine)
		m.finished.WithLabelValues(engine, string(we.Status.Phase)).Inc()
		if we.Status.StartedAt != nil && we.Status.CompletedAt != nil {
			m.duration.WithLabelValues(engine, string(we.Status.Phase)).Observe(we.Status.CompletedAt.Sub(we.Status.StartedAt.Time).Seconds())
		}
	}
}

// nudge counts a nudge of Argo's controller.
func (m *Metrics) nudge() {
	if m != nil {
		m.nudges.Inc()
	}
}

// release counts a deleted plan let go.
func (m *Metrics) release(reason string) {
	if m != nil {
		m.released.WithLabelValues(reason).Inc()
	}
}
