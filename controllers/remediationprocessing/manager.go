package remediationprocessing

import (
	"context"
	"io"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	ctrl "sigs.k8s.io/controller-runtime"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// SetupWithManager watches RemediationProcessings.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).
		Named("remediationprocessing").
		For(&kubernautv1.RemediationProcessing{}).
		Complete(r)
}

// ClientLogs reads logs through the API server (pods/log).
type ClientLogs struct {
	// Client is a clientset.
	Client kubernetes.Interface
}

// TailLog reads the last lines of a container's log (at most 64 KiB).
func (c ClientLogs) TailLog(ctx context.Context, namespace, pod, container string, previous bool, lines int64) (string, error) {
	limit := int64(64 << 10)
	rc, err := c.Client.CoreV1().Pods(namespace).GetLogs(pod, &corev1.PodLogOptions{
		Container: container, Previous: previous, TailLines: &lines, LimitBytes: &limit,
	}).Stream(ctx)
	if err != nil {
		return "", err
	}
	defer func() { _ = rc.Close() }()
	var b strings.Builder
	if _, err := io.Copy(&b, io.LimitReader(rc, limit)); err != nil {
		return "", err
	}
	return b.String(), nil
}

// Metrics are the processing's collectors.
type Metrics struct {
	latency prometheus.Histogram
	failed  *prometheus.CounterVec
}

// NewMetrics registers the processing's collectors on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	return &Metrics{
		latency: f.NewHistogram(prometheus.HistogramOpts{
			Name: "kubernaut_enrichment_duration_seconds", Help: "Time to gather a signal's cluster context.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}),
		failed: f.NewCounterVec(prometheus.CounterOpts{
			Name: "kubernaut_enrichment_failed_detections_total", Help: "Enrichment lookups that failed, by kind of lookup.",
		}, []string{"detection"}),
	}
}

func (m *Metrics) observeEnrichment(d time.Duration, e *kubernautv1.Enrichment) {
	if m == nil {
		return
	}
	m.latency.Observe(d.Seconds())
	if e != nil {
		for _, f := range e.FailedDetections {
			m.failed.WithLabelValues(f.Detection).Inc()
		}
	}
}
