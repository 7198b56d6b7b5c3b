package rego

import (
	"context"
	"testing"

	"github.com/open-policy-agent/opa/v1/tester"
)

// TestPolicies runs the policies' own tests (*_test.rego) with OPA's test runner, as
// `opa test rego/` would.
func TestPolicies(t *testing.T) {
	results, err := tester.Run(context.Background(), ".")
	if err != nil {
		t.Fatal(err)
	}
	if len(results) == 0 {
		t.Fatal("no policy tests found")
	}
	for _, r := range results {
		if !r.Pass() {
			t.Errorf("%s.%s: %v (%s)", r.Package, r.Name, r.Error, r.Location)
		} else {
			t.Logf("PASS %s.%s", r.Package, r.Name)
		}
	}
}

func TestEmbeddedPolicyPrepares(t *testing.T) {
	p := &Policy{File: "classification.rego", Query: "data.kubernaut.classification.result"}
	_, version, err := p.Prepared(context.Background())
	if err != nil || version != "embedded" {
		t.Fatalf("Prepared = %q, %v", version, err)
	}
}

// A candidate version under review (kubernaut backtest --policy-dir) replaces the module, and
// names itself in the version.
func TestSourceReplacesTheModule(t *testing.T) {
	p := &Policy{File: "classification.rego", Query: "data.kubernaut.classification.result",
		Source: "package kubernaut.classification\n\nresult := {\"signalType\": \"candidate\"}\n", Origin: "review/classification.rego"}
	pq, version, err := p.Prepared(context.Background())
	if err != nil || version != "file review/classification.rego" {
		t.Fatalf("Prepared = %q, %v", version, err)
	}
	rs, err := pq.Eval(context.Background())
	if err != nil || len(rs) != 1 || rs[0].Expressions[0].Value.(map[string]any)["signalType"] != "candidate" {
		t.Fatalf("the candidate's answer: %v, %v", rs, err)
	}
}
