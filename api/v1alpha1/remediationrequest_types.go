package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// RemediationPhase is the phase of a RemediationRequest, derived from its conditions.
// +kubebuilder:validation:Enum=Pending;Processing;Analyzing;AwaitingApproval;Executing;Verifying;Completed;Failed;Rejected;Skipped;TimedOut;Cancelled;Observed
type RemediationPhase string

// The phases of a RemediationRequest.
const (
	RemediationPhasePending          RemediationPhase = "Pending"
	RemediationPhaseProcessing       RemediationPhase = "Processing"
	RemediationPhaseAnalyzing        RemediationPhase = "Analyzing"
	RemediationPhaseAwaitingApproval RemediationPhase = "AwaitingApproval"
	RemediationPhaseExecuting        RemediationPhase = "Executing"
	RemediationPhaseVerifying        RemediationPhase = "Verifying"
	RemediationPhaseCompleted        RemediationPhase = "Completed"
	RemediationPhaseFailed           RemediationPhase = RemediationPhase(ReasonFailed)
	RemediationPhaseRejected         RemediationPhase = RemediationPhase(ReasonRejected)
	RemediationPhaseSkipped          RemediationPhase = RemediationPhase(ReasonSkipped)
	RemediationPhaseTimedOut         RemediationPhase = RemediationPhase(ReasonTimedOut)
	RemediationPhaseCancelled        RemediationPhase = RemediationPhase(ReasonCancelled)
	RemediationPhaseObserved         RemediationPhase = RemediationPhase(ReasonObserved)
)

// RemediationPhases are every phase, in the order a remediation goes through them (the
// outcomes last).
var RemediationPhases = []RemediationPhase{
	RemediationPhasePending, RemediationPhaseProcessing, RemediationPhaseAnalyzing, RemediationPhaseAwaitingApproval,
	RemediationPhaseExecuting, RemediationPhaseVerifying, RemediationPhaseCompleted, RemediationPhaseFailed,
	RemediationPhaseRejected, RemediationPhaseSkipped, RemediationPhaseTimedOut, RemediationPhaseCancelled,
}

// IsFinished reports whether the phase ends the remediation.
func (p RemediationPhase) IsFinished() bool {
	return p == RemediationPhaseCompleted || IsTerminalReason(string(p))
}

// ApprovalMode says who approves a plan.
// +kubebuilder:validation:Enum=Auto;Manual;Rejected;Observe
type ApprovalMode string

const (
	// ApprovalAuto runs the plan without a person.
	ApprovalAuto ApprovalMode = "Auto"
	// ApprovalManual waits for a person to approve the exact plan (by its hash).
	ApprovalManual ApprovalMode = "Manual"
	// ApprovalRejected never runs the plan.
	ApprovalRejected ApprovalMode = "Rejected"
	// ApprovalObserve plans, validates and dry-runs the plan, and never runs it: its scope's
	// trust level is observe (TrustPolicy). The analysis never decides it; the remediation's
	// controller does, from the trust level.
	ApprovalObserve ApprovalMode = "Observe"
)

// RemediationRequestSpec is the alert the gateway received and what it is about. The gateway
// writes it; only the occurrence record and the resolution change afterwards.
type RemediationRequestSpec struct {
	// Signal is the alert that started this remediation. It is immutable: later deliveries
	// only update Deduplication.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="signal is immutable"
	Signal Signal `json:"signal"`

	// Target is the object the alert is about, as read from its labels.
	// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="target is immutable"
	Target Target `json:"target"`

	// MemberTargets lists every alert folded into this remediation when an alert storm
	// (many alerts with one alertname in one namespace inside a window) was collapsed.
	// +optional
	// +kubebuilder:validation:MaxItems=500
	// +listType=atomic
	MemberTargets []MemberTarget `json:"memberTargets,omitempty"`

	// Deduplication counts the deliveries of this alert occurrence.
	Deduplication Deduplication `json:"deduplication"`

	// ResolvedAt is when Alertmanager reported the alert resolved. A remediation that has
	// not started executing is then cancelled; one that has keeps verifying.
	// +optional
	ResolvedAt *metav1.Time `json:"resolvedAt,omitempty"`
}

