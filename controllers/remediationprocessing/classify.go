package remediationprocessing

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/open-policy-agent/opa/v1/rego"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/facts"
	kubernautrego "github.com/kubernaut/kubernaut/rego"
	"github.com/kubernaut/kubernaut/terminal"
)

// Classifier evaluates the classification policy.
type Classifier struct {
	// Policy is the classification policy (embedded, or a ConfigMap override).
	Policy *kubernautrego.Policy
	// Reader reads the target's namespace.
	Reader client.Reader
}

// NewClassifier returns a classifier of the embedded policy, overridable by the key
// classification.rego of ConfigMap namespace/name.
func NewClassifier(reader client.Reader, namespace, name string) *Classifier {
	return &Classifier{Reader: reader, Policy: &kubernautrego.Policy{
		File: "classification.rego", Query: "data.kubernaut.classification.result",
		Reader: reader, Namespace: namespace, ConfigMap: name,
	}}
}

// classificationResult is the policy's answer.
type classificationResult struct {
	Environment         string   `json:"environment"`
	Severity            string   `json:"severity"`
	Priority            string   `json:"priority"`
	SignalType          string   `json:"signalType"`
	BusinessCriticality string   `json:"businessCriticality"`
	Reasons             []string `json:"reasons"`
}

// Classify evaluates the policy for a signal and returns the classification and the policy's
// version. Failing to read the policy or the namespace is transient; everything after is the
// policy's own answer, which the same input gives again: terminal.
func (c *Classifier) Classify(ctx context.Context, rp *kubernautv1.RemediationProcessing, e *kubernautv1.Enrichment) (_ *kubernautv1.Classification, _ string, err error) {
	pq, version, err := c.Policy.Prepared(ctx)
	if err != nil {
		return nil, "", err
	}
	in, err := c.input(ctx, rp, e)
	if err != nil {
		return nil, version, err
	}
	defer func() { err = terminal.Error(err) }()
	rs, err := pq.Eval(ctx, rego.EvalInput(in))
	if err != nil {
		return nil, version, fmt.Errorf("evaluating the classification policy (%s): %w", version, err)
	}
	if len(rs) != 1 || len(rs[0].Expressions) != 1 {
		return nil, version, fmt.Errorf("the classification policy (%s) gave no result", version)
	}
	raw, err := json.Marshal(rs[0].Expressions[0].Value)
	if err != nil {
		return nil, version, err
	}
	var r classificationResult
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, version, fmt.Errorf("the classification policy (%s) answered %s: %w", version, raw, err)
	}
	out := &kubernautv1.Classification{
		Environment: kubernautv1.Environment(r.Environment), Severity: kubernautv1.Severity(r.Severity),
		Priority: kubernautv1.Priority(r.Priority), SignalType: r.SignalType,
		BusinessCriticality: kubernautv1.Criticality(r.BusinessCriticality), Reasons: r.Reasons,
	}
	if err := validClassification(out); err != nil {
		return nil, version, fmt.Errorf("the classification policy (%s) answered an invalid classification: %w", version, err)
	}
	return out, version, nil
}

func validClassification(c *kubernautv1.Classification) error {
	switch c.Environment {
	case kubernautv1.EnvironmentProduction, kubernautv1.EnvironmentStaging, kubernautv1.EnvironmentDevelopment, kubernautv1.EnvironmentUnknown:
	default:
		return fmt.Errorf("environment %q", c.Environment)
	}
	switch c.Severity {
	case kubernautv1.SeverityCritical, kubernautv1.SeverityWarning, kubernautv1.SeverityInfo, kubernautv1.SeverityUnknown:
	default:
		return fmt.Errorf("severity %q", c.Severity)
	}
	switch c.Priority {
	case "P0", "P1", "P2", "P3":
	default:
		return fmt.Errorf("priority %q", c.Priority)
	}
	switch c.BusinessCriticality {
	case "high", "medium", "low", "unknown":
	default:
		return fmt.Errorf("business criticality %q", c.BusinessCriticality)
	}
	if c.SignalType == "" || len(c.SignalType) > 63 {
		return fmt.Errorf("signal type %q", c.SignalType)
	}
	if len(c.Reasons) > 16 {
		c.Reasons = c.Reasons[:16]
	}
	return nil
}

// input is the policy's input document.
func (c *Classifier) input(ctx context.Context, rp *kubernautv1.RemediationProcessing, e *kubernautv1.Enrichment) (map[string]any, error) {
	t := rp.Spec.Target
	nsName := t.Namespace
	if t.Kind == kubernautv1.TargetKindNamespace {
		nsName = t.Name
	}
	namespace := map[string]any{"name": nsName, "labels": map[string]string{}, "annotations": map[string]string{}}
	if nsName != "" {
		var ns corev1.Namespace
		if err := c.Reader.Get(ctx, client.ObjectKey{Name: nsName}, &ns); err == nil {
			namespace["labels"], namespace["annotations"] = orEmpty(ns.Labels), orEmpty(ns.Annotations)
		} else if client.IgnoreNotFound(err) != nil {
			return nil, fmt.Errorf("reading namespace %s for classification: %w", nsName, err)
		}
	}
	workload := map[string]any{"annotations": map[string]string{}}
	if e != nil && e.Workload != nil {
		workload["annotations"] = orEmpty(e.Workload.Annotations)
	}
	return map[string]any{
		"signal": map[string]any{
			"name": rp.Spec.Signal.Name, "severity": string(rp.Spec.Signal.Severity),
			"labels": orEmpty(rp.Spec.Signal.Labels), "source": string(rp.Spec.Signal.Source),
		},
		"target":    map[string]any{"kind": string(t.Kind), "namespace": t.Namespace, "name": t.Name},
		"namespace": namespace,
		"workload":  workload,
		"facts":     facts.Of(e, rp.Spec.Signal.StartsAt.Time),
	}, nil
}

func orEmpty(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}
