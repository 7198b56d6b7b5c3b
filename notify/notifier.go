package notify

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/record"
)

// maxBatch bounds the alerts of one post; a sync with more posts several.
const maxBatch = 500

// Notifier keeps Alertmanager's view of Kubernaut's alerts in line with the remediations: on
// every change it is told of (Notify) and every Interval, it derives the alerts the
// remediations warrant (Desired), posts those that are new or changed at once, re-posts the
// firing ones before their endsAt (three intervals ahead), and resolves those no longer
// warranted. It never blocks the chain: it reads the manager's cache, runs on its own, and a
// post that fails is tried again with a backoff (1 s doubling up to the interval), counted
// in kubernaut_notifications_total and told once per remediation as a Warning event. What it
// has posted is only in memory: after a restart it posts every firing alert again (Alertmanager
// merges them), and an alert resolved meanwhile ends at its endsAt.
type Notifier struct {
	// Reader lists the RemediationRequests and reads their WorkflowExecutions (the cache).
	Reader client.Reader
	// Sink delivers the alerts (Alertmanager); nil posts none.
	Sink Sink
	// Sinks are told of each milestone (Slack, CloudEvents), once: a milestone older than the
	// notifier's first sync (less a minute) counts as told, so that a restart or a new leader
	// does not repeat a remediation's history.
	Sinks []EventSink
	// Options shape the alerts (Options.Namespace is also where the remediations are listed).
	Options Options
	// Interval is how often firing alerts are posted again (1 min when zero).
	Interval time.Duration
	// Events records NotificationFailed on a remediation whose alert could not be delivered.
	Events events.EventRecorder
	// Metrics counts the posts; nil counts none.
	Metrics *Metrics
	// Log is where failures are logged.
	Log logr.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time

	wake    chan struct{}
	once    sync.Once
	sent    map[string]posted // by Alert.key
	failing map[string]bool   // remediations (namespace/name, sink/namespace/name) told of a failed delivery, until one succeeds
	since   time.Time         // milestones before it count as told
	told    map[string]bool   // sink name + "/" + milestone ID
}

// posted is an alert as last delivered, and when.
type posted struct {
	alert Alert
	at    time.Time
}

// Metrics are the notifications' metrics.
type Metrics struct {
	posts  *prometheus.CounterVec
	firing prometheus.Gauge
}

// NewMetrics registers the notifications' metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	return &Metrics{
		posts: f.NewCounterVec(prometheus.CounterOpts{Name: "kubernaut_notifications_total",
			Help: "Posts of Kubernaut's alerts by sink and outcome (delivered, failed)."}, []string{"sink", "outcome"}),
		firing: f.NewGauge(prometheus.GaugeOpts{Name: "kubernaut_notification_alerts_firing",
			Help: "Kubernaut's own alerts firing as last delivered."}),
	}
}

func (m *Metrics) posted(sink, outcome string) {
	if m != nil {
		m.posts.WithLabelValues(sink, outcome).Inc()
	}
}

func (n *Notifier) init() {
	n.once.Do(func() {
		n.wake = make(chan struct{}, 1)
		n.sent = map[string]posted{}
		n.failing = map[string]bool{}
		n.told = map[string]bool{}
	})
}

func (n *Notifier) now() time.Time {
	if n.Now != nil {
		return n.Now()
	}
	return time.Now()
}

func (n *Notifier) interval() time.Duration {
	if n.Interval > 0 {
		return n.Interval
	}
	return time.Minute
}

// Notify asks for a sync soon (a remediation or a plan changed); it never blocks.
func (n *Notifier) Notify() {
	n.init()
	select {
	case n.wake <- struct{}{}:
	default:
	}
}

// NeedLeaderElection makes only the leader post: one voice, even with several replicas.
func (n *Notifier) NeedLeaderElection() bool { return true }

// Start syncs until ctx ends.
func (n *Notifier) Start(ctx context.Context) error {
	n.init()
	tick := time.NewTicker(n.interval())
	defer tick.Stop()
	backoff := time.Duration(0)
	var retry <-chan time.Time
	for {
		if err := n.Sync(ctx); err != nil {
			backoff = min(max(2*backoff, time.Second), n.interval())
			n.Log.Error(err, "notifications not delivered; trying again", "after", backoff)
			retry = time.After(backoff)
		} else {
			backoff, retry = 0, nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		case <-retry:
		case <-n.wake:
			// Changes come in bursts (a plan's status, then its remediation's): one post for them.
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(200 * time.Millisecond):
			}
		}
	}
}

// Sync posts what changed since the last sync, and what fires and is due again.
func (n *Notifier) Sync(ctx context.Context) error {
	n.init()
	now := n.now()
	if n.since.IsZero() {
		n.since = now.Add(-time.Minute)
	}
	desired, owners, milestones, err := n.desired(ctx, now)
	if err != nil {
		return err
	}
	err = n.tell(ctx, milestones, owners)
	if n.Sink == nil {
		return err
	}
	return errors.Join(err, n.postAlerts(ctx, now, desired, owners))
}

