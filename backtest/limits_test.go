package backtest

import (
	"testing"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// A plan that finds its namespace's or the cluster's limit full waits; one that would not run
// (observed, refused) holds no slot; a slot frees when its alert resolves.
func TestWait(t *testing.T) {
	plan := func(name, ns string, from, to float64, mode string) Decision {
		d := remediationAt(name, ns, from, to, mode)
		d.Verdict.Target = kubernautv1.Target{Kind: kubernautv1.TargetKindDeployment, Namespace: ns, Name: name}
		return d
	}
	decisions := []Decision{
		plan("a", "shop", 0, 30, "Auto"),
		plan("b", "shop", 1, 30, "Manual"),
		plan("c", "shop", 2, 30, "Auto"),                              // shop holds 2: waits
		plan("d", "shop", 3, 30, string(kubernautv1.ApprovalObserve)), // never runs: no wait, no slot
		plan("e", "shop", 30, 40, "Auto"),                             // a and b resolved at 30
		plan("f", "ledger", 4, 30, "Auto"),
		plan("g", "ledger", 5, 30, "Auto"), // the cluster holds 3 (a, b, f): waits
		plan("h", "", 6, 30, "Auto"),       // cluster-scoped: the cluster is full
	}
	limits := func(t kubernautv1.Target) (int, int, error) {
		if t.Namespace == "ledger" {
			return 3, 5, nil
		}
		return 3, 2, nil
	}
	if err := Wait(decisions, limits); err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{"c": true, "g": true, "h": true}
	for _, d := range decisions {
		if d.Waited != want[d.Labels["alertname"]] {
			t.Errorf("%s waited %v", d.Labels["alertname"], d.Waited)
		}
	}
	if r := Summarize(at(0), at(60), decisions); r.Totals.Waited != 3 {
		t.Errorf("%d waited in the report", r.Totals.Waited)
	}
}
