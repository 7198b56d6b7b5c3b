package workflowexecution

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// approve records the approval: the policy's for Auto; for Manual, a person's rejection, or
// the approvals of this plan's hash by distinct people the API server vouched for, none of
// whom changed the plan's targets within the separation window, until they reach the
// quorum. clear says that an approval annotation was taken into account without completing
// the approval, and is to be removed once the status is written, so that the next person can
// set it.
func (r *Reconciler) approve(ctx context.Context, we *kubernautv1.WorkflowExecution, resume Resume) (clear bool, err error) {
	if meta.IsStatusConditionTrue(we.Status.Conditions, kubernautv1.ApprovedCondition) {
		return false, nil
	}
	if we.Spec.ApprovalMode == kubernautv1.ApprovalObserve {
		// Shadow mode: the plan was validated and dry-run, and that is all it does. Nobody can
		// approve it (an approval of it is no decision), and nothing is created for it.
		msg := "observed, not run: the trust level of this plan's scope is observe; its steps, policy verdicts and dry-run diffs are what it would have done"
		set(we, kubernautv1.ApprovedCondition, metav1.ConditionFalse, kubernautv1.ReasonObserved, msg)
		set(we, kubernautv1.ReadyCondition, metav1.ConditionFalse, kubernautv1.ReasonObserved, msg)
		return false, nil
	}
	hash := we.Status.Plan.Hash
	now := metav1.NewTime(r.now())
	a := &kubernautv1.Approval{Mode: we.Spec.ApprovalMode, Decision: "Pending", PlanHash: hash}
	if prev := we.Status.Approval; prev != nil {
		a.Reasons = prev.Reasons
		if prev.PlanHash == hash {
			a.Approvers = prev.Approvers
		}
	}
	we.Status.Approval = a
	if we.Spec.ApprovalMode == kubernautv1.ApprovalAuto {
		a.Decision, a.DecidedBy, a.DecidedAt = "Approved", "policy", &now
		set(we, kubernautv1.ApprovedCondition, metav1.ConditionTrue, kubernautv1.ReasonAutoApproved, "approved by the approval policy")
		return false, nil
	}
	user := we.Annotations[kubernautv1.DecidedByAnnotation]
	if reason, ok := we.Annotations[kubernautv1.RejectAnnotation]; ok {
		// A rejection is taken even unvouched: refusing to act is always safe.
		who := "an unvouched user (no " + kubernautv1.DecidedByAnnotation + ")"
		if user != "" {
			who = "user " + kubernautv1.Truncate(user, 200)
		}
		r.deny(we, who, "rejected: "+reason, fmt.Sprintf("rejected by %s: %s", who, reason))
		return false, nil
	}
	q := quorumOf(we)
	got, ok := we.Annotations[kubernautv1.ApproveAnnotation]
	var candidate string
	switch {
	case resume.By != "" && resume.User == "" && (q.Approvers > 1 || q.SeparationWindow.Duration > 0):
		msg := fmt.Sprintf("the approval gate was passed by %s: this plan needs %s, so it is refused", resume.By, q)
		r.deny(we, resume.By, msg, msg)
		return false, nil
	case resume.By != "" && resume.User == "":
		a.Decision, a.DecidedBy, a.DecidedAt = "Approved", resume.By, &now
		set(we, kubernautv1.ApprovedCondition, metav1.ConditionTrue, kubernautv1.ReasonManuallyApproved, "plan "+hash+" approved by "+resume.By)
		return false, nil
	case resume.By != "":
		candidate = resume.User
	case ok && got == hash && user == "":
		set(we, kubernautv1.ApprovedCondition, metav1.ConditionUnknown, kubernautv1.ReasonAwaitingApproval,
			fmt.Sprintf("an approval of plan %s was ignored: it carries no %s, so the API server did not vouch for who gave it "+
				"(install the admission policies of manifests/base/admission-approvals.yaml, then approve again)", hash, kubernautv1.DecidedByAnnotation))
		return false, nil
	case ok && got == hash:
		candidate, clear = user, true
	case ok:
		set(we, kubernautv1.ApprovedCondition, metav1.ConditionUnknown, kubernautv1.ReasonAwaitingApproval,
			fmt.Sprintf("an approval for plan %q was refused: this plan is %s; approve it with kubectl annotate workflowexecution %s %s=%s --overwrite",
				kubernautv1.Truncate(got, 80), hash, we.Name, kubernautv1.ApproveAnnotation, hash))
		return false, nil
	}
	if candidate != "" {
		if err := r.count(ctx, we, a, q, candidate, now); err != nil {
			return false, err
		}
	}
	switch {
	case len(a.Approvers) >= int(q.Approvers):
		a.Decision, a.DecidedAt = "Approved", &now
		a.DecidedBy = kubernautv1.Truncate(approverNames(a.Approvers), 1024)
		if resume.By != "" && q.Approvers == 1 {
			a.DecidedBy = resume.By
		}
		set(we, kubernautv1.ApprovedCondition, metav1.ConditionTrue, kubernautv1.ReasonManuallyApproved, "plan "+hash+" approved by "+a.DecidedBy)
		clear = false // the last approval stays on the plan, with its author
	case resume.By != "":
		// Argo's gate is open but the approval is not complete: the plan is refused, and
		// its steps, should Argo start them, are refused by the KubernetesExecution controller.
		msg := fmt.Sprintf("the approval gate was passed by %s, which does not complete this plan's approval (%s; counted: %s)",
			resume.By, q, orNone(approverNames(a.Approvers)))
		r.deny(we, resume.By, msg, msg)
	default:
		set(we, kubernautv1.ApprovedCondition, metav1.ConditionUnknown, kubernautv1.ReasonAwaitingApproval, waiting(we, q, a.Approvers))
	}
	return clear, nil
}

