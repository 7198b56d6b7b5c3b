package remediationprocessing

import (
	"context"
	"fmt"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// maxBackends bounds the workloads recorded behind a Service.
const maxBackends = 10

// serviceSelector is the pod selector of a Service target with one, else nil.
func (b *enrichment) serviceSelector() labels.Selector {
	if b.svc == nil || len(b.svc.Spec.Selector) == 0 {
		return nil
	}
	return labels.SelectorFromSet(b.svc.Spec.Selector)
}

// backends records the workloads behind a Service target: those whose pod template its
// selector selects — the same rule the restart_service action applies when it acts.
func (b *enrichment) backends(ctx context.Context) {
	sel := b.serviceSelector()
	if sel == nil {
		return
	}
	ns := b.svc.Namespace
	var out []kubernautv1.BackendState
	var ds appsv1.DeploymentList
	var ss appsv1.StatefulSetList
	var dss appsv1.DaemonSetList
	for _, l := range []client.ObjectList{&ds, &ss, &dss} {
		if err := b.list(ctx, l, client.InNamespace(ns)); err != nil {
			b.fail("backends", fmt.Errorf("listing the workloads behind Service %s/%s: %w", ns, b.svc.Name, err))
			return
		}
	}
	add := func(kind kubernautv1.TargetKind, name string, template map[string]string, s kubernautv1.BackendState) {
		if sel.Matches(labels.Set(template)) {
			s.Target = kubernautv1.Target{Kind: kind, Namespace: ns, Name: name}
			out = append(out, s)
		}
	}
	for i := range ds.Items {
		d := &ds.Items[i]
		replicas := ptr.Deref(d.Spec.Replicas, 1)
		add(kubernautv1.TargetKindDeployment, d.Name, d.Spec.Template.Labels, kubernautv1.BackendState{Replicas: replicas, ReadyReplicas: d.Status.ReadyReplicas,
			RolloutInProgress: d.Generation > d.Status.ObservedGeneration || d.Status.UpdatedReplicas < replicas || d.Status.Replicas > d.Status.UpdatedReplicas})
	}
	for i := range ss.Items {
		s := &ss.Items[i]
		add(kubernautv1.TargetKindStatefulSet, s.Name, s.Spec.Template.Labels, kubernautv1.BackendState{Replicas: ptr.Deref(s.Spec.Replicas, 1), ReadyReplicas: s.Status.ReadyReplicas,
			RolloutInProgress: s.Generation > s.Status.ObservedGeneration || s.Status.UpdateRevision != s.Status.CurrentRevision})
	}
	for i := range dss.Items {
		d := &dss.Items[i]
		add(kubernautv1.TargetKindDaemonSet, d.Name, d.Spec.Template.Labels, kubernautv1.BackendState{Replicas: d.Status.DesiredNumberScheduled, ReadyReplicas: d.Status.NumberReady,
			RolloutInProgress: d.Generation > d.Status.ObservedGeneration || d.Status.UpdatedNumberScheduled < d.Status.DesiredNumberScheduled})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Target.String() < out[j].Target.String() })
	if len(out) > maxBackends {
		b.fail("backends", fmt.Errorf("Service %s/%s selects %d workloads; the first %d are recorded", ns, b.svc.Name, len(out), maxBackends))
		out = out[:maxBackends]
	}
	b.out.Backends = out
}

// servicePods lists the pods a Service target's selector selects.
func (b *enrichment) servicePods(ctx context.Context, sel labels.Selector) []corev1.Pod {
	var list corev1.PodList
	if err := b.list(ctx, &list, client.InNamespace(b.svc.Namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
		b.fail("pods", fmt.Errorf("listing the pods behind Service %s/%s: %w", b.svc.Namespace, b.svc.Name, err))
		return nil
	}
	return list.Items
}
