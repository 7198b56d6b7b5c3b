package rego

import (
	"context"
	"testing"
	"time"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

func TestSafetyVerdict(t *testing.T) {
	s := NewSafety(nil, "", "", map[string]any{"protectedNamespaces": []string{"payments"}})
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	step := kubernautv1.PlanStep{Name: "scale", ActionStep: kubernautv1.ActionStep{
		Action: kubernautv1.ActionScaleDeployment, Target: kubernautv1.Target{Kind: "Deployment", Namespace: "shop", Name: "web"},
		Parameters: &kubernautv1.ActionParameters{ScaleDeployment: &kubernautv1.ScaleDeploymentParameters{Replicas: 4}}}}
	v, err := s.Evaluate(context.Background(), step, SafetyContext{Environment: "staging", Current: map[string]int64{"replicas": 3}}, now)
	if err != nil || !v.Allowed || v.Policy != "safety.rego (embedded)" || !v.EvaluatedAt.Time.Equal(now) {
		t.Fatalf("verdict %+v, %v", v, err)
	}
	step.Target.Namespace = "payments"
	step.Parameters.ScaleDeployment.Replicas = 9
	v, err = s.Evaluate(context.Background(), step, SafetyContext{Environment: "production", Current: map[string]int64{"replicas": 3},
		GitOps: &kubernautv1.GitOpsOwnership{Tool: "flux", Owner: "apps/payments"}}, now)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"namespace payments is protected: Kubernaut never changes it",
		"payments/web is managed by flux (apps/payments): the next sync would revert the change",
		"scaling payments/web from 3 to 9 replicas changes it by more than a factor of 2",
	}
	if v.Allowed || len(v.Violations) != len(want) {
		t.Fatalf("verdict %+v", v)
	}
	for i := range want {
		if v.Violations[i] != want[i] {
			t.Errorf("violation %d = %q, want %q", i, v.Violations[i], want[i])
		}
	}
}
