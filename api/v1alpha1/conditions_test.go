package v1alpha1

import (
	"strings"
	"testing"
	"unicode/utf8"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func cond(t, status, reason string) metav1.Condition {
	return metav1.Condition{Type: t, Status: metav1.ConditionStatus(status), Reason: reason}
}

func TestRemediationRequestDerivePhase(t *testing.T) {
	const T, F, U = "True", "False", "Unknown"
	for _, tc := range []struct {
		name  string
		conds []metav1.Condition
		want  RemediationPhase
	}{
		{"no conditions", nil, RemediationPhasePending},
		{"guards running", []metav1.Condition{cond(GuardsPassedCondition, U, ReasonInProgress)}, RemediationPhasePending},
		{"processing", []metav1.Condition{cond(GuardsPassedCondition, T, ReasonGuardsPassed), cond(ProcessedCondition, U, ReasonInProgress)}, RemediationPhaseProcessing},
		{"analyzing", []metav1.Condition{cond(GuardsPassedCondition, T, ""), cond(ProcessedCondition, T, "")}, RemediationPhaseAnalyzing},
		{"planning is still analyzing", []metav1.Condition{cond(GuardsPassedCondition, T, ""), cond(ProcessedCondition, T, ""), cond(AnalyzedCondition, T, ""), cond(ValidatedCondition, U, ReasonInProgress)}, RemediationPhaseAnalyzing},
		{"awaiting approval", []metav1.Condition{cond(GuardsPassedCondition, T, ""), cond(ProcessedCondition, T, ""), cond(AnalyzedCondition, T, ""), cond(ValidatedCondition, T, ReasonPlanValid), cond(ApprovedCondition, U, ReasonAwaitingApproval)}, RemediationPhaseAwaitingApproval},
		{"executing", []metav1.Condition{cond(GuardsPassedCondition, T, ""), cond(ProcessedCondition, T, ""), cond(AnalyzedCondition, T, ""), cond(ValidatedCondition, T, ""), cond(ApprovedCondition, T, ReasonAutoApproved)}, RemediationPhaseExecuting},
		{"verifying", []metav1.Condition{cond(GuardsPassedCondition, T, ""), cond(ProcessedCondition, T, ""), cond(AnalyzedCondition, T, ""), cond(ValidatedCondition, T, ""), cond(ApprovedCondition, T, ""), cond(ExecutedCondition, T, "")}, RemediationPhaseVerifying},
		{"completed", []metav1.Condition{cond(VerifiedCondition, T, ""), cond(ReadyCondition, T, ReasonSucceeded)}, RemediationPhaseCompleted},
		{"no action needed completes early", []metav1.Condition{cond(AnalyzedCondition, T, ReasonNoActionRecommended), cond(ReadyCondition, T, ReasonSucceeded)}, RemediationPhaseCompleted},
		{"skipped by a guard", []metav1.Condition{cond(GuardsPassedCondition, F, ReasonKillSwitchActive), cond(ReadyCondition, F, ReasonSkipped)}, RemediationPhaseSkipped},
		{"rejected", []metav1.Condition{cond(ApprovedCondition, F, ReasonLowConfidence), cond(ReadyCondition, F, ReasonRejected)}, RemediationPhaseRejected},
		{"timed out", []metav1.Condition{cond(ReadyCondition, F, ReasonTimedOut)}, RemediationPhaseTimedOut},
		{"cancelled", []metav1.Condition{cond(ReadyCondition, F, ReasonCancelled)}, RemediationPhaseCancelled},
		{"failed", []metav1.Condition{cond(ExecutedCondition, F, ReasonStepFailed), cond(ReadyCondition, F, ReasonFailed)}, RemediationPhaseFailed},
		{"ready false while progressing is not terminal", []metav1.Condition{cond(GuardsPassedCondition, T, ""), cond(ReadyCondition, F, ReasonProgressing)}, RemediationPhaseProcessing},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rr := &RemediationRequest{Status: RemediationRequestStatus{Conditions: tc.conds}}
			if got := rr.DerivePhase(); got != tc.want {
				t.Fatalf("DerivePhase() = %s, want %s", got, tc.want)
			}
			if got := tc.want.IsFinished(); got != (tc.want == RemediationPhaseCompleted || IsTerminalReason(string(tc.want))) {
				t.Fatalf("IsFinished(%s) = %v", tc.want, got)
			}
		})
	}
}

