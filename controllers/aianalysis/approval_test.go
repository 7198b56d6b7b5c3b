package aianalysis

import (
	"context"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
	kubernautrego "github.com/kubernaut/kubernaut/rego"
	"github.com/kubernaut/kubernaut/test/gen"
)

// A Manual decision carries its quorum from the policy; an override that forgets it, or asks
// for an impossible one, fails the decision instead of letting one person approve anything.
func TestApprovalQuorum(t *testing.T) {
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	embedded, err := kubernautrego.Embedded("approval.rego")
	if err != nil {
		t.Fatal(err)
	}
	aia := func(env kubernautv1.Environment) *kubernautv1.AIAnalysis {
		return gen.AIAnalysis("shop", "rr-1-aia", func(a *kubernautv1.AIAnalysis) {
			a.Spec.Classification = &kubernautv1.Classification{Environment: env}
			a.Status.Recommendation = &kubernautv1.Recommendation{Steps: []kubernautv1.PlanStep{gen.RollbackStep()}}
		})
	}
	override := func(decision string) string {
		return strings.Replace(embedded, `"quorum": quorum}`, decision+"}", 1)
	}
	for _, tc := range []struct {
		name, policy string
		env          kubernautv1.Environment
		want         *kubernautv1.Quorum
		err          string
	}{
		{name: "production", env: "production", want: &kubernautv1.Quorum{Approvers: 2, SeparationWindow: metav1.Duration{Duration: time.Hour}}},
		{name: "unknown", env: "unknown", want: &kubernautv1.Quorum{Approvers: 2, SeparationWindow: metav1.Duration{Duration: time.Hour}}},
		{name: "staging", env: "staging", want: &kubernautv1.Quorum{Approvers: 1, SeparationWindow: metav1.Duration{Duration: time.Hour}}},
		{name: "forgotten", env: "staging", policy: override(`"quorum": null`), err: "answered Manual without quorum.approvers"},
		{name: "none", env: "staging", policy: override(`"quorum": {"approvers": 0, "separationWindow": "1h"}`), err: "answered quorum.approvers 0: want 1 to 5"},
		{name: "window", env: "staging", policy: override(`"quorum": {"approvers": 1, "separationWindow": "an hour"}`), err: `quorum.separationWindow "an hour"`},
		{name: "no window", env: "staging", policy: override(`"quorum": {"approvers": 3}`), want: &kubernautv1.Quorum{Approvers: 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var objs []client.Object
			if tc.policy != "" {
				if tc.policy == embedded {
					t.Fatal("the override did not change the policy")
				}
				objs = append(objs, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "kubernaut-system", Name: "kubernaut-policies"},
					Data: map[string]string{"approval.rego": tc.policy}})
			}
			a := NewApprover(fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).Build(), "kubernaut-system", "kubernaut-policies", 0.9, 0.7)
			d, _, err := a.Decide(context.Background(), aia(tc.env), 0.8, false)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %v, %v; want an error containing %q", d, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d.Mode != kubernautv1.ApprovalManual || *d.Quorum != *tc.want {
				t.Fatalf("got %s %+v, want Manual %+v", d.Mode, d.Quorum, tc.want)
			}
		})
	}
}
