package remediationrequest

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/terminal"
)

// stage is one step on a remediation's way. It lets the remediation go on to the next stage,
// or stops it there: waiting (res says when to look again) or ended.
type stage struct {
	name string
	run  func(ctx context.Context, rr *kubernautv1.RemediationRequest, w *way) (stop bool, res ctrl.Result, err error)
}

// way is what the stages read, for the stages after them.
type way struct {
	now time.Time
	rp  *kubernautv1.RemediationProcessing
	aia *kubernautv1.AIAnalysis
}

// stages are a remediation's way, in order (docs/orchestration.md, "The path"): the guards;
// an alert that resolved before anything ran; the processing; the analysis; the guards
// before execution (the kill switch, the target's claim); the plan, to its end.
func (r *Reconciler) stages() []stage {
	return []stage{
		{"guards", r.guards},
		{"resolution", r.resolvedEarly},
		{"processing", r.processing},
		{"analysis", r.analysis},
		{"pre-execution guards", r.preExecutionGuards},
		{"plan", r.plan},
	}
}

// advance runs the stages in order until one waits or ends the remediation. A stage's
// terminal error ends the remediation Failed, saying why.
func (r *Reconciler) advance(ctx context.Context, rr *kubernautv1.RemediationRequest, now time.Time) (ctrl.Result, error) {
	if rr.Status.StartedAt == nil {
		t := metav1.NewTime(now)
		rr.Status.StartedAt = &t
	}
	w := &way{now: now}
	for _, s := range r.stages() {
		stop, res, err := s.run(ctx, rr, w)
		switch {
		case terminal.Is(err):
			end(rr, kubernautv1.ReasonFailed, terminal.Message(err))
			return ctrl.Result{}, err
		case err != nil:
			return ctrl.Result{}, fmt.Errorf("%s: %w", s.name, err)
		case stop:
			return res, nil
		}
	}
	return ctrl.Result{}, nil
}

// skip ends the remediation Skipped on a guard's verdict: GuardsPassed False with its reason,
// and the remediation that blocks this one, if one does.
func skip(rr *kubernautv1.RemediationRequest, v guardVerdict) (bool, ctrl.Result, error) {
	setCondition(rr, kubernautv1.GuardsPassedCondition, metav1.ConditionFalse, v.reason, v.message)
	if v.blockedBy != "" {
		rr.Status.BlockedBy = &kubernautv1.LocalReference{Name: v.blockedBy}
	}
	end(rr, kubernautv1.ReasonSkipped, v.message)
	return true, ctrl.Result{}, nil
}

// guards checks, once, that the remediation may start at all (guards.go: the kill switch,
// the opt-in scope, a remediation already running for the target, cooldown, consecutive
// failures).
func (r *Reconciler) guards(ctx context.Context, rr *kubernautv1.RemediationRequest, w *way) (bool, ctrl.Result, error) {
	if meta.IsStatusConditionTrue(rr.Status.Conditions, kubernautv1.GuardsPassedCondition) {
		return false, ctrl.Result{}, nil
	}
	in, err := r.guardInput(ctx, rr, w.now)
	if err != nil {
		return true, ctrl.Result{}, err
	}
	if v := checkGuards(r.Config, in); v.reason != "" {
		return skip(rr, v)
	}
	setCondition(rr, kubernautv1.GuardsPassedCondition, metav1.ConditionTrue, kubernautv1.ReasonGuardsPassed, "every guard allowed the remediation")
	return false, ctrl.Result{}, nil
}

// resolvedEarly cancels a remediation whose alert resolved before its plan was created.
func (r *Reconciler) resolvedEarly(_ context.Context, rr *kubernautv1.RemediationRequest, _ *way) (bool, ctrl.Result, error) {
	if rr.Spec.ResolvedAt == nil || rr.Status.WorkflowExecutionRef != nil {
		return false, ctrl.Result{}, nil
	}
	end(rr, kubernautv1.ReasonCancelled, fmt.Sprintf("the alert resolved at %s, before execution started",
		rr.Spec.ResolvedAt.UTC().Format(time.RFC3339)))
	return true, ctrl.Result{}, nil
}

