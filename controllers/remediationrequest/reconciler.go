package remediationrequest

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/log"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/controllers/freshness"
	"github.com/kubernaut/kubernaut/record"
	"github.com/kubernaut/kubernaut/terminal"
)

// Reconciler drives RemediationRequests.
type Reconciler struct {
	// Client reads from the cache and writes to the API server.
	Client client.Client
	// APIReader reads straight from the API server (namespaces, nodes, the kill switch,
	// children the cache has not seen yet).
	APIReader client.Reader
	// Events records an event per transition.
	Events events.EventRecorder
	// Config tunes guards, timeouts and retention.
	Config Config
	// Metrics counts transitions and outcomes.
	Metrics *Metrics
	// Now is the clock; time.Now when nil.
	Now func() time.Time

	// written keeps a reconcile from starting on a cached object older than this
	// controller's last status write (it would write the same status and events again).
	written *freshness.Tracker
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Reconcile advances one RemediationRequest and writes its status once.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	rr := &kubernautv1.RemediationRequest{}
	if err := r.Client.Get(ctx, req.NamespacedName, rr); err != nil {
		if apierrors.IsNotFound(err) {
			r.written.Forget(req.NamespacedName)
		}
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	if r.written.Stale(rr) {
		return ctrl.Result{RequeueAfter: freshness.Retry}, nil
	}
	if rr.DeletionTimestamp != nil {
		r.written.Forget(req.NamespacedName)
		return ctrl.Result{}, nil
	}
	now := r.now()
	if rr.Status.Phase.IsFinished() {
		r.written.Forget(req.NamespacedName)
		if err := r.withdraw(ctx, rr); err != nil {
			return ctrl.Result{}, err
		}
		return r.retain(ctx, rr, now)
	}
	before := rr.DeepCopy()
	res, err := r.advance(ctx, rr, now)
	if terminal.Is(err) {
		// Recorded as the remediation's end (advance) and logged here, but not returned: the
		// finished remediation's retention is scheduled below, which an error would drop.
		log.FromContext(ctx).Error(err, "the remediation failed for good")
		err = nil
	}
	r.summarize(rr, before, now)
	if !equality.Semantic.DeepEqual(before.Status, rr.Status) {
		if perr := r.Client.Status().Patch(ctx, rr, client.MergeFrom(before)); perr != nil {
			return ctrl.Result{}, errors.Join(err, fmt.Errorf("patching the status of RemediationRequest %s: %w", req, perr))
		}
		r.written.Wrote(rr)
		if rr.Status.Phase.IsFinished() && !before.Status.Phase.IsFinished() {
			r.logRecord(ctx, rr)
		}
	}
	if err == nil && rr.Status.Phase.IsFinished() {
		if err := r.withdraw(ctx, rr); err != nil {
			return ctrl.Result{}, err
		}
		return ctrl.Result{RequeueAfter: r.Config.Retention}, nil
	}
	return res, err
}

// withdraw deletes the plan of a finished remediation that has not started (being planned or
// waiting for its approval): once the remediation timed out, failed or was cancelled, nobody
// can approve its plan any more, and the target's claim is free for the next remediation.
// The delete is conditional on the version read (a plan changed meanwhile is looked at
// again); an approval that lands before the delete is refused by the WorkflowExecution
// controller (RemediationEnded), so it does not start the plan either.
func (r *Reconciler) withdraw(ctx context.Context, rr *kubernautv1.RemediationRequest) error {
	if rr.Status.WorkflowExecutionRef == nil {
		return nil
	}
	we := &kubernautv1.WorkflowExecution{}
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: rr.Namespace, Name: rr.Status.WorkflowExecutionRef.Name}, we)
	if apierrors.IsNotFound(err) || (err == nil && (!metav1.IsControlledBy(we, rr) || !notStarted(we) || we.DeletionTimestamp != nil)) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("reading WorkflowExecution %s of finished RemediationRequest %s: %w", rr.Status.WorkflowExecutionRef.Name, rr.Name, err)
	}
	return r.withdrawPlan(ctx, rr, we, "the remediation ended "+string(rr.Status.Phase))
}

