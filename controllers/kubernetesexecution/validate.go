package kubernetesexecution

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubernaut/kubernaut/actions"
	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/catalog"
	"github.com/kubernaut/kubernaut/controllers/grants"
	kubernautrego "github.com/kubernaut/kubernaut/rego"
	"github.com/kubernaut/kubernaut/terminal"
)

// reject ends the step before anything mutated.
func reject(ke *kubernautv1.KubernetesExecution, reason, msg string) {
	set(ke, kubernautv1.ValidatedCondition, metav1.ConditionFalse, reason, msg)
	end(ke, kubernautv1.ReasonRejected, msg)
}

// validate is the Validating stage: for a step, its parameters and target (the pre-state
// capture refuses what cannot apply), the safety policy with the world as it is now, the
// SubjectAccessReview and the server-side dry run; for a compensation, what there is to undo.
// Nothing mutates here. It ends with the pre-state recorded, before any mutation.
func (r *Reconciler) validate(ctx context.Context, ke *kubernautv1.KubernetesExecution, now time.Time) error {
	entry, err := catalog.Lookup(ke.Spec.Action)
	if err != nil {
		reject(ke, kubernautv1.ReasonInvalidParameters, "spec.action: "+err.Error())
		return nil
	}
	impl, err := actions.For(ke.Spec.Action)
	if err != nil {
		reject(ke, kubernautv1.ReasonInvalidParameters, terminal.Message(err))
		return nil
	}
	if r.KillSwitch != nil {
		on, err := r.KillSwitch.On(ctx)
		if err != nil {
			return err
		}
		if on {
			reject(ke, kubernautv1.ReasonKillSwitchActive, fmt.Sprintf("the kill switch (%s) stops every step: %s on %s changed nothing", r.KillSwitch, ke.Spec.Action, ke.Spec.Target))
			return nil
		}
	}
	// The plan, read once: for the approval check and the safety policy's context.
	we, msg, err := r.approvedStep(ctx, ke, now)
	switch {
	case err != nil:
		return err
	case msg != "":
		reject(ke, kubernautv1.ReasonNotApproved, msg)
		return nil
	}
	if ke.Spec.Mode == kubernautv1.ExecutionModeCompensate {
		return r.validateUndo(ctx, ke, we, entry, impl, now)
	}
	step := ke.Spec.ActionStep
	pre, err := impl.Capture(ctx, r.Env, step)
	switch {
	case terminal.Is(err):
		reject(ke, kubernautv1.ReasonInvalidParameters, fmt.Sprintf("%s cannot run on %s: %s", step.Action, step.Target, terminal.Message(err)))
		return nil
	case err != nil:
		return fmt.Errorf("reading the pre-state of %s: %w", step.Target, err)
	}

	verdict, err := r.policy(ctx, ke, we, pre, now, false)
	switch {
	case terminal.Is(err):
		reject(ke, kubernautv1.ReasonPolicyError, "the safety policy failed: "+terminal.Message(err))
		return err
	case err != nil:
		return err
	}
	ke.Status.PolicyDecision = &verdict
	if !verdict.Allowed {
		reject(ke, kubernautv1.ReasonPolicyDenied, "the safety policy refused the step: "+strings.Join(verdict.Violations, "; "))
		return nil
	}
	env, err := r.grant(ctx, ke, entry)
	if err != nil {
		return err
	}
	if ok, err := r.authorize(ctx, ke, entry); err != nil || !ok {
		return err
	}

	change, err := impl.Execute(ctx, env, step, pre, true)
	if err != nil {
		if !terminal.Is(err) {
			return fmt.Errorf("dry-running %s on %s: %w", step.Action, step.Target, err)
		}
		ke.Status.DryRun = &kubernautv1.DryRunResult{Result: "Failed", Message: kubernautv1.Truncate(terminal.Message(err), 1024)}
		reject(ke, kubernautv1.ReasonDryRunFailed, "the API server's dry run refused the change: "+terminal.Message(err))
		return nil
	}
	ke.Status.DryRun = &kubernautv1.DryRunResult{Result: "Succeeded", Diff: change.Diff, Message: kubernautv1.Truncate(change.Message, 1024)}
	set(ke, kubernautv1.ValidatedCondition, metav1.ConditionTrue, kubernautv1.ReasonValidationPassed,
		"the safety policy, the ServiceAccount's permissions and the API server's dry run allow the step: "+change.Message)
	r.afterValidation(ke, pre, change.Message)
	return nil
}

