package rego

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// The recent plans of a target are found by its label; plans of other targets, plans older
// than an hour and the plan itself do not count. A plan without the label (made before the
// label existed) is not found: for an hour after an upgrade its target's count is low.
func TestRecentRemediationsOfTheTarget(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := kubernautv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	web := kubernautv1.Target{Kind: kubernautv1.TargetKindDeployment, Namespace: "shop", Name: "web"}
	api := kubernautv1.Target{Kind: kubernautv1.TargetKindDeployment, Namespace: "shop", Name: "api"}
	plan := func(name string, target kubernautv1.Target, age time.Duration, labelled bool) client.Object {
		we := &kubernautv1.WorkflowExecution{ObjectMeta: metav1.ObjectMeta{Namespace: "kubernaut-system", Name: name,
			CreationTimestamp: metav1.NewTime(now.Add(-age))},
			Spec: kubernautv1.WorkflowExecutionSpec{Target: target, AIAnalysisRef: kubernautv1.LocalReference{Name: kubernautv1.AnalysisName(name)}}}
		if labelled {
			we.Labels = map[string]string{kubernautv1.LabelTargetHash: target.Hash()}
		}
		return we
	}
	self := plan("self", web, 0, true)
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(self,
		plan("earlier", web, 10*time.Minute, true),
		plan("earlier-still", web, 50*time.Minute, true),
		plan("yesterday", web, 24*time.Hour, true),
		plan("other-target", api, 5*time.Minute, true),
		plan("before-the-label", web, 5*time.Minute, false),
	).Build()
	sc, err := GatherSafetyContext(context.Background(), c, self.(*kubernautv1.WorkflowExecution), now)
	if err != nil {
		t.Fatal(err)
	}
	if sc.RecentRemediations != 2 {
		t.Errorf("RecentRemediations = %d, want 2 (earlier, earlier-still)", sc.RecentRemediations)
	}
}