// withdrawPlan deletes a plan that has not started, on the version read (a plan changed
// meanwhile is looked at again), and records why on the RemediationRequest.
func (r *Reconciler) withdrawPlan(ctx context.Context, rr *kubernautv1.RemediationRequest, we *kubernautv1.WorkflowExecution, why string) error {
	err := r.Client.Delete(ctx, we, client.Preconditions{UID: &we.UID, ResourceVersion: &we.ResourceVersion})
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case apierrors.IsConflict(err):
		return fmt.Errorf("withdrawing WorkflowExecution %s: it changed meanwhile, looking again: %w", we.Name, err)
	case err != nil:
		return fmt.Errorf("withdrawing WorkflowExecution %s of RemediationRequest %s: %w", we.Name, rr.Name, err)
	}
	r.event(rr, corev1.EventTypeNormal, "PlanWithdrawn", fmt.Sprintf("WorkflowExecution %s had not started when %s: withdrawn, it can no longer be approved", we.Name, why))
	return nil
}

// planning reports whether a WorkflowExecution is still being planned (compiled, validated,
// dry-run): not yet waiting for an approval nor running.
func planning(we *kubernautv1.WorkflowExecution) bool {
	switch we.Status.Phase {
	case "", kubernautv1.WorkflowPending, kubernautv1.WorkflowPlanning, kubernautv1.WorkflowValidating:
		return true
	}
	return false
}

// notStarted reports whether a WorkflowExecution has not begun executing: it is being planned
// or waits for its approval.
func notStarted(we *kubernautv1.WorkflowExecution) bool {
	return (planning(we) || we.Status.Phase == kubernautv1.WorkflowAwaitingApproval) &&
		!meta.IsStatusConditionTrue(we.Status.Conditions, kubernautv1.ApprovedCondition)
}

// analyzed reads the analysis; it reports whether the remediation waits or ended there.
func (r *Reconciler) analyzed(rr *kubernautv1.RemediationRequest, aia *kubernautv1.AIAnalysis, now time.Time) (bool, ctrl.Result) {
	switch aia.Status.Phase {
	case kubernautv1.AnalysisCompleted:
	case kubernautv1.AnalysisRejected:
		msg := "the analysis was rejected: " + readyMessage(aia.Status.Conditions)
		setCondition(rr, kubernautv1.AnalyzedCondition, metav1.ConditionFalse, kubernautv1.ReasonInvalidRecommendation, msg)
		end(rr, kubernautv1.ReasonRejected, msg)
		return true, ctrl.Result{}
	case kubernautv1.AnalysisFailed:
		msg := "the analysis failed: " + readyMessage(aia.Status.Conditions)
		setCondition(rr, kubernautv1.AnalyzedCondition, metav1.ConditionFalse, kubernautv1.ReasonAnalyzerFailed, msg)
		end(rr, kubernautv1.ReasonFailed, msg)
		return true, ctrl.Result{}
	default:
		setCondition(rr, kubernautv1.AnalyzedCondition, metav1.ConditionUnknown, kubernautv1.ReasonInProgress, "analyzing")
		return true, r.timeout(rr, now)
	}
	if rc := aia.Status.RootCause; rc != nil {
		rr.Status.RootCause = kubernautv1.Truncate(rc.Summary, 1024)
	}
	rec := aia.Status.Recommendation
	if rec == nil || len(rec.Steps) == 0 {
		msg := "no action recommended: a person must look (" + rr.Status.RootCause + ")"
		setCondition(rr, kubernautv1.AnalyzedCondition, metav1.ConditionTrue, kubernautv1.ReasonNoActionRecommended, msg)
		complete(rr, msg)
		return true, ctrl.Result{}
	}
	rr.Status.Actions = nil
	for _, s := range rec.Steps {
		rr.Status.Actions = append(rr.Status.Actions, s.Action)
	}
	reason := kubernautv1.ReasonRootCauseFound
	if aia.Status.Fallback {
		reason = kubernautv1.ReasonFallback
	}
	setCondition(rr, kubernautv1.AnalyzedCondition, metav1.ConditionTrue, reason, rr.Status.RootCause)
	approval := aia.Status.Approval
	if approval == nil {
		msg := "the analysis completed without an approval decision"
		end(rr, kubernautv1.ReasonFailed, msg)
		return true, ctrl.Result{}
	}
	rr.Status.ApprovalMode = approval.Mode
	if approval.Mode == kubernautv1.ApprovalRejected {
		msg := "the approval policy rejected the plan: " + joinReasons(approval.Reasons)
		setCondition(rr, kubernautv1.ApprovedCondition, metav1.ConditionFalse, kubernautv1.ReasonApprovalDenied, msg)
		end(rr, kubernautv1.ReasonRejected, msg)
		return true, ctrl.Result{}
	}
	return false, ctrl.Result{}
}

