package actions

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	corev1 "k8s.io/api/core/v1"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// updateConfig is update_config: keys of a ConfigMap set or removed with a merge patch; the
// previous values of exactly those keys are the pre-state, and the inverse puts them back
// (removing the keys that did not exist).
type updateConfig struct{}

func init() { register(kubernautv1.ActionUpdateConfig, updateConfig{}) }

// touched are the keys the step sets or removes, sorted.
func touched(p *kubernautv1.UpdateConfigParameters) []string {
	var keys []string
	for k := range p.Data {
		keys = append(keys, k)
	}
	keys = append(keys, p.RemoveKeys...)
	sort.Strings(keys)
	return keys
}

func (updateConfig) Capture(ctx context.Context, env Env, step kubernautv1.ActionStep) (*kubernautv1.PreState, error) {
	p := params(step).UpdateConfig
	if p == nil || len(p.Data)+len(p.RemoveKeys) == 0 {
		return nil, refuse("spec.parameters.updateConfig", "needs data to set or keys to remove")
	}
	for _, k := range p.RemoveKeys {
		if _, both := p.Data[k]; both {
			return nil, refuse("spec.parameters.updateConfig.removeKeys", "key %q is both set and removed", k)
		}
	}
	cm := &corev1.ConfigMap{}
	if err := get(ctx, env, step.Target, cm); err != nil {
		return nil, err
	}
	if cm.Immutable != nil && *cm.Immutable {
		return nil, refuse("spec.target", "ConfigMap %s is immutable", step.Target)
	}
	pre := &kubernautv1.PreState{CapturedAt: metaNow(env), ResourceVersion: cm.ResourceVersion, ConfigData: map[string]string{}}
	for _, k := range touched(p) {
		if v, ok := cm.Data[k]; ok {
			pre.ConfigData[k] = v
		}
	}
	return pre, nil
}

func (updateConfig) Execute(ctx context.Context, env Env, step kubernautv1.ActionStep, _ *kubernautv1.PreState, dryRun bool) (Change, error) {
	p := params(step).UpdateConfig
	data := map[string]*string{}
	for k, v := range p.Data {
		data[k] = &v
	}
	for _, k := range p.RemoveKeys {
		data[k] = nil
	}
	return patchConfig(ctx, env, step, data, dryRun)
}

func (updateConfig) Undo(ctx context.Context, env Env, step kubernautv1.ActionStep, pre *kubernautv1.PreState, dryRun bool) (Change, error) {
	p := params(step).UpdateConfig
	if p == nil {
		return Change{}, refuse("spec.parameters.updateConfig", "is required to know which keys to restore")
	}
	data := map[string]*string{}
	for _, k := range touched(p) {
		if v, ok := pre.ConfigData[k]; ok {
			data[k] = &v
		} else {
			data[k] = nil
		}
	}
	return patchConfig(ctx, env, step, data, dryRun)
}

// patchConfig sets (non-nil) and removes (nil) keys of the ConfigMap's data.
func patchConfig(ctx context.Context, env Env, step kubernautv1.ActionStep, data map[string]*string, dryRun bool) (Change, error) {
	t := step.Target
	cm := &corev1.ConfigMap{}
	if err := get(ctx, env, t, cm); err != nil {
		return Change{}, err
	}
	var phrases []string
	for k, v := range data {
		old, had := cm.Data[k]
		switch {
		case v == nil && had:
			phrases = append(phrases, "removed "+k)
		case v != nil && (!had || old != *v):
			phrases = append(phrases, "set "+k)
		}
	}
	sort.Strings(phrases)
	if len(phrases) == 0 {
		return Change{Message: fmt.Sprintf("ConfigMap %s already holds the wanted data", t)}, nil
	}
	patch, err := json.Marshal(map[string]any{"data": data})
	if err != nil {
		return Change{}, fmt.Errorf("encoding the data of %s: %w", t, err)
	}
	what := strings.Join(phrases, ", ")
	return apply(ctx, env, step, t, cm, typesMerge, patch, dryRun, fmt.Sprintf("ConfigMap %s: %s", t, what), what)
}

// Verify checks that the ConfigMap holds the wanted data.
func (updateConfig) Verify(ctx context.Context, env Env, step kubernautv1.ActionStep, _ *kubernautv1.PreState) (Check, error) {
	p := params(step).UpdateConfig
	cm := &corev1.ConfigMap{}
	if err := get(ctx, env, step.Target, cm); err != nil {
		return Check{}, err
	}
	for k, v := range p.Data {
		if cm.Data[k] != v {
			return Check{Done: true, Message: fmt.Sprintf("key %s of %s was changed by someone else", k, step.Target)}, nil
		}
	}
	for _, k := range p.RemoveKeys {
		if _, ok := cm.Data[k]; ok {
			return Check{Done: true, Message: fmt.Sprintf("key %s of %s is back", k, step.Target)}, nil
		}
	}
	return Check{Done: true, Passed: true, Message: fmt.Sprintf("ConfigMap %s holds the new data", step.Target)}, nil
}

func (updateConfig) Restored(ctx context.Context, env Env, step kubernautv1.ActionStep, pre *kubernautv1.PreState) (Check, error) {
	cm := &corev1.ConfigMap{}
	if err := get(ctx, env, step.Target, cm); err != nil {
		return Check{}, err
	}
	for _, k := range touched(params(step).UpdateConfig) {
		want, had := pre.ConfigData[k]
		got, has := cm.Data[k]
		if had != has || want != got {
			return Check{Done: true, Message: fmt.Sprintf("key %s of %s is not as it was", k, step.Target)}, nil
		}
	}
	return Check{Done: true, Passed: true, Message: fmt.Sprintf("ConfigMap %s holds its previous data", step.Target)}, nil
}
