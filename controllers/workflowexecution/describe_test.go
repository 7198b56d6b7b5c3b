package workflowexecution

import (
	"strings"
	"testing"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/test/gen"
)

// What a person approves is in the Workflow's description: each step's verdict and dry run,
// the hash, and how to approve a Manual plan.
func TestDescription(t *testing.T) {
	we := gen.WorkflowExecution("kubernaut-system", "rr-1-we", func(we *kubernautv1.WorkflowExecution) {
		we.Spec.RemediationRequestRef = kubernautv1.LocalReference{Name: "rr-1"}
		we.Status.Plan = &kubernautv1.Plan{Hash: "h1", Steps: []kubernautv1.PlannedStep{{Name: "rollback", Action: kubernautv1.ActionRollbackDeployment,
			Target: gen.DeploymentTarget(), Policy: kubernautv1.PolicyVerdict{Allowed: true},
			DryRun: &kubernautv1.DryRunResult{Result: "Succeeded", Diff: "-  image: shop:v8\n+  image: shop:v7\n"}}}}
	})
	got := description(we, "h1")
	for _, want := range []string{
		"Kubernaut remediation of Deployment/shop/checkout for KubePodCrashLooping.",
		"1. **rollback** `rollback_deployment` on Deployment/shop/checkout — policy: allowed; dry run succeeded: - image: shop:v8 + image: shop:v7",
		"Plan hash `h1`.",
		"`kubectl kubernaut approve rr-1 -n kubernaut-system`",
		"`argo resume rr-1-we -n kubernaut-system`",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("description lacks %q:\n%s", want, got)
		}
	}
	gen.AutoApproved(we)
	if got := description(we, "h1"); strings.Contains(got, "To approve") {
		t.Errorf("an auto-approved plan's description tells how to approve it:\n%s", got)
	}
	if got := title(we); got != "rollback_deployment on Deployment/shop/checkout (KubePodCrashLooping)" {
		t.Errorf("title %q", got)
	}
}
