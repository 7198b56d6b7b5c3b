package remediationrequest

import (
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/test/gen"
)

var now = time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)

// analysis is an AIAnalysis in phase with its outcome set by mods.
func analysis(phase kubernautv1.AnalysisPhase, mods ...func(*kubernautv1.AIAnalysis)) *kubernautv1.AIAnalysis {
	return gen.AIAnalysis("shop", "rr-1-aia", append([]func(*kubernautv1.AIAnalysis){func(a *kubernautv1.AIAnalysis) {
		a.Status.Phase = phase
		a.Status.RootCause = &kubernautv1.RootCause{Summary: "bad release 2.0", Confidence: 0.9}
		a.Status.Recommendation = &kubernautv1.Recommendation{Steps: []kubernautv1.PlanStep{gen.RollbackStep()}}
		a.Status.Approval = &kubernautv1.ApprovalDecision{Mode: kubernautv1.ApprovalManual, Reasons: []string{"production"}}
	}}, mods...)...)
}

func ready(reason, msg string) func(*kubernautv1.AIAnalysis) {
	return func(a *kubernautv1.AIAnalysis) {
		a.Status.Conditions = []metav1.Condition{{Type: kubernautv1.ReadyCondition, Status: metav1.ConditionFalse, Reason: reason, Message: msg}}
	}
}

// want is what a mapper left on the RemediationRequest: a condition, and Ready.
type want struct {
	stop            bool
	cond            string
	status          metav1.ConditionStatus
	reason, ready   string
	message, detail string
}

func check(t *testing.T, rr *kubernautv1.RemediationRequest, w want) {
	t.Helper()
	if w.cond != "" {
		c := meta.FindStatusCondition(rr.Status.Conditions, w.cond)
		if c == nil || c.Status != w.status || c.Reason != w.reason {
			t.Fatalf("%s = %+v, want %s %s", w.cond, c, w.status, w.reason)
		}
	}
	r := meta.FindStatusCondition(rr.Status.Conditions, kubernautv1.ReadyCondition)
	switch {
	case w.ready == "" && r != nil:
		t.Fatalf("Ready = %+v, want none: the remediation goes on", r)
	case w.ready != "" && (r == nil || r.Reason != w.ready || r.Message != w.message || rr.Status.Message != w.message):
		t.Fatalf("Ready = %+v, message %q; want %s %q", r, rr.Status.Message, w.ready, w.message)
	}
}

