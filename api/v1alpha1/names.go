package v1alpha1

// The labels and annotations Kubernaut reads and writes, on its own objects and on others.
// They are defined here only: the gateway, the controllers, the policies' Go side, the
// tests and the demo use these names.
const (
	// OptInLabel marks a namespace (or a Node) whose objects Kubernaut may remediate (value
	// "true").
	OptInLabel = "kubernaut.io/remediate"

	// LabelRemediation names the RemediationRequest an object belongs to (its children, the
	// plan's Workflow and steps).
	LabelRemediation = "kubernaut.io/remediation"
	// LabelAlertName is the alert's name, on the RemediationRequest, its children and the
	// plan's Workflow.
	LabelAlertName = "kubernaut.io/alertname"
	// LabelFingerprint is the alert's fingerprint, on the RemediationRequest and its children.
	LabelFingerprint = "kubernaut.io/fingerprint"
	// LabelTargetKind, LabelTargetNamespace and LabelTargetName name the target, on the
	// RemediationRequest and the plan's Workflow (for `argo list -l` and admission, which
	// reads the namespace a plan acts in).
	LabelTargetKind      = "kubernaut.io/target-kind"
	LabelTargetNamespace = "kubernaut.io/target-namespace"
	LabelTargetName      = "kubernaut.io/target-name"
	// LabelWorkflowExecution names the WorkflowExecution of a compiled Workflow and of its
	// steps.
	LabelWorkflowExecution = "kubernaut.io/workflow-execution"
	// LabelApprovers is how many distinct people must approve a Manual plan, on its compiled
	// Workflow: admission refuses a person's resume of the gate of a plan that needs more
	// than one (manifests/base/admission-approvals.yaml).
	LabelApprovers = "kubernaut.io/approvers"
	// LabelAction names the action of a step's Job, and of the actions' ServiceAccounts and
	// roles.
	LabelAction = "kubernaut.io/action"
	// LabelExecution names the KubernetesExecution ("namespace/name") a Job runs (label and
	// annotation).
	LabelExecution = "kubernaut.io/execution"

	// ApproveAnnotation, set on a WorkflowExecution by a person, approves the plan whose hash
	// it carries.
	ApproveAnnotation = "kubernaut.io/approve"
	// ApproveReasonAnnotation, set with ApproveAnnotation by the same person, says why they
	// approve; it is recorded with their approval (admission holds it to the approval's rules).
	ApproveReasonAnnotation = "kubernaut.io/approve-reason"
	// RejectAnnotation, set on a WorkflowExecution by a person, rejects the plan (its value is
	// the reason).
	RejectAnnotation = "kubernaut.io/reject"
	// DecidedByAnnotation is the user who set ApproveAnnotation or RejectAnnotation, as the API
	// server authenticated them: stamped by admission (manifests/base/admission-approvals.yaml),
	// which refuses any other value and any decision by a user without the RBAC verb approve.
	DecidedByAnnotation = "kubernaut.io/decided-by"
	// ResumedByAnnotation is the user who resumed a Workflow's approval gate, as the API server
	// authenticated them: stamped by admission, which also refuses the resume to anyone
	// without the RBAC verb approve where the plan acts.
	ResumedByAnnotation = "kubernaut.io/resumed-by"
	// ChangedByAnnotation is, on the Deployments, StatefulSets, DaemonSets, ConfigMaps and
	// HorizontalPodAutoscalers of opted-in namespaces, who changed the object's spec (a
	// ConfigMap's data) most recently: one line per person, newest first, "<RFC 3339 time>
	// <user>", at most five. Admission stamps it with the user the API server authenticated
	// and refuses any other value (manifests/base/admission-changes.yaml); the separation of
	// duties reads it.
	ChangedByAnnotation = "kubernaut.io/changed-by"

	// UndoFinalizer holds a WorkflowExecution whose plan has started, and each step that
	// recorded a pre-state, while they are deleted: a plan deleted mid-way (kubectl delete, a
	// namespace deletion, a GitOps prune) first stops, lets its running step end and undoes
	// its completed steps newest first, and only then goes (docs/orchestration.md, "Deleting
	// a remediation").
	UndoFinalizer = "kubernaut.io/undo"
	// ReleaseUndoAnnotation, set by a person on a WorkflowExecution being deleted whose undo
	// failed, lets it go without the undo (its value says why): the person has looked. Admission
	// asks of them what it asks of an approver, and stamps DecidedByAnnotation.
	ReleaseUndoAnnotation = "kubernaut.io/release-undo"
)

// The names of a RemediationRequest's children: its name and a suffix, so that each child is
// found from the parent's name alone.

// ProcessingName is the name of the RemediationProcessing of RemediationRequest rr.
func ProcessingName(rr string) string { return rr + "-rp" }

// AnalysisName is the name of the AIAnalysis of RemediationRequest rr.
func AnalysisName(rr string) string { return rr + "-aia" }

// WorkflowName is the name of the WorkflowExecution (and of its Argo Workflow) of
// RemediationRequest rr.
func WorkflowName(rr string) string { return rr + "-we" }
