package remediationrequest

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/predicate"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/controllers/freshness"
)

// Field indexes on RemediationRequests.
const (
	indexTarget      = "spec.target"
	indexFingerprint = "spec.signal.fingerprint"
)

// SetupWithManager registers the indexes and watches: RemediationRequests (their spec
// changes: a resolution), and the children they own.
func (r *Reconciler) SetupWithManager(ctx context.Context, mgr ctrl.Manager) error {
	if r.written == nil {
		r.written = &freshness.Tracker{}
	}
	idx := mgr.GetFieldIndexer()
	if err := idx.IndexField(ctx, &kubernautv1.RemediationRequest{}, indexTarget, func(o client.Object) []string {
		return []string{o.(*kubernautv1.RemediationRequest).Spec.Target.String()}
	}); err != nil {
		return fmt.Errorf("indexing RemediationRequests by target: %w", err)
	}
	if err := idx.IndexField(ctx, &kubernautv1.RemediationRequest{}, indexFingerprint, func(o client.Object) []string {
		return []string{o.(*kubernautv1.RemediationRequest).Spec.Signal.Fingerprint}
	}); err != nil {
		return fmt.Errorf("indexing RemediationRequests by fingerprint: %w", err)
	}
	return ctrl.NewControllerManagedBy(mgr).
		Named("remediationrequest").
		For(&kubernautv1.RemediationRequest{}, builder.WithPredicates(predicate.GenerationChangedPredicate{})).
		Owns(&kubernautv1.RemediationProcessing{}).
		Owns(&kubernautv1.AIAnalysis{}).
		Owns(&kubernautv1.WorkflowExecution{}).
		Complete(r)
}

// guardInput gathers what the guards decide on.
func (r *Reconciler) guardInput(ctx context.Context, rr *kubernautv1.RemediationRequest, now time.Time) (guardInput, error) {
	in := guardInput{rr: rr, now: now}
	var err error
	if in.optedIn, err = r.optedIn(ctx, rr.Spec.Target); err != nil {
		return in, err
	}
	var same kubernautv1.RemediationRequestList
	if err := r.Client.List(ctx, &same, client.InNamespace(rr.Namespace), client.MatchingFields{indexTarget: rr.Spec.Target.String()}); err != nil {
		return in, fmt.Errorf("listing RemediationRequests of %s: %w", rr.Spec.Target, err)
	}
	in.sameTarget = same.Items
	var fp kubernautv1.RemediationRequestList
	if err := r.Client.List(ctx, &fp, client.InNamespace(rr.Namespace), client.MatchingFields{indexFingerprint: rr.Spec.Signal.Fingerprint}); err != nil {
		return in, fmt.Errorf("listing RemediationRequests of fingerprint %s: %w", rr.Spec.Signal.Fingerprint, err)
	}
	in.sameFingerprint = fp.Items
	in.killSwitch, err = r.killSwitch(ctx)
	return in, err
}

// optedIn reports whether the target's namespace — or the Node, or the Namespace itself —
// carries the opt-in label, or remediation is cluster-wide.
func (r *Reconciler) optedIn(ctx context.Context, t kubernautv1.Target) (bool, error) {
	if r.Config.ClusterWide {
		return true, nil
	}
	var obj client.Object
	var key client.ObjectKey
	switch {
	case t.Kind == kubernautv1.TargetKindNode:
		obj, key = &corev1.Node{}, client.ObjectKey{Name: t.Name}
	case t.Kind == kubernautv1.TargetKindNamespace:
		obj, key = &corev1.Namespace{}, client.ObjectKey{Name: t.Name}
	default:
		obj, key = &corev1.Namespace{}, client.ObjectKey{Name: t.Namespace}
	}
	if err := r.APIReader.Get(ctx, key, obj); err != nil {
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		return false, fmt.Errorf("reading the opt-in label of %s: %w", key.Name, err)
	}
	return obj.GetLabels()[kubernautv1.OptInLabel] == "true", nil
}

// killSwitch reads the kill-switch ConfigMap; a missing ConfigMap means off.
func (r *Reconciler) killSwitch(ctx context.Context) (bool, error) {
	return r.Config.KillSwitch(r.APIReader).On(ctx)
}
