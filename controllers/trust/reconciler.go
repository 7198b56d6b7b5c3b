// Package trust is the TrustPolicy's controller: it keeps each scope's level on evidence.
// Every finished remediation planned under the policy adds its outcome to the evidence of its
// plan's scopes; a failed verification or an undo demotes those scopes one level at once; the
// promotion policy (Rego, rego/promotion.rego) reads the evidence, and a promotion it earns is
// taken when a limit allows it alone, else proposed to people, who confirm it in the spec
// (Git, or `kubectl kubernaut trust promote`). No evidence crosses a ceiling.
package trust

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/predicate"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	kubernautrego "github.com/kubernaut/kubernaut/rego"
	"github.com/kubernaut/kubernaut/trust"
)

// reasonInvalidSpec: the policy cannot be applied as written (its Ready condition says what).
const reasonInvalidSpec = "InvalidSpec"

// maxOutcomes bounds each scope's outcomes (the API's MaxItems).
const maxOutcomes = 50

// maxScopes bounds the scopes a policy records (the API's MaxItems).
const maxScopes = 256

// Thresholds are the promotion policy's inputs people tune with flags.
type Thresholds struct {
	// Observed is how many observed plans observe → approve needs.
	Observed int `json:"observed"`
	// Agreement is the share of judged observed plans people must have agreed with.
	Agreement float64 `json:"agreement"`
	// Verified is how many approved and verified remediations approve → automate needs.
	Verified int `json:"verified"`
}

// Reconciler keeps the TrustPolicy named default.
type Reconciler struct {
	// Client reads the cache (policies, remediations, plans) and writes the status.
	Client client.Client
	// Promotion is the promotion policy (rego/promotion.rego, overridable by ConfigMap).
	Promotion *kubernautrego.Policy
	// Thresholds are the promotion policy's tunable inputs.
	Thresholds Thresholds
	// Events records promotions, proposals and demotions on the policy.
	Events events.EventRecorder
	// Metrics counts them; nil counts none.
	Metrics *Metrics
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// Metrics are the trust controller's metrics.
type Metrics struct {
	levels    *prometheus.GaugeVec
	agreement *prometheus.GaugeVec
	changes   *prometheus.CounterVec
}

// NewMetrics registers the trust metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	return &Metrics{
		levels: f.NewGaugeVec(prometheus.GaugeOpts{Name: "kubernaut_trust_level",
			Help: "Each trust scope's level: 1 observe, 2 approve, 3 automate."}, []string{"namespace_group", "signal_type", "action"}),
		agreement: f.NewGaugeVec(prometheus.GaugeOpts{Name: "kubernaut_trust_agreement_ratio",
			Help: "Share of a scope's judged observed plans people agreed with (within the evidence window)."}, []string{"namespace_group", "signal_type", "action"}),
		changes: f.NewCounterVec(prometheus.CounterOpts{Name: "kubernaut_trust_changes_total",
			Help: "Trust level changes by kind: promoted, proposed, confirmed, demoted."}, []string{"kind", "action"}),
	}
}

func (m *Metrics) record(p *kubernautv1.TrustPolicy) {
	if m == nil {
		return
	}
	for _, s := range p.Status.Scopes {
		labels := []string{s.NamespaceGroup, s.SignalType, string(s.Action)}
		m.levels.WithLabelValues(labels...).Set(float64(s.Level.Rank()))
		if judged := s.Evidence.Agreed + s.Evidence.Disagreed + s.Evidence.ResolvedAlone; judged > 0 {
			m.agreement.WithLabelValues(labels...).Set(float64(s.Evidence.Agreed) / float64(judged))
		}
	}
}

