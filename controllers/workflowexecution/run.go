package workflowexecution

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// resync is how often a running plan is looked at even when nothing it watches changed.
const resync = 15 * time.Second

// semaphoreRetry is how often a plan waiting for a semaphore slot looks again.
const semaphoreRetry = 2 * time.Second

// engine returns the engine of a plan and its name.
func (r *Reconciler) engine(we *kubernautv1.WorkflowExecution) (kubernautv1.EngineName, Engine) {
	name := we.Spec.Engine
	if name == "" {
		name = r.DefaultEngine
	}
	if name == "" {
		name = kubernautv1.EngineBuiltin
	}
	return name, r.Engines[name]
}

// gate lets an engine with an approval gate of its own (argo) create the Workflow of a Manual
// plan before the approval, and reports who resumed the gate.
func (r *Reconciler) gate(ctx context.Context, we *kubernautv1.WorkflowExecution) (Resume, error) {
	if c := meta.FindStatusCondition(we.Status.Conditions, kubernautv1.ApprovedCondition); we.Spec.ApprovalMode != kubernautv1.ApprovalManual ||
		c != nil && c.Status != metav1.ConditionUnknown {
		return Resume{}, nil // no gate, or already decided
	}
	name, e := r.engine(we)
	g, ok := e.(Gate)
	if !ok {
		return Resume{}, nil
	}
	we.Status.Engine = name
	wf, err := build(we, we.Status.Plan.Hash, r.Compile)
	if err != nil {
		return Resume{}, fmt.Errorf("compiling the plan of %s: %w", we.Name, err)
	}
	return g.Await(ctx, we, wf)
}

// rejected stops the gated Workflow of a plan a person refused, and reports when to check
// again that its engine's controller stopped it.
func (r *Reconciler) rejected(ctx context.Context, we *kubernautv1.WorkflowExecution) (ctrl.Result, error) {
	c := meta.FindStatusCondition(we.Status.Conditions, kubernautv1.ApprovedCondition)
	if c == nil || c.Status != metav1.ConditionFalse {
		return ctrl.Result{}, nil
	}
	g, ok := r.Engines[we.Status.Engine].(Gate)
	if !ok {
		return ctrl.Result{}, nil
	}
	recheck, nudged, err := g.Reject(ctx, we)
	r.nudged(we, nudged)
	return ctrl.Result{RequeueAfter: recheck}, err
}

// nudged records that the engine nudged Argo's controller: an event on the plan, a metric.
func (r *Reconciler) nudged(we *kubernautv1.WorkflowExecution, why string) {
	if why == "" {
		return
	}
	r.Metrics.nudge()
	if r.Events != nil {
		r.Events.Eventf(we, nil, corev1.EventTypeWarning, "ArgoNudged", "Nudge", "%s", why)
	}
}

