package actions

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	cmdutil "k8s.io/kubectl/pkg/cmd/util"
	"k8s.io/kubectl/pkg/drain"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

func init() { register(kubernautv1.ActionDrainNode, drainNode{}) }

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

func (drainNode) Restored(ctx context.Context, env Env, step kubernautv1.ActionStep, pre *kubernautv1.PreState) (Check, error) {
	return cordon{}.Restored(ctx, env, step, pre)
}
