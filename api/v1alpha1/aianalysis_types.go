package v1alpha1

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// AnalysisPhase is the phase of an AIAnalysis, derived from its conditions.
// +kubebuilder:validation:Enum=Pending;Investigating;Recommending;Deciding;Completed;Failed;Rejected
type AnalysisPhase string

// The phases of an AIAnalysis.
const (
	AnalysisPending       AnalysisPhase = "Pending"
	AnalysisInvestigating AnalysisPhase = "Investigating"
	AnalysisRecommending  AnalysisPhase = "Recommending"
	AnalysisDeciding      AnalysisPhase = "Deciding"
	AnalysisCompleted     AnalysisPhase = "Completed"
	AnalysisFailed        AnalysisPhase = AnalysisPhase(ReasonFailed)
	AnalysisRejected      AnalysisPhase = AnalysisPhase(ReasonRejected)
)

// IsFinished reports whether the phase ends the analysis.
func (p AnalysisPhase) IsFinished() bool {
	return p == AnalysisCompleted || IsTerminalReason(string(p))
}

// AnalyzerName names an analyzer backend.
// +kubebuilder:validation:Enum=rules;holmesgpt
type AnalyzerName string

const (
	// AnalyzerRules is the built-in deterministic analyzer: known situations and enrichment
	// facts to a root cause and a recommendation. No network.
	AnalyzerRules AnalyzerName = "rules"
	// AnalyzerHolmesGPT asks a HolmesGPT server.
	AnalyzerHolmesGPT AnalyzerName = "holmesgpt"
)

// AIAnalysisSpec is what the orchestrator hands to the analysis: the signal with its context
// and classification.
// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec is immutable"
type AIAnalysisSpec struct {
	// RemediationRequestRef names the RemediationRequest this belongs to.
	RemediationRequestRef LocalReference `json:"remediationRequestRef"`

	// Signal is the alert, copied from the RemediationRequest.
	Signal Signal `json:"signal"`

	// Target is the object the alert is about.
	Target Target `json:"target"`

	// MemberTargets of a storm.
	// +optional
	// +kubebuilder:validation:MaxItems=500
	// +listType=atomic
	MemberTargets []MemberTarget `json:"memberTargets,omitempty"`

	// Enrichment is the context gathered by the RemediationProcessing.
	// +optional
	Enrichment *Enrichment `json:"enrichment,omitempty"`

	// Classification is the RemediationProcessing's classification.
	// +optional
	Classification *Classification `json:"classification,omitempty"`

	// Analyzer overrides the configured analyzer for this analysis.
	// +optional
	Analyzer AnalyzerName `json:"analyzer,omitempty"`
}

// Evidence is one fact an analysis relied on.
type Evidence struct {
	// Source names where the fact came from (pods, events, rollouts, logs, node, holmesgpt…).
	// +kubebuilder:validation:MaxLength=63
	Source string `json:"source"`

	// Fact is the fact, in a sentence.
	// +kubebuilder:validation:MaxLength=1024
	Fact string `json:"fact"`
}

// RootCause is what the analysis found.
type RootCause struct {
	// Summary of the root cause, in a sentence or two.
	// +kubebuilder:validation:MinLength=1
	// +kubebuilder:validation:MaxLength=1024
	Summary string `json:"summary"`

	// Evidence the analysis relied on.
	// +optional
	// +kubebuilder:validation:MaxItems=20
	// +listType=atomic
	Evidence []Evidence `json:"evidence,omitempty"`

	// Confidence in the root cause and the recommendation, between 0 and 1.
	// +kubebuilder:validation:XValidation:rule="self >= 0.0 && self <= 1.0",message="confidence must be between 0 and 1"
	Confidence float64 `json:"confidence"`
}

// Alternative is an action the analysis considered and did not choose.
type Alternative struct {
	// Action considered.
	Action ActionName `json:"action"`

	// Reason it was not chosen.
	// +kubebuilder:validation:MaxLength=1024
	Reason string `json:"reason"`
}

// Recommendation is the plan the analysis proposes: catalog actions only, with their typed
// parameters and the order they run in. No steps means no action (escalate to a person).
// +kubebuilder:validation:XValidation:rule="!has(self.steps) || self.steps.all(s, self.steps.exists_one(x, x.name == s.name))",message="step names must be unique"
// +kubebuilder:validation:XValidation:rule="!has(self.steps) || self.steps.all(s, !has(s.dependsOn) || s.dependsOn.all(d, d != s.name && self.steps.exists(x, x.name == d)))",message="dependsOn must name other steps of the recommendation"
type Recommendation struct {
	// Steps of the plan; none means no action is recommended (a person must look).
	// +optional
	// +kubebuilder:validation:MaxItems=10
	// +listType=atomic
	Steps []PlanStep `json:"steps,omitempty"`

	// Rationale explains the plan.
	// +optional
	// +kubebuilder:validation:MaxLength=4096
	Rationale string `json:"rationale,omitempty"`

	// Alternatives the analysis considered.
	// +optional
	// +kubebuilder:validation:MaxItems=10
	// +listType=atomic
	Alternatives []Alternative `json:"alternatives,omitempty"`
}

// ConfidenceAdjustment is one change to the analyzer's confidence, with its basis.
type ConfidenceAdjustment struct {
	// Delta added to the confidence (negative lowers it).
	// +kubebuilder:validation:XValidation:rule="self >= -1.0 && self <= 1.0",message="delta must be between -1 and 1"
	Delta float64 `json:"delta"`

	// Reason for the adjustment ("3 of 4 verified successes for rollback_deployment on
	// this target").
	// +kubebuilder:validation:MaxLength=512
	Reason string `json:"reason"`
}

