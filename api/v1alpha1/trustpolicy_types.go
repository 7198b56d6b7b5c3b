package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TrustLevel is how far Kubernaut may go in a scope (docs/autonomy.md).
// +kubebuilder:validation:Enum=observe;approve;automate
type TrustLevel string

const (
	// TrustObserve plans and dry-runs, and changes nothing: the remediation ends Observed with
	// what it would have done.
	TrustObserve TrustLevel = "observe"
	// TrustApprove waits for people to approve every plan.
	TrustApprove TrustLevel = "approve"
	// TrustAutomate lets the approval policy approve a plan.
	TrustAutomate TrustLevel = "automate"
)

// trustRanks orders the levels.
var trustRanks = map[TrustLevel]int{TrustObserve: 1, TrustApprove: 2, TrustAutomate: 3}

// Rank orders the levels: observe 1, approve 2, automate 3; 0 for none.
func (l TrustLevel) Rank() int { return trustRanks[l] }

// Below is the level one step down (observe stays observe).
func (l TrustLevel) Below() TrustLevel {
	if l == TrustAutomate {
		return TrustApprove
	}
	return TrustObserve
}

// Above is the level one step up (automate stays automate).
func (l TrustLevel) Above() TrustLevel {
	if l == TrustObserve {
		return TrustApprove
	}
	return TrustAutomate
}

// TrustPolicySpec is what operators declare, in Git: the namespace groups, the bounds of each
// scope's level, and the promotions people confirmed.
type TrustPolicySpec struct {
	// InitialLevel is the level of a scope Kubernaut has no evidence for yet, before its
	// limits bound it.
	// +optional
	// +kubebuilder:default=observe
	InitialLevel TrustLevel `json:"initialLevel,omitempty"`

	// NamespaceGroups name sets of namespaces. A namespace belongs to the first group whose
	// selector matches its labels, and to the group "default" when none does.
	// +optional
	// +kubebuilder:validation:MaxItems=32
	// +listType=map
	// +listMapKey=name
	NamespaceGroups []NamespaceGroup `json:"namespaceGroups,omitempty"`

	// Limits bound the scopes' levels. Every limit that matches a scope applies: its level is
	// at least the highest floor and at most the lowest ceiling (a ceiling below a floor
	// wins: safety first). No evidence crosses a ceiling.
	// +optional
	// +kubebuilder:validation:MaxItems=64
	// +listType=atomic
	Limits []TrustLimit `json:"limits,omitempty"`

	// EvidenceWindow is how far back outcomes count as evidence.
	// +optional
	// +kubebuilder:default="720h"
	EvidenceWindow *metav1.Duration `json:"evidenceWindow,omitempty"`

	// Confirmations are promotions people confirmed: each names a scope, the proposed level
	// and the proposal's time (status.scopes[].proposal.since), so that it confirms that
	// proposal and no later one. `kubectl kubernaut trust promote` adds one.
	// +optional
	// +kubebuilder:validation:MaxItems=256
	// +listType=atomic
	Confirmations []TrustConfirmation `json:"confirmations,omitempty"`
}

