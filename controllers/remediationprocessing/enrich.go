package remediationprocessing

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// Bounds of what enrichment keeps.
const (
	maxPods          = 50
	maxPodContainers = 10
	maxEvents        = 50
	maxLogs          = 3
	maxLogBytes      = 8192
	logTailLines     = 100
	maxRollouts      = 10
	maxConfigMaps    = 20
	maxMessage       = 1024
)

// LogReader reads the tail of a container's log.
type LogReader interface {
	TailLog(ctx context.Context, namespace, pod, container string, previous bool, lines int64) (string, error)
}

// Enricher gathers the cluster context of a target. Every lookup has its own time limit; a
// lookup that fails is recorded as a failed detection, never taken as "nothing found".
type Enricher struct {
	// Reader reads straight from the API server.
	Reader client.Reader
	// Logs reads container logs; nil records logs as a failed detection.
	Logs LogReader
	// LookupTimeout bounds each lookup.
	LookupTimeout time.Duration
	// LogRetryDelay is the wait before a failed read of a previous container's log is asked
	// again (twice at most, the second after twice as long); zero: half a second.
	LogRetryDelay time.Duration
}

// enrichment is an Enrichment being built.
type enrichment struct {
	e       *Enricher
	out     *kubernautv1.Enrichment
	target  kubernautv1.Target
	pod     *corev1.Pod
	podSpec *corev1.PodTemplateSpec
	wl      client.Object
	sel     labels.Selector
	nodeObj *corev1.Node
	svc     *corev1.Service
}

// Enrich gathers the context of target. It fails only when the target itself cannot be read:
// for good (terminal) when it does not exist, else transiently (the API server's error).
func (e *Enricher) Enrich(ctx context.Context, target kubernautv1.Target) (*kubernautv1.Enrichment, error) {
	b := &enrichment{e: e, out: &kubernautv1.Enrichment{}, target: target}
	if err := b.resolve(ctx); err != nil {
		return nil, err
	}
	b.workload()
	b.backends(ctx)
	b.pods(ctx)
	b.node(ctx)
	b.events(ctx)
	b.logs(ctx)
	b.hpa(ctx)
	b.pdbs(ctx)
	b.rollouts(ctx)
	b.configMaps(ctx)
	b.gitOps()
	return b.out, nil
}

func (b *enrichment) fail(detection string, err error) {
	for _, f := range b.out.FailedDetections {
		if f.Detection == detection {
			return
		}
	}
	b.out.FailedDetections = append(b.out.FailedDetections, kubernautv1.FailedDetection{Detection: detection, Error: kubernautv1.Truncate(err.Error(), maxMessage)})
}

// get reads one object within the lookup time limit.
func (b *enrichment) get(ctx context.Context, key client.ObjectKey, obj client.Object) error {
	ctx, cancel := context.WithTimeout(ctx, b.e.LookupTimeout)
	defer cancel()
	return b.e.Reader.Get(ctx, key, obj)
}

