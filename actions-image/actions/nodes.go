package actions

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"
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
	register(kubernautv1.ActionDrainNode, drainNode{})
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

// drainNode is drain_node with kubectl's drain library: cordon, then evict every pod through
// the eviction API (PodDisruptionBudgets respected: a refused eviction is retried until the
// timeout), DaemonSet pods left alone, pods without a controller refused, emptyDir data only
// with deleteEmptyDirData. The inverse uncordons (the evicted pods are not brought back; their
// controllers already replaced them).
type drainNode struct{}

func (drainNode) Capture(ctx context.Context, env Env, step kubernautv1.ActionStep) (*kubernautv1.PreState, error) {
	return captureNode(ctx, env, step)
}

func (drainNode) helper(ctx context.Context, env Env, step kubernautv1.ActionStep, dryRun bool, out *bytes.Buffer) *drain.Helper {
	p := params(step).DrainNode
	if p == nil {
		p = &kubernautv1.DrainNodeParameters{}
	}
	timeout := time.Duration(p.TimeoutSeconds) * time.Second
	if timeout <= 0 {
		timeout = 300 * time.Second
	}
	grace := -1 // each pod's own terminationGracePeriodSeconds, as kubectl's default
	if p.GracePeriodSeconds != nil {
		grace = int(*p.GracePeriodSeconds)
	}
	retry := env.EvictionRetryDelay
	if retry <= 0 {
		retry = 5 * time.Second
	}
	h := &drain.Helper{
		Ctx: ctx, Client: env.Kube, GracePeriodSeconds: grace, IgnoreAllDaemonSets: true, Timeout: timeout,
		DeleteEmptyDirData: p.DeleteEmptyDirData, ChunkSize: 500, EvictErrorRetryDelay: retry, Out: out, ErrOut: out,
	}
	if dryRun {
		h.DryRunStrategy = cmdutil.DryRunServer
	}
	return h
}

func (d drainNode) Execute(ctx context.Context, env Env, step kubernautv1.ActionStep, pre *kubernautv1.PreState, dryRun bool) (Change, error) {
	t := step.Target
	var out bytes.Buffer
	h := d.helper(ctx, env, step, dryRun, &out)
	list, errs := h.GetPodsForDeletion(t.Name)
	if len(errs) > 0 {
		return Change{}, refuse("spec.target", "node %s cannot be drained: %v", t.Name, errors.Join(errs...))
	}
	var names []string
	for _, p := range list.Pods() {
		names = append(names, p.Namespace+"/"+p.Name)
	}
	cordoned, err := setSchedulable(ctx, env, step, true, dryRun)
	if err != nil {
		return Change{}, err
	}
	diffText := cordoned.Diff
	for _, n := range names {
		diffText += "- pod " + n + " (evicted)\n"
	}
	if dryRun {
		return Change{Message: fmt.Sprintf("node %s would be cordoned and %d pods evicted", t.Name, len(names)), Diff: diffText}, nil
	}
	logChange(env, step, dryRun, fmt.Sprintf("evict %d pods: %s", len(names), strings.Join(names, ", ")))
	if err := h.DeleteOrEvictPods(list.Pods()); err != nil {
		// A PodDisruptionBudget that never allows the eviction ends here, at the timeout.
		return Change{}, refuse("spec.target", "draining node %s: %v (%s)", t.Name, err, strings.TrimSpace(kubernautv1.Truncate(out.String(), 512)))
	}
	objs := changed(t, "cordoned; %d pods evicted", len(names))
	return Change{Message: fmt.Sprintf("node %s cordoned and drained: %d pods evicted", t.Name, len(names)), Changed: objs, Diff: diffText}, nil
}

func (drainNode) Undo(ctx context.Context, env Env, step kubernautv1.ActionStep, pre *kubernautv1.PreState, dryRun bool) (Change, error) {
	return undoCordon(ctx, env, step, pre, dryRun)
}

// Verify checks that the node is unschedulable and holds no pod left to evict.
func (d drainNode) Verify(ctx context.Context, env Env, step kubernautv1.ActionStep, _ *kubernautv1.PreState) (Check, error) {
	c, err := cordon{desired: true}.Verify(ctx, env, step, nil)
	if err != nil || !c.Passed {
		return c, err
	}
	var out bytes.Buffer
	list, errs := d.helper(ctx, env, step, false, &out).GetPodsForDeletion(step.Target.Name)
	if len(errs) > 0 {
		return Check{Done: true, Message: fmt.Sprintf("node %s: %v", step.Target.Name, errors.Join(errs...))}, nil
	}
	if n := len(list.Pods()); n > 0 {
		return Check{Message: fmt.Sprintf("node %s still runs %d evictable pods", step.Target.Name, n)}, nil
	}
	return Check{Done: true, Passed: true, Message: fmt.Sprintf("node %s is cordoned and drained", step.Target.Name)}, nil
}

func restoredNode(ctx context.Context, env Env, step kubernautv1.ActionStep, pre *kubernautv1.PreState) (Check, error) {
	if pre.Unschedulable == nil {
		return Check{Done: true, Message: "the pre-state holds no schedulability"}, nil
	}
	return cordon{desired: *pre.Unschedulable}.Verify(ctx, env, step, pre)
}

func (cordon) Restored(ctx context.Context, env Env, step kubernautv1.ActionStep, pre *kubernautv1.PreState) (Check, error) {
	return restoredNode(ctx, env, step, pre)
}

func (drainNode) Restored(ctx context.Context, env Env, step kubernautv1.ActionStep, pre *kubernautv1.PreState) (Check, error) {
	return restoredNode(ctx, env, step, pre)
}
