package workflowexecution

import (
	"context"
	"errors"
	"fmt"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubernaut/kubernaut/actions"
	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/catalog"
	"github.com/kubernaut/kubernaut/controllers/grants"
	"github.com/kubernaut/kubernaut/terminal"
)

// dryRun is the API server's dry run (dryRun=All) of one step's mutation as the cluster is
// now, with the diff, for the approver to read in status.plan. Each step is dry-run against the
// cluster as it is, not as the earlier steps will leave it; every step is dry-run again right
// before it executes. A transient error is returned; a refusal is a Failed result.
//
// With Grants, the dry run is made as the step's own ServiceAccount, under a grant held for the
// plan only while its dry run lasts (the controller holds no right to change anything).
func (r *Reconciler) dryRun(ctx context.Context, we *kubernautv1.WorkflowExecution, s kubernautv1.PlanStep) (_ *kubernautv1.DryRunResult, err error) {
	if r.Actions == nil {
		return &kubernautv1.DryRunResult{Result: "Skipped", Message: "no dry run at planning in this controller; the step dry-runs right before it executes"}, nil
	}
	impl, err := actions.For(s.Action)
	if err != nil {
		return &kubernautv1.DryRunResult{Result: "Failed", Message: kubernautv1.Truncate(terminal.Message(err), 1024)}, nil
	}
	entry, err := catalog.Lookup(s.Action)
	if err != nil {
		return &kubernautv1.DryRunResult{Result: "Failed", Message: kubernautv1.Truncate(err.Error(), 1024)}, nil
	}
	env := *r.Actions
	if r.Grants != nil {
		holder := grants.HolderOf("WorkflowExecution", we)
		if err := r.Grants.Grant(ctx, holder, entry, s.Target); err != nil {
			return nil, fmt.Errorf("dry-running step %s: %w", s.Name, err)
		}
		defer func() {
			if rerr := r.Grants.Revoke(ctx, holder, entry, s.Target); rerr != nil {
				err = errors.Join(err, fmt.Errorf("after dry-running step %s: %w", s.Name, rerr))
			}
		}()
		if env, err = r.Grants.Env(env, s.Action); err != nil {
			return nil, err
		}
	}
	pre, err := impl.Capture(ctx, *r.Actions, s.ActionStep)
	if err == nil {
		var change actions.Change
		change, err = impl.Execute(ctx, env, s.ActionStep, pre, true)
		if err == nil {
			return &kubernautv1.DryRunResult{Result: "Succeeded", Diff: change.Diff, Message: kubernautv1.Truncate(change.Message, 1024), PreState: pre}, nil
		}
	}
	if !terminal.Is(err) {
		return nil, fmt.Errorf("dry-running step %s: %w", s.Name, err)
	}
	return &kubernautv1.DryRunResult{Result: "Failed", Message: kubernautv1.Truncate(terminal.Message(err), 1024)}, nil
}

// NeedsGrant reports whether a plan still needs a grant made at grantedAt for a dry run at
// planning: a dry run takes seconds and its grant is revoked right after it; one older than
// a minute was left by a revocation that failed or a controller that stopped.
func NeedsGrant(_ client.Object, grantedAt, now time.Time) bool {
	return now.Sub(grantedAt) < time.Minute
}
