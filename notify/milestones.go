package notify

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sort"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/record"
	"github.com/kubernaut/kubernaut/redact"
)

// The milestones of a remediation, each a CloudEvents type (docs/notifications.md).
const (
	// TypeApprovalRequired: a plan waits for a person's approval.
	TypeApprovalRequired = "io.kubernaut.approval.required"
	// TypeApproved: the plan was approved (by the policy or by people).
	TypeApproved = "io.kubernaut.approval.approved"
	// TypeRejected: the plan was rejected (by the policy or a person) or withdrawn.
	TypeRejected = "io.kubernaut.approval.rejected"
	// TypeObserved: the plan was validated and dry-run, and not run: its scope's trust level
	// is observe (data.plan and data.planHash name what it would have done).
	TypeObserved = "io.kubernaut.remediation.observed"
	// TypeStarted: the plan started running.
	TypeStarted = "io.kubernaut.remediation.started"
	// TypeStepDone: a step of the plan ended (data.phase says how).
	TypeStepDone = "io.kubernaut.step.done"
	// TypeVerified: the plan's verification passed.
	TypeVerified = "io.kubernaut.remediation.verified"
	// TypeFailed: the remediation failed or timed out.
	TypeFailed = "io.kubernaut.remediation.failed"
	// TypeCompensated: the undo of a failed plan ended (data.phase: Succeeded or Failed).
	TypeCompensated = "io.kubernaut.remediation.compensated"
	// TypeFinished: the remediation ended (data.phase is its outcome).
	TypeFinished = "io.kubernaut.remediation.finished"
)

// Milestone is one moment of a remediation that people are told of.
type Milestone struct {
	// ID identifies it for good: the same milestone derived again (after a restart, by another
	// replica) has the same ID, so that a receiver can drop a repeat.
	ID string `json:"-"`
	// Type is one of the Type constants.
	Type string `json:"-"`
	// At is when it happened.
	At time.Time `json:"-"`
	// Data is what it says.
	Data MilestoneData `json:"data"`
}

// MilestoneData is a milestone's payload (the CloudEvent's data; the Slack message's text).
type MilestoneData struct {
	// Remediation and Namespace name the RemediationRequest.
	Remediation string `json:"remediation"`
	Namespace   string `json:"namespace"`
	// Signal is the alert's name, Severity its severity.
	Signal   string `json:"signal"`
	Severity string `json:"severity,omitempty"`
	// Target is what the plan acts on (Kind/namespace/name).
	Target string `json:"target"`
	// Actions are the plan's actions.
	Actions []kubernautv1.ActionName `json:"actions,omitempty"`
	// RootCause is the analysis' root cause (secrets redacted).
	RootCause string `json:"rootCause,omitempty"`
	// Plan and PlanHash name the WorkflowExecution and the plan approved or to approve.
	Plan     string `json:"plan,omitempty"`
	PlanHash string `json:"planHash,omitempty"`
	// Step is the step of a step milestone.
	Step string `json:"step,omitempty"`
	// Phase is the outcome of what ended (a step, the undo, the remediation).
	Phase string `json:"phase,omitempty"`
	// Message says more (secrets redacted).
	Message string `json:"message,omitempty"`
	// DecidedBy is who approved or rejected.
	DecidedBy string `json:"decidedBy,omitempty"`
	// Approve is the command that approves a plan waiting for it.
	Approve string `json:"approve,omitempty"`
	// Link is the plan's Workflow in the Argo UI, when there is one.
	Link string `json:"link,omitempty"`
	// Record is the whole account of a finished remediation (TypeFinished only), filled in
	// when the milestone is sent.
	Record *record.Record `json:"record,omitempty"`
}