// afterValidation records the pre-state and moves to Executing, or ends a dry run.
func (r *Reconciler) afterValidation(ke *kubernautv1.KubernetesExecution, pre *kubernautv1.PreState, what string) {
	if ke.Spec.DryRun || r.DryRunAll {
		msg := "dry run: nothing was mutated; it would have: " + what
		set(ke, kubernautv1.ExecutedCondition, metav1.ConditionTrue, kubernautv1.ReasonDryRun, msg)
		set(ke, kubernautv1.VerifiedCondition, metav1.ConditionTrue, kubernautv1.ReasonDryRun, msg)
		ke.Status.Result = &kubernautv1.ActionResult{Success: true, Message: kubernautv1.Truncate(msg, 2048)}
		return
	}
	ke.Status.PreState = pre
	set(ke, kubernautv1.ExecutedCondition, metav1.ConditionUnknown, kubernautv1.ReasonInProgress, "executing "+string(ke.Spec.Action)+" on "+ke.Spec.Target.String())
}

// policy evaluates the safety policy on the step as the world is now: the plan's context, with
// the current values read by the capture. The policy's own failure (a broken override) is
// terminal; a failure to read the world is transient.
func (r *Reconciler) policy(ctx context.Context, ke *kubernautv1.KubernetesExecution, we *kubernautv1.WorkflowExecution, pre *kubernautv1.PreState, now time.Time, compensation bool) (v kubernautv1.PolicyVerdict, err error) {
	sc := kubernautrego.SafetyContext{Environment: kubernautv1.EnvironmentUnknown}
	if we != nil { // the step's plan (nil for a step that names none)
		if sc, err = kubernautrego.GatherSafetyContext(ctx, r.APIReader, we, now); err != nil {
			return v, err
		}
	}
	sc.Compensation = compensation
	current := map[string]*int32{"replicas": pre.Replicas, "hpaMax": pre.MaxReplicas}
	for k, n := range current {
		if n != nil {
			if sc.Current == nil {
				sc.Current = map[string]int64{}
			}
			sc.Current[k] = int64(*n)
		}
	}
	name := ke.Spec.StepName
	if name == "" {
		name = ke.Name
	}
	return r.Safety.Evaluate(ctx, kubernautv1.PlanStep{Name: name, ActionStep: ke.Spec.ActionStep}, sc, now)
}

// authorize runs the SubjectAccessReview; false means the step was rejected.
func (r *Reconciler) authorize(ctx context.Context, ke *kubernautv1.KubernetesExecution, entry catalog.Action) (bool, error) {
	if r.Authorizer == nil {
		return true, nil
	}
	res, err := r.Authorizer.Authorize(ctx, entry, ke.Spec.Target)
	if err != nil {
		return false, err
	}
	ke.Status.Authorization = res
	if !res.Allowed {
		reject(ke, kubernautv1.ReasonUnauthorized, fmt.Sprintf("ServiceAccount %s may not: %s", res.ServiceAccount, strings.Join(res.Denied, ", ")))
		return false, nil
	}
	return true, nil
}

