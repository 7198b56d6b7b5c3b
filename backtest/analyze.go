package backtest

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/controllers/aianalysis"
	"github.com/kubernaut/kubernaut/controllers/remediationprocessing"
	"github.com/kubernaut/kubernaut/gateway"
	kubernautrego "github.com/kubernaut/kubernaut/rego"
	"github.com/kubernaut/kubernaut/terminal"
	"github.com/kubernaut/kubernaut/trust"
)

// What the analysis stages made of a remediation (Verdict.Mode, beside the approval modes).
const (
	// ModeNoAction: the analyzer recommended nothing (a person must look).
	ModeNoAction = "no-action"
	// ModeTargetGone: neither the alert's target nor its workload exists now.
	ModeTargetGone = "target-gone"
	// ModePolicyDenied: the safety policy refused a step (the plan ends Rejected before its
	// approval).
	ModePolicyDenied = "policy-denied"
)

// Verdict is what the live chain's analysis would make of one remediation now.
type Verdict struct {
	// Target is what was analyzed: the alert's target, or its workload when the pod it named
	// is gone.
	Target kubernautv1.Target `json:"target"`
	// SignalType is the classification's.
	SignalType string `json:"signalType,omitempty"`
	// RootCause and Confidence are the analyzer's.
	RootCause  string  `json:"rootCause,omitempty"`
	Confidence float64 `json:"confidence,omitempty"`
	// Actions are the recommended steps' actions.
	Actions []kubernautv1.ActionName `json:"actions,omitempty"`
	// Decided is the approval policy's decision; Level the trust level of the plan's least
	// trusted scope ("" without a TrustPolicy).
	Decided kubernautv1.ApprovalMode `json:"decided,omitempty"`
	Level   kubernautv1.TrustLevel   `json:"level,omitempty"`
	// Mode is how the plan would have gone: Auto, Manual, Observe, Rejected, or ModeNoAction,
	// ModeTargetGone.
	Mode string `json:"mode"`
	// Reasons are the approval policy's (the safety policy's, the validator's when they
	// refused).
	Reasons []string `json:"reasons,omitempty"`
	// Analyzer answered; Fallback: the rules, because the chosen analyzer failed (a fallback
	// never runs without a person).
	Analyzer kubernautv1.AnalyzerName `json:"analyzer,omitempty"`
	Fallback bool                     `json:"fallback,omitempty"`
}

// Analysis runs the live chain's analysis stages — enrichment against the cluster as it is
// now, the classification policy, the analyzer, the approval policy and the trust levels —
// for the remediations of a replay, writing nothing. An enrichment is made once per target.
type Analysis struct {
	// Enricher reads the targets' context (a read-only client).
	Enricher *remediationprocessing.Enricher
	// Classifier is the classification policy.
	Classifier *remediationprocessing.Classifier
	// Stages are the live chain's analysis stages (aianalysis.Reconciler.Analyze): the
	// analyzer (the rules; HolmesGPT when configured) with the rules as its fallback, the
	// validator, the approval policy. Give it analyzers that Remember, so that each distinct
	// question is asked once.
	Stages *aianalysis.Reconciler
	// Safety is the safety policy, evaluated for each step at the alert's time (its change
	// freezes included); nil skips it.
	Safety *kubernautrego.Safety
	// Trust is the TrustPolicy as it is now; nil: none (the approval policy decides).
	Trust *kubernautv1.TrustPolicy
	// Reader reads namespaces (their trust group) and the workloads of pods long gone.
	Reader client.Reader
	// Namespace is where the live chain's analyses are (the policy namespace).
	Namespace string
	// Enrichments keeps each target's enrichment; analyses of one history that share it
	// (a --policy-dir pass) read each target once. Nil: the analysis keeps its own.
	Enrichments *Enrichments

	planned map[kubernautv1.Target][]time.Time
}

// recent counts the plans of target in the hour before at (the safety policy weighs it).
func (a *Analysis) recent(target kubernautv1.Target, at time.Time) int {
	n := 0
	for _, t := range a.planned[target] {
		if t.After(at.Add(-time.Hour)) && !t.After(at) {
			n++
		}
	}
	return n
}

// ran notes a plan of target at.
func (a *Analysis) ran(target kubernautv1.Target, at time.Time) {
	if a.planned == nil {
		a.planned = map[kubernautv1.Target][]time.Time{}
	}
	a.planned[target] = append(a.planned[target], at)
}

// Enrichments are targets' enrichments, made once (NewEnrichments).
type Enrichments struct {
	m map[kubernautv1.Target]*enriched
}

// NewEnrichments returns an empty set.
func NewEnrichments() *Enrichments {
	return &Enrichments{m: map[kubernautv1.Target]*enriched{}}
}

type enriched struct {
	target kubernautv1.Target
	e      *kubernautv1.Enrichment
	gone   bool
}

