package gateway

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// DefaultEventReasons are the Warning event reasons that become signals, with their severity.
var DefaultEventReasons = map[string]kubernautv1.Severity{
	"BackOff":          kubernautv1.SeverityWarning,
	"OOMKilling":       kubernautv1.SeverityCritical,
	"Unhealthy":        kubernautv1.SeverityWarning,
	"FailedScheduling": kubernautv1.SeverityWarning,
	"NodeNotReady":     kubernautv1.SeverityCritical,
	"Evicted":          kubernautv1.SeverityWarning,
	"FailedMount":      kubernautv1.SeverityWarning,
}

// eventKindLabels maps an event's involved object kind to the label naming it, as an alert
// would (so ExtractTarget reads both sources alike).
var eventKindLabels = map[string]string{
	"Pod": "pod", "Deployment": "deployment", "StatefulSet": "statefulset", "DaemonSet": "daemonset",
	"ReplicaSet": "replicaset", "Job": "job_name", "HorizontalPodAutoscaler": "horizontalpodautoscaler",
	"PersistentVolumeClaim": "persistentvolumeclaim", "Service": "service", "Node": "node",
}

// EventSource turns Kubernetes Warning events with chosen reasons into signals, recorded like
// alerts: the same event reason on the same object is one fingerprint, so repeats are
// counted, not remediated twice. Off by default.
type EventSource struct {
	client   kubernetes.Interface
	recorder SignalRecorder
	reasons  map[string]kubernautv1.Severity
	log      logr.Logger
}

// NewEventSource builds an event source recording through recorder.
func NewEventSource(client kubernetes.Interface, recorder SignalRecorder, reasons map[string]kubernautv1.Severity, log logr.Logger) *EventSource {
	return &EventSource{client: client, recorder: recorder, reasons: reasons, log: log}
}

// EventSignal turns an event into a signal; ok is false for events that are not wanted
// (Normal, another reason, an object Kubernaut cannot target).
func EventSignal(ev *corev1.Event, reasons map[string]kubernautv1.Severity) (Signal, bool) {
	severity, wanted := reasons[ev.Reason]
	if ev.Type != corev1.EventTypeWarning || !wanted {
		return Signal{}, false
	}
	label, known := eventKindLabels[ev.InvolvedObject.Kind]
	if !known {
		return Signal{}, false
	}
	labels := map[string]string{"alertname": ev.Reason, label: ev.InvolvedObject.Name, "source": "kubernetes-event"}
	if ev.InvolvedObject.Kind != "Node" && ev.InvolvedObject.Namespace != "" {
		labels["namespace"] = ev.InvolvedObject.Namespace
	}
	target, err := ExtractTarget(labels)
	if err != nil {
		return Signal{}, false
	}
	start := ev.FirstTimestamp.Time
	if start.IsZero() {
		start = ev.EventTime.Time
	}
	if start.IsZero() {
		start = ev.CreationTimestamp.Time
	}
	count := ev.Count
	if ev.Series != nil {
		count = ev.Series.Count
	}
	return Signal{
		Signal: kubernautv1.Signal{
			Fingerprint: Fingerprint(labels),
			Name:        ev.Reason,
			Source:      kubernautv1.SignalSourceKubernetesEvent,
			Severity:    severity,
			Labels:      labels,
			Annotations: boundAnnotations(map[string]string{
				"message":   ev.Message,
				"count":     strconv.Itoa(int(count)),
				"component": strings.TrimSpace(ev.Source.Component + " " + ev.ReportingController),
				"event":     ev.Namespace + "/" + ev.Name,
			}),
			StartsAt: metav1.NewTime(start.UTC().Truncate(time.Second)),
		},
		Target: target,
		Firing: true,
	}, true
}

// Run watches Warning events in every namespace and records the wanted ones until ctx ends.
// A failed write is retried with backoff.
func (s *EventSource) Run(ctx context.Context) error {
	factory := informers.NewSharedInformerFactoryWithOptions(s.client, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
		o.FieldSelector = fields.OneTermEqualSelector("type", corev1.EventTypeWarning).String()
	}))
	inf := factory.Core().V1().Events()
	queue := workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "kubernaut-gateway-events"})
	defer queue.ShutDown()
	enqueue := func(obj any) {
		if ev, ok := obj.(*corev1.Event); ok && ev.Type == corev1.EventTypeWarning {
			if _, wanted := s.reasons[ev.Reason]; wanted {
				if key, err := cache.MetaNamespaceKeyFunc(ev); err == nil {
					queue.Add(key)
				}
			}
		}
	}
	if _, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
	}); err != nil {
		return fmt.Errorf("watching events: %w", err)
	}
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), inf.Informer().HasSynced) {
		return nil
	}
	go func() {
		<-ctx.Done()
		queue.ShutDown()
	}()
	for {
		key, shutdown := queue.Get()
		if shutdown {
			return nil
		}
		s.process(ctx, queue, inf.Lister(), key)
	}
}

func (s *EventSource) process(ctx context.Context, queue workqueue.TypedRateLimitingInterface[string], lister corelisters.EventLister, key string) {
	defer queue.Done(key)
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		queue.Forget(key)
		return
	}
	ev, err := lister.Events(ns).Get(name)
	if apierrors.IsNotFound(err) {
		queue.Forget(key)
		return
	}
	if err != nil {
		utilruntime.HandleError(err)
		queue.AddRateLimited(key)
		return
	}
	sig, ok := EventSignal(ev, s.reasons)
	if !ok {
		queue.Forget(key)
		return
	}
	r := s.recorder.Record(ctx, []Signal{sig})[0]
	outcome, rr, err := r.Outcome, r.Name, r.Err
	if err != nil {
		s.log.Error(err, "recording a Kubernetes event; retrying", "event", key)
		queue.AddRateLimited(key)
		return
	}
	queue.Forget(key)
	s.log.V(1).Info("recorded a Kubernetes event", "event", key, "outcome", outcome, "remediationRequest", rr)
}
