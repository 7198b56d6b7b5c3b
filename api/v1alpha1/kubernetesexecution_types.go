package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// ExecutionPhase is the phase of a KubernetesExecution, derived from its conditions.
// +kubebuilder:validation:Enum=Pending;Validating;Executing;Verifying;Succeeded;Failed;Rejected
type ExecutionPhase string

// The phases of a KubernetesExecution.
const (
	ExecutionPending    ExecutionPhase = "Pending"
	ExecutionValidating ExecutionPhase = "Validating"
	ExecutionExecuting  ExecutionPhase = "Executing"
	ExecutionVerifying  ExecutionPhase = "Verifying"
	ExecutionSucceeded  ExecutionPhase = "Succeeded"
	ExecutionFailed     ExecutionPhase = ExecutionPhase(ReasonFailed)
	ExecutionRejected   ExecutionPhase = ExecutionPhase(ReasonRejected)
)

// IsFinished reports whether the phase ends the step. A step ends Succeeded, not Completed
// as the other kinds do: its phases follow Argo's node phases, which the argo engine mirrors
// (docs/api.md).
func (p ExecutionPhase) IsFinished() bool {
	return p == ExecutionSucceeded || IsTerminalReason(string(p))
}

// ExecutionMode says whether a step applies its action or undoes an earlier step.
// +kubebuilder:validation:Enum=Execute;Compensate
type ExecutionMode string

const (
	// ExecutionModeExecute applies the action.
	ExecutionModeExecute ExecutionMode = "Execute"
	// ExecutionModeCompensate applies the inverse of an earlier step from its recorded
	// pre-state.
	ExecutionModeCompensate ExecutionMode = "Compensate"
)

// ExecutorName names an executor backend.
// +kubebuilder:validation:Enum=job;inprocess
type ExecutorName string

const (
	// ExecutorJob runs the actions image in a Job with the action's own ServiceAccount.
	ExecutorJob ExecutorName = "job"
	// ExecutorInProcess runs the same action code inside the controller.
	ExecutorInProcess ExecutorName = "inprocess"
)

// KubernetesExecutionSpec is one step: the action, its target and parameters. The
// ServiceAccount that runs it is the action's own, never chosen here.
// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec is immutable"
// +kubebuilder:validation:XValidation:rule="self.mode != 'Compensate' || has(self.compensates)",message="a Compensate step names the step it undoes in compensates"
// +kubebuilder:validation:XValidation:rule="self.mode != 'Execute' || !has(self.compensates)",message="compensates is only valid for mode Compensate"
type KubernetesExecutionSpec struct {
	ActionStep `json:",inline"`

	// Mode is Execute (apply the action) or Compensate (undo the step named in
	// Compensates).
	// +kubebuilder:default=Execute
	Mode ExecutionMode `json:"mode"`

	// Compensates names the KubernetesExecution whose pre-state this step restores.
	// +optional
	Compensates *LocalReference `json:"compensates,omitempty"`

	// StepName is the step's name in its plan.
	// +optional
	// +kubebuilder:validation:MaxLength=63
	StepName string `json:"stepName,omitempty"`

	// WorkflowExecutionRef names the WorkflowExecution whose plan holds this step.
	// +optional
	WorkflowExecutionRef *LocalReference `json:"workflowExecutionRef,omitempty"`

	// DryRun validates the step and dry-runs its mutation on the API server, records the
	// diff, and mutates nothing.
	// +optional
	DryRun bool `json:"dryRun,omitempty"`

	// TimeoutSeconds bounds the step from validation to verification.
	// +optional
	// +kubebuilder:default=600
	// +kubebuilder:validation:Minimum=10
	// +kubebuilder:validation:Maximum=7200
	TimeoutSeconds int64 `json:"timeoutSeconds,omitempty"`
}

// AuthorizationResult is the SubjectAccessReview of the action's ServiceAccount.
type AuthorizationResult struct {
	// ServiceAccount that runs the action, as namespace/name.
	// +kubebuilder:validation:MaxLength=317
	ServiceAccount string `json:"serviceAccount"`

	// Allowed is true when every verb the action needs is allowed.
	Allowed bool `json:"allowed"`

	// Denied lists the permissions refused, as "verb resource[.group][/subresource][ in
	// namespace]" (e.g. "patch deployments.apps/scale in shop"; no namespace for a cluster-wide
	// one).
	// +optional
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=253
	// +listType=atomic
	Denied []string `json:"denied,omitempty"`
}

