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
	min := minReplicas(hpa.Spec.MinReplicas)
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
	min := minReplicas(pre.MinReplicas)
	return setBounds(ctx, env, step, &min, *pre.MaxReplicas, dryRun)
}

// setBounds merge-patches the bounds; a nil min leaves the lower bound as it is.
func setBounds(ctx context.Context, env Env, step kubernautv1.ActionStep, min *int32, max int32, dryRun bool) (Change, error) {
	t := step.Target
	hpa := &autoscalingv2.HorizontalPodAutoscaler{}
	if err := get(ctx, env, t, hpa); err != nil {
		return Change{}, err
	}
	wasMin, nowMin := minReplicas(hpa.Spec.MinReplicas), minReplicas(hpa.Spec.MinReplicas)
	if min != nil {
		nowMin = *min
	}
	if hpa.Spec.MaxReplicas == max && nowMin == wasMin {
		return Change{Message: fmt.Sprintf("%s already scales within %d..%d", t, nowMin, max)}, nil
	}
	patch, _ := json.Marshal(map[string]any{"spec": map[string]any{"minReplicas": nowMin, "maxReplicas": max}})
	what := fmt.Sprintf("min %d → %d, max %d → %d", wasMin, nowMin, hpa.Spec.MaxReplicas, max)
	return apply(ctx, env, step, t, hpa, typesMerge, patch, dryRun, fmt.Sprintf("%s: %s", t, what), what)
}

// minReplicas is an HPA's lower bound: 1 when unset (the API's default).
func minReplicas(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

// Verify checks that the HPA holds the new bounds and has not been refused by its controller
// (condition AbleToScale not False).
func (updateHPA) Verify(ctx context.Context, env Env, step kubernautv1.ActionStep, _ *kubernautv1.PreState) (Check, error) {
	p := params(step).UpdateHPA
	hpa := &autoscalingv2.HorizontalPodAutoscaler{}
	if err := get(ctx, env, step.Target, hpa); err != nil {
		return Check{}, err
	}
	if hpa.Spec.MaxReplicas != p.MaxReplicas || (p.MinReplicas != nil && minReplicas(hpa.Spec.MinReplicas) != *p.MinReplicas) {
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
	if pre.MaxReplicas == nil || hpa.Spec.MaxReplicas != *pre.MaxReplicas || minReplicas(hpa.Spec.MinReplicas) != minReplicas(pre.MinReplicas) {
		return Check{Done: true, Message: fmt.Sprintf("%s scales within %d..%d, the pre-state had %d..%s", step.Target,
			minReplicas(hpa.Spec.MinReplicas), hpa.Spec.MaxReplicas, minReplicas(pre.MinReplicas), ptrString(pre.MaxReplicas))}, nil
	}
	return Check{Done: true, Passed: true, Message: fmt.Sprintf("%s is back to max %d replicas", step.Target, *pre.MaxReplicas)}, nil
}
