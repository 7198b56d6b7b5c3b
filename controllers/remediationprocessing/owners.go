package remediationprocessing

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/terminal"
)

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
		return terminal.Errorf("target kind %s cannot be enriched", t.Kind)
	}
	if err := b.get(ctx, key, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return terminal.Errorf("target %s does not exist: %w", t, err)
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
		case *corev1.Service:
			b.svc = o
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
