package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ProcessingPhase is the phase of a RemediationProcessing, derived from its conditions.
// +kubebuilder:validation:Enum=Pending;Enriching;Classifying;Completed;Failed
type ProcessingPhase string

// The phases of a RemediationProcessing.
const (
	ProcessingPending     ProcessingPhase = "Pending"
	ProcessingEnriching   ProcessingPhase = "Enriching"
	ProcessingClassifying ProcessingPhase = "Classifying"
	ProcessingCompleted   ProcessingPhase = "Completed"
	ProcessingFailed      ProcessingPhase = ProcessingPhase(ReasonFailed)
)

// IsFinished reports whether the phase ends the processing.
func (p ProcessingPhase) IsFinished() bool {
	return p == ProcessingCompleted || IsTerminalReason(string(p))
}

// RemediationProcessingSpec is what the orchestrator hands to enrichment and classification.
// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec is immutable"
type RemediationProcessingSpec struct {
	// RemediationRequestRef names the RemediationRequest this belongs to.
	RemediationRequestRef LocalReference `json:"remediationRequestRef"`

	// Signal is the alert, copied from the RemediationRequest.
	Signal Signal `json:"signal"`

	// Target is the object the alert is about.
	Target Target `json:"target"`

	// MemberTargets of a storm, copied from the RemediationRequest.
	// +optional
	// +kubebuilder:validation:MaxItems=500
	// +listType=atomic
	MemberTargets []MemberTarget `json:"memberTargets,omitempty"`
}

// RemediationProcessingStatus is the gathered context and the classification.
type RemediationProcessingStatus struct {
	// ObservedGeneration is the generation the status was computed for.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Phase is derived from the conditions.
	// +optional
	Phase ProcessingPhase `json:"phase,omitempty"`

	// Conditions: Ready, Enriched, Classified.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// Enrichment is the cluster context gathered for the signal.
	// +optional
	Enrichment *Enrichment `json:"enrichment,omitempty"`

	// Classification is the classification policy's decision.
	// +optional
	Classification *Classification `json:"classification,omitempty"`

	// CompletedAt is when enrichment and classification finished.
	// +optional
	CompletedAt *metav1.Time `json:"completedAt,omitempty"`
}

// RemediationProcessing gathers the cluster context of a signal (the target's workload,
// pods, events, logs, node, HPA, PDBs, rollouts, GitOps ownership) and classifies it.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=rp,categories=kubernaut
// +kubebuilder:printcolumn:name="Alert",type=string,JSONPath=`.spec.signal.name`
// +kubebuilder:printcolumn:name="Target",type=string,JSONPath=`.spec.target.name`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Environment",type=string,JSONPath=`.status.classification.environment`
// +kubebuilder:printcolumn:name="Priority",type=string,JSONPath=`.status.classification.priority`
// +kubebuilder:printcolumn:name="Signal-Type",type=string,JSONPath=`.status.classification.signalType`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type RemediationProcessing struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the signal to process.
	Spec RemediationProcessingSpec `json:"spec"`

	// Status is the gathered context and the classification.
	// +optional
	Status RemediationProcessingStatus `json:"status,omitempty"`
}

// DerivePhase computes the phase from the conditions.
func (rp *RemediationProcessing) DerivePhase() ProcessingPhase {
	return ProcessingPhase(derivePhase(rp.Status.Conditions, []stage{
		{EnrichedCondition, string(ProcessingEnriching)},
		{ClassifiedCondition, string(ProcessingClassifying)},
	}, string(ProcessingPending), string(ProcessingCompleted)))
}

// RemediationProcessingList is a list of RemediationProcessings.
// +kubebuilder:object:root=true
type RemediationProcessingList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	// Items are the RemediationProcessings.
	Items []RemediationProcessing `json:"items"`
}

func init() {
	SchemeBuilder.Register(&RemediationProcessing{}, &RemediationProcessingList{})
}
