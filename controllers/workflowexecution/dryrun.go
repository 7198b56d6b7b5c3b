package workflowexecution

import (
	"context"
	"fmt"

	"github.com/kubernaut/kubernaut/actions-image/actions"
	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// dryRun is the API server's dry run (dryRun=All) of one step's mutation as the cluster is
// now, with the diff, for the approver to read in status.plan. Each step is dry-run against the
// cluster as it is, not as the earlier steps will leave it; every step is dry-run again right
// before it executes. A transient error is returned; a refusal is a Failed result.
func (r *Reconciler) dryRun(ctx context.Context, s kubernautv1.PlanStep) (*kubernautv1.DryRunResult, error) {
	if r.Actions == nil {
		return &kubernautv1.DryRunResult{Result: "Skipped", Message: "no dry run at planning in this controller; the step dry-runs right before it executes"}, nil
	}
	impl, err := actions.For(s.Action)
	if err != nil {
		return &kubernautv1.DryRunResult{Result: "Failed", Message: kubernautv1.Truncate(err.Error(), 1024)}, nil
	}
	pre, err := impl.Capture(ctx, *r.Actions, s.ActionStep)
	if err == nil {
		var change actions.Change
		change, err = impl.Execute(ctx, *r.Actions, s.ActionStep, pre, true)
		if err == nil {
			return &kubernautv1.DryRunResult{Result: "Succeeded", Diff: change.Diff, Message: kubernautv1.Truncate(change.Message, 1024)}, nil
		}
	}
	if !actions.Permanent(err) {
		return nil, fmt.Errorf("dry-running step %s: %w", s.Name, err)
	}
	return &kubernautv1.DryRunResult{Result: "Failed", Message: kubernautv1.Truncate(err.Error(), 1024)}, nil
}
