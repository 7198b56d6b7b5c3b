package actions

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// increaseMemoryLimit is increase_memory_limit: each chosen container's memory limit raised by
// a bounded percentage (capped by maxLimit), computed from the recorded limits so a retry does
// not raise it twice. It rolls the workload's pods.
type increaseMemoryLimit struct{}

func init() { register(kubernautv1.ActionIncreaseMemoryLimit, increaseMemoryLimit{}) }

func (increaseMemoryLimit) Capture(ctx context.Context, env Env, step kubernautv1.ActionStep) (*kubernautv1.PreState, error) {
	p := params(step).IncreaseMemoryLimit
	if p == nil {
		return nil, refuse("spec.parameters.increaseMemoryLimit", "is required")
	}
	if p.Percent < 1 || p.Percent > 200 {
		return nil, refuse("spec.parameters.increaseMemoryLimit.percent", "must be within 1..200, got %d", p.Percent)
	}
	obj, err := getWorkload(ctx, env, step.Target)
	if err != nil {
		return nil, err
	}
	limits := map[string]resource.Quantity{}
	found := false
	for _, c := range podTemplate(obj).Spec.Containers {
		if p.Container != "" && c.Name != p.Container {
			continue
		}
		found = true
		if q, ok := c.Resources.Limits[corev1.ResourceMemory]; ok {
			limits[c.Name] = q
		}
	}
	switch {
	case p.Container != "" && !found:
		return nil, refuse("spec.parameters.increaseMemoryLimit.container", "%s has no container %q", step.Target, p.Container)
	case len(limits) == 0:
		return nil, refuse("spec.target", "no container of %s has a memory limit to raise", step.Target)
	}
	return &kubernautv1.PreState{CapturedAt: metaNow(env), ResourceVersion: obj.GetResourceVersion(), MemoryLimits: limits}, nil
}

// raised is the new limit: old × (100+percent)/100, at most maxLimit (never below old), in
// binary units.
func raised(old resource.Quantity, p *kubernautv1.IncreaseMemoryLimitParameters) resource.Quantity {
	v := old.Value() * int64(100+p.Percent) / 100
	if p.MaxLimit != nil && v > p.MaxLimit.Value() {
		v = p.MaxLimit.Value()
	}
	if v < old.Value() {
		v = old.Value()
	}
	return *resource.NewQuantity(v, resource.BinarySI)
}

func (increaseMemoryLimit) Execute(ctx context.Context, env Env, step kubernautv1.ActionStep, pre *kubernautv1.PreState, dryRun bool) (Change, error) {
	want := map[string]resource.Quantity{}
	for name, old := range pre.MemoryLimits {
		want[name] = raised(old, params(step).IncreaseMemoryLimit)
	}
	return setMemoryLimits(ctx, env, step, want, dryRun)
}

func (increaseMemoryLimit) Undo(ctx context.Context, env Env, step kubernautv1.ActionStep, pre *kubernautv1.PreState, dryRun bool) (Change, error) {
	if len(pre.MemoryLimits) == 0 {
		return Change{}, refuse("status.preState.memoryLimits", "the pre-state holds no memory limits to restore")
	}
	return setMemoryLimits(ctx, env, step, pre.MemoryLimits, dryRun)
}

// setMemoryLimits patches the containers' memory limits (strategic merge on the containers'
// names) and describes the change.
func setMemoryLimits(ctx context.Context, env Env, step kubernautv1.ActionStep, to map[string]resource.Quantity, dryRun bool) (Change, error) {
	t := step.Target
	obj, err := getWorkload(ctx, env, t)
	if err != nil {
		return Change{}, err
	}
	names := make([]string, 0, len(to))
	for n := range to {
		names = append(names, n)
	}
	sort.Strings(names)
	var containers []map[string]any
	var phrases []string
	for _, n := range names {
		var current resource.Quantity
		for _, c := range podTemplate(obj).Spec.Containers {
			if c.Name == n {
				current = c.Resources.Limits[corev1.ResourceMemory]
			}
		}
		target := to[n]
		if current.Cmp(target) == 0 {
			continue
		}
		containers = append(containers, map[string]any{"name": n, "resources": map[string]any{"limits": map[string]string{"memory": target.String()}}})
		phrases = append(phrases, fmt.Sprintf("%s memory limit %s → %s", n, current.String(), target.String()))
	}
	if len(containers) == 0 {
		return Change{Message: fmt.Sprintf("the memory limits of %s are already as wanted", t)}, nil
	}
	patch, err := json.Marshal(map[string]any{"spec": map[string]any{"template": map[string]any{"spec": map[string]any{"containers": containers}}}})
	if err != nil {
		return Change{}, fmt.Errorf("encoding the memory limits of %s: %w", t, err)
	}
	what := strings.Join(phrases, ", ")
	return apply(ctx, env, step, t, obj, typesStrategic, patch, dryRun, fmt.Sprintf("%s: %s", t, what), what)
}

