// Package record is the account of one finished remediation that outlives its objects: the
// RemediationRequest and its children go when their retention ends, the record is what a log
// store or an HTTP sink keeps of them. It is built from the objects alone (no clock, no API
// call), so that every replica, and a restart, builds the same record; texts are redacted
// (redact) and bounded, since the record leaves the cluster.
package record

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/redact"
)

// Record is one finished remediation, self-contained (docs/notifications.md, "The record").
type Record struct {
	// Remediation and Namespace name the RemediationRequest; UID tells apart two of one name.
	Remediation string `json:"remediation"`
	Namespace   string `json:"namespace"`
	UID         string `json:"uid"`
	// Signal is the alert that started it.
	Signal Signal `json:"signal"`
	// Target is what the alert was about (Kind/namespace/name).
	Target string `json:"target"`
	// Classification is the processing's signal type (crashloop, oom, …).
	Classification string `json:"classification,omitempty"`
	// Analysis is the root cause and who found it; nil when the analysis did not end.
	Analysis *Analysis `json:"analysis,omitempty"`
	// Plan is what was planned and how it ran; nil when nothing was planned.
	Plan *Plan `json:"plan,omitempty"`
	// Outcome is the remediation's final phase, Message how it ended.
	Outcome kubernautv1.RemediationPhase `json:"outcome"`
	Message string                       `json:"message,omitempty"`
	// Created is when the remediation was created, Finished when it ended.
	Created  time.Time `json:"created"`
	Finished time.Time `json:"finished"`
	// Durations are the remediation's time spent, in seconds.
	Durations Durations `json:"durations"`
}

// Signal is the alert of a record.
type Signal struct {
	// Name, Severity and Fingerprint are the alert's.
	Name        string `json:"name"`
	Severity    string `json:"severity,omitempty"`
	Fingerprint string `json:"fingerprint"`
	// StartsAt is when it started firing.
	StartsAt time.Time `json:"startsAt"`
	// Deliveries counts Alertmanager's deliveries of it.
	Deliveries int64 `json:"deliveries,omitempty"`
	// StormMembers counts the alerts folded into it (an alert storm), when more than itself.
	StormMembers int `json:"stormMembers,omitempty"`
}

// Analysis is the analysis of a record.
type Analysis struct {
	// Analyzer is who analyzed (holmesgpt, rules); Fallback says the rules stood in.
	Analyzer string `json:"analyzer,omitempty"`
	Fallback bool   `json:"fallback,omitempty"`
	// RootCause is the root-cause summary, Confidence the analyzer's (after the learner's
	// adjustment).
	RootCause  string  `json:"rootCause,omitempty"`
	Confidence float64 `json:"confidence,omitempty"`
	// Evidence are the facts the analyzer cited.
	Evidence []string `json:"evidence,omitempty"`
}

// Plan is the plan of a record.
type Plan struct {
	// Name names the WorkflowExecution, Hash the plan approved (or to approve), Engine what
	// ran it.
	Name   string `json:"name"`
	Hash   string `json:"hash,omitempty"`
	Engine string `json:"engine,omitempty"`
	// Phase is the plan's final phase.
	Phase string `json:"phase,omitempty"`
	// Approval is how it was decided.
	Approval Approval `json:"approval"`
	// Steps are its steps in the plan's order, with how each ran.
	Steps []Step `json:"steps"`
	// Verification is the plan's verification: Passed when every step verified, Failed with the
	// step whose check failed; nil when neither.
	Verification *Verification `json:"verification,omitempty"`
	// Undo are the compensation steps of a failed plan, newest first.
	Undo []Step `json:"undo,omitempty"`
	// Trust is the trust level the plan was created at, and its scope (group/signal/action).
	Trust string `json:"trust,omitempty"`
	// Shadow is an observed plan's verdict (agreed, disagreed, resolved-alone, kept-firing).
	Shadow string `json:"shadow,omitempty"`
}

// Approval is a plan's approval.
type Approval struct {
	// Mode is Auto, Manual or Rejected (the analysis' decision).
	Mode string `json:"mode"`
	// Decision is Approved, Rejected or TimedOut ("" when none was made).
	Decision string `json:"decision,omitempty"`
	// DecidedBy is the policy or the person who decided; At when.
	DecidedBy string     `json:"decidedBy,omitempty"`
	At        *time.Time `json:"at,omitempty"`
	// Approvers are the people who approved, with when and why.
	Approvers []Approver `json:"approvers,omitempty"`
}

// Approver is one person's approval.
type Approver struct {
	// User is the name the API server authenticated.
	User string `json:"user"`
	// At is when, Reason why (what they typed).
	At     time.Time `json:"at"`
	Reason string    `json:"reason,omitempty"`
}

