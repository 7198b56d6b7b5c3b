package remediationrequest

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/trust"
)

// trustOf is the trust decision for a plan about to be created: the level of its least
// trusted scope (a namespace group × the signal type × each action) in the TrustPolicy, and
// the approval mode that level makes of the analysis' decision. Without a TrustPolicy named
// default, nil: the analysis' decision stands, as before trust levels existed. Called once per
// plan (the namespace's labels are read from the API server, as the opt-in guard reads them).
func (r *Reconciler) trustOf(ctx context.Context, rr *kubernautv1.RemediationRequest, aia *kubernautv1.AIAnalysis, target kubernautv1.Target) (*kubernautv1.TrustDecision, error) {
	p := &kubernautv1.TrustPolicy{}
	if err := r.Client.Get(ctx, client.ObjectKey{Name: kubernautv1.DefaultTrustPolicy}, p); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("reading TrustPolicy %s: %w", kubernautv1.DefaultTrustPolicy, err)
	}
	group := trust.ClusterGroup
	if target.Namespace != "" {
		ns := &corev1.Namespace{}
		if err := r.APIReader.Get(ctx, client.ObjectKey{Name: target.Namespace}, ns); err != nil && !apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("reading the labels of namespace %s for its trust group: %w", target.Namespace, err)
		}
		group = trust.Group(p, ns.Labels)
	}
	level, scope := trust.PlanLevel(p, trust.Scopes(group, rr.Status.SignalType, kubernautv1.StepActions(aia.Status.Recommendation.Steps)))
	return &kubernautv1.TrustDecision{Level: level, Scope: scope, Mode: trust.Mode(level, aia.Status.Approval.Mode)}, nil
}