// RemediationRequestStatus is the orchestrator's record of the remediation.
type RemediationRequestStatus struct {
	// ObservedGeneration is the generation the status was computed for.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Phase is derived from the conditions, for people and printer columns.
	// +optional
	Phase RemediationPhase `json:"phase,omitempty"`

	// Conditions: Ready, GuardsPassed, Processed, Analyzed, Approved, Executed, Verified.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=16
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// StartedAt is when the orchestrator first acted on the request.
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`

	// PhaseStartedAt is when the current phase began; phase timeouts count from it.
	// +optional
	PhaseStartedAt *metav1.Time `json:"phaseStartedAt,omitempty"`

	// CompletedAt is when the remediation finished; the retention TTL counts from it.
	// +optional
	CompletedAt *metav1.Time `json:"completedAt,omitempty"`

	// RemediationProcessingRef names the RemediationProcessing child.
	// +optional
	RemediationProcessingRef *LocalReference `json:"remediationProcessingRef,omitempty"`

	// AIAnalysisRef names the AIAnalysis child.
	// +optional
	AIAnalysisRef *LocalReference `json:"aiAnalysisRef,omitempty"`

	// WorkflowExecutionRef names the WorkflowExecution child.
	// +optional
	WorkflowExecutionRef *LocalReference `json:"workflowExecutionRef,omitempty"`

	// BlockedBy names the remediation that held this one back (a remediation already
	// running for the same target, or the one that started a cooldown).
	// +optional
	BlockedBy *LocalReference `json:"blockedBy,omitempty"`

	// RootCause is the analysis' root-cause summary, copied for people.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	RootCause string `json:"rootCause,omitempty"`

	// SignalType is the processing's classification of the signal (crashloop, oom, …), kept so
	// that later analyses can learn from this remediation's outcome.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	SignalType string `json:"signalType,omitempty"`

	// Actions are the actions of the plan, in order, copied for people.
	// +optional
	// +kubebuilder:validation:MaxItems=10
	// +listType=atomic
	Actions []ActionName `json:"actions,omitempty"`

	// ApprovalMode is the analysis' approval decision.
	// +optional
	ApprovalMode ApprovalMode `json:"approvalMode,omitempty"`

	// Trust is the trust level the plan was created at (TrustPolicy), and the scope that set
	// it: the least trusted of the plan's.
	// +optional
	Trust *TrustDecision `json:"trust,omitempty"`

	// Message says, in a sentence, where the remediation is or how it ended.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`
}

// RemediationRequest is one alert occurrence to remediate. The gateway creates it (its name
// derives from the alert fingerprint, so creating it is idempotent); its controller drives
// the chain of children to a verified outcome.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=rr,categories=kubernaut
// +kubebuilder:printcolumn:name="Alert",type=string,JSONPath=`.spec.signal.name`
// +kubebuilder:printcolumn:name="Severity",type=string,JSONPath=`.spec.signal.severity`,priority=1
// +kubebuilder:printcolumn:name="Kind",type=string,JSONPath=`.spec.target.kind`
// +kubebuilder:printcolumn:name="Target-NS",type=string,JSONPath=`.spec.target.namespace`
// +kubebuilder:printcolumn:name="Target",type=string,JSONPath=`.spec.target.name`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Approval",type=string,JSONPath=`.status.approvalMode`
// +kubebuilder:printcolumn:name="Signal-Type",type=string,JSONPath=`.status.signalType`,priority=1
// +kubebuilder:printcolumn:name="Count",type=integer,JSONPath=`.spec.deduplication.count`,priority=1
// +kubebuilder:printcolumn:name="Message",type=string,JSONPath=`.status.message`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type RemediationRequest struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the alert and its target.
	Spec RemediationRequestSpec `json:"spec"`

	// Status is the orchestrator's record.
	// +optional
	Status RemediationRequestStatus `json:"status,omitempty"`
}

// DerivePhase computes the phase from the conditions.
func (rr *RemediationRequest) DerivePhase() RemediationPhase {
	return RemediationPhase(derivePhase(rr.Status.Conditions, []stage{
		{GuardsPassedCondition, string(RemediationPhasePending)},
		{ProcessedCondition, string(RemediationPhaseProcessing)},
		{AnalyzedCondition, string(RemediationPhaseAnalyzing)},
		// The plan's validation and dry run (the WorkflowExecution's Validated): still part of
		// working out what to do, so that AwaitingApproval means a plan waits for a decision.
		{ValidatedCondition, string(RemediationPhaseAnalyzing)},
		{ApprovedCondition, string(RemediationPhaseAwaitingApproval)},
		{ExecutedCondition, string(RemediationPhaseExecuting)},
		{VerifiedCondition, string(RemediationPhaseVerifying)},
	}, string(RemediationPhasePending), string(RemediationPhaseCompleted)))
}

// RemediationRequestList is a list of RemediationRequests.
// +kubebuilder:object:root=true
type RemediationRequestList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	// Items are the RemediationRequests.
	Items []RemediationRequest `json:"items"`
}

func init() {
	SchemeBuilder.Register(&RemediationRequest{}, &RemediationRequestList{})
}
