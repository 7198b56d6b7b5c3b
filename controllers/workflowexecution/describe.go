package workflowexecution

import (
	"fmt"
	"strings"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// The Argo UI shows a Workflow's title and description (markdown) in its list and on its page:
// the review surface of those who watch plans in Argo.
const (
	titleAnnotation       = "workflows.argoproj.io/title"
	descriptionAnnotation = "workflows.argoproj.io/description"
)

// title is a plan's one line: what it does, to what, for which alert.
func title(we *kubernautv1.WorkflowExecution) string {
	return kubernautv1.Truncate(fmt.Sprintf("%s on %s (%s)", kubernautv1.JoinActions(kubernautv1.StepActions(we.Spec.Steps)), we.Spec.Target, we.Spec.AlertName), 256)
}

// description is what a person approves, where Argo's users look: each step with its action,
// target, the safety policy's verdict and the dry run's diff in short, the plan's hash, and
// how to approve it. It is derived from the validated plan, which does not change.
func description(we *kubernautv1.WorkflowExecution, planHash string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Kubernaut remediation of %s for %s.\n\n", we.Spec.Target, we.Spec.AlertName)
	planned := map[string]kubernautv1.PlannedStep{}
	if we.Status.Plan != nil {
		for _, p := range we.Status.Plan.Steps {
			planned[p.Name] = p
		}
	}
	for i, s := range we.Spec.Steps {
		fmt.Fprintf(&b, "%d. **%s** `%s` on %s", i+1, s.Name, s.Action, s.Target)
		if p, ok := planned[s.Name]; ok {
			b.WriteString(" — policy: " + p.Policy.Summary())
			if d := p.DryRun; d != nil {
				fmt.Fprintf(&b, "; dry run %s: %s", strings.ToLower(d.Result), kubernautv1.Truncate(d.Short(), 200))
			}
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "\nPlan hash `%s`.", planHash)
	if we.Spec.ApprovalMode == kubernautv1.ApprovalManual {
		fmt.Fprintf(&b, " To approve (the verb approve on workflowexecutions.kubernaut.io where the plan acts): `kubectl kubernaut approve %s -n %s`, or resume this Workflow's approve node (`argo resume %s -n %s`).",
			we.Spec.RemediationRequestRef.Name, we.Namespace, we.Name, we.Namespace)
	}
	return kubernautv1.Truncate(b.String(), 4096)
}

// inert is text that Argo passes on as it is: Argo expands `{{…}}` (and evaluates `{{=expr}}`)
// in a task's arguments, and a summary quotes what the analyzer and the dry run said. Each `{{`
// becomes `{ {`, which reads the same to a person and is nothing to Argo.
func inert(s string) string {
	for strings.Contains(s, "{{") {
		s = strings.ReplaceAll(s, "{{", "{ {")
	}
	return s
}