// JobReference points at the Job that ran the action.
type JobReference struct {
	// Name of the Job.
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// Namespace of the Job.
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace"`
}

// ChangedObject is an object an action changed.
type ChangedObject struct {
	// Target names the object.
	Target Target `json:"target"`

	// Change says what changed, in a phrase ("replicas 3 → 5").
	// +kubebuilder:validation:MaxLength=512
	Change string `json:"change"`
}

// ActionResult is what the action reported (through the container's termination message
// for the job executor).
type ActionResult struct {
	// Success is true when the action did what it was asked.
	Success bool `json:"success"`

	// Message says what happened.
	// +kubebuilder:validation:MaxLength=2048
	Message string `json:"message"`

	// Changed lists the objects the action changed.
	// +optional
	// +kubebuilder:validation:MaxItems=50
	// +listType=atomic
	Changed []ChangedObject `json:"changed,omitempty"`
}

// KubernetesExecutionStatus records validation, execution and verification of the step.
type KubernetesExecutionStatus struct {
	// ObservedGeneration is the generation the status was computed for.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Phase is derived from the conditions.
	// +optional
	Phase ExecutionPhase `json:"phase,omitempty"`

	// Conditions: Ready, Validated, Executed, Verified.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// PolicyDecision is the safety policy's verdict, evaluated right before execution.
	// +optional
	PolicyDecision *PolicyVerdict `json:"policyDecision,omitempty"`

	// Authorization is the SubjectAccessReview of the action's ServiceAccount.
	// +optional
	Authorization *AuthorizationResult `json:"authorization,omitempty"`

	// DryRun is the server-side dry run of the mutation.
	// +optional
	DryRun *DryRunResult `json:"dryRun,omitempty"`

	// Executor that ran the action.
	// +optional
	Executor ExecutorName `json:"executor,omitempty"`

	// JobRef points at the Job that ran the action (job executor).
	// +optional
	JobRef *JobReference `json:"jobRef,omitempty"`

	// PreState is what the action recorded before changing the target; the inverse
	// restores it.
	// +optional
	PreState *PreState `json:"preState,omitempty"`

	// Result is what the action reported.
	// +optional
	Result *ActionResult `json:"result,omitempty"`

	// Verification is the action's health check after it ran.
	// +optional
	Verification *Verification `json:"verification,omitempty"`

	// StartedAt is when validation began.
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`

	// CompletedAt is when the step finished.
	// +optional
	CompletedAt *metav1.Time `json:"completedAt,omitempty"`
}

// KubernetesExecution is one step of a plan: checked again by policy, RBAC and dry run right
// before it runs, executed with least privilege, verified, and undoable from its pre-state.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=ke,categories=kubernaut
// +kubebuilder:printcolumn:name="Action",type=string,JSONPath=`.spec.action`
// +kubebuilder:printcolumn:name="Kind",type=string,JSONPath=`.spec.target.kind`
// +kubebuilder:printcolumn:name="Target",type=string,JSONPath=`.spec.target.name`
// +kubebuilder:printcolumn:name="Mode",type=string,JSONPath=`.spec.mode`,priority=1
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Executor",type=string,JSONPath=`.status.executor`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type KubernetesExecution struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the step.
	Spec KubernetesExecutionSpec `json:"spec"`

	// Status records the step's validation, execution and verification.
	// +optional
	Status KubernetesExecutionStatus `json:"status,omitempty"`
}

// DerivePhase computes the phase from the conditions.
func (ke *KubernetesExecution) DerivePhase() ExecutionPhase {
	return ExecutionPhase(derivePhase(ke.Status.Conditions, []stage{
		{ValidatedCondition, string(ExecutionValidating)},
		{ExecutedCondition, string(ExecutionExecuting)},
		{VerifiedCondition, string(ExecutionVerifying)},
	}, string(ExecutionPending), string(ExecutionSucceeded)))
}

// KubernetesExecutionList is a list of KubernetesExecutions.
// +kubebuilder:object:root=true
type KubernetesExecutionList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	// Items are the KubernetesExecutions.
	Items []KubernetesExecution `json:"items"`
}

func init() {
	SchemeBuilder.Register(&KubernetesExecution{}, &KubernetesExecutionList{})
}
