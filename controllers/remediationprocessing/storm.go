package remediationprocessing

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// Subject is what to enrich for a remediation of target: target itself, except for a storm
// (a namespace target with members) whose members all belong to one workload — the pods of
// one Deployment crash-looping together — which is about that workload, so that the analysis
// sees it (DESIGN: a storm for one owner workload is asked once). Two metadata lists answer
// it (the namespace's pods and ReplicaSets), however many members. A member whose pod is gone is
// left out; a member of another workload, or of a kind that is not a pod or a workload, keeps
// the namespace.
func (e *Enricher) Subject(ctx context.Context, target kubernautv1.Target, members []kubernautv1.MemberTarget) (kubernautv1.Target, error) {
	if target.Kind != kubernautv1.TargetKindNamespace || len(members) == 0 {
		return target, nil
	}
	ns := target.Name
	b := &enrichment{e: e}
	// Metadata only: the owner references are all this needs, and a namespace may hold
	// thousands of pods.
	pods, sets := &metav1.PartialObjectMetadataList{}, &metav1.PartialObjectMetadataList{}
	pods.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("PodList"))
	sets.SetGroupVersionKind(appsv1.SchemeGroupVersion.WithKind("ReplicaSetList"))
	for _, l := range []client.ObjectList{pods, sets} {
		if err := b.list(ctx, l, client.InNamespace(ns)); err != nil {
			return target, fmt.Errorf("reading the workloads of the storm in namespace %s: %w", ns, err)
		}
	}
	podOwner := map[string]*metav1.OwnerReference{}
	for i := range pods.Items {
		podOwner[pods.Items[i].Name] = metav1.GetControllerOf(&pods.Items[i])
	}
	setOwner := map[string]*metav1.OwnerReference{}
	for i := range sets.Items {
		setOwner[sets.Items[i].Name] = metav1.GetControllerOf(&sets.Items[i])
	}
	var common *kubernautv1.Target
	for _, m := range members {
		var w kubernautv1.Target
		switch m.Target.Kind {
		case kubernautv1.TargetKindDeployment, kubernautv1.TargetKindStatefulSet, kubernautv1.TargetKindDaemonSet:
			w = m.Target
		case kubernautv1.TargetKindPod:
			owner, found := podOwner[m.Target.Name]
			switch {
			case !found:
				continue // gone since the alert
			case owner == nil:
				return target, nil
			case owner.Kind == "ReplicaSet" && setOwner[owner.Name] != nil && setOwner[owner.Name].Kind == "Deployment":
				w = kubernautv1.Target{Kind: kubernautv1.TargetKindDeployment, Namespace: ns, Name: setOwner[owner.Name].Name}
			default:
				_, kind := workloadObject(owner.Kind)
				if kind == "" {
					return target, nil
				}
				w = kubernautv1.Target{Kind: kind, Namespace: ns, Name: owner.Name}
			}
		default:
			return target, nil
		}
		if m.Target.Namespace != ns || (common != nil && *common != w) {
			return target, nil
		}
		common = &w
	}
	if common == nil {
		return target, nil
	}
	return *common, nil
}
