package actions

import (
	"context"
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// Comparison is what became of an observed step's target since its pre-state was captured
// (shadow mode: the plan was not run; did a person do something?).
type Comparison struct {
	// Changed reports that the fields the action touches are no longer as captured.
	Changed bool
	// Same reports, when Changed, that they now are as the action would have left them: a
	// person made the change the plan proposed (a restart for a restart; the same rollback,
	// replica count, data or bounds; a memory limit raised).
	Same bool
	// Message says what was found.
	Message string
}

// Compare tells what became of step's target since pre was captured, reading only. ok is
// false for actions whose effect leaves nothing to compare (clear_cache, custom_script).
func Compare(ctx context.Context, env Env, step kubernautv1.ActionStep, pre *kubernautv1.PreState) (c Comparison, ok bool, err error) {
	if pre == nil {
		return Comparison{}, false, nil
	}
	t := step.Target
	p := params(step)
	switch step.Action {
	case kubernautv1.ActionRollbackDeployment:
		d := &appsv1.Deployment{}
		if err := get(ctx, env, t, d); err != nil {
			return c, true, err
		}
		same, err := runsTemplateOf(ctx, env, t, d, pre.TargetReplicaSet)
		if err != nil {
			return c, true, err
		}
		if same {
			return Comparison{Changed: true, Same: true, Message: fmt.Sprintf("%s runs the template of ReplicaSet %s, the one the plan rolled back to", t, pre.TargetReplicaSet)}, true, nil
		}
		was, err := runsTemplateOf(ctx, env, t, d, pre.ReplicaSet)
		if err != nil {
			return c, true, err
		}
		if was {
			return Comparison{Message: fmt.Sprintf("%s still runs the template of ReplicaSet %s", t, pre.ReplicaSet)}, true, nil
		}
		return Comparison{Changed: true, Message: fmt.Sprintf("%s runs another template than ReplicaSet %s (before) or %s (the plan's)", t, pre.ReplicaSet, pre.TargetReplicaSet)}, true, nil
	case kubernautv1.ActionScaleDeployment:
		_, scale, err := readScale(ctx, env, t)
		if err != nil || pre.Replicas == nil || p.ScaleDeployment == nil {
			return c, err == nil && pre.Replicas != nil, err
		}
		now, want := scale.Spec.Replicas, p.ScaleDeployment.Replicas
		return Comparison{Changed: now != *pre.Replicas, Same: now == want,
			Message: fmt.Sprintf("%s has %d replicas (before %d; the plan's %d)", t, now, *pre.Replicas, want)}, true, nil
	case kubernautv1.ActionRestartDeployment, kubernautv1.ActionRestartService:
		if step.Action == kubernautv1.ActionRestartService {
			return Comparison{}, false, nil // several workloads: only their restart would tell
		}
		obj, err := getWorkload(ctx, env, t)
		if err != nil {
			return c, true, err
		}
		now := podTemplate(obj).Annotations[RestartedAtAnnotation]
		if now != pre.RestartedAt {
			return Comparison{Changed: true, Same: true, Message: fmt.Sprintf("%s was restarted (restartedAt %s)", t, now)}, true, nil
		}
		return Comparison{Message: fmt.Sprintf("%s was not restarted", t)}, true, nil
	case kubernautv1.ActionIncreaseMemoryLimit:
		obj, err := getWorkload(ctx, env, t)
		if err != nil {
			return c, true, err
		}
		raisedAll, changed := true, false
		for _, ctr := range podTemplate(obj).Spec.Containers {
			was, ok := pre.MemoryLimits[ctr.Name]
			if !ok {
				continue
			}
			now := ctr.Resources.Limits[corev1.ResourceMemory]
			changed = changed || now.Cmp(was) != 0
			raisedAll = raisedAll && now.Cmp(was) > 0
		}
		return Comparison{Changed: changed, Same: changed && raisedAll, Message: fmt.Sprintf("%s's memory limits: %v (before %v)", t, limitsOf(podTemplate(obj)), pre.MemoryLimits)}, true, nil
	case kubernautv1.ActionUpdateConfig:
		cm := &corev1.ConfigMap{}
		if err := get(ctx, env, t, cm); err != nil || p.UpdateConfig == nil {
			return c, err == nil && p.UpdateConfig != nil, err
		}
		changed, same := false, true
		for _, k := range touched(p.UpdateConfig) {
			now, has := cm.Data[k]
			was, had := pre.ConfigData[k]
			changed = changed || has != had || now != was
			want, set := p.UpdateConfig.Data[k]
			same = same && has == set && (!set || now == want)
		}
		return Comparison{Changed: changed, Same: changed && same, Message: fmt.Sprintf("the keys the plan changes in %s are %s", t, map[bool]string{true: "changed", false: "as they were"}[changed])}, true, nil
	case kubernautv1.ActionUpdateHPA:
		hpa := &autoscalingv2.HorizontalPodAutoscaler{}
		if err := get(ctx, env, t, hpa); err != nil || p.UpdateHPA == nil || pre.MaxReplicas == nil {
			return c, err == nil && p.UpdateHPA != nil && pre.MaxReplicas != nil, err
		}
		nowMin, wasMin := minReplicas(hpa.Spec.MinReplicas), minReplicas(pre.MinReplicas)
		changed := hpa.Spec.MaxReplicas != *pre.MaxReplicas || nowMin != wasMin
		same := hpa.Spec.MaxReplicas == p.UpdateHPA.MaxReplicas && (p.UpdateHPA.MinReplicas == nil || nowMin == *p.UpdateHPA.MinReplicas)
		return Comparison{Changed: changed, Same: changed && same, Message: fmt.Sprintf("%s bounds %d..%d (before %d..%d)", t, nowMin, hpa.Spec.MaxReplicas, wasMin, *pre.MaxReplicas)}, true, nil
	case kubernautv1.ActionCordonNode, kubernautv1.ActionDrainNode:
		n := &corev1.Node{}
		if err := get(ctx, env, t, n); err != nil || pre.Unschedulable == nil {
			return c, err == nil && pre.Unschedulable != nil, err
		}
		changed := n.Spec.Unschedulable != *pre.Unschedulable
		return Comparison{Changed: changed, Same: changed && n.Spec.Unschedulable, Message: fmt.Sprintf("%s unschedulable %t (before %t)", t, n.Spec.Unschedulable, *pre.Unschedulable)}, true, nil
	case kubernautv1.ActionDeletePod, kubernautv1.ActionRestartPod:
		pod := &corev1.Pod{}
		err := env.Client.Get(ctx, key(t), pod)
		switch {
		case apierrors.IsNotFound(err) || err == nil && pod.UID != types.UID(pre.UID):
			return Comparison{Changed: true, Same: true, Message: fmt.Sprintf("pod %s (uid %s) is gone", t, pre.UID)}, true, nil
		case err != nil:
			return c, true, fmt.Errorf("reading %s: %w", t, err)
		}
		return Comparison{Message: fmt.Sprintf("pod %s still runs", t)}, true, nil
	}
	return Comparison{}, false, nil
}

// runsTemplateOf reports whether d runs the pod template of ReplicaSet rs (false when rs is
// gone or unnamed).
func runsTemplateOf(ctx context.Context, env Env, t kubernautv1.Target, d *appsv1.Deployment, rs string) (bool, error) {
	if rs == "" {
		return false, nil
	}
	r := &appsv1.ReplicaSet{}
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: t.Namespace, Name: rs}, r); err != nil {
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return false, fmt.Errorf("reading ReplicaSet %s/%s: %w", t.Namespace, rs, err)
	}
	return apiequality.Semantic.DeepEqual(withoutHash(&r.Spec.Template), withoutHash(&d.Spec.Template)), nil
}

// limitsOf lists a template's memory limits by container.
func limitsOf(t *corev1.PodTemplateSpec) map[string]string {
	out := map[string]string{}
	for _, c := range t.Spec.Containers {
		if q, ok := c.Resources.Limits[corev1.ResourceMemory]; ok {
			out[c.Name] = q.String()
		}
	}
	return out
}