func TestAnalyzed(t *testing.T) {
	r := &Reconciler{Config: DefaultConfig()}
	for name, tc := range map[string]struct {
		aia  *kubernautv1.AIAnalysis
		want want
	}{
		"a plan for people to approve goes on": {analysis(kubernautv1.AnalysisCompleted),
			want{cond: kubernautv1.AnalyzedCondition, status: metav1.ConditionTrue, reason: kubernautv1.ReasonRootCauseFound}},
		"a fallback's plan says so": {analysis(kubernautv1.AnalysisCompleted, func(a *kubernautv1.AIAnalysis) { a.Status.Fallback = true }),
			want{cond: kubernautv1.AnalyzedCondition, status: metav1.ConditionTrue, reason: kubernautv1.ReasonFallback}},
		"no action recommended completes, for a person to look": {analysis(kubernautv1.AnalysisCompleted, func(a *kubernautv1.AIAnalysis) { a.Status.Recommendation.Steps = nil }),
			want{stop: true, cond: kubernautv1.AnalyzedCondition, status: metav1.ConditionTrue, reason: kubernautv1.ReasonNoActionRecommended,
				ready: kubernautv1.ReasonSucceeded, message: "no action recommended: a person must look (bad release 2.0)"}},
		"no approval decision fails": {analysis(kubernautv1.AnalysisCompleted, func(a *kubernautv1.AIAnalysis) { a.Status.Approval = nil }),
			want{stop: true, ready: kubernautv1.ReasonFailed, message: "the analysis completed without an approval decision"}},
		"the approval policy's rejection": {analysis(kubernautv1.AnalysisCompleted, func(a *kubernautv1.AIAnalysis) {
			a.Status.Approval = &kubernautv1.ApprovalDecision{Mode: kubernautv1.ApprovalRejected, Reasons: []string{"confidence 0.20 is below 0.60"}}
		}), want{stop: true, cond: kubernautv1.ApprovedCondition, status: metav1.ConditionFalse, reason: kubernautv1.ReasonApprovalDenied,
			ready: kubernautv1.ReasonRejected, message: "the approval policy rejected the plan: confidence 0.20 is below 0.60"}},
		"a refused recommendation": {analysis(kubernautv1.AnalysisRejected, ready(kubernautv1.ReasonRejected, "the recommendation was refused: step 1")),
			want{stop: true, cond: kubernautv1.AnalyzedCondition, status: metav1.ConditionFalse, reason: kubernautv1.ReasonInvalidRecommendation,
				ready: kubernautv1.ReasonRejected, message: "the analysis was rejected: the recommendation was refused: step 1"}},
		"no analyzer could answer": {analysis(kubernautv1.AnalysisFailed, ready(kubernautv1.ReasonFailed, "no analyzer could answer: timeout")),
			want{stop: true, cond: kubernautv1.AnalyzedCondition, status: metav1.ConditionFalse, reason: kubernautv1.ReasonAnalyzerFailed,
				ready: kubernautv1.ReasonFailed, message: "the analysis failed: no analyzer could answer: timeout"}},
		"still analyzing waits": {analysis(kubernautv1.AnalysisInvestigating),
			want{stop: true, cond: kubernautv1.AnalyzedCondition, status: metav1.ConditionUnknown, reason: kubernautv1.ReasonInProgress}},
	} {
		t.Run(name, func(t *testing.T) {
			rr := gen.RemediationRequest("shop", "rr-1")
			stop, _ := r.analyzed(rr, tc.aia, now)
			if stop != tc.want.stop {
				t.Fatalf("stop = %v, want %v", stop, tc.want.stop)
			}
			check(t, rr, tc.want)
			if !stop && (rr.Status.ApprovalMode != kubernautv1.ApprovalManual || len(rr.Status.Actions) != 1 || rr.Status.RootCause != "bad release 2.0") {
				t.Fatalf("status %+v: the analysis's outcome is not on the remediation", rr.Status)
			}
		})
	}
}

// plan is a WorkflowExecution in phase whose Ready condition says msg.
func plan(phase kubernautv1.WorkflowPhase, status metav1.ConditionStatus, reason, msg string) *kubernautv1.WorkflowExecution {
	return gen.WorkflowExecution("shop", "rr-1-we", func(we *kubernautv1.WorkflowExecution) {
		we.Status.Phase = phase
		we.Status.Conditions = []metav1.Condition{
			{Type: kubernautv1.ValidatedCondition, Status: metav1.ConditionTrue, Reason: kubernautv1.ReasonPlanValid, Message: "the safety policy and the API server's dry run allow all 1 steps"},
			{Type: kubernautv1.ReadyCondition, Status: status, Reason: reason, Message: msg},
		}
	})
}

