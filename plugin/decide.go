package plugin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// Decision is what a person decides on a plan.
type Decision struct {
	// Approve approves the plan; otherwise it is rejected for Reason.
	Approve bool
	// Reason says why: required to reject, recorded with an approval when given.
	Reason string
}

// Decide approves or rejects the plan of a remediation (named by its RemediationRequest or its
// plan) as the current user: it sets kubernaut.io/approve=<the plan's hash> (or
// kubernaut.io/reject=<reason>) on the plan, as `kubectl annotate` would, conditional on the
// plan as read (a plan that changed meanwhile is read again by the person, not approved
// blindly). Admission decides whether the user may, and records who the API server says they
// are; a refusal comes back with its message, which names the permission. It prints what was
// recorded.
func (p *Plugin) Decide(ctx context.Context, namespace, name string, d Decision) error {
	if !d.Approve && d.Reason == "" {
		return errors.New("reject needs --reason: it is recorded with the rejection")
	}
	r, err := p.Get(ctx, namespace, name)
	if err != nil {
		return err
	}
	we := r.Plan
	switch {
	case we == nil:
		return fmt.Errorf("remediation %s has no plan yet (phase %s): nothing to approve", r.Request.Name, orDash(string(r.Request.Status.Phase)))
	case we.Status.Plan == nil || we.Status.Phase != kubernautv1.WorkflowAwaitingApproval:
		return fmt.Errorf("plan %s is %s, not waiting for approval", we.Name, orDash(string(we.Status.Phase)))
	case we.Annotations[kubernautv1.ApproveAnnotation] != "" || we.Annotations[kubernautv1.RejectAnnotation] != "":
		return fmt.Errorf("plan %s has a decision of %s being counted; try again in a moment", we.Name, we.Annotations[kubernautv1.DecidedByAnnotation])
	}
	annotations, verb := map[string]string{kubernautv1.ApproveAnnotation: we.Status.Plan.Hash}, "approved"
	if d.Approve && d.Reason != "" {
		annotations[kubernautv1.ApproveReasonAnnotation] = d.Reason
	}
	if !d.Approve {
		annotations, verb = map[string]string{kubernautv1.RejectAnnotation: d.Reason}, "rejected"
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{
		"resourceVersion": we.ResourceVersion,
		"annotations":     annotations,
	}})
	if err != nil {
		return err
	}
	if err := p.Client.Patch(ctx, we, client.RawPatch(types.MergePatchType, patch), client.FieldOwner("kubectl-kubernaut")); err != nil {
		switch {
		case apierrors.IsConflict(err):
			return fmt.Errorf("plan %s changed while you read it: look again (kubectl kubernaut show %s -n %s)", we.Name, r.Request.Name, namespace)
		case apierrors.IsForbidden(err):
			return fmt.Errorf("the API server refused the decision: %w", err)
		}
		return fmt.Errorf("deciding on plan %s: %w", we.Name, err)
	}
	by := we.Annotations[kubernautv1.DecidedByAnnotation]
	if by == "" {
		by = "nobody (the admission policies of manifests/base/admission-approvals.yaml are not installed: the controller will not count it)"
	}
	fmt.Fprintf(p.Out, "plan %s of %s %s (hash %s); the API server recorded the decision as %s\n", we.Name, r.Request.Name, verb, we.Status.Plan.Hash, by)
	if d.Approve {
		need := int32(1)
		if q := we.Spec.Quorum; q != nil && q.Approvers > 0 {
			need = q.Approvers
		}
		if need > 1 {
			have := 0
			if a := we.Status.Approval; a != nil && a.PlanHash == we.Status.Plan.Hash {
				have = len(a.Approvers)
			}
			fmt.Fprintf(p.Out, "it needs %d distinct approvers; %d counted before this one (kubectl kubernaut show %s -n %s)\n", need, have, r.Request.Name, namespace)
		}
	}
	return nil
}