// NamespaceGroup is a named set of namespaces.
type NamespaceGroup struct {
	// Name of the group, as scopes and limits name it.
	// +kubebuilder:validation:Pattern=`^[a-z0-9]([-a-z0-9]*[a-z0-9])?$`
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`

	// Selector selects the group's namespaces by their labels.
	Selector metav1.LabelSelector `json:"selector"`
}

// TrustLimit bounds the levels of the scopes it matches. An empty list matches everything.
// +kubebuilder:validation:XValidation:rule="!has(self.floor) || !has(self.ceiling) || self.floor == self.ceiling || self.floor == 'observe' || self.ceiling == 'automate'",message="floor is above ceiling"
type TrustLimit struct {
	// NamespaceGroups the limit applies to.
	// +optional
	// +kubebuilder:validation:MaxItems=32
	// +listType=set
	NamespaceGroups []string `json:"namespaceGroups,omitempty"`

	// SignalTypes the limit applies to (the processing's classification: crashloop, oom, …).
	// +optional
	// +kubebuilder:validation:MaxItems=32
	// +listType=set
	SignalTypes []string `json:"signalTypes,omitempty"`

	// Actions the limit applies to.
	// +optional
	// +kubebuilder:validation:MaxItems=32
	// +listType=set
	Actions []ActionName `json:"actions,omitempty"`

	// Floor is the lowest level of the matched scopes.
	// +optional
	Floor TrustLevel `json:"floor,omitempty"`

	// Ceiling is the highest level of the matched scopes: no evidence crosses it.
	// +optional
	Ceiling TrustLevel `json:"ceiling,omitempty"`

	// AutoPromote lets evidence promote the matched scopes (up to their ceiling) without a
	// person's confirmation. Without it, a promotion is proposed to people.
	// +optional
	AutoPromote bool `json:"autoPromote,omitempty"`
}

// TrustScope names a scope: a namespace group × a signal type × an action.
type TrustScope struct {
	// NamespaceGroup is the group of the remediation's namespace.
	// +kubebuilder:validation:MaxLength=63
	NamespaceGroup string `json:"namespaceGroup"`

	// SignalType is the processing's classification of the signal.
	// +kubebuilder:validation:MaxLength=63
	SignalType string `json:"signalType"`

	// Action is one action of the plan.
	Action ActionName `json:"action"`
}

// String is the scope as people write it: group/signalType/action.
func (s TrustScope) String() string {
	return s.NamespaceGroup + "/" + s.SignalType + "/" + string(s.Action)
}

// TrustDecision is the trust level a remediation's plan was created at.
type TrustDecision struct {
	// Level is the plan's level: the lowest of its scopes'.
	Level TrustLevel `json:"level"`

	// Scope is the scope that set it.
	Scope TrustScope `json:"scope"`

	// Mode is the approval mode the level made of the analysis' decision.
	Mode ApprovalMode `json:"mode"`
}

// TrustConfirmation confirms one proposed promotion.
type TrustConfirmation struct {
	TrustScope `json:",inline"`

	// Level is the proposed level confirmed.
	Level TrustLevel `json:"level"`

	// ProposedAt is the proposal's time (status.scopes[].proposal.since).
	ProposedAt metav1.Time `json:"proposedAt"`
}

// TrustPolicyStatus is the controller's record of each scope: its level, since when, why,
// and the evidence.
type TrustPolicyStatus struct {
	// ObservedGeneration is the generation the status was computed for.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready (the policy is valid and its promotion rules load).
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// Scopes are the scopes seen so far, in order.
	// +optional
	// +kubebuilder:validation:MaxItems=256
	// +listType=atomic
	Scopes []ScopeStatus `json:"scopes,omitempty"`

	// Observing, Approving and Automating count the scopes at each level; Proposals those
	// with a promotion waiting for people (for kubectl get).
	// +optional
	Observing int32 `json:"observing,omitempty"`
	// +optional
	Approving int32 `json:"approving,omitempty"`
	// +optional
	Automating int32 `json:"automating,omitempty"`
	// +optional
	Proposals int32 `json:"proposals,omitempty"`
}

// ScopeStatus is one scope's level and evidence.
type ScopeStatus struct {
	TrustScope `json:",inline"`

	// Level is the scope's level now.
	Level TrustLevel `json:"level"`

	// Since is when it took this level.
	Since metav1.Time `json:"since"`

	// Reason says why it has this level (initial, promoted on evidence, confirmed, demoted by
	// a remediation's failure, bounded by a limit).
	// +kubebuilder:validation:MaxLength=1024
	Reason string `json:"reason"`

	// Floor and Ceiling are the limits' bounds on this scope.
	Floor   TrustLevel `json:"floor"`
	Ceiling TrustLevel `json:"ceiling"`

	// DemotedAt is when the scope was last demoted: what earns a promotion (observed plans
	// people agreed with, verified remediations) counts only after it, what stands against
	// one (a rejection, a failure, an undo) over the whole evidence window.
	// +optional
	DemotedAt *metav1.Time `json:"demotedAt,omitempty"`

	// Evidence is what the scope's remediations showed within the evidence window.
	Evidence TrustEvidence `json:"evidence"`

	// Proposal is a promotion the evidence earned, waiting for people's confirmation.
	// +optional
	Proposal *TrustProposal `json:"proposal,omitempty"`
}

// TrustEvidence counts a scope's outcomes within the evidence window.
type TrustEvidence struct {
	// Observed counts plans observed (level observe) whose verdict is known; Agreed those a
	// person then made the same change for, Disagreed those where a person changed the target
	// otherwise, ResolvedAlone those whose alert resolved with no change, KeptFiring those
	// where nothing happened and the alert kept firing.
	// +optional
	Observed int32 `json:"observed,omitempty"`
	// +optional
	Agreed int32 `json:"agreed,omitempty"`
	// +optional
	Disagreed int32 `json:"disagreed,omitempty"`
	// +optional
	ResolvedAlone int32 `json:"resolvedAlone,omitempty"`
	// +optional
	KeptFiring int32 `json:"keptFiring,omitempty"`

	// Verified counts plans that ran and were verified; Rejected those people or the policy
	// refused; Failed those that failed (verification included); Undone those whose changes
	// were undone; PolicyDenied those the safety policy denied.
	// +optional
	Verified int32 `json:"verified,omitempty"`
	// +optional
	Rejected int32 `json:"rejected,omitempty"`
	// +optional
	Failed int32 `json:"failed,omitempty"`
	// +optional
	Undone int32 `json:"undone,omitempty"`
	// +optional
	PolicyDenied int32 `json:"policyDenied,omitempty"`

	// Outcomes are the outcomes counted, newest first (at most 50): what the counts are
	// derived from, and what keeps an outcome from being counted twice.
	// +optional
	// +kubebuilder:validation:MaxItems=50
	// +listType=atomic
	Outcomes []TrustOutcome `json:"outcomes,omitempty"`
}

// TrustOutcome is one remediation's outcome in a scope.
type TrustOutcome struct {
	// Remediation names the RemediationRequest; UID tells apart two of one name.
	// +kubebuilder:validation:MaxLength=253
	Remediation string `json:"remediation"`
	// +kubebuilder:validation:MaxLength=64
	UID string `json:"uid"`

	// At is when the outcome was known.
	At metav1.Time `json:"at"`

	// Kind is the outcome: agreed, disagreed, resolved-alone, kept-firing, verified,
	// rejected, failed, undone, policy-denied.
	// +kubebuilder:validation:Enum=agreed;disagreed;resolved-alone;kept-firing;verified;rejected;failed;undone;policy-denied
	Kind string `json:"kind"`
}

// TrustProposal is a promotion waiting for people.
type TrustProposal struct {
	// Level is the level proposed.
	Level TrustLevel `json:"level"`
	// Since is when it was proposed: a confirmation names it.
	Since metav1.Time `json:"since"`
	// Reason is the promotion rule's reason, with the evidence.
	// +kubebuilder:validation:MaxLength=1024
	Reason string `json:"reason"`
}

// TrustPolicy declares how much Kubernaut may do on its own, per scope (a namespace group × a
// signal type × an action), and records each scope's level, earned on evidence: a scope in
// observe changes nothing, one in approve waits for people, one in automate lets the approval
// policy approve. Evidence promotes (proposed to people unless a limit allows it alone); any
// failed verification or undo demotes at once. Cluster-scoped; the one named "default" is
// the one Kubernaut reads.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Cluster,shortName=trust,categories=kubernaut
// +kubebuilder:printcolumn:name="Initial",type=string,JSONPath=`.spec.initialLevel`
// +kubebuilder:printcolumn:name="Observe",type=integer,JSONPath=`.status.observing`
// +kubebuilder:printcolumn:name="Approve",type=integer,JSONPath=`.status.approving`
// +kubebuilder:printcolumn:name="Automate",type=integer,JSONPath=`.status.automating`
// +kubebuilder:printcolumn:name="Proposals",type=integer,JSONPath=`.status.proposals`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type TrustPolicy struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is what operators declare.
	Spec TrustPolicySpec `json:"spec,omitempty"`
	// Status is the controller's record of the scopes.
	Status TrustPolicyStatus `json:"status,omitempty"`
}

// TrustPolicyList is a list of TrustPolicies.
// +kubebuilder:object:root=true
type TrustPolicyList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	// Items are the TrustPolicies.
	Items []TrustPolicy `json:"items"`
}

// DefaultTrustPolicy is the name of the TrustPolicy Kubernaut reads.
const DefaultTrustPolicy = "default"

func init() {
	SchemeBuilder.Register(&TrustPolicy{}, &TrustPolicyList{})
}
