package backtest

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

var t0 = time.Date(2026, 11, 7, 10, 0, 0, 0, time.UTC)

func at(m float64) time.Time { return t0.Add(time.Duration(m * float64(time.Minute))) }

func occ(labels map[string]string, from, to float64) Occurrence {
	return Occurrence{Labels: labels, Start: at(from), End: at(to)}
}

func crash(ns, pod string) map[string]string {
	return map[string]string{"alertname": "KubePodCrashLooping", "severity": "critical", "namespace": ns, "pod": pod}
}

// The gateway's deduplication and storm folding and the guards, on a history whose outcome is
// known alert by alert.
func TestReplayGatewayAndGuards(t *testing.T) {
	scheme := runtime.NewScheme()
	_ = corev1.AddToScheme(scheme)
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop", Labels: map[string]string{kubernautv1.OptInLabel: "true"}}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "ledger"}},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "worker-1", Labels: map[string]string{kubernautv1.OptInLabel: "true"}}},
	).Build()
	history := []Occurrence{
		occ(crash("shop", "cart-1"), 0, 10),  // remediation
		occ(crash("shop", "cart-1"), 13, 20), // re-fired 3 min after the end: duplicate
		occ(crash("shop", "cart-1"), 40, 45), // 20 min later: a remediation again
		occ(crash("ledger", "pay-1"), 1, 5),  // not opted in
		occ(map[string]string{"alertname": "KubeDeploymentReplicasMismatch", "namespace": "shop", "deployment": "api"}, 2, 30),
		occ(map[string]string{"alertname": "KubePodNotReady", "namespace": "shop", "deployment": "api"}, 5, 8),                            // the same target: already remediating
		occ(map[string]string{"alertname": "KubeDeploymentReplicasMismatch", "namespace": "shop", "deployment": "api", "x": "1"}, 32, 40), // same signal and target, 2 min after: cooling down
		occ(map[string]string{"alertname": "KubeNodeNotReady", "node": "worker-1"}, 3, 9),
		occ(map[string]string{"alertname": "Watchdog"}, 0, 100), // no target
	}
	// A storm: 12 pods of shop crash-loop within 30 s (threshold 10: 9 more fit beside cart-1's
	// two... cart-1 at 0 is outside the window); a 13th joins 30 min later.
	for i := range 12 {
		history = append(history, occ(crash("shop", fmt.Sprintf("worker-%d", i)), 60+float64(i)/30, 80))
	}
	history = append(history, occ(crash("shop", "worker-late"), 95, 99))

	got, err := Replay(context.Background(), DefaultConfig(), c, history)
	if err != nil {
		t.Fatal(err)
	}
	outcomes := map[string]string{}
	count := map[string]int{}
	for _, d := range got {
		outcomes[d.Labels["alertname"]+"/"+d.Labels["pod"]+d.Labels["deployment"]+d.Labels["node"]+"@"+d.Start.Sub(t0).String()] = d.Outcome
		count[d.Outcome]++
	}
	for k, want := range map[string]string{
		"KubePodCrashLooping/cart-1@0s":            OutcomeRemediation,
		"KubePodCrashLooping/cart-1@13m0s":         OutcomeDuplicate,
		"KubePodCrashLooping/cart-1@40m0s":         OutcomeRemediation,
		"KubePodCrashLooping/pay-1@1m0s":           OutcomeNotOptedIn,
		"KubeDeploymentReplicasMismatch/api@2m0s":  OutcomeRemediation,
		"KubePodNotReady/api@5m0s":                 OutcomeAlreadyRemediating,
		"KubeDeploymentReplicasMismatch/api@32m0s": OutcomeCoolingDown,
		"KubeNodeNotReady/worker-1@3m0s":           OutcomeRemediation,
		"Watchdog/@0s":                             OutcomeNoTarget,
		"KubePodCrashLooping/worker-late@1h35m0s":  OutcomeStormMember,
		"KubePodCrashLooping/worker-9@1h0m18s":     OutcomeRemediation,
		"KubePodCrashLooping/worker-10@1h0m20s":    OutcomeStormMember,
	} {
		if outcomes[k] != want {
			t.Errorf("%s: %q, want %q", k, outcomes[k], want)
		}
	}
	if count[OutcomeStormMember] != 3 || count[OutcomeRemediation] != 14 {
		t.Errorf("outcomes %v: want 3 storm members (two of the twelve, the late one) and 14 remediations", count)
	}
}

// The report adds the decisions up per alert name and namespace, and finds the most
// remediations at once.
func TestSummarize(t *testing.T) {
	d := func(alert, ns, node, outcome string, from, to float64) Decision {
		tgt := kubernautv1.Target{Kind: "Pod", Namespace: ns, Name: "p"}
		if node != "" {
			tgt = kubernautv1.Target{Kind: "Node", Name: node}
		}
		return Decision{Occurrence: occ(map[string]string{"alertname": alert}, from, to), Target: tgt, Outcome: outcome}
	}
	r := Summarize(t0, at(100), []Decision{
		d("A", "shop", "", OutcomeRemediation, 0, 10),
		d("A", "shop", "", OutcomeRemediation, 5, 12),
		d("A", "shop", "", OutcomeDuplicate, 20, 21),
		d("A", "ledger", "", OutcomeRemediation, 10, 30), // starts as the first ends: two at once, not three
		d("A", "ledger", "", OutcomeNotOptedIn, 11, 12),
		d("N", "", "w1", OutcomeRemediation, 40, 50),
		d("N", "", "w2", OutcomeRemediation, 45, 55),
		d("N", "", "w2", OutcomeStormMember, 46, 47),
	})
	if r.MostAtOnce != (Peak{2, at(5)}) || r.MostAtOncePerNamespace["shop"] != (Peak{2, at(5)}) || r.MostAtOncePerNamespace["ledger"].Count != 1 ||
		r.MostNodesAtOnce != (Peak{2, at(45)}) {
		t.Errorf("peaks %+v %+v %+v", r.MostAtOnce, r.MostAtOncePerNamespace, r.MostNodesAtOnce)
	}
	if len(r.Rows) != 3 || r.Rows[1].AlertName != "A" || r.Rows[1].Namespace != "shop" || r.Rows[1].Remediations != 2 || r.Rows[1].Duplicates != 1 {
		t.Errorf("rows %+v", r.Rows)
	}
	if r.Totals.Occurrences != 8 || r.Totals.Remediations != 5 || r.Totals.Skipped[OutcomeNotOptedIn] != 1 || r.Totals.StormMembers != 1 {
		t.Errorf("totals %+v", r.Totals)
	}
}