func TestExecuted(t *testing.T) {
	r := &Reconciler{Config: DefaultConfig()}
	for name, tc := range map[string]struct {
		we   *kubernautv1.WorkflowExecution
		want want
	}{
		"completed": {plan(kubernautv1.WorkflowCompleted, metav1.ConditionTrue, kubernautv1.ReasonSucceeded, "remediated and verified: rollback"),
			want{cond: kubernautv1.ValidatedCondition, status: metav1.ConditionTrue, reason: kubernautv1.ReasonPlanValid,
				ready: kubernautv1.ReasonSucceeded, message: "remediated and verified: rollback"}},
		"failed": {plan(kubernautv1.WorkflowFailed, metav1.ConditionFalse, kubernautv1.ReasonFailed, "step rollback failed; undone"),
			want{ready: kubernautv1.ReasonFailed, message: "the workflow failed: step rollback failed; undone"}},
		"rejected": {plan(kubernautv1.WorkflowRejected, metav1.ConditionFalse, kubernautv1.ReasonRejected, "rejected by user bob"),
			want{ready: kubernautv1.ReasonRejected, message: "the plan was rejected: rejected by user bob"}},
		"timed out": {plan(kubernautv1.WorkflowTimedOut, metav1.ConditionFalse, kubernautv1.ReasonTimedOut, "deadline 30m0s exceeded"),
			want{ready: kubernautv1.ReasonTimedOut, message: "the workflow timed out: deadline 30m0s exceeded"}},
		"waiting for people": {plan(kubernautv1.WorkflowAwaitingApproval, metav1.ConditionFalse, kubernautv1.ReasonProgressing, "phase AwaitingApproval"),
			want{cond: kubernautv1.ApprovedCondition, status: metav1.ConditionUnknown, reason: kubernautv1.ReasonInProgress}},
		"still planning": {plan(kubernautv1.WorkflowPlanning, metav1.ConditionFalse, kubernautv1.ReasonProgressing, "phase Planning"),
			want{cond: kubernautv1.ValidatedCondition, status: metav1.ConditionUnknown, reason: kubernautv1.ReasonInProgress}},
	} {
		t.Run(name, func(t *testing.T) {
			rr := gen.RemediationRequest("shop", "rr-1")
			r.executed(rr, tc.we, now)
			check(t, rr, tc.want)
		})
	}
}

func TestTimeout(t *testing.T) {
	r := &Reconciler{Config: DefaultConfig()}
	r.Config.Timeouts = map[kubernautv1.RemediationPhase]time.Duration{kubernautv1.RemediationPhaseAnalyzing: 10 * time.Minute}
	analyzing := func(startedAgo time.Duration) func(*kubernautv1.RemediationRequest) {
		return func(rr *kubernautv1.RemediationRequest) {
			rr.Status.Conditions = []metav1.Condition{
				{Type: kubernautv1.GuardsPassedCondition, Status: metav1.ConditionTrue, Reason: kubernautv1.ReasonGuardsPassed},
				{Type: kubernautv1.ProcessedCondition, Status: metav1.ConditionTrue, Reason: kubernautv1.ReasonEnriched},
			}
			rr.Status.Phase = kubernautv1.RemediationPhaseAnalyzing
			t := metav1.NewTime(now.Add(-startedAgo))
			rr.Status.PhaseStartedAt = &t
		}
	}
	for name, tc := range map[string]struct {
		rr    *kubernautv1.RemediationRequest
		after time.Duration
		ended bool
	}{
		"a phase without a timeout": {gen.RemediationRequest("shop", "rr-1"), 0, false},
		"a phase entered now gets its whole timeout": {gen.RemediationRequest("shop", "rr-1", analyzing(time.Hour), func(rr *kubernautv1.RemediationRequest) {
			rr.Status.Phase = kubernautv1.RemediationPhaseProcessing
		}), 10 * time.Minute, false},
		"a phase under way is looked at again when its time is up": {gen.RemediationRequest("shop", "rr-1", analyzing(4*time.Minute)), 6 * time.Minute, false},
		"a phase past its timeout ends the remediation":            {gen.RemediationRequest("shop", "rr-1", analyzing(11*time.Minute)), 0, true},
	} {
		t.Run(name, func(t *testing.T) {
			res := r.timeout(tc.rr, now)
			if res.RequeueAfter != tc.after {
				t.Fatalf("requeue after %s, want %s", res.RequeueAfter, tc.after)
			}
			w := want{}
			if tc.ended {
				w = want{ready: kubernautv1.ReasonTimedOut, message: "phase Analyzing exceeded its timeout of 10m0s"}
			}
			check(t, tc.rr, w)
		})
	}
}