// Step is one step of a plan, or of its undo.
type Step struct {
	// Name and Action of the step; Target what it acts on.
	Name   string `json:"name"`
	Action string `json:"action,omitempty"`
	Target string `json:"target,omitempty"`
	// Policy is the safety policy's verdict ("allowed" or "denied: …").
	Policy string `json:"policy,omitempty"`
	// DryRun is the dry run's result and its diff in short.
	DryRun string `json:"dryRun,omitempty"`
	// Phase is how it ended, Message what it said.
	Phase   string `json:"phase"`
	Message string `json:"message,omitempty"`
	// PreState is what the step recorded of its target before changing it (what an undo
	// restores), in short.
	PreState string `json:"preState,omitempty"`
	// Verification is the step's own check once it acted ("Passed: …", "Failed: …").
	Verification string `json:"verification,omitempty"`
	// Seconds is how long it ran.
	Seconds float64 `json:"seconds,omitempty"`
}

// Verification is a plan's verification.
type Verification struct {
	// Result is Passed, Failed or Skipped; Message what was checked and found.
	Result  string `json:"result"`
	Message string `json:"message,omitempty"`
}

// Durations are the parts of a remediation's time, in seconds; zero when the part did not
// happen.
type Durations struct {
	// Total is from the remediation's creation to its end.
	Total float64 `json:"total"`
	// ToPlan is from the creation to the plan (processing, analysis, planning).
	ToPlan float64 `json:"toPlan,omitempty"`
	// AwaitingApproval is the time the plan waited for people.
	AwaitingApproval float64 `json:"awaitingApproval,omitempty"`
	// Execution is from the plan's start to its end (steps, verification, undo).
	Execution float64 `json:"execution,omitempty"`
}

// Of is the record of a finished remediation from its objects: the analysis and the plan
// when they exist (nil otherwise), and the plan's steps' KubernetesExecutions by name (those
// not found are recorded without a pre-state).
func Of(rr *kubernautv1.RemediationRequest, aia *kubernautv1.AIAnalysis, we *kubernautv1.WorkflowExecution, steps map[string]*kubernautv1.KubernetesExecution) Record {
	r := Record{
		Remediation: rr.Name, Namespace: rr.Namespace, UID: string(rr.UID),
		Signal: Signal{Name: rr.Spec.Signal.Name, Severity: string(rr.Spec.Signal.Severity), Fingerprint: rr.Spec.Signal.Fingerprint,
			StartsAt: rr.Spec.Signal.StartsAt.UTC(), Deliveries: int64(rr.Spec.Deduplication.Count)},
		Target: rr.Spec.Target.String(), Classification: rr.Status.SignalType,
		Outcome: rr.Status.Phase, Created: rr.CreationTimestamp.UTC(),
	}
	if n := len(rr.Spec.MemberTargets); n > 1 {
		r.Signal.StormMembers = n
	}
	if c := meta.FindStatusCondition(rr.Status.Conditions, kubernautv1.ReadyCondition); c != nil {
		r.Message = redact.Bounded(c.Message, 1024)
	}
	if rr.Status.CompletedAt != nil {
		r.Finished = rr.Status.CompletedAt.UTC()
		if !r.Created.IsZero() {
			r.Durations.Total = seconds(r.Finished.Sub(r.Created))
		}
	}
	if aia != nil && aia.Status.RootCause != nil {
		rc := aia.Status.RootCause
		a := &Analysis{Analyzer: string(aia.Status.Analyzer), Fallback: aia.Status.Fallback, RootCause: redact.Bounded(rc.Summary, 1024), Confidence: rc.Confidence}
		for _, e := range rc.Evidence {
			a.Evidence = append(a.Evidence, redact.Bounded(e.Source+": "+e.Fact, 256))
		}
		r.Analysis = a
	} else if rr.Status.RootCause != "" {
		r.Analysis = &Analysis{RootCause: redact.Bounded(rr.Status.RootCause, 1024)}
	}
	if we != nil {
		r.Plan = plan(we, steps)
		if t := rr.Status.Trust; t != nil {
			r.Plan.Trust = string(t.Level) + " (" + t.Scope.String() + ")"
		}
		if !r.Created.IsZero() && we.CreationTimestamp.After(r.Created) {
			r.Durations.ToPlan = seconds(we.CreationTimestamp.Sub(r.Created))
		}
		if a := we.Status.Approval; a != nil && a.Mode == kubernautv1.ApprovalManual && a.DecidedAt != nil {
			if c := meta.FindStatusCondition(we.Status.Conditions, kubernautv1.ApprovedCondition); c != nil {
				r.Durations.AwaitingApproval = seconds(a.DecidedAt.Sub(waitingSince(we, c.LastTransitionTime.Time)))
			}
		}
		if we.Status.StartedAt != nil {
			end := r.Finished
			if we.Status.CompletedAt != nil {
				end = we.Status.CompletedAt.Time
			}
			r.Durations.Execution = seconds(end.Sub(we.Status.StartedAt.Time))
		}
	}
	return r
}