// Analyze sets the verdict of every remediation among decisions.
func (a *Analysis) Analyze(ctx context.Context, decisions []Decision) error {
	for i := range decisions {
		if decisions[i].Outcome != OutcomeRemediation {
			continue
		}
		v, err := a.verdict(ctx, decisions[i])
		if err != nil {
			return fmt.Errorf("analyzing the alert %s of %s at %s: %w", decisions[i].Labels["alertname"], decisions[i].Target, decisions[i].Start.Format(time.RFC3339), err)
		}
		decisions[i].Verdict = v
	}
	return nil
}

func (a *Analysis) verdict(ctx context.Context, d Decision) (*Verdict, error) {
	en, err := a.enrich(ctx, d.Target)
	if err != nil {
		return nil, err
	}
	v := &Verdict{Target: en.target}
	if en.gone {
		v.Mode = ModeTargetGone
		return v, nil
	}
	signal := kubernautv1.Signal{Fingerprint: d.Fingerprint, Name: d.Labels["alertname"], Source: kubernautv1.SignalSourceAlertmanager,
		Severity: gateway.NormalizeSeverity(d.Labels["severity"]), Labels: d.Labels, StartsAt: metav1.NewTime(d.Start)}
	rp := &kubernautv1.RemediationProcessing{Spec: kubernautv1.RemediationProcessingSpec{Signal: signal, Target: en.target}}
	class, _, err := a.Classifier.Classify(ctx, rp, en.e)
	if err != nil {
		return nil, fmt.Errorf("the classification policy: %w", err)
	}
	v.SignalType = class.SignalType
	// As the live chain's AIAnalysis, in the policy namespace: investigated, validated (the
	// validator's static checks), decided.
	aia := &kubernautv1.AIAnalysis{ObjectMeta: metav1.ObjectMeta{Namespace: a.Namespace},
		Spec: kubernautv1.AIAnalysisSpec{Signal: signal, Target: en.target, Enrichment: en.e, Classification: class}}
	if err := a.Stages.Analyze(ctx, aia); err != nil {
		return nil, err
	}
	st := aia.Status
	if st.RootCause != nil {
		v.RootCause, v.Confidence = st.RootCause.Summary, st.RootCause.Confidence
	}
	v.Analyzer, v.Fallback = st.Analyzer, st.Fallback
	ready := meta.FindStatusCondition(st.Conditions, kubernautv1.ReadyCondition)
	switch {
	case ready != nil && ready.Status == metav1.ConditionFalse && ready.Reason == kubernautv1.ReasonRejected:
		// The validator refused the answer.
		v.Mode, v.Reasons = string(kubernautv1.ApprovalRejected), st.ValidationErrors
		return v, nil
	case ready == nil || ready.Status != metav1.ConditionTrue:
		msg := "no verdict"
		if ready != nil {
			msg = ready.Message
		}
		return nil, fmt.Errorf("the analysis: %s", msg)
	case st.Recommendation == nil || len(st.Recommendation.Steps) == 0:
		v.Mode = ModeNoAction
		return v, nil
	}
	steps := st.Recommendation.Steps
	v.Actions = kubernautv1.StepActions(steps)
	decision := st.Approval
	v.Decided, v.Reasons, v.Mode = decision.Mode, decision.Reasons, string(decision.Mode)
	if decision.Mode == kubernautv1.ApprovalRejected {
		// The analysis ends the remediation: no plan is made, no policy asked.
		return v, nil
	}
	// A plan is made: it counts for the next plans of its target whatever the safety policy
	// says of it, as its WorkflowExecution does.
	sc := kubernautrego.AnalysisContext(class, en.e)
	sc.RecentRemediations = a.recent(en.target, d.Start)
	a.ran(en.target, d.Start)
	if a.Safety != nil {
		var denied []string
		for _, step := range steps {
			verdict, err := a.Safety.Evaluate(ctx, step, sc, d.Start)
			if err != nil {
				return nil, fmt.Errorf("the safety policy: %w", err)
			}
			if !verdict.Allowed {
				denied = append(denied, verdict.Violations...)
			}
		}
		if len(denied) > 0 {
			v.Mode, v.Reasons = ModePolicyDenied, denied
			return v, nil
		}
	}
	if a.Trust != nil {
		group := trust.ClusterGroup
		if ns := en.target.Namespace; ns != "" {
			labels, err := a.namespaceLabels(ctx, ns)
			if err != nil {
				return nil, err
			}
			group = trust.Group(a.Trust, labels)
		}
		v.Level, _ = trust.PlanLevel(a.Trust, trust.Scopes(group, class.SignalType, v.Actions))
		v.Mode = string(trust.Mode(v.Level, decision.Mode))
	}
	return v, nil
}

// podName is a pod's name as its workload names it: <deployment>-<replicaset hash>-<suffix>,
// or <statefulset|daemonset>-<suffix>.
var (
	deploymentPod = regexp.MustCompile(`^(.+)-[a-z0-9]{5,10}-[a-z0-9]{5}$`)
	otherPod      = regexp.MustCompile(`^(.+)-[a-z0-9]+$`)
)

