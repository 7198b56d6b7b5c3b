package remediationprocessing

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// Bounds of what enrichment keeps.
const (
	maxPods       = 50
	maxEvents     = 50
	maxLogs       = 3
	maxLogBytes   = 8192
	logTailLines  = 100
	maxRollouts   = 10
	maxConfigMaps = 20
	maxMessage    = 1024
)

// ErrTargetNotFound: the signal's target does not exist.
var ErrTargetNotFound = errors.New("target not found")

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
}

// Enrich gathers the context of target. It fails only when the target itself cannot be read
// (ErrTargetNotFound, or the API server's error).
func (e *Enricher) Enrich(ctx context.Context, target kubernautv1.Target) (*kubernautv1.Enrichment, error) {
	b := &enrichment{e: e, out: &kubernautv1.Enrichment{}, target: target}
	if err := b.resolve(ctx); err != nil {
		return nil, err
	}
	b.workload()
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
	b.out.FailedDetections = append(b.out.FailedDetections, kubernautv1.FailedDetection{Detection: detection, Error: trunc(err.Error(), maxMessage)})
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

// resolve reads the target and walks its controller owners up to the workload.
func (b *enrichment) resolve(ctx context.Context) error {
	t := b.target
	key := client.ObjectKey{Namespace: t.Namespace, Name: t.Name}
	var obj client.Object
	switch t.Kind {
	case kubernautv1.TargetKindPod:
		obj = &corev1.Pod{}
	case kubernautv1.TargetKindDeployment:
		obj = &appsv1.Deployment{}
	case kubernautv1.TargetKindStatefulSet:
		obj = &appsv1.StatefulSet{}
	case kubernautv1.TargetKindDaemonSet:
		obj = &appsv1.DaemonSet{}
	case kubernautv1.TargetKindReplicaSet:
		obj = &appsv1.ReplicaSet{}
	case kubernautv1.TargetKindJob:
		obj = &batchv1.Job{}
	case kubernautv1.TargetKindHorizontalPodAutoscaler:
		obj = &autoscalingv2.HorizontalPodAutoscaler{}
	case kubernautv1.TargetKindPersistentVolumeClaim:
		obj = &corev1.PersistentVolumeClaim{}
	case kubernautv1.TargetKindService:
		obj = &corev1.Service{}
	case kubernautv1.TargetKindConfigMap:
		obj = &corev1.ConfigMap{}
	case kubernautv1.TargetKindNode:
		obj = &corev1.Node{}
	case kubernautv1.TargetKindNamespace:
		obj = &corev1.Namespace{}
	default:
		return fmt.Errorf("target kind %s cannot be enriched", t.Kind)
	}
	if err := b.get(ctx, key, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return fmt.Errorf("%w: %s", ErrTargetNotFound, t)
		}
		return fmt.Errorf("reading target %s: %w", t, err)
	}
	b.out.OwnerChain = []kubernautv1.Target{t}
	for depth := 0; depth < 6; depth++ {
		switch o := obj.(type) {
		case *corev1.Pod:
			b.pod = o
		case *corev1.Node:
			b.nodeObj = o
		case *autoscalingv2.HorizontalPodAutoscaler:
			// An HPA points at the workload it scales.
			ref := o.Spec.ScaleTargetRef
			next, kind := workloadObject(ref.Kind)
			if next == nil {
				return nil
			}
			if err := b.get(ctx, client.ObjectKey{Namespace: o.Namespace, Name: ref.Name}, next); err != nil {
				b.fail("owner", fmt.Errorf("reading %s %s/%s scaled by the HPA: %w", ref.Kind, o.Namespace, ref.Name, err))
				return nil
			}
			b.out.OwnerChain = append(b.out.OwnerChain, kubernautv1.Target{Kind: kind, Namespace: o.Namespace, Name: ref.Name})
			obj = next
			continue
		case *appsv1.Deployment, *appsv1.StatefulSet, *appsv1.DaemonSet:
			b.wl = o
			return nil
		}
		owner := metav1.GetControllerOf(obj)
		if owner == nil {
			if b.pod == nil && b.wl == nil {
				switch obj.(type) {
				case *appsv1.ReplicaSet, *batchv1.Job:
					b.wl = obj
				}
			}
			return nil
		}
		next, kind := workloadObject(owner.Kind)
		if next == nil {
			return nil
		}
		if err := b.get(ctx, client.ObjectKey{Namespace: obj.GetNamespace(), Name: owner.Name}, next); err != nil {
			b.fail("owner", fmt.Errorf("reading owner %s %s/%s: %w", owner.Kind, obj.GetNamespace(), owner.Name, err))
			return nil
		}
		b.out.OwnerChain = append(b.out.OwnerChain, kubernautv1.Target{Kind: kind, Namespace: obj.GetNamespace(), Name: owner.Name})
		obj = next
		if _, isJob := next.(*batchv1.Job); isJob {
			b.wl = next
			return nil
		}
	}
	return nil
}

