package aianalysis

import (
	"context"
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	"github.com/kubernaut/kubernaut/test/gen"
)

// A plan of several actions that all kept working gains no more than one would: 0.55 once
// became 0.94 by adding +0.05 per distinct action.
func TestLearnerCapsTheTotalGain(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	actions := []kubernautv1.ActionName{kubernautv1.ActionRestartDeployment, kubernautv1.ActionScaleDeployment, kubernautv1.ActionUpdateConfig,
		kubernautv1.ActionIncreaseMemoryLimit, kubernautv1.ActionRollbackDeployment}
	var objs []client.Object
	for i := range 3 {
		done := metav1.NewTime(now.Add(-time.Duration(i+1) * time.Hour))
		objs = append(objs, gen.RemediationRequest("shop", fmt.Sprintf("rr-%d", i), func(rr *kubernautv1.RemediationRequest) {
			rr.Status = kubernautv1.RemediationRequestStatus{Phase: kubernautv1.RemediationPhaseCompleted, CompletedAt: &done, SignalType: "crashloop", Actions: actions}
		}))
	}
	scheme := runtime.NewScheme()
	if err := kubernautv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	l := &Learner{Reader: fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).Build(), Window: 24 * time.Hour, MinSamples: 3, MaxGain: 0.05, MaxLoss: 0.3}
	aia := gen.AIAnalysis("shop", kubernautv1.AnalysisName("rr-new"), func(a *kubernautv1.AIAnalysis) {
		a.Spec.RemediationRequestRef = kubernautv1.LocalReference{Name: "rr-new"}
		a.Spec.Classification = &kubernautv1.Classification{SignalType: "crashloop"}
		a.Status.Recommendation = &kubernautv1.Recommendation{}
	})
	for i, a := range actions {
		aia.Status.Recommendation.Steps = append(aia.Status.Recommendation.Steps, kubernautv1.PlanStep{Name: fmt.Sprintf("s%d", i), ActionStep: kubernautv1.ActionStep{Action: a}})
	}
	adj, confidence, err := l.Adjust(context.Background(), aia, 0.55, now)
	if err != nil {
		t.Fatal(err)
	}
	gain := 0.0
	for _, a := range adj {
		gain += a.Delta
	}
	if gain > 0.05+1e-9 || confidence > 0.6+1e-9 {
		t.Fatalf("gained %.3f in total (confidence 0.55 → %.3f) from %d adjustments %+v; at most 0.05", gain, confidence, len(adj), adj)
	}
	if len(adj) != 1 || adj[0].Delta != 0.05 {
		t.Fatalf("adjustments %+v, want one of +0.05", adj)
	}
}