// validateUndo finds what a compensation restores: the pre-state of the step it names, if that
// step got as far as changing anything and its action has an inverse.
func (r *Reconciler) validateUndo(ctx context.Context, ke *kubernautv1.KubernetesExecution, we *kubernautv1.WorkflowExecution, entry catalog.Action, impl actions.Action, now time.Time) error {
	name := ke.Spec.Compensates.Name
	orig := &kubernautv1.KubernetesExecution{}
	err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: ke.Namespace, Name: name}, orig)
	switch {
	case apierrors.IsNotFound(err):
		r.nothingToUndo(ke, fmt.Sprintf("step %s never ran: nothing to undo", name))
		return nil
	case err != nil:
		return fmt.Errorf("reading the compensated step %s: %w", name, err)
	case orig.Spec.Action != ke.Spec.Action || orig.Spec.Target != ke.Spec.Target:
		reject(ke, kubernautv1.ReasonInvalidParameters, fmt.Sprintf("spec.compensates: step %s ran %s on %s, not %s on %s",
			name, orig.Spec.Action, orig.Spec.Target, ke.Spec.Action, ke.Spec.Target))
		return nil
	case !ended(orig) && orig.Status.PreState != nil:
		// A step stopped from outside (a deleted plan, Argo's deadline) may still be changing
		// its target: its undo waits for it to end, bounded by the undo's own timeout.
		return errStepRunning
	case orig.Spec.DryRun || orig.Status.PreState == nil:
		r.nothingToUndo(ke, fmt.Sprintf("step %s changed nothing (it was a dry run or stopped before executing): nothing to undo", name))
		return nil
	}
	// The safety policy again, as for any change: the object may have become off limits
	// (a protected namespace, GitOps ownership) since the step ran.
	verdict, err := r.policy(ctx, ke, we, orig.Status.PreState, now, true)
	switch {
	case terminal.Is(err):
		reject(ke, kubernautv1.ReasonPolicyError, "the safety policy failed on the undo of step "+name+": "+terminal.Message(err))
		return err
	case err != nil:
		return err
	}
	ke.Status.PolicyDecision = &verdict
	if !verdict.Allowed {
		reject(ke, kubernautv1.ReasonPolicyDenied, "the safety policy refused the undo of step "+name+": "+strings.Join(verdict.Violations, "; "))
		return nil
	}
	env, err := r.grant(ctx, ke, entry)
	if err != nil {
		return err
	}
	if ok, err := r.authorize(ctx, ke, entry); err != nil || !ok {
		return err
	}
	change, err := impl.Undo(ctx, env, ke.Spec.ActionStep, orig.Status.PreState, true)
	switch {
	case errors.Is(err, actions.ErrNoInverse):
		r.nothingToUndo(ke, fmt.Sprintf("%s has no inverse (step %s leaves nothing to restore)", ke.Spec.Action, name))
		return nil
	case err != nil && !terminal.Is(err):
		return fmt.Errorf("dry-running the undo of %s: %w", name, err)
	case err != nil:
		ke.Status.DryRun = &kubernautv1.DryRunResult{Result: "Failed", Message: kubernautv1.Truncate(terminal.Message(err), 1024)}
		reject(ke, kubernautv1.ReasonDryRunFailed, "the API server's dry run refused the undo: "+terminal.Message(err))
		return nil
	}
	ke.Status.DryRun = &kubernautv1.DryRunResult{Result: "Succeeded", Diff: change.Diff, Message: kubernautv1.Truncate(change.Message, 1024)}
	set(ke, kubernautv1.ValidatedCondition, metav1.ConditionTrue, kubernautv1.ReasonValidationPassed, "restores the pre-state of step "+name+": "+change.Message)
	r.afterValidation(ke, orig.Status.PreState.DeepCopy(), change.Message)
	return nil
}

func (r *Reconciler) nothingToUndo(ke *kubernautv1.KubernetesExecution, msg string) {
	set(ke, kubernautv1.ValidatedCondition, metav1.ConditionTrue, kubernautv1.ReasonNothingToUndo, msg)
	set(ke, kubernautv1.ExecutedCondition, metav1.ConditionTrue, kubernautv1.ReasonNothingToUndo, msg)
	set(ke, kubernautv1.VerifiedCondition, metav1.ConditionTrue, kubernautv1.ReasonNothingToUndo, msg)
	ke.Status.Result = &kubernautv1.ActionResult{Success: true, Message: kubernautv1.Truncate(msg, 2048)}
}

// approvedStep says why a step that names its plan (spec.workflowExecutionRef) is not a step
// of that plan as approved ("" when it is): the plan must exist and be approved, and the step
// must carry the plan's action, target, parameters and dry-run flag for its name (an undo,
// "undo-<step>", those of the step it undoes). The plan's spec cannot change once created
// (the CRD), and its approval names the plan's hash. A step naming no plan is Kubernaut's own
// or an administrator's: admission refuses steps from anyone else, and requires the Argo
// Workflows' ServiceAccount to name a plan.
func (r *Reconciler) approvedStep(ctx context.Context, ke *kubernautv1.KubernetesExecution, now time.Time) (*kubernautv1.WorkflowExecution, string, error) {
	ref := ke.Spec.WorkflowExecutionRef
	if ref == nil {
		return nil, "", nil
	}
	we := &kubernautv1.WorkflowExecution{}
	err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: ke.Namespace, Name: ref.Name}, we)
	switch {
	case apierrors.IsNotFound(err):
		return nil, fmt.Sprintf("WorkflowExecution %s does not exist: a step runs only as a step of an approved plan", ref.Name), nil
	case err != nil:
		return nil, "", fmt.Errorf("reading WorkflowExecution %s: %w", ref.Name, err)
	}
	switch c := meta.FindStatusCondition(we.Status.Conditions, kubernautv1.ApprovedCondition); {
	case (c == nil || c.Status == metav1.ConditionUnknown) && now.Sub(ke.CreationTimestamp.Time) < planPendingWait:
		// The engine may create a step in the reconcile that records the approval, before
		// that status write lands: wait for it.
		return nil, "", errPlanPending
	case c == nil || c.Status != metav1.ConditionTrue || we.Status.Plan == nil || we.Status.Approval == nil ||
		we.Status.Approval.PlanHash != we.Status.Plan.Hash:
		return nil, fmt.Sprintf("plan %s is not approved: its steps do not run", we.Name), nil
	}
	name := strings.TrimPrefix(ke.Spec.StepName, "undo-")
	if ke.Spec.Mode == kubernautv1.ExecutionModeCompensate != strings.HasPrefix(ke.Spec.StepName, "undo-") {
		return nil, fmt.Sprintf("step %q of plan %s: an undo is named undo-<step>, and only an undo is", ke.Spec.StepName, we.Name), nil
	}
	for _, s := range we.Spec.Steps {
		if s.Name != name {
			continue
		}
		if !sameStep(s.ActionStep, ke.Spec.ActionStep) {
			return nil, fmt.Sprintf("step %s is not what plan %s (%s) approved: it would run %s on %s with other parameters than the plan's %s on %s",
				ke.Spec.StepName, we.Name, we.Status.Plan.Hash, ke.Spec.Action, ke.Spec.Target, s.Action, s.Target), nil
		}
		if we.Spec.DryRun && !ke.Spec.DryRun {
			return nil, fmt.Sprintf("plan %s is a dry run: its step %s may not change anything", we.Name, ke.Spec.StepName), nil
		}
		if we.DeletionTimestamp != nil && ke.Spec.Mode != kubernautv1.ExecutionModeCompensate {
			// Whatever the engine does, a deleted plan starts nothing new: only its undo runs.
			return nil, fmt.Sprintf("plan %s is being deleted: no new step starts, its completed steps are undone", we.Name), nil
		}
		return we, "", nil
	}
	return nil, fmt.Sprintf("plan %s has no step %q", we.Name, name), nil
}

