// Package deps checks that the libraries the chain is built on — Argo's types and validation,
// OPA's Rego v1 — compile and work together with the project's Kubernetes libraries (Argo
// pins k8s v0.33; MVS lifts it to the project's version). It fails the build the day an
// upgrade breaks that, before any controller does.
package deps

import (
	"context"
	"testing"

	wfv1 "github.com/argoproj/argo-workflows/v3/pkg/apis/workflow/v1alpha1"
	"github.com/argoproj/argo-workflows/v3/workflow/validate"
	"github.com/open-policy-agent/opa/v1/rego"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestArgoValidatesAResourceDAG(t *testing.T) {
	wf := &wfv1.Workflow{
		ObjectMeta: metav1.ObjectMeta{Name: "rr-5f8a3c2e9b1d4a07", Namespace: "kubernaut-system"},
		Spec: wfv1.WorkflowSpec{
			Entrypoint: "plan",
			Templates: []wfv1.Template{
				{Name: "plan", DAG: &wfv1.DAGTemplate{Tasks: []wfv1.DAGTask{{Name: "rollback", Template: "step"}}}},
				{Name: "step", Resource: &wfv1.ResourceTemplate{
					Action:            "create",
					SetOwnerReference: true,
					SuccessCondition:  "status.phase == Succeeded",
					FailureCondition:  "status.phase in (Failed,Rejected)",
					Manifest: `apiVersion: kubernaut.io/v1alpha1
kind: KubernetesExecution
metadata: {generateName: rr-5f8a3c2e9b1d4a07-rollback-}
spec: {action: rollback_deployment, target: {kind: Deployment, namespace: shop, name: checkout}, mode: Execute}
`,
				}},
			},
		},
	}
	if err := validate.ValidateWorkflow(nil, nil, wf, nil, validate.ValidateOpts{Lint: true}); err != nil {
		t.Fatalf("Argo refused a valid resource DAG: %v", err)
	}
	wf.Spec.Templates[0].DAG.Tasks[0].Dependencies = []string{"missing"}
	if err := validate.ValidateWorkflow(nil, nil, wf, nil, validate.ValidateOpts{Lint: true}); err == nil {
		t.Fatal("Argo accepted a DAG task that depends on a missing task")
	}
}

func TestOPAEvaluatesAPreparedRegoV1Query(t *testing.T) {
	ctx := context.Background()
	pq, err := rego.New(
		rego.Query("data.kubernaut.example.allow"),
		rego.Module("example.rego", `package kubernaut.example

default allow := false

allow if {
	input.action == "restart_deployment"
	input.environment != "production"
}
`),
	).PrepareForEval(ctx)
	if err != nil {
		t.Fatalf("preparing a Rego v1 query: %v", err)
	}
	for _, tc := range []struct {
		env  string
		want bool
	}{{"staging", true}, {"production", false}} {
		rs, err := pq.Eval(ctx, rego.EvalInput(map[string]any{"action": "restart_deployment", "environment": tc.env}))
		if err != nil {
			t.Fatal(err)
		}
		if got := rs.Allowed(); got != tc.want {
			t.Errorf("allow for %s = %v, want %v", tc.env, got, tc.want)
		}
	}
}