// Milestones are the moments a remediation and its plan (nil when none) reached so far, oldest
// first.
func Milestones(rr *kubernautv1.RemediationRequest, we *kubernautv1.WorkflowExecution) []Milestone {
	base := MilestoneData{Remediation: rr.Name, Namespace: rr.Namespace, Signal: rr.Spec.Signal.Name, Severity: string(rr.Spec.Signal.Severity),
		Target: target(rr, we).String(), Actions: rr.Status.Actions, RootCause: redact.Bounded(rr.Status.RootCause, 1024)}
	var out []Milestone
	add := func(typ, step string, at time.Time, mod func(*MilestoneData)) {
		d := base
		d.Step = step
		if mod != nil {
			mod(&d)
		}
		sum := sha256.Sum256([]byte(string(rr.UID) + "/" + rr.Namespace + "/" + rr.Name + "/" + typ + "/" + step))
		out = append(out, Milestone{ID: hex.EncodeToString(sum[:16]), Type: typ, At: at, Data: d})
	}
	if we != nil {
		base.Plan = we.Name
		if we.Status.Plan != nil {
			base.PlanHash = we.Status.Plan.Hash
		}
		if ref := we.Status.WorkflowRef; ref != nil {
			base.Link = ref.UIURL
		}
		approved := meta.FindStatusCondition(we.Status.Conditions, kubernautv1.ApprovedCondition)
		decidedBy := ""
		if a := we.Status.Approval; a != nil {
			decidedBy = a.DecidedBy
		}
		switch {
		case approved == nil:
		case approved.Status == metav1.ConditionUnknown && we.Status.Phase == kubernautv1.WorkflowAwaitingApproval && we.Status.Plan != nil:
			add(TypeApprovalRequired, "", approved.LastTransitionTime.Time, func(d *MilestoneData) {
				d.Message = redact.Bounded(approved.Message, 512)
				d.Approve = fmt.Sprintf("kubectl kubernaut approve %s -n %s", rr.Name, rr.Namespace)
			})
		case approved.Status == metav1.ConditionTrue:
			add(TypeApproved, "", approved.LastTransitionTime.Time, func(d *MilestoneData) { d.DecidedBy = decidedBy; d.Message = redact.Bounded(approved.Message, 512) })
		case approved.Status == metav1.ConditionFalse && approved.Reason == kubernautv1.ReasonObserved:
			add(TypeObserved, "", approved.LastTransitionTime.Time, func(d *MilestoneData) { d.Message = redact.Bounded(approved.Message, 512) })
		case approved.Status == metav1.ConditionFalse:
			add(TypeRejected, "", approved.LastTransitionTime.Time, func(d *MilestoneData) { d.DecidedBy = decidedBy; d.Message = redact.Bounded(approved.Message, 512) })
		}
		if we.Status.StartedAt != nil {
			add(TypeStarted, "", we.Status.StartedAt.Time, nil)
		}
		for _, s := range we.Status.Steps {
			if s.FinishedAt == nil || s.Phase == kubernautv1.StepPending || s.Phase == kubernautv1.StepRunning {
				continue
			}
			add(TypeStepDone, s.Name, s.FinishedAt.Time, func(d *MilestoneData) { d.Phase = string(s.Phase); d.Message = redact.Bounded(s.Message, 512) })
		}
		if c := meta.FindStatusCondition(we.Status.Conditions, kubernautv1.VerifiedCondition); c != nil && c.Status == metav1.ConditionTrue {
			add(TypeVerified, "", c.LastTransitionTime.Time, func(d *MilestoneData) { d.Message = redact.Bounded(c.Message, 512) })
		}
		if c := meta.FindStatusCondition(we.Status.Conditions, kubernautv1.CompensatedCondition); c != nil && c.Status != metav1.ConditionUnknown {
			phase := "Succeeded"
			if c.Status == metav1.ConditionFalse {
				phase = "Failed"
			}
			add(TypeCompensated, "", c.LastTransitionTime.Time, func(d *MilestoneData) { d.Phase = phase; d.Message = redact.Bounded(c.Message, 512) })
		}
	}
	if end := rr.Status.CompletedAt; end != nil && rr.Status.Phase.IsFinished() {
		msg := ""
		if c := meta.FindStatusCondition(rr.Status.Conditions, kubernautv1.ReadyCondition); c != nil {
			msg = redact.Bounded(c.Message, 512)
		}
		if rr.Status.Phase == kubernautv1.RemediationPhaseFailed || rr.Status.Phase == kubernautv1.RemediationPhaseTimedOut {
			add(TypeFailed, "", end.Time, func(d *MilestoneData) { d.Phase = string(rr.Status.Phase); d.Message = msg })
		}
		add(TypeFinished, "", end.Time, func(d *MilestoneData) { d.Phase = string(rr.Status.Phase); d.Message = msg })
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At.Before(out[j].At) })
	return out
}
