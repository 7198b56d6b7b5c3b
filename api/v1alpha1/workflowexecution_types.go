package v1alpha1

import (
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// WorkflowPhase is the phase of a WorkflowExecution, derived from its conditions.
// +kubebuilder:validation:Enum=Pending;Planning;Validating;AwaitingApproval;Running;Verifying;Compensating;Completed;Failed;Rejected;TimedOut;Observed
type WorkflowPhase string

// The phases of a WorkflowExecution.
const (
	WorkflowPending          WorkflowPhase = "Pending"
	WorkflowPlanning         WorkflowPhase = "Planning"
	WorkflowValidating       WorkflowPhase = "Validating"
	WorkflowAwaitingApproval WorkflowPhase = "AwaitingApproval"
	WorkflowRunning          WorkflowPhase = "Running"
	WorkflowVerifying        WorkflowPhase = "Verifying"
	WorkflowCompensating     WorkflowPhase = "Compensating"
	WorkflowCompleted        WorkflowPhase = "Completed"
	WorkflowFailed           WorkflowPhase = WorkflowPhase(ReasonFailed)
	WorkflowRejected         WorkflowPhase = WorkflowPhase(ReasonRejected)
	WorkflowTimedOut         WorkflowPhase = WorkflowPhase(ReasonTimedOut)
	WorkflowObserved         WorkflowPhase = WorkflowPhase(ReasonObserved)
)

// IsFinished reports whether the phase ends the WorkflowExecution.
func (p WorkflowPhase) IsFinished() bool {
	switch p {
	case WorkflowCompleted, WorkflowFailed, WorkflowRejected, WorkflowTimedOut, WorkflowObserved:
		return true
	}
	return false
}

// EngineName names a workflow engine.
// +kubebuilder:validation:Enum=argo;builtin
type EngineName string

const (
	// EngineArgo creates an Argo Workflow and mirrors its nodes.
	EngineArgo EngineName = "argo"
	// EngineBuiltin runs the same compiled plan in-process (no Argo needed).
	EngineBuiltin EngineName = "builtin"
)

// StepPhase is the phase of one step of a plan; the values follow Argo's node phases.
// +kubebuilder:validation:Enum=Pending;Running;Succeeded;Failed;Error;Skipped;Omitted
type StepPhase string

// The phases of a step.
const (
	StepPending   StepPhase = "Pending"
	StepRunning   StepPhase = "Running"
	StepSucceeded StepPhase = "Succeeded"
	StepFailed    StepPhase = "Failed"
	StepError     StepPhase = "Error"
	StepSkipped   StepPhase = "Skipped"
	StepOmitted   StepPhase = "Omitted"
)

// WorkflowExecutionSpec is the plan to run, taken from the analysis. It is immutable, so an
// approval of its hash approves exactly what runs.
// +kubebuilder:validation:XValidation:rule="self == oldSelf",message="spec is immutable: the approved plan cannot change"
// +kubebuilder:validation:XValidation:rule="self.steps.all(s, self.steps.exists_one(x, x.name == s.name))",message="step names must be unique"
// +kubebuilder:validation:XValidation:rule="self.steps.all(s, !has(s.dependsOn) || s.dependsOn.all(d, d != s.name && self.steps.exists(x, x.name == d)))",message="dependsOn must name other steps of the plan"
type WorkflowExecutionSpec struct {
	// RemediationRequestRef names the RemediationRequest this belongs to.
	RemediationRequestRef LocalReference `json:"remediationRequestRef"`

	// AIAnalysisRef names the analysis the plan came from.
	AIAnalysisRef LocalReference `json:"aiAnalysisRef"`

	// AlertName is the signal's name, for labels and the Argo UI.
	// +kubebuilder:validation:MaxLength=253
	AlertName string `json:"alertName"`

	// Target is the plan's blast radius: the one object every step acts on or within (the
	// workload of a pod, or the node), derived from the signal's target and the steps'; the
	// blast-radius mutex is taken on it, and admission reads its namespace as where the plan
	// acts.
	Target Target `json:"target"`

	// Steps of the plan, run as an Argo DAG.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=10
	// +listType=atomic
	Steps []PlanStep `json:"steps"`

	// ApprovalMode is Auto (run at once) or Manual (wait at a suspend node for a person).
	// +kubebuilder:validation:XValidation:rule="self != 'Rejected'",message="a rejected plan is never executed"
	ApprovalMode ApprovalMode `json:"approvalMode"`

	// Quorum is what a person's approval of a Manual plan takes, from the analysis' approval
	// decision; none is one approver and no separation window.
	// +optional
	Quorum *Quorum `json:"quorum,omitempty"`

	// Engine overrides the configured workflow engine.
	// +optional
	Engine EngineName `json:"engine,omitempty"`

	// DryRun runs everything up to and including the server-side dry run of every step and
	// records the diffs, but mutates nothing.
	// +optional
	DryRun bool `json:"dryRun,omitempty"`
}

// PolicyVerdict is the safety policy's decision on one step.
type PolicyVerdict struct {
	// Allowed is true when the policy allows the step.
	Allowed bool `json:"allowed"`

	// Violations are the policy's reasons for refusing.
	// +optional
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=512
	// +listType=atomic
	Violations []string `json:"violations,omitempty"`

	// Policy names the policy and its version (the ConfigMap's resourceVersion or
	// "embedded").
	// +optional
	// +kubebuilder:validation:MaxLength=253
	Policy string `json:"policy,omitempty"`

	// EvaluatedAt is when the policy was evaluated.
	// +optional
	EvaluatedAt *metav1.Time `json:"evaluatedAt,omitempty"`
}

// DryRunResult is the API server's server-side dry run of one mutation.
type DryRunResult struct {
	// Result is Succeeded, Failed or Skipped (actions that mutate nothing a dry run can
	// check).
	// +kubebuilder:validation:Enum=Succeeded;Failed;Skipped
	Result string `json:"result"`

	// Diff shows what the mutation changes, as a unified diff of the object, truncated.
	// +optional
	// +kubebuilder:validation:MaxLength=16384
	Diff string `json:"diff,omitempty"`

	// Message is the API server's answer when the dry run failed, or why it was skipped.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`

	// PreState is the target as the dry run found it: what an observed plan's shadow
	// evaluation compares the target with later (did a person make this change?). The step
	// captures its pre-state again right before it executes.
	// +optional
	PreState *PreState `json:"preState,omitempty"`
}

// PlannedStep is one step as planned: its policy verdict and dry run.
type PlannedStep struct {
	// Name of the step.
	// +kubebuilder:validation:MaxLength=40
	Name string `json:"name"`

	// Action of the step.
	Action ActionName `json:"action"`

	// Target of the step.
	Target Target `json:"target"`

	// Policy is the safety policy's verdict.
	Policy PolicyVerdict `json:"policy"`

	// DryRun is the server-side dry run of the step's mutation.
	// +optional
	DryRun *DryRunResult `json:"dryRun,omitempty"`
}

// Plan is the validated plan an approver sees: every step's verdict and dry run, and a hash
// that identifies exactly this plan.
type Plan struct {
	// Hash is the SHA-256 (hex) of the plan's steps; approvals must name it.
	// +kubebuilder:validation:Pattern=`^[0-9a-f]{64}$`
	Hash string `json:"hash"`

	// Steps are the planned steps.
	// +kubebuilder:validation:MaxItems=10
	// +listType=atomic
	Steps []PlannedStep `json:"steps"`

	// ValidatedAt is when the plan was validated.
	// +optional
	ValidatedAt *metav1.Time `json:"validatedAt,omitempty"`
}

// Approval is the state of a plan's approval.
// +kubebuilder:validation:XValidation:rule="self.decision != 'Approved' || has(self.decidedBy)",message="an approved plan names who approved it"
type Approval struct {
	// Mode is the analysis' decision: Auto or Manual.
	Mode ApprovalMode `json:"mode"`

	// Decision is Pending, Approved or Denied.
	// +kubebuilder:validation:Enum=Pending;Approved;Denied
	Decision string `json:"decision"`

	// PlanHash is the hash the decision was made for.
	// +optional
	// +kubebuilder:validation:Pattern=`^[0-9a-f]{64}$`
	PlanHash string `json:"planHash,omitempty"`

	// DecidedBy is who decided: "policy" for Auto; for Manual, the people who approved
	// (admission stamped their names) or the one who rejected.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	DecidedBy string `json:"decidedBy,omitempty"`

	// DecidedAt is when the decision was made.
	// +optional
	DecidedAt *metav1.Time `json:"decidedAt,omitempty"`

	// Approvers are the distinct people whose approvals of PlanHash counted so far, in order;
	// the plan is approved when they reach the quorum.
	// +optional
	// +kubebuilder:validation:MaxItems=5
	// +listType=atomic
	Approvers []Approver `json:"approvers,omitempty"`

	// Reasons are the approval policy's explanations, and the reason of a refusal.
	// +optional
	// +kubebuilder:validation:MaxItems=16
	// +kubebuilder:validation:items:MaxLength=512
	// +listType=atomic
	Reasons []string `json:"reasons,omitempty"`
}

// Approver is one person's counted approval of a plan.
type Approver struct {
	// User is who approved, as the API server authenticated them.
	// +kubebuilder:validation:MaxLength=253
	User string `json:"user"`

	// At is when the controller counted the approval.
	At metav1.Time `json:"at"`

	// Reason is why they approved (kubernaut.io/approve-reason, set with the approval).
	// +optional
	// +kubebuilder:validation:MaxLength=512
	Reason string `json:"reason,omitempty"`
}

// WorkflowReference points at the Argo Workflow that runs the plan.
type WorkflowReference struct {
	// Name of the Workflow.
	// +kubebuilder:validation:MaxLength=253
	Name string `json:"name"`

	// Namespace of the Workflow.
	// +kubebuilder:validation:MaxLength=63
	Namespace string `json:"namespace"`

	// UID of the Workflow.
	// +optional
	// +kubebuilder:validation:MaxLength=64
	UID string `json:"uid,omitempty"`

	// UIURL links the Workflow in the Argo UI
	// (<argo-server>/workflows/<namespace>/<name>?uid=<uid>).
	// +optional
	// +kubebuilder:validation:MaxLength=2048
	UIURL string `json:"uiURL,omitempty"`
}

// StepStatus mirrors one step's node of the Workflow.
type StepStatus struct {
	// Name of the step.
	// +kubebuilder:validation:MaxLength=63
	Name string `json:"name"`

	// Action of the step.
	// +optional
	Action ActionName `json:"action,omitempty"`

	// Phase of the step.
	Phase StepPhase `json:"phase"`

	// Message of the step's node, truncated.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`

	// NodeID of the step in the Argo Workflow.
	// +optional
	// +kubebuilder:validation:MaxLength=253
	NodeID string `json:"nodeID,omitempty"`

	// KubernetesExecutionRef names the step's KubernetesExecution.
	// +optional
	KubernetesExecutionRef *LocalReference `json:"kubernetesExecutionRef,omitempty"`

	// StartedAt is when the step started.
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`

	// FinishedAt is when the step finished.
	// +optional
	FinishedAt *metav1.Time `json:"finishedAt,omitempty"`
}

// ShadowVerdict is what happened after an observed plan (shadow mode): did a person make the
// change it proposed, change the target otherwise, or did the alert resolve alone or keep
// firing?
type ShadowVerdict struct {
	// Verdict is agreed, disagreed, resolved-alone or kept-firing.
	// +kubebuilder:validation:Enum=agreed;disagreed;resolved-alone;kept-firing
	Verdict string `json:"verdict"`

	// At is when it was known.
	At metav1.Time `json:"at"`

	// Message says what was found, step by step.
	// +kubebuilder:validation:MaxLength=2048
	Message string `json:"message"`

	// ChangedBy are the field managers that changed the targets after the plan was observed
	// (kubectl-rollout, kubectl-edit, argocd-controller, …).
	// +optional
	// +kubebuilder:validation:MaxItems=8
	// +listType=atomic
	ChangedBy []string `json:"changedBy,omitempty"`
}

// Verification is the check that the target is healthy after the plan ran.
type Verification struct {
	// Result is Passed, Failed or Skipped.
	// +kubebuilder:validation:Enum=Passed;Failed;Skipped
	Result string `json:"result"`

	// Message says what was checked and what was found.
	// +optional
	// +kubebuilder:validation:MaxLength=1024
	Message string `json:"message,omitempty"`

	// CheckedAt is when the check concluded.
	// +optional
	CheckedAt *metav1.Time `json:"checkedAt,omitempty"`
}

// WorkflowExecutionStatus is the plan, its approval, the run and the compensation.
type WorkflowExecutionStatus struct {
	// ObservedGeneration is the generation the status was computed for.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Phase is derived from the conditions.
	// +optional
	Phase WorkflowPhase `json:"phase,omitempty"`

	// Conditions: Ready, Compiled, Validated, Approved, Executed, Verified, Compensated.
	// +optional
	// +listType=map
	// +listMapKey=type
	// +kubebuilder:validation:MaxItems=8
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// Engine that runs the plan.
	// +optional
	Engine EngineName `json:"engine,omitempty"`

	// Plan is the validated plan.
	// +optional
	Plan *Plan `json:"plan,omitempty"`

	// Approval is the state of the plan's approval.
	// +optional
	Approval *Approval `json:"approval,omitempty"`

	// WorkflowRef points at the Argo Workflow (argo engine).
	// +optional
	WorkflowRef *WorkflowReference `json:"workflowRef,omitempty"`

	// Steps mirror the Workflow's step nodes.
	// +optional
	// +kubebuilder:validation:MaxItems=10
	// +listType=map
	// +listMapKey=name
	Steps []StepStatus `json:"steps,omitempty"`

	// Compensation mirrors the inverses run after a failure, newest first.
	// +optional
	// +kubebuilder:validation:MaxItems=10
	// +listType=map
	// +listMapKey=name
	Compensation []StepStatus `json:"compensation,omitempty"`

	// Shadow is an observed plan's verdict (ApprovalMode Observe), once known.
	// +optional
	Shadow *ShadowVerdict `json:"shadow,omitempty"`

	// StartedAt is when the Workflow started.
	// +optional
	StartedAt *metav1.Time `json:"startedAt,omitempty"`

	// CompletedAt is when the Workflow finished.
	// +optional
	CompletedAt *metav1.Time `json:"completedAt,omitempty"`
}

// WorkflowExecution compiles a recommendation into an Argo Workflow DAG, validates it (Argo
// validation, safety policy, dry run), waits for approval of its exact plan, runs it and
// mirrors its nodes.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=we,categories=kubernaut
// +kubebuilder:printcolumn:name="Alert",type=string,JSONPath=`.spec.alertName`
// +kubebuilder:printcolumn:name="Target",type=string,JSONPath=`.spec.target.name`
// +kubebuilder:printcolumn:name="Phase",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Approval",type=string,JSONPath=`.spec.approvalMode`
// +kubebuilder:printcolumn:name="Decision",type=string,JSONPath=`.status.approval.decision`
// +kubebuilder:printcolumn:name="Engine",type=string,JSONPath=`.status.engine`,priority=1
// +kubebuilder:printcolumn:name="Dry-Run",type=boolean,JSONPath=`.spec.dryRun`,priority=1
// +kubebuilder:printcolumn:name="Workflow",type=string,JSONPath=`.status.workflowRef.name`,priority=1
// +kubebuilder:printcolumn:name="Plan-Hash",type=string,JSONPath=`.status.plan.hash`,priority=1
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type WorkflowExecution struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the plan.
	Spec WorkflowExecutionSpec `json:"spec"`

	// Status is the plan's validation, approval, run and compensation.
	// +optional
	Status WorkflowExecutionStatus `json:"status,omitempty"`
}

// DerivePhase computes the phase from the conditions. A Compensated condition that is
// Unknown means the inverses are running.
func (we *WorkflowExecution) DerivePhase() WorkflowPhase {
	if c := meta.FindStatusCondition(we.Status.Conditions, CompensatedCondition); c != nil && c.Status == metav1.ConditionUnknown {
		return WorkflowCompensating
	}
	return WorkflowPhase(derivePhase(we.Status.Conditions, []stage{
		{CompiledCondition, string(WorkflowPlanning)},
		{ValidatedCondition, string(WorkflowValidating)},
		{ApprovedCondition, string(WorkflowAwaitingApproval)},
		{ExecutedCondition, string(WorkflowRunning)},
		{VerifiedCondition, string(WorkflowVerifying)},
	}, string(WorkflowPending), string(WorkflowCompleted)))
}

// WorkflowExecutionList is a list of WorkflowExecutions.
// +kubebuilder:object:root=true
type WorkflowExecutionList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	// Items are the WorkflowExecutions.
	Items []WorkflowExecution `json:"items"`
}

func init() {
	SchemeBuilder.Register(&WorkflowExecution{}, &WorkflowExecutionList{})
}

// Summary is the verdict in a phrase a person reads: "allowed", or "denied: " and the
// violations.
func (v PolicyVerdict) Summary() string {
	if v.Allowed {
		return "allowed"
	}
	return "denied: " + strings.Join(v.Violations, "; ")
}

// Short is the dry run on one line: its diff folded, or, without one, its message.
func (d *DryRunResult) Short() string {
	if d.Diff != "" {
		return strings.Join(strings.Fields(d.Diff), " ")
	}
	return d.Message
}