// waitingSince is when a plan began waiting for people: when it was validated (its Validated
// condition), or, without one, the approval condition's last change.
func waitingSince(we *kubernautv1.WorkflowExecution, fallback time.Time) time.Time {
	if c := meta.FindStatusCondition(we.Status.Conditions, kubernautv1.ValidatedCondition); c != nil {
		return c.LastTransitionTime.Time
	}
	return fallback
}

// plan is the plan part of a record.
func plan(we *kubernautv1.WorkflowExecution, steps map[string]*kubernautv1.KubernetesExecution) *Plan {
	p := &Plan{Name: we.Name, Engine: string(we.Status.Engine), Phase: string(we.Status.Phase), Approval: Approval{Mode: string(we.Spec.ApprovalMode)}}
	planned := map[string]kubernautv1.PlannedStep{}
	if we.Status.Plan != nil {
		p.Hash = we.Status.Plan.Hash
		for _, s := range we.Status.Plan.Steps {
			planned[s.Name] = s
		}
	}
	if a := we.Status.Approval; a != nil {
		p.Approval.Decision, p.Approval.DecidedBy = a.Decision, redact.Bounded(a.DecidedBy, 256)
		if a.DecidedAt != nil {
			t := a.DecidedAt.UTC()
			p.Approval.At = &t
		}
		for _, ap := range a.Approvers {
			p.Approval.Approvers = append(p.Approval.Approvers, Approver{User: ap.User, At: ap.At.UTC(), Reason: redact.Bounded(ap.Reason, 512)})
		}
	}
	ran := map[string]kubernautv1.StepStatus{}
	for _, s := range we.Status.Steps {
		ran[s.Name] = s
	}
	for _, s := range we.Spec.Steps {
		st := Step{Name: s.Name, Action: string(s.Action), Target: s.Target.String(), Phase: string(kubernautv1.StepPending)}
		if ps, ok := planned[s.Name]; ok {
			st.Policy = redact.Bounded(ps.Policy.Summary(), 512)
			if d := ps.DryRun; d != nil {
				st.DryRun = redact.Bounded(strings.TrimSpace(d.Result+": "+d.Short()), 512)
			}
		}
		if rs, ok := ran[s.Name]; ok {
			fill(&st, rs, steps)
		}
		p.Steps = append(p.Steps, st)
	}
	for _, c := range we.Status.Compensation {
		st := Step{Name: c.Name, Action: string(c.Action)}
		fill(&st, c, steps)
		p.Undo = append(p.Undo, st)
	}
	if v := we.Status.Shadow; v != nil {
		p.Shadow = redact.Bounded(v.Verdict+": "+v.Message, 512)
	}
	if c := meta.FindStatusCondition(we.Status.Conditions, kubernautv1.VerifiedCondition); c != nil && c.Status == metav1.ConditionTrue {
		p.Verification = &Verification{Result: "Passed", Message: redact.Bounded(c.Message, 512)}
	}
	for _, s := range we.Status.Steps {
		if ref := s.KubernetesExecutionRef; p.Verification == nil && ref != nil && steps[ref.Name] != nil {
			if v := steps[ref.Name].Status.Verification; v != nil && v.Result == "Failed" {
				p.Verification = &Verification{Result: "Failed", Message: redact.Bounded(s.Name+": "+v.Message, 512)}
			}
		}
	}
	return p
}

// fill adds how a step ran, and its KubernetesExecution's pre-state.
func fill(st *Step, rs kubernautv1.StepStatus, steps map[string]*kubernautv1.KubernetesExecution) {
	st.Phase, st.Message = string(rs.Phase), redact.Bounded(rs.Message, 512)
	if rs.StartedAt != nil && rs.FinishedAt != nil {
		st.Seconds = seconds(rs.FinishedAt.Sub(rs.StartedAt.Time))
	}
	if ref := rs.KubernetesExecutionRef; ref != nil {
		if ke := steps[ref.Name]; ke != nil {
			if st.Target == "" {
				st.Target = ke.Spec.Target.String()
			}
			st.PreState = redact.Bounded(PreState(ke.Status.PreState), 512)
			if v := ke.Status.Verification; v != nil {
				st.Verification = redact.Bounded(v.Result+": "+v.Message, 512)
			}
		}
	}
}