// run hands the approved plan to its engine and records what the engine reports: the step
// nodes, Executed and Verified when the plan's DAG ends, Compensated while and after the exit
// hook undoes the steps of a failed plan.
func (r *Reconciler) run(ctx context.Context, we *kubernautv1.WorkflowExecution) (ctrl.Result, error) {
	name, engine := r.engine(we)
	we.Status.Engine = name
	if engine == nil {
		msg := fmt.Sprintf("engine %q is not configured in this controller", name)
		set(we, kubernautv1.ExecutedCondition, metav1.ConditionFalse, kubernautv1.ReasonStepFailed, msg)
		set(we, kubernautv1.ReadyCondition, metav1.ConditionFalse, kubernautv1.ReasonFailed, msg)
		return ctrl.Result{}, nil
	}
	wf, err := build(we, we.Status.Plan.Hash, r.Compile)
	if err != nil {
		return ctrl.Result{}, fmt.Errorf("compiling the approved plan of %s: %w", we.Name, err)
	}
	if we.Status.StartedAt == nil {
		if err := r.holdForUndo(ctx, we); err != nil {
			return ctrl.Result{}, err
		}
	}
	p, err := engine.Advance(ctx, we, wf)
	if errors.Is(err, errWorkflowGone) {
		// The Workflow went before its plan (a foreground or namespace deletion): the builtin
		// engine, which keeps no state of its own, finishes the stop and the undo from the
		// steps that exist, named as Argo names them.
		if b, ok := r.Engines[kubernautv1.EngineBuiltin]; ok {
			p, err = b.Advance(ctx, we, wf)
		}
	}
	if err != nil {
		return ctrl.Result{}, err
	}
	r.nudged(we, p.Nudged)
	if p.Waiting != "" { // not started: no startedAt, so that it holds no slot
		set(we, kubernautv1.ExecutedCondition, metav1.ConditionUnknown, kubernautv1.ReasonInProgress, p.Waiting)
		return ctrl.Result{RequeueAfter: semaphoreRetry}, nil
	}
	now := metav1.NewTime(r.now())
	if we.Status.StartedAt == nil {
		we.Status.StartedAt = &now
	}
	we.Status.Steps, we.Status.Compensation = p.Steps, p.Compensation
	if p.Workflow != nil {
		we.Status.WorkflowRef = p.Workflow
	}
	switch {
	case p.Main == wfv1.NodeSucceeded:
		var verified []string
		for _, s := range p.Steps {
			if s.Phase == kubernautv1.StepSucceeded {
				verified = append(verified, s.Name+": "+s.Message)
			}
		}
		set(we, kubernautv1.ExecutedCondition, metav1.ConditionTrue, kubernautv1.ReasonStepsSucceeded, fmt.Sprintf("all %d steps succeeded", len(we.Spec.Steps)))
		set(we, kubernautv1.VerifiedCondition, metav1.ConditionTrue, kubernautv1.ReasonHealthy, "every step verified: "+strings.Join(verified, "; "))
		set(we, kubernautv1.ReadyCondition, metav1.ConditionTrue, kubernautv1.ReasonSucceeded, "remediated and verified: "+strings.Join(verified, "; "))
		r.finish(we, now)
		return ctrl.Result{}, nil
	case !p.Main.Completed():
		set(we, kubernautv1.ExecutedCondition, metav1.ConditionUnknown, kubernautv1.ReasonInProgress, "running: "+summary(p.Steps))
		if p.Recheck > 0 && p.Recheck < resync {
			return ctrl.Result{RequeueAfter: p.Recheck}, nil
		}
		return ctrl.Result{RequeueAfter: resync}, nil
	}
	failed := failure(p.Failures)
	if we.DeletionTimestamp != nil {
		failed = "the plan was deleted while it ran: " + failed
	}
	set(we, kubernautv1.ExecutedCondition, metav1.ConditionFalse, kubernautv1.ReasonStepFailed, failed)
	switch {
	case p.Exit == "" || !p.Exit.Completed():
		set(we, kubernautv1.CompensatedCondition, metav1.ConditionUnknown, kubernautv1.ReasonInProgress,
			"undoing the completed steps, newest first: "+summary(p.Compensation))
		return ctrl.Result{RequeueAfter: resync}, nil
	case p.Exit == wfv1.NodeSucceeded:
		msg := "the completed steps were undone: " + summary(p.Compensation)
		if len(p.Compensation) == 0 {
			msg = "no step had changed anything: nothing to undo"
		}
		set(we, kubernautv1.CompensatedCondition, metav1.ConditionTrue, kubernautv1.ReasonCompensationSucceeded, msg)
		set(we, kubernautv1.ReadyCondition, metav1.ConditionFalse, kubernautv1.ReasonFailed, failed+"; "+msg)
	default:
		msg := "an undo failed, a person must look: " + summary(p.Compensation)
		set(we, kubernautv1.CompensatedCondition, metav1.ConditionFalse, kubernautv1.ReasonCompensationFailed, msg)
		set(we, kubernautv1.ReadyCondition, metav1.ConditionFalse, kubernautv1.ReasonFailed, failed+"; "+msg)
	}
	r.finish(we, now)
	return ctrl.Result{}, nil
}

func (r *Reconciler) finish(we *kubernautv1.WorkflowExecution, now metav1.Time) {
	if we.Status.CompletedAt == nil {
		we.Status.CompletedAt = &now
	}
}

// summary lists the nodes' phases: "scale Succeeded, restart Running".
func summary(steps []kubernautv1.StepStatus) string {
	var parts []string
	for _, s := range steps {
		parts = append(parts, s.Name+" "+string(s.Phase))
	}
	if len(parts) == 0 {
		return "none yet"
	}
	return strings.Join(parts, ", ")
}

// failure names the failed nodes and their messages.
func failure(failures []string) string {
	if len(failures) == 0 {
		return "the Workflow failed"
	}
	return strings.Join(failures, "; ")
}
