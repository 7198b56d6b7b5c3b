package rego

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/rego"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/terminal"
)

// SafetyContext is what the safety policy knows of the world around a step.
type SafetyContext struct {
	// Environment of the target (from the classification).
	Environment kubernautv1.Environment `json:"environment"`
	// GitOps is the GitOps ownership of the target's workload, if any.
	GitOps *kubernautv1.GitOpsOwnership `json:"gitOps"`
	// Current are the values the step changes, as they are now (replicas, hpaMax).
	Current map[string]int64 `json:"current,omitempty"`
	// RecentRemediations counts the remediations of the target in the last hour.
	RecentRemediations int `json:"recentRemediations"`
	// Now is the evaluation time (RFC 3339), for change-freeze windows.
	Now string `json:"now"`
	// Compensation is true for the undo of a step: it restores the step's recorded pre-state,
	// so the rules about how much or how often a change may be do not apply; those about
	// whether Kubernaut may touch the object at all do.
	Compensation bool `json:"compensation,omitempty"`
	// Node are the facts of a node action's node, gathered by Evaluate when the step targets a
	// Node (nil otherwise).
	Node *NodeFacts `json:"node,omitempty"`
}

// NodeFacts are what the safety policy weighs before a node action.
type NodeFacts struct {
	// OptedIn is true when the node itself carries the opt-in label (or remediation is
	// cluster-wide): a node action needs the node's own opt-in, not that of the namespace
	// of a pod on it.
	OptedIn bool `json:"optedIn"`
	// Evicted are the pods ("namespace/name") a drain would evict: those not owned by a
	// DaemonSet and not mirror pods (drain_node only).
	Evicted []string `json:"evicted,omitempty"`
}

// Safety evaluates the safety policy (rego/safety.rego, or its ConfigMap override) for one
// step, with the operator's settings.
type Safety struct {
	// Policy is the safety policy.
	Policy *Policy
	// Config overrides the policy's defaults (protectedNamespaces, maxReplicas, …).
	Config map[string]any
	// ClusterWide counts every node as opted in (--cluster-wide).
	ClusterWide bool
}

// NewSafety returns the embedded safety policy, overridable by the key safety.rego of ConfigMap
// namespace/name.
func NewSafety(reader client.Reader, namespace, name string, config map[string]any) *Safety {
	return &Safety{Config: config, Policy: &Policy{File: "safety.rego", Query: "data.kubernaut.safety.deny",
		Reader: reader, Namespace: namespace, ConfigMap: name}}
}

// SafetyConfigKey is the policy ConfigMap's key whose YAML object tunes the safety policy's
// settings (config in rego/safety.rego: freezeWindows, allowCustomScript,
// unknownEnvironment, …) without rewriting the policy; re-read at every evaluation.
const SafetyConfigKey = "safetyConfig"

// SafetySettings are the settings of rego/safety.rego's defaults, which SafetyConfigKey may set.
var SafetySettings = []string{"protectedNamespaces", "maxReplicas", "maxScaleFactor", "maxHPAMax", "maxMemoryIncreasePercent",
	"allowNodeActions", "allowScaleToZeroInProduction", "allowGitOpsManaged", "allowCustomScript", "customScriptImages",
	"maxRemediationsPerTargetPerHour", "freezeWindows", "unknownEnvironment", "maxConfigKeys", "maxConfigValueBytes", "protectedConfigKeys"}

// ParseSafetyConfig reads SafetyConfigKey of the policy ConfigMap (nil when cm is nil or has
// no such key). A value that is not a YAML object, or a key the policy does not know (a typo
// would otherwise leave the default in force unnoticed), is an error naming it.
func ParseSafetyConfig(cm *corev1.ConfigMap) (map[string]any, error) {
	if cm == nil {
		return nil, nil
	}
	raw, ok := cm.Data[SafetyConfigKey]
	if !ok {
		return nil, nil
	}
	var out map[string]any
	if err := yaml.Unmarshal([]byte(raw), &out); err != nil {
		return nil, fmt.Errorf("ConfigMap %s/%s key %s is not a YAML object: %w", cm.Namespace, cm.Name, SafetyConfigKey, err)
	}
	for k := range out {
		if !slices.Contains(SafetySettings, k) {
			return nil, fmt.Errorf("ConfigMap %s/%s key %s: unknown setting %q (known: %s)", cm.Namespace, cm.Name, SafetyConfigKey, k, strings.Join(SafetySettings, ", "))
		}
	}
	if v, ok := out["unknownEnvironment"]; ok && !slices.Contains([]any{"production", "staging", "development"}, v) {
		return nil, fmt.Errorf("ConfigMap %s/%s key %s: unknownEnvironment %v is not production, staging or development", cm.Namespace, cm.Name, SafetyConfigKey, v)
	}
	return out, nil
}

