package aianalysis

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/events"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/catalog"
	"github.com/kubernaut/kubernaut/terminal"
)

// Reconciler runs analyses.
type Reconciler struct {
	// Client reads AIAnalyses from the cache and writes their status.
	Client client.Client
	// Analyzers by name; Default names the one used when the analysis does not choose.
	Analyzers map[kubernautv1.AnalyzerName]Analyzer
	// Default is the configured analyzer.
	Default kubernautv1.AnalyzerName
	// Fallback answers when the chosen analyzer fails (the rules analyzer).
	Fallback Analyzer
	// Timeout bounds one analyzer call.
	Timeout time.Duration
	// Validator checks recommendations.
	Validator *Validator
	// Approver decides the approval mode.
	Approver *Approver
	// Learner adjusts confidence from past outcomes; nil: no adjustment.
	Learner *Learner
	// Metrics records latency, confidence, decisions, fallbacks and tokens; may be nil.
	Metrics *Metrics
	// Events records an event per outcome.
	Events events.EventRecorder
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

// SetupWithManager watches AIAnalyses.
func (r *Reconciler) SetupWithManager(mgr ctrl.Manager) error {
	return ctrl.NewControllerManagedBy(mgr).Named("aianalysis").For(&kubernautv1.AIAnalysis{}).Complete(r)
}

func (r *Reconciler) now() time.Time {
	if r.Now != nil {
		return r.Now()
	}
	return time.Now()
}

// Reconcile investigates, validates and decides, and writes the status once.
func (r *Reconciler) Reconcile(ctx context.Context, req ctrl.Request) (ctrl.Result, error) {
	aia := &kubernautv1.AIAnalysis{}
	if err := r.Client.Get(ctx, req.NamespacedName, aia); err != nil {
		return ctrl.Result{}, client.IgnoreNotFound(err)
	}
	switch aia.Status.Phase {
	case kubernautv1.AnalysisCompleted, kubernautv1.AnalysisFailed, kubernautv1.AnalysisRejected:
		return ctrl.Result{}, nil
	}
	before := aia.DeepCopy()
	err := r.Analyze(ctx, aia)
	aia.Status.Phase = aia.DerivePhase()
	aia.Status.ObservedGeneration = aia.Generation
	switch aia.Status.Phase {
	case kubernautv1.AnalysisCompleted, kubernautv1.AnalysisFailed, kubernautv1.AnalysisRejected:
		t := metav1.NewTime(r.now())
		aia.Status.CompletedAt = &t
		// Only a failure or a rejection is an event: the root cause and the plan of a completed
		// analysis are told by its remediation's event when the plan waits or runs.
		if aia.Status.Phase != kubernautv1.AnalysisCompleted && r.Events != nil {
			r.Events.Eventf(aia, nil, corev1.EventTypeWarning, string(aia.Status.Phase), "Analyze", "%s", meta.FindStatusCondition(aia.Status.Conditions, kubernautv1.ReadyCondition).Message)
		}
	}
	if !equality.Semantic.DeepEqual(before.Status, aia.Status) {
		if perr := r.Client.Status().Patch(ctx, aia, client.MergeFrom(before)); perr != nil {
			return ctrl.Result{}, errors.Join(err, fmt.Errorf("patching the status of AIAnalysis %s: %w", req, perr))
		}
	}
	return ctrl.Result{}, err
}

func (r *Reconciler) set(aia *kubernautv1.AIAnalysis, typ string, status metav1.ConditionStatus, reason, msg string) {
	kubernautv1.SetCondition(&aia.Status.Conditions, aia.Generation, typ, status, reason, msg)
}

// Analyze runs the three stages on aia, in memory: investigate (with fallback), validate,
// decide. It reads (the validator's targets, the policies, the learner's outcomes) but writes
// nothing, so that `kubernaut backtest` asks exactly what the live chain asks.
func (r *Reconciler) Analyze(ctx context.Context, aia *kubernautv1.AIAnalysis) error {
	if aia.Status.StartedAt == nil {
		t := metav1.NewTime(r.now())
		aia.Status.StartedAt = &t
	}
	if !meta.IsStatusConditionTrue(aia.Status.Conditions, kubernautv1.InvestigatedCondition) {
		res, name, fallbackReason, err := r.investigate(ctx, aia)
		if err != nil {
			msg := "no analyzer could answer: " + err.Error()
			r.set(aia, kubernautv1.InvestigatedCondition, metav1.ConditionFalse, kubernautv1.ReasonAnalyzerFailed, msg)
			r.set(aia, kubernautv1.ReadyCondition, metav1.ConditionFalse, kubernautv1.ReasonFailed, msg)
			return nil
		}
		aia.Status.Analyzer, aia.Status.InvestigationID = name, res.InvestigationID
		aia.Status.Fallback, aia.Status.FallbackReason = fallbackReason != "", kubernautv1.Truncate(fallbackReason, 1024)
		aia.Status.RawResponse = kubernautv1.Truncate(res.Raw, 32768)
		rc, rec := sanitize(res)
		aia.Status.RootCause, aia.Status.Recommendation = &rc, &rec
		reason, msg := kubernautv1.ReasonRootCauseFound, rc.Summary
		if aia.Status.Fallback {
			reason, msg = kubernautv1.ReasonFallback, fmt.Sprintf("%s answered because %s: %s", name, fallbackReason, rc.Summary)
		}
		r.set(aia, kubernautv1.InvestigatedCondition, metav1.ConditionTrue, reason, msg)
	}

	problems, err := r.Validator.Validate(ctx, aia, aia.Status.Recommendation)
	if err != nil {
		return err
	}
	if len(problems) > 0 {
		if len(problems) > 32 {
			problems = problems[:32]
		}
		for i := range problems {
			problems[i] = kubernautv1.Truncate(problems[i], 1024)
		}
		aia.Status.ValidationErrors = problems
		r.Metrics.refused()
		msg := fmt.Sprintf("the recommendation was refused: %s", strings.Join(problems, "; "))
		r.set(aia, kubernautv1.RecommendedCondition, metav1.ConditionFalse, kubernautv1.ReasonInvalidRecommendation, msg)
		r.set(aia, kubernautv1.ReadyCondition, metav1.ConditionFalse, kubernautv1.ReasonRejected, msg)
		// Nothing invalid is kept as a plan.
		aia.Status.Recommendation.Steps = nil
		return nil
	}
	steps := len(aia.Status.Recommendation.Steps)
	if steps == 0 {
		r.set(aia, kubernautv1.RecommendedCondition, metav1.ConditionTrue, kubernautv1.ReasonNoActionRecommended, "no action recommended: a person must look")
		aia.Status.Approval = &kubernautv1.ApprovalDecision{Mode: kubernautv1.ApprovalManual, Reasons: []string{"no action recommended: a person must look"}}
		r.set(aia, kubernautv1.ApprovalDecidedCondition, metav1.ConditionTrue, kubernautv1.ReasonApprovalDecided, "nothing to approve")
		r.set(aia, kubernautv1.ReadyCondition, metav1.ConditionTrue, kubernautv1.ReasonSucceeded, "analysis complete: no action recommended")
		return nil
	}
	r.set(aia, kubernautv1.RecommendedCondition, metav1.ConditionTrue, kubernautv1.ReasonRecommendationValid, fmt.Sprintf("%d valid steps", steps))

	if aia.Status.ConfidenceAdjustments == nil {
		adj, confidence, err := r.Learner.Adjust(ctx, aia, aia.Status.RootCause.Confidence, r.now())
		if err != nil {
			return err
		}
		aia.Status.ConfidenceAdjustments = adj
		aia.Status.RootCause.Confidence = confidence
	}
	decision, version, err := r.Approver.Decide(ctx, aia, aia.Status.RootCause.Confidence, aia.Status.Fallback)
	switch {
	case terminal.Is(err):
		msg := "approval policy: " + terminal.Message(err)
		r.set(aia, kubernautv1.ApprovalDecidedCondition, metav1.ConditionFalse, kubernautv1.ReasonPolicyError, msg)
		r.set(aia, kubernautv1.ReadyCondition, metav1.ConditionFalse, kubernautv1.ReasonFailed, msg)
		return err
	case err != nil:
		return fmt.Errorf("deciding the approval: %w", err)
	}
	aia.Status.Approval = decision
	r.Metrics.decided(decision.Mode, aia.Status.RootCause.Confidence)
	r.set(aia, kubernautv1.ApprovalDecidedCondition, metav1.ConditionTrue, kubernautv1.ReasonApprovalDecided,
		fmt.Sprintf("%s (%s): %s", decision.Mode, version, strings.Join(decision.Reasons, "; ")))
	r.set(aia, kubernautv1.ReadyCondition, metav1.ConditionTrue, kubernautv1.ReasonSucceeded,
		fmt.Sprintf("analysis complete: %d steps, approval %s", steps, decision.Mode))
	return nil
}

// investigate asks the chosen analyzer, and the fallback when it fails. It returns the
// result, who answered and, for a fallback, why.
func (r *Reconciler) investigate(ctx context.Context, aia *kubernautv1.AIAnalysis) (*Result, kubernautv1.AnalyzerName, string, error) {
	name := aia.Spec.Analyzer
	if name == "" {
		name = r.Default
	}
	primary, ok := r.Analyzers[name]
	var primaryErr error
	if ok {
		actx, cancel := context.WithTimeout(ctx, r.Timeout)
		start := r.now()
		res, err := primary.Analyze(actx, aia)
		cancel()
		tokens := 0
		if res != nil {
			tokens = res.Tokens
		}
		r.Metrics.analyzed(name, err, r.now().Sub(start), tokens)
		if err == nil {
			return res, name, "", nil
		}
		primaryErr = fmt.Errorf("analyzer %s failed: %w", name, err)
	} else {
		primaryErr = fmt.Errorf("analyzer %s is not configured", name)
	}
	if r.Fallback == nil || r.Fallback == primary {
		return nil, "", "", primaryErr
	}
	r.Metrics.fallback()
	res, err := r.Fallback.Analyze(ctx, aia)
	if err != nil {
		return nil, "", "", errors.Join(primaryErr, fmt.Errorf("fallback %s failed: %w", r.Fallback.Name(), err))
	}
	return res, r.Fallback.Name(), primaryErr.Error(), nil
}

// sanitize bounds an analyzer's free text to what the API stores and drops alternatives that
// name no catalog action, so that an answer can always be recorded; the steps are judged by
// the validator, not here.
func sanitize(res *Result) (kubernautv1.RootCause, kubernautv1.Recommendation) {
	rc := res.RootCause
	rc.Summary = kubernautv1.Truncate(rc.Summary, 1024)
	if rc.Summary == "" {
		rc.Summary = "(no summary given)"
	}
	rc.Confidence = min(max(rc.Confidence, 0), 1)
	if len(rc.Evidence) > 20 {
		rc.Evidence = rc.Evidence[:20]
	}
	for i := range rc.Evidence {
		rc.Evidence[i].Source = kubernautv1.Truncate(rc.Evidence[i].Source, 63)
		rc.Evidence[i].Fact = kubernautv1.Truncate(rc.Evidence[i].Fact, 1024)
	}
	rec := res.Recommendation
	rec.Rationale = kubernautv1.Truncate(rec.Rationale, 4096)
	for i := range rec.Steps {
		rec.Steps[i].Rationale = kubernautv1.Truncate(rec.Steps[i].Rationale, 2048)
	}
	var alts []kubernautv1.Alternative
	for _, a := range rec.Alternatives {
		if _, err := catalog.Lookup(a.Action); err == nil && len(alts) < 10 {
			alts = append(alts, kubernautv1.Alternative{Action: a.Action, Reason: kubernautv1.Truncate(a.Reason, 1024)})
		}
	}
	rec.Alternatives = alts
	return rc, rec
}