// postAlerts posts to Alertmanager what changed, what fires and is due again, and what ended.
func (n *Notifier) postAlerts(ctx context.Context, now time.Time, desired map[string]Alert, owners map[string]*kubernautv1.RemediationRequest) error {
	var out []Alert
	for _, k := range sortedKeys(desired) {
		a := desired[k]
		if p, ok := n.sent[k]; ok && same(p.alert, a) && now.Sub(p.at) < n.interval() {
			continue
		}
		a.EndsAt = now.Add(3 * n.interval())
		out = append(out, a)
	}
	for k, p := range n.sent {
		if _, ok := desired[k]; !ok {
			a := p.alert
			a.EndsAt = now
			out = append(out, a)
		}
	}
	for len(out) > 0 {
		batch := out[:min(len(out), maxBatch)]
		out = out[len(batch):]
		if err := n.Sink.Post(ctx, batch); err != nil {
			n.Metrics.posted("alertmanager", "failed")
			n.tellFailure(batch, owners, err)
			return fmt.Errorf("posting %d alerts: %w", len(batch), err)
		}
		n.Metrics.posted("alertmanager", "delivered")
		for _, a := range batch {
			delete(n.failing, a.owner())
			if a.EndsAt.After(now) {
				n.sent[a.key()] = posted{alert: a, at: now}
			} else {
				delete(n.sent, a.key())
			}
		}
	}
	if n.Metrics != nil {
		n.Metrics.firing.Set(float64(len(n.sent)))
	}
	return nil
}

// desired lists the remediations and derives their alerts, by key, with the remediation of
// each, and their milestones.
func (n *Notifier) desired(ctx context.Context, now time.Time) (map[string]Alert, map[string]*kubernautv1.RemediationRequest, []Milestone, error) {
	var rrs kubernautv1.RemediationRequestList
	if err := n.Reader.List(ctx, &rrs, client.InNamespace(n.Options.Namespace)); err != nil {
		return nil, nil, nil, fmt.Errorf("listing RemediationRequests: %w", err)
	}
	desired := map[string]Alert{}
	owners := map[string]*kubernautv1.RemediationRequest{}
	var milestones []Milestone
	for i := range rrs.Items {
		rr := &rrs.Items[i]
		var we *kubernautv1.WorkflowExecution
		if ref := rr.Status.WorkflowExecutionRef; ref != nil {
			we = &kubernautv1.WorkflowExecution{}
			if err := n.Reader.Get(ctx, client.ObjectKey{Namespace: rr.Namespace, Name: ref.Name}, we); err != nil {
				if client.IgnoreNotFound(err) != nil {
					return nil, nil, nil, fmt.Errorf("reading WorkflowExecution %s: %w", ref.Name, err)
				}
				we = nil
			}
		}
		if n.Sink != nil {
			for _, a := range Desired(rr, we, n.Options, now) {
				desired[a.key()] = a
			}
		}
		if len(n.Sinks) > 0 {
			milestones = append(milestones, Milestones(rr, we)...)
		}
		owners[rr.Namespace+"/"+rr.Name] = rr
	}
	sort.SliceStable(milestones, func(i, j int) bool { return milestones[i].At.Before(milestones[j].At) })
	return desired, owners, milestones, nil
}

// tell sends each sink the milestones it wants and was not told yet, oldest first; a sink that
// fails is tried again at the next sync, from the milestone that failed. What it was told of
// remediations that are gone is forgotten.
func (n *Notifier) tell(ctx context.Context, milestones []Milestone, owners map[string]*kubernautv1.RemediationRequest) error {
	if len(n.Sinks) == 0 {
		return nil
	}
	told := map[string]bool{}
	var errs []error
	records := map[string]*record.Record{} // by milestone ID: read once for all sinks
	for _, sink := range n.Sinks {
		failed := false
		for _, m := range milestones {
			key := sink.Name() + "/" + m.ID
			switch {
			case !sink.Wants(m.Type):
				continue
			case n.told[key] || m.At.Before(n.since):
				told[key] = true
				continue
			case failed:
				continue
			}
			if m.Type == TypeFinished {
				if records[m.ID] == nil {
					rr, ok := owners[m.Data.Namespace+"/"+m.Data.Remediation]
					if !ok {
						continue
					}
					rec, err := record.Read(ctx, n.Reader, rr)
					if err != nil {
						failed = true
						errs = append(errs, err)
						continue
					}
					records[m.ID] = &rec
				}
				m.Data.Record = records[m.ID]
			}
			if err := sink.Send(ctx, m); err != nil {
				failed = true
				n.Metrics.posted(sink.Name(), "failed")
				errs = append(errs, fmt.Errorf("telling %s of %s of %s: %w", sink.Name(), m.Type, m.Data.Remediation, err))
				owner := m.Data.Namespace + "/" + m.Data.Remediation
				if rr, ok := owners[owner]; ok && !n.failing[sink.Name()+"/"+owner] && n.Events != nil {
					n.failing[sink.Name()+"/"+owner] = true
					n.Events.Eventf(rr, nil, corev1.EventTypeWarning, "NotificationFailed", "Notify", "%s not told of %s (tried again until it is): %s",
						sink.Name(), m.Type, kubernautv1.Truncate(err.Error(), 512))
				}
				continue
			}
			n.Metrics.posted(sink.Name(), "delivered")
			delete(n.failing, sink.Name()+"/"+m.Data.Namespace+"/"+m.Data.Remediation)
			told[key] = true
		}
	}
	n.told = told
	return errors.Join(errs...)
}

// tellFailure records a Warning event on each remediation of a failed batch, once until one
// of its alerts is delivered.
func (n *Notifier) tellFailure(batch []Alert, owners map[string]*kubernautv1.RemediationRequest, err error) {
	for _, a := range batch {
		owner := a.owner()
		rr, ok := owners[owner]
		if n.failing[owner] || !ok {
			continue
		}
		n.failing[owner] = true
		if n.Events != nil {
			n.Events.Eventf(rr, nil, corev1.EventTypeWarning, "NotificationFailed", "Notify", "%s not delivered (tried again until it is): %s",
				describe(a), kubernautv1.Truncate(err.Error(), 512))
		}
	}
}