// sameStep compares a step with the plan's: the same action and target, and the same
// parameters, where none and empty ones (the generic undo template passes {}) are alike.
func sameStep(plan, step kubernautv1.ActionStep) bool {
	empty := func(p *kubernautv1.ActionParameters) bool {
		return p == nil || equality.Semantic.DeepEqual(*p, kubernautv1.ActionParameters{})
	}
	if plan.Action != step.Action || plan.Target != step.Target {
		return false
	}
	if empty(plan.Parameters) || empty(step.Parameters) {
		return empty(plan.Parameters) && empty(step.Parameters)
	}
	return equality.Semantic.DeepEqual(plan.Parameters, step.Parameters)
}

// errPlanPending: the step's plan has no approval decision yet; the step waits (see
// planPendingWait) without a condition, and without a status write: it has not started.
var errPlanPending = errors.New("the step's plan is not decided yet")

// errStepRunning: the step an undo compensates has not ended; the undo waits, started (its
// own timeout counts from its first look), without a condition.
var errStepRunning = errors.New("the compensated step has not ended")

// planPendingWait is how long a step waits for its plan's approval to be recorded before it
// is refused.
const planPendingWait = 2 * time.Minute

// planPendingRecheck is how often a waiting step looks at its plan again by itself: only in
// case the watch on plans missed the decision (it wakes the step when it lands).
const planPendingRecheck = 10 * time.Second

// grant gives the step's action its rights just in time, where its target is, and returns the
// env that acts as the action's ServiceAccount (with no Grants: the controller's own env).
func (r *Reconciler) grant(ctx context.Context, ke *kubernautv1.KubernetesExecution, entry catalog.Action) (actions.Env, error) {
	if r.Grants == nil {
		return r.Env, nil
	}
	if err := r.Grants.Grant(ctx, grants.HolderOf("KubernetesExecution", ke), entry, ke.Spec.Target); err != nil {
		return actions.Env{}, err
	}
	return r.actionEnv(ke)
}

// actionEnv is the env that acts as the step's action's ServiceAccount (with no Grants: the
// controller's own).
func (r *Reconciler) actionEnv(ke *kubernautv1.KubernetesExecution) (actions.Env, error) {
	if r.Grants == nil {
		return r.Env, nil
	}
	return r.Grants.Env(r.Env, ke.Spec.Action)
}

// NeedsGrant reports whether a step still needs its action's rights: until it has executed
// (verification only reads, with the controller's own rights) or ended.
func NeedsGrant(ke *kubernautv1.KubernetesExecution) bool {
	return !ended(ke) && !final(ke, kubernautv1.ExecutedCondition)
}

// revoke takes the step's rights back once it no longer needs them; a revocation that fails is
// the Sweeper's to finish.
func (r *Reconciler) revoke(ctx context.Context, ke, before *kubernautv1.KubernetesExecution) error {
	if r.Grants == nil || !NeedsGrant(before) || NeedsGrant(ke) {
		return nil
	}
	entry, err := catalog.Lookup(ke.Spec.Action)
	if err != nil {
		return nil // never granted: the action is not in the catalog
	}
	return r.Grants.Revoke(ctx, grants.HolderOf("KubernetesExecution", ke), entry, ke.Spec.Target)
}
