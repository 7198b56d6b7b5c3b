package main

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// jobPlacement is where the job executor's pods may run (--job-node-selector,
// --job-tolerations).
type jobPlacement struct {
	nodeSelector map[string]string
	tolerations  []corev1.Toleration
}

// parseJobPlacement reads "key=value,…" and "key[=value][:Effect],…", naming the flag and the
// entry it refuses.
func parseJobPlacement(selector, tolerations string) (jobPlacement, error) {
	var p jobPlacement
	for _, kv := range strings.Split(selector, ",") {
		if kv = strings.TrimSpace(kv); kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return p, fmt.Errorf("--job-node-selector %q: want key=value", kv)
		}
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			return p, fmt.Errorf("--job-node-selector %q: key: %s", kv, strings.Join(errs, "; "))
		}
		if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
			return p, fmt.Errorf("--job-node-selector %q: value: %s", kv, strings.Join(errs, "; "))
		}
		if p.nodeSelector == nil {
			p.nodeSelector = map[string]string{}
		}
		p.nodeSelector[k] = v
	}
	for _, t := range strings.Split(tolerations, ",") {
		if t = strings.TrimSpace(t); t == "" {
			continue
		}
		rest, effect, _ := strings.Cut(t, ":")
		k, v, hasValue := strings.Cut(rest, "=")
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			return p, fmt.Errorf("--job-tolerations %q: key: %s", t, strings.Join(errs, "; "))
		}
		tol := corev1.Toleration{Key: k, Operator: corev1.TolerationOpExists}
		if hasValue {
			if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
				return p, fmt.Errorf("--job-tolerations %q: value: %s", t, strings.Join(errs, "; "))
			}
			tol.Operator, tol.Value = corev1.TolerationOpEqual, v
		}
		switch e := corev1.TaintEffect(effect); e {
		case "", corev1.TaintEffectNoSchedule, corev1.TaintEffectPreferNoSchedule, corev1.TaintEffectNoExecute:
			tol.Effect = e
		default:
			return p, fmt.Errorf("--job-tolerations %q: effect %q: want NoSchedule, PreferNoSchedule or NoExecute", t, effect)
		}
		p.tolerations = append(p.tolerations, tol)
	}
	return p, nil
}
