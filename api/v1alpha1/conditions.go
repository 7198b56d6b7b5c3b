package v1alpha1

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Condition types shared by every kind. docs/api.md lists each type and reason.
const (
	// ReadyCondition is True when the object reached its successful end, False with a
	// terminal reason when it ended otherwise, and False with ReasonProgressing while it
	// is still working.
	ReadyCondition = "Ready"
)

// Condition types of the RemediationRequest. Each stage condition is Unknown while its stage
// runs, True when it succeeded and False when it failed.
const (
	// GuardsPassedCondition records the guards checked before any analysis: opt-in scope,
	// a remediation already running for the target, cooldown, consecutive failures and the
	// kill switch.
	GuardsPassedCondition = "GuardsPassed"
	// ProcessedCondition mirrors the RemediationProcessing child: enrichment and
	// classification.
	ProcessedCondition = "Processed"
	// AnalyzedCondition mirrors the AIAnalysis child: root cause and recommendation.
	AnalyzedCondition = "Analyzed"
	// ApprovedCondition records the approval of the plan: automatic or by a person.
	ApprovedCondition = "Approved"
	// ExecutedCondition mirrors the execution of the plan's steps.
	ExecutedCondition = "Executed"
	// VerifiedCondition records whether the target is healthy again after the execution.
	VerifiedCondition = "Verified"
)

// Condition types of the RemediationProcessing.
const (
	// EnrichedCondition records the gathering of cluster context.
	EnrichedCondition = "Enriched"
	// ClassifiedCondition records the classification (environment, priority…).
	ClassifiedCondition = "Classified"
)

// Condition types of the AIAnalysis.
const (
	// InvestigatedCondition records the analyzer's investigation (root cause).
	InvestigatedCondition = "Investigated"
	// RecommendedCondition records the validation of the recommendation: catalog actions,
	// parameter schemas, targets, dependencies, step count.
	RecommendedCondition = "Recommended"
	// ApprovalDecidedCondition records the approval policy's decision (Auto, Manual or
	// Rejected).
	ApprovalDecidedCondition = "ApprovalDecided"
)

// Condition types of the WorkflowExecution and the KubernetesExecution.
const (
	// CompiledCondition records the compilation of the plan into an Argo Workflow and its
	// validation by Argo's own validator (WorkflowExecution).
	CompiledCondition = "Compiled"
	// ValidatedCondition records the safety policy and the server-side dry run of every
	// mutation (WorkflowExecution: the whole plan; KubernetesExecution: the step, again,
	// right before it runs, with a SubjectAccessReview).
	ValidatedCondition = "Validated"
	// CompensatedCondition records the compensation of completed steps after a failure.
	CompensatedCondition = "Compensated"
)

// Reasons of the Ready condition. A Ready=False condition with one of the terminal reasons
// ends the object.
const (
	// ReasonProgressing: the object is still being worked on.
	ReasonProgressing = "Progressing"
	// ReasonSucceeded: the object reached its successful end.
	ReasonSucceeded = "Succeeded"
	// ReasonFailed: the object failed; the message says where.
	ReasonFailed = "Failed"
	// ReasonRejected: a policy, the confidence threshold or a person refused the remediation.
	ReasonRejected = "Rejected"
	// ReasonSkipped: a guard held the remediation back before any analysis.
	ReasonSkipped = "Skipped"
	// ReasonTimedOut: a phase took longer than its timeout; the message names the phase.
	ReasonTimedOut = "TimedOut"
	// ReasonCancelled: the alert resolved before execution started.
	ReasonCancelled = "Cancelled"
	// ReasonObserved: the plan was validated and dry-run and not run: its scope's trust level
	// is observe.
	ReasonObserved = "Observed"
)