func (m *Metrics) changed(kind string, s kubernautv1.TrustScope) {
	if m != nil {
		m.changes.WithLabelValues(kind, string(s.Action)).Inc()
	}
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// SetupWithManager watches the policies, and the remediations and plans whose outcomes are
// evidence (each change enqueues the policy named default).
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	toDefault := handler.EnqueueRequestsFromMapFunc(func(context.Context, client.Object) []reconcile.Request {
		return []reconcile.Request{{NamespacedName: client.ObjectKey{Name: kubernautv1.DefaultTrustPolicy}}}
	})
	// Only the changes that can make an outcome: a remediation planned under the policy that
	// finished, an observed plan's verdict. The rest of the chain's writes wake nothing.
	finished := predicate.NewPredicateFuncs(func(o client.Object) bool {
		rr, ok := o.(*kubernautv1.RemediationRequest)
		return ok && rr.Status.Trust != nil && rr.Status.Phase.IsFinished()
	})
	judged := predicate.NewPredicateFuncs(func(o client.Object) bool {
		we, ok := o.(*kubernautv1.WorkflowExecution)
		return ok && we.Status.Shadow != nil
	})
	return ctrl.NewControllerManagedBy(mgr).Named("trustpolicy").For(&kubernautv1.TrustPolicy{}).
		Watches(&kubernautv1.RemediationRequest{}, toDefault, builder.WithPredicates(finished)).
		Watches(&kubernautv1.WorkflowExecution{}, toDefault, builder.WithPredicates(judged)).
		Complete(r)
}

// Reconcile keeps one policy's scopes: evidence, demotions, promotions, proposals.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	p := &kubernautv1.TrustPolicy{}
	if err := r.Client.Get(ctx, req.NamespacedName, p); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	before := p.DeepCopy()
	res, err := r.keep(ctx, p)
	if err != nil {
		kubernautv1.SetCondition(&p.Status.Conditions, p.Generation, kubernautv1.ReadyCondition, metav1.ConditionFalse, kubernautv1.ReasonPolicyError, err.Error())
	}
	p.Status.ObservedGeneration = p.Generation
	if !equality.Semantic.DeepEqual(before.Status, p.Status) {
		if perr := r.Client.Status().Patch(ctx, p, client.MergeFrom(before)); perr != nil {
			return ctrl.Result{}, fmt.Errorf("patching the status of TrustPolicy %s: %w", p.Name, perr)
		}
	}
	r.Metrics.record(p)
	return res, err
}

// keep brings the policy's status up to date.
func (r *Reconciler) keep(ctx context.Context, p *kubernautv1.TrustPolicy) (ctrl.Result, error) {
	if p.Name != kubernautv1.DefaultTrustPolicy {
		kubernautv1.SetCondition(&p.Status.Conditions, p.Generation, kubernautv1.ReadyCondition, metav1.ConditionFalse, reasonInvalidSpec,
			fmt.Sprintf("Kubernaut reads only the TrustPolicy named %q", kubernautv1.DefaultTrustPolicy))
		return ctrl.Result{}, nil
	}
	problems := trust.Validate(p)
	now := r.now()
	window := 30 * 24 * time.Hour
	if p.Spec.EvidenceWindow != nil && p.Spec.EvidenceWindow.Duration > 0 {
		window = p.Spec.EvidenceWindow.Duration
	}
	since := now.Add(-window)
	outcomes, err := r.outcomes(ctx, since)
	if err != nil {
		return ctrl.Result{}, err
	}
	scopes := map[kubernautv1.TrustScope]*kubernautv1.ScopeStatus{}
	for i := range p.Status.Scopes {
		s := p.Status.Scopes[i]
		scopes[s.TrustScope] = &s
	}
	for _, o := range outcomes {
		for _, sc := range o.scopes {
			st := scopes[sc]
			if st == nil {
				if len(scopes) >= maxScopes {
					continue
				}
				st = &kubernautv1.ScopeStatus{TrustScope: sc, Level: trust.Initial(p, sc), Since: o.outcome.At, Reason: "initial level"}
				scopes[sc] = st
			}
			if !add(&st.Evidence, o.outcome) {
				continue
			}
			if trust.Demotes(o.outcome.Kind) {
				r.demote(p, st, o.outcome, now)
			}
		}
	}
	var out []kubernautv1.ScopeStatus
	for _, st := range scopes {
		prune(&st.Evidence, since)
		trust.Count(&st.Evidence)
		if err := r.bound(ctx, p, st, now); err != nil {
			return ctrl.Result{}, err
		}
		out = append(out, *st)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].TrustScope.String() < out[j].TrustScope.String() })
	p.Status.Scopes = out
	p.Status.Observing, p.Status.Approving, p.Status.Automating, p.Status.Proposals = 0, 0, 0, 0
	for _, s := range out {
		switch s.Level {
		case kubernautv1.TrustObserve:
			p.Status.Observing++
		case kubernautv1.TrustApprove:
			p.Status.Approving++
		case kubernautv1.TrustAutomate:
			p.Status.Automating++
		}
		if s.Proposal != nil {
			p.Status.Proposals++
		}
	}
	if len(problems) > 0 {
		// The scopes are still kept: a selector that does not parse selects nothing, and the
		// rest of the policy applies.
		kubernautv1.SetCondition(&p.Status.Conditions, p.Generation, kubernautv1.ReadyCondition, metav1.ConditionFalse, reasonInvalidSpec, strings.Join(problems, "; "))
	} else {
		kubernautv1.SetCondition(&p.Status.Conditions, p.Generation, kubernautv1.ReadyCondition, metav1.ConditionTrue, kubernautv1.ReasonSucceeded,
			fmt.Sprintf("%d scopes: %d observe, %d approve, %d automate; %d promotions proposed", len(out), p.Status.Observing, p.Status.Approving, p.Status.Automating, p.Status.Proposals))
	}
	// Outcomes leave the window as time passes: look again then (at the latest daily).
	return ctrl.Result{RequeueAfter: 24 * time.Hour}, nil
}

