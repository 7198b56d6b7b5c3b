package workflowexecution

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// stepBudget is what one undo step may take: the KubernetesExecution's default timeout.
const stepBudget = 10 * time.Minute

// Why a deleted plan was let go (the reason label of kubernaut_undo_finalizers_released_total).
const (
	releaseSettled  = "settled"
	releasePerson   = "person"
	releaseDeadline = "deadline"
)

// deleted is what a plan being deleted waits for, and when it may go. A plan that has not
// started (being planned, waiting for its approval or a semaphore slot) had nothing run: it
// goes at once. A plan that has started stops (no new step starts), lets its running step end,
// undoes its completed steps newest first (the engine's exit hook, as for a failure) and goes
// when it has ended. When an undo fails it stays, saying so, until a person sets
// kubernaut.io/release-undo; and never longer than its bound: the plan's deadline and one
// step's timeout per step to undo, counted from the deletion.
func (r *Reconciler) deleted(we *kubernautv1.WorkflowExecution, now time.Time) (release bool, reason, why string, after time.Duration) {
	started := meta.IsStatusConditionTrue(we.Status.Conditions, kubernautv1.ApprovedCondition) && we.Status.StartedAt != nil
	switch c := meta.FindStatusCondition(we.Status.Conditions, kubernautv1.CompensatedCondition); {
	case !started:
		return true, releaseSettled, "deleted before it started: nothing ran, nothing to undo", 0
	case !we.Status.Phase.IsFinished():
	case c == nil || c.Status == metav1.ConditionTrue:
		return true, releaseSettled, fmt.Sprintf("deleted; the plan ended %s: %s", we.Status.Phase, planMessage(we)), 0
	case we.Annotations[kubernautv1.ReleaseUndoAnnotation] != "":
		by := we.Annotations[kubernautv1.DecidedByAnnotation]
		if by == "" {
			by = "an unvouched user"
		}
		return true, releasePerson, fmt.Sprintf("deleted after an undo failed; released by %s: %s", by,
			kubernautv1.Truncate(we.Annotations[kubernautv1.ReleaseUndoAnnotation], 512)), 0
	}
	bound := r.Compile.ActiveDeadline + time.Duration(len(we.Spec.Steps))*stepBudget
	left := we.DeletionTimestamp.Add(bound).Sub(now)
	if left <= 0 {
		return true, releaseDeadline, fmt.Sprintf("deleted %s ago, past its bound of %s (the plan's deadline and %s per step to undo): let go "+
			"without its undo ending well; a person must look at what it changed (status.steps, status.compensation)", now.Sub(we.DeletionTimestamp.Time).Round(time.Second), bound, stepBudget), 0
	}
	return false, "", "", left
}

// release removes the undo finalizer, recording why, so that the deletion completes.
func (r *Reconciler) release(ctx context.Context, we *kubernautv1.WorkflowExecution, reason, why string) error {
	orig := we.DeepCopy()
	controllerutil.RemoveFinalizer(we, kubernautv1.UndoFinalizer)
	if err := r.Client.Patch(ctx, we, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("releasing WorkflowExecution %s after its deletion: %w", we.Name, client.IgnoreNotFound(err))
	}
	r.Metrics.release(reason)
	if r.Events != nil {
		kind := corev1.EventTypeNormal
		if reason != releaseSettled {
			kind = corev1.EventTypeWarning
		}
		r.Events.Eventf(we, nil, kind, "Released", "Delete", "%s", why)
	}
	return nil
}

// holdForUndo adds the undo finalizer to a plan about to start, so that deleting it mid-way
// undoes what it did. Only then (an auto-approved plan, which starts the moment it is
// validated, is created holding it): a plan withdrawn or deleted before it starts (nothing to
// undo) goes at once, even with no controller to let it go.
func (r *Reconciler) holdForUndo(ctx context.Context, we *kubernautv1.WorkflowExecution) error {
	if we.DeletionTimestamp != nil || controllerutil.ContainsFinalizer(we, kubernautv1.UndoFinalizer) {
		return nil
	}
	// The patch is sent from a copy: the API server's answer carries the status as stored,
	// which would overwrite what this reconcile decided and has not written yet (the plan,
	// its approval) — the plan was then planned, dry-run and granted again.
	orig := we.DeepCopy()
	patched := we.DeepCopy()
	controllerutil.AddFinalizer(patched, kubernautv1.UndoFinalizer)
	if err := r.Client.Patch(ctx, patched, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})); err != nil {
		return fmt.Errorf("adding the finalizer %s to WorkflowExecution %s: %w", kubernautv1.UndoFinalizer, we.Name, err)
	}
	we.ObjectMeta = patched.ObjectMeta
	return nil
}

// planMessage is the plan's Ready message.
func planMessage(we *kubernautv1.WorkflowExecution) string {
	if c := meta.FindStatusCondition(we.Status.Conditions, kubernautv1.ReadyCondition); c != nil {
		return c.Message
	}
	return string(we.Status.Phase)
}
