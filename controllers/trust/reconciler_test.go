package trust

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	kubernautrego "github.com/kubernaut/kubernaut/rego"
	"github.com/kubernaut/kubernaut/test/gen"
	"github.com/kubernaut/kubernaut/trust"
)

var t0 = time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC)

type world struct {
	t     *testing.T
	c     client.Client
	r     *Reconciler
	clock time.Time
	n     int
	rec   *events.FakeRecorder
}

func newWorld(t *testing.T, spec kubernautv1.TrustPolicySpec) *world {
	scheme := runtime.NewScheme()
	if err := kubernautv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	p := &kubernautv1.TrustPolicy{ObjectMeta: metav1.ObjectMeta{Name: kubernautv1.DefaultTrustPolicy}, Spec: spec}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(p).WithStatusSubresource(p, &kubernautv1.RemediationRequest{}, &kubernautv1.WorkflowExecution{}).Build()
	w := &world{t: t, c: c, clock: t0, rec: events.NewFakeRecorder(100)}
	w.r = &Reconciler{Client: c, Promotion: &kubernautrego.Policy{File: "promotion.rego", Query: "data.kubernaut.promotion.decision"},
		Thresholds: Thresholds{Observed: 2, Agreement: 0.9, Verified: 2}, Events: w.rec, Now: func() time.Time { return w.clock }}
	return w
}

// finish adds a remediation of group's crashloop that ended with kind (a trust outcome).
func (w *world) finish(group string, action kubernautv1.ActionName, kind string) {
	w.t.Helper()
	w.n++
	w.clock = w.clock.Add(time.Minute)
	name := fmt.Sprintf("rr-%d", w.n)
	end := metav1.NewTime(w.clock)
	we := gen.WorkflowExecution("kubernaut-system", name+"-we", nil)
	rr := gen.RemediationRequest("kubernaut-system", name, nil)
	rr.UID = types.UID("uid-" + name)
	rr.Status = kubernautv1.RemediationRequestStatus{CompletedAt: &end, Actions: []kubernautv1.ActionName{action},
		WorkflowExecutionRef: &kubernautv1.LocalReference{Name: we.Name},
		Trust:                &kubernautv1.TrustDecision{Scope: kubernautv1.TrustScope{NamespaceGroup: group, SignalType: "crashloop", Action: action}}}
	switch kind {
	case trust.OutcomeAgreed, trust.OutcomeDisagreed:
		rr.Status.Phase = kubernautv1.RemediationPhaseObserved
		we.Status.Shadow = &kubernautv1.ShadowVerdict{Verdict: kind, At: end}
	case trust.OutcomeVerified:
		rr.Status.Phase = kubernautv1.RemediationPhaseCompleted
	case trust.OutcomeUndone:
		rr.Status.Phase = kubernautv1.RemediationPhaseFailed
		we.Status.Conditions = []metav1.Condition{{Type: kubernautv1.CompensatedCondition, Status: metav1.ConditionTrue, Reason: "R", LastTransitionTime: end}}
	}
	for _, o := range []client.Object{rr, we} {
		status := o.DeepCopyObject().(client.Object)
		if err := w.c.Create(context.Background(), o); err != nil {
			w.t.Fatal(err)
		}
		switch s := status.(type) {
		case *kubernautv1.RemediationRequest:
			o.(*kubernautv1.RemediationRequest).Status = s.Status
		case *kubernautv1.WorkflowExecution:
			o.(*kubernautv1.WorkflowExecution).Status = s.Status
		}
		if err := w.c.Status().Update(context.Background(), o); err != nil {
			w.t.Fatal(err)
		}
	}
}

// sync reconciles the policy and returns it.
func (w *world) sync() *kubernautv1.TrustPolicy {
	w.t.Helper()
	if _, err := w.r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKey{Name: kubernautv1.DefaultTrustPolicy}}); err != nil {
		w.t.Fatal(err)
	}
	p := &kubernautv1.TrustPolicy{}
	if err := w.c.Get(context.Background(), client.ObjectKey{Name: kubernautv1.DefaultTrustPolicy}, p); err != nil {
		w.t.Fatal(err)
	}
	return p
}

func (w *world) scope(p *kubernautv1.TrustPolicy, group string, action kubernautv1.ActionName) kubernautv1.ScopeStatus {
	w.t.Helper()
	s := trust.Find(p, kubernautv1.TrustScope{NamespaceGroup: group, SignalType: "crashloop", Action: action})
	if s == nil {
		w.t.Fatalf("no scope %s/crashloop/%s in %+v", group, action, p.Status.Scopes)
	}
	return *s
}