// deny records a refused approval: who refused (or whose resume was refused) and why.
func (r *Reconciler) deny(we *kubernautv1.WorkflowExecution, who, reason, msg string) {
	r.refuse(we, who, kubernautv1.ReasonApprovalDenied, reason, msg)
}

// refuse ends the plan's approval Denied, with the Approved condition's reason why.
func (r *Reconciler) refuse(we *kubernautv1.WorkflowExecution, who, condReason, reason, msg string) {
	now := metav1.NewTime(r.now())
	a := we.Status.Approval
	a.Decision, a.DecidedBy, a.DecidedAt = "Denied", kubernautv1.Truncate(who, 1024), &now
	a.Reasons = appendReason(a.Reasons, reason)
	set(we, kubernautv1.ApprovedCondition, metav1.ConditionFalse, condReason, msg)
	set(we, kubernautv1.ReadyCondition, metav1.ConditionFalse, kubernautv1.ReasonRejected, msg)
}

// count adds user to the plan's approvers unless they already approved it or changed one of
// its targets within the separation window, and drops an earlier approver who has changed one
// since; each refusal is an event on the plan (and a change, a reason in its approval).
func (r *Reconciler) count(ctx context.Context, we *kubernautv1.WorkflowExecution, a *kubernautv1.Approval,
	q kubernautv1.Quorum, user string, now metav1.Time) error {
	if slices.ContainsFunc(a.Approvers, func(x kubernautv1.Approver) bool { return x.User == user }) {
		r.notCounted(we, fmt.Sprintf("user %s has already approved plan %s: it needs %s", user, we.Status.Plan.Hash, q))
		return nil
	}
	if w := q.SeparationWindow.Duration; w > 0 {
		changes, err := r.changes(ctx, we)
		if err != nil {
			return err
		}
		changed := func(user string) bool {
			for _, c := range changes {
				if c.user == user && now.Sub(c.at) < w {
					msg := fmt.Sprintf("user %s changed %s at %s, within the separation window of %s: their approval does not count",
						user, c.target, c.at.UTC().Format(time.RFC3339), w)
					a.Reasons = appendReason(a.Reasons, msg)
					r.notCounted(we, msg)
					return true
				}
			}
			return false
		}
		// One who approved, then changed a target, no longer counts either.
		a.Approvers = slices.DeleteFunc(a.Approvers, func(x kubernautv1.Approver) bool { return changed(x.User) })
		if changed(user) {
			return nil
		}
	}
	if len(a.Approvers) < 5 {
		a.Approvers = append(a.Approvers, kubernautv1.Approver{User: kubernautv1.Truncate(user, 253), At: now,
			Reason: kubernautv1.Truncate(we.Annotations[kubernautv1.ApproveReasonAnnotation], 512)})
	}
	return nil
}

func (r *Reconciler) notCounted(we *kubernautv1.WorkflowExecution, msg string) {
	if r.Events != nil {
		r.Events.Eventf(we, nil, corev1.EventTypeWarning, "ApprovalNotCounted", "Approve", "%s", msg)
	}
}

// quorumOf is the plan's quorum; a plan that names none needs one approver and no window.
func quorumOf(we *kubernautv1.WorkflowExecution) kubernautv1.Quorum {
	if we.Spec.Quorum != nil {
		return *we.Spec.Quorum
	}
	return kubernautv1.Quorum{Approvers: 1}
}