// workloadObject returns an empty object of an owner kind Kubernaut follows.
func workloadObject(kind string) (client.Object, kubernautv1.TargetKind) {
	switch kind {
	case "ReplicaSet":
		return &appsv1.ReplicaSet{}, kubernautv1.TargetKindReplicaSet
	case "Deployment":
		return &appsv1.Deployment{}, kubernautv1.TargetKindDeployment
	case "StatefulSet":
		return &appsv1.StatefulSet{}, kubernautv1.TargetKindStatefulSet
	case "DaemonSet":
		return &appsv1.DaemonSet{}, kubernautv1.TargetKindDaemonSet
	case "Job":
		return &batchv1.Job{}, kubernautv1.TargetKindJob
	}
	return nil, ""
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
			annotations[k] = trunc(v, 1024)
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
	s := kubernautv1.ContainerSpecSummary{Name: c.Name, Image: trunc(c.Image, 512)}
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

// pods records the workload's pods (or the target pod, or the node's pods).
func (b *enrichment) pods(ctx context.Context) {
	var pods []corev1.Pod
	switch {
	case b.sel != nil:
		var list corev1.PodList
		if err := b.list(ctx, &list, client.InNamespace(b.wl.GetNamespace()), client.MatchingLabelsSelector{Selector: b.sel}); err != nil {
			b.fail("pods", fmt.Errorf("listing the pods of %s: %w", b.out.Workload.Target, err))
		} else {
			pods = list.Items
		}
	case b.nodeObj != nil:
		var list corev1.PodList
		if err := b.list(ctx, &list, client.MatchingFieldsSelector{Selector: fields.OneTermEqualSelector("spec.nodeName", b.nodeObj.Name)}); err != nil {
			b.fail("pods", fmt.Errorf("listing the pods of node %s: %w", b.nodeObj.Name, err))
		} else {
			pods = list.Items
		}
	}
	if b.pod != nil {
		found := false
		for _, p := range pods {
			found = found || p.Name == b.pod.Name
		}
		if !found {
			pods = append([]corev1.Pod{*b.pod}, pods...)
		}
	}
	// The target pod and the failing pods first, so the bound keeps them.
	sort.SliceStable(pods, func(i, j int) bool { return podRank(b.pod, &pods[i]) < podRank(b.pod, &pods[j]) })
	for i := range pods {
		if len(b.out.Pods) == maxPods {
			break
		}
		b.out.Pods = append(b.out.Pods, podState(&pods[i]))
	}
}

func podRank(target, p *corev1.Pod) int {
	switch {
	case target != nil && p.Name == target.Name:
		return 0
	case !podReady(p):
		return 1
	}
	return 2
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func podState(p *corev1.Pod) kubernautv1.PodState {
	s := kubernautv1.PodState{Name: p.Name, Phase: string(p.Status.Phase), Ready: podReady(p), NodeName: p.Spec.NodeName, Reason: p.Status.Reason}
	if p.Status.StartTime != nil {
		t := *p.Status.StartTime
		s.StartedAt = &t
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && s.Reason == "" {
			s.Reason = c.Reason
		}
	}
	for _, cs := range p.Status.ContainerStatuses {
		if len(s.Containers) == 20 {
			break
		}
		c := kubernautv1.ContainerState{Name: cs.Name, Ready: cs.Ready, RestartCount: cs.RestartCount, State: "Unknown"}
		switch {
		case cs.State.Running != nil:
			c.State = "Running"
		case cs.State.Waiting != nil:
			c.State, c.Reason = "Waiting", cs.State.Waiting.Reason
		case cs.State.Terminated != nil:
			c.State, c.Reason = "Terminated", cs.State.Terminated.Reason
		}
		if t := cs.LastTerminationState.Terminated; t != nil {
			c.LastTerminationReason = t.Reason
			code := t.ExitCode
			c.LastTerminationExitCode = &code
			if !t.FinishedAt.IsZero() {
				f := t.FinishedAt
				c.LastTerminatedAt = &f
			}
		}
		s.Containers = append(s.Containers, c)
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
			ns.Taints = append(ns.Taints, trunc(fmt.Sprintf("%s=%s:%s", t.Key, t.Value, t.Effect), 512))
		}
	}
	b.out.Node = ns
}

// events records recent Warning events about the target, its workload and failing pods.
func (b *enrichment) events(ctx context.Context) {
	type ref struct{ ns, kind, name string }
	refs := []ref{{b.target.Namespace, string(b.target.Kind), b.target.Name}}
	if w := b.out.Workload; w != nil {
		refs = append(refs, ref{w.Target.Namespace, string(w.Target.Kind), w.Target.Name})
	}
	for _, p := range b.out.Pods {
		if !p.Ready && len(refs) < 8 && (b.pod == nil || p.Name != b.pod.Name) {
			refs = append(refs, ref{b.target.Namespace, "Pod", p.Name})
		}
	}
	var all []corev1.Event
	for _, r := range refs {
		var list corev1.EventList
		sel := fields.AndSelectors(
			fields.OneTermEqualSelector("involvedObject.name", r.name),
			fields.OneTermEqualSelector("involvedObject.kind", r.kind),
			fields.OneTermEqualSelector("type", corev1.EventTypeWarning))
		opts := []client.ListOption{client.MatchingFieldsSelector{Selector: sel}}
		if r.ns != "" {
			opts = append(opts, client.InNamespace(r.ns))
		}
		if err := b.list(ctx, &list, opts...); err != nil {
			b.fail("events", fmt.Errorf("listing events of %s %s: %w", r.kind, r.name, err))
			continue
		}
		all = append(all, list.Items...)
	}
	sort.SliceStable(all, func(i, j int) bool { return eventTime(&all[i]).After(eventTime(&all[j])) })
	for i := range all {
		if len(b.out.Events) == maxEvents {
			break
		}
		ev := &all[i]
		msg, _ := Redact(ev.Message)
		t := metav1.NewTime(eventTime(ev))
		count := ev.Count
		if ev.Series != nil {
			count = ev.Series.Count
		}
		b.out.Events = append(b.out.Events, kubernautv1.EventSummary{
			Type: ev.Type, Reason: trunc(ev.Reason, 128), Message: trunc(msg, maxMessage),
			Object: trunc(ev.InvolvedObject.Kind+"/"+ev.InvolvedObject.Name, 320), Count: count, LastSeen: &t,
		})
	}
}

func eventTime(ev *corev1.Event) time.Time {
	switch {
	case ev.Series != nil:
		return ev.Series.LastObservedTime.Time
	case !ev.LastTimestamp.IsZero():
		return ev.LastTimestamp.Time
	case !ev.EventTime.IsZero():
		return ev.EventTime.Time
	}
	return ev.CreationTimestamp.Time
}

// logs records the log tails of failing containers (the previous instance when restarted).
func (b *enrichment) logs(ctx context.Context) {
	for _, p := range b.out.Pods {
		for _, c := range p.Containers {
			if len(b.out.Logs) == maxLogs {
				return
			}
			if c.Ready && c.RestartCount == 0 {
				continue
			}
			if b.e.Logs == nil {
				b.fail("logs", errors.New("no log reader configured"))
				return
			}
			previous := c.RestartCount > 0
			lctx, cancel := context.WithTimeout(ctx, b.e.LookupTimeout)
			text, err := b.e.Logs.TailLog(lctx, b.target.Namespace, p.Name, c.Name, previous, logTailLines)
			cancel()
			if err != nil {
				b.fail("logs", fmt.Errorf("reading the log of %s/%s: %w", p.Name, c.Name, err))
				continue
			}
			if len(text) > maxLogBytes {
				text = text[len(text)-maxLogBytes:]
			}
			text, n := Redact(text)
			b.out.Logs = append(b.out.Logs, kubernautv1.LogTail{Pod: p.Name, Container: c.Name, Previous: previous,
				Text: trunc(text, maxLogBytes), Redactions: int32(n)})
		}
	}
}

// hpa records the HorizontalPodAutoscaler that scales the workload.
func (b *enrichment) hpa(ctx context.Context) {
	w := b.out.Workload
	if w == nil {
		return
	}
	var list autoscalingv2.HorizontalPodAutoscalerList
	if err := b.list(ctx, &list, client.InNamespace(w.Target.Namespace)); err != nil {
		b.fail("hpa", fmt.Errorf("listing HorizontalPodAutoscalers in %s: %w", w.Target.Namespace, err))
		return
	}
	for _, h := range list.Items {
		if h.Spec.ScaleTargetRef.Kind != string(w.Target.Kind) || h.Spec.ScaleTargetRef.Name != w.Target.Name {
			continue
		}
		hs := &kubernautv1.HPAState{Name: h.Name, MinReplicas: h.Spec.MinReplicas, MaxReplicas: h.Spec.MaxReplicas,
			CurrentReplicas: h.Status.CurrentReplicas, DesiredReplicas: h.Status.DesiredReplicas}
		for _, c := range h.Status.Conditions {
			if len(hs.Conditions) < 8 {
				hs.Conditions = append(hs.Conditions, observed(string(c.Type), string(c.Status), c.Reason, c.Message, &c.LastTransitionTime))
			}
		}
		b.out.HPA = hs
		return
	}
}

// pdbs records the PodDisruptionBudgets that select the workload's pods.
func (b *enrichment) pdbs(ctx context.Context) {
	if b.podSpec == nil {
		return
	}
	var list policyv1.PodDisruptionBudgetList
	if err := b.list(ctx, &list, client.InNamespace(b.wl.GetNamespace())); err != nil {
		b.fail("pdb", fmt.Errorf("listing PodDisruptionBudgets in %s: %w", b.wl.GetNamespace(), err))
		return
	}
	podLabels := labels.Set(b.podSpec.Labels)
	for _, p := range list.Items {
		sel, err := metav1.LabelSelectorAsSelector(p.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(podLabels) || len(b.out.PodDisruptionBudgets) == 10 {
			continue
		}
		b.out.PodDisruptionBudgets = append(b.out.PodDisruptionBudgets, kubernautv1.PDBState{Name: p.Name,
			DisruptionsAllowed: p.Status.DisruptionsAllowed, CurrentHealthy: p.Status.CurrentHealthy, DesiredHealthy: p.Status.DesiredHealthy})
	}
}

// rollouts records a Deployment's revisions, newest first.
func (b *enrichment) rollouts(ctx context.Context) {
	d, ok := b.wl.(*appsv1.Deployment)
	if !ok || b.sel == nil {
		return
	}
	var list appsv1.ReplicaSetList
	if err := b.list(ctx, &list, client.InNamespace(d.Namespace), client.MatchingLabelsSelector{Selector: b.sel}); err != nil {
		b.fail("rollouts", fmt.Errorf("listing the ReplicaSets of Deployment %s/%s: %w", d.Namespace, d.Name, err))
		return
	}
	var revs []kubernautv1.RolloutRevision
	for _, rs := range list.Items {
		if !metav1.IsControlledBy(&rs, d) {
			continue
		}
		rev, _ := strconv.ParseInt(rs.Annotations["deployment.kubernetes.io/revision"], 10, 64)
		created := rs.CreationTimestamp
		r := kubernautv1.RolloutRevision{Revision: rev, Name: rs.Name, CreatedAt: &created,
			ChangeCause: trunc(rs.Annotations["kubernetes.io/change-cause"], 512)}
		if rs.Spec.Replicas != nil {
			r.Replicas = *rs.Spec.Replicas
		}
		for _, c := range rs.Spec.Template.Spec.Containers {
			if len(r.Images) < 20 {
				r.Images = append(r.Images, trunc(c.Image, 512))
			}
		}
		revs = append(revs, r)
	}
	sort.Slice(revs, func(i, j int) bool { return revs[i].Revision > revs[j].Revision })
	if len(revs) > maxRollouts {
		revs = revs[:maxRollouts]
	}
	b.out.Rollouts = revs
}

// configMaps records the ConfigMaps the pod template uses and when they last changed.
func (b *enrichment) configMaps(ctx context.Context) {
	if b.podSpec == nil {
		return
	}
	names := map[string]bool{}
	var order []string
	add := func(n string) {
		if n != "" && !names[n] {
			names[n] = true
			order = append(order, n)
		}
	}
	for _, v := range b.podSpec.Spec.Volumes {
		if v.ConfigMap != nil {
			add(v.ConfigMap.Name)
		}
		if v.Projected != nil {
			for _, s := range v.Projected.Sources {
				if s.ConfigMap != nil {
					add(s.ConfigMap.Name)
				}
			}
		}
	}
	for _, c := range append(append([]corev1.Container{}, b.podSpec.Spec.InitContainers...), b.podSpec.Spec.Containers...) {
		for _, ef := range c.EnvFrom {
			if ef.ConfigMapRef != nil {
				add(ef.ConfigMapRef.Name)
			}
		}
		for _, e := range c.Env {
			if e.ValueFrom != nil && e.ValueFrom.ConfigMapKeyRef != nil {
				add(e.ValueFrom.ConfigMapKeyRef.Name)
			}
		}
	}
	for _, n := range order {
		if len(b.out.ConfigMaps) == maxConfigMaps {
			return
		}
		var cm corev1.ConfigMap
		if err := b.get(ctx, client.ObjectKey{Namespace: b.wl.GetNamespace(), Name: n}, &cm); err != nil {
			b.fail("configmaps", fmt.Errorf("reading ConfigMap %s/%s: %w", b.wl.GetNamespace(), n, err))
			continue
		}
		s := kubernautv1.ConfigMapState{Name: n, ResourceVersion: cm.ResourceVersion}
		for _, mf := range cm.ManagedFields {
			if mf.Time != nil && (s.LastUpdated == nil || mf.Time.After(s.LastUpdated.Time)) {
				t := *mf.Time
				s.LastUpdated = &t
			}
		}
		b.out.ConfigMaps = append(b.out.ConfigMaps, s)
	}
}

// gitOps records Argo CD or Flux ownership from the workload's labels and annotations.
func (b *enrichment) gitOps() {
	if b.wl == nil {
		return
	}
	l, a := b.wl.GetLabels(), b.wl.GetAnnotations()
	switch {
	case a["argocd.argoproj.io/tracking-id"] != "":
		app, _, _ := strings.Cut(a["argocd.argoproj.io/tracking-id"], ":")
		b.out.GitOps = &kubernautv1.GitOpsOwnership{Tool: kubernautv1.GitOpsArgoCD, Owner: trunc(app, 512)}
	case l["argocd.argoproj.io/instance"] != "":
		b.out.GitOps = &kubernautv1.GitOpsOwnership{Tool: kubernautv1.GitOpsArgoCD, Owner: trunc(l["argocd.argoproj.io/instance"], 512)}
	case l["kustomize.toolkit.fluxcd.io/name"] != "":
		b.out.GitOps = &kubernautv1.GitOpsOwnership{Tool: kubernautv1.GitOpsFlux,
			Owner: trunc(l["kustomize.toolkit.fluxcd.io/namespace"]+"/"+l["kustomize.toolkit.fluxcd.io/name"], 512)}
	case l["helm.toolkit.fluxcd.io/name"] != "":
		b.out.GitOps = &kubernautv1.GitOpsOwnership{Tool: kubernautv1.GitOpsFlux,
			Owner: trunc(l["helm.toolkit.fluxcd.io/namespace"]+"/"+l["helm.toolkit.fluxcd.io/name"], 512)}
	}
}

func observed(typ, status, reason, message string, at *metav1.Time) kubernautv1.ObservedCondition {
	c := kubernautv1.ObservedCondition{Type: trunc(typ, 128), Status: trunc(status, 16), Reason: trunc(reason, 128), Message: trunc(message, 512)}
	if at != nil && !at.IsZero() {
		t := *at
		c.LastTransitionTime = &t
	}
	return c
}

// trunc cuts s to at most n bytes on a rune boundary.
func trunc(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - len("…")
	for cut > 0 && s[cut]&0xC0 == 0x80 {
		cut--
	}
	return s[:cut] + "…"
}
