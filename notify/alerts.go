// Package notify tells people what Kubernaut does and asks them where they already are:
// Kubernaut posts its own alerts to the user's Alertmanager (API v2), which routes them to
// Slack, PagerDuty, e-mail or any receiver, and resolves them when the situation ends. The
// alerts are derived from the remediations' state, level-based: a restart, a lost post or a
// second replica changes nothing that the next sync does not put right. Every text that leaves
// the cluster — root causes, messages, a diff (which may show a ConfigMap's values) — passes
// through redact/ first.
package notify

import (
	"fmt"
	"maps"
	"sort"
	"strconv"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/redact"
)

// The alerts Kubernaut posts (their alertname label).
const (
	// ApprovalRequired fires while a plan waits for a person's approval.
	ApprovalRequired = "KubernautApprovalRequired"
	// Remediating fires while a plan runs or is verified; it carries the source alert's labels,
	// so that an inhibit rule can stop paging for an alert Kubernaut is already fixing.
	Remediating = "KubernautRemediating"
	// RemediationFailed fires for a while after a remediation failed or timed out.
	RemediationFailed = "KubernautRemediationFailed"
	// CompensationFailed fires while the undo of a failed plan has failed: a person must look.
	CompensationFailed = "KubernautCompensationFailed"
)

// Labels on every alert Kubernaut posts.
const (
	// LabelRemediation names the RemediationRequest, LabelRemediationNamespace its namespace.
	LabelRemediation          = "kubernaut_remediation"
	LabelRemediationNamespace = "kubernaut_namespace"
	// LabelSourceAlertname is the name of the alert that started the remediation.
	LabelSourceAlertname = "source_alertname"
	// LabelSourceSeverity is its severity.
	LabelSourceSeverity = "source_severity"
)

// Alert is an alert as Alertmanager's API v2 takes it (postableAlert).
type Alert struct {
	// Labels identify the alert; alertname among them.
	Labels map[string]string `json:"labels"`
	// Annotations say what it is about.
	Annotations map[string]string `json:"annotations,omitempty"`
	// StartsAt is when the situation began.
	StartsAt time.Time `json:"startsAt,omitzero"`
	// EndsAt is when it ends: in the future while it fires (re-posted before then), now when
	// it resolves.
	EndsAt time.Time `json:"endsAt,omitzero"`
	// GeneratorURL links to where a person sees it (the plan's Workflow in the Argo UI, when
	// the argo engine runs it and --argo-ui-url is set).
	GeneratorURL string `json:"generatorURL,omitempty"`
}

// key identifies an alert across syncs: its name and its remediation.
func (a Alert) key() string { return a.Labels["alertname"] + "/" + a.owner() }

// owner is the alert's remediation as namespace/name.
func (a Alert) owner() string {
	return a.Labels[LabelRemediationNamespace] + "/" + a.Labels[LabelRemediation]
}

// same reports whether two alerts say the same (a change is posted at once).
func same(a, b Alert) bool {
	return maps.Equal(a.Labels, b.Labels) && maps.Equal(a.Annotations, b.Annotations) && a.StartsAt.Equal(b.StartsAt) && a.GeneratorURL == b.GeneratorURL
}

// Options shape the alerts.
type Options struct {
	// Namespace is where the remediations are listed (all namespaces when empty).
	Namespace string
	// FailureFor is how long RemediationFailed fires after the remediation ended (4 h when
	// zero).
	FailureFor time.Duration
}