// scoped is one remediation's outcome and the scopes it is evidence for.
type scoped struct {
	outcome kubernautv1.TrustOutcome
	scopes  []kubernautv1.TrustScope
}

// outcomes are the outcomes of the finished remediations planned under a trust policy, known
// since, oldest first.
func (r *Reconciler) outcomes(ctx context.Context, since time.Time) ([]scoped, error) {
	var rrs kubernautv1.RemediationRequestList
	// Read only, so the cache's objects as they are (no copy of every remediation per look).
	if err := r.Client.List(ctx, &rrs, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing RemediationRequests: %w", err)
	}
	var out []scoped
	for i := range rrs.Items {
		rr := &rrs.Items[i]
		if rr.Status.Trust == nil || !rr.Status.Phase.IsFinished() {
			continue
		}
		var we *kubernautv1.WorkflowExecution
		if ref := rr.Status.WorkflowExecutionRef; ref != nil {
			we = &kubernautv1.WorkflowExecution{}
			if err := r.Client.Get(ctx, client.ObjectKey{Namespace: rr.Namespace, Name: ref.Name}, we); err != nil {
				if client.IgnoreNotFound(err) != nil {
					return nil, fmt.Errorf("reading WorkflowExecution %s: %w", ref.Name, err)
				}
				we = nil
			}
		}
		kind, at, ok := trust.OutcomeOf(rr, we)
		if !ok || at.Before(since) {
			continue
		}
		d := rr.Status.Trust.Scope
		out = append(out, scoped{outcome: kubernautv1.TrustOutcome{Remediation: rr.Name, UID: string(rr.UID), At: metav1.NewTime(at), Kind: kind},
			scopes: trust.Scopes(d.NamespaceGroup, d.SignalType, rr.Status.Actions)})
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].outcome.At.Before(&out[j].outcome.At) })
	return out, nil
}

// add puts an outcome into the evidence, newest first, unless it is there already or is older
// than every outcome a full list keeps (it was counted, then pruned for room); it reports
// whether it added it.
func add(e *kubernautv1.TrustEvidence, o kubernautv1.TrustOutcome) bool {
	for _, have := range e.Outcomes {
		if have.UID == o.UID && have.Remediation == o.Remediation {
			return false
		}
	}
	if n := len(e.Outcomes); n >= maxOutcomes && !o.At.After(e.Outcomes[n-1].At.Time) {
		return false
	}
	e.Outcomes = append(e.Outcomes, o)
	sort.SliceStable(e.Outcomes, func(i, j int) bool { return e.Outcomes[i].At.After(e.Outcomes[j].At.Time) })
	if len(e.Outcomes) > maxOutcomes {
		e.Outcomes = e.Outcomes[:maxOutcomes]
	}
	return true
}

