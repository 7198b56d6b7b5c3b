package workflowexecution

import (
	"regexp"
	"testing"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

func TestPlanHash(t *testing.T) {
	base := plan("rr-h-we", kubernautv1.ApprovalManual, checkout,
		step("scale", kubernautv1.ActionScaleDeployment, checkout, &kubernautv1.ActionParameters{ScaleDeployment: &kubernautv1.ScaleDeploymentParameters{Replicas: 3}})).Spec
	h, err := PlanHash(base)
	if err != nil || !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(h) {
		t.Fatalf("PlanHash = %q, %v", h, err)
	}
	again, _ := PlanHash(*base.DeepCopy())
	if again != h {
		t.Fatal("the same plan must hash the same")
	}
	for name, change := range map[string]func(*kubernautv1.WorkflowExecutionSpec){
		"a parameter":     func(s *kubernautv1.WorkflowExecutionSpec) { s.Steps[0].Parameters.ScaleDeployment.Replicas = 4 },
		"the step target": func(s *kubernautv1.WorkflowExecutionSpec) { s.Steps[0].Target.Name = "cart" },
		"the action":      func(s *kubernautv1.WorkflowExecutionSpec) { s.Steps[0].Action = kubernautv1.ActionRestartDeployment },
		"a dependency":    func(s *kubernautv1.WorkflowExecutionSpec) { s.Steps[0].DependsOn = []string{"x"} },
		"the approval":    func(s *kubernautv1.WorkflowExecutionSpec) { s.ApprovalMode = kubernautv1.ApprovalAuto },
		"dry run":         func(s *kubernautv1.WorkflowExecutionSpec) { s.DryRun = true },
		"the rationale":   func(s *kubernautv1.WorkflowExecutionSpec) { s.Steps[0].Rationale = "because" },
	} {
		s := base.DeepCopy()
		change(s)
		if other, _ := PlanHash(*s); other == h {
			t.Errorf("changing %s must change the hash", name)
		}
	}
	s := base.DeepCopy()
	s.AlertName = "Other"
	if other, _ := PlanHash(*s); other != h {
		t.Error("the alert's name does not change what the plan does")
	}
}
