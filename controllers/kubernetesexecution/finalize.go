package kubernetesexecution

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllerutil"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// undoRecheck is how often a deleted step whose pre-state its plan's undo may still need
// looks again whether the plan has let go.
const undoRecheck = 5 * time.Second

// letGo removes the undo finalizer of an ended step being deleted once its plan cannot need
// it. A step being deleted runs to its end like any other (a change half made is not left
// half made); then it stays while its plan holds its own undo finalizer and has not let go —
// a foreground or namespace deletion would otherwise take the pre-state its undo restores
// (docs/orchestration.md, "Deleting a remediation").
func (r *Reconciler) letGo(ctx context.Context, ke *kubernautv1.KubernetesExecution) (ctrl.Result, error) {
	if ke.DeletionTimestamp == nil || !controllerutil.ContainsFinalizer(ke, kubernautv1.UndoFinalizer) {
		return ctrl.Result{}, nil
	}
	needed, err := r.undoNeeds(ctx, ke)
	if err != nil || needed {
		return ctrl.Result{RequeueAfter: undoRecheck}, err
	}
	orig := ke.DeepCopy()
	controllerutil.RemoveFinalizer(ke, kubernautv1.UndoFinalizer)
	if err := r.Client.Patch(ctx, ke, client.MergeFromWithOptions(orig, client.MergeFromWithOptimisticLock{})); err != nil {
		return ctrl.Result{}, fmt.Errorf("releasing KubernetesExecution %s after its deletion: %w", ke.Name, client.IgnoreNotFound(err))
	}
	return ctrl.Result{}, nil
}

// undoNeeds reports whether the step's plan may still need it: the plan holds its undo
// finalizer while it runs, undoes, or waits for a person after a failed undo. Every step is
// kept then, not only those with a pre-state: the engines read a plan's progress from its
// steps (the builtin engine keeps no state of its own), and a step gone too early would be
// created again.
func (r *Reconciler) undoNeeds(ctx context.Context, ke *kubernautv1.KubernetesExecution) (bool, error) {
	ref := ke.Spec.WorkflowExecutionRef
	if ref == nil {
		return false, nil
	}
	we := &kubernautv1.WorkflowExecution{}
	err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: ke.Namespace, Name: ref.Name}, we)
	switch {
	case apierrors.IsNotFound(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("reading WorkflowExecution %s of deleted step %s: %w", ref.Name, ke.Name, err)
	}
	holds := controllerutil.ContainsFinalizer(we, kubernautv1.UndoFinalizer)
	return holds && (we.DeletionTimestamp != nil || !we.Status.Phase.IsFinished()), nil
}