// prune drops the outcomes that left the window.
func prune(e *kubernautv1.TrustEvidence, since time.Time) {
	kept := e.Outcomes[:0]
	for _, o := range e.Outcomes {
		if !o.At.Time.Before(since) {
			kept = append(kept, o)
		}
	}
	e.Outcomes = kept
}

// demote lowers a scope one level at once (not below its floor), and withdraws its proposal.
func (r *Reconciler) demote(p *kubernautv1.TrustPolicy, st *kubernautv1.ScopeStatus, o kubernautv1.TrustOutcome, now time.Time) {
	floor, _, _ := trust.Bounds(p, st.TrustScope)
	to := trust.Clamp(st.Level.Below(), floor, kubernautv1.TrustAutomate)
	st.Proposal = nil
	if to == st.Level {
		return
	}
	from := st.Level
	st.Level, st.Since, st.DemotedAt = to, metav1.NewTime(now), &metav1.Time{Time: now}
	st.Reason = kubernautv1.Truncate(fmt.Sprintf("demoted from %s: remediation %s %s", from, o.Remediation, o.Kind), 1024)
	r.Metrics.changed("demoted", st.TrustScope)
	r.event(p, corev1.EventTypeWarning, "Demoted", fmt.Sprintf("%s: %s → %s, remediation %s %s", st.TrustScope, from, to, o.Remediation, o.Kind))
}

// bound applies the limits as they are now, a confirmation, and the promotion policy.
func (r *Reconciler) bound(ctx context.Context, p *kubernautv1.TrustPolicy, st *kubernautv1.ScopeStatus, now time.Time) error {
	floor, ceiling, auto := trust.Bounds(p, st.TrustScope)
	st.Floor, st.Ceiling = floor, ceiling
	if l := trust.Clamp(st.Level, floor, ceiling); l != st.Level {
		st.Reason = fmt.Sprintf("bounded by the policy's limits (%s..%s), was %s", floor, ceiling, st.Level)
		st.Level, st.Since = l, metav1.NewTime(now)
	}
	if pr := st.Proposal; pr != nil {
		if pr.Level.Rank() <= st.Level.Rank() || pr.Level.Rank() > ceiling.Rank() {
			st.Proposal = nil // taken, or no longer allowed
		} else if confirmed(p, st.TrustScope, pr) {
			r.promote(p, st, pr.Level, "confirmed by people: "+pr.Reason, "confirmed", now)
			return nil
		}
	}
	if st.Level.Rank() >= ceiling.Rank() {
		return nil
	}
	d, err := r.decide(ctx, st)
	if err != nil || !d.Promote || kubernautv1.TrustLevel(d.To).Rank() <= st.Level.Rank() {
		return err
	}
	to := trust.Clamp(kubernautv1.TrustLevel(d.To), floor, ceiling)
	switch {
	case auto:
		r.promote(p, st, to, d.Reason, "promoted", now)
	case st.Proposal == nil || st.Proposal.Level != to:
		st.Proposal = &kubernautv1.TrustProposal{Level: to, Since: metav1.NewTime(now), Reason: kubernautv1.Truncate(d.Reason, 1024)}
		r.Metrics.changed("proposed", st.TrustScope)
		r.event(p, corev1.EventTypeNormal, "PromotionProposed", fmt.Sprintf("%s: %s → %s proposed (%s); confirm: kubectl kubernaut trust promote %s",
			st.TrustScope, st.Level, to, d.Reason, st.TrustScope))
	}
	return nil
}

func confirmed(p *kubernautv1.TrustPolicy, s kubernautv1.TrustScope, pr *kubernautv1.TrustProposal) bool {
	for _, c := range p.Spec.Confirmations {
		if c.TrustScope == s && c.Level == pr.Level && c.ProposedAt.Time.Truncate(time.Second).Equal(pr.Since.Time.Truncate(time.Second)) {
			return true
		}
	}
	return false
}

