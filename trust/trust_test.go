package trust

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/test/gen"
)

const (
	observe  = kubernautv1.TrustObserve
	approve  = kubernautv1.TrustApprove
	automate = kubernautv1.TrustAutomate
)

// The policy of docs/autonomy.md: production never above approve, drain_node never above
// approve, staging's memory raises promoted without a person.
func policy() *kubernautv1.TrustPolicy {
	return &kubernautv1.TrustPolicy{Spec: kubernautv1.TrustPolicySpec{
		InitialLevel: observe,
		NamespaceGroups: []kubernautv1.NamespaceGroup{
			{Name: "production", Selector: metav1.LabelSelector{MatchLabels: map[string]string{"env": "production"}}},
			{Name: "staging", Selector: metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{Key: "env", Operator: metav1.LabelSelectorOpIn, Values: []string{"staging", "qa"}}}}},
		},
		Limits: []kubernautv1.TrustLimit{
			{NamespaceGroups: []string{"production"}, Ceiling: approve},
			{Actions: []kubernautv1.ActionName{kubernautv1.ActionDrainNode}, Ceiling: approve},
			{NamespaceGroups: []string{"staging"}, Actions: []kubernautv1.ActionName{kubernautv1.ActionIncreaseMemoryLimit}, Floor: approve, AutoPromote: true},
		},
	}}
}

func scope(group string, action kubernautv1.ActionName) kubernautv1.TrustScope {
	return kubernautv1.TrustScope{NamespaceGroup: group, SignalType: "crashloop", Action: action}
}

func TestGroup(t *testing.T) {
	p := policy()
	for labels, want := range map[*map[string]string]string{
		{"env": "production"}: "production", {"env": "qa"}: "staging", {"env": "dev"}: DefaultGroup, {}: DefaultGroup,
	} {
		if got := Group(p, *labels); got != want {
			t.Errorf("Group(%v) = %q, want %q", *labels, got, want)
		}
	}
	if problems := Validate(p); len(problems) != 0 {
		t.Errorf("a valid policy: %v", problems)
	}
	p.Spec.NamespaceGroups = append(p.Spec.NamespaceGroups, kubernautv1.NamespaceGroup{Name: "all"})
	p.Spec.Limits = append(p.Spec.Limits, kubernautv1.TrustLimit{NamespaceGroups: []string{"prod"}})
	if problems := Validate(p); len(problems) != 2 {
		t.Errorf("an empty selector and an undeclared group: %v", problems)
	}
}

func TestBoundsAndLevels(t *testing.T) {
	p := policy()
	for _, tc := range []struct {
		scope          kubernautv1.TrustScope
		floor, ceiling kubernautv1.TrustLevel
		auto           bool
	}{
		{scope("production", kubernautv1.ActionRollbackDeployment), observe, approve, false},
		{scope("default", kubernautv1.ActionRollbackDeployment), observe, automate, false},
		{scope("default", kubernautv1.ActionDrainNode), observe, approve, false},
		{scope("production", kubernautv1.ActionDrainNode), observe, approve, false},
		{scope("staging", kubernautv1.ActionIncreaseMemoryLimit), approve, automate, true},
	} {
		floor, ceiling, auto := Bounds(p, tc.scope)
		if floor != tc.floor || ceiling != tc.ceiling || auto != tc.auto {
			t.Errorf("Bounds(%s) = %s..%s auto %t, want %s..%s auto %t", tc.scope, floor, ceiling, auto, tc.floor, tc.ceiling, tc.auto)
		}
	}
	// A floor above a ceiling: the ceiling wins.
	p.Spec.Limits = append(p.Spec.Limits, kubernautv1.TrustLimit{Actions: []kubernautv1.ActionName{kubernautv1.ActionIncreaseMemoryLimit}, Ceiling: observe})
	if floor, ceiling, _ := Bounds(p, scope("staging", kubernautv1.ActionIncreaseMemoryLimit)); floor != observe || ceiling != observe {
		t.Errorf("floor above ceiling: %s..%s, want observe..observe", floor, ceiling)
	}

	// A scope's level: the initial one, bounded; the status' once it has one, bounded again
	// by the limits as they are now (a ceiling lowered in Git takes effect at once).
	p = policy()
	prod := scope("production", kubernautv1.ActionRollbackDeployment)
	if got := Level(p, prod); got != observe {
		t.Errorf("initial level %s", got)
	}
	p.Spec.InitialLevel = automate
	if got := Level(p, prod); got != approve {
		t.Errorf("initial automate in production: %s, want the ceiling approve", got)
	}
	p.Status.Scopes = []kubernautv1.ScopeStatus{{TrustScope: prod, Level: automate}}
	if got := Level(p, prod); got != approve {
		t.Errorf("a status level above the ceiling: %s, want approve", got)
	}

	// A plan goes as far as its least trusted action.
	p = policy()
	p.Status.Scopes = []kubernautv1.ScopeStatus{{TrustScope: scope("default", kubernautv1.ActionRollbackDeployment), Level: automate},
		{TrustScope: scope("default", kubernautv1.ActionRestartDeployment), Level: approve}}
	level, lowest := PlanLevel(p, Scopes("default", "crashloop", []kubernautv1.ActionName{kubernautv1.ActionRollbackDeployment, kubernautv1.ActionRestartDeployment, kubernautv1.ActionRollbackDeployment}))
	if level != approve || lowest.Action != kubernautv1.ActionRestartDeployment {
		t.Errorf("PlanLevel = %s (%s), want approve (restart_deployment)", level, lowest)
	}
}