// Reasons of the stage conditions.
const (
	// ReasonInProgress: the stage is running (status Unknown).
	ReasonInProgress = "InProgress"

	// ReasonOutOfScope: the target's namespace has not opted in (GuardsPassed=False).
	ReasonOutOfScope = "OutOfScope"
	// ReasonAlreadyRemediating: another remediation of the same target is running.
	ReasonAlreadyRemediating = "AlreadyRemediating"
	// ReasonCoolingDown: the same target and signal were remediated too recently.
	ReasonCoolingDown = "CoolingDown"
	// ReasonTooManyFailures: consecutive failures for this fingerprint block new attempts.
	ReasonTooManyFailures = "TooManyFailures"
	// ReasonKillSwitchActive: the global kill switch stops new executions.
	ReasonKillSwitchActive = "KillSwitchActive"
	// ReasonGuardsPassed: every guard allowed the remediation.
	ReasonGuardsPassed = "GuardsPassed"

	// ReasonEnriched: cluster context was gathered (some lookups may be failed detections).
	ReasonEnriched = "Enriched"
	// ReasonTargetNotFound: the signal's target does not exist.
	ReasonTargetNotFound = "TargetNotFound"
	// ReasonClassified: the classification policy produced a classification.
	ReasonClassified = "Classified"
	// ReasonPolicyError: a Rego policy could not be evaluated.
	ReasonPolicyError = "PolicyError"

	// ReasonRootCauseFound: the analyzer produced a root cause and a recommendation.
	ReasonRootCauseFound = "RootCauseFound"
	// ReasonNoActionRecommended: the analyzer recommends no action (escalate to a person).
	ReasonNoActionRecommended = "NoActionRecommended"
	// ReasonAnalyzerFailed: no analyzer could answer.
	ReasonAnalyzerFailed = "AnalyzerFailed"
	// ReasonFallback: the rules analyzer answered because HolmesGPT failed or its circuit
	// breaker is open. A fallback never auto-approves.
	ReasonFallback = "Fallback"
	// ReasonInvalidRecommendation: the recommendation names an action outside the catalog,
	// has invalid parameters or broken dependencies.
	ReasonInvalidRecommendation = "InvalidRecommendation"
	// ReasonRecommendationValid: every step of the recommendation is valid.
	ReasonRecommendationValid = "RecommendationValid"

	// ReasonAutoApproved: the approval policy approved the plan without a person.
	ReasonAutoApproved = "AutoApproved"
	// ReasonManuallyApproved: a person approved the exact plan (by its hash).
	ReasonManuallyApproved = "ManuallyApproved"
	// ReasonAwaitingApproval: the plan waits for a person (status Unknown).
	ReasonAwaitingApproval = "AwaitingApproval"
	// ReasonLowConfidence: confidence is below the rejection threshold.
	ReasonLowConfidence = "LowConfidence"
	// ReasonApprovalDenied: a person or the approval policy refused the plan.
	ReasonApprovalDenied = "ApprovalDenied"
	// ReasonRemediationEnded: the remediation that owns the plan ended (timed out, failed,
	// cancelled) before the plan was approved; it can no longer be approved.
	ReasonRemediationEnded = "RemediationEnded"

	// ReasonWorkflowCompiled: the plan compiled into a Workflow that Argo's validator accepts.
	ReasonWorkflowCompiled = "WorkflowCompiled"
	// ReasonPlanValid: every step of the plan passed the safety policy and the dry run.
	ReasonPlanValid = "PlanValid"
	// ReasonApprovalDecided: the approval policy decided the mode; the message gives it.
	ReasonApprovalDecided = "ApprovalDecided"
	// ReasonWorkflowInvalid: Argo's validation refused the compiled Workflow.
	ReasonWorkflowInvalid = "WorkflowInvalid"
	// ReasonPolicyDenied: the safety policy refused a step.
	ReasonPolicyDenied = "PolicyDenied"
	// ReasonDryRunFailed: the API server's dry run refused a mutation.
	ReasonDryRunFailed = "DryRunFailed"
	// ReasonUnauthorized: the action's ServiceAccount may not perform it
	// (SubjectAccessReview).
	ReasonUnauthorized = "Unauthorized"
	// ReasonValidationPassed: policy, RBAC and dry run allowed the step.
	ReasonValidationPassed = "ValidationPassed"

	// ReasonStepsSucceeded: every step succeeded.
	ReasonStepsSucceeded = "StepsSucceeded"
	// ReasonStepFailed: a step failed; the message names it.
	ReasonStepFailed = "StepFailed"
	// ReasonActionSucceeded: the action ran and changed its target.
	ReasonActionSucceeded = "ActionSucceeded"
	// ReasonActionFailed: the action failed; the message says why.
	ReasonActionFailed = "ActionFailed"

	// ReasonInvalidParameters: the step's parameters or target do not suit the action; the
	// message names the field.
	ReasonInvalidParameters = "InvalidParameters"
	// ReasonNotApproved: the step is not a step of an approved plan, as the plan has it (its
	// WorkflowExecution is missing or not approved, or the step's action, target or parameters
	// differ from the plan's).
	ReasonNotApproved = "NotApproved"
	// ReasonDryRun: a dry run: validated and dry-run on the API server, nothing mutated.
	ReasonDryRun = "DryRun"
	// ReasonNothingToUndo: a compensation found nothing to restore (the step never changed
	// anything, or its action has no inverse).
	ReasonNothingToUndo = "NothingToUndo"
	// ReasonVerifying: the action ran and its health check is under way (status Unknown).
	ReasonVerifying = "Verifying"

	// ReasonHealthy: the target is healthy again.
	ReasonHealthy = "Healthy"
	// ReasonUnhealthy: the target is still unhealthy after the action.
	ReasonUnhealthy = "Unhealthy"

	// ReasonCompensationSucceeded: the inverses of the completed steps restored the
	// pre-state.
	ReasonCompensationSucceeded = "CompensationSucceeded"
	// ReasonCompensationFailed: an inverse failed; a person must look.
	ReasonCompensationFailed = "CompensationFailed"
)