// Desired is what alerts a remediation and its plan (nil when none yet) warrant at now.
func Desired(rr *kubernautv1.RemediationRequest, we *kubernautv1.WorkflowExecution, o Options, now time.Time) []Alert {
	var out []Alert
	switch phase := rr.Status.Phase; {
	case phase == kubernautv1.RemediationPhaseAwaitingApproval && we != nil && we.Status.Plan != nil:
		out = append(out, approvalRequired(rr, we))
	case phase == kubernautv1.RemediationPhaseExecuting || phase == kubernautv1.RemediationPhaseVerifying:
		out = append(out, remediating(rr, we))
	case phase == kubernautv1.RemediationPhaseFailed || phase == kubernautv1.RemediationPhaseTimedOut:
		failureFor := o.FailureFor
		if failureFor <= 0 {
			failureFor = 4 * time.Hour
		}
		if end := rr.Status.CompletedAt; end == nil || now.Sub(end.Time) < failureFor {
			out = append(out, remediationFailed(rr, we))
		}
	}
	if we != nil {
		if c := meta.FindStatusCondition(we.Status.Conditions, kubernautv1.CompensatedCondition); c != nil &&
			c.Status == metav1.ConditionFalse && c.Reason == kubernautv1.ReasonCompensationFailed &&
			we.Annotations[kubernautv1.ReleaseUndoAnnotation] == "" {
			out = append(out, compensationFailed(rr, we, c))
		}
	}
	return out
}

// target is what the remediation acts on: its plan's blast radius, else the alert's target.
func target(rr *kubernautv1.RemediationRequest, we *kubernautv1.WorkflowExecution) kubernautv1.Target {
	if we != nil && we.Spec.Target.Name != "" {
		return we.Spec.Target
	}
	return rr.Spec.Target
}

// base is the labels and the link every alert of rr has.
func base(alertname, severity string, rr *kubernautv1.RemediationRequest, we *kubernautv1.WorkflowExecution) Alert {
	t := target(rr, we)
	labels := map[string]string{
		"alertname":               alertname,
		"severity":                severity,
		"target_kind":             string(t.Kind),
		"target_name":             t.Name,
		LabelRemediation:          rr.Name,
		LabelRemediationNamespace: rr.Namespace,
		LabelSourceAlertname:      rr.Spec.Signal.Name,
	}
	if t.Namespace != "" {
		labels["namespace"] = t.Namespace
	}
	if s := rr.Spec.Signal.Severity; s != "" {
		labels[LabelSourceSeverity] = string(s)
	}
	a := Alert{Labels: labels, Annotations: map[string]string{}}
	if we != nil && we.Status.WorkflowRef != nil {
		a.GeneratorURL = we.Status.WorkflowRef.UIURL
	}
	return a
}

func since(c *metav1.Condition, fallback *metav1.Time) time.Time {
	switch {
	case c != nil:
		return c.LastTransitionTime.Time
	case fallback != nil:
		return fallback.Time
	}
	return time.Time{}
}

func approvalRequired(rr *kubernautv1.RemediationRequest, we *kubernautv1.WorkflowExecution) Alert {
	a := base(ApprovalRequired, "warning", rr, we)
	t := target(rr, we)
	a.Annotations["summary"] = fmt.Sprintf("Kubernaut's plan for %s (%s) waits for approval: %s", t, rr.Spec.Signal.Name, actions(we))
	if rr.Status.RootCause != "" {
		a.Annotations["root_cause"] = redact.Bounded(rr.Status.RootCause, 1024)
	}
	a.Annotations["steps"] = steps(we.Status.Plan)
	a.Annotations["plan_hash"] = we.Status.Plan.Hash
	// The plugin's commands, and plain kubectl's for those without it.
	a.Annotations["approve"] = fmt.Sprintf("kubectl kubernaut approve %s -n %s", rr.Name, rr.Namespace)
	a.Annotations["reject"] = fmt.Sprintf("kubectl kubernaut reject %s -n %s --reason '<why>'", rr.Name, rr.Namespace)
	a.Annotations["approve_with_kubectl"] = fmt.Sprintf("kubectl -n %s annotate workflowexecution %s %s=%s", we.Namespace, we.Name, kubernautv1.ApproveAnnotation, we.Status.Plan.Hash)
	need := int32(1)
	if we.Spec.Quorum != nil && we.Spec.Quorum.Approvers > 0 {
		need = we.Spec.Quorum.Approvers
	}
	have := 0
	if ap := we.Status.Approval; ap != nil && ap.PlanHash == we.Status.Plan.Hash {
		have = len(ap.Approvers)
	}
	a.Annotations["quorum"] = fmt.Sprintf("%d of %d approvals", have, need)
	a.StartsAt = since(meta.FindStatusCondition(we.Status.Conditions, kubernautv1.ApprovedCondition), rr.Status.PhaseStartedAt)
	return a
}

