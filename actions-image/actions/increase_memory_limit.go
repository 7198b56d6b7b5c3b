package actions

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

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

func (increaseMemoryLimit) Verify(ctx context.Context, env Env, step kubernautv1.ActionStep, _ *kubernautv1.PreState) (Check, error) {
	return rolledOut(ctx, env, step.Target)
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
