package remediationrequest

import (
	"context"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// Inventory is a Prometheus collector that reports, at each scrape, how many
// RemediationRequests are in each phase and how long the oldest unfinished one of each phase
// has been in it: the approval backlog and stuck remediations, which counters cannot show.
// It lists the manager's cache (no API call) and reports only while its replica leads: every
// replica's cache holds the same objects, and counting them on each would multiply the sums.
type Inventory struct {
	reader  client.Reader
	leading func() bool
	now     func() time.Time
	count   *prometheus.Desc
	oldest  *prometheus.Desc
}

// NewInventory returns the collector; reader is the manager's cached client, leading reports
// whether this replica holds the leader lease (nil: always).
func NewInventory(reader client.Reader, leading func() bool) *Inventory {
	if leading == nil {
		leading = func() bool { return true }
	}
	return &Inventory{
		reader: reader, leading: leading, now: time.Now,
		count: prometheus.NewDesc("kubernaut_remediations",
			"RemediationRequests that exist now, by phase (finished ones until their retention TTL deletes them).", []string{"phase"}, nil),
		oldest: prometheus.NewDesc("kubernaut_remediation_phase_oldest_seconds",
			"How long the oldest RemediationRequest still in an unfinished phase has been in it, by phase (0: none).", []string{"phase"}, nil),
	}
}

// Describe sends the collector's two descriptors.
func (i *Inventory) Describe(ch chan<- *prometheus.Desc) {
	ch <- i.count
	ch <- i.oldest
}

// Collect lists the RemediationRequests and sends their counts and ages. A failed list is
// reported as an invalid metric, which fails the scrape visibly rather than reporting zeros.
func (i *Inventory) Collect(ch chan<- prometheus.Metric) {
	if !i.leading() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	var list kubernautv1.RemediationRequestList
	if err := i.reader.List(ctx, &list, client.UnsafeDisableDeepCopy); err != nil {
		ch <- prometheus.NewInvalidMetric(i.count, fmt.Errorf("listing RemediationRequests: %w", err))
		return
	}
	now := i.now()
	counts := make(map[kubernautv1.RemediationPhase]int, len(kubernautv1.RemediationPhases))
	oldest := make(map[kubernautv1.RemediationPhase]time.Duration, len(kubernautv1.RemediationPhases))
	for k := range list.Items {
		st := &list.Items[k].Status
		phase := st.Phase
		if phase == "" {
			phase = kubernautv1.RemediationPhasePending
		}
		counts[phase]++
		if phase.IsFinished() {
			continue
		}
		since := list.Items[k].CreationTimestamp.Time
		if st.PhaseStartedAt != nil {
			since = st.PhaseStartedAt.Time
		}
		if age := now.Sub(since); age > oldest[phase] {
			oldest[phase] = age
		}
	}
	for _, p := range kubernautv1.RemediationPhases {
		ch <- prometheus.MustNewConstMetric(i.count, prometheus.GaugeValue, float64(counts[p]), string(p))
		if !p.IsFinished() {
			ch <- prometheus.MustNewConstMetric(i.oldest, prometheus.GaugeValue, oldest[p].Seconds(), string(p))
		}
	}
}
