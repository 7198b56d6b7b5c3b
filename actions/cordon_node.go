package actions

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/kubectl/pkg/drain"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// cordon is cordon_node (desired true) and uncordon_node (false), through kubectl's
// CordonHelper (a strategic-merge patch of spec.unschedulable, an update as fallback). Each
// is the other's inverse; the undo restores the recorded value.
type cordon struct{ desired bool }

func init() {
	register(kubernautv1.ActionCordonNode, cordon{desired: true})
	register(kubernautv1.ActionUncordonNode, cordon{desired: false})
}

func captureNode(ctx context.Context, env Env, step kubernautv1.ActionStep) (*kubernautv1.PreState, error) {
	node := &corev1.Node{}
	if err := get(ctx, env, step.Target, node); err != nil {
		return nil, err
	}
	was := node.Spec.Unschedulable
	return &kubernautv1.PreState{CapturedAt: metaNow(env), ResourceVersion: node.ResourceVersion, Unschedulable: &was}, nil
}

func (cordon) Capture(ctx context.Context, env Env, step kubernautv1.ActionStep) (*kubernautv1.PreState, error) {
	return captureNode(ctx, env, step)
}

func (c cordon) Execute(ctx context.Context, env Env, step kubernautv1.ActionStep, _ *kubernautv1.PreState, dryRun bool) (Change, error) {
	return setSchedulable(ctx, env, step, c.desired, dryRun)
}

func (cordon) Undo(ctx context.Context, env Env, step kubernautv1.ActionStep, pre *kubernautv1.PreState, dryRun bool) (Change, error) {
	return undoCordon(ctx, env, step, pre, dryRun)
}

func undoCordon(ctx context.Context, env Env, step kubernautv1.ActionStep, pre *kubernautv1.PreState, dryRun bool) (Change, error) {
	if pre.Unschedulable == nil {
		return Change{}, refuse("status.preState.unschedulable", "the pre-state holds no schedulability to restore")
	}
	return setSchedulable(ctx, env, step, *pre.Unschedulable, dryRun)
}

// setSchedulable sets spec.unschedulable with kubectl's CordonHelper.
func setSchedulable(ctx context.Context, env Env, step kubernautv1.ActionStep, unschedulable, dryRun bool) (Change, error) {
	t := step.Target
	node := &corev1.Node{}
	if err := get(ctx, env, t, node); err != nil {
		return Change{}, err
	}
	verb := map[bool]string{true: "cordoned", false: "uncordoned"}[unschedulable]
	h := drain.NewCordonHelper(node)
	if !h.UpdateIfRequired(unschedulable) {
		return Change{Message: fmt.Sprintf("node %s is already %s", t.Name, verb)}, nil
	}
	logChange(env, step, dryRun, fmt.Sprintf("unschedulable %v → %v", node.Spec.Unschedulable, unschedulable))
	err, patchErr := h.PatchOrReplaceWithContext(ctx, env.Kube, dryRun)
	if patchErr != nil {
		return Change{}, fmt.Errorf("patching node %s: %w", t.Name, patchErr)
	}
	if err != nil {
		return Change{}, fmt.Errorf("updating node %s: %w", t.Name, err)
	}
	return Change{
		Message: fmt.Sprintf("node %s %s", t.Name, verb),
		Changed: changed(t, "spec.unschedulable %v → %v", node.Spec.Unschedulable, unschedulable),
		Diff:    fmt.Sprintf("--- %s (now)\n+++ %s (after)\n@@ spec @@\n-  unschedulable: %v\n+  unschedulable: %v\n", t, t, node.Spec.Unschedulable, unschedulable),
	}, nil
}

func (c cordon) Verify(ctx context.Context, env Env, step kubernautv1.ActionStep, _ *kubernautv1.PreState) (Check, error) {
	node := &corev1.Node{}
	if err := get(ctx, env, step.Target, node); err != nil {
		return Check{}, err
	}
	if node.Spec.Unschedulable != c.desired {
		return Check{Done: true, Message: fmt.Sprintf("node %s has unschedulable=%v, want %v", step.Target.Name, node.Spec.Unschedulable, c.desired)}, nil
	}
	if !c.desired {
		for _, cond := range node.Status.Conditions {
			if cond.Type == corev1.NodeReady && cond.Status != corev1.ConditionTrue {
				return Check{Message: fmt.Sprintf("node %s is schedulable but not Ready (%s)", step.Target.Name, cond.Reason)}, nil
			}
		}
		return Check{Done: true, Passed: true, Message: fmt.Sprintf("node %s is schedulable and Ready", step.Target.Name)}, nil
	}
	return Check{Done: true, Passed: true, Message: fmt.Sprintf("node %s is unschedulable", step.Target.Name)}, nil
}

// Restored checks the node has its recorded schedulability again (for drain_node too).
func (cordon) Restored(ctx context.Context, env Env, step kubernautv1.ActionStep, pre *kubernautv1.PreState) (Check, error) {
	if pre.Unschedulable == nil {
		return Check{Done: true, Message: "the pre-state holds no schedulability"}, nil
	}
	return cordon{desired: *pre.Unschedulable}.Verify(ctx, env, step, pre)
}
