package aianalysis

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/rego"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/catalog"
	kubernautrego "github.com/kubernaut/kubernaut/rego"
	"github.com/kubernaut/kubernaut/terminal"
)

// Approver evaluates the approval policy.
type Approver struct {
	// Policy is the approval policy (embedded, or a ConfigMap override).
	Policy *kubernautrego.Policy
	// AutoThreshold (at and above it a plan may run without a person) and RejectThreshold
	// (below it the plan is Rejected) are the confidence thresholds handed to the policy.
	AutoThreshold, RejectThreshold float64
}

// NewApprover returns an approver of the embedded policy, overridable by the key
// approval.rego of ConfigMap namespace/name.
func NewApprover(reader client.Reader, namespace, name string, auto, reject float64) *Approver {
	return &Approver{AutoThreshold: auto, RejectThreshold: reject, Policy: &kubernautrego.Policy{
		File: "approval.rego", Query: "data.kubernaut.approval.decision", Reader: reader, Namespace: namespace, ConfigMap: name,
	}}
}

// The policy ConfigMap's keys that override the confidence thresholds the flags set
// (--auto-approve-threshold, --reject-threshold), re-read at every decision.
const (
	AutoApproveThresholdKey = "autoApproveThreshold"
	RejectThresholdKey      = "rejectThreshold"
)

// thresholds returns the confidence thresholds of this decision: the flags', or the policy
// ConfigMap's keys when set. A key that is not a number in [0, 1], or an auto-approval
// threshold below the rejection threshold, fails the decision (it never falls back to the
// flags silently: someone meant to change them).
func (a *Approver) thresholds(cm *corev1.ConfigMap) (auto, reject float64, version string, err error) {
	auto, reject = a.AutoThreshold, a.RejectThreshold
	if cm == nil {
		return auto, reject, "", nil
	}
	for _, t := range []struct {
		key  string
		into *float64
	}{{AutoApproveThresholdKey, &auto}, {RejectThresholdKey, &reject}} {
		key, into := t.key, t.into
		raw, ok := cm.Data[key]
		if !ok {
			continue
		}
		v, perr := strconv.ParseFloat(strings.TrimSpace(raw), 64)
		if perr != nil || v < 0 || v > 1 {
			return 0, 0, "", fmt.Errorf("ConfigMap %s/%s key %s: %q is not a confidence between 0 and 1", cm.Namespace, cm.Name, key, raw)
		}
		*into = v
		version = fmt.Sprintf("thresholds configmap %s/%s@%s", cm.Namespace, cm.Name, cm.ResourceVersion)
	}
	if auto < reject {
		return 0, 0, "", fmt.Errorf("ConfigMap %s/%s: %s %.2f is below %s %.2f", cm.Namespace, cm.Name, AutoApproveThresholdKey, auto, RejectThresholdKey, reject)
	}
	return auto, reject, version, nil
}

