package workflowexecution

import (
	"context"
	"slices"
	"testing"
	"time"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/test/gen"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Admission writes every line of kubernaut.io/changed-by; a line that does not parse (an
// older format, a hand edit admission undid too late) is skipped, never read as a person.
func TestParseChanges(t *testing.T) {
	got := parseChanges("Deployment/shop/web", "2026-12-07T02:25:04Z alice\n2026-12-07T02:25:02Z alice@example.com\n"+
		"not-a-time bob\n2026-12-07T02:25:01Z\n\n  2026-12-07T02:24:56Z system:serviceaccount:kube-system:deployer  ")
	want := []change{
		{target: "Deployment/shop/web", user: "alice", at: time.Date(2026, 12, 7, 2, 25, 4, 0, time.UTC)},
		{target: "Deployment/shop/web", user: "alice@example.com", at: time.Date(2026, 12, 7, 2, 25, 2, 0, time.UTC)},
		{target: "Deployment/shop/web", user: "system:serviceaccount:kube-system:deployer", at: time.Date(2026, 12, 7, 2, 24, 56, 0, time.UTC)},
	}
	if len(got) != len(want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}
	for i := range want {
		if got[i].target != want[i].target || got[i].user != want[i].user || !got[i].at.Equal(want[i].at) {
			t.Errorf("line %d: got %+v, want %+v", i, got[i], want[i])
		}
	}
	if parseChanges("Deployment/shop/web", "") != nil {
		t.Error("no annotation, no change")
	}
}

// approve maps a plan's annotations, its gate's resume and the approvers counted so far to
// its approval: a table of the ways a decision arrives.
func TestApprove(t *testing.T) {
	now := time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)
	earlier := metav1.NewTime(now.Add(-time.Minute))
	const hash = "3f2a9c"
	pending := func(mods ...func(*kubernautv1.WorkflowExecution)) *kubernautv1.WorkflowExecution {
		return gen.WorkflowExecution("shop", "rr-1-we", append([]func(*kubernautv1.WorkflowExecution){func(we *kubernautv1.WorkflowExecution) {
			we.Status.Plan = &kubernautv1.Plan{Hash: hash}
			we.Spec.Quorum = &kubernautv1.Quorum{Approvers: 1}
		}}, mods...)...)
	}
	annotated := func(kv ...string) func(*kubernautv1.WorkflowExecution) {
		return func(we *kubernautv1.WorkflowExecution) {
			we.Annotations = map[string]string{}
			for i := 0; i < len(kv); i += 2 {
				we.Annotations[kv[i]] = kv[i+1]
			}
		}
	}
	approvedBy := func(users ...string) func(*kubernautv1.WorkflowExecution) {
		return func(we *kubernautv1.WorkflowExecution) {
			a := &kubernautv1.Approval{Mode: kubernautv1.ApprovalManual, Decision: "Pending", PlanHash: hash}
			for _, u := range users {
				a.Approvers = append(a.Approvers, kubernautv1.Approver{User: u, At: earlier})
			}
			we.Status.Approval = a
		}
	}
	two := func(we *kubernautv1.WorkflowExecution) { we.Spec.Quorum.Approvers = 2 }
	for name, tc := range map[string]struct {
		we        *kubernautv1.WorkflowExecution
		resume    Resume
		status    metav1.ConditionStatus
		reason    string
		message   string
		approvers []string
		clear     bool
	}{
		"the policy approves an Auto plan": {we: pending(gen.AutoApproved),
			status: metav1.ConditionTrue, reason: kubernautv1.ReasonAutoApproved, message: "approved by the approval policy"},
		"one vouched approval meets a quorum of one": {we: pending(annotated(kubernautv1.ApproveAnnotation, hash, kubernautv1.DecidedByAnnotation, "alice")),
			status: metav1.ConditionTrue, reason: kubernautv1.ReasonManuallyApproved, message: "plan " + hash + " approved by user alice", approvers: []string{"alice"}},
		"the first of two is counted and cleared for the next": {we: pending(two, annotated(kubernautv1.ApproveAnnotation, hash, kubernautv1.DecidedByAnnotation, "alice")),
			status: metav1.ConditionUnknown, reason: kubernautv1.ReasonAwaitingApproval, approvers: []string{"alice"}, clear: true,
			message: "approved by user alice, 1 of 2 distinct people: waiting for another approval: kubectl annotate workflowexecution rr-1-we kubernaut.io/approve=" + hash},
		"the same person twice is counted once": {we: pending(two, approvedBy("alice"), annotated(kubernautv1.ApproveAnnotation, hash, kubernautv1.DecidedByAnnotation, "alice")),
			status: metav1.ConditionUnknown, reason: kubernautv1.ReasonAwaitingApproval, approvers: []string{"alice"}, clear: true,
			message: "approved by user alice, 1 of 2 distinct people: waiting for another approval: kubectl annotate workflowexecution rr-1-we kubernaut.io/approve=" + hash},
		"a second person completes the quorum": {we: pending(two, approvedBy("alice"), annotated(kubernautv1.ApproveAnnotation, hash, kubernautv1.DecidedByAnnotation, "bob")),
			status: metav1.ConditionTrue, reason: kubernautv1.ReasonManuallyApproved, message: "plan " + hash + " approved by user alice, user bob", approvers: []string{"alice", "bob"}},
		"approvals of an earlier plan do not count": {we: pending(two, approvedBy("alice"), func(we *kubernautv1.WorkflowExecution) {
			we.Status.Approval.PlanHash = "0ld"
		}, annotated(kubernautv1.ApproveAnnotation, hash, kubernautv1.DecidedByAnnotation, "bob")),
			status: metav1.ConditionUnknown, reason: kubernautv1.ReasonAwaitingApproval, approvers: []string{"bob"}, clear: true,
			message: "approved by user bob, 1 of 2 distinct people: waiting for another approval: kubectl annotate workflowexecution rr-1-we kubernaut.io/approve=" + hash},
		"an unvouched approval is ignored": {we: pending(annotated(kubernautv1.ApproveAnnotation, hash)),
			status: metav1.ConditionUnknown, reason: kubernautv1.ReasonAwaitingApproval,
			message: "an approval of plan " + hash + " was ignored: it carries no kubernaut.io/decided-by, so the API server did not vouch for who gave it " +
				"(install the admission policies of manifests/base/admission-approvals.yaml, then approve again)"},
		"an approval of another plan is refused": {we: pending(annotated(kubernautv1.ApproveAnnotation, "other", kubernautv1.DecidedByAnnotation, "alice")),
			status: metav1.ConditionUnknown, reason: kubernautv1.ReasonAwaitingApproval,
			message: `an approval for plan "other" was refused: this plan is ` + hash + "; approve it with kubectl annotate workflowexecution rr-1-we kubernaut.io/approve=" + hash + " --overwrite"},
		"a rejection, even unvouched, ends it": {we: pending(annotated(kubernautv1.RejectAnnotation, "wrong fix")),
			status: metav1.ConditionFalse, reason: kubernautv1.ReasonApprovalDenied,
			message: "rejected by an unvouched user (no kubernaut.io/decided-by): wrong fix"},
		"an unvouched resume passes a gate of one": {we: pending(), resume: Resume{By: "argo resume by a workflow-controller"},
			status: metav1.ConditionTrue, reason: kubernautv1.ReasonManuallyApproved, message: "plan " + hash + " approved by argo resume by a workflow-controller"},
		"an unvouched resume cannot stand for two people": {we: pending(two), resume: Resume{By: "argo resume by someone"},
			status: metav1.ConditionFalse, reason: kubernautv1.ReasonApprovalDenied,
			message: "the approval gate was passed by argo resume by someone: this plan needs 2 distinct approvers, so it is refused"},
		"a vouched resume short of the quorum is refused": {we: pending(two), resume: Resume{By: "argo resume by user alice", User: "alice"},
			status: metav1.ConditionFalse, reason: kubernautv1.ReasonApprovalDenied, approvers: []string{"alice"},
			message: "the approval gate was passed by argo resume by user alice, which does not complete this plan's approval (2 distinct approvers; counted: user alice)"},
		"a vouched resume completing the quorum is named": {we: pending(two, approvedBy("bob")), resume: Resume{By: "argo resume by user alice", User: "alice"},
			status: metav1.ConditionTrue, reason: kubernautv1.ReasonManuallyApproved, message: "plan " + hash + " approved by user bob, user alice", approvers: []string{"bob", "alice"}},
	} {
		t.Run(name, func(t *testing.T) {
			r := &Reconciler{Now: func() time.Time { return now }}
			clear, err := r.approve(context.Background(), tc.we, tc.resume)
			if err != nil {
				t.Fatal(err)
			}
			c := meta.FindStatusCondition(tc.we.Status.Conditions, kubernautv1.ApprovedCondition)
			if c == nil || c.Status != tc.status || c.Reason != tc.reason || c.Message != tc.message {
				t.Fatalf("Approved = %+v\nwant %s %s %q", c, tc.status, tc.reason, tc.message)
			}
			if clear != tc.clear {
				t.Fatalf("clear = %v, want %v", clear, tc.clear)
			}
			var got []string
			for _, a := range tc.we.Status.Approval.Approvers {
				got = append(got, a.User)
			}
			if !slices.Equal(got, tc.approvers) {
				t.Fatalf("approvers %v, want %v", got, tc.approvers)
			}
			if ready := meta.FindStatusCondition(tc.we.Status.Conditions, kubernautv1.ReadyCondition); (tc.status == metav1.ConditionFalse) !=
				(ready != nil && ready.Reason == kubernautv1.ReasonRejected) {
				t.Fatalf("Ready = %+v: a refused approval rejects the plan, nothing else does here", ready)
			}
		})
	}
}
