package workflowexecution

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/kubernaut/kubernaut/actions"
	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/terminal"
)

// The shadow verdicts of an observed plan (docs/autonomy.md).
const (
	// VerdictAgreed: a person changed the targets as the plan proposed.
	VerdictAgreed = "agreed"
	// VerdictDisagreed: a person changed a target otherwise.
	VerdictDisagreed = "disagreed"
	// VerdictResolvedAlone: the alert resolved and nobody changed the targets.
	VerdictResolvedAlone = "resolved-alone"
	// VerdictKeptFiring: the window ended with no change and the alert still firing.
	VerdictKeptFiring = "kept-firing"
)

// shadowPoll is how often, at most, an observed plan's targets are looked at within its window
// (a quarter of the window when that is shorter).
const shadowPoll = 15 * time.Second

// shadow judges an observed plan: it compares each step's target with the pre-state its dry
// run found (actions.Compare), from the moment it was observed until ShadowWindow has
// passed. The first change decides: agreed when every changed target changed as the plan
// proposed, else disagreed; without one, resolved-alone once the alert resolved, kept-firing
// when the window ends. Only reads; the verdict is written once, in the status.
func (r *Reconciler) shadow(ctx context.Context, we *kubernautv1.WorkflowExecution) (ctrl.Result, error) {
	ready := meta.FindStatusCondition(we.Status.Conditions, kubernautv1.ReadyCondition)
	if we.Status.Shadow != nil || r.ShadowWindow <= 0 || r.Actions == nil || we.Status.Plan == nil || ready == nil {
		return ctrl.Result{}, nil
	}
	observedAt, now := ready.LastTransitionTime.Time, r.now()
	var found []string
	changed, same := false, true
	for _, ps := range we.Status.Plan.Steps {
		step := stepNamed(we, ps.Name)
		if step == nil || ps.DryRun == nil || ps.DryRun.PreState == nil {
			continue
		}
		c, ok, err := actions.Compare(ctx, *r.Actions, step.ActionStep, ps.DryRun.PreState)
		switch {
		case terminal.Is(err):
			// The target is gone: a person removed it, which the plan did not propose.
			c, ok = actions.Comparison{Changed: true, Message: terminal.Message(err)}, true
		case err != nil:
			return ctrl.Result{}, fmt.Errorf("comparing the target of observed step %s: %w", ps.Name, err)
		}
		if !ok {
			continue
		}
		found = append(found, ps.Name+": "+c.Message)
		if c.Changed {
			changed, same = true, same && c.Same
		}
	}
	resolved, err := r.alertResolved(ctx, we)
	if err != nil {
		return ctrl.Result{}, err
	}
	v := &kubernautv1.ShadowVerdict{At: metav1.NewTime(now)}
	left := observedAt.Add(r.ShadowWindow).Sub(now)
	switch {
	case changed && same:
		v.Verdict = VerdictAgreed
	case changed:
		v.Verdict = VerdictDisagreed
	case resolved:
		v.Verdict = VerdictResolvedAlone
	case left <= 0:
		v.Verdict = VerdictKeptFiring
	default:
		return ctrl.Result{RequeueAfter: min(left, shadowPoll, max(r.ShadowWindow/4, time.Second))}, nil
	}
	if changed && r.APIReader != nil {
		who, err := r.changes(ctx, we)
		if err != nil {
			return ctrl.Result{}, err
		}
		for _, c := range who {
			// The stamps have seconds: a change in the second the plan was observed may be the
			// one that led to the alert (a release), so only later ones are counted.
			if c.at.After(observedAt.Truncate(time.Second)) && !slices.Contains(v.ChangedBy, c.user) && len(v.ChangedBy) < 8 {
				v.ChangedBy = append(v.ChangedBy, c.user)
			}
		}
	}
	if len(found) == 0 {
		found = []string{"no step's target can be compared"}
	}
	v.Message = kubernautv1.Truncate(strings.Join(found, "; "), 2048)
	we.Status.Shadow = v
	return ctrl.Result{}, nil
}

// alertResolved reports whether the observed plan's remediation says its alert resolved.
func (r *Reconciler) alertResolved(ctx context.Context, we *kubernautv1.WorkflowExecution) (bool, error) {
	rr := &kubernautv1.RemediationRequest{}
	err := r.Client.Get(ctx, client.ObjectKey{Namespace: we.Namespace, Name: we.Spec.RemediationRequestRef.Name}, rr)
	if err != nil {
		return false, client.IgnoreNotFound(err)
	}
	return rr.Spec.ResolvedAt != nil, nil
}

// stepNamed is the plan's step of that name.
func stepNamed(we *kubernautv1.WorkflowExecution, name string) *kubernautv1.PlanStep {
	for i := range we.Spec.Steps {
		if we.Spec.Steps[i].Name == name {
			return &we.Spec.Steps[i]
		}
	}
	return nil
}

// judge writes an observed plan's verdict once it is known (shadow), with an event.
func (r *Reconciler) judge(ctx context.Context, we *kubernautv1.WorkflowExecution) (ctrl.Result, error) {
	before := we.DeepCopy()
	res, err := r.shadow(ctx, we)
	if err != nil || we.Status.Shadow == nil {
		return res, err
	}
	if err := r.Client.Status().Patch(ctx, we, client.MergeFrom(before)); err != nil {
		return ctrl.Result{}, fmt.Errorf("recording the shadow verdict of WorkflowExecution %s: %w", we.Name, err)
	}
	r.written.Wrote(we)
	if r.Events != nil {
		v := we.Status.Shadow
		by := ""
		if len(v.ChangedBy) > 0 {
			by = " (changed by " + strings.Join(v.ChangedBy, ", ") + ")"
		}
		r.Events.Eventf(we, nil, corev1.EventTypeNormal, "ShadowVerdict", "Observe", "%s%s: %s", v.Verdict, by, kubernautv1.Truncate(v.Message, 512))
	}
	return ctrl.Result{}, nil
}