// enrich enriches a target once; a pod that is gone (a month-old alert's pod usually is) is
// replaced by its workload when one of the name its pods carry exists now.
func (a *Analysis) enrich(ctx context.Context, t kubernautv1.Target) (*enriched, error) {
	if a.Enrichments == nil {
		a.Enrichments = NewEnrichments()
	}
	cache := a.Enrichments.m
	if en, ok := cache[t]; ok {
		return en, nil
	}
	e, err := a.Enricher.Enrich(ctx, t)
	switch {
	case err == nil:
		cache[t] = &enriched{target: t, e: e}
	case terminal.Is(err) && t.Kind == kubernautv1.TargetKindPod:
		w, err := a.workloadOf(ctx, t)
		if err != nil {
			return nil, err
		}
		if w == nil {
			cache[t] = &enriched{target: t, gone: true}
			break
		}
		en, err := a.enrich(ctx, *w)
		if err != nil {
			return nil, err
		}
		cache[t] = en
	case terminal.Is(err):
		cache[t] = &enriched{target: t, gone: true}
	default:
		return nil, fmt.Errorf("enriching %s: %w", t, err)
	}
	return cache[t], nil
}

// workloadOf finds the workload a gone pod's name says it belonged to, as it exists now.
func (a *Analysis) workloadOf(ctx context.Context, pod kubernautv1.Target) (*kubernautv1.Target, error) {
	try := func(kind kubernautv1.TargetKind, name string, obj client.Object) (*kubernautv1.Target, error) {
		err := a.Reader.Get(ctx, client.ObjectKey{Namespace: pod.Namespace, Name: name}, obj)
		switch {
		case apierrors.IsNotFound(err):
			return nil, nil
		case err != nil:
			return nil, fmt.Errorf("reading %s %s/%s: %w", kind, pod.Namespace, name, err)
		}
		return &kubernautv1.Target{Kind: kind, Namespace: pod.Namespace, Name: name}, nil
	}
	if m := deploymentPod.FindStringSubmatch(pod.Name); m != nil {
		if w, err := try(kubernautv1.TargetKindDeployment, m[1], &appsv1.Deployment{}); w != nil || err != nil {
			return w, err
		}
	}
	if m := otherPod.FindStringSubmatch(pod.Name); m != nil {
		if w, err := try(kubernautv1.TargetKindStatefulSet, m[1], &appsv1.StatefulSet{}); w != nil || err != nil {
			return w, err
		}
		return try(kubernautv1.TargetKindDaemonSet, m[1], &appsv1.DaemonSet{})
	}
	return nil, nil
}

// namespaceLabels reads a namespace's labels (none when it is gone).
func (a *Analysis) namespaceLabels(ctx context.Context, name string) (map[string]string, error) {
	ns := &corev1.Namespace{}
	if err := a.Reader.Get(ctx, client.ObjectKey{Name: name}, ns); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		return nil, fmt.Errorf("reading namespace %s for its trust group: %w", name, err)
	}
	return ns.Labels, nil
}

// Remember wraps analyzers so that each distinct question — the same alert (its labels) about
// the same target, classified alike, enriched once (the cluster as it is now) — is put to each
// once, however many analyses ask it: a flapping alert is one question however often it fired,
// and a second pass with candidate policies asks nothing again. fallback is the one of
// analyzers the stages fall back to; its wrapped self is returned beside them.
func Remember(analyzers map[kubernautv1.AnalyzerName]aianalysis.Analyzer, fallback aianalysis.Analyzer) (map[kubernautv1.AnalyzerName]aianalysis.Analyzer, aianalysis.Analyzer) {
	out := make(map[kubernautv1.AnalyzerName]aianalysis.Analyzer, len(analyzers))
	for name, an := range analyzers {
		m := &memo{Analyzer: an, answers: map[string]*aianalysis.Result{}}
		if an == fallback {
			fallback = m
		}
		out[name] = m
	}
	return out, fallback
}

// memo is an analyzer that Remembers.
type memo struct {
	aianalysis.Analyzer
	answers map[string]*aianalysis.Result
}

// Analyze answers from memory, or asks; a failure is not remembered (the fallback answers it).
func (m *memo) Analyze(ctx context.Context, aia *kubernautv1.AIAnalysis) (*aianalysis.Result, error) {
	key, err := json.Marshal([]any{aia.Spec.Target, aia.Spec.Signal.Labels, aia.Spec.Classification})
	if err != nil {
		return nil, err
	}
	if res, ok := m.answers[string(key)]; ok {
		return copyResult(res), nil
	}
	res, err := m.Analyzer.Analyze(ctx, aia)
	if err != nil {
		return nil, err
	}
	m.answers[string(key)] = copyResult(res)
	return res, nil
}

// copyResult is a deep copy: the stages bound and edit what they get.
func copyResult(r *aianalysis.Result) *aianalysis.Result {
	c := *r
	c.RootCause = *r.RootCause.DeepCopy()
	c.Recommendation = *r.Recommendation.DeepCopy()
	return &c
}