// Decide returns the approval decision for a validated plan, and the versions of the policy
// and thresholds it used. Failing to read the policy is transient; everything after is the
// policy's (or its settings') own answer, which the same input gives again: terminal.
func (a *Approver) Decide(ctx context.Context, aia *kubernautv1.AIAnalysis, confidence float64, fallback bool) (_ *kubernautv1.ApprovalDecision, _ string, err error) {
	pq, version, cm, err := a.Policy.PreparedWithConfig(ctx)
	if err != nil {
		return nil, "", err
	}
	defer func() { err = terminal.Error(err) }()
	auto, reject, tv, err := a.thresholds(cm)
	if err != nil {
		return nil, version, err
	}
	tuned, err := kubernautrego.ParseSafetyConfig(cm)
	if err != nil {
		return nil, version, err
	}
	if tv != "" {
		version += ", " + tv
	}
	var steps []map[string]any
	for _, s := range aia.Status.Recommendation.Steps {
		entry, err := catalog.Lookup(s.Action)
		if err != nil {
			return nil, version, err
		}
		steps = append(steps, map[string]any{"name": s.Name, "action": string(s.Action), "risk": string(entry.Risk), "targetKind": string(s.Target.Kind)})
	}
	env, severity := "unknown", string(aia.Spec.Signal.Severity)
	if c := aia.Spec.Classification; c != nil {
		env, severity = string(c.Environment), string(c.Severity)
	}
	failed := []string{}
	if e := aia.Spec.Enrichment; e != nil {
		for _, f := range e.FailedDetections {
			failed = append(failed, f.Detection)
		}
	}
	// The analyzer's own confidence, before past outcomes adjusted it: learning alone never
	// lifts a plan across the auto-approval threshold (approval.rego).
	analyzer := confidence
	for _, adj := range aia.Status.ConfidenceAdjustments {
		analyzer -= adj.Delta
	}
	analyzer = min(max(analyzer, 0), 1)
	in := map[string]any{
		"confidence": confidence, "analyzerConfidence": analyzer, "fallback": fallback, "environment": env, "severity": severity,
		"failedDetections": failed, "steps": steps,
		// "manual" is the rejection threshold's former name, kept for one release: policy
		// overrides written for it still read it.
		"thresholds": map[string]any{"auto": auto, "reject": reject, "manual": reject},
	}
	if v, ok := tuned["unknownEnvironment"]; ok {
		in["unknownEnvironment"] = v // what an undeclared environment counts as (production by default)
	}
	rs, err := pq.Eval(ctx, rego.EvalInput(in))
	if err != nil {
		return nil, version, fmt.Errorf("evaluating the approval policy (%s): %w", version, err)
	}
	if len(rs) != 1 || len(rs[0].Expressions) != 1 {
		return nil, version, fmt.Errorf("the approval policy (%s) gave no decision", version)
	}
	raw, _ := json.Marshal(rs[0].Expressions[0].Value)
	var d struct {
		Mode    string   `json:"mode"`
		Reasons []string `json:"reasons"`
		Quorum  *struct {
			Approvers        *int   `json:"approvers"`
			SeparationWindow string `json:"separationWindow"`
		} `json:"quorum"`
	}
	if err := json.Unmarshal(raw, &d); err != nil {
		return nil, version, fmt.Errorf("the approval policy (%s) answered %s: %w", version, raw, err)
	}
	mode := kubernautv1.ApprovalMode(d.Mode)
	switch mode {
	case kubernautv1.ApprovalAuto, kubernautv1.ApprovalManual, kubernautv1.ApprovalRejected:
	default:
		return nil, version, fmt.Errorf("the approval policy (%s) answered mode %q: want Auto, Manual or Rejected", version, d.Mode)
	}
	if fallback && mode == kubernautv1.ApprovalAuto {
		// Whatever a policy override says, a fallback never auto-approves.
		mode, d.Reasons = kubernautv1.ApprovalManual, append(d.Reasons, "the analysis is a fallback: a fallback never auto-approves")
	}
	if len(d.Reasons) > 16 {
		d.Reasons = d.Reasons[:16]
	}
	out := &kubernautv1.ApprovalDecision{Mode: mode, Reasons: d.Reasons}
	if mode == kubernautv1.ApprovalManual {
		// A person's approval needs its quorum spelt out: an override that forgets it fails
		// the decision rather than letting one person approve anything.
		if d.Quorum == nil || d.Quorum.Approvers == nil {
			return nil, version, fmt.Errorf("the approval policy (%s) answered Manual without quorum.approvers: "+
				`a Manual decision names how many distinct people must approve, e.g. "quorum": {"approvers": 2, "separationWindow": "1h"}`, version)
		}
		if q := d.Quorum; *q.Approvers < 1 || *q.Approvers > maxApprovers {
			return nil, version, fmt.Errorf("the approval policy (%s) answered quorum.approvers %d: want 1 to %d", version, *q.Approvers, maxApprovers)
		}
		window, err := time.ParseDuration(d.Quorum.SeparationWindow)
		if d.Quorum.SeparationWindow == "" {
			window, err = 0, nil
		}
		if err != nil || window < 0 || window > maxSeparationWindow {
			return nil, version, fmt.Errorf("the approval policy (%s) answered quorum.separationWindow %q: want a duration from 0s to %s",
				version, d.Quorum.SeparationWindow, maxSeparationWindow)
		}
		out.Quorum = &kubernautv1.Quorum{Approvers: int32(*d.Quorum.Approvers), SeparationWindow: metav1.Duration{Duration: window}}
	}
	return out, version, nil
}

// The bounds of a quorum the approval policy may ask for.
const (
	maxApprovers        = 5
	maxSeparationWindow = 30 * 24 * time.Hour
)