// waiting says who approved so far and how the next person approves.
func waiting(we *kubernautv1.WorkflowExecution, q kubernautv1.Quorum, approvers []kubernautv1.Approver) string {
	how := fmt.Sprintf("kubectl annotate workflowexecution %s %s=%s", we.Name, kubernautv1.ApproveAnnotation, we.Status.Plan.Hash)
	if len(approvers) == 0 {
		if q.Approvers == 1 {
			return "waiting for approval: " + how
		}
		return fmt.Sprintf("waiting for approval (%s): each approves with %s", q, how)
	}
	return fmt.Sprintf("approved by %s, %d of %d distinct people: waiting for another approval: %s",
		approverNames(approvers), len(approvers), q.Approvers, how)
}

func approverNames(approvers []kubernautv1.Approver) string {
	names := make([]string, len(approvers))
	for i, a := range approvers {
		names[i] = "user " + a.User
	}
	return strings.Join(names, ", ")
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

func appendReason(reasons []string, r string) []string {
	r = kubernautv1.Truncate(r, 512)
	if slices.Contains(reasons, r) || len(reasons) >= 16 {
		return reasons
	}
	return append(reasons, r)
}

// change is one person's recent change of one of a plan's targets.
type change struct {
	target string
	user   string
	at     time.Time
}

// trackedKinds are the kinds whose changes admission stamps into kubernautv1.ChangedByAnnotation.
var trackedKinds = map[kubernautv1.TargetKind]schema.GroupVersionKind{
	kubernautv1.TargetKindDeployment:              {Group: "apps", Version: "v1", Kind: "Deployment"},
	kubernautv1.TargetKindStatefulSet:             {Group: "apps", Version: "v1", Kind: "StatefulSet"},
	kubernautv1.TargetKindDaemonSet:               {Group: "apps", Version: "v1", Kind: "DaemonSet"},
	kubernautv1.TargetKindConfigMap:               {Version: "v1", Kind: "ConfigMap"},
	kubernautv1.TargetKindHorizontalPodAutoscaler: {Group: "autoscaling", Version: "v2", Kind: "HorizontalPodAutoscaler"},
}

// changes reads who changed the plan's targets (its blast radius and each step's), from the
// API server. A target that cannot be read fails the count: the approval is not taken until
// the separation of duties can be checked.
func (r *Reconciler) changes(ctx context.Context, we *kubernautv1.WorkflowExecution) ([]change, error) {
	if r.APIReader == nil {
		return nil, fmt.Errorf("no APIReader to read who changed the targets of plan %s (its quorum has a separation window)", we.Name)
	}
	targets := []kubernautv1.Target{we.Spec.Target}
	for _, s := range we.Spec.Steps {
		if !slices.Contains(targets, s.Target) {
			targets = append(targets, s.Target)
		}
	}
	var out []change
	for _, t := range targets {
		gvk, ok := trackedKinds[t.Kind]
		if !ok {
			continue
		}
		obj := &metav1.PartialObjectMetadata{}
		obj.SetGroupVersionKind(gvk)
		err := r.APIReader.Get(ctx, types.NamespacedName{Namespace: t.Namespace, Name: t.Name}, obj)
		switch {
		case apierrors.IsNotFound(err):
			continue
		case err != nil:
			return nil, fmt.Errorf("reading who changed %s, for the separation of duties: %w", t, err)
		}
		out = append(out, parseChanges(t.String(), obj.GetAnnotations()[kubernautv1.ChangedByAnnotation])...)
	}
	return out, nil
}

// parseChanges reads kubernautv1.ChangedByAnnotation's lines; a line that does not parse is skipped
// (admission writes every line, so none should).
func parseChanges(target, v string) []change {
	var out []change
	for _, line := range strings.Split(v, "\n") {
		at, user, ok := strings.Cut(strings.TrimSpace(line), " ")
		t, err := time.Parse(time.RFC3339, at)
		if !ok || err != nil || user == "" {
			continue
		}
		out = append(out, change{target: target, user: user, at: t})
	}
	return out
}

// clearApproval removes the approval annotation (its stamped author and its reason) that approve took
// into account, so that the next approver can set it: admission lets only the controller
// remove them, and nothing else. The patch holds only at the version the controller read: a
// decision made since (a rejection, stamped with its author) is never removed with it — the
// conflict requeues the plan, which then reads it.
func (r *Reconciler) clearApproval(ctx context.Context, we *kubernautv1.WorkflowExecution) error {
	patch := fmt.Sprintf(`{"metadata":{"resourceVersion":%q,"annotations":{%q:null,%q:null,%q:null}}}`,
		we.ResourceVersion, kubernautv1.ApproveAnnotation, kubernautv1.DecidedByAnnotation, kubernautv1.ApproveReasonAnnotation)
	if err := r.Client.Patch(ctx, we, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
		return fmt.Errorf("removing the counted approval of WorkflowExecution %s: %w", we.Name, err)
	}
	return nil
}