func (w *world) events() string {
	var out []string
	for len(w.rec.Events) > 0 {
		out = append(out, <-w.rec.Events)
	}
	return strings.Join(out, "\n")
}

// Observe → proposed → confirmed → approve; one undo demotes at once; evidence is counted once.
func TestLadder(t *testing.T) {
	w := newWorld(t, kubernautv1.TrustPolicySpec{InitialLevel: kubernautv1.TrustObserve})
	rollback := kubernautv1.ActionRollbackDeployment
	w.finish("default", rollback, trust.OutcomeAgreed)
	p := w.sync()
	s := w.scope(p, "default", rollback)
	if s.Level != kubernautv1.TrustObserve || s.Proposal != nil || s.Evidence.Observed != 1 {
		t.Fatalf("after one agreed plan: %+v", s)
	}
	w.finish("default", rollback, trust.OutcomeAgreed)
	p = w.sync()
	s = w.scope(p, "default", rollback)
	if s.Level != kubernautv1.TrustObserve || s.Proposal == nil || s.Proposal.Level != kubernautv1.TrustApprove || s.Evidence.Agreed != 2 {
		t.Fatalf("two agreed of two (threshold 2): want approve proposed, not taken: %+v", s)
	}
	if p.Status.Proposals != 1 || p.Status.Observing != 1 || !strings.Contains(w.events(), "PromotionProposed") {
		t.Errorf("counts %+v", p.Status)
	}
	// Counted once, however often it is reconciled.
	if p = w.sync(); w.scope(p, "default", rollback).Evidence.Observed != 2 {
		t.Errorf("counted again: %+v", w.scope(p, "default", rollback).Evidence)
	}

	// A confirmation of another proposal (an older time) does nothing; of this one, promotes.
	p.Spec.Confirmations = []kubernautv1.TrustConfirmation{{TrustScope: s.TrustScope, Level: kubernautv1.TrustApprove, ProposedAt: metav1.NewTime(s.Proposal.Since.Add(-time.Hour))}}
	if err := w.c.Update(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	if p = w.sync(); w.scope(p, "default", rollback).Level != kubernautv1.TrustObserve {
		t.Fatalf("confirmed a proposal that was not made: %+v", w.scope(p, "default", rollback))
	}
	p.Spec.Confirmations[0].ProposedAt = s.Proposal.Since
	if err := w.c.Update(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	p = w.sync()
	if s = w.scope(p, "default", rollback); s.Level != kubernautv1.TrustApprove || s.Proposal != nil || !strings.HasPrefix(s.Reason, "confirmed from observe") {
		t.Fatalf("confirmed: %+v", s)
	}

	// Two verified remediations earn automate: proposed again (no limit allows it alone).
	w.finish("default", rollback, trust.OutcomeVerified)
	w.finish("default", rollback, trust.OutcomeVerified)
	p = w.sync()
	if s = w.scope(p, "default", rollback); s.Proposal == nil || s.Proposal.Level != kubernautv1.TrustAutomate {
		t.Fatalf("two verified at approve: %+v", s)
	}

	// An undo demotes at once, withdraws the proposal, and blocks automate while it is evidence.
	w.events()
	w.finish("default", rollback, trust.OutcomeUndone)
	p = w.sync()
	if s = w.scope(p, "default", rollback); s.Level != kubernautv1.TrustObserve || s.Proposal != nil || !strings.Contains(s.Reason, "demoted from approve") {
		t.Fatalf("after an undo: %+v", s)
	}
	if ev := w.events(); !strings.Contains(ev, "Warning Demoted") {
		t.Errorf("no demotion event: %s", ev)
	}
	if p = w.sync(); w.scope(p, "default", rollback).Level != kubernautv1.TrustObserve || w.scope(p, "default", rollback).Proposal != nil {
		t.Error("demoted twice, or proposed again on the evidence from before the demotion")
	}
	// New agreement after the demotion earns the proposal again.
	w.finish("default", rollback, trust.OutcomeAgreed)
	w.finish("default", rollback, trust.OutcomeAgreed)
	if p = w.sync(); w.scope(p, "default", rollback).Proposal == nil {
		t.Error("no proposal on two agreed plans after the demotion")
	}

	// The evidence window: once the outcomes are older than it, they no longer count.
	w.clock = w.clock.Add(31 * 24 * time.Hour)
	if p = w.sync(); len(w.scope(p, "default", rollback).Evidence.Outcomes) != 0 {
		t.Errorf("outcomes past the window: %+v", w.scope(p, "default", rollback).Evidence)
	}
}

// No evidence crosses a ceiling; a limit that allows it promotes without a person.
func TestCeilingAndAutoPromotion(t *testing.T) {
	w := newWorld(t, kubernautv1.TrustPolicySpec{InitialLevel: kubernautv1.TrustApprove, Limits: []kubernautv1.TrustLimit{
		{NamespaceGroups: []string{"production"}, Ceiling: kubernautv1.TrustApprove},
		{Actions: []kubernautv1.ActionName{kubernautv1.ActionIncreaseMemoryLimit}, AutoPromote: true},
	}})
	for range 5 {
		w.finish("production", kubernautv1.ActionRollbackDeployment, trust.OutcomeVerified)
		w.finish("default", kubernautv1.ActionIncreaseMemoryLimit, trust.OutcomeVerified)
	}
	p := w.sync()
	if s := w.scope(p, "production", kubernautv1.ActionRollbackDeployment); s.Level != kubernautv1.TrustApprove || s.Proposal != nil || s.Ceiling != kubernautv1.TrustApprove {
		t.Errorf("production above its ceiling, or proposed: %+v", s)
	}
	if s := w.scope(p, "default", kubernautv1.ActionIncreaseMemoryLimit); s.Level != kubernautv1.TrustAutomate || !strings.HasPrefix(s.Reason, "promoted from approve") {
		t.Errorf("auto-promoted scope: %+v", s)
	}

	// A ceiling lowered in Git takes effect at the next sync.
	p.Spec.Limits = append(p.Spec.Limits, kubernautv1.TrustLimit{Actions: []kubernautv1.ActionName{kubernautv1.ActionIncreaseMemoryLimit}, Ceiling: kubernautv1.TrustObserve})
	if err := w.c.Update(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	if p = w.sync(); w.scope(p, "default", kubernautv1.ActionIncreaseMemoryLimit).Level != kubernautv1.TrustObserve {
		t.Errorf("ceiling lowered: %+v", w.scope(p, "default", kubernautv1.ActionIncreaseMemoryLimit))
	}
}

// A promotion policy that fails keeps every level where it is (fails closed).
func TestBrokenPromotionPolicyPromotesNothing(t *testing.T) {
	w := newWorld(t, kubernautv1.TrustPolicySpec{InitialLevel: kubernautv1.TrustApprove, Limits: []kubernautv1.TrustLimit{{AutoPromote: true}}})
	w.r.Promotion = &kubernautrego.Policy{File: "promotion.rego", Query: "data.kubernaut.promotion.nothing"}
	for range 3 {
		w.finish("default", kubernautv1.ActionRollbackDeployment, trust.OutcomeVerified)
	}
	if _, err := w.r.Reconcile(context.Background(), ctrl.Request{NamespacedName: client.ObjectKey{Name: kubernautv1.DefaultTrustPolicy}}); err == nil {
		t.Fatal("a promotion policy without a decision: no error")
	}
	p := &kubernautv1.TrustPolicy{}
	_ = w.c.Get(context.Background(), client.ObjectKey{Name: kubernautv1.DefaultTrustPolicy}, p)
	if s := trust.Find(p, kubernautv1.TrustScope{NamespaceGroup: "default", SignalType: "crashloop", Action: kubernautv1.ActionRollbackDeployment}); s != nil && s.Level != kubernautv1.TrustApprove {
		t.Errorf("promoted by a broken policy: %+v", s)
	}
}

// A policy that cannot be applied as written says what and where in its Ready condition.
func TestInvalidPolicySaysWhere(t *testing.T) {
	w := newWorld(t, kubernautv1.TrustPolicySpec{Limits: []kubernautv1.TrustLimit{{NamespaceGroups: []string{"prod"}, Ceiling: kubernautv1.TrustApprove}}})
	p := w.sync()
	c := meta.FindStatusCondition(p.Status.Conditions, kubernautv1.ReadyCondition)
	if c == nil || c.Status != metav1.ConditionFalse || c.Reason != reasonInvalidSpec || !strings.Contains(c.Message, `spec.limits[0]: namespace group "prod" is not declared`) {
		t.Errorf("Ready %+v", c)
	}
}