// PreState says in short what a step recorded of its target before changing it: only the
// fields its action touches ("replicas 2", "revision 7 (ReplicaSet web-7d9)", …); "" for
// none.
func PreState(ps *kubernautv1.PreState) string {
	if ps == nil {
		return ""
	}
	var parts []string
	if ps.Replicas != nil {
		parts = append(parts, fmt.Sprintf("replicas %d", *ps.Replicas))
	}
	if ps.Revision != nil {
		parts = append(parts, fmt.Sprintf("revision %d", *ps.Revision))
	}
	if ps.ReplicaSet != "" {
		parts = append(parts, "ReplicaSet "+ps.ReplicaSet)
	}
	if ps.TargetReplicaSet != "" {
		parts = append(parts, "restoring ReplicaSet "+ps.TargetReplicaSet)
	}
	if ps.RestartedAt != "" {
		parts = append(parts, "restartedAt "+ps.RestartedAt)
	}
	if ps.ConfigData != nil {
		parts = append(parts, "data "+sortedPairs(ps.ConfigData))
	}
	if ps.MinReplicas != nil {
		parts = append(parts, fmt.Sprintf("minReplicas %d", *ps.MinReplicas))
	}
	if ps.MaxReplicas != nil {
		parts = append(parts, fmt.Sprintf("maxReplicas %d", *ps.MaxReplicas))
	}
	if len(ps.MemoryLimits) > 0 {
		limits := map[string]string{}
		for c, q := range ps.MemoryLimits {
			limits[c] = q.String()
		}
		parts = append(parts, "memory limits "+sortedPairs(limits))
	}
	if ps.Unschedulable != nil {
		parts = append(parts, fmt.Sprintf("unschedulable %t", *ps.Unschedulable))
	}
	if ps.UID != "" && len(parts) == 0 {
		parts = append(parts, "uid "+ps.UID)
	}
	if ps.ResourceVersion != "" {
		parts = append(parts, "at resourceVersion "+ps.ResourceVersion)
	}
	return strings.Join(parts, ", ")
}

// sortedPairs is a map as {k=v, …}, keys sorted.
func sortedPairs(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	pairs := make([]string, len(keys))
	for i, k := range keys {
		pairs[i] = k + "=" + m[k]
	}
	return "{" + strings.Join(pairs, ", ") + "}"
}

// seconds is d in seconds, to the millisecond.
func seconds(d time.Duration) float64 {
	if d < 0 {
		return 0
	}
	return float64(d.Milliseconds()) / 1000
}

// Read reads what the record of rr needs — its analysis, its plan and the plan's steps — with
// reader (a cache) and builds it; children that are gone are left out.
func Read(ctx context.Context, reader client.Reader, rr *kubernautv1.RemediationRequest) (Record, error) {
	get := func(name string, obj client.Object) (bool, error) {
		err := reader.Get(ctx, client.ObjectKey{Namespace: rr.Namespace, Name: name}, obj)
		if apierrors.IsNotFound(err) {
			return false, nil
		}
		if err != nil {
			return false, fmt.Errorf("reading %s of the record of %s/%s: %w", name, rr.Namespace, rr.Name, err)
		}
		return true, nil
	}
	var aia *kubernautv1.AIAnalysis
	if ref := rr.Status.AIAnalysisRef; ref != nil {
		aia = &kubernautv1.AIAnalysis{}
		if ok, err := get(ref.Name, aia); err != nil {
			return Record{}, err
		} else if !ok {
			aia = nil
		}
	}
	var we *kubernautv1.WorkflowExecution
	steps := map[string]*kubernautv1.KubernetesExecution{}
	if ref := rr.Status.WorkflowExecutionRef; ref != nil {
		we = &kubernautv1.WorkflowExecution{}
		if ok, err := get(ref.Name, we); err != nil {
			return Record{}, err
		} else if !ok {
			we = nil
		}
	}
	if we != nil {
		for _, s := range append(append([]kubernautv1.StepStatus{}, we.Status.Steps...), we.Status.Compensation...) {
			if s.KubernetesExecutionRef == nil {
				continue
			}
			ke := &kubernautv1.KubernetesExecution{}
			if ok, err := get(s.KubernetesExecutionRef.Name, ke); err != nil {
				return Record{}, err
			} else if ok {
				steps[ke.Name] = ke
			}
		}
	}
	return Of(rr, aia, we, steps), nil
}
