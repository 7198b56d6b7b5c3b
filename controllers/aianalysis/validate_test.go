package aianalysis

import (
	"context"
	"fmt"
	"testing"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// A plan over the step limit is refused before any step is dry-run on the API server (the
// Validator has no client here: a dry run would panic).
func TestValidateRefusesTooManyStepsBeforeAnyDryRun(t *testing.T) {
	v := &Validator{MaxSteps: 5}
	rec := &kubernautv1.Recommendation{}
	for i := range 10000 {
		rec.Steps = append(rec.Steps, kubernautv1.PlanStep{Name: fmt.Sprintf("s%d", i),
			ActionStep: kubernautv1.ActionStep{Action: kubernautv1.ActionRestartPod, Target: kubernautv1.Target{Kind: "Pod", Namespace: "shop", Name: "p"}}})
	}
	problems, err := v.Validate(context.Background(), &kubernautv1.AIAnalysis{}, rec)
	if err != nil || len(problems) != 1 || problems[0] != "10000 steps, more than the limit of 5: no step was checked further" {
		t.Fatalf("problems %q, %v", problems, err)
	}
}