// executed mirrors the WorkflowExecution's approval, execution and verification.
func (r *Reconciler) executed(rr *kubernautv1.RemediationRequest, we *kubernautv1.WorkflowExecution, now time.Time) ctrl.Result {
	switch {
	case planning(we):
		setCondition(rr, kubernautv1.ValidatedCondition, metav1.ConditionUnknown, kubernautv1.ReasonInProgress, "planning: the plan's validation and dry run")
	case kubernautv1.MirrorCondition(&rr.Status.Conditions, rr.Generation, we.Status.Conditions, kubernautv1.ValidatedCondition):
	default:
		setCondition(rr, kubernautv1.ValidatedCondition, metav1.ConditionTrue, kubernautv1.ReasonPlanValid, "the plan was validated")
	}
	for _, t := range []string{kubernautv1.ApprovedCondition, kubernautv1.ExecutedCondition, kubernautv1.VerifiedCondition} {
		kubernautv1.MirrorCondition(&rr.Status.Conditions, rr.Generation, we.Status.Conditions, t)
	}
	if rr.Spec.ResolvedAt != nil {
		rr.Status.Message = fmt.Sprintf("the alert resolved at %s during execution; verification continues",
			rr.Spec.ResolvedAt.UTC().Format(time.RFC3339))
	}
	switch we.Status.Phase {
	case kubernautv1.WorkflowCompleted:
		// The WorkflowExecution's own message says it: "remediated and verified: <each step>".
		complete(rr, readyMessage(we.Status.Conditions))
	case kubernautv1.WorkflowObserved:
		end(rr, kubernautv1.ReasonObserved, readyMessage(we.Status.Conditions))
	case kubernautv1.WorkflowFailed:
		end(rr, kubernautv1.ReasonFailed, "the workflow failed: "+readyMessage(we.Status.Conditions))
	case kubernautv1.WorkflowRejected:
		end(rr, kubernautv1.ReasonRejected, "the plan was rejected: "+readyMessage(we.Status.Conditions))
	case kubernautv1.WorkflowTimedOut:
		end(rr, kubernautv1.ReasonTimedOut, "the workflow timed out: "+readyMessage(we.Status.Conditions))
	default:
		if meta.FindStatusCondition(rr.Status.Conditions, kubernautv1.ApprovedCondition) == nil && !planning(we) {
			setCondition(rr, kubernautv1.ApprovedCondition, metav1.ConditionUnknown, kubernautv1.ReasonInProgress, "waiting for the plan's approval")
		}
		return r.timeout(rr, now)
	}
	return ctrl.Result{}
}

// timeout ends the remediation when its current phase outlived its timeout, or asks to be
// called again when it would.
func (r *Reconciler) timeout(rr *kubernautv1.RemediationRequest, now time.Time) ctrl.Result {
	phase := rr.DerivePhase()
	limit, ok := r.Config.Timeouts[phase]
	if !ok || limit <= 0 {
		return ctrl.Result{}
	}
	if phase != rr.Status.Phase || rr.Status.PhaseStartedAt == nil {
		return ctrl.Result{RequeueAfter: limit} // the phase starts now
	}
	left := rr.Status.PhaseStartedAt.Add(limit).Sub(now)
	if left > 0 {
		return ctrl.Result{RequeueAfter: left}
	}
	end(rr, kubernautv1.ReasonTimedOut, fmt.Sprintf("phase %s exceeded its timeout of %s", phase, limit))
	return ctrl.Result{}
}