// terminalReasons maps the Ready reasons that end an object to themselves; used by the phase
// derivations.
var terminalReasons = map[string]bool{
	ReasonFailed:    true,
	ReasonRejected:  true,
	ReasonSkipped:   true,
	ReasonTimedOut:  true,
	ReasonCancelled: true,
	ReasonObserved:  true,
}

// IsTerminalReason reports whether a Ready=False reason ends the object.
func IsTerminalReason(reason string) bool { return terminalReasons[reason] }

// stage is one step of a kind's life: the condition that records it and the phase shown
// while that condition is not yet True.
type stage struct {
	condition string
	phase     string
}

// derivePhase computes a phase from conditions: initial when there are none; the Ready
// reason when Ready is False with a terminal reason; done when Ready is True; otherwise the
// phase of the first stage whose condition is not True.
func derivePhase(conds []metav1.Condition, stages []stage, initial, done string) string {
	if len(conds) == 0 {
		return initial
	}
	if ready := meta.FindStatusCondition(conds, ReadyCondition); ready != nil {
		switch {
		case ready.Status == metav1.ConditionTrue:
			return done
		case ready.Status == metav1.ConditionFalse && IsTerminalReason(ready.Reason):
			return ready.Reason
		}
	}
	for _, s := range stages {
		if !meta.IsStatusConditionTrue(conds, s.condition) {
			return s.phase
		}
	}
	return done
}

// MaxConditionMessage bounds a condition's message, as metav1.Condition's validation does
// (32768 bytes).
const MaxConditionMessage = 32768

// SetCondition sets one condition in conditions for the object's generation: the one way
// every controller sets a condition. The message is cut to MaxConditionMessage bytes on a
// character boundary (the API server refuses invalid UTF-8, which a byte cut can make).
func SetCondition(conditions *[]metav1.Condition, generation int64, typ string, status metav1.ConditionStatus, reason, msg string) {
	meta.SetStatusCondition(conditions, metav1.Condition{Type: typ, Status: status, Reason: reason,
		Message: Truncate(msg, MaxConditionMessage), ObservedGeneration: generation})
}

// MirrorCondition sets the condition typ in conditions (for generation) to what a child's
// condition of that type says — its status, reason and message — and reports whether the
// child has one.
func MirrorCondition(conditions *[]metav1.Condition, generation int64, child []metav1.Condition, typ string) bool {
	c := meta.FindStatusCondition(child, typ)
	if c == nil {
		return false
	}
	SetCondition(conditions, generation, typ, c.Status, c.Reason, c.Message)
	return true
}
