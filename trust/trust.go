// Package trust is the vocabulary of earned autonomy that the remediation's controller (which
// applies a scope's level to a plan), the trust controller (which keeps the levels on
// evidence), the plugin and the backtest share: which namespace group a namespace is in, which
// limits bound a scope, what level a scope has, and what a level makes of the approval
// policy's decision (docs/autonomy.md).
package trust

import (
	"fmt"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// DefaultGroup is the group of a namespace no group selects.
const DefaultGroup = "default"

// ClusterGroup is the group of a cluster-scoped target (a Node).
const ClusterGroup = "cluster"

// Group is the namespace group of a namespace with these labels: the first group whose
// selector matches, else DefaultGroup. A selector that does not parse matches nothing (the
// policy's Ready condition says so).
func Group(p *kubernautv1.TrustPolicy, nsLabels map[string]string) string {
	for _, g := range p.Spec.NamespaceGroups {
		sel, err := metav1.LabelSelectorAsSelector(&g.Selector)
		if err != nil || sel.Empty() {
			continue
		}
		if sel.Matches(labels.Set(nsLabels)) {
			return g.Name
		}
	}
	return DefaultGroup
}

// Validate reports what in a policy cannot be applied as written: selectors that do not
// parse or select nothing, limits naming unknown groups.
func Validate(p *kubernautv1.TrustPolicy) []string {
	var problems []string
	known := map[string]bool{DefaultGroup: true, ClusterGroup: true}
	for i, g := range p.Spec.NamespaceGroups {
		known[g.Name] = true
		sel, err := metav1.LabelSelectorAsSelector(&g.Selector)
		switch {
		case err != nil:
			problems = append(problems, fmt.Sprintf("spec.namespaceGroups[%d] (%s): the selector does not parse: %v", i, g.Name, err))
		case sel.Empty():
			problems = append(problems, fmt.Sprintf("spec.namespaceGroups[%d] (%s): an empty selector selects nothing here; leave such namespaces to the group %q", i, g.Name, DefaultGroup))
		}
	}
	for i, l := range p.Spec.Limits {
		for _, g := range l.NamespaceGroups {
			if !known[g] {
				problems = append(problems, fmt.Sprintf("spec.limits[%d]: namespace group %q is not declared", i, g))
			}
		}
	}
	return problems
}

// Bounds are the floor and ceiling the limits put on a scope, and whether its promotions
// need no person. Without a limit: observe to automate, proposed.
func Bounds(p *kubernautv1.TrustPolicy, s kubernautv1.TrustScope) (floor, ceiling kubernautv1.TrustLevel, autoPromote bool) {
	floor, ceiling = kubernautv1.TrustObserve, kubernautv1.TrustAutomate
	autoPromote = true
	matched := false
	for _, l := range p.Spec.Limits {
		if !matches(l, s) {
			continue
		}
		if l.Floor.Rank() > floor.Rank() {
			floor = l.Floor
		}
		if l.Ceiling != "" && l.Ceiling.Rank() < ceiling.Rank() {
			ceiling = l.Ceiling
		}
		matched = true
		autoPromote = autoPromote && l.AutoPromote
	}
	if floor.Rank() > ceiling.Rank() {
		floor = ceiling // safety first: the ceiling wins
	}
	return floor, ceiling, matched && autoPromote
}

func matches(l kubernautv1.TrustLimit, s kubernautv1.TrustScope) bool {
	return (len(l.NamespaceGroups) == 0 || slices.Contains(l.NamespaceGroups, s.NamespaceGroup)) &&
		(len(l.SignalTypes) == 0 || slices.Contains(l.SignalTypes, s.SignalType)) &&
		(len(l.Actions) == 0 || slices.Contains(l.Actions, s.Action))
}

// Clamp bounds level by floor and ceiling.
func Clamp(level, floor, ceiling kubernautv1.TrustLevel) kubernautv1.TrustLevel {
	if level.Rank() < floor.Rank() {
		level = floor
	}
	if level.Rank() > ceiling.Rank() {
		level = ceiling
	}
	return level
}

// Initial is the level of a scope with no status yet: the policy's initial level, bounded.
func Initial(p *kubernautv1.TrustPolicy, s kubernautv1.TrustScope) kubernautv1.TrustLevel {
	floor, ceiling, _ := Bounds(p, s)
	initial := p.Spec.InitialLevel
	if initial.Rank() == 0 {
		initial = kubernautv1.TrustObserve
	}
	return Clamp(initial, floor, ceiling)
}

// Find is the status of a scope, nil when it has none yet.
func Find(p *kubernautv1.TrustPolicy, s kubernautv1.TrustScope) *kubernautv1.ScopeStatus {
	for i := range p.Status.Scopes {
		if p.Status.Scopes[i].TrustScope == s {
			return &p.Status.Scopes[i]
		}
	}
	return nil
}

// Level is a scope's level now: its status' (bounded again by the limits as they are
// now: a ceiling lowered in Git takes effect at once), else its initial level.
func Level(p *kubernautv1.TrustPolicy, s kubernautv1.TrustScope) kubernautv1.TrustLevel {
	st := Find(p, s)
	if st == nil {
		return Initial(p, s)
	}
	floor, ceiling, _ := Bounds(p, s)
	return Clamp(st.Level, floor, ceiling)
}

// Scopes are the scopes of a plan: one per distinct action.
func Scopes(group, signalType string, actions []kubernautv1.ActionName) []kubernautv1.TrustScope {
	var out []kubernautv1.TrustScope
	for _, a := range actions {
		s := kubernautv1.TrustScope{NamespaceGroup: group, SignalType: signalType, Action: a}
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

// PlanLevel is the level of a plan: the lowest of its scopes' (a plan goes only as far as
// its least trusted action), with that scope. A plan without actions is observed.
func PlanLevel(p *kubernautv1.TrustPolicy, scopes []kubernautv1.TrustScope) (kubernautv1.TrustLevel, kubernautv1.TrustScope) {
	level, lowest := kubernautv1.TrustLevel(""), kubernautv1.TrustScope{}
	for _, s := range scopes {
		if l := Level(p, s); level == "" || l.Rank() < level.Rank() {
			level, lowest = l, s
		}
	}
	if level == "" {
		level = kubernautv1.TrustObserve
	}
	return level, lowest
}

// Mode is the approval mode of a plan at level, given the approval policy's decision: observe
// observes; approve waits for people whatever the policy said (a rejection stays one);
// automate leaves the policy's decision as it is. It never raises a decision.
func Mode(level kubernautv1.TrustLevel, decided kubernautv1.ApprovalMode) kubernautv1.ApprovalMode {
	switch {
	case decided == kubernautv1.ApprovalRejected:
		return decided
	case level == kubernautv1.TrustObserve:
		return kubernautv1.ApprovalObserve
	case level == kubernautv1.TrustApprove:
		return kubernautv1.ApprovalManual
	case level == kubernautv1.TrustAutomate:
		return decided
	}
	return kubernautv1.ApprovalObserve // an unknown level: the safest
}

// The outcomes a remediation adds to its scopes' evidence (TrustOutcome.Kind).
const (
	OutcomeAgreed        = "agreed"
	OutcomeDisagreed     = "disagreed"
	OutcomeResolvedAlone = "resolved-alone"
	OutcomeKeptFiring    = "kept-firing"
	OutcomeVerified      = "verified"
	OutcomeRejected      = "rejected"
	OutcomeFailed        = "failed"
	OutcomeUndone        = "undone"
	OutcomePolicyDenied  = "policy-denied"
)

// OutcomeOf is what a finished remediation planned under a trust policy tells of its scopes,
// and when it was known: an observed plan's shadow verdict; a verified, rejected, failed or
// undone plan; a plan the safety policy denied. ok is false when it tells nothing (yet):
// skipped, cancelled or timed out, or an observed plan whose verdict is not known.
func OutcomeOf(rr *kubernautv1.RemediationRequest, we *kubernautv1.WorkflowExecution) (kind string, at time.Time, ok bool) {
	if rr.Status.Trust == nil || !rr.Status.Phase.IsFinished() || rr.Status.CompletedAt == nil {
		return "", time.Time{}, false
	}
	end := rr.Status.CompletedAt.Time
	switch rr.Status.Phase {
	case kubernautv1.RemediationPhaseObserved:
		if we == nil || we.Status.Shadow == nil {
			return "", time.Time{}, false
		}
		return we.Status.Shadow.Verdict, we.Status.Shadow.At.Time, true
	case kubernautv1.RemediationPhaseCompleted:
		if we == nil {
			return "", time.Time{}, false // no action was recommended: nothing of the scope ran
		}
		return OutcomeVerified, end, true
	case kubernautv1.RemediationPhaseFailed:
		if we != nil && meta.IsStatusConditionTrue(we.Status.Conditions, kubernautv1.CompensatedCondition) {
			return OutcomeUndone, end, true
		}
		return OutcomeFailed, end, true
	case kubernautv1.RemediationPhaseRejected:
		if we != nil {
			if c := meta.FindStatusCondition(we.Status.Conditions, kubernautv1.ValidatedCondition); c != nil && c.Reason == kubernautv1.ReasonPolicyDenied {
				return OutcomePolicyDenied, end, true
			}
		}
		return OutcomeRejected, end, true
	}
	return "", time.Time{}, false
}

// Demotes reports whether an outcome demotes its scopes at once.
func Demotes(kind string) bool { return kind == OutcomeFailed || kind == OutcomeUndone }

// Count derives the evidence's counts from its outcomes.
func Count(e *kubernautv1.TrustEvidence) {
	outcomes := e.Outcomes
	*e = kubernautv1.TrustEvidence{Outcomes: outcomes}
	for _, o := range outcomes {
		switch o.Kind {
		case OutcomeAgreed:
			e.Observed++
			e.Agreed++
		case OutcomeDisagreed:
			e.Observed++
			e.Disagreed++
		case OutcomeResolvedAlone:
			e.Observed++
			e.ResolvedAlone++
		case OutcomeKeptFiring:
			e.Observed++
			e.KeptFiring++
		case OutcomeVerified:
			e.Verified++
		case OutcomeRejected:
			e.Rejected++
		case OutcomeFailed:
			e.Failed++
		case OutcomeUndone:
			e.Failed++
			e.Undone++
		case OutcomePolicyDenied:
			e.PolicyDenied++
		}
	}
}