// A level never raises the approval policy's decision.
func TestMode(t *testing.T) {
	for _, tc := range []struct {
		level   kubernautv1.TrustLevel
		decided kubernautv1.ApprovalMode
		want    kubernautv1.ApprovalMode
	}{
		{observe, kubernautv1.ApprovalAuto, kubernautv1.ApprovalObserve},
		{observe, kubernautv1.ApprovalRejected, kubernautv1.ApprovalRejected},
		{approve, kubernautv1.ApprovalAuto, kubernautv1.ApprovalManual},
		{approve, kubernautv1.ApprovalManual, kubernautv1.ApprovalManual},
		{automate, kubernautv1.ApprovalAuto, kubernautv1.ApprovalAuto},
		{automate, kubernautv1.ApprovalManual, kubernautv1.ApprovalManual},
		{"", kubernautv1.ApprovalAuto, kubernautv1.ApprovalObserve},
	} {
		if got := Mode(tc.level, tc.decided); got != tc.want {
			t.Errorf("Mode(%q, %s) = %s, want %s", tc.level, tc.decided, got, tc.want)
		}
	}
}

func TestOutcomes(t *testing.T) {
	end := metav1.NewTime(time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC))
	rr := func(phase kubernautv1.RemediationPhase) *kubernautv1.RemediationRequest {
		return gen.RemediationRequest("kubernaut-system", "rr-1", func(rr *kubernautv1.RemediationRequest) {
			rr.Status.Phase, rr.Status.CompletedAt = phase, &end
			rr.Status.Trust = &kubernautv1.TrustDecision{Level: approve}
		})
	}
	we := func(conds ...metav1.Condition) *kubernautv1.WorkflowExecution {
		return gen.WorkflowExecution("kubernaut-system", "rr-1-we", func(w *kubernautv1.WorkflowExecution) { w.Status.Conditions = conds })
	}
	shadowed := we()
	shadowed.Status.Shadow = &kubernautv1.ShadowVerdict{Verdict: OutcomeAgreed, At: metav1.NewTime(end.Add(time.Minute))}
	for _, tc := range []struct {
		name string
		rr   *kubernautv1.RemediationRequest
		we   *kubernautv1.WorkflowExecution
		want string
	}{
		{"verified", rr(kubernautv1.RemediationPhaseCompleted), we(), OutcomeVerified},
		{"no plan", rr(kubernautv1.RemediationPhaseCompleted), nil, ""},
		{"undone", rr(kubernautv1.RemediationPhaseFailed), we(metav1.Condition{Type: kubernautv1.CompensatedCondition, Status: metav1.ConditionTrue}), OutcomeUndone},
		{"failed", rr(kubernautv1.RemediationPhaseFailed), we(), OutcomeFailed},
		{"policy", rr(kubernautv1.RemediationPhaseRejected), we(metav1.Condition{Type: kubernautv1.ValidatedCondition, Status: metav1.ConditionFalse, Reason: kubernautv1.ReasonPolicyDenied}), OutcomePolicyDenied},
		{"rejected", rr(kubernautv1.RemediationPhaseRejected), we(), OutcomeRejected},
		{"observed, no verdict yet", rr(kubernautv1.RemediationPhaseObserved), we(), ""},
		{"observed", rr(kubernautv1.RemediationPhaseObserved), shadowed, OutcomeAgreed},
		{"cancelled", rr(kubernautv1.RemediationPhaseCancelled), we(), ""},
	} {
		kind, _, ok := OutcomeOf(tc.rr, tc.we)
		if kind != tc.want || ok != (tc.want != "") {
			t.Errorf("%s: %q %t, want %q", tc.name, kind, ok, tc.want)
		}
	}
	untrusted := rr(kubernautv1.RemediationPhaseCompleted)
	untrusted.Status.Trust = nil
	if _, _, ok := OutcomeOf(untrusted, we()); ok {
		t.Error("a remediation planned without a trust policy is evidence")
	}

	e := &kubernautv1.TrustEvidence{Outcomes: []kubernautv1.TrustOutcome{{Kind: OutcomeAgreed}, {Kind: OutcomeDisagreed}, {Kind: OutcomeKeptFiring},
		{Kind: OutcomeUndone}, {Kind: OutcomeVerified}, {Kind: OutcomeVerified}}, Verified: 99}
	Count(e)
	if e.Observed != 3 || e.Agreed != 1 || e.Disagreed != 1 || e.KeptFiring != 1 || e.Failed != 1 || e.Undone != 1 || e.Verified != 2 || len(e.Outcomes) != 6 {
		t.Errorf("Count: %+v", e)
	}
}