// Evaluate returns the policy's verdict on a step. The policy's own failure (it does not
// compile, fails, or answers what is not a verdict; its settings are invalid) is terminal;
// failing to read the policy or the node is transient.
func (s *Safety) Evaluate(ctx context.Context, step kubernautv1.PlanStep, sc SafetyContext, now time.Time) (kubernautv1.PolicyVerdict, error) {
	pq, version, cm, err := s.Policy.PreparedWithConfig(ctx)
	if err != nil {
		return kubernautv1.PolicyVerdict{}, err
	}
	tuned, err := ParseSafetyConfig(cm)
	if err != nil {
		return kubernautv1.PolicyVerdict{}, terminal.Error(err)
	}
	if tuned != nil {
		version += fmt.Sprintf(", %s@%s", SafetyConfigKey, cm.ResourceVersion)
	}
	if sc.Now == "" {
		sc.Now = now.UTC().Format(time.RFC3339)
	}
	if step.Target.Kind == kubernautv1.TargetKindNode && sc.Node == nil {
		if sc.Node, err = s.nodeFacts(ctx, step); err != nil {
			return kubernautv1.PolicyVerdict{}, err
		}
	}
	in := map[string]any{"step": step, "context": sc}
	if s.Config != nil || tuned != nil {
		config := map[string]any{}
		maps.Copy(config, s.Config)
		maps.Copy(config, tuned)
		in["config"] = config
	}
	rs, err := pq.Eval(ctx, rego.EvalInput(in))
	if err != nil {
		return kubernautv1.PolicyVerdict{}, terminal.Errorf("evaluating the safety policy (%s) for step %s: %w", version, step.Name, err)
	}
	if len(rs) != 1 || len(rs[0].Expressions) != 1 {
		// Undefined: an override whose package is not kubernaut.safety, or that has no deny
		// rule. An empty set is defined; nothing is not "no objection".
		return kubernautv1.PolicyVerdict{}, terminal.Errorf("the safety policy (%s) does not define %s: an override must keep package kubernaut.safety and its deny rules", version, s.Policy.Query)
	}
	var violations []string
	{
		list, ok := rs[0].Expressions[0].Value.([]any)
		if !ok {
			return kubernautv1.PolicyVerdict{}, terminal.Errorf("the safety policy (%s) answered %T, want a set of messages", version, rs[0].Expressions[0].Value)
		}
		for _, v := range list {
			violations = append(violations, kubernautv1.Truncate(fmt.Sprint(v), 512))
		}
	}
	sort.Strings(violations)
	if len(violations) > 16 {
		violations = violations[:16]
	}
	t := metav1.NewTime(now)
	return kubernautv1.PolicyVerdict{Allowed: len(violations) == 0, Violations: violations, Policy: "safety.rego (" + version + ")", EvaluatedAt: &t}, nil
}

// nodeFacts reads the node of a node action: its opt-in label and, for a drain, the pods it
// would evict. A node that does not exist has not opted in.
func (s *Safety) nodeFacts(ctx context.Context, step kubernautv1.PlanStep) (*NodeFacts, error) {
	facts := &NodeFacts{OptedIn: s.ClusterWide}
	if s.Policy.Reader == nil {
		return facts, nil
	}
	node := &corev1.Node{}
	switch err := s.Policy.Reader.Get(ctx, client.ObjectKey{Name: step.Target.Name}, node); {
	case apierrors.IsNotFound(err):
		return facts, nil
	case err != nil:
		return nil, fmt.Errorf("reading node %s for the safety policy: %w", step.Target.Name, err)
	}
	facts.OptedIn = facts.OptedIn || node.Labels[kubernautv1.OptInLabel] == "true"
	if step.Action != kubernautv1.ActionDrainNode {
		return facts, nil
	}
	var pods corev1.PodList
	if err := s.Policy.Reader.List(ctx, &pods, client.MatchingFields{"spec.nodeName": step.Target.Name}); err != nil {
		return nil, fmt.Errorf("listing the pods of node %s for the safety policy: %w", step.Target.Name, err)
	}
	for _, p := range pods.Items {
		if _, mirror := p.Annotations[corev1.MirrorPodAnnotationKey]; mirror {
			continue
		}
		if c := metav1.GetControllerOf(&p); c != nil && c.Kind == "DaemonSet" {
			continue
		}
		facts.Evicted = append(facts.Evicted, p.Namespace+"/"+p.Name)
	}
	sort.Strings(facts.Evicted)
	return facts, nil
}
