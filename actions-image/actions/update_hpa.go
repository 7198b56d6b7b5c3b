package actions

import (
	"context"
	"encoding/json"
	"fmt"

	autoscalingv2 "k8s.io/api/autoscaling/v2"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// updateHPA is update_hpa: a HorizontalPodAutoscaler's min/max replicas set with a merge patch
// (`kubectl patch hpa --type=merge`, kubectl has no verb of its own for it); the inverse
// restores the recorded bounds.
type updateHPA struct{}

func init() { register(kubernautv1.ActionUpdateHPA, updateHPA{}) }

func (updateHPA) Capture(ctx context.Context, env Env, step kubernautv1.ActionStep) (*kubernautv1.PreState, error) {
	p := params(step).UpdateHPA
	if p == nil {
		return nil, refuse("spec.parameters.updateHPA", "is required")
	}
	hpa := &autoscalingv2.HorizontalPodAutoscaler{}
	if err := get(ctx, env, step.Target, hpa); err != nil {
		return nil, err
	}
	min := int32(1)
	if hpa.Spec.MinReplicas != nil {
		min = *hpa.Spec.MinReplicas
	}
	if p.MinReplicas != nil {
		min = *p.MinReplicas
	}
	if min > p.MaxReplicas {
		return nil, refuse("spec.parameters.updateHPA.maxReplicas", "%d is below the minimum of %d replicas", p.MaxReplicas, min)
	}
	max := hpa.Spec.MaxReplicas
	return &kubernautv1.PreState{CapturedAt: metaNow(env), ResourceVersion: hpa.ResourceVersion, MinReplicas: hpa.Spec.MinReplicas, MaxReplicas: &max}, nil
}

func (updateHPA) Execute(ctx context.Context, env Env, step kubernautv1.ActionStep, _ *kubernautv1.PreState, dryRun bool) (Change, error) {
	p := params(step).UpdateHPA
	return setBounds(ctx, env, step, p.MinReplicas, p.MaxReplicas, dryRun)
}

func (updateHPA) Undo(ctx context.Context, env Env, step kubernautv1.ActionStep, pre *kubernautv1.PreState, dryRun bool) (Change, error) {
	if pre.MaxReplicas == nil {
		return Change{}, refuse("status.preState.maxReplicas", "the pre-state holds no bounds to restore")
	}
	return setBounds(ctx, env, step, pre.MinReplicas, *pre.MaxReplicas, dryRun)
}

func setBounds(ctx context.Context, env Env, step kubernautv1.ActionStep, min *int32, max int32, dryRun bool) (Change, error) {
	t := step.Target
	hpa := &autoscalingv2.HorizontalPodAutoscaler{}
	if err := get(ctx, env, t, hpa); err != nil {
		return Change{}, err
	}
	spec := map[string]any{"maxReplicas": max}
	if min != nil {
		spec["minReplicas"] = *min
	}
	wasMin := "1"
	if hpa.Spec.MinReplicas != nil {
		wasMin = fmt.Sprint(*hpa.Spec.MinReplicas)
	}
	nowMin := wasMin
	if min != nil {
		nowMin = fmt.Sprint(*min)
	}
	if hpa.Spec.MaxReplicas == max && nowMin == wasMin {
		return Change{Message: fmt.Sprintf("%s already scales within %s..%d", t, nowMin, max)}, nil
	}
	patch, _ := json.Marshal(map[string]any{"spec": spec})
	what := fmt.Sprintf("min %s → %s, max %d → %d", wasMin, nowMin, hpa.Spec.MaxReplicas, max)
	return apply(ctx, env, step, t, hpa, typesMerge, patch, dryRun, fmt.Sprintf("%s: %s", t, what), what)
}

// Verify checks that the HPA holds the new bounds and has not been refused by its controller
// (condition AbleToScale not False).
func (updateHPA) Verify(ctx context.Context, env Env, step kubernautv1.ActionStep, _ *kubernautv1.PreState) (Check, error) {
	p := params(step).UpdateHPA
	hpa := &autoscalingv2.HorizontalPodAutoscaler{}
	if err := get(ctx, env, step.Target, hpa); err != nil {
		return Check{}, err
	}
	if hpa.Spec.MaxReplicas != p.MaxReplicas || (p.MinReplicas != nil && (hpa.Spec.MinReplicas == nil || *hpa.Spec.MinReplicas != *p.MinReplicas)) {
		return Check{Done: true, Message: fmt.Sprintf("%s no longer holds the new bounds (someone changed them)", step.Target)}, nil
	}
	for _, c := range hpa.Status.Conditions {
		if c.Type == autoscalingv2.AbleToScale && c.Status == "False" {
			return Check{Done: true, Message: fmt.Sprintf("%s cannot scale: %s: %s", step.Target, c.Reason, c.Message)}, nil
		}
	}
	return Check{Done: true, Passed: true, Message: fmt.Sprintf("%s accepted max %d replicas", step.Target, p.MaxReplicas)}, nil
}

func (updateHPA) Restored(ctx context.Context, env Env, step kubernautv1.ActionStep, pre *kubernautv1.PreState) (Check, error) {
	hpa := &autoscalingv2.HorizontalPodAutoscaler{}
	if err := get(ctx, env, step.Target, hpa); err != nil {
		return Check{}, err
	}
	if pre.MaxReplicas == nil || hpa.Spec.MaxReplicas != *pre.MaxReplicas || ptrString(hpa.Spec.MinReplicas) != ptrString(pre.MinReplicas) && pre.MinReplicas != nil {
		return Check{Done: true, Message: fmt.Sprintf("%s scales within %s..%d, the pre-state had %s..%s", step.Target,
			ptrString(hpa.Spec.MinReplicas), hpa.Spec.MaxReplicas, ptrString(pre.MinReplicas), ptrString(pre.MaxReplicas))}, nil
	}
	return Check{Done: true, Passed: true, Message: fmt.Sprintf("%s is back to max %d replicas", step.Target, *pre.MaxReplicas)}, nil
}
