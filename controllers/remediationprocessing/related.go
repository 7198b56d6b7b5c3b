package remediationprocessing

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

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
			ChangeCause: kubernautv1.Truncate(rs.Annotations["kubernetes.io/change-cause"], 512)}
		if rs.Spec.Replicas != nil {
			r.Replicas = *rs.Spec.Replicas
		}
		for _, c := range rs.Spec.Template.Spec.Containers {
			if len(r.Images) < 20 {
				r.Images = append(r.Images, kubernautv1.Truncate(c.Image, 512))
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
		b.out.GitOps = &kubernautv1.GitOpsOwnership{Tool: kubernautv1.GitOpsArgoCD, Owner: kubernautv1.Truncate(app, 512)}
	case l["argocd.argoproj.io/instance"] != "":
		b.out.GitOps = &kubernautv1.GitOpsOwnership{Tool: kubernautv1.GitOpsArgoCD, Owner: kubernautv1.Truncate(l["argocd.argoproj.io/instance"], 512)}
	case l["kustomize.toolkit.fluxcd.io/name"] != "":
		b.out.GitOps = &kubernautv1.GitOpsOwnership{Tool: kubernautv1.GitOpsFlux,
			Owner: kubernautv1.Truncate(l["kustomize.toolkit.fluxcd.io/namespace"]+"/"+l["kustomize.toolkit.fluxcd.io/name"], 512)}
	case l["helm.toolkit.fluxcd.io/name"] != "":
		b.out.GitOps = &kubernautv1.GitOpsOwnership{Tool: kubernautv1.GitOpsFlux,
			Owner: kubernautv1.Truncate(l["helm.toolkit.fluxcd.io/namespace"]+"/"+l["helm.toolkit.fluxcd.io/name"], 512)}
	}
}