// Verify waits for the rollout, then (with Env.MemorySoak) watches the new pods for that long;
// a container at the raised limit that is OOM-killed fails it at once. A rollout completes as
// soon as the new pods start, before a container that still does not fit is killed again
// (seen on the real node: a workload allocating its working set after start was "verified" at
// a limit it exceeded a second later).
func (increaseMemoryLimit) Verify(ctx context.Context, env Env, step kubernautv1.ActionStep, _ *kubernautv1.PreState) (Check, error) {
	if env.MemorySoak <= 0 {
		return rolledOut(ctx, env, step.Target)
	}
	obj, err := getWorkload(ctx, env, step.Target)
	if err != nil {
		return Check{}, err
	}
	sel, err := podSelector(obj)
	if err != nil {
		return Check{}, err
	}
	var pods corev1.PodList
	if err := env.Client.List(ctx, &pods, client.InNamespace(step.Target.Namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
		return Check{}, fmt.Errorf("listing the pods of %s: %w", step.Target, err)
	}
	// The pods at the raised limits: those whose containers' memory limits are the template's
	// (the others are old pods, going; the time of the change says nothing when a Job made it).
	limits := map[string]resource.Quantity{}
	for _, c := range podTemplate(obj).Spec.Containers {
		limits[c.Name] = c.Resources.Limits[corev1.ResourceMemory]
	}
	raised := func(p *corev1.Pod) bool {
		for _, c := range p.Spec.Containers {
			got := c.Resources.Limits[corev1.ResourceMemory]
			if want, ok := limits[c.Name]; ok && got.Cmp(want) != 0 {
				return false
			}
		}
		return true
	}
	var until time.Time
	for _, p := range pods.Items {
		if p.DeletionTimestamp != nil || !raised(&p) {
			continue
		}
		for _, cs := range p.Status.ContainerStatuses {
			t := cs.LastTerminationState.Terminated
			if cs.State.Terminated != nil {
				t = cs.State.Terminated
			}
			if t != nil && t.Reason == "OOMKilled" {
				return Check{Done: true, Message: fmt.Sprintf("container %s of pod %s was OOM-killed again at the raised limit (%s)",
					cs.Name, p.Name, t.FinishedAt.UTC().Format(time.RFC3339))}, nil
			}
			if r := cs.State.Running; r != nil && r.StartedAt.Add(env.MemorySoak).After(until) {
				until = r.StartedAt.Add(env.MemorySoak)
			}
		}
	}
	c, err := rolledOut(ctx, env, step.Target)
	if err != nil || !c.Done || !c.Passed {
		return c, err
	}
	if env.now().Before(until) {
		return Check{Message: fmt.Sprintf("%s; watching its new pods for OOM kills until %s", c.Message, until.UTC().Format(time.RFC3339))}, nil
	}
	return Check{Done: true, Passed: true, Message: fmt.Sprintf("%s; no OOM kill in the %s after its pods started", c.Message, env.MemorySoak)}, nil
}

func (increaseMemoryLimit) Restored(ctx context.Context, env Env, step kubernautv1.ActionStep, pre *kubernautv1.PreState) (Check, error) {
	obj, err := getWorkload(ctx, env, step.Target)
	if err != nil {
		return Check{}, err
	}
	for _, c := range podTemplate(obj).Spec.Containers {
		want, ok := pre.MemoryLimits[c.Name]
		if got := c.Resources.Limits[corev1.ResourceMemory]; ok && got.Cmp(want) != 0 {
			return Check{Done: true, Message: fmt.Sprintf("container %s of %s has a memory limit of %s, the pre-state had %s", c.Name, step.Target, got.String(), want.String())}, nil
		}
	}
	return both(Check{Done: true, Passed: true, Message: fmt.Sprintf("the memory limits of %s are restored", step.Target)},
		func() (Check, error) { return rolledOut(ctx, env, step.Target) })
}
