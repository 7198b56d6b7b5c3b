package actions

import (
	"context"
	"fmt"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// scaleDeployment is scale_deployment: the scale subresource, as `kubectl scale` uses it;
// refused while a HorizontalPodAutoscaler owns the replicas (it would undo the change).
type scaleDeployment struct{}

func init() { register(kubernautv1.ActionScaleDeployment, scaleDeployment{}) }

func (scaleDeployment) Capture(ctx context.Context, env Env, step kubernautv1.ActionStep) (*kubernautv1.PreState, error) {
	p := params(step).ScaleDeployment
	if p == nil {
		return nil, refuse("spec.parameters.scaleDeployment", "is required")
	}
	if err := notAutoscaled(ctx, env, step.Target); err != nil {
		return nil, err
	}
	_, scale, err := readScale(ctx, env, step.Target)
	if err != nil {
		return nil, err
	}
	replicas := scale.Spec.Replicas
	return &kubernautv1.PreState{CapturedAt: metaNow(env), ResourceVersion: scale.ResourceVersion, Replicas: &replicas}, nil
}

// readScale reads a workload and its scale subresource.
func readScale(ctx context.Context, env Env, t kubernautv1.Target) (client.Object, *autoscalingv1.Scale, error) {
	obj, err := getWorkload(ctx, env, t)
	if err != nil {
		return nil, nil, err
	}
	scale := &autoscalingv1.Scale{}
	if err := env.Client.SubResource("scale").Get(ctx, obj, scale); err != nil {
		return nil, nil, fmt.Errorf("reading the scale of %s: %w", t, err)
	}
	return obj, scale, nil
}

// notAutoscaled refuses a workload that a HorizontalPodAutoscaler scales.
func notAutoscaled(ctx context.Context, env Env, t kubernautv1.Target) error {
	var hpas autoscalingv2.HorizontalPodAutoscalerList
	if err := env.Client.List(ctx, &hpas, client.InNamespace(t.Namespace)); err != nil {
		return fmt.Errorf("listing the HorizontalPodAutoscalers of namespace %s: %w", t.Namespace, err)
	}
	for _, h := range hpas.Items {
		ref := h.Spec.ScaleTargetRef
		if ref.Kind == string(t.Kind) && ref.Name == t.Name {
			return refuse("spec.target", "HorizontalPodAutoscaler %s/%s owns the replicas of %s: change the HPA (update_hpa) instead", h.Namespace, h.Name, t)
		}
	}
	return nil
}

func (scaleDeployment) Execute(ctx context.Context, env Env, step kubernautv1.ActionStep, pre *kubernautv1.PreState, dryRun bool) (Change, error) {
	return setReplicas(ctx, env, step, pre, params(step).ScaleDeployment.Replicas, dryRun)
}

func (scaleDeployment) Undo(ctx context.Context, env Env, step kubernautv1.ActionStep, pre *kubernautv1.PreState, dryRun bool) (Change, error) {
	if pre.Replicas == nil {
		return Change{}, refuse("status.preState.replicas", "the pre-state holds no replica count to restore")
	}
	return setReplicas(ctx, env, step, pre, *pre.Replicas, dryRun)
}

// setReplicas merge-patches the scale subresource, as kubectl scale does without
// preconditions.
func setReplicas(ctx context.Context, env Env, step kubernautv1.ActionStep, pre *kubernautv1.PreState, replicas int32, dryRun bool) (Change, error) {
	t := step.Target
	obj, scale, err := readScale(ctx, env, t)
	if err != nil {
		return Change{}, err
	}
	was := scale.Spec.Replicas
	if was == replicas {
		return Change{Message: fmt.Sprintf("%s already has %d replicas", t, replicas)}, nil
	}
	logChange(env, step, dryRun, fmt.Sprintf("replicas %d → %d", was, replicas))
	patch := client.RawPatch(typesMerge, fmt.Appendf(nil, `{"spec":{"replicas":%d}}`, replicas))
	opts := []client.SubResourcePatchOption{client.FieldOwner(FieldManager)}
	if dryRun {
		opts = append(opts, client.DryRunAll)
	}
	if err := env.Client.SubResource("scale").Patch(ctx, obj, patch, append(opts, client.WithSubResourceBody(scale))...); err != nil {
		return Change{}, fmt.Errorf("scaling %s to %d: %w", t, replicas, err)
	}
	return Change{
		Message: fmt.Sprintf("scaled %s from %d to %d replicas", t, was, replicas),
		Changed: changed(t, "replicas %d → %d", was, replicas),
		Diff:    fmt.Sprintf("--- %s (now)\n+++ %s (after)\n@@ spec @@\n-  replicas: %d\n+  replicas: %d\n", t, t, was, replicas),
	}, nil
}

func (scaleDeployment) Verify(ctx context.Context, env Env, step kubernautv1.ActionStep, _ *kubernautv1.PreState) (Check, error) {
	return rolledOut(ctx, env, step.Target)
}

func (scaleDeployment) Restored(ctx context.Context, env Env, step kubernautv1.ActionStep, pre *kubernautv1.PreState) (Check, error) {
	_, scale, err := readScale(ctx, env, step.Target)
	if err != nil {
		return Check{}, err
	}
	if pre.Replicas == nil || scale.Spec.Replicas != *pre.Replicas {
		return Check{Done: true, Message: fmt.Sprintf("%s has %d replicas, the pre-state had %v", step.Target, scale.Spec.Replicas, ptrString(pre.Replicas))}, nil
	}
	return both(Check{Done: true, Passed: true, Message: fmt.Sprintf("%s is back to %d replicas", step.Target, *pre.Replicas)},
		func() (Check, error) { return rolledOut(ctx, env, step.Target) })
}