// ApprovalDecision is who must approve a plan and why.
type ApprovalDecision struct {
	// Mode is Auto, Manual or Rejected.
	Mode ApprovalMode `json:"mode"`

	// Reasons are the approval policy's explanations.
	// +optional
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=512
	// +listType=atomic
	Reasons []string `json:"reasons,omitempty"`

	// Quorum is what a person's approval of a Manual plan takes: how many distinct people,
	// none of whom changed its targets recently.
	// +optional
	Quorum *Quorum `json:"quorum,omitempty"`
}

// Quorum is what a person's approval of a plan takes (separation of duties), as the approval
// policy decided it.
type Quorum struct {
	// Approvers is how many distinct people must approve the plan.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=5
	Approvers int32 `json:"approvers"`

	// SeparationWindow: a person who changed one of the plan's targets within this window
	// before approving does not count as its approver (the targets' kubernaut.io/changed-by,
	// stamped by admission, tells who changed them). Zero turns the rule off.
	// +optional
	SeparationWindow metav1.Duration `json:"separationWindow,omitempty"`
}

// AIAnalysisStatus is the root cause, the recommendation and the approval decision.
type AIAnalysisStatus struct {
	// ObservedGeneration is the generation the status was computed for.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Phase is derived from the conditions.
	// +optional
	Phase AnalysisPhase `json:"phase,omitempty"`

	// Conditions: Ready, Investigated, Recommended, ApprovalDecided.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// Analyzer is the analyzer that answered.
	// +optional
	Analyzer AnalyzerName `json:"analyzer,omitempty"`

	// Fallback is true when the rules analyzer answered because HolmesGPT could not.
	// A fallback never auto-approves.
	// +optional
	Fallback bool `json:"fallback,omitempty"`

	// FallbackReason says why HolmesGPT could not answer.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	FallbackReason string `json:"fallbackReason,omitempty"`

	// RootCause is what the analysis found.
	// +optional
	RootCause *RootCause `json:"rootCause,omitempty"`

	// Recommendation is the proposed plan.
	// +optional
	Recommendation *Recommendation `json:"recommendation,omitempty"`

	// ConfidenceAdjustments are the changes made to the analyzer's confidence from past
	// outcomes; RootCause.Confidence already includes them.
	// +optional
	// +kubebuilder:validation:MaxItems=8
	// +listType=atomic
	ConfidenceAdjustments []ConfidenceAdjustment `json:"confidenceAdjustments,omitempty"`

	// ValidationErrors are the reasons a recommendation was refused, one per problem.
	// +optional
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:MaxLength=1024
	// +listType=atomic
	ValidationErrors []string `json:"validationErrors,omitempty"`

	// Approval is the approval policy's decision.
	// +optional
	Approval *ApprovalDecision `json:"approval,omitempty"`

	// RawResponse is the analyzer's answer as received (truncated to 32 KiB), kept for
	// audit: nothing in it is trusted.
	// +optional
	// +kubebuilder:validation:MaxLength=32768
	RawResponse string `json:"rawResponse,omitempty"`

	// InvestigationID is the analyzer's own identifier of the investigation, if any.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	InvestigationID string `json:"investigationID,omitempty"`

	// StartedAt is when the investigation began.
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`

	// CompletedAt is when the analysis finished.
	// +optional
	CompletedAt *metav1.Time `json:"completedAt,omitempty"`
}

// AIAnalysis asks an analyzer (HolmesGPT or the built-in rules) for a root cause and a
// recommendation that can only name catalog actions, and decides who must approve it.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=aia,categories=kubernaut
// +kubebuilder:printcolumn:name="Alert",type=string,JSONPath=`.spec.signal.name`
// +kubebuilder:printcolumn:name="Target",type=string,JSONPath=`.spec.target.name`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Analyzer",type=string,JSONPath=`.status.analyzer`
// +kubebuilder:printcolumn:name="Confidence",type=number,JSONPath=`.status.rootCause.confidence`
// +kubebuilder:printcolumn:name="Approval",type=string,JSONPath=`.status.approval.mode`
// +kubebuilder:printcolumn:name="Root-Cause",type=string,JSONPath=`.status.rootCause.summary`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type AIAnalysis struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the signal with its context.
	Spec AIAnalysisSpec `json:"spec"`

	// Status is the analysis' outcome.
	// +optional
	Status AIAnalysisStatus `json:"status,omitempty"`
}

// DerivePhase computes the phase from the conditions.
func (a *AIAnalysis) DerivePhase() AnalysisPhase {
	return AnalysisPhase(derivePhase(a.Status.Conditions, []stage{
		{InvestigatedCondition, string(AnalysisInvestigating)},
		{RecommendedCondition, string(AnalysisRecommending)},
		{ApprovalDecidedCondition, string(AnalysisDeciding)},
	}, string(AnalysisPending), string(AnalysisCompleted)))
}

// AIAnalysisList is a list of AIAnalyses.
// +kubebuilder:object:root=true
type AIAnalysisList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	// Items are the AIAnalyses.
	Items []AIAnalysis `json:"items"`
}

func init() {
	SchemeBuilder.Register(&AIAnalysis{}, &AIAnalysisList{})
}

// String says what the quorum takes: "2 distinct approvers, none of whom changed its targets
// within 1h0m0s".
func (q Quorum) String() string {
	s := fmt.Sprintf("%d distinct approvers", q.Approvers)
	if q.Approvers == 1 {
		s = "1 approver"
	}
	if w := q.SeparationWindow.Duration; w > 0 {
		s += fmt.Sprintf(" who did not change its targets within %s", w)
	}
	return s
}