func remediating(rr *kubernautv1.RemediationRequest, we *kubernautv1.WorkflowExecution) Alert {
	a := base(Remediating, "info", rr, we)
	// The source alert's labels, so that an inhibit rule can match them with `equal`; ours win.
	for k, v := range rr.Spec.Signal.Labels {
		if _, ours := a.Labels[k]; !ours && k != "severity" {
			a.Labels[k] = v
		}
	}
	a.Annotations["summary"] = fmt.Sprintf("Kubernaut is remediating %s on %s: %s", rr.Spec.Signal.Name, target(rr, we), actions(we))
	if rr.Status.RootCause != "" {
		a.Annotations["root_cause"] = redact.Bounded(rr.Status.RootCause, 1024)
	}
	a.StartsAt = since(nil, rr.Status.PhaseStartedAt)
	if we != nil && we.Status.StartedAt != nil {
		a.StartsAt = we.Status.StartedAt.Time
	}
	return a
}

func remediationFailed(rr *kubernautv1.RemediationRequest, we *kubernautv1.WorkflowExecution) Alert {
	a := base(RemediationFailed, "warning", rr, we)
	a.Annotations["summary"] = fmt.Sprintf("Kubernaut's remediation of %s on %s ended %s", rr.Spec.Signal.Name, target(rr, we), rr.Status.Phase)
	if c := meta.FindStatusCondition(rr.Status.Conditions, kubernautv1.ReadyCondition); c != nil {
		a.Annotations["message"] = redact.Bounded(c.Message, 1024)
	}
	a.StartsAt = since(nil, rr.Status.CompletedAt)
	return a
}

func compensationFailed(rr *kubernautv1.RemediationRequest, we *kubernautv1.WorkflowExecution, c *metav1.Condition) Alert {
	a := base(CompensationFailed, "critical", rr, we)
	a.Annotations["summary"] = fmt.Sprintf("The undo of Kubernaut's failed plan for %s failed: a person must look at what it changed", target(rr, we))
	a.Annotations["message"] = redact.Bounded(c.Message, 1024)
	a.Annotations["release"] = fmt.Sprintf("kubectl -n %s annotate workflowexecution %s %s='<what was put right>'", we.Namespace, we.Name, kubernautv1.ReleaseUndoAnnotation)
	a.StartsAt = c.LastTransitionTime.Time
	return a
}

// actions lists a plan's actions ("increase_memory_limit, restart_deployment").
func actions(we *kubernautv1.WorkflowExecution) string {
	if we == nil || len(we.Spec.Steps) == 0 {
		return "no plan yet"
	}
	return kubernautv1.JoinActions(kubernautv1.StepActions(we.Spec.Steps))
}

// steps describes each planned step on a line: action, target, policy verdict and dry run
// (redacted).
func steps(p *kubernautv1.Plan) string {
	var b strings.Builder
	for i, s := range p.Steps {
		fmt.Fprintf(&b, "%d. %s on %s — policy %s", i+1, s.Action, s.Target, s.Policy.Summary())
		if d := s.DryRun; d != nil {
			fmt.Fprintf(&b, "; dry run %s: %s", strings.ToLower(d.Result), redact.Bounded(d.Short(), 300))
		}
		b.WriteString("\n")
	}
	return kubernautv1.Truncate(strings.TrimRight(b.String(), "\n"), 4096)
}

// sortedKeys returns m's keys in order (stable output for logs and tests).
func sortedKeys(m map[string]Alert) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// describe names an alert for a log line or an event.
func describe(a Alert) string {
	return a.Labels["alertname"] + " for " + strconv.Quote(a.Labels[LabelRemediation])
}