func TestChildPhases(t *testing.T) {
	const T, F, U = "True", "False", "Unknown"
	rp := &RemediationProcessing{Status: RemediationProcessingStatus{Conditions: []metav1.Condition{cond(EnrichedCondition, T, ReasonEnriched), cond(ClassifiedCondition, U, ReasonInProgress)}}}
	if got := rp.DerivePhase(); got != ProcessingClassifying {
		t.Errorf("RemediationProcessing phase = %s, want Classifying", got)
	}
	aia := &AIAnalysis{Status: AIAnalysisStatus{Conditions: []metav1.Condition{cond(InvestigatedCondition, U, ReasonInProgress)}}}
	if got := aia.DerivePhase(); got != AnalysisInvestigating {
		t.Errorf("AIAnalysis phase = %s, want Investigating", got)
	}
	aia.Status.Conditions = []metav1.Condition{cond(InvestigatedCondition, T, ReasonRootCauseFound), cond(RecommendedCondition, T, ReasonRecommendationValid)}
	if got := aia.DerivePhase(); got != AnalysisDeciding {
		t.Errorf("AIAnalysis phase = %s, want Deciding", got)
	}
	aia.Status.Conditions = []metav1.Condition{cond(InvestigatedCondition, T, ReasonRootCauseFound), cond(RecommendedCondition, F, ReasonInvalidRecommendation), cond(ReadyCondition, F, ReasonRejected)}
	if got := aia.DerivePhase(); got != AnalysisRejected {
		t.Errorf("AIAnalysis phase = %s, want Rejected", got)
	}
	we := &WorkflowExecution{Status: WorkflowExecutionStatus{Conditions: []metav1.Condition{cond(CompiledCondition, T, ReasonWorkflowCompiled)}}}
	if got := we.DerivePhase(); got != WorkflowValidating {
		t.Errorf("WorkflowExecution phase = %s, want Validating", got)
	}
	we = &WorkflowExecution{Status: WorkflowExecutionStatus{Conditions: []metav1.Condition{
		cond(CompiledCondition, T, ReasonWorkflowCompiled), cond(ValidatedCondition, T, ReasonPlanValid), cond(ApprovedCondition, T, ReasonManuallyApproved),
		cond(ExecutedCondition, F, ReasonStepFailed), cond(CompensatedCondition, U, ReasonInProgress),
	}}}
	if got := we.DerivePhase(); got != WorkflowCompensating {
		t.Errorf("WorkflowExecution phase = %s, want Compensating", got)
	}
	we.Status.Conditions = append(we.Status.Conditions[:4], cond(CompensatedCondition, T, ReasonCompensationSucceeded), cond(ReadyCondition, F, ReasonFailed))
	if got := we.DerivePhase(); got != WorkflowFailed {
		t.Errorf("WorkflowExecution phase after compensation = %s, want Failed", got)
	}
	ke := &KubernetesExecution{Status: KubernetesExecutionStatus{Conditions: []metav1.Condition{cond(ValidatedCondition, F, ReasonPolicyDenied), cond(ReadyCondition, F, ReasonRejected)}}}
	if got := ke.DerivePhase(); got != ExecutionRejected {
		t.Errorf("KubernetesExecution phase = %s, want Rejected", got)
	}
	ke.Status.Conditions = []metav1.Condition{cond(ValidatedCondition, T, ReasonValidationPassed), cond(ExecutedCondition, U, ReasonInProgress)}
	if got := ke.DerivePhase(); got != ExecutionExecuting {
		t.Errorf("KubernetesExecution phase = %s, want Executing", got)
	}
}

func TestTargetString(t *testing.T) {
	if got := (Target{Kind: TargetKindNode, Name: "n1"}).String(); got != "Node/n1" {
		t.Errorf("got %s", got)
	}
	if got := (Target{Kind: TargetKindPod, Namespace: "shop", Name: "p"}).String(); got != "Pod/shop/p" {
		t.Errorf("got %s", got)
	}
	if !TargetKindNamespace.IsClusterScoped() || TargetKindPod.IsClusterScoped() {
		t.Error("IsClusterScoped is wrong")
	}
}

func TestTruncate(t *testing.T) {
	s := "ééééé" // 10 bytes, 2 per rune
	for _, tc := range []struct {
		max  int
		want string
	}{{10, s}, {20, s}, {9, "ééé…"}, {8, "éé…"}, {7, "éé…"}, {6, "é…"}, {3, "…"}, {2, ""}} {
		got := Truncate(s, tc.max)
		if got != tc.want || len(got) > tc.max {
			t.Errorf("Truncate(%q, %d) = %q, want %q (at most %d bytes)", s, tc.max, got, tc.want, tc.max)
		}
	}
}

// A message over the bound is cut on a character boundary: a byte cut inside "é" made invalid
// UTF-8, which the API server refuses (the analysis controller once cut at msg[:32000]).
func TestSetConditionBoundsTheMessageOnACharacter(t *testing.T) {
	var conds []metav1.Condition
	msg := "x" + strings.Repeat("é", MaxConditionMessage) // 65537 bytes, every other byte inside a character
	SetCondition(&conds, 7, ReadyCondition, metav1.ConditionFalse, ReasonFailed, msg)
	got := conds[0]
	if len(got.Message) > MaxConditionMessage || !utf8.ValidString(got.Message) || !strings.HasSuffix(got.Message, "…") {
		t.Fatalf("message of %d bytes, valid UTF-8 %t, ends %q", len(got.Message), utf8.ValidString(got.Message), got.Message[len(got.Message)-8:])
	}
	if got.ObservedGeneration != 7 || got.Reason != ReasonFailed || got.Status != metav1.ConditionFalse {
		t.Fatalf("got %+v", got)
	}
	var parent []metav1.Condition
	if MirrorCondition(&parent, 3, conds, ApprovedCondition) || len(parent) != 0 {
		t.Fatalf("mirrored a condition the child does not have: %+v", parent)
	}
	if !MirrorCondition(&parent, 3, conds, ReadyCondition) || parent[0].Message != got.Message || parent[0].ObservedGeneration != 3 {
		t.Fatalf("mirrored %+v", parent)
	}
}

// Every phase type says when it has ended, with the same rule: its success, or a terminal reason.
func TestEveryPhaseSaysWhenItEnded(t *testing.T) {
	for _, tc := range []struct {
		phase    interface{ IsFinished() bool }
		finished bool
	}{
		{RemediationPhaseCompleted, true}, {RemediationPhaseAwaitingApproval, false},
		{ProcessingCompleted, true}, {ProcessingFailed, true}, {ProcessingClassifying, false},
		{AnalysisCompleted, true}, {AnalysisRejected, true}, {AnalysisDeciding, false},
		{WorkflowCompleted, true}, {WorkflowRunning, false},
		{ExecutionSucceeded, true}, {ExecutionRejected, true}, {ExecutionFailed, true}, {ExecutionVerifying, false},
	} {
		if got := tc.phase.IsFinished(); got != tc.finished {
			t.Errorf("%v.IsFinished() = %t, want %t", tc.phase, got, tc.finished)
		}
	}
}
