package rego

import (
	"context"
	"fmt"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// GatherSafetyContext gathers what the safety policy weighs for a plan: environment and GitOps
// ownership from its analysis, and the other remediations of its target in the hour before now.
func GatherSafetyContext(ctx context.Context, c client.Reader, we *kubernautv1.WorkflowExecution, now time.Time) (SafetyContext, error) {
	var aia kubernautv1.AIAnalysis
	err := c.Get(ctx, client.ObjectKey{Namespace: we.Namespace, Name: we.Spec.AIAnalysisRef.Name}, &aia)
	if client.IgnoreNotFound(err) != nil {
		return SafetyContext{Environment: kubernautv1.EnvironmentUnknown}, fmt.Errorf("reading AIAnalysis %s: %w", we.Spec.AIAnalysisRef.Name, err)
	}
	sc := AnalysisContext(aia.Spec.Classification, aia.Spec.Enrichment)
	// Plans on the same object: WorkflowExecutions carry the resolved workload as their target,
	// while the alerts behind them may name different pods of it.
	// Selected by the target's label: reading every plan of the namespace for each step made
	// 1,000 remediations at once quadratic (docs/benchmarks.md).
	var list kubernautv1.WorkflowExecutionList
	if err := c.List(ctx, &list, client.InNamespace(we.Namespace), client.MatchingLabels{kubernautv1.LabelTargetHash: we.Spec.Target.Hash()}); err != nil {
		return sc, fmt.Errorf("counting recent remediations: %w", err)
	}
	since := now.Add(-time.Hour)
	for _, other := range list.Items {
		if other.Name != we.Name && other.Spec.Target == we.Spec.Target && other.CreationTimestamp.After(since) {
			sc.RecentRemediations++
		}
	}
	return sc, nil
}

// AnalysisContext is what the safety policy weighs that an analysis knows: the environment of
// its classification, and the GitOps ownership, replica count and HPA maximum of its
// enrichment (either may be nil). The live chain and kubernaut backtest both start from it.
func AnalysisContext(class *kubernautv1.Classification, e *kubernautv1.Enrichment) SafetyContext {
	sc := SafetyContext{Environment: kubernautv1.EnvironmentUnknown}
	if class != nil {
		sc.Environment = class.Environment
	}
	if e == nil {
		return sc
	}
	sc.GitOps = e.GitOps
	if e.Workload != nil && e.Workload.Replicas != nil {
		sc.Current = map[string]int64{"replicas": int64(*e.Workload.Replicas)}
	}
	if e.HPA != nil {
		if sc.Current == nil {
			sc.Current = map[string]int64{}
		}
		sc.Current["hpaMax"] = int64(e.HPA.MaxReplicas)
	}
	return sc
}
