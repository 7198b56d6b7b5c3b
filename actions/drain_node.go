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

func init() { register(kubernautv1.ActionDrainNode, drainNode{}) }

// drainNode is drain_node with kubectl's drain library: cordon, then evict every pod through
// the eviction API (PodDisruptionBudgets respected: a refused eviction is retried until the
// timeout), DaemonSet pods left alone, pods without a controller refused, emptyDir data only
// with deleteEmptyDirData. On a node whose kubelet does not report Ready (the NotReady node
// this action is mostly for) no kubelet will ever confirm a pod's end: as kubectl drain
// --skip-wait-for-delete-timeout does, pods whose grace period is over are not waited for
// (their controllers replaced them as soon as they were marked for deletion). The inverse
// uncordons (the evicted pods are not brought back).
type drainNode struct{}

// unreachableSkipSeconds is how long past its deletion time a pod of a NotReady node is still
// waited for (kubectl drain's --skip-wait-for-delete-timeout).
const unreachableSkipSeconds = 1

// nodeReady reports whether the node's kubelet reports Ready.
func nodeReady(ctx context.Context, env Env, t kubernautv1.Target) (bool, error) {
	node := &corev1.Node{}
	if err := get(ctx, env, t, node); err != nil {
		return false, err
	}
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue, nil
		}
	}
	return false, nil
}

func (drainNode) Capture(ctx context.Context, env Env, step kubernautv1.ActionStep) (*kubernautv1.PreState, error) {
	return captureNode(ctx, env, step)
}

func (drainNode) helper(ctx context.Context, env Env, step kubernautv1.ActionStep, dryRun, ready bool, out *bytes.Buffer) *drain.Helper {
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
	if !ready {
		h.SkipWaitForDeleteTimeoutSeconds = unreachableSkipSeconds
	}
	return h
}

func (d drainNode) Execute(ctx context.Context, env Env, step kubernautv1.ActionStep, pre *kubernautv1.PreState, dryRun bool) (Change, error) {
	t := step.Target
	ready, err := nodeReady(ctx, env, t)
	if err != nil {
		return Change{}, err
	}
	var out bytes.Buffer
	h := d.helper(ctx, env, step, dryRun, ready, &out)
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
	msg := fmt.Sprintf("node %s cordoned and drained: %d pods evicted", t.Name, len(names))
	if !ready {
		msg += " (the node is not ready: pods past their grace period were not waited for)"
	}
	return Change{Message: msg, Changed: objs, Diff: diffText}, nil
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
	ready, err := nodeReady(ctx, env, step.Target)
	if err != nil {
		return Check{}, err
	}
	var out bytes.Buffer
	list, errs := d.helper(ctx, env, step, false, ready, &out).GetPodsForDeletion(step.Target.Name)
	if len(errs) > 0 {
		return Check{Done: true, Message: fmt.Sprintf("node %s: %v", step.Target.Name, errors.Join(errs...))}, nil
	}
	if n := len(list.Pods()); n > 0 {
		return Check{Message: fmt.Sprintf("node %s still runs %d evictable pods", step.Target.Name, n)}, nil
	}
	return Check{Done: true, Passed: true, Message: fmt.Sprintf("node %s is cordoned and drained", step.Target.Name)}, nil
}

func (drainNode) Restored(ctx context.Context, env Env, step kubernautv1.ActionStep, pre *kubernautv1.PreState) (Check, error) {
	return cordon{}.Restored(ctx, env, step, pre)
}