// summarize derives the phase, stamps its start and the completion, and reports the
// transition as an event and in the metrics.
func (r *Reconciler) summarize(rr, before *kubernautv1.RemediationRequest, now time.Time) {
	phase := rr.DerivePhase()
	if !phase.IsFinished() {
		setCondition(rr, kubernautv1.ReadyCondition, metav1.ConditionFalse, kubernautv1.ReasonProgressing, "phase "+string(phase))
	}
	if phase != before.Status.Phase {
		if before.Status.PhaseStartedAt != nil && before.Status.Phase != "" {
			r.Metrics.observePhase(before.Status.Phase, now.Sub(before.Status.PhaseStartedAt.Time))
		}
		t := metav1.NewTime(now)
		rr.Status.PhaseStartedAt = &t
		r.Metrics.entered(phase)
		kind := corev1.EventTypeNormal
		if phase == kubernautv1.RemediationPhaseFailed || phase == kubernautv1.RemediationPhaseTimedOut {
			kind = corev1.EventTypeWarning
		}
		if tellsTheStory(phase) || kind == corev1.EventTypeWarning {
			r.event(rr, kind, string(phase), phaseNote(rr, before.Status.Phase, phase))
		}
	}
	rr.Status.Phase = phase
	if phase.IsFinished() && rr.Status.CompletedAt == nil {
		t := metav1.NewTime(now)
		rr.Status.CompletedAt = &t
		r.Metrics.finished(phase, now.Sub(rr.CreationTimestamp.Time))
	}
	rr.Status.ObservedGeneration = rr.Generation
}

// tellsTheStory reports whether entering phase is worth an event: what a person acts on or
// wants told — a plan waiting for them, a change starting, the end. Pending, Processing,
// Analyzing and Verifying are in the status (and kubectl get's columns); an event per phase was one write to
// the API server per phase of every remediation.
func tellsTheStory(phase kubernautv1.RemediationPhase) bool {
	switch phase {
	case kubernautv1.RemediationPhasePending, kubernautv1.RemediationPhaseProcessing, kubernautv1.RemediationPhaseAnalyzing, kubernautv1.RemediationPhaseVerifying:
		return false
	}
	return true
}

// phaseNote is the event's note on entering phase: the transition and, for a plan about to be
// approved or run, what it does and why (the analysis' own events are only its failures);
// at the end, the outcome.
func phaseNote(rr *kubernautv1.RemediationRequest, from, phase kubernautv1.RemediationPhase) string {
	note := fmt.Sprintf("%s → %s", orPending(from), phase)
	switch {
	case phase.IsFinished():
		if c := meta.FindStatusCondition(rr.Status.Conditions, kubernautv1.ReadyCondition); c != nil {
			note += ": " + c.Message
		}
	case phase == kubernautv1.RemediationPhaseAwaitingApproval || phase == kubernautv1.RemediationPhaseExecuting:
		if ref := rr.Status.WorkflowExecutionRef; ref != nil {
			note += ": plan " + ref.Name
		}
		if len(rr.Status.Actions) > 0 {
			note += " (" + kubernautv1.JoinActions(rr.Status.Actions) + ")"
		}
		if rr.Status.RootCause != "" {
			note += "; root cause: " + rr.Status.RootCause
		}
	}
	return kubernautv1.Truncate(note, 1024)
}

func orPending(p kubernautv1.RemediationPhase) kubernautv1.RemediationPhase {
	if p == "" {
		return "New"
	}
	return p
}

// retain deletes a finished RemediationRequest once its retention has passed.
func (r *Reconciler) retain(ctx context.Context, rr *kubernautv1.RemediationRequest, now time.Time) (ctrl.Result, error) {
	done := rr.CreationTimestamp.Time
	if rr.Status.CompletedAt != nil {
		done = rr.Status.CompletedAt.Time
	}
	if left := done.Add(r.Config.Retention).Sub(now); left > 0 {
		return ctrl.Result{RequeueAfter: left}, nil
	}
	if err := r.Client.Delete(ctx, rr, client.PropagationPolicy(metav1.DeletePropagationBackground)); err != nil && !apierrors.IsNotFound(err) {
		return ctrl.Result{}, fmt.Errorf("deleting RemediationRequest %s/%s after its retention: %w", rr.Namespace, rr.Name, err)
	}
	return ctrl.Result{}, nil
}

// logRecord writes the record of a remediation that just finished as one structured log line
// ("remediation record", key record): what a log store keeps once the objects are gone
// (docs/notifications.md). It is written once, by the reconcile that recorded the end.
func (r *Reconciler) logRecord(ctx context.Context, rr *kubernautv1.RemediationRequest) {
	rec, err := record.Read(ctx, r.Client, rr)
	if err != nil {
		log.FromContext(ctx).Error(err, "the remediation's record could not be read; not logged")
		return
	}
	log.FromContext(ctx).Info("remediation record", "record", rec)
}

func (r *Reconciler) event(rr *kubernautv1.RemediationRequest, kind, reason, note string) {
	if r.Events != nil {
		r.Events.Eventf(rr, nil, kind, reason, "Reconcile", "%s", note)
	}
}