func (b *enrichment) list(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error {
	ctx, cancel := context.WithTimeout(ctx, b.e.LookupTimeout)
	defer cancel()
	return b.e.Reader.List(ctx, list, opts...)
}

// workload records the workload's spec and status.
func (b *enrichment) workload() {
	if b.wl == nil {
		return
	}
	ws := &kubernautv1.WorkloadState{Generation: b.wl.GetGeneration()}
	annotations := map[string]string{}
	for k, v := range b.wl.GetAnnotations() {
		if strings.HasPrefix(k, "kubernaut.io/") && len(annotations) < 16 {
			annotations[k] = kubernautv1.Truncate(v, 1024)
		}
	}
	if len(annotations) > 0 {
		ws.Annotations = annotations
	}
	var sel *metav1.LabelSelector
	switch w := b.wl.(type) {
	case *appsv1.Deployment:
		ws.Target = kubernautv1.Target{Kind: kubernautv1.TargetKindDeployment, Namespace: w.Namespace, Name: w.Name}
		ws.ObservedGeneration, ws.Replicas = w.Status.ObservedGeneration, w.Spec.Replicas
		ws.ReadyReplicas, ws.AvailableReplicas, ws.UpdatedReplicas = w.Status.ReadyReplicas, w.Status.AvailableReplicas, w.Status.UpdatedReplicas
		ws.Revision, _ = strconv.ParseInt(w.Annotations["deployment.kubernetes.io/revision"], 10, 64)
		ws.RolloutInProgress = deploymentRollingOut(w)
		for _, c := range w.Status.Conditions {
			ws.Conditions = append(ws.Conditions, observed(string(c.Type), string(c.Status), c.Reason, c.Message, &c.LastTransitionTime))
		}
		sel, b.podSpec = w.Spec.Selector, &w.Spec.Template
	case *appsv1.StatefulSet:
		ws.Target = kubernautv1.Target{Kind: kubernautv1.TargetKindStatefulSet, Namespace: w.Namespace, Name: w.Name}
		ws.ObservedGeneration, ws.Replicas = w.Status.ObservedGeneration, w.Spec.Replicas
		ws.ReadyReplicas, ws.AvailableReplicas, ws.UpdatedReplicas = w.Status.ReadyReplicas, w.Status.AvailableReplicas, w.Status.UpdatedReplicas
		ws.RolloutInProgress = w.Status.ObservedGeneration < w.Generation || w.Status.UpdateRevision != w.Status.CurrentRevision
		sel, b.podSpec = w.Spec.Selector, &w.Spec.Template
	case *appsv1.DaemonSet:
		ws.Target = kubernautv1.Target{Kind: kubernautv1.TargetKindDaemonSet, Namespace: w.Namespace, Name: w.Name}
		desired := w.Status.DesiredNumberScheduled
		ws.ObservedGeneration, ws.Replicas = w.Status.ObservedGeneration, &desired
		ws.ReadyReplicas, ws.AvailableReplicas, ws.UpdatedReplicas = w.Status.NumberReady, w.Status.NumberAvailable, w.Status.UpdatedNumberScheduled
		ws.RolloutInProgress = w.Status.ObservedGeneration < w.Generation || w.Status.UpdatedNumberScheduled < desired || w.Status.NumberAvailable < desired
		sel, b.podSpec = w.Spec.Selector, &w.Spec.Template
	case *appsv1.ReplicaSet:
		ws.Target = kubernautv1.Target{Kind: kubernautv1.TargetKindReplicaSet, Namespace: w.Namespace, Name: w.Name}
		ws.ObservedGeneration, ws.Replicas = w.Status.ObservedGeneration, w.Spec.Replicas
		ws.ReadyReplicas, ws.AvailableReplicas = w.Status.ReadyReplicas, w.Status.AvailableReplicas
		sel, b.podSpec = w.Spec.Selector, &w.Spec.Template
	case *batchv1.Job:
		ws.Target = kubernautv1.Target{Kind: kubernautv1.TargetKindJob, Namespace: w.Namespace, Name: w.Name}
		for _, c := range w.Status.Conditions {
			ws.Conditions = append(ws.Conditions, observed(string(c.Type), string(c.Status), c.Reason, c.Message, &c.LastTransitionTime))
		}
		sel, b.podSpec = w.Spec.Selector, &w.Spec.Template
	}
	if len(ws.Conditions) > 10 {
		ws.Conditions = ws.Conditions[:10]
	}
	if b.podSpec != nil {
		for _, c := range b.podSpec.Spec.Containers {
			if len(ws.Containers) == 20 {
				break
			}
			ws.Containers = append(ws.Containers, containerSummary(c))
		}
	}
	if sel != nil {
		if s, err := metav1.LabelSelectorAsSelector(sel); err == nil {
			b.sel = s
		}
	}
	b.out.Workload = ws
}

// deploymentRollingOut applies `kubectl rollout status`'s rules (REFERENCE §5.6).
func deploymentRollingOut(d *appsv1.Deployment) bool {
	if d.Generation > d.Status.ObservedGeneration {
		return true
	}
	replicas := int32(1)
	if d.Spec.Replicas != nil {
		replicas = *d.Spec.Replicas
	}
	return d.Status.UpdatedReplicas < replicas || d.Status.Replicas > d.Status.UpdatedReplicas || d.Status.AvailableReplicas < d.Status.UpdatedReplicas
}

func containerSummary(c corev1.Container) kubernautv1.ContainerSpecSummary {
	s := kubernautv1.ContainerSpecSummary{Name: c.Name, Image: kubernautv1.Truncate(c.Image, 512)}
	if q, ok := c.Resources.Requests[corev1.ResourceMemory]; ok {
		s.MemoryRequest = &q
	}
	if q, ok := c.Resources.Limits[corev1.ResourceMemory]; ok {
		s.MemoryLimit = &q
	}
	if q, ok := c.Resources.Requests[corev1.ResourceCPU]; ok {
		s.CPURequest = &q
	}
	if q, ok := c.Resources.Limits[corev1.ResourceCPU]; ok {
		s.CPULimit = &q
	}
	return s
}

// node records the node of the target (or of the first failing pod).
func (b *enrichment) node(ctx context.Context) {
	n := b.nodeObj
	if n == nil {
		name := ""
		if b.pod != nil {
			name = b.pod.Spec.NodeName
		}
		for _, p := range b.out.Pods {
			if name == "" && !p.Ready {
				name = p.NodeName
			}
		}
		if name == "" {
			return
		}
		n = &corev1.Node{}
		if err := b.get(ctx, client.ObjectKey{Name: name}, n); err != nil {
			b.fail("node", fmt.Errorf("reading node %s: %w", name, err))
			return
		}
	}
	ns := &kubernautv1.NodeState{Name: n.Name, Unschedulable: n.Spec.Unschedulable}
	for _, c := range n.Status.Conditions {
		if len(ns.Conditions) < 16 {
			ns.Conditions = append(ns.Conditions, observed(string(c.Type), string(c.Status), c.Reason, c.Message, &c.LastTransitionTime))
		}
	}
	for _, t := range n.Spec.Taints {
		if len(ns.Taints) < 16 {
			ns.Taints = append(ns.Taints, kubernautv1.Truncate(fmt.Sprintf("%s=%s:%s", t.Key, t.Value, t.Effect), 512))
		}
	}
	b.out.Node = ns
}

func observed(typ, status, reason, message string, at *metav1.Time) kubernautv1.ObservedCondition {
	c := kubernautv1.ObservedCondition{Type: kubernautv1.Truncate(typ, 128), Status: kubernautv1.Truncate(status, 16), Reason: kubernautv1.Truncate(reason, 128), Message: kubernautv1.Truncate(message, 512)}
	if at != nil && !at.IsZero() {
		t := *at
		c.LastTransitionTime = &t
	}
	return c
}
