package remediationrequest

import (
	"context"
	"fmt"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// TargetAnnotation on a claim Lease names the target it claims.
const TargetAnnotation = "kubernaut.io/target"

// blastRadius is what a remediation's plan acts on: the workload the processing resolved
// (the Deployment behind a crashing pod), else the alert's target.
func blastRadius(rr *kubernautv1.RemediationRequest, aia *kubernautv1.AIAnalysis) kubernautv1.Target {
	if e := aia.Spec.Enrichment; e != nil && e.Workload != nil {
		return e.Workload.Target
	}
	return rr.Spec.Target
}

// claimName is the name of the Lease that claims a target: one per target, whoever asks.
func claimName(t kubernautv1.Target) string { return "kubernaut-target-" + t.Hash() }

// claimTarget takes the claim on the plan's target for rr before its plan is handed over for
// execution. The guards compare alert targets; alerts about different pods of one Deployment
// (an alert storm) pass them all and resolve to the same workload. The claim is a Lease per
// target, in the RemediationRequests' namespace, whose create and update are atomic on the
// API server: exactly one live remediation holds it, the others are skipped as already
// remediating — and, once the holder finished, one for the same signal within the cooldown is
// skipped as cooling down. The Lease is owned by its holder, so it goes with it.
func (r *Reconciler) claimTarget(ctx context.Context, rr *kubernautv1.RemediationRequest, target kubernautv1.Target, now time.Time) (guardVerdict, error) {
	// Two remediations of one target race for its claim (an alert storm): the loser of a create
	// or an update reads the claim again once and learns who holds it, instead of failing the
	// reconcile.
	v, err := r.tryClaim(ctx, rr, target, now)
	if apierrors.IsAlreadyExists(err) || apierrors.IsConflict(err) {
		return r.tryClaim(ctx, rr, target, now)
	}
	return v, err
}

// tryClaim is one attempt of claimTarget.
func (r *Reconciler) tryClaim(ctx context.Context, rr *kubernautv1.RemediationRequest, target kubernautv1.Target, now time.Time) (guardVerdict, error) {
	key := client.ObjectKey{Namespace: rr.Namespace, Name: claimName(target)}
	owner := metav1.OwnerReference{APIVersion: kubernautv1.GroupVersion.String(), Kind: "RemediationRequest", Name: rr.Name, UID: rr.UID}
	var lease coordinationv1.Lease
	err := r.APIReader.Get(ctx, key, &lease)
	if apierrors.IsNotFound(err) {
		lease = coordinationv1.Lease{
			ObjectMeta: metav1.ObjectMeta{Namespace: key.Namespace, Name: key.Name, Annotations: map[string]string{TargetAnnotation: target.String()},
				OwnerReferences: []metav1.OwnerReference{owner}},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(rr.Name), AcquireTime: &metav1.MicroTime{Time: now}},
		}
		if err := r.Client.Create(ctx, &lease); err != nil {
			return guardVerdict{}, fmt.Errorf("claiming %s (Lease %s): %w", target, key.Name, err)
		}
		return guardVerdict{}, nil
	}
	if err != nil {
		return guardVerdict{}, fmt.Errorf("reading the claim on %s (Lease %s): %w", target, key.Name, err)
	}
	holder := ptr.Deref(lease.Spec.HolderIdentity, "")
	if holder == rr.Name {
		return guardVerdict{}, nil
	}
	var other kubernautv1.RemediationRequest
	err = r.APIReader.Get(ctx, client.ObjectKey{Namespace: rr.Namespace, Name: holder}, &other)
	switch {
	case apierrors.IsNotFound(err):
	case err != nil:
		return guardVerdict{}, fmt.Errorf("reading RemediationRequest %s, which claims %s: %w", holder, target, err)
	case !other.Status.Phase.IsFinished():
		return alreadyRemediating(holder, target), nil
	default:
		if v, running, err := r.planRuns(ctx, &other, target); err != nil || running {
			return v, err
		}
		if v, cooling := coolingDown(r.Config, target, rr, &other, now); cooling {
			return v, nil
		}
	}
	lease.Spec.HolderIdentity, lease.Spec.AcquireTime = ptr.To(rr.Name), &metav1.MicroTime{Time: now}
	lease.OwnerReferences = []metav1.OwnerReference{owner}
	if err := r.Client.Update(ctx, &lease); err != nil {
		return guardVerdict{}, fmt.Errorf("taking over the claim on %s (Lease %s) from %s: %w", target, key.Name, holder, err)
	}
	return guardVerdict{}, nil
}

// planRuns reports whether the plan of other, a finished remediation that claims target, still
// runs: a remediation that timed out while executing leaves its plan to its own end (its steps
// may be changing the target, its exit hook undoing them), and the claim holds until then. A
// plan that never started is being withdrawn and holds nothing.
func (r *Reconciler) planRuns(ctx context.Context, other *kubernautv1.RemediationRequest, target kubernautv1.Target) (guardVerdict, bool, error) {
	ref := other.Status.WorkflowExecutionRef
	if ref == nil {
		return guardVerdict{}, false, nil
	}
	we := &kubernautv1.WorkflowExecution{}
	err := r.APIReader.Get(ctx, client.ObjectKey{Namespace: other.Namespace, Name: ref.Name}, we)
	switch {
	case apierrors.IsNotFound(err):
		return guardVerdict{}, false, nil
	case err != nil:
		return guardVerdict{}, false, fmt.Errorf("reading WorkflowExecution %s of RemediationRequest %s, which claims %s: %w", ref.Name, other.Name, target, err)
	case we.Status.Phase.IsFinished() || notStarted(we):
		return guardVerdict{}, false, nil
	}
	return guardVerdict{reason: kubernautv1.ReasonAlreadyRemediating, blockedBy: other.Name,
		message: fmt.Sprintf("RemediationRequest %s ended %s, but its plan %s still runs on %s", other.Name, other.Status.Phase, ref.Name, target)}, true, nil
}