// processing creates the RemediationProcessing and waits for its enrichment and
// classification.
func (r *Reconciler) processing(ctx context.Context, rr *kubernautv1.RemediationRequest, w *way) (bool, ctrl.Result, error) {
	rp, err := ensureChild(ctx, r, rr, newProcessing(rr))
	if err != nil {
		return true, ctrl.Result{}, err
	}
	w.rp = rp
	rr.Status.RemediationProcessingRef = &kubernautv1.LocalReference{Name: rp.Name}
	switch rp.Status.Phase {
	case kubernautv1.ProcessingCompleted:
		setCondition(rr, kubernautv1.ProcessedCondition, metav1.ConditionTrue, kubernautv1.ReasonEnriched, "enriched and classified")
		if c := rp.Status.Classification; c != nil {
			rr.Status.SignalType = c.SignalType
		}
		return false, ctrl.Result{}, nil
	case kubernautv1.ProcessingFailed:
		msg := "processing failed: " + readyMessage(rp.Status.Conditions)
		setCondition(rr, kubernautv1.ProcessedCondition, metav1.ConditionFalse, kubernautv1.ReasonFailed, msg)
		end(rr, kubernautv1.ReasonFailed, msg)
		return true, ctrl.Result{}, nil
	default:
		setCondition(rr, kubernautv1.ProcessedCondition, metav1.ConditionUnknown, kubernautv1.ReasonInProgress, "enriching and classifying")
		return true, r.timeout(rr, w.now), nil
	}
}

// analysis creates the AIAnalysis from the processing and waits for its root cause, plan and
// approval decision.
func (r *Reconciler) analysis(ctx context.Context, rr *kubernautv1.RemediationRequest, w *way) (bool, ctrl.Result, error) {
	aia, err := ensureChild(ctx, r, rr, newAnalysis(rr, w.rp))
	if err != nil {
		return true, ctrl.Result{}, err
	}
	w.aia = aia
	rr.Status.AIAnalysisRef = &kubernautv1.LocalReference{Name: aia.Name}
	stop, res := r.analyzed(rr, aia, w.now)
	return stop, res, nil
}

// preExecutionGuards checks, right before the plan is created, the kill switch and that no
// other remediation holds the plan's blast radius (claim.go).
func (r *Reconciler) preExecutionGuards(ctx context.Context, rr *kubernautv1.RemediationRequest, w *way) (bool, ctrl.Result, error) {
	if rr.Status.WorkflowExecutionRef != nil {
		return false, ctrl.Result{}, nil // checked when the plan was created
	}
	on, err := r.killSwitch(ctx)
	if err != nil {
		return true, ctrl.Result{}, err
	}
	if on {
		return skip(rr, guardVerdict{reason: kubernautv1.ReasonKillSwitchActive,
			message: fmt.Sprintf("the kill switch (%s) stops new executions", r.Config.KillSwitch(nil))})
	}
	v, err := r.claimTarget(ctx, rr, blastRadius(rr, w.aia), w.now)
	if err != nil {
		return true, ctrl.Result{}, err
	}
	if v.reason != "" {
		return skip(rr, v)
	}
	return false, ctrl.Result{}, nil
}

// plan creates the WorkflowExecution and mirrors its approval, execution and verification
// until it ends; a plan not started when the alert resolves is withdrawn.
func (r *Reconciler) plan(ctx context.Context, rr *kubernautv1.RemediationRequest, w *way) (bool, ctrl.Result, error) {
	// The trust level is decided once, when the plan is first created, and recorded: a plan
	// deleted and created again gets the same mode.
	mode := w.aia.Status.Approval.Mode
	if rr.Status.WorkflowExecutionRef == nil {
		decision, err := r.trustOf(ctx, rr, w.aia, blastRadius(rr, w.aia))
		if err != nil {
			return true, ctrl.Result{}, err
		}
		rr.Status.Trust = decision
	}
	if rr.Status.Trust != nil {
		mode = rr.Status.Trust.Mode
	}
	we, err := ensureChild(ctx, r, rr, newWorkflow(rr, w.aia, mode))
	if err != nil {
		return true, ctrl.Result{}, err
	}
	rr.Status.WorkflowExecutionRef = &kubernautv1.LocalReference{Name: we.Name}
	if rr.Spec.ResolvedAt != nil && notStarted(we) {
		// Resolved while the plan waits (for its approval, say): nothing may start now.
		msg := fmt.Sprintf("the alert resolved at %s, before execution started", rr.Spec.ResolvedAt.UTC().Format(time.RFC3339))
		if err := r.withdrawPlan(ctx, rr, we, msg); err != nil {
			return true, ctrl.Result{}, err
		}
		end(rr, kubernautv1.ReasonCancelled, msg+"; the plan was withdrawn")
		return true, ctrl.Result{}, nil
	}
	return true, r.executed(rr, we, w.now), nil
}
