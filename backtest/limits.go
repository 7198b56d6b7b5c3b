package backtest

import (
	"sort"
	"time"

	kubernautv1 "github.com/kubernaut/kubernaut/api/v1alpha1"
)

// Limits are the blast-radius limits on a plan of a target: how many plans may run at once in
// the cluster and in the target's namespace (the semaphore ConfigMap's).
type Limits func(kubernautv1.Target) (cluster, namespace int, err error)

// runs reports whether a plan that went mode would run: approved by the policy or by a person
// (the replay takes a person to approve at once), not observed, refused or empty.
func runs(mode string) bool {
	return mode == string(kubernautv1.ApprovalAuto) || mode == string(kubernautv1.ApprovalManual)
}

// Wait marks the remediations whose plan would have found the cluster's or its namespace's
// limit full when it started (Decision.Waited): the live chain holds such a plan until a slot
// frees, maybe past its approval timeout. A plan holds its slot while its alert fires, as a
// remediation runs (verification waits for the alert to resolve); one that waits holds none.
// Decisions must be analyzed first.
func Wait(decisions []Decision, limits Limits) error {
	type slot struct {
		end time.Time
		ns  string
	}
	var order []int
	for i, d := range decisions {
		if d.Outcome == OutcomeRemediation && d.Verdict != nil && runs(d.Verdict.Mode) {
			order = append(order, i)
		}
	}
	sort.SliceStable(order, func(a, b int) bool { return decisions[order[a]].Start.Before(decisions[order[b]].Start) })
	var running []slot
	for _, i := range order {
		d := &decisions[i]
		kept := running[:0]
		for _, s := range running {
			if s.end.After(d.Start) {
				kept = append(kept, s)
			}
		}
		running = kept
		t := d.Verdict.Target
		clusterLimit, nsLimit, err := limits(t)
		if err != nil {
			return err
		}
		ns := t.Namespace
		if ns == "" {
			ns = "(cluster-scoped)" // no namespace is named so
		}
		inNS := 0
		for _, s := range running {
			if s.ns == ns {
				inNS++
			}
		}
		if len(running) >= clusterLimit || inNS >= nsLimit {
			d.Waited = true
			continue
		}
		running = append(running, slot{end: d.End, ns: ns})
	}
	return nil
}