func (r *Reconciler) promote(p *kubernautv1.TrustPolicy, st *kubernautv1.ScopeStatus, to kubernautv1.TrustLevel, why, kind string, now time.Time) {
	from := st.Level
	st.Level, st.Since, st.Proposal = to, metav1.NewTime(now), nil
	st.Reason = kubernautv1.Truncate(kind+" from "+string(from)+": "+why, 1024)
	r.Metrics.changed(kind, st.TrustScope)
	r.event(p, corev1.EventTypeNormal, "Promoted", fmt.Sprintf("%s: %s → %s (%s)", st.TrustScope, from, to, st.Reason))
}

// earning is the evidence the promotion policy weighs: what earns a promotion counted since
// the scope's last demotion, what stands against one over the whole window.
func earning(st *kubernautv1.ScopeStatus) kubernautv1.TrustEvidence {
	if st.DemotedAt == nil {
		return st.Evidence
	}
	after := kubernautv1.TrustEvidence{}
	for _, o := range st.Evidence.Outcomes {
		if o.At.After(st.DemotedAt.Time) {
			after.Outcomes = append(after.Outcomes, o)
		}
	}
	trust.Count(&after)
	e := st.Evidence
	e.Observed, e.Agreed, e.Disagreed, e.ResolvedAlone, e.KeptFiring, e.Verified =
		after.Observed, after.Agreed, after.Disagreed, after.ResolvedAlone, after.KeptFiring, after.Verified
	return e
}

// decision is the promotion policy's answer.
type decision struct {
	Promote bool   `json:"promote"`
	To      string `json:"to"`
	Reason  string `json:"reason"`
}

// decide evaluates the promotion policy over a scope's evidence; it fails closed (no
// promotion) on any error.
func (r *Reconciler) decide(ctx context.Context, st *kubernautv1.ScopeStatus) (decision, error) {
	if r.Promotion == nil {
		return decision{}, nil
	}
	pq, version, err := r.Promotion.Prepared(ctx)
	if err != nil {
		return decision{}, fmt.Errorf("the promotion policy: %w", err)
	}
	e := earning(st)
	evidence := map[string]int32{"observed": e.Observed, "agreed": e.Agreed, "disagreed": e.Disagreed, "resolvedAlone": e.ResolvedAlone,
		"keptFiring": e.KeptFiring, "verified": e.Verified, "rejected": e.Rejected, "failed": e.Failed, "undone": e.Undone, "policyDenied": e.PolicyDenied}
	raw, err := json.Marshal(map[string]any{"scope": st.TrustScope, "level": st.Level, "evidence": evidence, "thresholds": r.Thresholds})
	if err != nil {
		return decision{}, fmt.Errorf("encoding the promotion policy's input: %w", err)
	}
	var input map[string]any
	if err := json.Unmarshal(raw, &input); err != nil {
		return decision{}, fmt.Errorf("encoding the promotion policy's input: %w", err)
	}
	rs, err := pq.Eval(ctx, rego.EvalInput(input))
	if err != nil {
		return decision{}, fmt.Errorf("evaluating the promotion policy (%s): %w", version, err)
	}
	var d decision
	if len(rs) != 1 || len(rs[0].Expressions) != 1 {
		return decision{}, fmt.Errorf("the promotion policy (%s) made no decision", version)
	}
	out, _ := json.Marshal(rs[0].Expressions[0].Value)
	if err := json.Unmarshal(out, &d); err != nil {
		return decision{}, fmt.Errorf("the promotion policy (%s) answered %s: %w", version, out, err)
	}
	if d.Promote && d.To != string(kubernautv1.TrustApprove) && d.To != string(kubernautv1.TrustAutomate) {
		return decision{}, fmt.Errorf("the promotion policy (%s) answered promote to %q: want approve or automate", version, d.To)
	}
	return d, nil
}

func (r *Reconciler) event(p *kubernautv1.TrustPolicy, kind, reason, note string) {
	if r.Events != nil {
		r.Events.Eventf(p, nil, kind, reason, "Trust", "%s", kubernautv1.Truncate(note, 1024))
	}
}
